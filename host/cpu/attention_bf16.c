/* bf16 self-attention on oneDNN's batched matmul (attention_bf16.h). */
#include "cpu/attention_bf16.h"

#include "core/common.h"
#include "cpu/attention_bf16_short.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Sequences run in groups of up to about this many rows per oneDNN call:
 * each call (and each parallel region around it) costs tens of
 * microseconds, as much as a short sequence's whole attention. */
#define GROUP_ROWS 512
/* Groups are powers of two up to 2^(GROUP_SIZES - 1) sequences, so each
 * length needs few primitives. */
#define GROUP_SIZES 9

/* The primitives of one sequence length and group size G. */
typedef struct attn_shape {
    dnnl_primitive_t scores;  /* S [G, NH, T, T] = Q K^T / sqrt(D), float32 */
    dnnl_primitive_t softmax; /* P [G, NH, T, T] = softmax(S) over the keys, bfloat16 */
    dnnl_primitive_t context; /* OUT rows [G, T, NH, D] = P V */
} attn_shape;

struct attn_bf16 {
    lowp_context *ctx;
    int H, NH, D, max_T;
    bool f32_io;        /* QKV and the output float32 */
    attn_shape *shapes; /* [(T - 1) * GROUP_SIZES + log2 G], made at first use */
};

int attn_bf16_create(lowp_context *ctx, int H, int NH, int max_T, bool f32_io, attn_bf16 **out,
                     albert_error *err)
{
    *out = NULL;
    attn_bf16 *a = calloc(1, sizeof *a);
    attn_shape *shapes = calloc((size_t)max_T * GROUP_SIZES, sizeof *shapes);
    if (!a || !shapes) {
        free(a);
        free(shapes);
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for attention");
    }
    *a = (attn_bf16){ctx, H, NH, H / NH, max_T, f32_io, shapes};
    *out = a;
    return ALBERT_OK;
}

static void shape_free(attn_shape *sh)
{
    dnnl_primitive_t *made[3] = {&sh->scores, &sh->softmax, &sh->context};
    for (int i = 0; i < 3; i++) {
        if (*made[i])
            dnnl_primitive_destroy(*made[i]);
        *made[i] = NULL;
    }
}

void attn_bf16_free(attn_bf16 *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < (size_t)a->max_T * GROUP_SIZES; i++)
        shape_free(&a->shapes[i]);
    free(a->shapes);
    free(a);
}

