/* The OpenCL backend: weights uploaded once, activation buffers sized for the
 * largest batch seen and reused, CLBlast GEMMs plus our kernels
 * (opencl/ops.h).  Per batch only ids, token types and the mask go in and
 * only the requested outputs come out. */
#include "opencl/backend.h"

#include "core/memory.h"
#include "opencl/ops.h"
#include "opencl/tuning.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One transformer layer's weights on the device; query, key and value are
 * fused into one [3H, H] weight so one GEMM projects all three. */
enum {
    LW_QKV_W, LW_QKV_B, LW_O_W, LW_O_B, LW_LN1_G, LW_LN1_B,
    LW_FFN_W, LW_FFN_B, LW_FFN_OUT_W, LW_FFN_OUT_B, LW_LN2_G, LW_LN2_B, LW_COUNT
};

typedef struct ocl_layer {
    cl_mem w[LW_COUNT];
} ocl_layer;

/* Activation buffers; each grows to the largest batch seen, never shrinks. */
enum {
    AB_IDS, AB_TYPES, AB_MASK, /* int32 [tokens] */
    AB_EMB,                    /* [tokens, E] */
    AB_HIDDEN, AB_ATTN, AB_CTX, AB_QKV, AB_INTER, /* [tokens, H | 3H | I] */
    AB_SCORES,                 /* [B, NH, T, T] */
    AB_POOLED,                 /* [B, W]: W = albert_output_width */
    AB_COMBINED,               /* [tokens, W]: the layers combined (albert_outputs.layers) */
    AB_COUNT
};

typedef struct ocl_backend {
    albert_backend base;
    const albert_model *model;
    ocl_ctx ctx;
    ocl_kernels k;
    ocl_embed_weights emb;
    cl_mem map_w, map_b, pool_w, pool_b;
    ocl_layer *layers; /* num_hidden_groups * inner_group_num, as the model's */
    int n_layers;
    cl_mem act[AB_COUNT];
    size_t cap[AB_COUNT]; /* bytes allocated per activation buffer */
    char profile_name[128]; /* the applied tuning profile's name, "" for none */
    char profile_path[1024];
    int leased;             /* holds a lease of the device's CLBlast parameters */
    cl_ulong mem_total;     /* CL_DEVICE_GLOBAL_MEM_SIZE */
    cl_ulong mem_max_alloc; /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    /* Batches queued and not yet waited for, oldest first: the marker each
     * ends with, and how many timing events (ctx.events) it recorded. */
    cl_event done[ALBERT_ENGINE_MAX_IN_FLIGHT];
    size_t done_events[ALBERT_ENGINE_MAX_IN_FLIGHT];
    int queued;
} ocl_backend;

/* ---------------------------------------------------------------- weights */

static int upload(ocl_backend *be, const float *src, size_t n, cl_mem *out, const char *what,
                  albert_error *err)
{
    return ocl_buffer(&be->ctx, CL_MEM_READ_ONLY, n * sizeof(float), src, out, what, err);
}

/* A Linear's weight [N,K], as the Linear GEMM wants it. */
static int upload_linear(ocl_backend *be, const float *src, size_t N, size_t K, cl_mem *out,
                         const char *what, albert_error *err)
{
    return ocl_linear_upload(&be->ctx, &be->k, (int)N, (int)K, src, out, what, err);
}

/* The three [H,H] projections stacked into [3H,H] (and biases into [3H]):
 * a Linear's weight when K > 0, its K columns being the input. */
static int upload_fused(ocl_backend *be, const float *q, const float *k, const float *v, size_t n,
                        size_t K, cl_mem *out, const char *what, albert_error *err)
{
    float *buf = malloc(3 * n * sizeof *buf);
    if (!buf)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", what);
    memcpy(buf, q, n * sizeof *buf);
    memcpy(buf + n, k, n * sizeof *buf);
    memcpy(buf + 2 * n, v, n * sizeof *buf);
    int rc = K ? upload_linear(be, buf, 3 * n / K, K, out, what, err)
               : upload(be, buf, 3 * n, out, what, err);
    free(buf);
    return rc;
}

static int upload_layer(ocl_backend *be, const albert_layer_weights *lw, ocl_layer *l,
                        albert_error *err)
{
    const albert_config *c = &be->model->config;
    const size_t h = (size_t)c->hidden_size, i = (size_t)c->intermediate_size;
    int rc = upload_fused(be, lw->q_w, lw->k_w, lw->v_w, h * h, h, &l->w[LW_QKV_W], "qkv weight",
                          err);
    if (rc == ALBERT_OK)
        rc = upload_fused(be, lw->q_b, lw->k_b, lw->v_b, h, 0, &l->w[LW_QKV_B], "qkv bias", err);
    /* n rows of k: a Linear's weight when k > 0 */
    const struct {
        int slot;
        const float *src;
        size_t n, k;
    } plain[] = {
        {LW_O_W, lw->o_w, h, h},          {LW_O_B, lw->o_b, h, 0},
        {LW_LN1_G, lw->attn_ln_g, h, 0},  {LW_LN1_B, lw->attn_ln_b, h, 0},
        {LW_FFN_W, lw->ffn_w, i, h},      {LW_FFN_B, lw->ffn_b, i, 0},
        {LW_FFN_OUT_W, lw->ffn_out_w, h, i}, {LW_FFN_OUT_B, lw->ffn_out_b, h, 0},
        {LW_LN2_G, lw->ffn_ln_g, h, 0},   {LW_LN2_B, lw->ffn_ln_b, h, 0},
    };
    for (size_t j = 0; rc == ALBERT_OK && j < sizeof plain / sizeof plain[0]; j++)
        rc = plain[j].k ? upload_linear(be, plain[j].src, plain[j].n, plain[j].k,
                                        &l->w[plain[j].slot], "layer weight", err)
                        : upload(be, plain[j].src, plain[j].n, &l->w[plain[j].slot],
                                 "layer weight", err);
    return rc;
}

