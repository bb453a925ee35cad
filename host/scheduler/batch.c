/* One batch on one device: pad the records into a [B, T] batch, run the
 * engine (and the reference), copy each record's vectors out. */
#include "scheduler/scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whether every result holds token vectors. */
static int need_tokens(const albert_scheduler *s)
{
    return s->opt.pooling == ALBERT_POOL_NONE || s->opt.token_vectors;
}

/* Whether IT's result holds them: every one's, or IT asked. */
static int item_tokens(const albert_scheduler *s, const sched_item *it)
{
    return need_tokens(s) || it->want_tokens;
}

/* Whether the engine computes token vectors: for the results, or to pool
 * them here. */
static int engine_tokens(const albert_scheduler *s)
{
    return need_tokens(s) || s->host_pooling;
}

_Static_assert(SCHED_BATCHES <= ALBERT_ENGINE_MAX_IN_FLIGHT,
               "a device thread keeps SCHED_BATCHES batches on its engine");

static int batch_init(const albert_scheduler *s, sched_batch *b, size_t room, int max_rows)
{
    size_t h = (size_t)s->hidden, rows = (size_t)max_rows, pool = (size_t)s->pool_width;
    b->taken = malloc(2 * rows * sizeof *b->taken);
    b->rows = b->taken ? b->taken + rows : NULL;
    b->ids = malloc(3 * room * sizeof *b->ids);
    b->hidden = engine_tokens(s) ? malloc(room * h * sizeof(float)) : NULL;
    b->pooled = s->opt.pooling != ALBERT_POOL_NONE ? malloc(rows * pool * sizeof(float)) : NULL;
    return b->taken && b->ids && (b->hidden || !engine_tokens(s)) &&
           (b->pooled || s->opt.pooling == ALBERT_POOL_NONE);
}

int sched_worker_init(sched_worker *w, int room, int max_rows, albert_error *err)
{
    const albert_scheduler *s = w->s;
    size_t h = (size_t)s->hidden, tok = (size_t)room;
    w->room = tok;
    int pooled = s->opt.pooling != ALBERT_POOL_NONE, tokens = engine_tokens(s);
    int ok = 1;
    for (int i = 0; i < SCHED_BATCHES; i++)
        ok = batch_init(s, &w->batches[i], tok, max_rows) && ok;
    if (s->opt.reference) {
        w->ref_hidden = tokens ? malloc(tok * h * sizeof(float)) : NULL;
        w->ref_pooled = pooled ? malloc((size_t)max_rows * s->pool_width * sizeof(float)) : NULL;
        ok = ok && (w->ref_hidden || !tokens) && (w->ref_pooled || !pooled);
    }
    if (!ok)
        return albert_fail(err, ALBERT_E_NOMEM, "scheduler: out of memory for batches of %d tokens",
                           room);
    return ALBERT_OK;
}

void sched_worker_free(sched_worker *w)
{
    for (int i = 0; i < SCHED_BATCHES; i++) {
        sched_batch *b = &w->batches[i];
        free(b->taken);
        free(b->ids);
        free(b->hidden);
        free(b->pooled);
    }
    free(w->ref_hidden);
    free(w->ref_pooled);
}

/* Pads ITEMS into a [B, T] batch in IDS: id 0, type 0 and mask 0 on pads. */
static albert_batch fill(int32_t *ids, sched_item **items, int B, int T)
{
    size_t total = (size_t)B * (size_t)T;
    int32_t *types = ids + total, *mask = types + total;
    memset(ids, 0, 3 * total * sizeof *ids);
    for (int b = 0; b < B; b++) {
        const sched_item *it = items[b];
        size_t row = (size_t)b * (size_t)T;
        memcpy(ids + row, it->ids, (size_t)it->n * sizeof *ids);
        for (int t = 0; t < it->n; t++) {
            types[row + t] = it->types ? it->types[t] : 0;
            mask[row + t] = it->mask ? it->mask[t] : 1;
        }
    }
    albert_batch b = {B, T, ids, types, mask};
    return b;
}

