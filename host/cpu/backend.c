/* The host CPU backend: HF's AlbertModel forward built from the ops in
 * cpu/ops.c.  Q, K and V share one fused [3H, H] weight (copied once at
 * create time) so each layer's projections are one GEMM, and attention reads
 * its per-head blocks straight out of that GEMM's output through strides. */
#include "cpu/backend.h"

#include "core/common.h"
#include "core/memory.h"
#include "cpu/attention_bf16.h"
#include "cpu/linear_lowp.h"
#include "cpu/ops.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The Linears of one stored layer, in order, and of the embedding map. */
enum { LIN_QKV, LIN_O, LIN_FFN, LIN_FFN_OUT, LINS_PER_LAYER };

typedef struct cpu_backend {
    albert_backend base;
    const albert_model *model;
    int threads;
    float *qkv_w; /* per stored layer: [3H, H] = query, key, value rows */
    float *qkv_b; /* per stored layer: [3H] */
    /* bf16 and int8: every Linear but the pooler's on oneDNN. */
    int precision;
    lowp_context *lowp;
    lowp_linear **lowp_layers; /* LINS_PER_LAYER per stored layer */
    lowp_linear *lowp_map_in;
    attn_bf16 *attn_bf16; /* bf16, and int8 where the CPU runs bf16; else cpu_attention */
    /* Workspace, grown only when a batch needs more than any before it. */
    float *ws;
    size_t ws_floats;
    float *combined; /* [slice rows, W]: the layers combined (albert_outputs.layers) */
    size_t combined_floats;
    uint64_t lap_start; /* timing: when the op being timed started */
} cpu_backend;

/* Views into the workspace for one slice (take_slice) of M = B*T rows. */
typedef struct cpu_buffers {
    float *h;      /* [M, H] the running hidden state */
    float *big;    /* [M, max(3H, I)] fused QKV output, later the FFN activations */
    float *ctx;    /* [M, H] attention context */
    float *tmp;    /* [M, max(H, E)] embeddings, then each sublayer's output */
    float *scores; /* the attention's scratch */
    /* A reduced-precision Linear's converted input (lowp_scratch_bytes); in
     * bf16 the hidden state's copy between Linears (hidden_input), which
     * none of them overwrites: each takes its input as bfloat16 as it is;
     * in int8 also the FFN's activations, handed from its first Linear to
     * its second quantized (feed_forward). */
    void *lowp;
} cpu_buffers;

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

#define N_VIEWS 6

/* The floats of each workspace view for B x T, each rounded up to a 64-byte
 * line so SIMD loads stay aligned; returns their sum. */
static size_t workspace_sizes(const cpu_backend *be, int B, int T, size_t sizes[N_VIEWS])
{
    const albert_config *c = &be->model->config;
    size_t M = (size_t)B * T, H = (size_t)c->hidden_size, inter = (size_t)c->intermediate_size;
    /* A reduced-precision Linear writes (and reads) whole row blocks. */
    size_t rows = be->lowp ? lowp_padded_rows(M) : M;
    sizes[0] = rows * H;
    sizes[1] = rows * max_size(3 * H, inter);
    sizes[2] = rows * H;
    sizes[3] = rows * max_size(H, (size_t)c->embedding_size);
    sizes[4] = be->attn_bf16 ? (attn_bf16_scratch_bytes(be->attn_bf16, T) + 3) / 4
                             : (size_t)be->threads * T * T; /* cpu_attention's */
    size_t widest = max_size(max_size(H, inter), (size_t)c->embedding_size);
    sizes[5] = be->lowp ? (lowp_scratch_bytes(be->precision, M, widest) + 3) / 4 : 0;
    size_t total = 0;
    for (int i = 0; i < N_VIEWS; i++) {
        sizes[i] = (sizes[i] + 15) / 16 * 16;
        total += sizes[i];
    }
    return total;
}

