/* bf16 self-attention on oneDNN's batched matmul (attention_bf16.h). */
#include "cpu/attention_bf16.h"

#include "core/common.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* The primitives of one sequence length. */
typedef struct attn_shape {
    dnnl_primitive_t scores;  /* S [NH, T, T] = Q K^T / sqrt(D) + mask, float32 */
    dnnl_primitive_t softmax; /* P [NH, T, T] = softmax(S) over the keys, bfloat16 */
    dnnl_primitive_t context; /* OUT rows [T, NH, D] = P V */
} attn_shape;

struct attn_bf16 {
    lowp_context *ctx;
    int H, NH, D, max_T;
    bool f32_io;        /* QKV and the output float32 */
    attn_shape *by_len; /* [T - 1], made at first use */
};

int attn_bf16_create(lowp_context *ctx, int H, int NH, int max_T, bool f32_io, attn_bf16 **out,
                     albert_error *err)
{
    *out = NULL;
    attn_bf16 *a = calloc(1, sizeof *a);
    attn_shape *by_len = calloc((size_t)max_T, sizeof *by_len);
    if (!a || !by_len) {
        free(a);
        free(by_len);
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for attention");
    }
    *a = (attn_bf16){ctx, H, NH, H / NH, max_T, f32_io, by_len};
    *out = a;
    return ALBERT_OK;
}

void attn_bf16_free(attn_bf16 *a)
{
    if (!a)
        return;
    for (int t = 0; t < a->max_T; t++) {
        dnnl_primitive_t made[3] = {a->by_len[t].scores, a->by_len[t].softmax,
                                    a->by_len[t].context};
        for (int i = 0; i < 3; i++)
            if (made[i])
                dnnl_primitive_destroy(made[i]);
    }
    free(a->by_len);
    free(a);
}

/* ------------------------------------------------------------ primitives */

/* The matmul SRC x WEIGHTS -> DST, its output scaled by SCALE. */
static int make_matmul(const attn_bf16 *a, const dnnl_memory_desc_t *src,
                       const dnnl_memory_desc_t *weights, const dnnl_memory_desc_t *dst,
                       float scale, dnnl_primitive_t *out, albert_error *err)
{
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, src, weights, NULL, dst));
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success && scale != 1.0f)
        s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&pd, &desc, attr, a->ctx->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s == dnnl_success ? ALBERT_OK : onednn_fail(err, s, "attention matmul");
}

/* The softmax over the last axis of S into P. */
static int make_softmax(const attn_bf16 *a, const dnnl_memory_desc_t *s,
                        const dnnl_memory_desc_t *p, dnnl_primitive_t *out, albert_error *err)
{
    dnnl_softmax_v2_desc_t desc;
    DNNL_CHECK(dnnl_softmax_v2_forward_desc_init(&desc, dnnl_forward_inference,
                                                 dnnl_softmax_accurate, s, p, 3));
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, NULL, a->ctx->engine, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success ? ALBERT_OK : onednn_fail(err, st, "attention softmax");
}

/* Q and V blocks [NH, T, D] dense; K read as the [NH, D, T] matrix K^T;
 * scores and P [NH, T, T] dense; the output rows of NH heads of D. */
static int make_shape(const attn_bf16 *a, int64_t T, attn_shape *sh, albert_error *err)
{
    const int64_t NH = a->NH, D = a->D, H = a->H;
    const int64_t heads[3] = {T * D, D, 1}, k_t[3] = {T * D, 1, D}, square[3] = {T * T, T, 1};
    const int64_t rows[3] = {D, H, 1};
    dnnl_memory_desc_t q, k, s, p, v, o;
    DNNL_CHECK(onednn_md_batched(&q, NH, T, D, heads, dnnl_bf16));
    DNNL_CHECK(onednn_md_batched(&k, NH, D, T, k_t, dnnl_bf16));
    DNNL_CHECK(onednn_md_batched(&s, NH, T, T, square, dnnl_f32));
    DNNL_CHECK(onednn_md_batched(&p, NH, T, T, square, dnnl_bf16));
    DNNL_CHECK(onednn_md_batched(&v, NH, T, D, heads, dnnl_bf16));
    DNNL_CHECK(onednn_md_batched(&o, NH, T, D, rows, a->f32_io ? dnnl_f32 : dnnl_bf16));
    int rc = make_matmul(a, &q, &k, &s, 1.0f / sqrtf((float)D), &sh->scores, err);
    if (rc == ALBERT_OK)
        rc = make_softmax(a, &s, &p, &sh->softmax, err);
    if (rc == ALBERT_OK)
        rc = make_matmul(a, &p, &v, &o, 1.0f, &sh->context, err);
    return rc;
}

