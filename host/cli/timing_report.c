/* The --profile table and --profile-json file. */
#include "cli/timing_report.h"
#include "cli/embed.h"
#include "cli/output.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[CLI_PHASE_COUNT] = {
    "read", "load", "tokenize", "batch", "warmup", "forward", "validate", "write"};

void cli_phases_start(cli_phases *ph)
{
    memset(ph, 0, sizeof *ph);
    ph->start = ph->last = albert_now_ns();
}

void cli_lap(cli_phases *ph, cli_phase phase)
{
    if (!ph)
        return;
    uint64_t now = albert_now_ns();
    ph->ns[phase] += now - ph->last;
    ph->last = now;
}

void cli_phases_stop(cli_phases *ph)
{
    if (ph)
        ph->last = albert_now_ns();
}

/* One kernel's row, in the units both outputs use. */
typedef struct row {
    const albert_kernel_stat *s;
    double ms, mean_us, share, gflops, gbps; /* gflops / gbps < 0: not applicable */
} row;

static row make_row(const albert_kernel_stat *s, uint64_t device_ns)
{
    row r = {s, s->total_ns / 1e6, 0, 0, -1, -1};
    r.mean_us = s->calls ? s->total_ns / 1e3 / (double)s->calls : 0;
    r.share = device_ns ? 100.0 * (double)s->total_ns / (double)device_ns : 0;
    if (s->total_ns && s->flops)
        r.gflops = (double)s->flops / (double)s->total_ns; /* FLOP/ns = GFLOP/s */
    if (s->total_ns && s->bytes)
        r.gbps = (double)s->bytes / (double)s->total_ns;
    return r;
}

/* The engine's totals in a malloc'd array (NULL with *N 0 when none). */
static int fetch_stats(albert_engine *engine, albert_kernel_stat **out, size_t *n,
                       albert_error *err)
{
    *out = NULL;
    *n = 0;
    if (!engine)
        return ALBERT_OK;
    size_t count = 0;
    albert_error e;
    if (albert_engine_timing_get(engine, NULL, 0, &count, &e) != ALBERT_OK)
        return albert_fail(err, e.code, "--profile: %s", e.msg);
    *out = calloc(count ? count : 1, sizeof **out);
    if (!*out)
        return albert_fail(err, ALBERT_E_NOMEM, "--profile: out of memory");
    if (albert_engine_timing_get(engine, *out, count, n, &e) != ALBERT_OK) {
        free(*out);
        *out = NULL;
        return albert_fail(err, e.code, "--profile: %s", e.msg);
    }
    return ALBERT_OK;
}

static void print_rate(double v)
{
    if (v < 0)
        fprintf(stderr, " %9s", "-");
    else
        fprintf(stderr, " %9.2f", v);
}

static void print_kernels(const char *device, const albert_kernel_stat *stats, size_t n,
                          uint64_t device_ns)
{
    fprintf(stderr, "albert-cl: profile of %s\n", device);
    if (!n)
        return;
    fprintf(stderr, "%-28s %7s %10s %10s %8s %9s %9s\n", "kernel", "calls", "total ms", "mean us",
            "device%", "GFLOP/s", "GB/s");
    uint64_t flops = 0;
    for (size_t i = 0; i < n; i++) {
        row r = make_row(&stats[i], device_ns);
        fprintf(stderr, "%-28.28s %7llu %10.3f %10.1f %7.1f%%", stats[i].name,
                (unsigned long long)stats[i].calls, r.ms, r.mean_us, r.share);
        print_rate(r.gflops);
        print_rate(r.gbps);
        fputc('\n', stderr);
        flops += stats[i].flops;
    }
    fprintf(stderr, "%-28s %7s %10.3f %10s %7.1f%%", "device total", "", device_ns / 1e6, "",
            100.0);
    print_rate(device_ns ? (double)flops / (double)device_ns : -1);
    fputc('\n', stderr);
}