/* Carves the workspace for B x T, growing it first if it is too small. */
static int workspace_get(cpu_backend *be, int B, int T, cpu_buffers *buf, albert_error *err)
{
    size_t sizes[N_VIEWS];
    const size_t total = workspace_sizes(be, B, T, sizes);
    if (total > be->ws_floats) {
        free(be->ws);
        be->ws = aligned_alloc(64, total * sizeof(float));
        be->ws_floats = be->ws ? total : 0;
        if (!be->ws)
            return albert_fail(err, ALBERT_E_NOMEM,
                               "cpu backend: out of memory for a %d x %d batch workspace", B, T);
        /* The Linears' padding rows (lowp_padded_rows) start finite and stay
         * so: each is computed from padding rows alone. */
        memset(be->ws, 0, total * sizeof(float));
    }
    float *lowp, **views[N_VIEWS] = {&buf->h, &buf->big, &buf->ctx, &buf->tmp, &buf->scores, &lowp};
    float *p = be->ws;
    for (int i = 0; i < N_VIEWS; i++) {
        *views[i] = p;
        p += sizes[i];
    }
    buf->lowp = lowp;
    return ALBERT_OK;
}

/* Timing: adds the op that just ended under NAME, with its FLOPs and the
 * FLOATS floats it moves, and starts timing the next one. */
static void lap(cpu_backend *be, const char *name, uint64_t flops, uint64_t floats)
{
    if (!be->base.timing)
        return;
    uint64_t now = albert_now_ns();
    timing_add(&be->base.stats, name, now - be->lap_start, flops, floats * sizeof(float));
    be->lap_start = now;
}

/* An op's ALBERT_E_NOMEM (oneDNN's sgemm could not allocate) as an error
 * naming the op. */
static int op_status(int rc, const char *op, albert_error *err)
{
    return rc == ALBERT_OK ? rc
                           : albert_fail(err, rc, "cpu backend: %s: oneDNN's sgemm is out of memory",
                                         op);
}

/* fp32 takes oneDNN's matmul up to this many rows, where its sgemm is slow
 * (5x at 8 rows); above, the two run at the same speed, and the sgemm needs
 * no primitive per row count (a few ms of JIT each, which a stream of
 * batches of every size would keep paying). */
#define FP32_MATMUL_ROWS 64
/* ... and only for weights of at least this many values: on small ones a
 * matmul call's fixed cost (its memory objects, the dispatch) is more than
 * the sgemm's whole run. */
#define FP32_MATMUL_WEIGHTS 65536

/* Times an M x N x K GEMM as NAME (NULL: the precision's Linear). */
static void lap_linear(cpu_backend *be, const char *name, int M, int N, int K)
{
    const uint64_t m = (uint64_t)M, n = (uint64_t)N, k = (uint64_t)K;
    static const char *const names[ALBERT_PRECISION_COUNT] = {
        "cpu_linear", "cpu_linear_bf16", "cpu_linear_fp16", "cpu_linear_int8"};
    lap(be, name ? name : names[be->precision], 2 * m * n * k, m * k + n * k + m * n);
}

/* y[M,N] = x[M,K] w^T + b: on oneDNN's sgemm in fp32, or with a
 * reduced-precision Linear L on oneDNN's matmul (X handed over as it is
 * with X_READY: lowp_linear_run); timed as an M x N x K GEMM. */
static int linear(cpu_backend *be, lowp_linear *l, int M, int N, int K, const void *x,
                  bool x_ready, const float *w, const float *b, float *y, const cpu_buffers *buf,
                  albert_error *err)
{
    int rc = ALBERT_OK;
    if (l && (be->precision != ALBERT_PRECISION_FP32 || M <= FP32_MATMUL_ROWS))
        rc = lowp_linear_run(l, M, x, x_ready, buf->lowp, y, err);
    else
        rc = op_status(cpu_linear(M, N, K, x, w, b, y), "cpu_linear", err);
    lap_linear(be, NULL, M, N, K);
    return rc;
}

/* Stored layer LI's Linear WHICH in reduced precision, or NULL in fp32. */
static lowp_linear *lowp_of(const cpu_backend *be, size_t li, int which)
{
    return be->lowp_layers ? be->lowp_layers[li * LINS_PER_LAYER + (size_t)which] : NULL;
}

/* bf16 keeps a bfloat16 copy of the hidden state in buf->lowp, written
 * with it (round_hidden, add_layernorm): the Linears reading h take it as
 * it is, no rounding pass of their own. */
static bool bf16_hidden(const cpu_backend *be)
{
    return be->precision == ALBERT_PRECISION_BF16;
}

/* The hidden state as a Linear's input. */
static const void *hidden_input(const cpu_backend *be, const cpu_buffers *buf)
{
    return bf16_hidden(be) ? buf->lowp : (const void *)buf->h;
}

/* The padding rows after M rows of H bfloat16s, which a bf16 Linear reads
 * (lowp_padded_rows), zeroed: kept finite. */
