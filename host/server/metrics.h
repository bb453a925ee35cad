/* What GET /metrics exposes (Prometheus text format 0.0.4): requests by
 * endpoint and status, a latency histogram, inputs and tokens, and the
 * scheduler's per-device counters. */
#ifndef ALBERT_SERVER_METRICS_H
#define ALBERT_SERVER_METRICS_H

#include "cli/buf.h"
#include "server/dispatch.h"

#include <pthread.h>
#include <stdint.h>

#define SRV_LATENCY_BUCKETS 12
/* Endpoints x statuses: api.c checks that its routes fit. */
#define SRV_STATUS_ROWS 256

typedef struct srv_metrics {
    pthread_mutex_t lock;
    struct {
        const char *endpoint; /* a string literal */
        int status;
        uint64_t count;
    } rows[SRV_STATUS_ROWS];
    int nrows;
    uint64_t latency[SRV_LATENCY_BUCKETS]; /* per bucket, not cumulative */
    double latency_sum_s;
    uint64_t requests, inputs, tokens;
    int in_flight;
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_destroy(srv_metrics *m);
/* One answered request; ENDPOINT a string literal ("other" for unknown paths). */
void srv_metrics_request(srv_metrics *m, const char *endpoint, int status, double seconds);
/* Embedded inputs and their tokens. */
void srv_metrics_inputs(srv_metrics *m, uint64_t inputs, uint64_t tokens);
void srv_metrics_in_flight(srv_metrics *m, int delta);
void srv_metrics_write(srv_metrics *m, const srv_dispatch *d, cli_buf *out);

#endif
