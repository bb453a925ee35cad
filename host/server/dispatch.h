/* The server's one scheduler, shared by every request: a request's inputs
 * go in as records tagged with the request's job, and a router thread hands
 * each result back to its job.  Inputs of concurrent requests so share
 * batches and devices. */
#ifndef ALBERT_SERVER_DISPATCH_H
#define ALBERT_SERVER_DISPATCH_H

#include "albert_cl.h"

#include <stddef.h>
#include <stdint.h>

/* One input: a text, or token ids used as given. */
typedef struct srv_input {
    const char *text;
    size_t len;
    const int32_t *ids;
    int n_ids;
} srv_input;

/* One request's inputs and, once srv_dispatch_run returns, their outcome.
 * The caller sizes the arrays (count entries; vectors count x hidden). */
typedef struct srv_job {
    size_t count;
    const char *prompt;   /* put before each text input (never before token
                             ids), or NULL; valid UTF-8 (push refuses it else) */
    albert_truncation truncation; /* which end of a long text goes */
    float *vectors;       /* pooled, as the scheduler's options say */
    /* Not NULL (COUNT entries, zeroed): each input's token vectors, ROWS[k]
     * of albert_scheduler_width values, malloc'd (the caller frees them). */
    float **tokens;
    int *rows;
    int *n_ids, *n_full;  /* tokens after and before truncation */
    /* The first input that failed alone (bad UTF-8, an id out of range):
     * its index, status and message; status ALBERT_OK when none did. */
    size_t failed;
    int status;
    char message[ALBERT_ERRMSG_MAX];
    /* the router's */
    size_t pushed, received;
    int all_pushed;
} srv_job;

typedef struct srv_dispatch srv_dispatch;

/* Starts the scheduler OPT describes (max_wait_ms > 0: a window of a quiet
 * server must not wait for more records forever) and the router. */
int srv_dispatch_open(const albert_scheduler_options *opt, int hidden, srv_dispatch **out,
                      albert_error *err);
/* Pushes IN[0..JOB->count) and waits for their results.  Fails when the
 * run ended (a device failure: every later call fails with it) or the
 * dispatcher is closing; one input's own failure is in JOB, not here. */
int srv_dispatch_run(srv_dispatch *d, const srv_input *in, srv_job *job, albert_error *err);
/* The failure that ended the run, or NULL while it runs. */
const char *srv_dispatch_failure(srv_dispatch *d);
const albert_scheduler *srv_dispatch_scheduler(const srv_dispatch *d);
/* Finishes the scheduler (the records pushed still come back), joins the
 * router, frees.  NULL: no-op. */
void srv_dispatch_close(srv_dispatch *d);

#endif