static void zero_padding_bf16(uint16_t *rows, int M, size_t H)
{
    memset(rows + (size_t)M * H, 0, (lowp_padded_rows((size_t)M) - (size_t)M) * H * 2);
}

/* Rows R0..R1 of h rounded into the bfloat16 copy; with R1 the last row,
 * the padding rows after it zeroed. */
static void round_hidden_rows(const cpu_backend *be, const cpu_buffers *buf, int r0, int r1,
                              int M)
{
    const size_t H = (size_t)be->model->config.hidden_size;
    uint16_t *h16 = buf->lowp;
    onednn_round_bf16((size_t)(r1 - r0) * H, buf->h + (size_t)r0 * H, h16 + (size_t)r0 * H);
    if (r1 == M)
        zero_padding_bf16(h16, M, H);
}

/* h = LayerNorm(buf->tmp + h) with gamma G and beta B; in bf16 each row is
 * rounded into the copy while it is in cache. */
static void add_layernorm(cpu_backend *be, const float *g, const float *b, int M,
                          const cpu_buffers *buf)
{
    const albert_config *c = &be->model->config;
    const int H = c->hidden_size;
    if (!bf16_hidden(be)) {
        cpu_layernorm(M, H, buf->tmp, buf->h, g, b, c->layer_norm_eps, buf->h);
    } else {
#pragma omp parallel for
        for (int r = 0; r < M; r++) {
            const size_t at = (size_t)r * H;
            cpu_layernorm_row(H, buf->tmp + at, buf->h + at, g, b, c->layer_norm_eps,
                              buf->h + at);
            round_hidden_rows(be, buf, r, r + 1, M);
        }
    }
    lap(be, "cpu_layernorm", 0, 3 * (uint64_t)M * (uint64_t)H);
}

/* The FFN: Linear, activation, Linear.  In reduced precision the first
 * Linear applies the activation itself and hands its output over as the
 * second's input (bf16: bfloat16 rows in buf->big; int8: quantized rows in
 * buf->lowp): no pass over the [M, intermediate] activations in memory
 * between the two GEMMs. */
static int feed_forward(cpu_backend *be, const albert_layer_weights *lw, size_t li, int M,
                        const cpu_buffers *buf, albert_error *err)
{
    const albert_config *c = &be->model->config;
    const int H = c->hidden_size, inter = c->intermediate_size;
    if (be->precision != ALBERT_PRECISION_FP32) {
        static const char *const names[ALBERT_PRECISION_COUNT] = {
            NULL, "cpu_linear_bf16_act", NULL, "cpu_linear_int8_act"};
        const void *handed = be->precision == ALBERT_PRECISION_INT8 ? buf->lowp : buf->big;
        int rc = lowp_linear_run(lowp_of(be, li, LIN_FFN), M, hidden_input(be, buf),
                                 bf16_hidden(be), buf->lowp, buf->big, err);
        lap_linear(be, names[be->precision], M, inter, H);
        if (rc == ALBERT_OK)
            rc = lowp_linear_run(lowp_of(be, li, LIN_FFN_OUT), M, handed, true, buf->lowp,
                                 buf->tmp, err);
        lap_linear(be, NULL, M, H, inter);
        return rc;
    }
    int rc = linear(be, lowp_of(be, li, LIN_FFN), M, inter, H, buf->h, false, lw->ffn_w, lw->ffn_b,
                    buf->big, buf, err);
    if (rc != ALBERT_OK)
        return rc;
    cpu_activate(M, inter, c->hidden_act, buf->big);
    lap(be, "cpu_activate", 0, 2 * (uint64_t)M * (uint64_t)inter);
    return linear(be, lowp_of(be, li, LIN_FFN_OUT), M, H, inter, buf->big, false, lw->ffn_out_w,
                  lw->ffn_out_b, buf->tmp, buf, err);
}

/* Moves each sequence's first row of ROWS (B sequences of T rows of
 * ROW_BYTES) to row b: the [CLS] rows packed at the front. */
static void keep_cls_rows(void *rows, int B, int T, size_t row_bytes)
{
    for (int b = 1; T > 1 && b < B; b++)
        memcpy((char *)rows + (size_t)b * row_bytes, (char *)rows + (size_t)b * T * row_bytes,
               row_bytes);
}

/* Self-attention and its output Linear, into buf->tmp.  With CLS_ONLY the
 * Linear takes the [CLS] rows only, packed at the front of buf->tmp, and so
 * are they in buf->h for the rest of the layer (albert_cls_rows_only). */
