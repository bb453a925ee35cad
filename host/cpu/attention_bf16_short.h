/* bf16 self-attention for short sequences, without oneDNN: what
 * attn_bf16_run computes for bf16's bfloat16 QKV (int8's float32 one stays
 * on oneDNN: attention_bf16.c says why) - bfloat16 Q, K, V and P, float32
 * products and softmax, HF's mask - one sequence's head at a time in
 * AVX512-BF16 dot products (vdpbf16ps), its operands packed in L1.  On
 * heads of a few tokens oneDNN's calls cost 80-95 us each whatever their
 * size (a stream of 1 to 10 words: its attention at 12 GFLOP/s, 20% of the
 * forward; 3 times faster here).  Up to 48 tokens this is faster on a
 * stream of mixed lengths; on uniform batches it is faster up to 16
 * tokens, about even from 20 to 48, slower beyond (AMX's tiles fill). */
#ifndef ALBERT_CPU_ATTENTION_BF16_SHORT_H
#define ALBERT_CPU_ATTENTION_BF16_SHORT_H

#include "cpu/ops.h" /* CPU_AVX512 */

#include <stdbool.h>
#include <stdint.h>

#ifdef CPU_AVX512
#define ATTN_SHORT_MAX_T 48
#define ATTN_SHORT_MAX_D 128

/* Whether attn_short_run takes sequences of T tokens in heads of D values
 * on this CPU (AVX512-BF16, D a multiple of 16). */
bool attn_short_fits(int T, int D);

/* OUT [B*T, H] from QKV [B*T, 3H] (q | k | v per token), bfloat16; MASK
 * [B*T] (1: attend) or NULL.  Runs on the calling thread's OpenMP team. */
void attn_short_run(int B, int T, int H, int NH, const uint16_t *qkv, const int32_t *mask,
                    uint16_t *out);
#endif

#endif
