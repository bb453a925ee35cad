/* bf16 self-attention for short sequences (attention_bf16_short.h). */
#include "cpu/attention_bf16_short.h"

#include <float.h>
#include <math.h>
#include <string.h>

#ifdef CPU_AVX512

#define SHORT_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

_Static_assert(ATTN_SHORT_MAX_T % 16 == 0, "the keys fill whole vectors");
_Static_assert(ATTN_SHORT_MAX_D % 16 == 0, "the head fills whole vectors");

/* One head of one sequence, laid out for vdpbf16ps, which multiplies pairs
 * of bfloat16s lane by lane: K^T and V by pairs along what the products
 * sum over (the head's values, the keys). */
typedef struct short_head {
    const uint16_t *q[ATTN_SHORT_MAX_T]; /* Q rows, read where they are */
    uint32_t kt[ATTN_SHORT_MAX_D / 2][ATTN_SHORT_MAX_T]; /* [p][j]: K[j][2p], K[j][2p + 1] */
    uint16_t p[ATTN_SHORT_MAX_T][ATTN_SHORT_MAX_T];      /* P, zero beyond the T keys */
    uint32_t vp[ATTN_SHORT_MAX_T / 2][ATTN_SHORT_MAX_D]; /* [jp][d]: V[2jp][d], V[2jp + 1][d] */
} short_head;

bool attn_short_fits(int T, int D)
{
    return T <= ATTN_SHORT_MAX_T && D % 16 == 0 && D <= ATTN_SHORT_MAX_D &&
           __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
}

/* The pair of bfloat16s at AT as one 32-bit lane. */
static uint32_t pair_at(const uint16_t *at)
{
    uint32_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

/* Head H of the sequence whose fused QKV rows start at ROWS into W. */
SHORT_TARGET static void load_head(const uint16_t *rows, int T, int H, int D, int h,
                                   short_head *w)
{
    const size_t row = 3 * (size_t)H, at = (size_t)h * D;
    const int tp = (T + 15) / 16 * 16;
    for (int j = 0; j < T; j++) {
        w->q[j] = rows + j * row + at;
        for (int p = 0; p < D / 2; p++)
            w->kt[p][j] = pair_at(rows + j * row + (size_t)H + at + 2 * p);
    }
    for (int p = 0; p < D / 2; p++) /* lanes the softmax leaves out: no stale values */
        for (int j = T; j < tp; j++)
            w->kt[p][j] = 0;
    /* Lane d of pair jp: V[2jp][d] low, V[2jp + 1][d] high (zero past T). */
    __m512i zip = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                   39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    for (int jp = 0; jp < (T + 1) / 2; jp++) {
        const uint16_t *v0 = rows + (size_t)(2 * jp) * row + 2 * (size_t)H + at;
        for (int c = 0; c < D; c += 16) {
            __m512i lo = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(v0 + c)));
            __m512i hi = 2 * jp + 1 < T ? _mm512_castsi256_si512(_mm256_loadu_si256(
                                              (const __m256i *)(v0 + row + c)))
                                        : _mm512_setzero_si512();
            _mm512_storeu_si512(&w->vp[jp][c], _mm512_permutex2var_epi16(lo, zip, hi));
        }
    }
}

/* Row I of P from its scores S (NB vectors of 16 keys): scaled, the keys
 * MASK leaves out set to -FLT_MAX (HF adds finfo(float32).min: the sum is
 * that value; a row whose keys are all left out comes out uniform, as in
 * HF), then the softmax over the T keys VALID marks, in float32, rounded. */
SHORT_TARGET static void softmax_row(const float *s, int nb, const __mmask16 *valid,
                                     const __mmask16 *attend, float scale, uint16_t *p)
{
    __m512 x[ATTN_SHORT_MAX_T / 16];
    float max = -INFINITY, sum = 0;
    for (int jb = 0; jb < nb; jb++) {
        x[jb] = _mm512_mask_blend_ps(attend[jb], _mm512_set1_ps(-FLT_MAX),
                                     _mm512_mul_ps(_mm512_loadu_ps(s + 16 * jb),
                                                   _mm512_set1_ps(scale)));
        max = fmaxf(max, _mm512_mask_reduce_max_ps(valid[jb], x[jb]));
    }
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f), lowest = _mm512_set1_ps(-100.0f);
    for (int jb = 0; jb < nb; jb++) {
        __m512 t = _mm512_mul_ps(_mm512_sub_ps(x[jb], _mm512_set1_ps(max)), log2e);
        /* Below 2^-100 of the largest term: 0, as a masked key's (oneDNN keeps
         * ~1e-31).  A NaN score is kept (unordered compare; vmaxps returns its
         * second operand on NaN) and makes the row NaN, as in HF. */
        __mmask16 kept = valid[jb] & _mm512_cmp_ps_mask(t, lowest, _CMP_NLE_UQ);
        x[jb] = _mm512_maskz_mov_ps(kept, cpu_exp2_avx512(_mm512_max_ps(lowest, t)));
        sum += _mm512_reduce_add_ps(x[jb]);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (int jb = 0; jb < nb; jb++)
        _mm256_storeu_si256((__m256i *)(p + 16 * jb),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(x[jb], inv)));
}

