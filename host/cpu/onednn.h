/* What the CPU backend's users of oneDNN share: one engine and stream per
 * backend, oneDNN errors as albert errors, bfloat16 rounding. */
#ifndef ALBERT_CPU_ONEDNN_H
#define ALBERT_CPU_ONEDNN_H

#include "albert_cl.h"

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Used by one thread at a time (the backend's). */
typedef struct lowp_context {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
} lowp_context;

/* *OUT is NULL on failure. */
int lowp_context_create(lowp_context **out, albert_error *err);
void lowp_context_free(lowp_context *ctx);

/* ALBERT_E_NOMEM for oneDNN's out-of-memory, else ALBERT_E_DEVICE naming
 * CALL; returns the code. */
int onednn_fail(albert_error *err, dnnl_status_t s, const char *call);

/* Returns from the calling function (which has an albert_error *err) when
 * CALL fails. */
#define DNNL_CHECK(call)                                                                           \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success)                                                                    \
            return onednn_fail(err, s_, #call);                                                    \
    } while (0)

/* Round to nearest, ties to even (NaN is not kept: the forward makes none). */
static inline uint16_t onednn_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* OUT[i] = onednn_to_bf16(X[i]), on the calling thread. */
void onednn_round_bf16(size_t n, const float *x, uint16_t *out);

/* A [DIMS] descriptor of TYPE with element STRIDES.  oneDNN 2.6 runs a
 * batched matmul on brgemm (3-5x its gemm) only when the strides go down
 * from the outermost dimension: a head stride inside a token row sends it
 * to its gemm. */
dnnl_status_t onednn_md_4d(dnnl_memory_desc_t *md, const int64_t dims[4],
                           const int64_t strides[4], dnnl_data_type_t type);

/* Runs the matmul P on SRC, WEIGHTS and DST (its own descriptors) and
 * waits. */
int onednn_matmul_run(lowp_context *ctx, dnnl_primitive_t p, const void *src, const void *weights,
                      void *dst, albert_error *err);

/* Runs the softmax P from SRC into DST and waits. */
int onednn_softmax_run(lowp_context *ctx, dnnl_primitive_t p, const void *src, void *dst,
                       albert_error *err);

#endif
