/* A run: a feeder thread reads the input and pushes records (those of its
 * shard, past the ones --resume keeps) into the scheduler; this thread takes
 * the results in order and writes them, so reading, tokenizing, the devices
 * and writing all overlap. */
#include "cli/dtype.h"
#include "cli/embed.h"
#include "cli/fifo.h"
#include "cli/progress.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this magnitude a reference value counts as this for the relative
 * difference, which otherwise explodes on values near zero. */
#define REL_FLOOR 1e-3
/* A slow stream's records are batched after this long without more. */
#define MAX_WAIT_MS 50
/* Tags: the file's number above these bits, its line below. */
#define TAG_LINE_BITS 40

typedef struct diff_stats {
    double max_abs, max_rel;
    double min_cos; /* over the vectors compared (a reduced precision's measure) */
    size_t values;
} diff_stats;

/* --id-field: each pushed record's id (JSON text, or NULL), from the feeder
 * to the writer, who takes them in the same order: results come back in
 * push order, one per record. */
typedef struct id_queue {
    pthread_mutex_t lock;
    cli_fifo ids;
} id_queue;

typedef struct feeder {
    const cli_runner *r;
    id_queue *ids;            /* NULL without --id-field */
    cli_reader *in;
    albert_scheduler *s;
    uint64_t skip;
    int rc;                   /* a read failure (not a bad line), with ERR */
    albert_error err;
    uint64_t read_ns;
    _Atomic uint64_t bytes_read;
} feeder;

typedef struct writer {
    const cli_runner *r;
    const cli_output *out;
    const cli_reader *in;
    int h;        /* values per token vector */
    int pooled_h; /* per pooled vector (a head changes it) */
    cli_converter conv; /* --output-dtype's */
    id_queue *ids;      /* NULL without --id-field */
    char *id;           /* the id of the record being written */
    uint64_t records, skipped;
    diff_stats pooled_diff, hidden_diff;
    uint64_t write_ns, validate_ns;
} writer;

/* ------------------------------------------------------------ ids */

/* Queues a copy of ID (NULL too); ALBERT_E_NOMEM, or ALBERT_OK. */
static int id_queue_push(id_queue *q, const char *id)
{
    char *copy = id ? strdup(id) : NULL;
    pthread_mutex_lock(&q->lock);
    int ok = (!id || copy) && cli_fifo_push(&q->ids, copy) == 0;
    pthread_mutex_unlock(&q->lock);
    if (!ok)
        free(copy);
    return ok ? ALBERT_OK : ALBERT_E_NOMEM;
}

/* The oldest id (the caller's to free), NULL when none is queued. */
static char *id_queue_pop(id_queue *q)
{
    pthread_mutex_lock(&q->lock);
    char *id = cli_fifo_pop(&q->ids);
    pthread_mutex_unlock(&q->lock);
    return id;
}

static void id_queue_free(id_queue *q)
{
    cli_fifo_free(&q->ids, free);
    pthread_mutex_destroy(&q->lock);
}

/* ------------------------------------------------------------ reading */

/* A bad line's message without its "FILE:LINE: ", which the writer adds
 * back to every record's error. */
static const char *without_place(const albert_error *e, const cli_record *rec)
{
    char place[64];
    int n = snprintf(place, sizeof place, ":%ld: ", rec->line);
    const char *at = strstr(e->msg, place);
    return at ? at + n : e->msg;
}

static int in_shard(const cli_options *o, uint64_t index)
{
    return index % (uint64_t)o->shards == (uint64_t)o->shard;
}

/* PROMPT goes before a text, not before ids. */
static albert_record to_record(const cli_record *rec, int file, const char *prompt,
                               const char *error, int side)
{
    albert_record a;
    memset(&a, 0, sizeof a);
    a.truncation = (albert_truncation)side;
    a.text = rec->text;
    a.text_len = rec->text_len;
    a.prompt = rec->text && !error ? prompt : NULL;
    a.prompt_len = a.prompt ? strlen(a.prompt) : 0;
    a.pair = rec->pair;
    a.pair_len = rec->pair_len;
    a.input_ids = rec->ids;
    a.token_type_ids = rec->types;
    a.attention_mask = rec->mask;
    a.n_ids = rec->n_ids;
    a.error = error;
    a.tag = (uint64_t)file << TAG_LINE_BITS | (uint64_t)rec->line;
    return a;
}

