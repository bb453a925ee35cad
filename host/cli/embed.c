/* Records flow through windows of lines: each window is tokenized, sorted by
 * length so batches carry little padding, run batch by batch, and written
 * back in input order.  The window bounds what is held in memory. */
#include "cli/embed.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lines per window when one vector per line is kept; with --pooling none
 * every token's vector is kept, so a window is one batch. */
#define CLI_WINDOW 1024

/* Below this magnitude a reference value counts as this for the relative
 * difference, which otherwise explodes on values near zero. */
#define REL_FLOOR 1e-3

typedef struct cli_item {
    const cli_record *rec;
    size_t index;         /* output index */
    int n;                /* tokens */
    const int32_t *ids;
    const int32_t *types; /* NULL: all 0 */
    const int32_t *mask;  /* NULL: all 1 */
    int32_t *owned;       /* tokenizer output, freed with the window */
    float *emb;           /* rows x H */
    int rows;
    int owns_emb;
} cli_item;

typedef struct diff_stats {
    double max_abs, max_rel;
    double min_cos; /* over the vectors compared (a reduced precision's measure) */
    size_t values;
} diff_stats;

typedef struct run_state {
    const cli_runner *r;
    int h;
    int32_t *scratch;     /* tokenizer output: ids then types, max_length each */
    float *pooled_slab;   /* one window's pooled vectors */
    cli_item *items;
    cli_item **order;
    diff_stats pooled_diff, hidden_diff;
} run_state;

/* Output buffers of one batch, for one engine. */
typedef struct batch_out {
    float *hidden; /* [B, T, H] or NULL */
    float *pooled; /* [B, H] or NULL */
} batch_out;

/* A record's place in the input, for messages: "FILE:LINE: WHAT". */
static int fail_at(albert_error *err, const cli_record *rec, int code, const char *what)
{
    return albert_fail(err, code, "%s:%ld: %s", rec->file, rec->line, what);
}

/* A library error E about one batch row (E->row >= 0, its message starting
 * "batch row ROW: "), told as the row's record: "FILE:LINE: ...". */
static int fail_row(albert_error *err, const albert_error *e, const cli_record *rec)
{
    const char *what = strstr(e->msg, ": ");
    return fail_at(err, rec, e->code, what ? what + 2 : e->msg);
}

/* Pre-tokenized ids within --max-length and within the model's vocabulary
 * and types, record by record in input order, so the error names the first
 * bad line (an engine checks each batch again, but batches are sorted by
 * length). */
static int check_ids(const cli_runner *r, const cli_record *rec, albert_error *err)
{
    if (rec->n_ids > r->max_length) {
        char what[96];
        snprintf(what, sizeof what, "%d input_ids, more than the maximum length %d", rec->n_ids,
                 r->max_length);
        return fail_at(err, rec, ALBERT_E_INPUT, what);
    }
    const albert_batch one = {1, rec->n_ids, rec->ids, rec->types, rec->mask};
    albert_error e;
    albert_ok(&e); /* row -1 unless the check names one */
    if (albert_batch_check(r->cfg, &one, &e) == ALBERT_OK)
        return ALBERT_OK;
    return e.row >= 0 ? fail_row(err, &e, rec) : fail_at(err, rec, e.code, e.msg);
}

static int tokenize_item(run_state *st, cli_item *it, albert_error *err)
{
    const cli_runner *r = st->r;
    const cli_record *rec = it->rec;
    int32_t *ids = st->scratch, *types = st->scratch + r->max_length;
    int n = 0, n_full = 0;
    albert_error e;
    if (albert_tokenize(r->tok, rec->text, rec->text_len, rec->pair, rec->pair ? rec->pair_len : 0,
                        r->max_length, ids, types, &n, &n_full, &e) != ALBERT_OK)
        return fail_at(err, rec, e.code, e.msg);
    if (n_full > n)
        cli_warn("%s:%ld: %d tokens truncated to %d", rec->file, rec->line, n_full, n);
    it->owned = malloc(2 * (size_t)n * sizeof *it->owned);
    if (!it->owned)
        return fail_at(err, rec, ALBERT_E_NOMEM, "out of memory for its ids");
    memcpy(it->owned, ids, (size_t)n * sizeof *ids);
    memcpy(it->owned + n, types, (size_t)n * sizeof *types);
    it->n = n;
    it->ids = it->owned;
    it->types = it->owned + n;
    return ALBERT_OK;
}

static int count_ones(const int32_t *mask, int n)
{
    int ones = 0;
    for (int i = 0; i < n; i++)
        ones += mask ? mask[i] : 1;
    return ones;
}

