/* The HTTP side of albert-cl serve, on GNU libmicrohttpd (Debian's
 * libmicrohttpd-dev): a small, well-kept C library that parses HTTP/1.1,
 * keeps connections alive and runs one thread per connection, so a request
 * may simply wait for its embeddings.  Admission (--max-concurrent-requests,
 * --payload-limit) and the drain on SIGTERM live here; the endpoints in
 * api.c. */
#include "server/server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct server {
    srv_api api;
    srv_metrics metrics;
    const srv_launch *launch;
    pthread_mutex_t lock;
    pthread_cond_t idle;   /* unsent went to 0 */
    int in_flight;         /* admitted requests not yet answered: against the limit */
    int unsent;            /* admitted requests whose answer is not sent yet: the drain's */
    volatile int stopping; /* read by /health without the lock: a flag */
} server;

/* One request on a connection, from its headers to its answer's end. */
typedef struct request {
    uint64_t start_ns;
    cli_buf body;
    uint64_t seen; /* body bytes received, kept or not */
    int too_large;
    int admitted; /* counted in in_flight until answered, in unsent until sent */
    int answered;
    int refused;  /* 429 or 503, decided when its body was in */
    int unauthorized; /* no or a wrong key (--api-key): 401 before the body */
} request;

/* A body over the limit is read and dropped (so the client gets its 413)
 * up to this many times the limit; past it, or while stopping, the
 * connection is closed instead. */
#define DISCARD_LIMITS 4

/* The stop signals: SIGHUP too, unless it was ignored on entry (nohup). */
static void stop_signals(sigset_t *set)
{
    struct sigaction hup;
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
        sigaddset(set, SIGHUP);
}

void srv_block_signals(void)
{
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Work requests beyond --max-concurrent-requests are refused at once (429)
 * instead of queueing without bound; none are taken once stopping.  Taken
 * once the body is in: a client that sends its headers and then nothing
 * (or a slow upload) holds no slot and keeps no drain waiting. */
static void admit(server *s, request *r)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping)
        r->refused = 503;
    else if (s->in_flight >= s->launch->settings->max_concurrent)
        r->refused = 429;
    else
        r->admitted = 1;
    s->in_flight += r->admitted;
    s->unsent += r->admitted;
    pthread_mutex_unlock(&s->lock);
    if (r->admitted)
        srv_metrics_in_flight(&s->metrics, 1);
}

/* Before the answer is queued: a client that sends its next request as soon
 * as it has the answer must find the slot free. */
static void answered(server *s, request *r)
{
    r->answered = 1;
    if (!r->admitted)
        return;
    srv_metrics_in_flight(&s->metrics, -1);
    pthread_mutex_lock(&s->lock);
    s->in_flight--;
    pthread_mutex_unlock(&s->lock);
}

static void refuse(const server *s, const request *r, const char *path, srv_reply *reply)
{
    char msg[160];
    if (r->too_large) {
        snprintf(msg, sizeof msg, "the request body is larger than the payload limit of %zu bytes",
                 s->launch->settings->payload_limit);
        srv_api_error(path, 413, "Validation", msg, reply);
    } else if (r->refused == 429) {
        snprintf(msg, sizeof msg, "the server is answering its %d concurrent requests: retry later",
                 s->launch->settings->max_concurrent);
        srv_api_error(path, 429, "Overloaded", msg, reply);
    } else {
        srv_api_error(path, 503, "Unhealthy", "the server is stopping", reply);
    }
}

/* With --api-key every request but GET /health or /ping (a probe carries
 * no key) needs "Authorization: Bearer KEY", compared in constant time. */
