/* The host CPU ops: float32 with HuggingFace's semantics, the reference the
 * OpenCL kernels are tested against.  GEMMs go to oneDNN's sgemm; the rest is
 * plain C parallelised over rows with OpenMP (a serial loop when the caller
 * already runs inside a parallel region, so ops nest without
 * oversubscribing). */
#include "core/backend.h"
#include "cpu/ops.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <string.h>

/* --------------------------------------------------------------- helpers */

/* x[0..n) = (x - mean) / sqrt(var + eps) * g + b, in place.  Sums run in
 * double so long rows lose nothing to accumulation order, which is then
 * free to vectorise (omp simd: a chain of scalar adds took 3x as long). */
WIDEST_VECTORS static void layernorm_row(int n, float *x, const float *g, const float *b,
                                         float eps)
{
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++)
        sum += x[i];
    float mean = (float)(sum / n);
    double sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int i = 0; i < n; i++) {
        float d = x[i] - mean;
        sq += (double)d * d;
    }
    float rstd = (float)(1.0 / sqrt(sq / n + (double)eps));
    for (int i = 0; i < n; i++)
        x[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

/* Row-major C[m,n] = A[m,k] op(B) + BETA C, op(B) = B^T when TB is 'T', on
 * oneDNN's sgemm, which inside a parallel region runs on the calling thread
 * alone.  ALBERT_OK, or ALBERT_E_NOMEM when it fails (it only allocates). */
static int sgemm(char tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc)
{
    return dnnl_sgemm('N', tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) == dnnl_success
               ? ALBERT_OK
               : ALBERT_E_NOMEM;
}

/* y[M,N] = x[M,K] (row stride ldx) * w[N,K]^T + bias[N].  Each OpenMP
 * thread runs the GEMM of its own slice: rows of y when there are enough of
 * them, else columns, so a short batch still splits the weight reads. */
static int linear_strided(int M, int N, int K, const float *x, int ldx, const float *w,
                          const float *bias, float *y)
{
    int rc = ALBERT_OK;
#pragma omp parallel if (!omp_in_parallel())
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int by_rows = M >= 32 * nt;
        int total = by_rows ? M : N;
        int lo = (int)((long long)total * t / nt), hi = (int)((long long)total * (t + 1) / nt);
        int m0 = by_rows ? lo : 0, m = by_rows ? hi - lo : M;
        int n0 = by_rows ? 0 : lo, n = by_rows ? N : hi - lo;
        float *yp = y + (size_t)m0 * N + n0;
        for (int r = 0; r < m && bias; r++)
            memcpy(yp + (size_t)r * N, bias + n0, (size_t)n * sizeof *y);
        if (m > 0 && n > 0 &&
            sgemm('T', m, n, K, x + (size_t)m0 * ldx, ldx, w + (size_t)n0 * K, K,
                  bias ? 1.0f : 0.0f, yp, N) != ALBERT_OK) {
#pragma omp atomic write
            rc = ALBERT_E_NOMEM;
        }
    }
    return rc;
}

/* e^x to about 1 ulp (Cephes' expf), in straight-line arithmetic so that the
 * loops calling it vectorise: libm's expf and tanhf are scalar calls and
 * would take a fifth of the forward pass in the activations alone. */
static inline float exp_vec(float x)
{
    /* Below -87 the result is 0 (libm gives at most a denormal there), above
     * 88 infinity (it overflows from 88.72 on; 1 / (1 + e^x) is then 0, as
     * HF's sigmoid of a huge negative is), NaN NaN; clamping (NaN to -87)
     * keeps 2^k a normal float and its conversion to int defined. */
    float xc = x > -87.0f ? (x < 88.0f ? x : 88.0f) : -87.0f;
    /* k = round(x / ln 2) by the 1.5 * 2^23 trick (exact for |k| < 2^22). */
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = (xc - k * 0.693359375f) - k * -2.12194440e-4f; /* Cody-Waite split ln 2 */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : x > 88.0f ? INFINITY : x == x ? p * scale : x;
}

static inline float sigmoid_vec(float x)
{
    return 1.0f / (1.0f + exp_vec(-x));
}

/* ------------------------------------------------------------------- ops */