static albert_outputs outputs(const albert_scheduler *s, float *hidden, float *pooled)
{
    albert_outputs out;
    memset(&out, 0, sizeof out);
    out.last_hidden_state = hidden;
    out.pooled = s->host_pooling ? NULL : pooled; /* host_pooling: pool_rows, below */
    out.pooling = out.pooled ? s->opt.pooling : ALBERT_POOL_NONE;
    out.normalize = s->opt.normalize && !s->opt.head && !s->host_pooling; /* else below */
    out.skip_last_layers = s->opt.skip_last_layers;
    out.layers = s->opt.layers;
    out.n_layers = s->opt.n_layers;
    out.layers_concat = s->opt.layers_concat;
    return out;
}

#define NON_FINITE "the model produced a non-finite value (NaN or infinity)"

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* Copies the vectors of row R of the batch into DST: the tokens whose mask
 * is 1.  Returns how many. */
static int copy_tokens(const albert_batch *b, int r, const float *hidden, size_t h, float *dst)
{
    size_t row = (size_t)r * (size_t)b->seq_len;
    int k = 0;
    for (int t = 0; t < b->seq_len; t++)
        if (b->attention_mask[row + t])
            memcpy(dst + h * (size_t)k++, hidden + (row + t) * h, h * sizeof(float));
    return k;
}

static int count_ones(const sched_item *it)
{
    int ones = 0;
    for (int i = 0; i < it->n; i++)
        ones += it->mask ? it->mask[i] : 1;
    return ones;
}

/* A pooled vector SRC as the result gives it, in DST (pooled_width
 * values, of which the result keeps result_width): as the engine computed
 * it (normalised), or through the head, and then normalised when the
 * engine did not; its cut normalised again when asked. */
static int pooled_out(const albert_scheduler *s, const float *src, float *dst, albert_error *e)
{
    int rc = ALBERT_OK;
    if (s->opt.head)
        rc = albert_head_apply(s->opt.head, src, 1, dst, e);
    else
        memcpy(dst, src, (size_t)s->pool_width * sizeof(float));
    if (rc == ALBERT_OK && s->opt.normalize && (s->opt.head || s->host_pooling))
        albert_l2_normalize(1, s->pooled_width, dst);
    if (rc == ALBERT_OK && s->opt.normalize_truncated)
        albert_l2_normalize(1, s->result_width, dst);
    return rc;
}

/* The first position each row's pooling takes: past its prompt when the
 * prompt is left out. */
static int pool_start(const albert_scheduler *s, const sched_item *it)
{
    return s->opt.exclude_prompt && it->has_prompt ? it->prompt_tokens : 0;
}

/* Whether row R of B has a token its pooling takes. */
static int has_pool_token(const albert_batch *b, int r, int first)
{
    const int32_t *mask = b->attention_mask + (size_t)r * (size_t)b->seq_len;
    for (int t = first; t < b->seq_len; t++)
        if (mask[t])
            return 1;
    return 0;
}

/* host_pooling: the batch's pooled vectors from its token vectors HIDDEN
 * into POOLED, each mode's in turn, each row's prompt left out; a row with
 * nothing left fails. */
static void pool_rows(const albert_scheduler *s, sched_batch *b, const float *hidden,
                      float *pooled)
{
    const albert_batch *x = &b->batch;
    const size_t T = (size_t)x->seq_len, h = (size_t)s->hidden;
    for (int r = 0; r < b->B; r++) {
        const int first = pool_start(s, b->rows[r]);
        float *dst = pooled + (size_t)r * s->pool_width;
        for (int i = 0; i < 6; i++)
            if (s->modes >> albert_pooling_order[i] & 1) {
                albert_pool(1, x->seq_len, s->hidden, hidden + r * T * h,
                            x->attention_mask + r * T, &first, albert_pooling_order[i], dst);
                dst += h;
            }
        if (first > 0 && !has_pool_token(x, r, first)) {
            char what[128];
            snprintf(what, sizeof what,
                     "its pooling leaves out the prompt's %d positions ([CLS] and its pieces), "
                     "and it has %d tokens: none is left to pool", first, b->rows[r]->n);
            sched_item_fail(b->rows[r], ALBERT_E_INPUT, 0, what);
        }
    }
}