static int authorized(const server *s, struct MHD_Connection *mc, const char *url,
                      const char *method)
{
    const char *key = s->launch->settings->api_key;
    if (!key || (srv_api_is_probe(url) && strcmp(method, "GET") == 0))
        return 1;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    for (h += 7; *h == ' ';)
        h++;
    const size_t n = strlen(key);
    return strlen(h) == n && sodium_memcmp(h, key, n) == 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *mc, srv_reply *reply)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        reply->body.len, reply->body.data ? reply->body.data : (void *)"", 
        reply->body.data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(reply->body.data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    if (reply->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(mc, (unsigned)reply->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The body arrives in pieces; past the payload limit it is read and
 * dropped, within bounds (0: close the connection). */
static int take_body(server *s, request *r, const char *data, size_t n)
{
    size_t limit = s->launch->settings->payload_limit;
    r->seen += n;
    if (!r->too_large && r->body.len + n <= limit) {
        cli_buf_put(&r->body, data, n);
        return 1;
    }
    r->too_large = 1;
    return !s->stopping && r->seen <= DISCARD_LIMITS * (uint64_t)limit;
}

static enum MHD_Result answer(server *s, request *r, struct MHD_Connection *mc, const char *url,
                              const char *method);

/* A client that sent "Expect: 100-continue" waits for a go-ahead before the
 * body: a body refused for its size need not be sent at all. */
static int expects_continue(struct MHD_Connection *mc)
{
    const char *expect = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return expect && strcasecmp(expect, "100-continue") == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    server *s = cls;
    request *r = *state;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->start_ns = albert_now_ns();
        *state = r;
        const char *length = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t declared = length ? strtoull(length, NULL, 10) : 0;
        uint64_t limit = s->launch->settings->payload_limit;
        r->too_large = declared > limit;
        r->unauthorized = !authorized(s, mc, url, method);
        if (r->unauthorized) /* at once: its body is not worth reading */
            return answer(s, r, mc, url, method);
        /* Before the body: the client waits for a go-ahead, or would send
         * more than is worth reading (MHD then closes the connection). */
        if (r->too_large && (expects_continue(mc) || declared > DISCARD_LIMITS * limit))
            return answer(s, r, mc, url, method);
        return MHD_YES;
    }
    if (*upload_size) {
        int go_on = take_body(s, r, upload, *upload_size);
        *upload_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }
    return answer(s, r, mc, url, method);
}

/* The answer to R, once its body arrived (or, refused for its size, before). */
static enum MHD_Result answer(server *s, request *r, struct MHD_Connection *mc, const char *url,
                              const char *method)
{
    srv_reply reply;
    memset(&reply, 0, sizeof reply);
    if (!r->too_large && !r->unauthorized && srv_api_is_work(url))
        admit(s, r);
    if (r->unauthorized)
        srv_api_error(url, 401, "Unauthorized",
                      "this server wants \"Authorization: Bearer KEY\" with its --api-key",
                      &reply);
    else if (r->too_large || r->refused)
        refuse(s, r, url, &reply);
    else if (r->body.nomem)
        srv_api_error(url, 500, "Backend", "out of memory for the request body", &reply);
    else
        srv_api_answer(&s->api, method, url, r->body.data ? r->body.data : "", r->body.len, &reply);
    answered(s, r);
    srv_metrics_request(&s->metrics, srv_api_endpoint(url), reply.status,
                        (double)(albert_now_ns() - r->start_ns) * 1e-9);
    return send_reply(mc, &reply);
}

/* After the answer went out (or the connection broke): a drain waits for this. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)mc;
    (void)code;
    server *s = cls;
    request *r = *state;
    if (!r)
        return;
    if (!r->answered)
        answered(s, r); /* the client went away before its answer: its slot is free */
    if (r->admitted) {
        pthread_mutex_lock(&s->lock);
        if (--s->unsent == 0)
            pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
    }
    free(r->body.data);
    free(r);
    *state = NULL;
}

static void on_http_message(void *cls, const char *fmt, va_list ap)
{
    const server *s = cls;
    if (s->launch->quiet)
        return;
    fputs("albert-cl serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* A listening socket on HOST:PORT (SO_REUSEADDR: a restarted server need not
 * wait out TIME_WAIT); *BOUND gets the port taken. */
static int listen_on(const char *host, int port, int *bound, int *ipv6, albert_error *err)
{
    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int e = getaddrinfo(host, service, &hints, &ai);
    if (e != 0) {
        albert_fail(err, ALBERT_E_ARG, "--host %s: %s", host, gai_strerror(e));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), one = 1;
    *ipv6 = ai->ai_family == AF_INET6;
    int ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
             bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0;
    int saved = errno;
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (ok && getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        *bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                : ((struct sockaddr_in *)&sa)->sin_port);
        return fd;
    }
    if (fd >= 0)
        close(fd);
    albert_fail(err, ALBERT_E_IO, "cannot listen on %s port %d: %s", host, port, strerror(saved));
    return -1;
}

static struct MHD_Daemon *start_http(server *s, int fd, int ipv6)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    /* The logger first: libmicrohttpd's own would take the messages before it. */
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_http_message, s,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            /* Room for idle keep-alive connections beside the busy ones. */
                            MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)s->launch->settings->max_concurrent + 512,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
}

