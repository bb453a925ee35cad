/* One batch on one device: pad the records into a [B, T] batch, run the
 * engine (and the reference), copy each record's vectors out. */
#include "scheduler/scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int need_tokens(const albert_scheduler *s)
{
    return s->opt.pooling == ALBERT_POOL_NONE || s->opt.token_vectors;
}

int sched_worker_init(sched_worker *w, int room, int max_rows, albert_error *err)
{
    const albert_scheduler *s = w->s;
    size_t h = (size_t)s->hidden, tok = (size_t)room;
    int pooled = s->opt.pooling != ALBERT_POOL_NONE, tokens = need_tokens(s);
    w->ids = malloc(3 * tok * sizeof *w->ids);
    w->mine = malloc(2 * (size_t)max_rows * sizeof *w->mine);
    w->hidden = tokens ? malloc(tok * h * sizeof(float)) : NULL;
    w->pooled = pooled ? malloc((size_t)max_rows * h * sizeof(float)) : NULL;
    if (s->opt.reference) {
        w->ref_hidden = tokens ? malloc(tok * h * sizeof(float)) : NULL;
        w->ref_pooled = pooled ? malloc((size_t)max_rows * h * sizeof(float)) : NULL;
    }
    int missing = !w->ids || !w->mine || (tokens && !w->hidden) || (pooled && !w->pooled) ||
                  (s->opt.reference && ((tokens && !w->ref_hidden) || (pooled && !w->ref_pooled)));
    if (missing)
        return albert_fail(err, ALBERT_E_NOMEM, "scheduler: out of memory for batches of %d tokens",
                           room);
    return ALBERT_OK;
}

void sched_worker_free(sched_worker *w)
{
    free(w->ids);
    free(w->mine);
    free(w->hidden);
    free(w->pooled);
    free(w->ref_hidden);
    free(w->ref_pooled);
}

/* Pads ITEMS into W's [B, T] batch: id 0, type 0 and mask 0 on pads. */
static albert_batch fill(sched_worker *w, sched_item **items, int B, int T)
{
    size_t total = (size_t)B * (size_t)T;
    int32_t *ids = w->ids, *types = ids + total, *mask = types + total;
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

static int run(const albert_scheduler *s, albert_engine *engine, const albert_batch *b,
               float *hidden, float *pooled, albert_error *e)
{
    albert_outputs out;
    memset(&out, 0, sizeof out);
    out.last_hidden_state = hidden;
    out.pooled = pooled;
    out.pooling = pooled ? s->opt.pooling : ALBERT_POOL_NONE;
    out.normalize = s->opt.normalize;
    albert_ok(e); /* row -1 unless the engine names one */
    return albert_engine_run(engine, b, &out, e);
}

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

/* Row R's vectors into its item: one block, laid out as the result says. */
static void scatter_row(sched_worker *w, const albert_batch *b, int r, sched_item *it)
{
    const albert_scheduler *s = w->s;
    size_t h = (size_t)s->hidden;
    int pooled = w->pooled != NULL, tokens = w->hidden != NULL, ref = s->opt.reference != NULL;
    it->rows = tokens ? count_ones(it) : 0;
    size_t per = (pooled ? h : 0) + (size_t)it->rows * h;
    it->vectors = malloc((ref ? 2 : 1) * (per ? per : 1) * sizeof(float));
    if (!it->vectors) {
        sched_item_fail(it, ALBERT_E_NOMEM, 1, "out of memory for its vectors");
        return;
    }
    float *p = it->vectors;
    if (pooled) {
        it->pooled = memcpy(p, w->pooled + (size_t)r * h, h * sizeof(float));
        p += h;
    }
    if (tokens) {
        it->tokens = p;
        p += (size_t)copy_tokens(b, r, w->hidden, h, p) * h;
    }
    if (!all_finite(it->vectors, per)) {
        sched_item_fail(it, ALBERT_E_FORMAT, 0,
                        "the model produced a non-finite value (NaN or infinity)");
        return;
    }
    if (ref && pooled) {
        it->ref_pooled = memcpy(p, w->ref_pooled + (size_t)r * h, h * sizeof(float));
        p += h;
    }
    if (ref && tokens) {
        it->ref_tokens = p;
        copy_tokens(b, r, w->ref_hidden, h, p);
    }
}

/* The reference engine is shared by every device thread. */
static int run_reference(sched_worker *w, const albert_batch *b, albert_error *e)
{
    albert_scheduler *s = w->s;
    uint64_t t0 = albert_now_ns();
    pthread_mutex_lock(&s->reference_lock);
    int rc = run(s, s->opt.reference, b, w->ref_hidden, w->ref_pooled, e);
    pthread_mutex_unlock(&s->reference_lock);
    pthread_mutex_lock(&s->lock);
    s->reference_ns += albert_now_ns() - t0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* One try at ITEMS; a row the engine rejects fails alone and the rest go
 * again (returns the rows left), any other failure fails them all. */
static int try_batch(sched_worker *w, sched_item **items, int B)
{
    int T = items[B - 1]->n; /* shortest first: the last is the longest */
    uint64_t t0 = albert_now_ns();
    albert_batch b = fill(w, items, B, T);
    uint64_t t1 = albert_now_ns();
    albert_error e;
    int rc = run(w->s, w->engine, &b, w->hidden, w->pooled, &e);
    uint64_t t2 = albert_now_ns();
    if (rc == ALBERT_OK && w->s->opt.reference)
        rc = run_reference(w, &b, &e); /* timed as validation, not here */
    uint64_t t3 = albert_now_ns();
    if (rc != ALBERT_OK && e.row >= 0 && e.row < B) {
        sched_item_fail(items[e.row], e.code, e.code != ALBERT_E_INPUT, e.msg);
        memmove(items + e.row, items + e.row + 1, (size_t)(B - e.row - 1) * sizeof *items);
        return B - 1;
    }
    for (int r = 0; r < B; r++) {
        if (rc != ALBERT_OK)
            sched_item_fail(items[r], rc, 1, e.msg);
        else
            scatter_row(w, &b, r, items[r]);
    }
    uint64_t tokens = 0;
    for (int r = 0; r < B; r++)
        tokens += (uint64_t)items[r]->n;
    pthread_mutex_lock(&w->s->lock);
    w->stats.batches++;
    w->stats.records += (uint64_t)B;
    w->stats.tokens += tokens;
    w->stats.padded_tokens += (uint64_t)B * (uint64_t)T;
    w->stats.busy_ns += t2 - t1;
    w->stats.batch_ns += (t1 - t0) + (albert_now_ns() - t3);
    pthread_mutex_unlock(&w->s->lock);
    return 0;
}

void sched_run_batch(sched_worker *w, sched_item **items, int B)
{
    while (B > 0)
        B = try_batch(w, items, B);
}