static void print_phases(const cli_phases *ph)
{
    fprintf(stderr, "%-28s %10s %7s\n", "host phase", "ms", "wall%");
    const double wall = (double)(ph->last - ph->start);
    for (int p = 0; p < CLI_PHASE_COUNT; p++)
        if (ph->ns[p])
            fprintf(stderr, "%-28s %10.3f %6.1f%%\n", phase_names[p], ph->ns[p] / 1e6,
                    wall > 0 ? 100.0 * (double)ph->ns[p] / wall : 0);
    fprintf(stderr, "%-28s %10.3f\n", "wall", wall / 1e6);
}

/* A device's share of the records' tokens, in percent. */
static double share(const cli_outcome *done, int i)
{
    uint64_t all = 0;
    for (int k = 0; k < done->stats.engine_count; k++)
        all += done->devices[k].tokens;
    return all ? 100.0 * (double)done->devices[i].tokens / (double)all : 0;
}

static void print_devices(const cli_outcome *done)
{
    if (!done || !done->devices || done->stats.engine_count == 0)
        return;
    fprintf(stderr, "%-40s %8s %9s %10s %10s %10s %7s\n", "device", "batches", "records",
            "tokens", "padded", "busy ms", "share%");
    for (int i = 0; i < done->stats.engine_count; i++) {
        const albert_scheduler_device_stats *d = &done->devices[i];
        fprintf(stderr, "%-40.40s %8llu %9llu %10llu %10llu %10.3f %6.1f%%\n", d->name,
                (unsigned long long)d->batches, (unsigned long long)d->records,
                (unsigned long long)d->tokens, (unsigned long long)d->padded_tokens,
                d->busy_ns / 1e6, share(done, i));
    }
}

static cJSON *kernel_json(const albert_kernel_stat *s, uint64_t device_ns)
{
    row r = make_row(s, device_ns);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddNumberToObject(o, "calls", (double)s->calls);
    cJSON_AddNumberToObject(o, "total_ms", r.ms);
    cJSON_AddNumberToObject(o, "mean_us", r.mean_us);
    cJSON_AddNumberToObject(o, "device_pct", r.share);
    cJSON_AddNumberToObject(o, "flops", (double)s->flops);
    cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
    if (r.gflops >= 0)
        cJSON_AddNumberToObject(o, "gflops", r.gflops);
    if (r.gbps >= 0)
        cJSON_AddNumberToObject(o, "gb_per_s", r.gbps);
    return o;
}

/* One engine's kernels. */
typedef struct engine_stats {
    const char *device;
    albert_kernel_stat *stats;
    size_t n;
    uint64_t device_ns;
} engine_stats;

static void add_kernels(cJSON *o, const engine_stats *e)
{
    cJSON_AddStringToObject(o, "device", e->device);
    cJSON_AddNumberToObject(o, "device_total_ms", e->device_ns / 1e6);
    cJSON *kernels = cJSON_AddArrayToObject(o, "kernels");
    for (size_t i = 0; i < e->n; i++)
        cJSON_AddItemToArray(kernels, kernel_json(&e->stats[i], e->device_ns));
}

static void add_devices(cJSON *root, const cli_outcome *done)
{
    if (!done || !done->devices)
        return;
    cJSON *devices = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < done->stats.engine_count; i++) {
        const albert_scheduler_device_stats *d = &done->devices[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", d->name);
        cJSON_AddNumberToObject(o, "batches", (double)d->batches);
        cJSON_AddNumberToObject(o, "records", (double)d->records);
        cJSON_AddNumberToObject(o, "tokens", (double)d->tokens);
        cJSON_AddNumberToObject(o, "padded_tokens", (double)d->padded_tokens);
        cJSON_AddNumberToObject(o, "busy_ms", d->busy_ns / 1e6);
        cJSON_AddNumberToObject(o, "share_pct", share(done, i));
        cJSON_AddItemToArray(devices, o);
    }
}

/* The first engine's kernels at the top (as a one-device run has them),
 * every engine's under "engines". */