static int upload_weights(ocl_backend *be, albert_error *err)
{
    const albert_config *c = &be->model->config;
    const albert_weights *w = &be->model->weights;
    const size_t e = (size_t)c->embedding_size, h = (size_t)c->hidden_size;
    const struct {
        cl_mem *slot;
        const float *src;
        size_t n;
    } list[] = {
        {&be->emb.word, w->word_emb, (size_t)c->vocab_size * e},
        {&be->emb.pos, w->pos_emb, (size_t)c->max_position_embeddings * e},
        {&be->emb.type, w->type_emb, (size_t)c->type_vocab_size * e},
        {&be->emb.gamma, w->emb_ln_g, e}, {&be->emb.beta, w->emb_ln_b, e},
        {&be->map_b, w->map_in_b, h},     {&be->pool_b, w->pool_b, h},
    };
    int rc = upload_linear(be, w->map_in_w, h, e, &be->map_w, "embedding projection", err);
    if (rc == ALBERT_OK)
        rc = upload_linear(be, w->pool_w, h, h, &be->pool_w, "pooler weight", err);
    for (size_t j = 0; rc == ALBERT_OK && j < sizeof list / sizeof list[0]; j++)
        rc = upload(be, list[j].src, list[j].n, list[j].slot, "embedding/pooler weight", err);
    be->n_layers = c->num_hidden_groups * c->inner_group_num;
    be->layers = calloc((size_t)be->n_layers, sizeof *be->layers);
    if (rc == ALBERT_OK && !be->layers)
        rc = albert_fail(err, ALBERT_E_NOMEM, "OpenCL backend: out of memory");
    for (int j = 0; rc == ALBERT_OK && j < be->n_layers; j++)
        rc = upload_layer(be, &w->layers[j], &be->layers[j], err);
    return rc;
}

/* ---------------------------------------------------------------- activations */

/* 1 when attention runs on kernels/attention.cl for every batch (attn_max_t
 * covers the model's positions), not on batched GEMMs. */
static int attention_fused(const ocl_backend *be)
{
    const albert_config *c = &be->model->config;
    return ocl_attention_fused(&be->k, c->hidden_size, c->num_attention_heads,
                               c->max_position_embeddings);
}

/* Bytes each activation buffer needs for a B x T batch of vectors of W
 * values, layers combined or not (no scores buffer when attention is fused:
 * it would be B*NH*T*T floats for nothing). */
static void activation_sizes(const albert_config *c, size_t B, size_t T, int fused, size_t W,
                             int combined, size_t *bytes)
{
    const size_t tok = B * T, h = (size_t)c->hidden_size, f = sizeof(float);
    bytes[AB_IDS] = bytes[AB_TYPES] = bytes[AB_MASK] = tok * sizeof(int32_t);
    bytes[AB_EMB] = tok * (size_t)c->embedding_size * f;
    bytes[AB_HIDDEN] = bytes[AB_ATTN] = bytes[AB_CTX] = tok * h * f;
    bytes[AB_QKV] = tok * 3 * h * f;
    bytes[AB_INTER] = tok * (size_t)c->intermediate_size * f;
    bytes[AB_SCORES] = fused ? 0 : B * (size_t)c->num_attention_heads * T * T * f;
    bytes[AB_POOLED] = B * W * f;
    bytes[AB_COMBINED] = combined ? tok * W * f : 0;
}

/* Grows the buffers a batch needs beyond what was allocated; in steady state
 * (batches no bigger than one seen before) this allocates nothing. */
static int ensure_activations(ocl_backend *be, int B, int T, const albert_outputs *out,
                              albert_error *err)
{
    const albert_config *c = &be->model->config;
    size_t need[AB_COUNT];
    activation_sizes(c, (size_t)B, (size_t)T, attention_fused(be),
                     (size_t)albert_output_width(c, out), out->n_layers > 0, need);
    for (int i = 0; i < AB_COUNT; i++) {
        if (need[i] <= be->cap[i])
            continue;
        /* OpenCL defers freeing a buffer that queued commands use, but a
         * rare regrowth is not worth trusting every driver with that. */
        int rc = be->queued ? ocl_finish(&be->ctx, err) : ALBERT_OK;
        if (rc != ALBERT_OK)
            return rc;
        ocl_release_mem(&be->act[i]);
        be->cap[i] = 0;
        rc = ocl_buffer(&be->ctx, CL_MEM_READ_WRITE, need[i], NULL, &be->act[i],
                            "activations", err);
        if (rc != ALBERT_OK)
            return rc;
        be->cap[i] = need[i];
    }
    return ALBERT_OK;
}

/* Uploads DATA into buffer SLOT, or fills it with VALUE when DATA is NULL.
 * Neither waits: the caller's arrays are the engine's until the batch's
 * wait. */
static int upload_ints(ocl_backend *be, int slot, const int32_t *data, int32_t value,
                       size_t n, albert_error *err)
{
    const size_t bytes = n * sizeof value;
    return data ? ocl_write(&be->ctx, be->act[slot], 0, bytes, data, 0, err)
                : ocl_fill_int(&be->ctx, be->act[slot], value, bytes, err);
}

static int upload_batch(ocl_backend *be, const albert_batch *b, albert_error *err)
{
    const size_t n = (size_t)b->batch_size * (size_t)b->seq_len;
    int rc = ocl_write(&be->ctx, be->act[AB_IDS], 0, n * sizeof(int32_t), b->input_ids, 0, err);
    if (rc == ALBERT_OK)
        rc = upload_ints(be, AB_TYPES, b->token_type_ids, 0, n, err);
    if (rc == ALBERT_OK)
        rc = upload_ints(be, AB_MASK, b->attention_mask, 1, n, err);
    return rc;
}

