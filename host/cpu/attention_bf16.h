/* bf16 self-attention on oneDNN (brgemm matmuls on AMX or AVX512-BF16,
 * its JIT softmax), HF's AlbertAttention before its output Linear, as
 * cpu_attention computes it in float32.  Q, K, V and P are bfloat16 (QKV
 * and the output too, or float32 in and out for int8's Linears); the
 * products accumulate, and the softmax runs, in float32.  A group of
 * sequences at a time (up to ~512 rows: each oneDNN call costs tens of
 * microseconds): their Q, K and V are copied out of the fused projections
 * into head-major blocks (brgemm takes no head stride inside a token row),
 * then QK^T / sqrt(D), the softmax and P V run batched over sequences and
 * heads.  (In float32 the per-head sgemm of cpu_attention is as fast: no
 * copies.) */
#ifndef ALBERT_CPU_ATTENTION_BF16_H
#define ALBERT_CPU_ATTENTION_BF16_H

#include "albert_cl.h"
#include "cpu/onednn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct attn_bf16 attn_bf16;

/* Attention over H = NH heads of D values, sequences of 1 to MAX_T tokens,
 * QKV and output bfloat16, or float32 with F32_IO.  *OUT is NULL on
 * failure. */
int attn_bf16_create(lowp_context *ctx, int H, int NH, int max_T, bool f32_io, attn_bf16 **out,
                     albert_error *err);
void attn_bf16_free(attn_bf16 *a);

/* Bytes of scratch attn_bf16_run needs for sequences of T tokens. */
size_t attn_bf16_scratch_bytes(const attn_bf16 *a, int T);

/* OUT [B*T, H] from QKV [B*T, 3H] (q | k | v per token), in the type made
 * for; MASK as cpu_softmax_masked.  SCRATCH holds
 * attn_bf16_scratch_bytes(T), 64-byte aligned.  Each sequence length and
 * group size gets its primitives (two matmuls and a softmax) at first use
 * (a few ms of JIT). */
int attn_bf16_run(attn_bf16 *a, int B, int T, const void *qkv, const int32_t *mask,
                  void *scratch, void *out, albert_error *err);

#endif
