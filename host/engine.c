/* The public engine: picks a backend for the requested device and checks
 * every batch before a backend sees it, so backends can trust their input. */
#include "backend.h"
#include "common.h"
#include "opencl_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct albert_engine {
    const albert_model *model;
    albert_backend *backend;
};

void albert_engine_options_init(albert_engine_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->device = ALBERT_DEVICE_AUTO;
}

/* First GPU, else first OpenCL device, else -1 (the CPU backend). */
static int pick_auto_device(void)
{
    int count = 0, first = -1;
    albert_error ignored;
    if (albert_device_count(&count, &ignored) != ALBERT_OK)
        return -1;
    for (int i = 0; i < count; i++) {
        albert_device_info info;
        if (ocl_device_info(i, &info, &ignored) != ALBERT_OK)
            continue;
        if (strcmp(info.type, "GPU") == 0)
            return i;
        if (first < 0)
            first = i;
    }
    return first;
}

int albert_engine_create(const albert_model *model, const albert_engine_options *opt,
                         albert_engine **out, albert_error *err)
{
    *out = NULL;
    if (!model || !opt)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_create: NULL model or options");
    albert_engine *e = calloc(1, sizeof *e);
    if (!e)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_engine_create: out of memory");
    e->model = model;
    int device = opt->device == ALBERT_DEVICE_AUTO ? pick_auto_device() : opt->device;
    int rc = device == ALBERT_DEVICE_CPU
                 ? albert_backend_cpu_create(model, opt->threads, opt->profile, &e->backend, err)
                 : albert_backend_opencl_create(model, opt, device, &e->backend, err);
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
    kstat_free(&engine->backend->stats);
    engine->backend->ops->destroy(engine->backend);
    free(engine);
}

const char *albert_engine_device_name(const albert_engine *engine)
{
    return engine->backend->name;
}

static int check_batch(const albert_config *c, const albert_batch *b, albert_error *err)
{
    if (b->batch_size < 1 || b->seq_len < 1 || !b->input_ids)
        return albert_fail(err, ALBERT_E_ARG, "batch: needs batch_size >= 1, seq_len >= 1, input_ids");
    if (b->seq_len > c->max_position_embeddings)
        return albert_fail(err, ALBERT_E_INPUT,
                           "batch: seq_len %d exceeds max_position_embeddings %d", b->seq_len,
                           c->max_position_embeddings);
    size_t n = (size_t)b->batch_size * (size_t)b->seq_len;
    for (size_t i = 0; i < n; i++) {
        int row = (int)(i / (size_t)b->seq_len), col = (int)(i % (size_t)b->seq_len);
        if (b->input_ids[i] < 0 || b->input_ids[i] >= c->vocab_size)
            return albert_fail(err, ALBERT_E_INPUT,
                               "batch row %d position %d: input id %d outside the vocabulary "
                               "[0, %d)",
                               row, col, (int)b->input_ids[i], c->vocab_size);
        if (b->token_type_ids &&
            (b->token_type_ids[i] < 0 || b->token_type_ids[i] >= c->type_vocab_size))
            return albert_fail(err, ALBERT_E_INPUT,
                               "batch row %d position %d: token type %d outside [0, %d)", row, col,
                               (int)b->token_type_ids[i], c->type_vocab_size);
        if (b->attention_mask && b->attention_mask[i] != 0 && b->attention_mask[i] != 1)
            return albert_fail(err, ALBERT_E_INPUT,
                               "batch row %d position %d: attention mask %d is not 0 or 1", row,
                               col, (int)b->attention_mask[i]);
    }
    return ALBERT_OK;
}

int albert_engine_run(albert_engine *engine, const albert_batch *batch, const albert_outputs *out,
                      albert_error *err)
{
    if (!engine || !batch || !out)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_run: NULL argument");
    if (out->pooled && out->pooling == ALBERT_POOL_NONE)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_run: pooled buffer but pooling none");
    int rc = check_batch(&engine->model->config, batch, err);
    if (rc != ALBERT_OK)
        return rc;
    return engine->backend->ops->run(engine->backend, batch, out, err);
}

static int check_profiling(const albert_engine *engine, const char *call, albert_error *err)
{
    if (!engine)
        return albert_fail(err, ALBERT_E_ARG, "%s: NULL engine", call);
    if (!engine->backend->profiling)
        return albert_fail(err, ALBERT_E_ARG,
                           "%s: the engine was created without options.profile", call);
    return ALBERT_OK;
}

int albert_engine_profile_get(const albert_engine *engine, albert_kernel_stat *stats,
                              size_t capacity, size_t *count, albert_error *err)
{
    int rc = check_profiling(engine, "albert_engine_profile_get", err);
    if (rc != ALBERT_OK)
        return rc;
    if (!count || (capacity && !stats))
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_profile_get: NULL count or stats");
    const kstat_table *t = &engine->backend->stats;
    for (size_t i = 0; i < t->n && i < capacity; i++) {
        const kstat_entry *e = &t->entries[i];
        snprintf(stats[i].name, sizeof stats[i].name, "%s", e->name);
        stats[i].calls = e->calls;
        stats[i].total_ns = e->ns;
        stats[i].flops = e->flops;
        stats[i].bytes = e->bytes;
    }
    *count = t->n;
    return albert_ok(err);
}

int albert_engine_profile_reset(albert_engine *engine, albert_error *err)
{
    int rc = check_profiling(engine, "albert_engine_profile_reset", err);
    if (rc == ALBERT_OK)
        kstat_reset(&engine->backend->stats);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