/* ---------------------------------------------------------------- forward */

static ocl_mat dense(cl_mem buf, int ld)
{
    ocl_mat m = {buf, 0, (size_t)ld, 0};
    return m;
}

/* out = LayerNorm(in[rows, K] * w^T + bias + res): a Linear whose bias goes
 * into the residual LayerNorm kernel; the GEMM writes into SCRATCH. */
static int linear_residual_ln(ocl_backend *be, int rows, int K, ocl_mat in, cl_mem w, cl_mem bias,
                              cl_mem res, const ocl_norm *norm, cl_mem scratch, cl_mem out,
                              albert_error *err)
{
    const int H = be->model->config.hidden_size;
    int rc = ocl_op_linear_gemm(&be->ctx, &be->k, rows, H, K, in, w, scratch, err);
    return rc == ALBERT_OK ? ocl_op_residual_layernorm(&be->ctx, &be->k, rows, H, scratch, bias,
                                                       res, norm, out, err)
                           : rc;
}

/* One AlbertLayer: hidden <- FFN(attention(hidden)), with attn, ctx, qkv,
 * inter and scores as scratch.  With CLS_ONLY (albert_cls_rows_only) the
 * layer after its attention takes the [CLS] rows alone, which end packed
 * at the front of hidden. */
static int run_layer(ocl_backend *be, const ocl_layer *l, int B, int T, int cls_only,
                     albert_error *err)
{
    const albert_config *c = &be->model->config;
    const int H = c->hidden_size, I = c->intermediate_size;
    int rows = B * T;
    cl_mem *a = be->act;
    const cl_mem *w = l->w;
    const ocl_norm ln1 = {w[LW_LN1_G], w[LW_LN1_B], c->layer_norm_eps};
    const ocl_norm ln2 = {w[LW_LN2_G], w[LW_LN2_B], c->layer_norm_eps};
    int rc = ocl_op_linear(&be->ctx, &be->k, rows, 3 * H, H, dense(a[AB_HIDDEN], H),
                           w[LW_QKV_W], w[LW_QKV_B], OCL_ACT_NONE, a[AB_QKV], err);
    if (rc == ALBERT_OK)
        rc = ocl_op_attention(&be->ctx, &be->k, B, T, H, c->num_attention_heads, a[AB_QKV],
                              a[AB_MASK], a[AB_SCORES], a[AB_CTX], err);
    ocl_mat ctx = dense(a[AB_CTX], H);
    cl_mem res = a[AB_HIDDEN];
    if (rc == ALBERT_OK && cls_only) {
        /* ctx's [CLS] rows are every T-th (leading dimension T*H); hidden's
         * are packed into qkv, which the attention is done with. */
        rows = B;
        ctx = dense(a[AB_CTX], T * H);
        res = a[AB_QKV];
        rc = ocl_copy_rows(&be->ctx, a[AB_HIDDEN], (size_t)T * H * sizeof(float), res,
                           (size_t)H * sizeof(float), (size_t)B, err);
    }
    if (rc == ALBERT_OK) /* attention output: LN(ctx Wo + bo + hidden) */
        rc = linear_residual_ln(be, rows, H, ctx, w[LW_O_W], w[LW_O_B], res, &ln1, a[AB_ATTN],
                                a[AB_ATTN], err);
    if (rc == ALBERT_OK)
        rc = ocl_op_linear(&be->ctx, &be->k, rows, I, H, dense(a[AB_ATTN], H), w[LW_FFN_W],
                           w[LW_FFN_B], (int)c->hidden_act, a[AB_INTER], err);
    if (rc == ALBERT_OK) /* layer output: LN(ffn_output(inter) + attn) */
        rc = linear_residual_ln(be, rows, I, dense(a[AB_INTER], I), w[LW_FFN_OUT_W],
                                w[LW_FFN_OUT_B], a[AB_ATTN], &ln2, a[AB_CTX], a[AB_HIDDEN], err);
    return rc;
}

/* Queues a copy of the current hidden state into DST.
 * Non-blocking: the in-order queue reads it before the next layer writes. */
static int read_hidden(ocl_backend *be, int B, int T, float *dst, albert_error *err)
{
    const size_t bytes = (size_t)B * (size_t)T * (size_t)be->model->config.hidden_size *
                         sizeof(float);
    return ocl_read(&be->ctx, be->act[AB_HIDDEN], 0, bytes, dst, 0, err);
}

static int run_embeddings(ocl_backend *be, int B, int T, albert_error *err)
{
    const albert_config *c = &be->model->config;
    cl_mem *a = be->act;
    int rc = ocl_op_embed(&be->ctx, &be->k, &be->emb, c->layer_norm_eps, B * T, T,
                          c->embedding_size, a[AB_IDS], a[AB_TYPES], a[AB_EMB], err);
    if (rc == ALBERT_OK)
        rc = ocl_op_linear(&be->ctx, &be->k, B * T, c->hidden_size, c->embedding_size,
                           dense(a[AB_EMB], c->embedding_size), be->map_w, be->map_b,
                           OCL_ACT_NONE, a[AB_HIDDEN], err);
    return rc;
}

/* What OUT asks of hidden_states[INDEX], the hidden state just computed:
 * a copy into OUT->hidden_states, and its part of the layers combined
 * (*COMBINED of them so far). */
