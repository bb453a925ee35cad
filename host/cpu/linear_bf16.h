/* The CPU backend's bfloat16 Linears (ALBERT_PRECISION_BF16) on oneDNN:
 * y[M,N] = x[M,K] * w[N,K]^T + bias[N] with x and w rounded to bfloat16
 * (nearest, ties to even), float32 accumulation, bias and output.  The
 * weight is converted and reordered into oneDNN's blocked layout once, when
 * the engine is made; x is rounded at each call into the caller's buffer. */
#ifndef ALBERT_CPU_LINEAR_BF16_H
#define ALBERT_CPU_LINEAR_BF16_H

#include "albert_cl.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether this CPU runs bfloat16 GEMMs natively (AVX512-BF16 or AMX, as
 * oneDNN sees it): without, oneDNN would emulate them, slower than fp32. */
bool bf16_supported(void);

/* One oneDNN CPU engine and stream: per backend, used by one thread at a
 * time. */
typedef struct bf16_context bf16_context;

/* *OUT is NULL on failure. */
int bf16_context_create(bf16_context **out, albert_error *err);
void bf16_context_free(bf16_context *ctx);

typedef struct bf16_linear bf16_linear;

/* A Linear of weight W [N, K] and BIAS [N] (NULL: none); W and BIAS are
 * copied.  *OUT is NULL on failure.  (The FFN's activation as a oneDNN
 * post-op measured slower than cpu_activate after the GEMM: not fused.) */
int bf16_linear_create(bf16_context *ctx, int N, int K, const float *w, const float *bias,
                       bf16_linear **out, albert_error *err);
void bf16_linear_free(bf16_linear *l);

/* Y [M, N] from X [M, K]; XBUF holds M * K bfloat16 values of scratch. */
int bf16_linear_run(const bf16_linear *l, int M, const float *x, uint16_t *xbuf, float *y,
                    albert_error *err);

#endif