/* The largest group for T: a power of two of at most GROUP_ROWS rows. */
static int max_group(int T)
{
    int g = 1;
    while (g < 1 << (GROUP_SIZES - 1) && 2 * g * T <= GROUP_ROWS)
        g *= 2;
    return g;
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

/* Q and V blocks [G, NH, T, D] dense; K read as the [G, NH, D, T] matrix
 * K^T; scores and P [G, NH, T, T] dense; the output rows of NH heads of D. */
static int make_shape(const attn_bf16 *a, int64_t T, int64_t G, attn_shape *sh,
                      albert_error *err)
{
    const int64_t NH = a->NH, D = a->D, H = a->H, seq = NH * T * D, sq = NH * T * T;
    const int64_t heads[4] = {G, NH, T, D}, square[4] = {G, NH, T, T}, k_t[4] = {G, NH, D, T};
    const int64_t heads_at[4] = {seq, T * D, D, 1}, k_t_at[4] = {seq, T * D, 1, D};
    const int64_t square_at[4] = {sq, T * T, T, 1}, rows_at[4] = {T * H, D, H, 1};
    dnnl_memory_desc_t q, k, s, p, v, o;
    DNNL_CHECK(onednn_md_4d(&q, heads, heads_at, dnnl_bf16));
    DNNL_CHECK(onednn_md_4d(&k, k_t, k_t_at, dnnl_bf16));
    DNNL_CHECK(onednn_md_4d(&s, square, square_at, dnnl_f32));
    DNNL_CHECK(onednn_md_4d(&p, square, square_at, dnnl_bf16));
    DNNL_CHECK(onednn_md_4d(&v, heads, heads_at, dnnl_bf16));
    DNNL_CHECK(onednn_md_4d(&o, heads, rows_at, a->f32_io ? dnnl_f32 : dnnl_bf16));
    int rc = make_matmul(a, &q, &k, &s, 1.0f / sqrtf((float)D), &sh->scores, err);
    if (rc == ALBERT_OK)
        rc = make_softmax(a, &s, &p, &sh->softmax, err);
    if (rc == ALBERT_OK)
        rc = make_matmul(a, &p, &v, &o, 1.0f, &sh->context, err);
    if (rc != ALBERT_OK)
        shape_free(sh); /* the next call tries again from nothing */
    return rc;
}

static int shape_for(attn_bf16 *a, int T, int G, const attn_shape **out, albert_error *err)
{
    int level = 0;
    while (1 << level < G)
        level++;
    attn_shape *sh = &a->shapes[(size_t)(T - 1) * GROUP_SIZES + (size_t)level];
    if (!sh->context) {
        int rc = make_shape(a, T, G, sh, err);
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

/* Scratch for the largest group: the Q, K, V blocks, the float32 scores,
 * P, the padding keys of one sequence. */
size_t attn_bf16_scratch_bytes(const attn_bf16 *a, int T)
{
    const size_t g = (size_t)max_group(T), t = (size_t)T, square = g * (size_t)a->NH * t * t;
    return line_up(3 * g * t * (size_t)a->H * 2) + line_up(square * 4) + line_up(square * 2) +
           line_up(t * sizeof(int));
}

/* G sequences' [T, 3H] projections (float32 ones rounded) into HEADS:
 * [3][G][NH][T][D]. */
static void split_heads(const attn_bf16 *a, int T, int G, const void *rows, uint16_t *heads)
{
    const size_t D = (size_t)a->D, ld = 3 * (size_t)a->H, t_max = (size_t)T;
    const int NH = a->NH, blocks = 3 * G * NH;
#pragma omp parallel for
    for (int i = 0; i < blocks; i++) {
        const int part = i / (G * NH), seq = i / NH % G, head = i % NH;
        const size_t first = (size_t)seq * t_max * ld + (size_t)part * a->H + (size_t)head * D;
        uint16_t *to = heads + (size_t)i * t_max * D;
        for (size_t t = 0; t < t_max; t++) {
            if (a->f32_io)
                onednn_round_bf16(D, (const float *)rows + first + t * ld, to + t * D);
            else
                memcpy(to + t * D, (const uint16_t *)rows + first + t * ld, D * 2);
        }
    }
}

/* HF adds finfo(float32).min to the score of each padding key (MASK 0):
 * the sum is that value, which the scores of the NH * T rows of each of G
 * sequences take here, only where there is padding (PADS: room for T key
 * indices).  A row whose keys are all padding comes out uniform, as in
 * HF. */
static void mask_pads(const attn_bf16 *a, int T, int G, const int32_t *mask, int *pads,
                      float *scores)
{
    const size_t rows = (size_t)a->NH * (size_t)T;
    for (int g = 0; mask && g < G; g++) {
        int n = 0;
        for (int t = 0; t < T; t++)
            if (!mask[(size_t)g * T + t])
                pads[n++] = t;
        float *s = scores + (size_t)g * rows * T;
        for (size_t r = 0; n && r < rows; r++)
            for (int i = 0; i < n; i++)
                s[r * T + pads[i]] = -FLT_MAX;
    }
}

int attn_bf16_run(attn_bf16 *a, int B, int T, const void *qkv, const int32_t *mask,
                  void *scratch, void *out, albert_error *err)
{
    if (T < 1 || T > a->max_T)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: attention over %d tokens (1 to %d)",
                           T, a->max_T);
#ifdef CPU_AVX512
    /* Not int8's float32 QKV: its accuracy floor (test_precision) was set
     * on oneDNN's attention, and its min cosine over the goldens moves by
     * 2e-4 with any change of rounding, this kernel's or float32's. */
    if (!a->f32_io && attn_short_fits(T, a->D)) {
        attn_short_run(B, T, a->H, a->NH, qkv, mask, out);
        return ALBERT_OK;
    }
#endif
    const size_t t = (size_t)T, H = (size_t)a->H, G_max = (size_t)max_group(T);
    const size_t io = a->f32_io ? 4 : 2; /* bytes of a QKV or output value */
    const size_t heads_bytes = 3 * G_max * t * H * 2, square = G_max * (size_t)a->NH * t * t;
    uint16_t *heads = scratch;
    float *scores = (float *)((char *)scratch + line_up(heads_bytes));
    uint16_t *p = (uint16_t *)((char *)scores + line_up(square * 4));
    int *pads = (int *)((char *)p + line_up(square * 2));
    int rc = ALBERT_OK;
    for (int b = 0, G = (int)G_max; rc == ALBERT_OK && b < B; b += G) {
        while (G > B - b) /* the last sequences: in smaller groups */
            G /= 2;
        const attn_shape *sh = NULL;
        const size_t block = (size_t)G * t * H; /* one of Q, K, V of G sequences */
        rc = shape_for(a, T, G, &sh, err);
        if (rc == ALBERT_OK) {
            split_heads(a, T, G, (const char *)qkv + (size_t)b * t * 3 * H * io, heads);
            rc = onednn_matmul_run(a->ctx, sh->scores, heads, heads + block, scores, err);
        }
        if (rc == ALBERT_OK) {
            mask_pads(a, T, G, mask ? mask + (size_t)b * t : NULL, pads, scores);
            rc = onednn_softmax_run(a->ctx, sh->softmax, scores, p, err);
        }
        if (rc == ALBERT_OK)
            rc = onednn_matmul_run(a->ctx, sh->context, p, heads + 2 * block,
                                   (char *)out + (size_t)b * t * H * io, err);
    }
    return rc;
}