static cJSON *profile_json(const engine_stats *engines, int n, const cli_outcome *done,
                           const cli_phases *ph)
{
    static const engine_stats none = {"", NULL, 0, 0};
    cJSON *root = cJSON_CreateObject();
    add_kernels(root, n ? &engines[0] : &none);
    cJSON_AddNumberToObject(root, "wall_ms", (double)(ph->last - ph->start) / 1e6);
    cJSON *list = cJSON_AddArrayToObject(root, "engines");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        add_kernels(o, &engines[i]);
        cJSON_AddItemToArray(list, o);
    }
    add_devices(root, done);
    cJSON *phases = cJSON_AddArrayToObject(root, "host_phases");
    for (int p = 0; p < CLI_PHASE_COUNT; p++) {
        if (!ph->ns[p])
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", phase_names[p]);
        cJSON_AddNumberToObject(o, "ms", ph->ns[p] / 1e6);
        cJSON_AddItemToArray(phases, o);
    }
    return root;
}

/* Through a sink like the records: all or nothing, and a full disk fails
 * the run. */
static int write_json(const char *path, cJSON *root, albert_error *err)
{
    char *text = cJSON_Print(root);
    if (!text)
        return albert_fail(err, ALBERT_E_NOMEM, "--profile-json: out of memory");
    cli_sink sink;
    albert_error e;
    int rc = cli_sink_open(&sink, path, &e);
    if (rc == ALBERT_OK) {
        errno = 0;
        fputs(text, sink.f);
        fputc('\n', sink.f);
        rc = cli_sink_commit(&sink, &e);
    }
    cJSON_free(text);
    return rc == ALBERT_OK ? ALBERT_OK : albert_fail(err, rc, "--profile-json: %s", e.msg);
}

/* The tables are output asked for: losing them fails the run (the message
 * then is lost too, the exit status is not). */
static int write_tables(const engine_stats *engines, int n, const cli_outcome *done,
                        const cli_phases *ph, albert_error *err)
{
    errno = 0;
    if (n == 0)
        fprintf(stderr, "albert-cl: profile of tokenize only\n");
    for (int i = 0; i < n; i++)
        print_kernels(engines[i].device, engines[i].stats, engines[i].n, engines[i].device_ns);
    print_phases(ph);
    print_devices(done);
    int e = cli_stream_error(stderr);
    return e ? albert_fail(err, ALBERT_E_IO, "--profile: cannot write the table on stderr: %s",
                           strerror(e))
             : ALBERT_OK;
}

static int collect(albert_engine *const *engines, int n, engine_stats *out, albert_error *err)
{
    for (int i = 0; i < n; i++) {
        int rc = fetch_stats(engines[i], &out[i].stats, &out[i].n, err);
        if (rc != ALBERT_OK)
            return rc;
        out[i].device = albert_engine_device_name(engines[i]);
        for (size_t k = 0; k < out[i].n; k++)
            out[i].device_ns += out[i].stats[k].total_ns;
    }
    return ALBERT_OK;
}

int cli_profile_report(const cli_options *o, albert_engine *const *engines, int nengines,
                       const cli_outcome *done, const cli_phases *ph, albert_error *err)
{
    engine_stats *all = calloc(nengines ? (size_t)nengines : 1, sizeof *all);
    if (!all)
        return albert_fail(err, ALBERT_E_NOMEM, "--profile: out of memory");
    int rc = collect(engines, nengines, all, err);
    if (rc == ALBERT_OK && o->profile)
        rc = write_tables(all, nengines, done, ph, err);
    if (rc == ALBERT_OK && o->profile_json) {
        cJSON *root = profile_json(all, nengines, done, ph);
        rc = root ? write_json(o->profile_json, root, err)
                  : albert_fail(err, ALBERT_E_NOMEM, "--profile-json: out of memory");
        cJSON_Delete(root);
    }
    for (int i = 0; i < nengines; i++)
        free(all[i].stats);
    free(all);
    return rc;
}