static void announce(const srv_launch *l, int port)
{
    const srv_settings *set = l->settings;
    int bracket = strchr(l->host, ':') != NULL;
    fprintf(stderr, "albert-cl serve: listening on http://%s%s%s:%d (model %s, %d device%s:",
            bracket ? "[" : "", l->host, bracket ? "]" : "", port, set->model_name, set->ndevices,
            set->ndevices == 1 ? "" : "s");
    for (int i = 0; i < set->ndevices; i++)
        fprintf(stderr, "%s %s", i ? ";" : "", set->devices[i]);
    fputs(")\n", stderr);
}

/* Whether a second stop signal came (it ends the drain at once). */
static int second_signal(const sigset_t *set)
{
    struct timespec now = {0, 0};
    return sigtimedwait(set, NULL, &now) > 0;
}

/* Until a stop signal; then no new connections, and the admitted requests
 * answered (or a second signal). */
static void wait_and_drain(server *s, struct MHD_Daemon *d)
{
    sigset_t set;
    stop_signals(&set);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    /* The listening socket stays open until the daemon is stopped
     * (microhttpd.h: its threads may still poll it). */
    int fd = MHD_quiesce_daemon(d);
    pthread_mutex_lock(&s->lock);
    fprintf(stderr, "albert-cl serve: %s: finishing %d request%s in flight (again: stop now)\n",
            strsignal(sig), s->unsent, s->unsent == 1 ? "" : "s");
    int hurry = 0;
    while (s->unsent > 0 && !hurry) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&s->idle, &s->lock, &until);
        hurry = second_signal(&set);
    }
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(d);
    if (fd >= 0)
        close(fd);
}

int srv_serve(const srv_launch *l, albert_error *err)
{
    server s;
    memset(&s, 0, sizeof s);
    s.launch = l;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.idle, NULL);
    srv_metrics_init(&s.metrics);
    s.api.set = l->settings;
    s.api.metrics = &s.metrics;
    s.api.stopping = &s.stopping;
    int port = 0, ipv6 = 0;
    int fd = listen_on(l->host, l->port, &port, &ipv6, err);
    int rc = fd < 0 ? err->code
                    : srv_dispatch_open(l->scheduler, l->settings->width,
                                        &s.api.dispatch, err);
    struct MHD_Daemon *d = rc == ALBERT_OK ? start_http(&s, fd, ipv6) : NULL;
    if (rc == ALBERT_OK && !d)
        rc = albert_fail(err, ALBERT_E_IO, "cannot start the HTTP server on %s port %d", l->host,
                         port);
    if (rc == ALBERT_OK) {
        announce(l, port);
        wait_and_drain(&s, d);
        fprintf(stderr, "albert-cl serve: stopped (%llu requests answered)\n",
                (unsigned long long)s.metrics.requests);
    } else if (fd >= 0) {
        close(fd);
    }
    srv_dispatch_close(s.api.dispatch);
    srv_metrics_destroy(&s.metrics);
    pthread_cond_destroy(&s.idle);
    pthread_mutex_destroy(&s.lock);
    return rc;
}