static int take_hidden(ocl_backend *be, int B, int T, const albert_outputs *out, int index,
                       int *combined, albert_error *err)
{
    const int H = be->model->config.hidden_size, W = albert_output_width(&be->model->config, out);
    const size_t stride = (size_t)B * (size_t)T * (size_t)H;
    int rc = ALBERT_OK;
    if (out->hidden_states)
        rc = read_hidden(be, B, T, out->hidden_states + (size_t)index * stride, err);
    const int slot = albert_layer_slot(out, index);
    if (rc == ALBERT_OK && slot >= 0) {
        const int concat = out->layers_concat;
        rc = ocl_op_combine_layer(&be->ctx, &be->k, B * T, H, be->act[AB_HIDDEN], W,
                                  concat ? slot * H : 0, concat ? 1.0f : 1.0f / (float)out->n_layers,
                                  concat || *combined == 0, be->act[AB_COMBINED], err);
        ++*combined;
    }
    return rc;
}

/* The embeddings and the layers OUT asks for; with CLS_ONLY the last of
 * them as run_layer says. */
static int run_encoder(ocl_backend *be, int B, int T, const albert_outputs *out, int cls_only,
                       albert_error *err)
{
    const albert_config *c = &be->model->config;
    int combined = 0;
    int rc = run_embeddings(be, B, T, err);
    if (rc == ALBERT_OK)
        rc = take_hidden(be, B, T, out, 0, &combined, err);
    for (int l = 0; rc == ALBERT_OK && l < albert_layers_run(c, out); l++) {
        const int group = albert_layer_group(c, l);
        for (int j = 0; rc == ALBERT_OK && j < c->inner_group_num; j++)
            rc = run_layer(be, &be->layers[group * c->inner_group_num + j], B, T,
                           cls_only && albert_last_layer(c, out, l, j), err);
        if (rc == ALBERT_OK)
            rc = take_hidden(be, B, T, out, l + 1, &combined, err);
    }
    return rc;
}

/* The vectors OUT's outputs read: the layers combined, or the last hidden
 * state. */
static cl_mem output_vectors(const ocl_backend *be, const albert_outputs *out)
{
    return be->act[out->n_layers ? AB_COMBINED : AB_HIDDEN];
}

/* OUT's pooled vectors from hidden, whose sequences are T rows apart (1
 * when the last layer applied kept the [CLS] rows only). */
static int run_pooling(ocl_backend *be, int B, int T, const albert_outputs *out, albert_error *err)
{
    const int H = be->model->config.hidden_size, W = albert_output_width(&be->model->config, out);
    cl_mem *a = be->act;
    int rc;
    if (out->pooling == ALBERT_POOL_POOLER) {
        /* The [CLS] rows are every T-th row of hidden: leading dimension T*H. */
        rc = ocl_op_linear(&be->ctx, &be->k, B, H, H, dense(a[AB_HIDDEN], T * H), be->pool_w,
                           be->pool_b, ALBERT_ACT_TANH, a[AB_POOLED], err);
    } else {
        rc = ocl_op_pool(&be->ctx, &be->k, B, T, W, output_vectors(be, out), a[AB_MASK],
                         out->pooling, a[AB_POOLED], err);
    }
    if (rc == ALBERT_OK && out->normalize)
        rc = ocl_op_l2_normalize(&be->ctx, &be->k, B, W, a[AB_POOLED], err);
    if (rc == ALBERT_OK)
        rc = ocl_read(&be->ctx, a[AB_POOLED], 0, (size_t)B * (size_t)W * sizeof(float),
                      out->pooled, 0, err);
    return rc;
}

/* Queues BATCH (upload, forward, downloads) and a marker that its wait
 * waits for, then flushes, so the device starts while the host prepares the
 * next batch.  A failure drains the queue, so nothing of BATCH still reads or
 * writes the caller's arrays, and drops the batch's timing events. */
static int opencl_run(albert_backend *base, const albert_batch *batch, const albert_outputs *out,
                      albert_error *err)
{
    ocl_backend *be = (ocl_backend *)base;
    const int B = batch->batch_size, T = batch->seq_len;
    const int cls_only = albert_cls_rows_only(&be->model->config, out);
    const size_t first_event = be->ctx.n_events;
    cl_event done = NULL;
    if (be->queued == ALBERT_ENGINE_MAX_IN_FLIGHT) /* the engine counts: never */
        return albert_fail(err, ALBERT_E_ARG, "OpenCL backend: %d batches queued already",
                           be->queued);
    int rc = ensure_activations(be, B, T, out, err);
    if (rc == ALBERT_OK)
        rc = upload_batch(be, batch, err);
    if (rc == ALBERT_OK)
        rc = run_encoder(be, B, T, out, cls_only, err);
    if (rc == ALBERT_OK && out->last_hidden_state)
        rc = ocl_read(&be->ctx, output_vectors(be, out), 0,
                      (size_t)B * (size_t)T * (size_t)albert_output_width(&be->model->config, out) *
                          sizeof(float),
                      out->last_hidden_state, 0, err);
    if (rc == ALBERT_OK && out->pooled && out->pooling != ALBERT_POOL_NONE)
        rc = run_pooling(be, B, cls_only ? 1 : T, out, err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clEnqueueMarkerWithWaitList(be->ctx.queue, 0, NULL, &done),
                       "clEnqueueMarkerWithWaitList", err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clFlush(be->ctx.queue), "clFlush", err);
    if (rc != ALBERT_OK) {
        (void)ocl_finish(&be->ctx, NULL);
        if (done)
            (void)clReleaseEvent(done);
        ocl_events_drop_from(&be->ctx, first_event);
        return rc;
    }
    be->done[be->queued] = done;
    be->done_events[be->queued] = be->ctx.n_events - first_event;
    be->queued++;
    return albert_ok(err);
}