static int self_attention(cpu_backend *be, size_t li, int B, int T, const int32_t *mask,
                          bool cls_only, const cpu_buffers *buf, albert_error *err)
{
    const albert_config *c = &be->model->config;
    const albert_layer_weights *lw = &be->model->weights.layers[li];
    const int M = B * T, H = c->hidden_size;
    const uint64_t mh = (uint64_t)M * (uint64_t)H;
    /* bf16: the QKV Linear hands over bfloat16, and so does the attention
     * to the output Linear. */
    const bool bf16 = bf16_hidden(be);
    /* In reduced precision the fp32 fused copies are gone (make_lowp). */
    const float *qkv_w = be->qkv_w ? be->qkv_w + li * 3 * H * H : NULL;
    const float *qkv_b = be->qkv_b ? be->qkv_b + li * 3 * H : NULL;
    int rc = linear(be, lowp_of(be, li, LIN_QKV), M, 3 * H, H, hidden_input(be, buf),
                    bf16_hidden(be), qkv_w, qkv_b, buf->big, buf, err);
    if (rc != ALBERT_OK)
        return rc;
    if (be->attn_bf16)
        rc = attn_bf16_run(be->attn_bf16, B, T, buf->big, mask, buf->scores, buf->ctx, err);
    else
        rc = op_status(cpu_attention(B, T, H, c->num_attention_heads, buf->big, mask,
                                     be->threads, buf->scores, buf->ctx),
                       "cpu_attention", err);
    const int rows = cls_only ? B : M;
    if (cls_only) { /* memcpy of B rows, counted in the attention's time */
        keep_cls_rows(buf->ctx, B, T, (size_t)H * (bf16 ? 2 : sizeof(float)));
        keep_cls_rows(buf->h, B, T, (size_t)H * sizeof(float));
    }
    if (bf16) /* the output Linear reads them */
        zero_padding_bf16((uint16_t *)buf->ctx, rows, (size_t)H);
    lap(be, be->attn_bf16 ? "cpu_attention_bf16" : "cpu_attention", 4 * (uint64_t)T * mh,
        4 * mh); /* albert_forward_flops' */
    if (rc != ALBERT_OK)
        return rc;
    return linear(be, lowp_of(be, li, LIN_O), rows, H, H, buf->ctx, bf16, lw->o_w, lw->o_b,
                  buf->tmp, buf, err);
}

/* One HF AlbertLayer (post-LN), updating buf->h in place; with CLS_ONLY
 * (self_attention) only the [CLS] rows, which end packed at its front. */
static int albert_layer(cpu_backend *be, const albert_layer_weights *lw, int B, int T,
                        const int32_t *mask, bool cls_only, const cpu_buffers *buf,
                        albert_error *err)
{
    const int M = cls_only ? B : B * T;
    const size_t li = (size_t)(lw - be->model->weights.layers);
    int rc = self_attention(be, li, B, T, mask, cls_only, buf, err);
    if (rc != ALBERT_OK)
        return rc;
    add_layernorm(be, lw->attn_ln_g, lw->attn_ln_b, M, buf);

    rc = feed_forward(be, lw, li, M, buf, err);
    if (rc != ALBERT_OK)
        return rc;
    add_layernorm(be, lw->ffn_ln_g, lw->ffn_ln_b, M, buf);
    return ALBERT_OK;
}

/* OUT's pooled vectors from H, whose sequences are T rows apart (1 when
 * the last layer applied kept the [CLS] rows only), each W values wide. */
static int pool_outputs(cpu_backend *be, const albert_batch *batch, const albert_outputs *out,
                        int T, int W, const float *h, albert_error *err)
{
    int rc = ALBERT_OK;
    const albert_weights *w = &be->model->weights;
    const int B = batch->batch_size, H = be->model->config.hidden_size;
    const uint64_t bh = (uint64_t)B * (uint64_t)W;
    if (out->pooling == ALBERT_POOL_POOLER) {
        rc = op_status(cpu_pooler(B, T, H, h, w->pool_w, w->pool_b, out->pooled), "cpu_pooler",
                       err);
        lap(be, "cpu_pooler", 2 * bh * (uint64_t)H, 2 * bh + (uint64_t)H * (uint64_t)H);
    } else {
        cpu_pool(B, T, W, h, batch->attention_mask, out->pooling, out->pooled);
        lap(be, "cpu_pool", 0, bh * ((uint64_t)T + 1));
    }
    if (rc == ALBERT_OK && out->normalize) {
        albert_l2_normalize(B, W, out->pooled);
        lap(be, "albert_l2_normalize", 0, 2 * bh);
    }
    return rc;
}

