/* The public engine: a backend from the registry for the requested device,
 * and every batch checked before a backend sees it, so backends can trust
 * their input. */
#include "engine/registry.h"

#include "core/memory.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct albert_engine {
    const albert_model *model;
    albert_backend *backend;
    int device;
    int in_flight; /* submitted, not yet waited for */
};

void albert_engine_options_init(albert_engine_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->device = ALBERT_DEVICE_AUTO;
}

int albert_engine_create(const albert_model *model, const albert_engine_options *opt,
                         albert_engine **out, albert_error *err)
{
    if (!out)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_create: NULL out");
    *out = NULL;
    if (!model)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_create: NULL model");
    albert_engine_options defaults;
    albert_engine_options_init(&defaults);
    opt = opt ? opt : &defaults;
    albert_engine *e = calloc(1, sizeof *e);
    if (!e)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_engine_create: out of memory");
    e->model = model;
    int device = opt->device == ALBERT_DEVICE_AUTO ? registry_auto_device() : opt->device;
    e->device = device;
    int rc = registry_create_backend(model, device, opt, &e->backend, err);
    if (rc != ALBERT_OK) {
        free(e);
        return rc;
    }
    *out = e;
    return albert_ok(err);
}

void albert_engine_free(albert_engine *engine)
{
    if (!engine)
        return;
    timing_free(&engine->backend->stats);
    engine->backend->ops->destroy(engine->backend);
    free(engine);
}

int albert_engine_device(const albert_engine *engine)
{
    return engine ? engine->device : ALBERT_DEVICE_AUTO;
}

const char *albert_engine_device_name(const albert_engine *engine)
{
    return engine ? engine->backend->name : "";
}

/* Where a position of a batch is; the check names it. */
typedef struct batch_pos {
    int row, col;
} batch_pos;

static int bad_value(albert_error *err, batch_pos p, const char *what, int value, int lo, int hi)
{
    return albert_fail_row(err, ALBERT_E_INPUT, p.row, "%s %d at position %d outside [%d, %d)",
                           what, value, p.col, lo, hi);
}

int albert_batch_check(const albert_config *c, const albert_batch *b, albert_error *err)
{
    if (!c || !b)
        return albert_fail(err, ALBERT_E_ARG, "albert_batch_check: NULL config or batch");
    if (b->batch_size < 1 || b->seq_len < 1 || !b->input_ids)
        return albert_fail(err, ALBERT_E_ARG, "batch: needs batch_size >= 1, seq_len >= 1, input_ids");
    if (b->seq_len > c->max_position_embeddings)
        return albert_fail(err, ALBERT_E_INPUT,
                           "batch: seq_len %d exceeds max_position_embeddings %d", b->seq_len,
                           c->max_position_embeddings);
    size_t n = (size_t)b->batch_size * (size_t)b->seq_len;
    for (size_t i = 0; i < n; i++) {
        const batch_pos p = {(int)(i / (size_t)b->seq_len), (int)(i % (size_t)b->seq_len)};
        if (b->input_ids[i] < 0 || b->input_ids[i] >= c->vocab_size)
            return albert_fail_row(err, ALBERT_E_INPUT, p.row,
                                   "input id %d at position %d outside the vocabulary [0, %d)",
                                   (int)b->input_ids[i], p.col, c->vocab_size);
        if (b->token_type_ids &&
            (b->token_type_ids[i] < 0 || b->token_type_ids[i] >= c->type_vocab_size))
            return bad_value(err, p, "token type", (int)b->token_type_ids[i], 0,
                             c->type_vocab_size);
        if (b->attention_mask && b->attention_mask[i] != 0 && b->attention_mask[i] != 1)
            return bad_value(err, p, "attention mask", (int)b->attention_mask[i], 0, 2);
    }
    return albert_ok(err);
}

static int plan_fits(const albert_memory_plan *p)
{
    return p->weights <= p->device_total && p->activations <= p->device_total - p->weights &&
           p->largest_buffer <= p->device_max_buffer;
}