static int opencl_wait(albert_backend *base, albert_error *err)
{
    ocl_backend *be = (ocl_backend *)base;
    cl_event done = be->done[0];
    const size_t events = be->done_events[0];
    be->queued--;
    memmove(be->done, be->done + 1, (size_t)be->queued * sizeof *be->done);
    memmove(be->done_events, be->done_events + 1, (size_t)be->queued * sizeof *be->done_events);
    int rc = ocl_check(clWaitForEvents(1, &done), "clWaitForEvents (a batch's commands)", err);
    if (rc != ALBERT_OK) /* the batch may still be running: it must not outlive its wait */
        (void)ocl_finish(&be->ctx, NULL);
    (void)clReleaseEvent(done);
    /* Neither a failed batch's commands nor the warm-up's are counted. */
    ocl_events_fold(&be->ctx, events, rc == ALBERT_OK && be->base.timing ? &be->base.stats : NULL);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

/* ---------------------------------------------------------------- lifetime */

static void opencl_destroy(albert_backend *base)
{
    ocl_backend *be = (ocl_backend *)base;
    if (!be)
        return;
    if (be->ctx.queue) /* nothing may still read what we free */
        (void)clFinish(be->ctx.queue);
    for (int i = 0; i < be->queued; i++)
        (void)clReleaseEvent(be->done[i]);
    for (int i = 0; i < AB_COUNT; i++)
        ocl_release_mem(&be->act[i]);
    for (int j = 0; be->layers && j < be->n_layers; j++)
        for (int i = 0; i < LW_COUNT; i++)
            ocl_release_mem(&be->layers[j].w[i]);
    cl_mem *single[] = {&be->emb.word, &be->emb.pos, &be->emb.type, &be->emb.gamma,
                        &be->emb.beta, &be->map_w,   &be->map_b,    &be->pool_w,
                        &be->pool_b};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        ocl_release_mem(single[i]);
    free(be->layers);
    ocl_kernels_release(&be->k);
    if (be->leased)
        clblast_params_release(be->ctx.device);
    ocl_ctx_close(&be->ctx);
    free(be);
}

/* ---------------------------------------------------------------- set-up */

/* The GEMMs a forward runs: the Linears (B transposed), the attention scores
 * (strided batch, B transposed) and the attention context (strided batch, B
 * as is). */
static const struct {
    int trans_b;
    size_t batch;
} forward_gemms[] = {{1, 1}, {1, 2}, {0, 2}};

/* Beyond this XGEMM_MIN_INDIRECT_SIZE, warming the indirect path would cost
 * more than the compile it saves (its GEMMs are at least size^3). */
#define WARM_MAX_INDIRECT 1024

/* Cube sides that take each path CLBlast can pick under the
 * XGEMM_MIN_INDIRECT_SIZE in force (m*n*k below its cube runs the direct
 * kernel): a small direct one, and for the indirect path one that needs
 * padding (odd) and one that needs none (a multiple of every tile size). */
static int warm_sides(ocl_backend *be, size_t sides[3], size_t *n, albert_error *err)
{
    size_t min_indirect = 0;
    *n = 0;
    int rc = ocl_clblast_param(&be->ctx, CLBLAST_GEMM_ROUTINE, 0, &min_indirect, err);
    if (rc == ALBERT_OK && min_indirect > 8)
        sides[(*n)++] = 8;
    if (rc == ALBERT_OK && min_indirect <= WARM_MAX_INDIRECT) {
        const size_t s = min_indirect > 8 ? min_indirect : 8;
        sides[(*n)++] = s | 1;
        sides[(*n)++] = ocl_round_up(s, 128);
    }
    return rc;
}

/* 0 when nothing runs batch-1 GEMMs on CLBlast: every Linear on linear.cl
 * (or, with half weights, on our kernels anyway), and attention fused or
 * batched over several heads (one head makes its GEMMs batch-1).  The batched ones need no warming under attention_fused. */
static int linears_need_clblast(const ocl_backend *be)
{
    const albert_config *c = &be->model->config;
    const int on_ours = be->k.tun.half_weights; /* half weights never go to CLBlast */
    return (!on_ours && (!ocl_linear_packed(&be->k, 3 * c->hidden_size) ||
                         !ocl_linear_packed(&be->k, c->hidden_size) ||
                         !ocl_linear_packed(&be->k, c->intermediate_size))) ||
           (c->num_attention_heads == 1 && !attention_fused(be));
}

/* Runs every GEMM kind of the forward on every path CLBlast can take for
 * it, so that CLBlast builds its programs (and the driver its kernels) now
 * rather than inside the first batch. */
static int warm_clblast(ocl_backend *be, albert_error *err)
{
    size_t sides[3], n_sides = 0, biggest = 0;
    int rc = warm_sides(be, sides, &n_sides, err);
    for (size_t i = 0; i < n_sides; i++)
        biggest = sides[i] > biggest ? sides[i] : biggest;
    const size_t region = 2 * biggest * biggest; /* one operand of a batch of 2 */
    cl_mem buf = NULL;
    if (rc == ALBERT_OK && n_sides)
        rc = ocl_buffer(&be->ctx, CL_MEM_READ_WRITE, 3 * region * sizeof(float), NULL, &buf,
                        "warm-up", err);
    for (size_t i = 0; rc == ALBERT_OK && i < n_sides; i++) {
        const size_t s = sides[i];
        ocl_mat a = {buf, 0, s, s * s}, b = {buf, region, s, s * s};
        ocl_mat c = {buf, 2 * region, s, s * s};
        for (size_t g = 0; rc == ALBERT_OK && g < sizeof forward_gemms / sizeof forward_gemms[0];
             g++)
            if (forward_gemms[g].batch > 1 ? !attention_fused(be) : linears_need_clblast(be))
                rc = ocl_gemm(&be->ctx, forward_gemms[g].trans_b, s, s, s, 1.0f, a, b, c,
                          forward_gemms[g].batch, err);
    }
    if (rc == ALBERT_OK)
        rc = ocl_finish(&be->ctx, err);
    ocl_release_mem(&buf);
    return rc;
}

/* One [CLS] [SEP] forward per pooling kernel, so the driver compiles our
 * kernels now rather than inside the caller's first batch. */
static int warm_kernels(ocl_backend *be, albert_error *err)
{
    const int32_t ids[2] = {ALBERT_CLS_ID, ALBERT_SEP_ID};
    const albert_batch batch = {1, 2, ids, NULL, NULL};
    float *pooled = malloc((size_t)be->model->config.hidden_size * sizeof *pooled);
    if (!pooled)
        return albert_fail(err, ALBERT_E_NOMEM, "OpenCL backend: out of memory");
    const albert_outputs outs[2] = {{.pooled = pooled, .pooling = ALBERT_POOL_POOLER},
                                    {.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .normalize = 1}};
    int rc = ALBERT_OK;
    for (int i = 0; rc == ALBERT_OK && i < 2; i++) {
        rc = opencl_run(&be->base, &batch, &outs[i], err);
        if (rc == ALBERT_OK)
            rc = opencl_wait(&be->base, err);
    }
    free(pooled);
    return rc;
}

/* The tuning profile OPT asks for a device described by DEVICE (platform,
 * name, driver version, type): the forced file, none, or the best match in
 * the profile folder.  *HAVE is 0 when there is none.  Engines and the
 * registry's descriptions both choose here, so they cannot disagree. */
static int choose_profile(const char *const device[TUNING_MATCH_COUNT],
                          const albert_engine_options *opt, tuning_profile *p, int *have,
                          albert_error *err)
{
    *have = 0;
    if (opt->no_tuning && opt->tuning_file)
        return albert_fail(err, ALBERT_E_ARG,
                           "engine options: tuning_file and no_tuning exclude each other");
    if (opt->no_tuning)
        return ALBERT_OK;
    if (opt->tuning_file) {
        *have = 1;
        return tuning_load(opt->tuning_file, p, err);
    }
    return tuning_find(device, opt->tuning_dir, p, have, err);
}

/* Leases the device's CLBlast parameters as the profile sets them (CLBlast's
 * own where it sets none): see opencl/clblast_params.h. */
static int lease_clblast(ocl_backend *be, const tuning_profile *p, int have, albert_error *err)
{
    clblast_param_set set;
    memset(&set, 0, sizeof set);
    for (int i = 0; have && i < CLBLAST_KERNELS; i++) {
        set.given[i] = p->has_clblast[i];
        memcpy(set.values[i], p->clblast[i], sizeof set.values[i]);
    }
    const char *label = have ? p->path : "no profile";
    char holder[ALBERT_ERRMSG_MAX / 4];
    CLBlastStatusCode st = CLBlastSuccess;
    int kernel = -1;
    switch (clblast_params_lease(be->ctx.device, &set, label, holder, sizeof holder, &st, &kernel)) {
    case CLBLAST_LEASE_OK:
        be->leased = 1;
        return ALBERT_OK;
    case CLBLAST_LEASE_CONFLICT:
        return albert_fail(err, ALBERT_E_UNSUPPORTED,
                           "OpenCL %d: CLBlast's GEMM parameters are process-wide per device, "
                           "and another engine on it uses other ones (%.100s); this one wants "
                           "%.100s's: use the same tuning profile, or free the other engine first",
                           be->ctx.index, holder, label);
    default:
        return albert_fail(err, ALBERT_E_DEVICE, "CLBlastOverrideParameters (%s, profile %s): %s (%d)",
                           kernel >= 0 ? clblast_kernel_specs[kernel].kernel : "?", label,
                           clblast_status_name(st), (int)st);
    }
}

/* Our kernels' launch shapes: the profile's where it gives them, checked
 * against the device, the defaults otherwise. */
static int profile_tunables(const ocl_ctx *c, const tuning_profile *p, int have, ocl_tunables *t,
                            albert_error *err)
{
    ocl_tunables_default(t);
    if (!have)
        return ALBERT_OK;
    const struct {
        const char *key;
        int value, is_work_group;
        int *slot;
    } fields[] = {
        {"kernels.wg_row", p->wg_row, 1, &t->wg_row},
        {"kernels.wg_elem", p->wg_elem, 1, &t->wg_elem},
        {"kernels.vec", p->vec, 0, &t->vec},
        {"kernels.gemm_mr", p->gemm_mr, 0, &t->gemm_mr},
        {"kernels.gemm_nr", p->gemm_nr, 0, &t->gemm_nr},
        {"kernels.attn_bq", p->attn_bq, 1, &t->attn_bq},
        {"kernels.attn_bk", p->attn_bk, 0, &t->attn_bk},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].value == 0)
            continue;
        if (fields[i].is_work_group && (size_t)fields[i].value > c->max_work_group)
            return albert_fail(err, ALBERT_E_FORMAT,
                               "%s: %s: %d exceeds the device's max work-group size %zu", p->path,
                               fields[i].key, fields[i].value, c->max_work_group);
        *fields[i].slot = fields[i].value;
    }
    if (!t->gemm_nr != !t->gemm_mr)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: kernels: gemm_mr and gemm_nr go together",
                           p->path);
    if ((t->attn_bq || t->attn_bk) && p->attention != 2)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: kernels: attn_bq and attn_bk shape the tiled attention "
                           "(attention 2)", p->path);
    /* Sub-groups are a faster way to the same reduction: where the device
     * has none, or the row work-groups are too narrow for them, the profile
     * still applies, without them. */
    t->subgroups = p->subgroups && c->subgroups && t->wg_row >= OCL_SUBGROUPS_MIN_WG;
    return ALBERT_OK;
}