/* The feeder may be cancelled only while it reads (a terminal or a pipe may
 * never end): never inside the scheduler, whose lock it would keep. */
static int read_record(feeder *f, cli_record *rec, int *got, albert_error *e)
{
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    int rc = cli_reader_next(f->in, rec, got, e);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    return rc;
}

static void *feed(void *arg)
{
    feeder *f = arg;
    const cli_options *o = f->r->opt;
    uint64_t index = 0, skip = f->skip;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    for (;;) {
        uint64_t t0 = albert_now_ns();
        cli_record rec;
        int got;
        albert_error e;
        int rc = read_record(f, &rec, &got, &e);
        atomic_store(&f->bytes_read, f->in->bytes_read);
        if ((rc != ALBERT_OK && rc != ALBERT_E_INPUT) || !got) {
            f->rc = rc;
            f->err = e;
            break;
        }
        if (!in_shard(o, index++) || (skip && skip--))
            continue;
        albert_record a = to_record(&rec, rec.file_no, o->prompt,
                                    rc ? without_place(&e, &rec) : NULL, f->r->truncation);
        f->read_ns += albert_now_ns() - t0;
        if (f->ids && id_queue_push(f->ids, rec.id) != ALBERT_OK) {
            f->rc = albert_fail(&f->err, ALBERT_E_NOMEM, "out of memory for the ids");
            break;
        }
        /* Cancelled: the writer stopped.  Anything else (out of memory for
         * the copy, or a failure that ended the run, which the writer then
         * meets in its place first) fails the run: no record goes missing. */
        rc = albert_scheduler_push(f->s, &a, &e);
        if (rc != ALBERT_OK) {
            f->rc = rc == ALBERT_E_CANCELLED ? ALBERT_OK : rc;
            f->err = e;
            break;
        }
    }
    /* A read error too lets the records before it through, then ends the run. */
    albert_scheduler_finish(f->s, NULL);
    return NULL;
}

/* ------------------------------------------------------------ validation */

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

static void compare(writer *w, const albert_result *res)
{
    size_t h = (size_t)w->h;
    if (res->pooled)
        track(&w->pooled_diff, res->pooled, res->reference_pooled, (size_t)w->pooled_h);
    for (int t = 0; t < res->rows; t++)
        track(&w->hidden_diff, res->tokens + (size_t)t * h, res->reference_tokens + (size_t)t * h,
              h);
}

static void report(const char *what, const diff_stats *d)
{
    fprintf(stderr,
            "albert-cl: validate: %s: max abs diff %.3g, max rel diff %.3g, min cosine %.7f "
            "over %zu values\n",
            what, d->max_abs, d->max_rel, d->min_cos, d->values);
}

/* Prints the differences; fails when one is beyond the tolerance. */
static int finish_validation(const writer *w, albert_error *err)
{
    const cli_runner *r = w->r;
    int pooled = r->opt->pooling != ALBERT_POOL_NONE;
    if (pooled)
        report("pooled", &w->pooled_diff);
    report("last_hidden_state", &w->hidden_diff);
    double worst = fmax(w->hidden_diff.max_abs, pooled ? w->pooled_diff.max_abs : 0.0);
    int bad = worst > r->opt->validate_tol || w->hidden_diff.max_abs != w->hidden_diff.max_abs ||
              w->pooled_diff.max_abs != w->pooled_diff.max_abs;
    if (bad)
        return albert_fail(err, CLI_E_MISMATCH,
                           "validate: %s and the CPU backend differ by %.3g, beyond the tolerance %g",
                           albert_engine_device_name(r->engines[0]), worst, r->opt->validate_tol);
    return ALBERT_OK;
}

/* ------------------------------------------------------------ writing */

static const char *file_of(const writer *w, const albert_result *res)
{
    return w->in->names[res->tag >> TAG_LINE_BITS];
}

static long line_of(const albert_result *res)
{
    return (long)(res->tag & (((uint64_t)1 << TAG_LINE_BITS) - 1));
}

