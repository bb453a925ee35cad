/* The scheduler's insides, shared by its three files: scheduler.c (the
 * record ring, windows, the public calls), prepare.c (the tokenizer
 * threads' work on one record) and batch.c (the device threads' work on one
 * batch).  Everything in albert_scheduler is guarded by its one mutex except
 * what a thread has claimed (an item in ITEM_PREPARING or ITEM_RUNNING
 * belongs to the thread that set it). */
#ifndef ALBERT_SCHEDULER_SCHEDULER_H
#define ALBERT_SCHEDULER_SCHEDULER_H

#include "core/backend.h"
#include "core/common.h"

#include <pthread.h>

/* Windows in flight: while one is being batched the next ones tokenize. */
#define SCHED_WINDOWS 4

typedef enum item_state {
    ITEM_FREE = 0,
    ITEM_PUSHED,    /* copied in, waiting for a tokenizer thread */
    ITEM_PREPARING, /* a tokenizer thread has it */
    ITEM_READY,     /* tokenized and checked, waiting in its window */
    ITEM_RUNNING,   /* in a batch on a device */
    ITEM_DONE       /* its result is ready (or its error) */
} item_state;

typedef struct sched_item {
    item_state state;
    uint64_t index, tag, window;
    char *text, *pair;           /* one block: text NUL pair NUL; NULL pre-tokenized */
    size_t text_len, pair_len;
    int has_pair;
    int has_prompt;              /* TEXT starts with a prompt of PROMPT_LEN bytes */
    size_t prompt_len;
    int prompt_tokens;           /* with exclude_prompt: positions its pooling leaves out */
    int32_t *ids, *types, *mask; /* one block of 3 n; types/mask NULL: all 0 / all 1 */
    int n, n_full;
    int status;                  /* ALBERT_OK or the record's error */
    int fatal;                   /* the error ends the run */
    char *message;               /* NULL when status is ALBERT_OK */
    float *vectors;              /* one block for the four below */
    float *pooled, *tokens, *ref_pooled, *ref_tokens;
    int rows;
    int want_tokens;             /* albert_record.token_vectors */
    albert_truncation truncation;/* albert_record.truncation */
} sched_item;

typedef struct sched_window {
    uint64_t seq;                /* which window (windows[seq % SCHED_WINDOWS]) */
    uint64_t first;              /* its first record's index */
    int count, prepared;
    int closed;                  /* takes no more records */
    int ready;                   /* closed, prepared, sorted: batches can be taken */
    int batchable, taken;        /* ORDER's length; taken from its end */
    sched_item **order;          /* records to run, shortest first */
    uint64_t opened_ns;
} sched_window;

/* One batch from its submit to its results: the padded arrays the engine
 * reads and the outputs it writes, both the engine's until the batch's
 * wait. */
typedef struct sched_batch {
    sched_item **taken;          /* [max_rows]: the records taken, done together */
    sched_item **rows;           /* [max_rows]: those in the batch (a row the engine
                                  * rejects fails alone and leaves) */
    int n_taken, B;
    albert_batch batch;
    int32_t *ids;                /* [3 * room]: ids, types, mask */
    float *hidden, *pooled;      /* outputs (HIDDEN allocated once a batch needs it) */
    int with_tokens;             /* this batch's engine run gives token vectors */
    uint64_t busy_ns, host_ns;   /* in submit; padding */
} sched_batch;

/* A device thread pads and submits the next batch while its engine runs the
 * last one, then hands that one's results out. */
#define SCHED_BATCHES 2

/* One device thread: its engine, its batches, its counters. */
typedef struct sched_worker {
    struct albert_scheduler *s;
    albert_engine *engine;
    int budget;                  /* max tokens per batch */
    size_t room;                 /* tokens a batch's buffers hold */
    sched_batch batches[SCHED_BATCHES];
    float *ref_hidden, *ref_pooled;
    albert_scheduler_device_stats stats;
} sched_worker;

struct albert_scheduler {
    albert_scheduler_options opt; /* opt.layers points to LAYERS */
    int *layers;                 /* a copy of the caller's opt.layers */
    int hidden;                  /* values per vector: albert_output_width */
    int pooled_width;            /* per pooled vector: the head's width_out, else pool_width */
    int result_width;            /* of those, what results give: opt.truncate_dim, else all */
    unsigned modes;              /* the pooling modes (bits 1u << albert_pooling) */
    int pool_width;              /* per pooled vector before a head: hidden times the modes */
    int host_pooling;            /* pooled here from the engine's token vectors: several
                                    modes, or exclude_prompt */
    int window, max_rows;
    size_t cap;                  /* records in flight at most */
    sched_item *items;           /* [cap]: record i at items[i % cap] */
    sched_window windows[SCHED_WINDOWS];
    uint64_t open_window;        /* the window pushes go to */
    uint64_t pushed, prepare_next, out_next;
    int finished, cancelled;
    int refilling;               /* push waits for a window's worth of room */
    int failed;                  /* the status of a failure that ended the run, or 0 */
    char failure[ALBERT_ERRMSG_MAX];
    sched_item *returned;        /* the last result handed out, freed by the next call */
    albert_result result;
    pthread_mutex_t lock;
    /* Each kind of thread waits on its own condition, woken only for what it
     * waits for: a record to tokenize, a window to batch, room to push, the
     * next result. */
    pthread_cond_t to_prepare, to_batch, room, result_ready;
    pthread_mutex_t reference_lock;
    pthread_t *threads;
    int nthreads;
    sched_worker *workers;
    struct preparer *preparers;  /* the tokenizer threads' scratch */
    uint64_t tokens, tokenize_ns, reference_ns, start_ns;
};

/* A tokenizer thread's last prompt and its positions (exclude_prompt): a
 * run's records mostly share one prompt, tokenized alone once. */
typedef struct sched_prompt_memo {
    char *text;                  /* malloc'd; NULL: none yet */
    size_t len;
    int tokens;
} sched_prompt_memo;

/* prepare.c: tokenizes or checks IT (outside the lock) with SCRATCH and
 * MEMO, the calling thread's; on a failure sets its status and message. */
void sched_prepare(const albert_scheduler *s, sched_item *it, int32_t *scratch,
                   sched_prompt_memo *memo);
/* Sets IT's error (fatal or not) from CODE and MESSAGE. */
void sched_item_fail(sched_item *it, int code, int fatal, const char *message);
/* Frees what IT holds and makes it ITEM_FREE. */
void sched_item_release(sched_item *it);

/* batch.c, called without the lock.  Pads BATCH's records (taken, shortest
 * first) and submits them to W's engine: 1 when they are on it, 0 when every
 * one has failed instead. */
int sched_batch_submit(sched_worker *w, sched_batch *batch);
/* Waits for a submitted BATCH and fills its records' results. */
void sched_batch_finish(sched_worker *w, sched_batch *batch);
/* Allocates W's buffers for batches of up to ROOM tokens and MAX_ROWS rows. */
int sched_worker_init(sched_worker *w, int room, int max_rows, albert_error *err);
void sched_worker_free(sched_worker *w);

#endif