/* Tokenizes (or checks) one record and gives it room for its embedding. */
static int prepare_item(run_state *st, cli_item *it, albert_error *err)
{
    const cli_runner *r = st->r;
    const cli_record *rec = it->rec;
    int rc;
    if (rec->ids) {
        rc = check_ids(r, rec, err);
        it->n = rec->n_ids;
        it->ids = rec->ids;
        it->types = rec->types;
        it->mask = rec->mask;
    } else {
        rc = tokenize_item(st, it, err);
    }
    if (rc != ALBERT_OK || !r->engine)
        return rc;
    if (r->opt->pooling != ALBERT_POOL_NONE) {
        it->rows = 1;
        it->emb = st->pooled_slab + (size_t)(it - st->items) * (size_t)st->h;
        return ALBERT_OK;
    }
    it->rows = count_ones(it->mask, it->n);
    it->emb = malloc((size_t)it->rows * (size_t)st->h * sizeof *it->emb);
    it->owns_emb = 1;
    if (!it->emb)
        return fail_at(err, rec, ALBERT_E_NOMEM, "out of memory for its vectors");
    return ALBERT_OK;
}

static void release_items(run_state *st, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(st->items[i].owned);
        if (st->items[i].owns_emb)
            free(st->items[i].emb);
    }
    memset(st->items, 0, count * sizeof *st->items);
}

static int by_length(const void *a, const void *b)
{
    const cli_item *x = *(cli_item *const *)a, *y = *(cli_item *const *)b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Lays out B items as a padded [B, T] batch: id 0, type 0 and mask 0 on pads. */
static void fill_batch(cli_item **items, int B, int T, int32_t *ids, int32_t *types,
                       int32_t *mask)
{
    size_t total = (size_t)B * (size_t)T;
    memset(ids, 0, total * sizeof *ids);
    memset(types, 0, total * sizeof *types);
    memset(mask, 0, total * sizeof *mask);
    for (int b = 0; b < B; b++) {
        const cli_item *it = items[b];
        size_t row = (size_t)b * (size_t)T;
        memcpy(ids + row, it->ids, (size_t)it->n * sizeof *ids);
        for (int t = 0; t < it->n; t++) {
            types[row + t] = it->types ? it->types[t] : 0;
            mask[row + t] = it->mask ? it->mask[t] : 1;
        }
    }
}

static int alloc_out(batch_out *o, size_t hidden, size_t pooled)
{
    o->hidden = hidden ? malloc(hidden * sizeof(float)) : NULL;
    o->pooled = pooled ? malloc(pooled * sizeof(float)) : NULL;
    return (hidden && !o->hidden) || (pooled && !o->pooled) ? -1 : 0;
}

static void free_out(batch_out *o)
{
    free(o->hidden);
    free(o->pooled);
}

static int run_engine(const cli_runner *r, albert_engine *engine, const albert_batch *b,
                      cli_item *const *items, batch_out *o, albert_error *err)
{
    albert_outputs out;
    memset(&out, 0, sizeof out);
    out.last_hidden_state = o->hidden;
    out.pooled = o->pooled;
    out.pooling = o->pooled ? (albert_pooling)r->opt->pooling : ALBERT_POOL_NONE;
    out.normalize = r->opt->normalize;
    albert_error e;
    albert_ok(&e); /* row -1 unless the engine names one */
    if (albert_engine_run(engine, b, &out, &e) == ALBERT_OK)
        return ALBERT_OK;
    if (e.row >= 0 && e.row < b->batch_size)
        return fail_row(err, &e, items[e.row]->rec);
    return albert_fail(err, e.code, "%s", e.msg);
}

/* One vector of N values against its reference. */
static void track(diff_stats *d, const float *got, const float *ref, size_t n)
{
    double dot = 0, gg = 0, rr = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - (double)ref[i]);
        double rel = diff / fmax(fabs((double)ref[i]), REL_FLOOR);
        /* NaN compares false: make it count as a mismatch. */
        d->max_abs = diff > d->max_abs || diff != diff ? diff : d->max_abs;
        d->max_rel = rel > d->max_rel || rel != rel ? rel : d->max_rel;
        dot += (double)got[i] * ref[i];
        gg += (double)got[i] * got[i];
        rr += (double)ref[i] * ref[i];
    }
    /* Two zero vectors agree; one zero vector does not. */
    double cos = gg > 0 && rr > 0 ? dot / sqrt(gg * rr) : gg == rr ? 1.0 : 0.0;
    d->min_cos = d->values == 0 || cos < d->min_cos || cos != cos ? cos : d->min_cos;
    d->values += n;
}