/* The record's index in the whole input: the scheduler numbers what was
 * pushed, which leaves out other shards' records and those --resume kept. */
static uint64_t input_index(const writer *w, const albert_result *res)
{
    const cli_options *o = w->r->opt;
    return (uint64_t)o->shard + (res->index + w->out->skip) * (uint64_t)o->shards;
}

/* A record's failure, WHAT: the run's end, or with --on-error skip (jsonl)
 * an error record in its place. */
static int record_failure(writer *w, const albert_result *res, int status, const char *what,
                          albert_error *err)
{
    char msg[ALBERT_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s:%ld: %s", file_of(w, res), line_of(res), what);
    if (w->r->opt->on_error != CLI_ON_ERROR_SKIP || w->out->arrays)
        return albert_fail(err, status, "%s", msg);
    cli_warn("skipped: %s", msg);
    cli_format_error_record(&w->out->stream->buf, input_index(w, res), w->id, msg);
    w->skipped++;
    return ALBERT_OK;
}

/* convert's record that became an error record (--on-error skip) */
#define CLI_SKIPPED (-1)

/* The record's vectors as --output-dtype makes them, for the arrays' bytes
 * or for jsonl's numbers (float32 into jsonl: as they are); CLI_SKIPPED when
 * float16 cannot hold them and --on-error skip put an error record instead. */
static int convert(writer *w, const albert_result *res, cli_embedding *e, albert_error *err)
{
    const float *v = e->floats;
    if (w->r->opt->output_dtype == CLI_DTYPE_FLOAT32 && !w->out->arrays)
        return ALBERT_OK;
    long bad = cli_converter_run(&w->conv, v, e->rows, e->width, !w->out->arrays);
    if (bad == -2)
        return albert_fail(err, ALBERT_E_NOMEM, "%s:%ld: out of memory for its vectors",
                           file_of(w, res), line_of(res));
    if (bad >= 0) {
        char what[160];
        snprintf(what, sizeof what, "the value %.9g is beyond float16's range (it would be "
                 "infinity): --output-dtype float32 keeps it", (double)v[bad]);
        return record_failure(w, res, ALBERT_E_FORMAT, what, err) == ALBERT_OK ? CLI_SKIPPED
                                                                               : err->code;
    }
    e->width = cli_dtype_elements(w->conv.dtype, e->width);
    e->floats = w->conv.dtype == CLI_DTYPE_FLOAT16 ? w->conv.halves : NULL;
    e->ints = w->conv.dtype == CLI_DTYPE_FLOAT16 ? NULL : w->conv.ints;
    e->digits = 5; /* float16 round-trips */
    return ALBERT_OK;
}

/* --tokenize shows where a pair's second sentence begins, which input_ids
 * alone do not (a [SEP] may be the text's own); embeddings carry no types. */
static int write_record(writer *w, const albert_result *res, albert_error *err)
{
    const cli_options *o = w->r->opt;
    int none = o->pooling == ALBERT_POOL_NONE;
    cli_embedding e = {.floats = none ? res->tokens : res->pooled, .rows = none ? res->rows : 1,
                       .width = none ? w->h : w->pooled_h, .digits = 9, .nested = none};
    int rc = o->tokenize_only ? ALBERT_OK : convert(w, res, &e, err);
    if (rc != ALBERT_OK)
        return rc == CLI_SKIPPED ? ALBERT_OK : rc; /* its error record is out */
    if (w->out->arrays) {
        cli_arrays_put(w->out->arrays, w->conv.bytes, e.rows);
        return ALBERT_OK;
    }
    cli_format_record(&w->out->stream->buf, input_index(w, res), w->id, res->input_ids,
                      o->tokenize_only ? res->token_type_ids : NULL, res->n_ids,
                      o->tokenize_only ? NULL : &e);
    return ALBERT_OK;
}

static int put_result(writer *w, const albert_result *res, albert_error *err)
{
    int rc = ALBERT_OK;
    free(w->id);
    w->id = w->ids ? id_queue_pop(w->ids) : NULL;
    if (res->status != ALBERT_OK) {
        rc = record_failure(w, res, res->status, res->message, err);
    } else {
        if (res->n_full > res->n_ids)
            cli_warn("%s:%ld: %d tokens truncated to %d", file_of(w, res), line_of(res),
                     res->n_full, res->n_ids);
        if (w->r->reference) {
            uint64_t t0 = albert_now_ns();
            compare(w, res);
            w->validate_ns += albert_now_ns() - t0;
        }
        rc = write_record(w, res, err);
    }
    w->records += rc == ALBERT_OK;
    if (rc != ALBERT_OK || w->out->arrays)
        return rc;
    return cli_stream_record_done(w->out->stream, err);
}

/* Written out whenever nothing is ready: a slow stream's records show up as
 * they are done. */
static int flush_idle(writer *w, albert_scheduler *s, albert_error *err)
{
    if (albert_scheduler_ready(s) > 0 || w->out->arrays)
        return ALBERT_OK;
    return cli_stream_flush(w->out->stream, err);
}

static void show_progress(writer *w, cli_progress *p, albert_scheduler *s, feeder *f, int end)
{
    albert_scheduler_stats st;
    albert_error e;
    if (!(end ? p->on : cli_progress_due(p)) ||
        albert_scheduler_stats_get(s, &st, NULL, 0, &e) != ALBERT_OK)
        return;
    uint64_t bytes = atomic_load(&f->bytes_read);
    if (end)
        cli_progress_end(p, w->records, st.tokens, bytes);
    else
        cli_progress_update(p, w->records, st.tokens, bytes);
}

static int drain(writer *w, albert_scheduler *s, feeder *f, albert_error *err)
{
    cli_progress progress;
    int mode = w->r->opt->quiet ? CLI_PROGRESS_OFF : w->r->opt->progress;
    cli_progress_init(&progress, mode, f->in->bytes_total);
    int rc = ALBERT_OK;
    for (;;) {
        uint64_t t0 = albert_now_ns();
        rc = flush_idle(w, s, err);
        w->write_ns += albert_now_ns() - t0;
        const albert_result *res = NULL;
        if (rc == ALBERT_OK)
            rc = albert_scheduler_next(s, &res, err);
        if (rc != ALBERT_OK || !res)
            break;
        t0 = albert_now_ns();
        rc = put_result(w, res, err);
        w->write_ns += albert_now_ns() - t0;
        if (rc != ALBERT_OK)
            break;
        show_progress(w, &progress, s, f, 0);
    }
    show_progress(w, &progress, s, f, 1);
    return rc;
}

/* ------------------------------------------------------------ the run */

void cli_scheduler_options(const cli_runner *r, albert_scheduler_options *so)
{
    const cli_options *o = r->opt;
    albert_scheduler_options_init(so);
    so->config = r->cfg;
    so->tokenizer = r->tok;
    so->engines = r->engines;
    so->engine_count = r->nengines;
    so->reference = r->reference;
    so->max_length = r->max_length;
    so->max_batch_tokens = o->max_batch_tokens;
    so->max_batch_size = o->batch_size_set ? o->batch_size : 0;
    so->pooling = o->tokenize_only ? ALBERT_POOL_NONE : (albert_pooling)o->pooling;
    so->pooling_modes = so->pooling != ALBERT_POOL_NONE ? o->pooling_modes : 0;
    so->normalize = o->normalize;
    so->truncate_dim = so->pooling != ALBERT_POOL_NONE ? o->truncate_dim : 0;
    so->normalize_truncated = o->normalize_truncated;
    so->strip_text = o->strip_text;
    so->exclude_prompt = o->exclude_prompt;
    so->skip_last_layers = o->skip_last_layers;
    so->layers = o->layers;
    so->n_layers = o->n_layers;
    so->layers_concat = o->layer_combine == CLI_COMBINE_CONCAT;
    so->head = so->pooling != ALBERT_POOL_NONE ? r->head : NULL;
    so->token_vectors = r->reference != NULL;
    so->max_wait_ms = o->serve ? o->max_wait_ms : MAX_WAIT_MS;
}

int cli_vector_width(const cli_options *o, const albert_config *config)
{
    const albert_outputs out = {.n_layers = o->n_layers,
                                .layers_concat = o->layer_combine == CLI_COMBINE_CONCAT};
    return albert_output_width(config, &out);
}

int cli_pooled_width(const cli_options *o, const albert_config *config)
{
    int modes = 0;
    for (unsigned bits = o->pooling_modes; bits; bits &= bits - 1)
        modes++;
    return (modes > 1 ? modes : 1) * cli_vector_width(o, config);
}

int cli_output_width(const cli_options *o, const albert_config *config)
{
    if (o->pooling == ALBERT_POOL_NONE)
        return cli_vector_width(o, config);
    if (o->truncate_dim)
        return o->truncate_dim;
    return o->head_width ? o->head_width : cli_pooled_width(o, config);
}

int cli_start(const cli_runner *r, albert_scheduler **s, albert_error *err)
{
    albert_scheduler_options so;
    cli_scheduler_options(r, &so);
    albert_error e;
    int rc = albert_scheduler_create(&so, s, &e);
    if (rc == ALBERT_E_CAPACITY)
        return albert_fail(err, rc, "%.400s; lower --max-batch-tokens, --batch-size or --max-length",
                           e.msg);
    return rc == ALBERT_OK ? ALBERT_OK : albert_fail(err, rc, "%s", e.msg);
}

static void outcome(const cli_runner *r, albert_scheduler *s, const writer *w, const feeder *f,
                    cli_outcome *done)
{
    done->records = w->records;
    done->skipped = w->skipped;
    done->devices = calloc((size_t)(r->nengines ? r->nengines : 1), sizeof *done->devices);
    albert_error e;
    albert_scheduler_stats_get(s, &done->stats, done->devices,
                               done->devices ? (size_t)r->nengines : 0, &e);
    cli_phases *ph = r->phases;
    if (!ph)
        return;
    ph->ns[CLI_PHASE_READ] += f->read_ns;
    ph->ns[CLI_PHASE_TOKENIZE] += done->stats.tokenize_ns;
    for (int i = 0; done->devices && i < r->nengines; i++) {
        ph->ns[CLI_PHASE_BATCH] += done->devices[i].batch_ns;
        ph->ns[CLI_PHASE_FORWARD] += done->devices[i].busy_ns;
    }
    ph->ns[CLI_PHASE_VALIDATE] += done->stats.reference_ns + w->validate_ns;
    ph->ns[CLI_PHASE_WRITE] += w->write_ns;
}

int cli_run(const cli_runner *r, albert_scheduler *s, cli_reader *in, const cli_output *out,
            cli_outcome *done, albert_error *err)
{
    memset(done, 0, sizeof *done);
    int rc;
    feeder f;
    memset(&f, 0, sizeof f);
    f.r = r;
    f.in = in;
    f.s = s;
    f.skip = out->skip;
    writer w;
    memset(&w, 0, sizeof w);
    w.r = r;
    w.out = out;
    w.in = in;
    w.h = albert_scheduler_width(s);
    w.pooled_h = albert_scheduler_pooled_width(s);
    w.conv.dtype = (cli_dtype)r->opt->output_dtype;
    w.skipped = out->skipped_before;
    id_queue ids;
    memset(&ids, 0, sizeof ids);
    pthread_mutex_init(&ids.lock, NULL);
    f.ids = w.ids = r->opt->json_keys.id ? &ids : NULL;
    pthread_t thread;
    if (pthread_create(&thread, NULL, feed, &f) != 0) {
        albert_scheduler_free(s);
        id_queue_free(&ids);
        return albert_fail(err, ALBERT_E_NOMEM, "cannot start the input thread");
    }
    rc = drain(&w, s, &f, err);
    if (rc != ALBERT_OK) { /* the writer stopped early: so does the feeder */
        albert_scheduler_cancel(s);
        pthread_cancel(thread);
    }
    pthread_join(thread, NULL);
    if (f.rc != ALBERT_OK && (rc == ALBERT_OK || rc == ALBERT_E_CANCELLED))
        rc = albert_fail(err, f.rc, "%s", f.err.msg);
    if (rc == ALBERT_OK && r->reference)
        rc = finish_validation(&w, err);
    outcome(r, s, &w, &f, done);
    cli_converter_free(&w.conv);
    free(w.id);
    id_queue_free(&ids);
    albert_scheduler_free(s);
    return rc;
}
