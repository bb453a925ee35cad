/* The CPU backend's Linears on oneDNN's matmul (its brgemm kernels):
 * y[M,N] = x[M,K] * w[N,K]^T + bias[N], float32 in and out.
 *   fp32: float32 throughout (oneDNN's sgemm, which the pooler keeps, runs
 *         small row counts at a fifth of the matmul's speed).
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
#include "cpu/onednn.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether this CPU runs PRECISION's GEMMs natively as oneDNN sees it (bf16:
 * AVX512-BF16 or AMX; int8: AVX512-VNNI or AMX; fp32: always): without,
 * oneDNN would emulate them, slower than fp32. */
bool lowp_supported(int precision);

typedef struct lowp_linear lowp_linear;

#define LOWP_NO_ACT (-1)

/* What a Linear does to its output, saving passes over [M, N] in memory:
 * an activation (bf16: a post-op inside oneDNN's matmul; int8: on each row
 * right after it is dequantized), and the output handed over as the next
 * Linear's input as it is (NEXT_INPUT, bf16 and int8): bf16 stores it as
 * bfloat16 in Y; int8 quantizes each row while it is in cache, into
 * SCRATCH as lowp_linear_run's own int8 input (Y is then its float32
 * working space).  An int8 row holding NaN or an infinity comes out NaN. */
typedef struct lowp_fusion {
    int act;         /* LOWP_NO_ACT or an albert_activation */
    bool next_input;
} lowp_fusion;

/* A Linear of weight W [N, K] and BIAS [N] (NULL: none) in PRECISION (bf16
 * or int8), FUSE (NULL: none) what it does to its output; W and
 * BIAS are copied.  *OUT is NULL on failure. */
int lowp_linear_create(lowp_context *ctx, int precision, int N, int K, const float *w,
                       const float *bias, const lowp_fusion *fuse, lowp_linear **out,
                       albert_error *err);
void lowp_linear_free(lowp_linear *l);

/* Rows run padded to a multiple of 8, 32 or 128 (each row count is a oneDNN
 * primitive of its own, made at first use): lowp_linear_run writes
 * lowp_padded_rows(M) rows of Y, and a bfloat16 X brings as many. */
size_t lowp_padded_rows(size_t rows);

/* Bytes of scratch lowp_linear_run needs for M rows of K in PRECISION. */
size_t lowp_scratch_bytes(int precision, size_t M, size_t K);

/* Y [M, N] (float32, or as lowp_fusion.next_input says; padded rows:
 * lowp_padded_rows(M) of them) from X [M, K] (fp32: X too brings the padded
 * rows, any finite values): float32, or with X_READY the output a Linear
 * made with next_input handed over, not converted again (bf16: its bfloat16
 * rows; int8: SCRATCH itself).  SCRATCH holds lowp_scratch_bytes for the
 * larger of K and, with next_input, N; 4-byte aligned. */
int lowp_linear_run(lowp_linear *l, int M, const void *x, bool x_ready, void *scratch, void *y,
                    albert_error *err);

#endif