static void copy_out(cpu_backend *be, float *dst, const float *src, size_t n)
{
    memcpy(dst, src, n * sizeof(float));
    lap(be, "cpu_copy_out", 0, 2 * (uint64_t)n);
}

/* What OUT asks of hidden_states[INDEX], the hidden state BUF->h of M
 * rows: a copy into OUT->hidden_states (LAYER_STRIDE floats a layer), and
 * its part of the layers combined (*COMBINED of them so far). */
static void take_hidden(cpu_backend *be, const albert_outputs *out, int index, int M,
                        size_t layer_stride, const cpu_buffers *buf, int *combined)
{
    const int H = be->model->config.hidden_size, W = albert_output_width(&be->model->config, out);
    if (out->hidden_states)
        copy_out(be, out->hidden_states + (size_t)index * layer_stride, buf->h, (size_t)M * H);
    const int slot = albert_layer_slot(out, index);
    if (slot < 0)
        return;
    const int concat = out->layers_concat, first = concat || *combined == 0;
    cpu_combine_layer(M, H, buf->h, W, concat ? slot * H : 0,
                      concat ? 1.0f : 1.0f / (float)out->n_layers, first, be->combined);
    lap(be, "cpu_combine_layer", 0, (first ? 2 : 3) * (uint64_t)M * (uint64_t)H);
    ++*combined;
}

/* The forward pass of BATCH into OUT, whose hidden_states are
 * LAYER_STRIDE floats apart. */
static int forward(cpu_backend *be, const albert_batch *batch, const albert_outputs *out,
                   size_t layer_stride, const cpu_buffers *buf, albert_error *err)
{
    const albert_model *m = be->model;
    const albert_config *c = &m->config;
    const int B = batch->batch_size, T = batch->seq_len, M = B * T, H = c->hidden_size;
    const int W = albert_output_width(c, out);
    const bool cls_only = albert_cls_rows_only(c, out);
    const float *vectors = out->n_layers ? be->combined : buf->h; /* what the outputs read */
    int combined = 0;

    cpu_embed(c, &m->weights, B, T, batch->input_ids, batch->token_type_ids, buf->tmp);
    lap(be, "cpu_embed", 0, 4 * (uint64_t)M * (uint64_t)c->embedding_size);
    int rc = linear(be, be->lowp_map_in, M, H, c->embedding_size, buf->tmp, false,
                    m->weights.map_in_w, m->weights.map_in_b, buf->h, buf, err);
    if (rc == ALBERT_OK && bf16_hidden(be))
        round_hidden_rows(be, buf, 0, M, M); /* part of the Linear's time */
    if (rc == ALBERT_OK)
        take_hidden(be, out, 0, M, layer_stride, buf, &combined);
    for (int l = 0; rc == ALBERT_OK && l < albert_layers_run(c, out); l++) {
        for (int j = 0; rc == ALBERT_OK && j < c->inner_group_num; j++)
            rc = albert_layer(be, albert_model_layer(m, l, j), B, T, batch->attention_mask,
                              cls_only && albert_last_layer(c, out, l, j), buf, err);
        if (rc == ALBERT_OK)
            take_hidden(be, out, l + 1, M, layer_stride, buf, &combined);
    }
    if (rc == ALBERT_OK && out->last_hidden_state)
        copy_out(be, out->last_hidden_state, vectors, (size_t)M * W);
    if (rc == ALBERT_OK && out->pooled)
        rc = pool_outputs(be, batch, out, cls_only ? 1 : T, W, vectors, err);
    return rc;
}

/* A batch runs in slices of whole sequences of about this many rows, each
 * through every layer before the next: a slice's activations stay in the
 * caches (and ALBERT's layers share their weights, which stay there too),
 * where a whole batch's [M, intermediate] activations went to memory and
 * back in every layer - the bound of the bf16 and int8 passes. */
#define SLICE_ROWS 1024

/* Sequences per slice for T tokens each. */
static int slice_sequences(int B, int T)
{
    int n = SLICE_ROWS / T;
    return n < 1 ? 1 : n > B ? B : n;
}

/* The slice of BATCH and OUT that holds sequences B0 to B0 + NB; OUT's
 * vectors are W values wide, its hidden states H. */