/* Row R's vectors into its item: one block, laid out as the result says. */
static void scatter_row(sched_worker *w, const sched_batch *batch, int r, sched_item *it)
{
    const albert_scheduler *s = w->s;
    const albert_batch *b = &batch->batch;
    size_t h = (size_t)s->hidden, pw = (size_t)s->pooled_width, pool = (size_t)s->pool_width;
    int pooled = batch->pooled != NULL, tokens = item_tokens(s, it);
    int ref = s->opt.reference != NULL;
    it->rows = tokens ? count_ones(it) : 0;
    size_t per = (pooled ? pw : 0) + (size_t)it->rows * h;
    it->vectors = malloc((ref ? 2 : 1) * (per ? per : 1) * sizeof(float));
    if (!it->vectors) {
        sched_item_fail(it, ALBERT_E_NOMEM, 1, "out of memory for its vectors");
        return;
    }
    float *p = it->vectors;
    albert_error e;
    /* A head's activations could hide the engine's NaN or infinity: checked before it */
    if (pooled && s->opt.head && !all_finite(batch->pooled + (size_t)r * pool, pool)) {
        sched_item_fail(it, ALBERT_E_FORMAT, 0, NON_FINITE);
        return;
    }
    if (pooled && pooled_out(s, batch->pooled + (size_t)r * pool, p, &e) != ALBERT_OK) {
        sched_item_fail(it, e.code, 1, e.msg);
        return;
    }
    if (pooled) {
        it->pooled = p;
        p += pw;
    }
    if (tokens) {
        it->tokens = p;
        p += (size_t)copy_tokens(b, r, batch->hidden, h, p) * h;
    }
    if (!all_finite(it->vectors, per)) {
        sched_item_fail(it, ALBERT_E_FORMAT, 0, NON_FINITE);
        return;
    }
    if (ref && pooled && pooled_out(s, w->ref_pooled + (size_t)r * pool, p, &e) != ALBERT_OK) {
        sched_item_fail(it, e.code, 1, e.msg);
        return;
    }
    if (ref && pooled) {
        it->ref_pooled = p;
        p += pw;
    }
    if (ref && tokens) {
        it->ref_tokens = p;
        copy_tokens(b, r, w->ref_hidden, h, p);
    }
}

/* *HIDDEN, allocated for ROOM tokens on a first batch whose records ask
 * for token vectors when the scheduler's options want none. */
static int hidden_buffer(const sched_worker *w, float **hidden, albert_error *e)
{
    if (!*hidden && !(*hidden = malloc(w->room * (size_t)w->s->hidden * sizeof(float))))
        return albert_fail(e, ALBERT_E_NOMEM, "scheduler: out of memory for the token vectors "
                                              "of batches of %zu tokens", w->room);
    return ALBERT_OK;
}