/* The attention kernel profile KIND names for this model's heads, when it
 * can run them (else CLBlast): kernels/attention.cl (1) takes heads of a
 * multiple of 16 up to 128 floats and at most 1024 positions (its private
 * array of scores), kernels/attention_tiled.cl (2, and 1's other heads)
 * heads of a multiple of 4 up to 256, any length; its shape defaults to 64
 * queries (or the device's largest work-group, if smaller) and tiles of 32
 * keys (or as many as the local memory holds). */
static void attention_tunables(const ocl_ctx *ctx, const albert_config *c, int kind,
                               ocl_tunables *t)
{
    const int d = c->hidden_size / c->num_attention_heads;
    if (kind == 1 && d % 16 == 0 && d <= 128 && c->max_position_embeddings <= 1024) {
        t->attn_d = d;
        t->attn_max_t = c->max_position_embeddings;
        return;
    }
    /* Heads attention.cl cannot take go to the tiled kernel where it can:
     * CLBlast's batched GEMMs, one call per row, cost far more on them. */
    if (d % 4 == 0 && d <= 256) {
        t->attn_d = d;
        for (t->attn_bq = t->attn_bq ? t->attn_bq : 64; (size_t)t->attn_bq > ctx->max_work_group;)
            t->attn_bq /= 2;
        /* The default tile: 32 keys, fewer where the local memory is small. */
        if (!t->attn_bk)
            for (t->attn_bk = 32;
                 t->attn_bk > 1 && ocl_attention_tile_bytes(d, t->attn_bk) > ctx->local_mem;)
                t->attn_bk /= 2;
    } else {
        t->attn_bq = t->attn_bk = 0;
    }
}

