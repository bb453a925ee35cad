/* --benchmark: synthetic batches, wall-clock timing, one JSON line. */
#include "cli/benchmark.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ids below this are <pad>, <unk>, [CLS], [SEP], [MASK]: not text. */
#define FIRST_TEXT_ID 5
#define BENCH_SEED 0x9e3779b9u

static uint32_t xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* [CLS] random ids [SEP] per row, the same ones every run. */
static void synthetic_ids(int B, int T, int vocab, int32_t *ids)
{
    uint32_t state = BENCH_SEED;
    const int first = vocab > FIRST_TEXT_ID ? FIRST_TEXT_ID : 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            ids[(size_t)b * T + t] = t == 0       ? ALBERT_CLS_ID
                                     : t == T - 1 ? ALBERT_SEP_ID
                                                  : first + (int32_t)(xorshift32(&state) %
                                                                      (uint32_t)(vocab - first));
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Batch buffers: ids, mask and the output the pooling asks for. */
typedef struct bench_bufs {
    int32_t *ids, *mask;
    float *out;
    double *ms;
} bench_bufs;

static int alloc_bufs(bench_bufs *b, const cli_options *o, const albert_config *cfg,
                      albert_outputs *out, albert_error *err)
{
    const size_t tokens = (size_t)o->batch_size * (size_t)o->seq_len;
    /* Several modes pool on the host from every token's vector, as a run
     * does: the forward timed is the one that gives them. */
    const int pooled = o->pooling != ALBERT_POOL_NONE && !o->pooling_modes;
    const size_t floats = (pooled ? (size_t)o->batch_size : tokens) * (size_t)cli_vector_width(o, cfg);
    b->ids = malloc(tokens * sizeof *b->ids);
    b->mask = malloc(tokens * sizeof *b->mask);
    b->out = malloc(floats * sizeof *b->out);
    b->ms = malloc((size_t)o->iterations * sizeof *b->ms);
    if (!b->ids || !b->mask || !b->out || !b->ms)
        return albert_fail(err, ALBERT_E_NOMEM, "--benchmark: out of memory for %d x %d",
                        o->batch_size, o->seq_len);
    for (size_t i = 0; i < tokens; i++)
        b->mask[i] = 1;
    synthetic_ids(o->batch_size, o->seq_len, cfg->vocab_size, b->ids);
    memset(out, 0, sizeof *out);
    out->pooling = pooled ? (albert_pooling)o->pooling : ALBERT_POOL_NONE;
    out->normalize = o->normalize;
    out->skip_last_layers = o->skip_last_layers;
    out->layers = o->layers;
    out->n_layers = o->n_layers;
    out->layers_concat = o->layer_combine == CLI_COMBINE_CONCAT;
    if (pooled)
        out->pooled = b->out;
    else
        out->last_hidden_state = b->out;
    return ALBERT_OK;
}

static void free_bufs(bench_bufs *b)
{
    free(b->ids);
    free(b->mask);
    free(b->out);
    free(b->ms);
}

static int run_once(albert_engine *engine, const albert_batch *batch, const albert_outputs *out,
                    albert_error *err)
{
    albert_error e;
    if (albert_engine_run(engine, batch, out, &e) != ALBERT_OK)
        return albert_fail(err, e.code, "--benchmark: %s", e.msg);
    return ALBERT_OK;
}

/* The device name as a JSON string (it is free text from the driver). */
static void print_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_result(const cli_options *o, albert_engine *engine, const albert_config *cfg,
                         const albert_outputs *asked, double *ms, FILE *out)
{
    const int n = o->iterations;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += ms[i];
    qsort(ms, (size_t)n, sizeof *ms, by_value);
    const double mean = sum / n, median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    const double flops = (double)albert_forward_flops(cfg, o->batch_size, o->seq_len, asked);
    const double tokens = (double)o->batch_size * o->seq_len;
    fprintf(out, "{\"device\": ");
    print_json_string(out, albert_engine_device_name(engine));
    fprintf(out,
            ", \"batch_size\": %d, \"seq_len\": %d, \"iterations\": %d, \"warmup\": %d, "
            "\"tokens_per_s\": %.1f, \"ms_per_batch\": %.3f, \"ms_min\": %.3f, "
            "\"ms_median\": %.3f, \"gflops\": %.4g, \"flops_per_batch\": %.0f, ",
            o->batch_size, o->seq_len, n, o->warmup, tokens / (mean / 1e3), mean, ms[0], median,
            flops / (mean / 1e3) / 1e9, flops);
    if (!asked->n_layers) {
        fprintf(out, "\"layer\": %d}\n", cfg->num_hidden_layers - asked->skip_last_layers);
        return;
    }
    fprintf(out, "\"layers\": [");
    for (int i = 0; i < asked->n_layers; i++)
        fprintf(out, "%s%d", i ? ", " : "", asked->layers[i]);
    fprintf(out, "], \"layer_combine\": \"%s\"}\n", asked->layers_concat ? "concat" : "mean");
}

int cli_benchmark(const cli_options *o, albert_engine *engine, const albert_config *cfg,
                  cli_phases *ph, cli_sink *sink, albert_error *err)
{
    if (o->seq_len > cfg->max_position_embeddings)
        return albert_fail(err, ALBERT_E_INPUT,
                        "--seq-len %d exceeds the model's max_position_embeddings %d", o->seq_len,
                        cfg->max_position_embeddings);
    bench_bufs b = {NULL, NULL, NULL, NULL};
    albert_outputs out;
    int rc = alloc_bufs(&b, o, cfg, &out, err);
    const albert_batch batch = {o->batch_size, o->seq_len, b.ids, NULL, b.mask};
    for (int i = 0; rc == ALBERT_OK && i < o->warmup; i++)
        rc = run_once(engine, &batch, &out, err);
    cli_lap(ph, CLI_PHASE_WARMUP);
    if (rc == ALBERT_OK && (o->profile || o->profile_json))
        (void)albert_engine_timing_reset(engine, NULL);
    for (int i = 0; rc == ALBERT_OK && i < o->iterations; i++) {
        uint64_t t0 = albert_now_ns();
        rc = run_once(engine, &batch, &out, err);
        b.ms[i] = (double)(albert_now_ns() - t0) / 1e6;
    }
    cli_lap(ph, CLI_PHASE_FORWARD);
    if (rc == ALBERT_OK) {
        errno = 0;
        print_result(o, engine, cfg, &out, b.ms, sink->f);
        rc = cli_sink_check(sink, err);
    }
    free_bufs(&b);
    return rc;
}