static int shape_for(attn_bf16 *a, int T, const attn_shape **out, albert_error *err)
{
    attn_shape *sh = &a->by_len[T - 1];
    if (!sh->context) {
        int rc = make_shape(a, T, sh, err);
        if (rc != ALBERT_OK)
            return rc;
    }
    *out = sh;
    return ALBERT_OK;
}

/* ------------------------------------------------------------ run */

static size_t line_up(size_t bytes)
{
    return (bytes + 63) / 64 * 64;
}

/* Scratch: the Q, K, V blocks, the float32 scores, P, the padding keys. */
size_t attn_bf16_scratch_bytes(const attn_bf16 *a, int T)
{
    const size_t t = (size_t)T, square = (size_t)a->NH * t * t;
    return line_up(3 * t * (size_t)a->H * 2) + line_up(square * 4) + line_up(square * 2) +
           line_up(t * sizeof(int));
}

/* One batch row's [T, 3H] projections (float32 ones rounded) into HEADS:
 * [3][NH][T][D]. */
static void split_heads(const attn_bf16 *a, int T, const void *rows, uint16_t *heads)
{
    const size_t D = (size_t)a->D, ld = 3 * (size_t)a->H, block = (size_t)T * D;
#pragma omp parallel for
    for (int i = 0; i < 3 * a->NH; i++) {
        const size_t first = (size_t)(i / a->NH) * a->H + (size_t)(i % a->NH) * D;
        uint16_t *to = heads + (size_t)i * block;
        for (size_t t = 0; t < (size_t)T; t++) {
            if (a->f32_io)
                onednn_round_bf16(D, (const float *)rows + first + t * ld, to + t * D);
            else
                memcpy(to + t * D, (const uint16_t *)rows + first + t * ld, D * 2);
        }
    }
}

/* HF adds finfo(float32).min to the score of each padding key (MASK 0):
 * the sum is that value, which the scores of the NH * T rows take here,
 * only where there is padding (PADS: room for T key indices).  A row whose
 * keys are all padding comes out uniform, as in HF. */
static void mask_pads(const attn_bf16 *a, int T, const int32_t *mask, int *pads, float *scores)
{
    int n = 0;
    for (int t = 0; mask && t < T; t++)
        if (!mask[t])
            pads[n++] = t;
    for (int r = 0; n && r < a->NH * T; r++)
        for (int i = 0; i < n; i++)
            scores[(size_t)r * T + pads[i]] = -FLT_MAX;
}

int attn_bf16_run(attn_bf16 *a, int B, int T, const void *qkv, const int32_t *mask,
                  void *scratch, void *out, albert_error *err)
{
    if (T < 1 || T > a->max_T)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: attention over %d tokens (1 to %d)",
                           T, a->max_T);
    const attn_shape *sh = NULL;
    int rc = shape_for(a, T, &sh, err);
    const size_t t = (size_t)T, H = (size_t)a->H, block = t * H, square = (size_t)a->NH * t * t;
    const size_t io = a->f32_io ? 4 : 2; /* bytes of a QKV or output value */
    uint16_t *heads = scratch;
    float *scores = (float *)((char *)scratch + line_up(3 * block * 2));
    uint16_t *p = (uint16_t *)((char *)scores + line_up(square * 4));
    int *pads = (int *)((char *)p + line_up(square * 2));
    for (int b = 0; rc == ALBERT_OK && b < B; b++) {
        split_heads(a, T, (const char *)qkv + (size_t)b * 3 * block * io, heads);
        rc = onednn_matmul_run(a->ctx, sh->scores, heads, heads + block, scores, err);
        mask_pads(a, T, mask ? mask + (size_t)b * t : NULL, pads, scores);
        if (rc == ALBERT_OK)
            rc = onednn_softmax_run(a->ctx, sh->softmax, scores, p, err);
        if (rc == ALBERT_OK)
            rc = onednn_matmul_run(a->ctx, sh->context, p, heads + 2 * block,
                                   (char *)out + (size_t)b * block * io, err);
    }
    return rc;
}