/* The reference engine is shared by every device thread. */
static int run_reference(sched_worker *w, const sched_batch *batch, albert_error *e)
{
    albert_scheduler *s = w->s;
    const albert_batch *b = &batch->batch;
    if (batch->with_tokens && hidden_buffer(w, &w->ref_hidden, e) != ALBERT_OK)
        return e->code;
    uint64_t t0 = albert_now_ns();
    albert_outputs out = outputs(s, batch->with_tokens ? w->ref_hidden : NULL, w->ref_pooled);
    pthread_mutex_lock(&s->reference_lock);
    int rc = albert_engine_run(s->opt.reference, b, &out, e);
    pthread_mutex_unlock(&s->reference_lock);
    pthread_mutex_lock(&s->lock);
    s->reference_ns += albert_now_ns() - t0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Adds a batch that is over (run or failed) to W's counters. */
static void account(sched_worker *w, const sched_batch *b, uint64_t busy_ns, uint64_t host_ns)
{
    uint64_t tokens = 0;
    for (int r = 0; r < b->B; r++)
        tokens += (uint64_t)b->rows[r]->n;
    pthread_mutex_lock(&w->s->lock);
    w->stats.batches++;
    w->stats.records += (uint64_t)b->B;
    w->stats.tokens += tokens;
    w->stats.padded_tokens += (uint64_t)b->B * (uint64_t)(b->B ? b->rows[b->B - 1]->n : 0);
    w->stats.busy_ns += busy_ns;
    w->stats.batch_ns += host_ns;
    pthread_mutex_unlock(&w->s->lock);
}

static void fail_rows(sched_batch *b, int rc, const char *message)
{
    for (int r = 0; r < b->B; r++)
        sched_item_fail(b->rows[r], rc, 1, message);
}

/* Whether the engine gives B's token vectors: for the results (all, or a
 * row that asked), or to pool them here. */
static int batch_tokens(const albert_scheduler *s, const sched_batch *b)
{
    int any = engine_tokens(s);
    for (int r = 0; !any && r < b->B; r++)
        any = b->rows[r]->want_tokens;
    return any;
}

/* Rows that asked for token vectors no buffer could be had for fail
 * alone (E's message), not the run: B's other rows go on without them. */
static void drop_token_rows(sched_batch *b, const albert_error *e)
{
    int kept = 0;
    for (int r = 0; r < b->B; r++) {
        if (b->rows[r]->want_tokens)
            sched_item_fail(b->rows[r], e->code, 0, e->msg);
        else
            b->rows[kept++] = b->rows[r];
    }
    b->B = kept;
}

int sched_batch_submit(sched_worker *w, sched_batch *b)
{
    memcpy(b->rows, b->taken, (size_t)b->n_taken * sizeof *b->rows);
    b->B = b->n_taken;
    b->busy_ns = b->host_ns = 0;
    while (b->B > 0) {
        const int B = b->B, T = b->rows[B - 1]->n; /* shortest first: the last is the longest */
        uint64_t t0 = albert_now_ns();
        b->batch = fill(b->ids, b->rows, B, T);
        b->with_tokens = batch_tokens(w->s, b);
        albert_error e;
        albert_ok(&e); /* row -1 unless the engine names one */
        if (b->with_tokens && hidden_buffer(w, &b->hidden, &e) != ALBERT_OK) {
            drop_token_rows(b, &e); /* the rest go on, pooled only */
            continue;
        }
        albert_outputs out = outputs(w->s, b->with_tokens ? b->hidden : NULL, b->pooled);
        uint64_t t1 = albert_now_ns();
        int rc = albert_engine_submit(w->engine, &b->batch, &out, &e);
        b->host_ns += t1 - t0;
        b->busy_ns += albert_now_ns() - t1;
        if (rc == ALBERT_OK)
            return 1;
        if (e.row < 0 || e.row >= B) {
            fail_rows(b, rc, e.msg);
            account(w, b, b->busy_ns, b->host_ns);
            return 0;
        }
        /* The row the engine rejects fails alone and the rest go again. */
        sched_item_fail(b->rows[e.row], e.code, e.code != ALBERT_E_INPUT, e.msg);
        memmove(b->rows + e.row, b->rows + e.row + 1, (size_t)(B - e.row - 1) * sizeof *b->rows);
        b->B--;
    }
    return 0;
}

void sched_batch_finish(sched_worker *w, sched_batch *b)
{
    uint64_t t0 = albert_now_ns();
    albert_error e;
    int rc = albert_engine_wait(w->engine, &e);
    uint64_t t1 = albert_now_ns();
    /* The reference checks batches as the engine did (one config): a row it
     * rejected would have been rejected at submit, so any failure is the
     * whole batch's. */
    if (rc == ALBERT_OK && w->s->opt.reference)
        rc = run_reference(w, b, &e); /* timed as validation, not here */
    uint64_t t2 = albert_now_ns();
    if (rc != ALBERT_OK)
        fail_rows(b, rc, e.msg);
    if (rc == ALBERT_OK && w->s->host_pooling) {
        pool_rows(w->s, b, b->hidden, b->pooled);
        if (w->s->opt.reference)
            pool_rows(w->s, b, w->ref_hidden, w->ref_pooled);
    }
    for (int r = 0; rc == ALBERT_OK && r < b->B; r++)
        if (b->rows[r]->status == ALBERT_OK)
            scatter_row(w, b, r, b->rows[r]);
    account(w, b, b->busy_ns + (t1 - t0), b->host_ns + (albert_now_ns() - t2));
}