/* Compares the outputs of the two engines over non-padding positions. */
static void compare(run_state *st, const albert_batch *b, const batch_out *got,
                    const batch_out *ref)
{
    size_t h = (size_t)st->h;
    for (size_t r = 0; got->pooled && r < (size_t)b->batch_size; r++)
        track(&st->pooled_diff, got->pooled + r * h, ref->pooled + r * h, h);
    for (size_t i = 0; i < (size_t)b->batch_size * (size_t)b->seq_len; i++)
        if (b->attention_mask[i])
            track(&st->hidden_diff, got->hidden + i * h, ref->hidden + i * h, h);
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* Copies a batch's outputs to its items: the pooled row, or the vectors of
 * every token whose mask is 1. */
static int scatter(run_state *st, cli_item **items, const albert_batch *b, const batch_out *o,
                   albert_error *err)
{
    size_t h = (size_t)st->h;
    for (int i = 0; i < b->batch_size; i++) {
        cli_item *it = items[i];
        if (o->pooled) {
            memcpy(it->emb, o->pooled + (size_t)i * h, h * sizeof(float));
        } else {
            size_t row = (size_t)i * (size_t)b->seq_len, k = 0;
            for (int t = 0; t < it->n; t++)
                if (b->attention_mask[row + t])
                    memcpy(it->emb + h * k++, o->hidden + (row + t) * h, h * sizeof(float));
        }
        if (!all_finite(it->emb, (size_t)it->rows * h))
            return albert_fail(err, ALBERT_E_FORMAT,
                            "%s:%ld: the model produced a non-finite value (NaN or infinity)",
                            it->rec->file, it->rec->line);
    }
    return ALBERT_OK;
}

static int run_batch(run_state *st, cli_item **items, int B, int32_t *ids, albert_error *err)
{
    const cli_runner *r = st->r;
    int T = items[B - 1]->n; /* sorted by length: the last is the longest */
    size_t total = (size_t)B * (size_t)T;
    int32_t *types = ids + total, *mask = types + total;
    fill_batch(items, B, T, ids, types, mask);
    albert_batch b = {B, T, ids, types, mask};
    int pooled = r->opt->pooling != ALBERT_POOL_NONE;
    size_t hidden_n = !pooled || r->reference ? total * (size_t)st->h : 0;
    size_t pooled_n = pooled ? (size_t)B * (size_t)st->h : 0;
    batch_out got = {NULL, NULL}, ref = {NULL, NULL};
    cli_lap(r->phases, CLI_PHASE_BATCH);
    int rc = alloc_out(&got, hidden_n, pooled_n) != 0 ||
                     (r->reference && alloc_out(&ref, hidden_n, pooled_n) != 0)
                 ? albert_fail(err, ALBERT_E_NOMEM, "out of memory for a batch of %d x %d", B, T)
                 : run_engine(r, r->engine, &b, items, &got, err);
    cli_lap(r->phases, CLI_PHASE_FORWARD);
    if (rc == ALBERT_OK && r->reference) {
        rc = run_engine(r, r->reference, &b, items, &ref, err);
        if (rc == ALBERT_OK)
            compare(st, &b, &got, &ref);
        cli_lap(r->phases, CLI_PHASE_VALIDATE);
    }
    if (rc == ALBERT_OK)
        rc = scatter(st, items, &b, &got, err);
    cli_lap(r->phases, CLI_PHASE_BATCH);
    free_out(&got);
    free_out(&ref);
    return rc;
}

static int embed_window(run_state *st, size_t count, albert_error *err)
{
    const cli_runner *r = st->r;
    for (size_t i = 0; i < count; i++)
        st->order[i] = &st->items[i];
    qsort(st->order, count, sizeof *st->order, by_length);
    int bs = r->opt->batch_size;
    int32_t *ids = malloc(3 * (size_t)bs * (size_t)r->max_length * sizeof *ids);
    if (!ids)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for a %d-row batch", bs);
    int rc = ALBERT_OK;
    for (size_t i = 0; i < count && rc == ALBERT_OK; i += (size_t)bs) {
        size_t left = count - i;
        rc = run_batch(st, st->order + i, left < (size_t)bs ? (int)left : bs, ids, err);
    }
    free(ids);
    return rc;
}

/* --tokenize shows where a pair's second sentence begins, which input_ids
 * alone do not (a [SEP] may be the text's own); embeddings carry no types. */
static const int32_t *pair_types(const cli_runner *r, const cli_item *it)
{
    return r->opt->tokenize_only && it->rec->pair ? it->types : NULL;
}

/* Writes the window's records and fails once a write failed: a full disk
 * stops the run at the next window, not at the end. */
static int write_window(const run_state *st, size_t count, const cli_sink *sink,
                        albert_error *err)
{
    const cli_runner *r = st->r;
    errno = 0; /* a failed write's errno is then the one cli_sink_check tells */
    for (size_t i = 0; i < count; i++) {
        const cli_item *it = &st->items[i];
        if (r->opt->format == CLI_OUT_NPY)
            cli_write_npy_row(sink->f, it->emb, st->h);
        else
            cli_write_jsonl_record(sink->f, it->index, it->ids, pair_types(r, it), it->n,
                                   it->emb, it->rows, st->h,
                                   r->opt->pooling == ALBERT_POOL_NONE);
    }
    return cli_sink_check(sink, err);
}

static int process_window(run_state *st, const cli_input *in, size_t start, size_t count,
                          const cli_sink *sink, albert_error *err)
{
    int rc = ALBERT_OK;
    for (size_t i = 0; i < count && rc == ALBERT_OK; i++) {
        st->items[i].rec = &in->records[start + i];
        st->items[i].index = start + i;
        rc = prepare_item(st, &st->items[i], err);
    }
    cli_lap(st->r->phases, CLI_PHASE_TOKENIZE);
    if (rc == ALBERT_OK && st->r->engine)
        rc = embed_window(st, count, err);
    if (rc == ALBERT_OK)
        rc = write_window(st, count, sink, err);
    cli_lap(st->r->phases, CLI_PHASE_WRITE);
    release_items(st, count);
    return rc;
}

static void report(const char *what, const diff_stats *d)
{
    fprintf(stderr,
            "albert-cl: validate: %s: max abs diff %.3g, max rel diff %.3g, min cosine %.7f "
            "over %zu values\n",
            what, d->max_abs, d->max_rel, d->min_cos, d->values);
}

/* Prints the differences; fails when one is beyond the tolerance. */
static int finish_validation(const run_state *st, albert_error *err)
{
    const cli_runner *r = st->r;
    int pooled = r->opt->pooling != ALBERT_POOL_NONE;
    if (pooled)
        report("pooled", &st->pooled_diff);
    report("last_hidden_state", &st->hidden_diff);
    double worst = fmax(st->hidden_diff.max_abs, pooled ? st->pooled_diff.max_abs : 0.0);
    int bad = worst > r->opt->validate_tol || st->hidden_diff.max_abs != st->hidden_diff.max_abs ||
              st->pooled_diff.max_abs != st->pooled_diff.max_abs;
    if (bad)
        return albert_fail(err, CLI_E_MISMATCH,
                        "validate: %s and the CPU backend differ by %.3g, beyond the tolerance %g",
                        albert_engine_device_name(r->engine), worst, r->opt->validate_tol);
    return ALBERT_OK;
}

static int init_state(run_state *st, const cli_runner *r, size_t window, albert_error *err)
{
    memset(st, 0, sizeof *st);
    st->r = r;
    st->h = r->cfg->hidden_size;
    st->scratch = malloc(2 * (size_t)r->max_length * sizeof *st->scratch);
    st->items = calloc(window, sizeof *st->items);
    st->order = malloc(window * sizeof *st->order);
    /* --tokenize has no vectors to hold. */
    size_t slab = r->engine ? window * (size_t)st->h : 1;
    st->pooled_slab = malloc(slab * sizeof *st->pooled_slab);
    if (!st->scratch || !st->items || !st->order || !st->pooled_slab)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for a window of %zu records",
                           window);
    return ALBERT_OK;
}

static void free_state(run_state *st)
{
    free(st->scratch);
    free(st->items);
    free(st->order);
    free(st->pooled_slab);
}

int cli_run(const cli_runner *r, const cli_input *in, cli_sink *sink, albert_error *err)
{
    size_t window = r->opt->pooling == ALBERT_POOL_NONE ? (size_t)r->opt->batch_size : CLI_WINDOW;
    run_state st;
    int rc = init_state(&st, r, window, err);
    if (rc == ALBERT_OK && r->opt->format == CLI_OUT_NPY) {
        errno = 0;
        cli_write_npy_header(sink->f, in->count, st.h);
        rc = cli_sink_check(sink, err);
    }
    for (size_t start = 0; start < in->count && rc == ALBERT_OK; start += window) {
        size_t left = in->count - start;
        rc = process_window(&st, in, start, left < window ? left : window, sink, err);
    }
    if (rc == ALBERT_OK && r->reference)
        rc = finish_validation(&st, err);
    free_state(&st);
    return rc;
}