/* ---------------------------------------------------------------- memory */

/* CLBlast's indirect GEMMs copy their operands into padded temporaries:
 * at most A, B and C of the biggest Linear (the FFN's) once more. */
static uint64_t clblast_temporaries(const ocl_backend *be, size_t tokens)
{
    const albert_config *c = &be->model->config;
    if (!linears_need_clblast(be) && attention_fused(be))
        return 0;
    const uint64_t H = (uint64_t)c->hidden_size, I = (uint64_t)c->intermediate_size;
    return ((uint64_t)tokens * (H + I) + H * I) * sizeof(float);
}

/* The weights' bytes on the device: the Linears' at their stored size
 * (halves with fp16), the rest as floats. */
static uint64_t weight_bytes(const ocl_backend *be)
{
    const albert_config *c = &be->model->config;
    const uint64_t E = (uint64_t)c->embedding_size, H = (uint64_t)c->hidden_size;
    const uint64_t I = (uint64_t)c->intermediate_size;
    const uint64_t layers = (uint64_t)c->num_hidden_groups * (uint64_t)c->inner_group_num;
    const uint64_t linear = H * E + H * H + layers * (4 * H * H + 2 * I * H);
    return (albert_weight_floats(c) - linear) * sizeof(float) + linear * ocl_weight_bytes(&be->k);
}

static void opencl_plan(const albert_backend *base, int B, int T, const albert_outputs *out,
                        albert_memory_plan *plan)
{
    const ocl_backend *be = (const ocl_backend *)base;
    const albert_config *c = &be->model->config;
    size_t bytes[AB_COUNT];
    activation_sizes(c, (size_t)B, (size_t)T, attention_fused(be),
                     (size_t)albert_output_width(c, out), out && out->n_layers > 0, bytes);
    plan->weights = weight_bytes(be);
    plan->activations = clblast_temporaries(be, (size_t)B * (size_t)T);
    plan->largest_buffer = 0;
    for (int i = 0; i < AB_COUNT; i++) {
        plan->activations += bytes[i];
        plan->largest_buffer = bytes[i] > plan->largest_buffer ? bytes[i] : plan->largest_buffer;
    }
    plan->device_total = be->mem_total;
    plan->device_max_buffer = be->mem_max_alloc;
}

static const albert_backend_ops opencl_ops = {opencl_run, opencl_plan, opencl_destroy,
                                              opencl_wait};

/* The device's memory limits, then whether the weights fit them: a model
 * too big for the device is refused before anything is uploaded. */
static int check_weights_fit(ocl_backend *be, albert_error *err)
{
    const cl_device_id d = be->ctx.device;
    int rc = ocl_check(clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof be->mem_total,
                                       &be->mem_total, NULL),
                       "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_SIZE)", err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof be->mem_max_alloc,
                                       &be->mem_max_alloc, NULL),
                       "clGetDeviceInfo(CL_DEVICE_MAX_MEM_ALLOC_SIZE)", err);
    if (rc != ALBERT_OK)
        return rc;
    const albert_config *c = &be->model->config;
    const uint64_t weights = weight_bytes(be), elem = ocl_weight_bytes(&be->k);
    const uint64_t E = (uint64_t)c->embedding_size, H = (uint64_t)c->hidden_size;
    const uint64_t I = (uint64_t)c->intermediate_size, V = (uint64_t)c->vocab_size;
    const uint64_t table = V * E * sizeof(float); /* the embeddings stay floats */
    uint64_t biggest = table > I * H * elem ? table : I * H * elem;
    biggest = 3 * H * H * elem > biggest ? 3 * H * H * elem : biggest;
    if (weights <= be->mem_total && biggest <= be->mem_max_alloc)
        return ALBERT_OK;
    char w[32], total[32], b[32], max[32];
    albert_format_bytes(weights, w, sizeof w);
    albert_format_bytes(be->mem_total, total, sizeof total);
    albert_format_bytes(biggest, b, sizeof b);
    albert_format_bytes(be->mem_max_alloc, max, sizeof max);
    return albert_fail(err, ALBERT_E_CAPACITY,
                       "OpenCL %d (%.100s): the model's weights need %s (the biggest tensor %s); "
                       "the device has %s (largest buffer %s)",
                       be->ctx.index, be->ctx.device_name, w, b, total, max);
}