static void take_slice(const albert_batch *batch, const albert_outputs *out, int H, int W, int b0,
                       int nb, albert_batch *sb, albert_outputs *so)
{
    const size_t first = (size_t)b0 * (size_t)batch->seq_len, at = first * (size_t)H;
    *sb = *batch;
    sb->batch_size = nb;
    sb->input_ids += first;
    sb->token_type_ids = batch->token_type_ids ? batch->token_type_ids + first : NULL;
    sb->attention_mask = batch->attention_mask ? batch->attention_mask + first : NULL;
    *so = *out;
    so->last_hidden_state = out->last_hidden_state ? out->last_hidden_state + first * (size_t)W
                                                   : NULL;
    so->hidden_states = out->hidden_states ? out->hidden_states + at : NULL;
    so->pooled = out->pooled ? out->pooled + (size_t)b0 * (size_t)W : NULL;
}

/* be->combined of at least FLOATS floats. */
static int combined_get(cpu_backend *be, size_t floats, albert_error *err)
{
    if (floats <= be->combined_floats)
        return ALBERT_OK;
    free(be->combined);
    be->combined = malloc(floats * sizeof(float));
    be->combined_floats = be->combined ? floats : 0;
    return be->combined ? ALBERT_OK
                        : albert_fail(err, ALBERT_E_NOMEM,
                                      "cpu backend: out of memory for %zu floats of layers combined",
                                      floats);
}

static int cpu_run(albert_backend *base, const albert_batch *batch, const albert_outputs *out,
                   albert_error *err)
{
    cpu_backend *be = (cpu_backend *)base;
    const int B = batch->batch_size, T = batch->seq_len, H = be->model->config.hidden_size;
    const int per = slice_sequences(B, T), W = albert_output_width(&be->model->config, out);
    cpu_buffers buf;
    int rc = workspace_get(be, per, T, &buf, err);
    if (rc == ALBERT_OK && out->n_layers)
        rc = combined_get(be, (size_t)per * (size_t)T * (size_t)W, err);
    if (rc != ALBERT_OK)
        return rc;
    /* The ops' parallel regions (and oneDNN's, which run on OpenMP's pool
     * too) use the caller thread's default team size: set ours for this call
     * and give the caller's back afterwards. */
    int caller_threads = omp_get_max_threads();
    omp_set_num_threads(be->threads);
    be->lap_start = albert_now_ns();
    for (int b0 = 0; rc == ALBERT_OK && b0 < B; b0 += per) {
        albert_batch sb;
        albert_outputs so;
        take_slice(batch, out, H, W, b0, B - b0 < per ? B - b0 : per, &sb, &so);
        rc = forward(be, &sb, &so, (size_t)B * (size_t)T * (size_t)H, &buf, err);
    }
    omp_set_num_threads(caller_threads);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

static size_t stored_layers(const albert_config *c)
{
    return (size_t)c->num_hidden_groups * (size_t)c->inner_group_num;
}

static void cpu_destroy(albert_backend *base)
{
    cpu_backend *be = (cpu_backend *)base;
    for (size_t i = 0; be->lowp_layers && i < stored_layers(&be->model->config) * LINS_PER_LAYER;
         i++)
        lowp_linear_free(be->lowp_layers[i]);
    free(be->lowp_layers);
    lowp_linear_free(be->lowp_map_in);
    attn_bf16_free(be->attn_bf16);
    lowp_context_free(be->lowp);
    free(be->qkv_w);
    free(be->qkv_b);
    free(be->ws);
    free(be->combined);
    free(be);
}

/* The host's RAM in bytes (UINT64_MAX when the system does not say). */
static uint64_t host_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
}

/* The CPU's "device memory" is the host's RAM: it holds the model's weights,
 * the fused QKV copies and the one workspace. */
