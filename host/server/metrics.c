/* Counters behind GET /metrics. */
#include "server/metrics.h"

#include <inttypes.h>
#include <string.h>

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bucket_le[SRV_LATENCY_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                          0.5,   1,    2.5,   5,    10};

void srv_metrics_init(srv_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void srv_metrics_destroy(srv_metrics *m)
{
    pthread_mutex_destroy(&m->lock);
}

static void count_status(srv_metrics *m, const char *endpoint, int status)
{
    for (int i = 0; i < m->nrows; i++)
        if (m->rows[i].endpoint == endpoint && m->rows[i].status == status) {
            m->rows[i].count++;
            return;
        }
    /* Endpoints and statuses are few (api.c's routes, other, x 10); the table
     * holds them all. */
    if (m->nrows < SRV_STATUS_ROWS) {
        m->rows[m->nrows].endpoint = endpoint;
        m->rows[m->nrows].status = status;
        m->rows[m->nrows++].count = 1;
    }
}

void srv_metrics_request(srv_metrics *m, const char *endpoint, int status, double seconds)
{
    int b = 0;
    while (b < SRV_LATENCY_BUCKETS - 1 && seconds > bucket_le[b])
        b++;
    pthread_mutex_lock(&m->lock);
    count_status(m, endpoint, status);
    m->latency[b]++;
    m->latency_sum_s += seconds;
    m->requests++;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_inputs(srv_metrics *m, uint64_t inputs, uint64_t tokens)
{
    pthread_mutex_lock(&m->lock);
    m->inputs += inputs;
    m->tokens += tokens;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_in_flight(srv_metrics *m, int delta)
{
    pthread_mutex_lock(&m->lock);
    m->in_flight += delta;
    pthread_mutex_unlock(&m->lock);
}

static void write_header(cli_buf *out, const char *name, const char *type, const char *help)
{
    cli_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_requests(const srv_metrics *m, cli_buf *out)
{
    write_header(out, "albert_requests_total", "counter", "HTTP requests answered");
    for (int i = 0; i < m->nrows; i++)
        cli_buf_printf(out, "albert_requests_total{endpoint=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                       m->rows[i].endpoint, m->rows[i].status, m->rows[i].count);
    write_header(out, "albert_request_duration_seconds", "histogram",
                 "time from a request's arrival to its answer");
    uint64_t cumulative = 0;
    for (int b = 0; b < SRV_LATENCY_BUCKETS; b++) {
        cumulative += m->latency[b];
        if (b < SRV_LATENCY_BUCKETS - 1)
            cli_buf_printf(out, "albert_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                           bucket_le[b], cumulative);
        else
            cli_buf_printf(out, "albert_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                           cumulative);
    }
    cli_buf_printf(out, "albert_request_duration_seconds_sum %.6f\n", m->latency_sum_s);
    cli_buf_printf(out, "albert_request_duration_seconds_count %" PRIu64 "\n", m->requests);
}

static void write_counter(cli_buf *out, const char *name, const char *type, const char *help,
                          uint64_t value)
{
    write_header(out, name, type, help);
    cli_buf_printf(out, "%s %" PRIu64 "\n", name, value);
}

/* One labelled line per device: the name with quotes and backslashes escaped. */
static void write_device_value(cli_buf *out, const char *metric, const char *device,
                               const char *value)
{
    cli_buf_printf(out, "%s{device=\"", metric);
    for (const char *p = device; *p; p++) {
        if (*p == '"' || *p == '\\')
            cli_buf_put(out, "\\", 1);
        cli_buf_put(out, p, 1);
    }
    cli_buf_printf(out, "\"} %s\n", value);
}

static void write_devices(const srv_dispatch *d, cli_buf *out)
{
    albert_scheduler_device_stats dev[16];
    albert_scheduler_stats st;
    albert_error e;
    if (albert_scheduler_stats_get(srv_dispatch_scheduler(d), &st, dev, 16, &e) != ALBERT_OK)
        return;
    int n = st.engine_count < 16 ? st.engine_count : 16;
    write_counter(out, "albert_queue_records", "gauge", "inputs pushed and not yet answered",
                  st.pushed - st.returned);
    static const struct {
        const char *name, *help;
    } series[] = {
        {"albert_device_batches_total", "forward passes run"},
        {"albert_device_records_total", "inputs embedded"},
        {"albert_device_tokens_total", "tokens embedded, without padding"},
        {"albert_device_padded_tokens_total", "rows x padded length of the batches"},
        {"albert_device_busy_seconds_total", "time in the forward pass"},
    };
    for (size_t s = 0; s < sizeof series / sizeof series[0]; s++) {
        write_header(out, series[s].name, "counter", series[s].help);
        for (int i = 0; i < n; i++) {
            uint64_t v[] = {dev[i].batches, dev[i].records, dev[i].tokens, dev[i].padded_tokens};
            char value[32];
            if (s < 4)
                snprintf(value, sizeof value, "%" PRIu64, v[s]);
            else
                snprintf(value, sizeof value, "%.6f", (double)dev[i].busy_ns * 1e-9);
            write_device_value(out, series[s].name, dev[i].name, value);
        }
    }
}

void srv_metrics_write(srv_metrics *m, const srv_dispatch *d, cli_buf *out)
{
    pthread_mutex_lock(&m->lock);
    write_requests(m, out);
    write_counter(out, "albert_inputs_total", "counter", "inputs embedded", m->inputs);
    write_counter(out, "albert_prompt_tokens_total", "counter", "tokens of the inputs embedded",
                  m->tokens);
    write_counter(out, "albert_requests_in_flight", "gauge", "requests being answered",
                  (uint64_t)m->in_flight);
    pthread_mutex_unlock(&m->lock);
    write_devices(d, out);
}