void cpu_embed(const albert_config *cfg, const albert_weights *w, int B, int T,
               const int32_t *ids, const int32_t *types, float *out)
{
    const int E = cfg->embedding_size;
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < B * T; r++) {
        const float *word = w->word_emb + (size_t)ids[r] * E;
        const float *type = w->type_emb + (size_t)(types ? types[r] : 0) * E;
        const float *pos = w->pos_emb + (size_t)(r % T) * E;
        float *o = out + (size_t)r * E;
        /* HF's order: (inputs_embeds + token_type_embeddings) + position. */
        for (int i = 0; i < E; i++)
            o[i] = (word[i] + type[i]) + pos[i];
        layernorm_row(E, o, w->emb_ln_g, w->emb_ln_b, cfg->layer_norm_eps);
    }
}

int cpu_linear(int M, int N, int K, const float *x, const float *w, const float *bias, float *y)
{
    return linear_strided(M, N, K, x, K, w, bias, y);
}

/* gelu_new, inlinable so row loops over it vectorise. */
static inline float gelu_tanh(float x)
{
    /* 0.5 x (1 + tanh(u)) == x sigmoid(2u), without 1 + tanh's cancellation
     * for negative x. */
    return x * sigmoid_vec(1.5957691216057308f * (x + 0.044715f * x * x * x));
}

float cpu_activation(albert_activation act, float x)
{
    switch (act) {
    case ALBERT_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ALBERT_ACT_GELU_TANH:
        return gelu_tanh(x);
    case ALBERT_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case ALBERT_ACT_SILU:
        return x * sigmoid_vec(x);
    case ALBERT_ACT_TANH:
        return tanhf(x);
    case ALBERT_ACT_QUICK_GELU:
        return x * sigmoid_vec(1.702f * x);
    }
    return x;
}

/* gelu_new, ALBERT's default, gets its own loop: the switch inside
 * cpu_activation keeps a loop over it scalar. */
#ifdef CPU_AVX512
/* gelu_tanh on the first n - n % 16 of X, 16 lanes at a time, as x / (1 +
 * 2^t) with t = -2u log2(e): 2^t by vscalefps of a degree-6 polynomial of
 * t's fraction, the reciprocal by rcp14 and a Newton step.  Like gelu_tanh
 * within 2e-7 of float64 HF (relative to 1 + |gelu|), at twice its speed
 * (no division, a shorter exp); the int8 FFN spent 40% of its time in the
 * activation.  Where t <= -100 the result is x; where t >= 100 (x below
 * about -9.2, where HF's is under 1e-28) it is 0 times x: -0, and NaN for
 * -inf as in HF. */
__attribute__((target("avx512f"))) static int gelu_tanh_avx512(int n, float *x)
{
    const float a = (float)(-2.0 * 0.7978845608028654 * 1.4426950408889634);
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(a * 0.044715f);
    const __m512 lo = _mm512_set1_ps(-100.0f), hi = _mm512_set1_ps(100.0f);
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 t = _mm512_mul_ps(v, _mm512_fmadd_ps(vb, _mm512_mul_ps(v, v), va));
        const __mmask16 finite_r = _mm512_cmp_ps_mask(t, hi, _CMP_LT_OQ); /* NaN: not */
        t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        __m512 d = _mm512_add_ps(cpu_exp2_avx512(t), one);
        __m512 r = _mm512_rcp14_ps(d);
        r = _mm512_maskz_mov_ps(finite_r, _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, two)));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(v, r));
    }
    return i;
}
#endif

WIDEST_VECTORS void cpu_activate_row(albert_activation act, int n, float *x)
{
    if (act == ALBERT_ACT_GELU_TANH) {
        int i = 0;
#ifdef CPU_AVX512
        if (__builtin_cpu_supports("avx512f"))
            i = gelu_tanh_avx512(n, x);
#endif
        for (; i < n; i++)
            x[i] = gelu_tanh(x[i]);
        return;
    }
    for (int i = 0; i < n; i++)
        x[i] = cpu_activation(act, x[i]);
}

void cpu_activate(int rows, int n, albert_activation act, float *x)
{
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < rows; r++)
        cpu_activate_row(act, n, x + (size_t)r * n);
}