static void cpu_plan(const albert_backend *base, int B, int T, const albert_outputs *out,
                     albert_memory_plan *plan)
{
    const cpu_backend *be = (const cpu_backend *)base;
    const albert_config *c = &be->model->config;
    size_t sizes[N_VIEWS];
    const uint64_t H = (uint64_t)c->hidden_size, inter = (uint64_t)c->intermediate_size;
    const uint64_t fused = stored_layers(c) * 3 * (H * H + H);
    /* Every Linear but the pooler's packed for oneDNN's matmul (fp32 4 bytes, bf16 2, int8
     * 1); fp32 also keeps the fused QKV copy for its sgemm. */
    const uint64_t lowp =
        stored_layers(c) * (4 * H * H + 2 * H * inter) + H * (uint64_t)c->embedding_size;
    const uint64_t lowp_bytes = be->precision == ALBERT_PRECISION_INT8   ? 1
                                : be->precision == ALBERT_PRECISION_FP32 ? 4
                                                                         : 2;
    plan->weights = albert_weight_floats(c) * sizeof(float) + lowp * lowp_bytes +
                    (be->qkv_w ? fused * sizeof(float) : 0);
    /* The workspace and the layers combined hold one slice; the batch's
     * inputs and its last hidden state (the caller's, in the same RAM; an
     * estimate: hidden_states, when asked for, are more) grow with it. */
    const uint64_t rows = (uint64_t)B * (uint64_t)T;
    const uint64_t W = (uint64_t)albert_output_width(c, out);
    const uint64_t combined = out && out->n_layers ? (uint64_t)slice_sequences(B, T) *
                                                         (uint64_t)T * W * sizeof(float)
                                                   : 0;
    const uint64_t workspace =
        workspace_sizes(be, slice_sequences(B, T), T, sizes) * sizeof(float);
    plan->largest_buffer = combined > workspace ? combined : workspace;
    plan->activations = workspace + combined + rows * (3 * sizeof(int32_t) + W * sizeof(float));
    plan->device_total = host_memory_bytes();
    plan->device_max_buffer = plan->device_total;
}

static const albert_backend_ops cpu_ops = {cpu_run, cpu_plan, cpu_destroy, NULL};

/* Stacks each stored layer's query, key and value weights (and biases) into
 * one [3H, H] matrix, the layout the fused projection GEMM reads. */
static int fuse_qkv(cpu_backend *be, albert_error *err)
{
    const albert_config *c = &be->model->config;
    const size_t H = (size_t)c->hidden_size;
    const size_t n = (size_t)c->num_hidden_groups * c->inner_group_num;
    be->qkv_w = malloc(n * 3 * H * H * sizeof(float));
    be->qkv_b = malloc(n * 3 * H * sizeof(float));
    if (!be->qkv_w || !be->qkv_b)
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for fused QKV weights");
    for (size_t i = 0; i < n; i++) {
        const albert_layer_weights *lw = &be->model->weights.layers[i];
        const float *w[3] = {lw->q_w, lw->k_w, lw->v_w}, *b[3] = {lw->q_b, lw->k_b, lw->v_b};
        for (size_t part = 0; part < 3; part++) {
            memcpy(be->qkv_w + (i * 3 + part) * H * H, w[part], H * H * sizeof(float));
            memcpy(be->qkv_b + (i * 3 + part) * H, b[part], H * sizeof(float));
        }
    }
    return ALBERT_OK;
}

/* bf16 and int8: every Linear but the pooler's (a sliver of the work)
 * converted once; the fp32 fused QKV copies are then not needed. */
/* lowp_linear_create, except that an fp32 Linear with a small weight stays
 * on the sgemm (*OUT NULL). */
static int make_linear(cpu_backend *be, int N, int K, const float *w, const float *b,
                       const lowp_fusion *fuse, lowp_linear **out, albert_error *err)
{
    *out = NULL;
    if (be->precision == ALBERT_PRECISION_FP32 && (size_t)N * (size_t)K < FP32_MATMUL_WEIGHTS)
        return ALBERT_OK;
    return lowp_linear_create(be->lowp, be->precision, N, K, w, b, fuse, out, err);
}

