/* bfloat16 Linears on oneDNN's matmul (linear_bf16.h).  One primitive per
 * weight, with the batch dimension left to run time (DNNL_RUNTIME_DIM_VAL),
 * so any batch shape reuses it. */
#include "cpu/linear_bf16.h"

#include "core/common.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

struct bf16_context {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
};

struct bf16_linear {
    bf16_context *ctx;
    int N, K;
    dnnl_primitive_t matmul;
    dnnl_memory_t weights, bias; /* weights in the primitive's own layout */
};

bool bf16_supported(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

/* ALBERT_E_NOMEM for oneDNN's out-of-memory, else ALBERT_E_DEVICE naming
 * the call. */
static int dnnl_fail(albert_error *err, dnnl_status_t s, const char *call)
{
    return albert_fail(err, s == dnnl_out_of_memory ? ALBERT_E_NOMEM : ALBERT_E_DEVICE,
                       "cpu backend: oneDNN %s failed (status %d)", call, (int)s);
}

#define DNNL_CHECK(call)                                                                           \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success)                                                                    \
            return dnnl_fail(err, s_, #call);                                                      \
    } while (0)

int bf16_context_create(bf16_context **out, albert_error *err)
{
    *out = NULL;
    bf16_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for oneDNN");
    dnnl_status_t s = dnnl_engine_create(&ctx->engine, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        bf16_context_free(ctx);
        return dnnl_fail(err, s, "engine and stream creation");
    }
    *out = ctx;
    return ALBERT_OK;
}

void bf16_context_free(bf16_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine)
        dnnl_engine_destroy(ctx->engine);
    free(ctx);
}

/* Round to nearest, ties to even (NaN stays NaN: the forward makes none). */
static inline uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static void round_rows(size_t n, const float *x, uint16_t *out)
{
#pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < n; i++)
        out[i] = to_bf16(x[i]);
}

/* A plain row-major [ROWS, COLS] descriptor (ROWS may be the run-time one). */
static dnnl_status_t plain_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols,
                              dnnl_data_type_t type, dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = {rows, cols};
    return dnnl_memory_desc_init_by_tag(md, 2, dims, type, tag);
}

static int make_primitive(bf16_linear *l, bool has_bias, dnnl_primitive_desc_t *pd,
                          albert_error *err)
{
    dnnl_memory_desc_t src, weights, bias, dst;
    DNNL_CHECK(plain_md(&src, DNNL_RUNTIME_DIM_VAL, l->K, dnnl_bf16, dnnl_ab));
    DNNL_CHECK(plain_md(&weights, l->K, l->N, dnnl_bf16, dnnl_format_tag_any));
    DNNL_CHECK(plain_md(&bias, 1, l->N, dnnl_f32, dnnl_ab));
    DNNL_CHECK(plain_md(&dst, DNNL_RUNTIME_DIM_VAL, l->N, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &src, &weights, has_bias ? &bias : NULL, &dst));
    DNNL_CHECK(dnnl_primitive_desc_create(pd, &desc, NULL, l->ctx->engine, NULL));
    DNNL_CHECK(dnnl_primitive_create(&l->matmul, *pd));
    return ALBERT_OK;
}

/* W [N, K] row-major is the K x N matrix of layout "ba": rounded, then
 * reordered into the primitive's layout. */
static int pack_weights(bf16_linear *l, const dnnl_primitive_desc_t pd, const float *w,
                        uint16_t *plain, albert_error *err)
{
    round_rows((size_t)l->N * (size_t)l->K, w, plain);
    const dnnl_memory_desc_t *packed = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t plain_desc;
    dnnl_memory_t from = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_status_t s = plain_md(&plain_desc, l->K, l->N, dnnl_bf16, dnnl_ba);
    if (s == dnnl_success)
        s = dnnl_memory_create(&from, &plain_desc, l->ctx->engine, plain);
    if (s == dnnl_success)
        s = dnnl_memory_create(&l->weights, packed, l->ctx->engine, DNNL_MEMORY_ALLOCATE);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&rpd, &plain_desc, l->ctx->engine, packed,
                                               l->ctx->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&reorder, rpd);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, l->weights}};
    if (s == dnnl_success)
        s = dnnl_primitive_execute(reorder, l->ctx->stream, 2, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(l->ctx->stream);
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    return s == dnnl_success ? ALBERT_OK : dnnl_fail(err, s, "weight reorder");
}

static int copy_bias(bf16_linear *l, const float *bias, albert_error *err)
{
    dnnl_memory_desc_t md;
    DNNL_CHECK(plain_md(&md, 1, l->N, dnnl_f32, dnnl_ab));
    DNNL_CHECK(dnnl_memory_create(&l->bias, &md, l->ctx->engine, DNNL_MEMORY_ALLOCATE));
    void *data = NULL;
    DNNL_CHECK(dnnl_memory_get_data_handle(l->bias, &data));
    memcpy(data, bias, (size_t)l->N * sizeof *bias);
    return ALBERT_OK;
}

int bf16_linear_create(bf16_context *ctx, int N, int K, const float *w, const float *bias,
                       bf16_linear **out, albert_error *err)
{
    bf16_linear *l = calloc(1, sizeof *l);
    uint16_t *plain = malloc((size_t)N * (size_t)K * sizeof *plain);
    *out = NULL;
    if (!l || !plain) {
        free(l);
        free(plain);
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for bf16 weights");
    }
    l->ctx = ctx;
    l->N = N;
    l->K = K;
    dnnl_primitive_desc_t pd = NULL;
    int rc = make_primitive(l, bias != NULL, &pd, err);
    if (rc == ALBERT_OK)
        rc = pack_weights(l, pd, w, plain, err);
    if (rc == ALBERT_OK && bias)
        rc = copy_bias(l, bias, err);
    dnnl_primitive_desc_destroy(pd);
    free(plain);
    if (rc != ALBERT_OK)
        bf16_linear_free(l);
    else
        *out = l;
    return rc;
}

void bf16_linear_free(bf16_linear *l)
{
    if (!l)
        return;
    dnnl_primitive_destroy(l->matmul);
    dnnl_memory_destroy(l->weights);
    dnnl_memory_destroy(l->bias);
    free(l);
}

int bf16_linear_run(const bf16_linear *l, int M, const float *x, uint16_t *xbuf, float *y,
                    albert_error *err)
{
    round_rows((size_t)M * (size_t)l->K, x, xbuf);
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_status_t s = plain_md(&src_md, M, l->K, dnnl_bf16, dnnl_ab);
    if (s == dnnl_success)
        s = plain_md(&dst_md, M, l->N, dnnl_f32, dnnl_ab);
    if (s == dnnl_success)
        s = dnnl_memory_create(&src, &src_md, l->ctx->engine, xbuf);
    if (s == dnnl_success)
        s = dnnl_memory_create(&dst, &dst_md, l->ctx->engine, y);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, l->weights},
                               {DNNL_ARG_DST, dst}, {DNNL_ARG_BIAS, l->bias}};
    if (s == dnnl_success)
        s = dnnl_primitive_execute(l->matmul, l->ctx->stream, l->bias ? 4 : 3, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(l->ctx->stream);
    dnnl_memory_destroy(src);
    dnnl_memory_destroy(dst);
    return s == dnnl_success ? ALBERT_OK : dnnl_fail(err, s, "matmul");
}