/* The most rows of T tokens that fit, below B (0 when not even one). */
static int rows_that_fit(const albert_backend *be, int B, int T, const albert_outputs *out)
{
    int lo = 0, hi = B - 1; /* B rows do not fit */
    while (lo < hi) {
        const int mid = lo + (hi - lo + 1) / 2;
        albert_memory_plan p;
        be->ops->plan(be, mid, T, out, &p);
        if (plan_fits(&p))
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int albert_engine_fits(const albert_engine *engine, int batch_size, int seq_len,
                       albert_error *err)
{
    return albert_engine_fits_outputs(engine, batch_size, seq_len, NULL, err);
}

int albert_engine_fits_outputs(const albert_engine *engine, int batch_size, int seq_len,
                               const albert_outputs *out, albert_error *err)
{
    if (!engine || batch_size < 1 || seq_len < 1)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_engine_fits: needs an engine, batch_size and seq_len >= 1");
    const albert_config *c = &engine->model->config;
    if (seq_len > c->max_position_embeddings)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_engine_fits: seq_len %d exceeds max_position_embeddings %d",
                           seq_len, c->max_position_embeddings);
    /* Backends count tokens in an int; within that (and the config's
     * bounds) no plan below can overflow 64 bits, so more rows never need
     * less memory and the search for what fits holds. */
    if ((int64_t)batch_size * seq_len > INT_MAX)
        return albert_fail(err, ALBERT_E_CAPACITY,
                           "a %d x %d batch has more than %d tokens, the most a batch may hold",
                           batch_size, seq_len, INT_MAX);
    const albert_backend *be = engine->backend;
    albert_memory_plan p;
    be->ops->plan(be, batch_size, seq_len, out, &p);
    if (plan_fits(&p))
        return albert_ok(err);
    char need[32], w[32], a[32], big[32], total[32], max[32], fit[64];
    albert_format_bytes(p.weights + p.activations, need, sizeof need);
    albert_format_bytes(p.weights, w, sizeof w);
    albert_format_bytes(p.activations, a, sizeof a);
    albert_format_bytes(p.largest_buffer, big, sizeof big);
    albert_format_bytes(p.device_total, total, sizeof total);
    albert_format_bytes(p.device_max_buffer, max, sizeof max);
    const int rows = rows_that_fit(be, batch_size, seq_len, out);
    if (rows > 0)
        snprintf(fit, sizeof fit, "at most %d rows of %d tokens fit", rows, seq_len);
    else
        snprintf(fit, sizeof fit, "not one row of %d tokens fits", seq_len);
    return albert_fail(err, ALBERT_E_CAPACITY,
                       "%.120s: a %d x %d batch needs %s (weights %s, batch buffers %s, the "
                       "largest %s); the device has %s (largest buffer %s): %s",
                       be->name, batch_size, seq_len, need, w, a, big, total, max, fit);
}

/* Checks and starts a batch for CALL (run or submit). */
static int start(albert_engine *engine, const albert_batch *batch, const albert_outputs *out,
                 const char *call, albert_error *err)
{
    if (!engine || !batch || !out)
        return albert_fail(err, ALBERT_E_ARG, "%s: NULL argument", call);
    if (out->pooled && out->pooling == ALBERT_POOL_NONE)
        return albert_fail(err, ALBERT_E_ARG, "%s: pooled buffer but pooling none", call);
    if (out->pooled && (out->pooling < ALBERT_POOL_NONE || out->pooling > ALBERT_POOL_LAST_TOKEN))
        return albert_fail(err, ALBERT_E_ARG, "%s: pooling %d is not an albert_pooling", call,
                           (int)out->pooling);
    int rc = albert_outputs_check_layers(&engine->model->config, out->layers, out->n_layers,
                                         out->skip_last_layers,
                                         out->pooled ? out->pooling : ALBERT_POOL_NONE, call, err);
    if (rc == ALBERT_OK)
        rc = albert_batch_check(&engine->model->config, batch, err);
    if (rc == ALBERT_OK)
        rc = albert_engine_fits_outputs(engine, batch->batch_size, batch->seq_len, out, err);
    if (rc == ALBERT_OK)
        rc = engine->backend->ops->run(engine->backend, batch, out, err);
    if (rc == ALBERT_OK)
        engine->in_flight++;
    return rc;
}

int albert_engine_run(albert_engine *engine, const albert_batch *batch, const albert_outputs *out,
                      albert_error *err)
{
    if (engine && engine->in_flight)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_engine_run: %d submitted batch(es) not yet waited for",
                           engine->in_flight);
    int rc = start(engine, batch, out, "albert_engine_run", err);
    return rc == ALBERT_OK ? albert_engine_wait(engine, err) : rc;
}

int albert_engine_submit(albert_engine *engine, const albert_batch *batch,
                         const albert_outputs *out, albert_error *err)
{
    if (engine && engine->in_flight >= ALBERT_ENGINE_MAX_IN_FLIGHT)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_engine_submit: %d batches in flight already, the most there "
                           "may be (wait for one first)",
                           engine->in_flight);
    return start(engine, batch, out, "albert_engine_submit", err);
}

int albert_engine_wait(albert_engine *engine, albert_error *err)
{
    if (!engine || engine->in_flight == 0)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_wait: %s",
                           engine ? "no batch in flight" : "NULL engine");
    engine->in_flight--;
    const albert_backend_ops *ops = engine->backend->ops;
    return ops->wait ? ops->wait(engine->backend, err) : albert_ok(err);
}

int albert_engine_in_flight(const albert_engine *engine)
{
    return engine ? engine->in_flight : 0;
}

int albert_engine_is_async(const albert_engine *engine)
{
    return engine && engine->backend->ops->wait != NULL;
}

static int check_timing(const albert_engine *engine, const char *call, albert_error *err)
{
    if (!engine)
        return albert_fail(err, ALBERT_E_ARG, "%s: NULL engine", call);
    if (!engine->backend->timing)
        return albert_fail(err, ALBERT_E_ARG,
                           "%s: the engine was created without options.timing", call);
    return ALBERT_OK;
}

int albert_engine_timing_get(const albert_engine *engine, albert_kernel_stat *stats,
                             size_t capacity, size_t *count, albert_error *err)
{
    int rc = check_timing(engine, "albert_engine_timing_get", err);
    if (rc != ALBERT_OK)
        return rc;
    if (!count || (capacity && !stats))
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_timing_get: NULL count or stats");
    const timing_table *t = &engine->backend->stats;
    for (size_t i = 0; i < t->n && i < capacity; i++) {
        const timing_entry *e = &t->entries[i];
        snprintf(stats[i].name, sizeof stats[i].name, "%s", e->name);
        stats[i].calls = e->calls;
        stats[i].total_ns = e->ns;
        stats[i].flops = e->flops;
        stats[i].bytes = e->bytes;
    }
    *count = t->n;
    return albert_ok(err);
}

int albert_engine_timing_reset(albert_engine *engine, albert_error *err)
{
    int rc = check_timing(engine, "albert_engine_timing_reset", err);
    if (rc == ALBERT_OK)
        timing_reset(&engine->backend->stats);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
