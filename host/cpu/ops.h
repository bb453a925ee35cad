/* The host CPU backend's operations, one function per op.  They are the
 * reference every other backend's ops are tested against (tests/test_backend_ops.c),
 * so each does exactly one thing, in float32, with HF's semantics.
 * Matrices are row-major; "rows x n" means rows of n contiguous floats.
 * The ops with GEMMs (oneDNN's sgemm) return ALBERT_OK, or ALBERT_E_NOMEM
 * when it could not allocate its buffers (the output is then unspecified). */
#ifndef ALBERT_CPU_OPS_H
#define ALBERT_CPU_OPS_H

#include "core/model.h"

/* For the element-wise row loops: the widest vectors the CPU has.  The
 * library is built for baseline x86-64 (SSE2, to run anywhere); glibc's
 * ifunc picks the clone for the CPU at load time (AVX-512 makes the
 * activations 2x faster). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WIDEST_VECTORS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
/* Hand-written AVX-512 loops, in functions of their own marked
 * target("avx512f") and called after __builtin_cpu_supports("avx512f"). */
#define CPU_AVX512 1
#include <immintrin.h>

/* 2^t for t in [-100, 100] (clamp first), 16 lanes: vscalefps of a degree-6
 * polynomial of t's fraction. */
__attribute__((target("avx512f"))) static inline __m512 cpu_exp2_avx512(__m512 t)
{
    const float c[6] = {1.5403530e-4f, 1.3333558e-3f, 9.6181291e-3f, 5.5504109e-2f,
                        2.4022651e-1f, 6.9314718e-1f}; /* ln(2)^i / i!, i = 6 .. 1 */
    __m512 k = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, k), p = _mm512_set1_ps(c[0]);
    for (int j = 1; j < 6; j++)
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[j]));
    return _mm512_scalef_ps(_mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f)), k);
}
#else
#define WIDEST_VECTORS
#endif

#include <stdint.h>

/* out[b*T+t, :] = LayerNorm(word[ids] + pos[t] + type[types]) over E, with
 * emb_ln_g/emb_ln_b and cfg->layer_norm_eps.  TYPES may be NULL (all 0). */
void cpu_embed(const albert_config *cfg, const albert_weights *w, int B, int T,
               const int32_t *ids, const int32_t *types, float *out);

/* y[M,N] = x[M,K] * w[N,K]^T + bias[N]  (torch.nn.Linear; bias may be NULL). */
int cpu_linear(int M, int N, int K, const float *x, const float *w, const float *bias, float *y);

/* Scalar activation, exactly as HF's ACT2FN. */
float cpu_activation(albert_activation act, float x);

/* x[r, j] = act(x[r, j])  for rows x n (bias already added by cpu_linear). */
void cpu_activate(int rows, int n, albert_activation act, float *x);
/* One row of cpu_activate, on the calling thread (no parallel region). */
void cpu_activate_row(albert_activation act, int n, float *x);

/* out[r, :] = LayerNorm(x[r, :] + res[r, :]) * g + b over n; RES may be NULL,
 * OUT may alias X or RES.  Two-pass mean/variance, as torch does. */
void cpu_layernorm(int rows, int n, const float *x, const float *res, const float *g,
                   const float *b, float eps, float *out);
/* One row of cpu_layernorm, on the calling thread. */
void cpu_layernorm_row(int n, const float *x, const float *res, const float *g, const float *b,
                       float eps, float *out);

/* In-place masked scaled softmax over the last axis of scores[B, NH, T, T]:
 * s = s * scale, keys with mask[b*T + k] == 0 are excluded (HF adds
 * finfo(float32).min), numerically stable.  A row whose keys are all masked
 * becomes uniform, as in HF.  MASK may be NULL (all keys valid). */
void cpu_softmax_masked(int B, int NH, int T, float scale, const int32_t *mask, float *scores);

/* Self-attention from the fused projections qkv[B*T, 3H] (q | k | v per
 * token): out[B*T, H] = softmax(q k^T / sqrt(D) + mask) v per head of
 * D = H / NH floats, HF's AlbertAttention before its output Linear.  Heads
 * are read in place through strides.  The (row, head) blocks run on THREADS
 * OpenMP threads, each with its own T x T block of SCORES (THREADS * T * T
 * floats), so it must not be called from inside a parallel region.  MASK as
 * cpu_softmax_masked. */
int cpu_attention(int B, int T, int H, int NH, const float *qkv, const int32_t *mask,
                  int threads, float *scores, float *out);

/* pooled[b, :] = tanh(pool_w * hidden[b*T + 0, :] + pool_b)  (HF pooler). */
int cpu_pooler(int B, int T, int H, const float *hidden, const float *pool_w,
               const float *pool_b, float *pooled);

/* albert_pool (core/backend.h) over every position. */
void cpu_pool(int B, int T, int H, const float *hidden, const int32_t *mask,
              albert_pooling mode, float *pooled);

/* One layer's hidden state SRC [rows, H] into a combination of layers
 * DST [rows, W] at column OFFSET: SCALE * SRC, written when FIRST, else
 * added (a mean: SCALE 1/n at offset 0; a concatenation: SCALE 1, each
 * layer first at its own offset). */
void cpu_combine_layer(int rows, int H, const float *src, int W, int offset, float scale,
                       int first, float *dst);

#endif