/* Picks and applies the tuning profile before anything is compiled:
 * CLBlast's parameters, then our kernels built with the profile's shapes. */
static int setup_profile(ocl_backend *be, const albert_engine_options *opt, albert_error *err)
{
    tuning_profile *p = malloc(sizeof *p);
    if (!p)
        return albert_fail(err, ALBERT_E_NOMEM, "OpenCL backend: out of memory");
    int have = 0;
    ocl_tunables tun;
    const ocl_program_dirs dirs = {opt->kernel_dir, opt->cache_dir};
    const ocl_ctx *c = &be->ctx;
    const char *const device[TUNING_MATCH_COUNT] = {c->platform_name, c->device_name,
                                                    c->driver_version, c->device_type};
    int rc = choose_profile(device, opt, p, &have, err);
    if (rc == ALBERT_OK)
        rc = lease_clblast(be, p, have, err);
    if (rc == ALBERT_OK)
        rc = profile_tunables(&be->ctx, p, have, &tun, err);
    if (rc == ALBERT_OK && have && p->attention)
        attention_tunables(&be->ctx, &be->model->config, p->attention, &tun);
    tun.half_weights = opt->precision == ALBERT_PRECISION_FP16;
    if (rc == ALBERT_OK)
        rc = ocl_kernels_create(&be->ctx, &tun, &dirs, &be->k, err);
    snprintf(be->profile_name, sizeof be->profile_name, "%s", have ? p->name : "");
    snprintf(be->profile_path, sizeof be->profile_path, "%s", have ? p->path : "");
    free(p);
    return rc;
}

/* Adds "(profile PATH)" to a set-up failure: a kernel that cannot run with
 * the profile's work-group size, CLBlast parameters that do not build. */
static void blame_profile(const ocl_backend *be, albert_error *err)
{
    if (!be->profile_path[0] || !err || strstr(err->msg, be->profile_path))
        return;
    char why[ALBERT_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", err->msg);
    albert_fail(err, err->code, "%.300s (profile %.200s)", why, be->profile_path);
}

static int opencl_create(const albert_model *m, int index, const albert_engine_options *opt,
                         albert_backend **out, albert_error *err)
{
    *out = NULL;
    ocl_backend *be = calloc(1, sizeof *be);
    if (!be)
        return albert_fail(err, ALBERT_E_NOMEM, "OpenCL backend: out of memory");
    be->base.ops = &opencl_ops;
    be->model = m;
    int rc = ocl_ctx_open(index, opt->timing, &be->ctx, err);
    be->ctx.warn = (ocl_warn_sink){opt->warn, opt->warn_user};
    if (rc == ALBERT_OK && (rc = setup_profile(be, opt, err)) != ALBERT_OK)
        blame_profile(be, err);
    if (rc == ALBERT_OK)
        rc = check_weights_fit(be, err);
    if (rc == ALBERT_OK)
        rc = upload_weights(be, err);
    if (rc == ALBERT_OK) { /* the first runs of what the profile chose */
        rc = warm_clblast(be, err);
        if (rc == ALBERT_OK)
            rc = warm_kernels(be, err);
        if (rc != ALBERT_OK)
            blame_profile(be, err);
    }
    if (rc != ALBERT_OK) {
        opencl_destroy(&be->base);
        return rc;
    }
    ocl_events_clear(&be->ctx); /* the warm-up is not the caller's work */
    be->base.timing = be->ctx.timing;
    if (be->profile_name[0])
        snprintf(be->base.name, sizeof be->base.name, "OpenCL %d: %.70s / %.70s, profile %.70s",
                 index, be->ctx.platform_name, be->ctx.device_name, be->profile_name);
    else
        snprintf(be->base.name, sizeof be->base.name, "OpenCL %d: %.70s / %.70s, no profile",
                 index, be->ctx.platform_name, be->ctx.device_name);
    *out = &be->base;
    return albert_ok(err);
}

/* ---------------------------------------------------------------- registry */

/* The profile an engine with OPT would apply, or the file name alone when
 * its path does not fit the field. */
static int describe_profile(const albert_engine_options *opt, albert_device_info *info,
                            albert_error *err)
{
    tuning_profile *p = malloc(sizeof *p);
    if (!p)
        return albert_fail(err, ALBERT_E_NOMEM, "device %d: out of memory", info->index);
    const char *const device[TUNING_MATCH_COUNT] = {info->platform, info->name,
                                                    info->driver_version, info->type};
    int found = 0;
    int rc = choose_profile(device, opt, p, &found, err);
    if (rc == ALBERT_OK && found) {
        const char *slash = strrchr(p->path, '/');
        const char *shown = strlen(p->path) < sizeof info->tuning_profile || !slash ? p->path
                                                                                      : slash + 1;
        snprintf(info->tuning_profile, sizeof info->tuning_profile, "%.127s", shown);
    }
    free(p);
    return rc;
}

static int opencl_device_info(int index, const albert_engine_options *opt,
                              albert_device_info *info, albert_error *err)
{
    int rc = ocl_device_describe(index, info, err);
    if (rc == ALBERT_OK)
        rc = describe_profile(opt, info, err);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

const albert_backend_reg albert_opencl_backend_reg = {"opencl", ocl_device_count,
                                                      opencl_device_info, opencl_create};
