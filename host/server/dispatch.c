/* Requests' inputs through one albert_scheduler, results routed by tag. */
#include "server/dispatch.h"

#include "core/common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct srv_dispatch {
    albert_scheduler *sched;
    int hidden;
    int token_width;          /* albert_scheduler_width */
    pthread_t router;
    pthread_mutex_t lock;
    pthread_cond_t done;  /* a job got its last result, or the run failed */
    int failed;
    albert_error failure;
};

/* Result R is the next of its job's (results come back in push order, so
 * a job's come in its inputs' order). */
static void deliver(srv_dispatch *d, srv_job *job, const albert_result *r)
{
    size_t k = job->received;
    job->n_ids[k] = r->n_ids;
    job->n_full[k] = r->n_full;
    if (r->status == ALBERT_OK && r->pooled) {
        memcpy(job->vectors + k * (size_t)d->hidden, r->pooled, (size_t)d->hidden * sizeof(float));
    } else if (job->status == ALBERT_OK) {
        job->failed = k;
        job->status = r->status == ALBERT_OK ? ALBERT_E_INPUT : r->status;
        snprintf(job->message, sizeof job->message, "%s", r->message);
    }
    if (r->status == ALBERT_OK && job->tokens) {
        const size_t n = (size_t)r->rows * (size_t)d->token_width;
        job->tokens[k] = r->tokens ? malloc((n ? n : 1) * sizeof(float)) : NULL;
        job->rows[k] = job->tokens[k] ? r->rows : 0;
        if (job->tokens[k])
            memcpy(job->tokens[k], r->tokens, n * sizeof(float));
        else if (job->status == ALBERT_OK) {
            job->failed = k;
            job->status = ALBERT_E_NOMEM;
            snprintf(job->message, sizeof job->message, "%s",
                     r->tokens ? "out of memory for its token vectors"
                               : "no token vectors came back for it");
        }
    }
}

static void *route(void *arg)
{
    srv_dispatch *d = arg;
    for (;;) {
        const albert_result *r;
        albert_error e;
        int rc = albert_scheduler_next(d->sched, &r, &e);
        if (rc != ALBERT_OK || !r) {
            pthread_mutex_lock(&d->lock);
            if (rc != ALBERT_OK) {
                d->failed = 1;
                d->failure = e;
            }
            pthread_cond_broadcast(&d->done);
            pthread_mutex_unlock(&d->lock);
            return NULL;
        }
        srv_job *job = (srv_job *)(uintptr_t)r->tag;
        /* The waiter reads the job only once RECEIVED reaches PUSHED, under
         * the lock taken below. */
        deliver(d, job, r);
        pthread_mutex_lock(&d->lock);
        job->received++;
        if (job->all_pushed && job->received == job->pushed)
            pthread_cond_broadcast(&d->done);
        pthread_mutex_unlock(&d->lock);
    }
}

int srv_dispatch_open(const albert_scheduler_options *opt, int hidden, srv_dispatch **out,
                      albert_error *err)
{
    *out = NULL;
    if (opt->max_wait_ms <= 0)
        return albert_fail(err, ALBERT_E_ARG, "the server's scheduler needs max_wait_ms > 0");
    srv_dispatch *d = calloc(1, sizeof *d);
    if (!d)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for the dispatcher");
    d->hidden = hidden;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->done, NULL);
    int rc = albert_scheduler_create(opt, &d->sched, err);
    if (rc == ALBERT_OK)
        d->token_width = albert_scheduler_width(d->sched);
    if (rc == ALBERT_OK && pthread_create(&d->router, NULL, route, d) != 0) {
        albert_scheduler_free(d->sched);
        rc = albert_fail(err, ALBERT_E_NOMEM, "cannot start the server's router thread");
    }
    if (rc != ALBERT_OK) {
        pthread_cond_destroy(&d->done);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return rc;
    }
    *out = d;
    return ALBERT_OK;
}

static albert_record record_of(const srv_input *in, srv_job *job)
{
    albert_record rec;
    memset(&rec, 0, sizeof rec);
    rec.text = in->ids ? NULL : in->text;
    rec.text_len = in->len;
    rec.prompt = in->ids ? NULL : job->prompt;
    rec.prompt_len = rec.prompt ? strlen(rec.prompt) : 0;
    rec.input_ids = in->ids;
    rec.n_ids = in->n_ids;
    rec.tag = (uint64_t)(uintptr_t)job;
    rec.token_vectors = job->tokens != NULL;
    rec.truncation = job->truncation;
    return rec;
}

int srv_dispatch_run(srv_dispatch *d, const srv_input *in, srv_job *job, albert_error *err)
{
    job->status = ALBERT_OK;
    job->message[0] = '\0';
    job->pushed = job->received = 0;
    job->all_pushed = 0;
    int rc = ALBERT_OK;
    size_t n = 0;
    /* Push blocks while the scheduler is full; other requests' results keep
     * coming back meanwhile. */
    while (n < job->count && rc == ALBERT_OK) {
        albert_record rec = record_of(&in[n], job);
        rc = albert_scheduler_push(d->sched, &rec, err);
        n += rc == ALBERT_OK;
    }
    pthread_mutex_lock(&d->lock);
    job->pushed = n;
    job->all_pushed = 1;
    while (job->received < job->pushed && !d->failed)
        pthread_cond_wait(&d->done, &d->lock);
    if (rc == ALBERT_OK && job->received < job->pushed)
        rc = albert_fail(err, d->failure.code, "%s", d->failure.msg);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

const char *srv_dispatch_failure(srv_dispatch *d)
{
    pthread_mutex_lock(&d->lock);
    const char *msg = d->failed ? d->failure.msg : NULL;
    pthread_mutex_unlock(&d->lock);
    return msg;
}

const albert_scheduler *srv_dispatch_scheduler(const srv_dispatch *d)
{
    return d->sched;
}

void srv_dispatch_close(srv_dispatch *d)
{
    if (!d)
        return;
    albert_error e;
    albert_scheduler_finish(d->sched, &e);
    pthread_join(d->router, NULL);
    albert_scheduler_free(d->sched);
    pthread_cond_destroy(&d->done);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