static int make_lowp(cpu_backend *be, albert_error *err)
{
    const albert_config *c = &be->model->config;
    const albert_weights *w = &be->model->weights;
    const int H = c->hidden_size, inter = c->intermediate_size, p = be->precision;
    const size_t n = stored_layers(c);
    int rc = lowp_context_create(&be->lowp, err);
    /* int8 too: bf16 products in the attention cost less accuracy than its
     * int8 Linears (test_precision), and a fifth of its time. */
    const bool int8_bf16 = p == ALBERT_PRECISION_INT8 && lowp_supported(ALBERT_PRECISION_BF16);
    if (rc == ALBERT_OK && (p == ALBERT_PRECISION_BF16 || int8_bf16))
        rc = attn_bf16_create(be->lowp, H, c->num_attention_heads, c->max_position_embeddings,
                              int8_bf16, &be->attn_bf16, err);
    if (rc == ALBERT_OK && !(be->lowp_layers = calloc(n * LINS_PER_LAYER, sizeof(lowp_linear *))))
        rc = albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for %s Linears",
                         albert_precision_name(p));
    if (rc == ALBERT_OK)
        rc = make_linear(be, H, c->embedding_size, w->map_in_w, w->map_in_b, NULL,
                         &be->lowp_map_in, err);
    /* fp32 keeps its own activation (cpu/ops.c's, the reference's). */
    const lowp_fusion ffn = {p == ALBERT_PRECISION_FP32 ? LOWP_NO_ACT : (int)c->hidden_act,
                             p != ALBERT_PRECISION_FP32};
    const lowp_fusion qkv = {LOWP_NO_ACT, p == ALBERT_PRECISION_BF16};
    for (size_t i = 0; rc == ALBERT_OK && i < n; i++) {
        const albert_layer_weights *lw = &w->layers[i];
        lowp_linear **l = be->lowp_layers + i * LINS_PER_LAYER;
        rc = make_linear(be, 3 * H, H, be->qkv_w + i * 3 * H * H, be->qkv_b + i * 3 * H, &qkv,
                         &l[LIN_QKV], err);
        if (rc == ALBERT_OK)
            rc = make_linear(be, H, H, lw->o_w, lw->o_b, NULL, &l[LIN_O], err);
        if (rc == ALBERT_OK)
            rc = make_linear(be, inter, H, lw->ffn_w, lw->ffn_b, &ffn, &l[LIN_FFN], err);
        if (rc == ALBERT_OK)
            rc = make_linear(be, H, inter, lw->ffn_out_w, lw->ffn_out_b, NULL, &l[LIN_FFN_OUT],
                             err);
    }
    if (p != ALBERT_PRECISION_FP32) { /* fp32 keeps them for its sgemm */
        free(be->qkv_w);
        free(be->qkv_b);
        be->qkv_w = be->qkv_b = NULL;
    }
    return rc;
}

static int cpu_create(const albert_model *m, int device, const albert_engine_options *opt,
                      albert_backend **out, albert_error *err)
{
    *out = NULL;
    if (device != 0)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: no device %d", device);
    if (opt->threads < 0)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: threads %d is negative", opt->threads);
    cpu_backend *be = calloc(1, sizeof *be);
    if (!be)
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory");
    be->base.ops = &cpu_ops;
    be->base.timing = opt->timing;
    be->model = m;
    be->threads = opt->threads ? opt->threads : albert_cpu_count();
    be->precision = opt->precision;
    int rc = fuse_qkv(be, err);
    if (rc == ALBERT_OK)
        rc = make_lowp(be, err);
    if (rc != ALBERT_OK) {
        cpu_destroy(&be->base);
        return rc;
    }
    char blas[64];
    albert_blas_describe(blas, sizeof blas);
    char lowp[48] = "";
    if (be->precision != ALBERT_PRECISION_FP32)
        snprintf(lowp, sizeof lowp, ", %s Linears on oneDNN", albert_precision_name(be->precision));
    snprintf(be->base.name, sizeof be->base.name, "cpu (%s, %d thread%s%s)", blas, be->threads,
             be->threads == 1 ? "" : "s", lowp);
    *out = &be->base;
    return albert_ok(err);
}

/* The host is one device. */
static int cpu_device_count(int *count, albert_error *err)
{
    *count = 1;
    return albert_ok(err);
}

static int cpu_device_info(int device, const albert_engine_options *opt, albert_device_info *info,
                           albert_error *err)
{
    (void)opt; /* no tuning profiles on this side */
    if (device != 0)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: no device %d", device);
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "cpu");
    snprintf(info->backend, sizeof info->backend, "cpu");
    snprintf(info->platform, sizeof info->platform, "host");
    snprintf(info->name, sizeof info->name, "host CPU backend");
    snprintf(info->type, sizeof info->type, "CPU");
    info->compute_units = albert_cpu_count();
    info->global_mem_bytes = host_memory_bytes();
    albert_blas_describe(info->driver_version, sizeof info->driver_version);
    snprintf(info->precisions, sizeof info->precisions, "fp32%s%s",
             lowp_supported(ALBERT_PRECISION_BF16) ? ",bf16" : "",
             lowp_supported(ALBERT_PRECISION_INT8) ? ",int8" : "");
    return albert_ok(err);
}

const albert_backend_reg albert_cpu_backend_reg = {"cpu", cpu_device_count, cpu_device_info,
                                                   cpu_create};