WIDEST_VECTORS void cpu_layernorm_row(int n, const float *x, const float *res, const float *g,
                                      const float *b, float eps, float *out)
{
    /* Elementwise first, so OUT may alias X or RES. */
    for (int i = 0; i < n; i++)
        out[i] = res ? x[i] + res[i] : x[i];
    layernorm_row(n, out, g, b, eps);
}

void cpu_layernorm(int rows, int n, const float *x, const float *res, const float *g,
                   const float *b, float eps, float *out)
{
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        const size_t at = (size_t)r * n;
        cpu_layernorm_row(n, x + at, res ? res + at : NULL, g, b, eps, out + at);
    }
}

/* One softmax row of T keys; MASK is the batch row's key mask or NULL.
 * Masked keys become -inf, which exp_vec takes to exactly 0 (HF adds
 * finfo.min: the same 0).  Three vectorised passes: mask, scale and max;
 * exp and sum; normalise. */
WIDEST_VECTORS static void softmax_row(int T, float scale, const int32_t *mask, float *s)
{
    float max = -INFINITY;
    if (mask) {
#pragma omp simd reduction(max : max)
        for (int k = 0; k < T; k++) {
            s[k] = mask[k] ? s[k] * scale : -INFINITY;
            max = s[k] > max ? s[k] : max;
        }
    } else {
#pragma omp simd reduction(max : max)
        for (int k = 0; k < T; k++) {
            s[k] *= scale;
            max = s[k] > max ? s[k] : max;
        }
    }
    if (max == -INFINITY) {
        /* Every key masked: HF's scores all equal finfo.min, so uniform. */
        for (int k = 0; k < T; k++)
            s[k] = 1.0f / (float)T;
        return;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int k = 0; k < T; k++) {
        s[k] = exp_vec(s[k] - max);
        sum += s[k];
    }
    float inv = 1.0f / sum;
    for (int k = 0; k < T; k++)
        s[k] *= inv;
}

void cpu_softmax_masked(int B, int NH, int T, float scale, const int32_t *mask, float *scores)
{
    const int rows = B * NH * T;
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        int b = r / (NH * T);
        softmax_row(T, scale, mask ? mask + (size_t)b * T : NULL, scores + (size_t)r * T);
    }
}

int cpu_attention(int B, int T, int H, int NH, const float *qkv, const int32_t *mask,
                  int threads, float *scores, float *out)
{
    const int hd = H / NH, ld = 3 * H;
    const float scale = 1.0f / sqrtf((float)hd);
    int rc = ALBERT_OK;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < B * NH; p++) {
        const int b = p / NH, head = p % NH;
        float *s = scores + (size_t)omp_get_thread_num() * T * T;
        const float *q = qkv + (size_t)b * T * ld + (size_t)head * hd;
        const float *k = q + H, *v = q + 2 * H;
        int ok = sgemm('T', T, T, hd, q, ld, k, ld, 0.0f, s, T) == ALBERT_OK;
        cpu_softmax_masked(1, 1, T, scale, mask ? mask + (size_t)b * T : NULL, s);
        ok = ok && sgemm('N', T, hd, T, s, T, v, ld, 0.0f,
                         out + (size_t)b * T * H + (size_t)head * hd, H) == ALBERT_OK;
        if (!ok) {
#pragma omp atomic write
            rc = ALBERT_E_NOMEM;
        }
    }
    return rc;
}

int cpu_pooler(int B, int T, int H, const float *hidden, const float *pool_w,
               const float *pool_b, float *pooled)
{
    /* Row stride T*H picks each batch row's [CLS] vector without a copy. */
    int rc = linear_strided(B, H, H, hidden, T * H, pool_w, pool_b, pooled);
    for (size_t i = 0; i < (size_t)B * H; i++)
        pooled[i] = tanhf(pooled[i]);
    return rc;
}

void cpu_pool(int B, int T, int H, const float *hidden, const int32_t *mask,
              albert_pooling mode, float *pooled)
{
    albert_pool(B, T, H, hidden, mask, NULL, mode, pooled);
}

void cpu_combine_layer(int rows, int H, const float *src, int W, int offset, float scale,
                       int first, float *dst)
{
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * H;
        float *d = dst + (size_t)r * W + offset;
        for (int i = 0; i < H; i++)
            d[i] = first ? scale * s[i] : d[i] + scale * s[i];
    }
}

