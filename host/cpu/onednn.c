/* The CPU backend's shared oneDNN pieces (onednn.h). */
#include "cpu/onednn.h"

#include "core/common.h"
#include "cpu/ops.h"

#include <stdlib.h>

int onednn_fail(albert_error *err, dnnl_status_t s, const char *call)
{
    return albert_fail(err, s == dnnl_out_of_memory ? ALBERT_E_NOMEM : ALBERT_E_DEVICE,
                       "cpu backend: oneDNN %s failed (status %d)", call, (int)s);
}

int lowp_context_create(lowp_context **out, albert_error *err)
{
    *out = NULL;
    lowp_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for oneDNN");
    dnnl_status_t s = dnnl_engine_create(&ctx->engine, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        lowp_context_free(ctx);
        return onednn_fail(err, s, "engine and stream creation");
    }
    *out = ctx;
    return ALBERT_OK;
}

void lowp_context_free(lowp_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine)
        dnnl_engine_destroy(ctx->engine);
    free(ctx);
}

WIDEST_VECTORS void onednn_round_bf16(size_t n, const float *x, uint16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = onednn_to_bf16(x[i]);
}

dnnl_status_t onednn_md_4d(dnnl_memory_desc_t *md, const int64_t dims[4],
                           const int64_t strides[4], dnnl_data_type_t type)
{
    dnnl_dims_t d = {dims[0], dims[1], dims[2], dims[3]};
    dnnl_dims_t st = {strides[0], strides[1], strides[2], strides[3]};
    return dnnl_memory_desc_init_by_strides(md, 4, d, type, st);
}

/* Runs P on the memory at DATA[i] for each ARGS[i] (its descriptor from
 * P's), N of them, and waits. */
static int run(lowp_context *ctx, dnnl_primitive_t p, int n, const int *args, void *const *data,
               albert_error *err)
{
    const_dnnl_primitive_desc_t pd = NULL;
    DNNL_CHECK(dnnl_primitive_get_primitive_desc(p, &pd));
    dnnl_exec_arg_t exec[3] = {{0}};
    dnnl_status_t s = dnnl_success;
    int made = 0;
    for (; made < n && s == dnnl_success; made++) { /* a failed create leaves NULL */
        exec[made].arg = args[made];
        s = dnnl_memory_create(&exec[made].memory,
                               dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[made]),
                               ctx->engine, data[made]);
    }
    if (s == dnnl_success)
        s = dnnl_primitive_execute(p, ctx->stream, n, exec);
    if (s == dnnl_success)
        s = dnnl_stream_wait(ctx->stream);
    for (int i = 0; i < made; i++)
        dnnl_memory_destroy(exec[i].memory);
    return s == dnnl_success ? ALBERT_OK : onednn_fail(err, s, "primitive execution");
}

int onednn_matmul_run(lowp_context *ctx, dnnl_primitive_t p, const void *src, const void *weights,
                      void *dst, albert_error *err)
{
    const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    void *const data[3] = {(void *)src, (void *)weights, dst};
    return run(ctx, p, 3, args, data, err);
}

int onednn_softmax_run(lowp_context *ctx, dnnl_primitive_t p, const void *src, void *dst,
                       albert_error *err)
{
    const int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    void *const data[2] = {(void *)src, dst};
    return run(ctx, p, 2, args, data, err);
}
