/* The CPU backend's reduced-precision Linears on oneDNN's matmul:
 * y[M,N] = x[M,K] * w[N,K]^T + bias[N], float32 in and out.
 *   bf16: x and w rounded to bfloat16 (nearest, ties to even), float32
 *         accumulation and bias.
 *   int8: w quantized symmetrically per output channel (scale = max |w| /
 *         127), x per row (per token) at each call, int32 accumulation, the
 *         two scales and the bias applied in float32.
 * The weight is converted and reordered into oneDNN's blocked layout once,
 * when the engine is made; x is converted at each call into the caller's
 * scratch. */
#ifndef ALBERT_CPU_LINEAR_LOWP_H
#define ALBERT_CPU_LINEAR_LOWP_H

#include "albert_cl.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether this CPU runs PRECISION's GEMMs natively as oneDNN sees it (bf16:
 * AVX512-BF16 or AMX; int8: AVX512-VNNI or AMX): without, oneDNN would
 * emulate them, slower than fp32.  Never fp32 (that is cpu/ops.c's sgemm). */
bool lowp_supported(int precision);

/* One oneDNN CPU engine and stream: per backend, used by one thread at a
 * time.  *OUT is NULL on failure. */
typedef struct lowp_context lowp_context;

int lowp_context_create(lowp_context **out, albert_error *err);
void lowp_context_free(lowp_context *ctx);

typedef struct lowp_linear lowp_linear;

/* A Linear of weight W [N, K] and BIAS [N] (NULL: none) in PRECISION (bf16
 * or int8); W and BIAS are copied.  *OUT is NULL on failure. */
int lowp_linear_create(lowp_context *ctx, int precision, int N, int K, const float *w,
                       const float *bias, lowp_linear **out, albert_error *err);
void lowp_linear_free(lowp_linear *l);

/* Bytes of scratch lowp_linear_run needs for M rows of K in PRECISION. */
size_t lowp_scratch_bytes(int precision, size_t M, size_t K);

/* Y [M, N] from X [M, K]; SCRATCH holds lowp_scratch_bytes, 4-byte aligned. */
int lowp_linear_run(const lowp_linear *l, int M, const float *x, void *scratch, float *y,
                    albert_error *err);

#endif