/* Lanes of block JB: the keys before T, and those MASK lets attend. */
static void key_masks(int T, int nb, const int32_t *mask, __mmask16 *valid, __mmask16 *attend)
{
    for (int jb = 0; jb < nb; jb++) {
        valid[jb] = attend[jb] = 0;
        for (int l = 0; l < 16 && 16 * jb + l < T; l++) {
            valid[jb] |= (__mmask16)(1u << l);
            if (!mask || mask[16 * jb + l])
                attend[jb] |= (__mmask16)(1u << l);
        }
    }
}

/* Scores of query rows Q[0..7] against the 16 keys of KT's column block
 * (KT: w->kt shifted to it) into S rows of ATTN_SHORT_MAX_T: eight
 * accumulators, kept in registers (the unrolling lets GCC). */
SHORT_TARGET static void scores_block(const uint32_t (*kt)[ATTN_SHORT_MAX_T],
                                      const uint16_t *const q[8], int D,
                                      float (*s)[ATTN_SHORT_MAX_T])
{
    __m512 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
        acc[r] = _mm512_setzero_ps();
    for (int p = 0; p < D / 2; p++) {
        __m512bh k = (__m512bh)_mm512_loadu_si512(kt[p]);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            acc[r] = _mm512_dpbf16_ps(
                acc[r], (__m512bh)_mm512_set1_epi32((int)pair_at(q[r] + 2 * p)), k);
    }
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
        _mm512_storeu_ps(s[r], acc[r]);
}

/* Q K^T for eight query rows at a time (the last one repeated past T),
 * then each row's softmax into W->p. */
SHORT_TARGET static void scores_softmax(short_head *w, int T, int D, const int32_t *mask,
                                        float scale)
{
    const int nb = (T + 15) / 16;
    __mmask16 valid[ATTN_SHORT_MAX_T / 16], attend[ATTN_SHORT_MAX_T / 16];
    key_masks(T, nb, mask, valid, attend);
    for (int i0 = 0; i0 < T; i0 += 8) {
        float s[8][ATTN_SHORT_MAX_T];
        const uint16_t *q[8];
        for (int r = 0; r < 8; r++)
            q[r] = w->q[i0 + r < T ? i0 + r : T - 1];
        for (int jb = 0; jb < nb; jb++)
            scores_block((const uint32_t (*)[ATTN_SHORT_MAX_T])&w->kt[0][16 * jb], q, D,
                         (float (*)[ATTN_SHORT_MAX_T]) & s[0][16 * jb]);
        for (int r = 0; r < 8 && i0 + r < T; r++)
            softmax_row(s[r], nb, valid, attend, scale, w->p[i0 + r]);
    }
}

/* Columns C..C+15 of the head's output for rows P[0..7] of P, as
 * scores_block. */
SHORT_TARGET static void context_block(const short_head *w, int pairs, int c,
                                       const uint16_t *const p[8], __m512 acc[8])
{
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
        acc[r] = _mm512_setzero_ps();
    for (int jp = 0; jp < pairs; jp++) {
        __m512bh v = (__m512bh)_mm512_loadu_si512(&w->vp[jp][c]);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            acc[r] = _mm512_dpbf16_ps(
                acc[r], (__m512bh)_mm512_set1_epi32((int)pair_at(p[r] + 2 * jp)), v);
    }
}

/* P V into the head's D values of each of the T output rows (OUT: the
 * sequence's first row), eight rows at a time (the last one repeated). */
SHORT_TARGET static void context(const short_head *w, int T, int H, int D, int h, uint16_t *out)
{
    for (int i0 = 0; i0 < T; i0 += 8) {
        const uint16_t *p[8];
        for (int r = 0; r < 8; r++)
            p[r] = w->p[i0 + r < T ? i0 + r : T - 1];
        for (int c = 0; c < D; c += 16) {
            __m512 acc[8];
            context_block(w, (T + 1) / 2, c, p, acc);
            for (int r = 0; r < 8 && i0 + r < T; r++) {
                uint16_t *to = out + (size_t)(i0 + r) * H + (size_t)h * D + (size_t)c;
                _mm256_storeu_si256((__m256i *)to, (__m256i)_mm512_cvtneps_pbh(acc[r]));
            }
        }
    }
}

SHORT_TARGET void attn_short_run(int B, int T, int H, int NH, const uint16_t *qkv,
                                 const int32_t *mask, uint16_t *out)
{
    const int D = H / NH;
    const float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel
    {
        short_head w; /* 29 KB, each thread's own */
#pragma omp for schedule(static)
        for (int item = 0; item < B * NH; item++) {
            const int b = item / NH, h = item % NH;
            const size_t first = (size_t)b * (size_t)T;
            load_head(qkv + first * 3 * (size_t)H, T, H, D, h, &w);
            scores_softmax(&w, T, D, mask ? mask + first : NULL, scale);
            context(&w, T, H, D, h, out + first * (size_t)H);
        }
    }
}

#endif
