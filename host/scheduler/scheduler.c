/* The scheduler: a ring of records in flight, cut into windows.  A window
 * takes pushed records until it is full, finished or old (max_wait_ms);
 * once all its records are tokenized it is sorted by length and the device
 * threads take batches from it, longest first, each as it becomes free (an
 * asynchronous engine's thread takes the next while one is in flight).
 * Results leave in push order.  One mutex guards it all: what is done under
 * it is bookkeeping, the work (tokenizing, batches) is done outside. */
#include "scheduler/scheduler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_ROWS 256
/* The modes pooling_modes may hold. */
#define POOLING_BITS                                                                   \
    (1u << ALBERT_POOL_CLS | 1u << ALBERT_POOL_MEAN | 1u << ALBERT_POOL_MAX |          \
     1u << ALBERT_POOL_MEAN_SQRT_LEN | 1u << ALBERT_POOL_WEIGHTED_MEAN |               \
     1u << ALBERT_POOL_LAST_TOKEN)
#define DEFAULT_WINDOW 1024
#define DEFAULT_WINDOW_TOKENS 64 /* with ALBERT_POOL_NONE every token's vector is kept */
#define GPU_BATCH_TOKENS 16384
#define OTHER_BATCH_TOKENS 4096
#define MAX_TOKENIZE_THREADS 8
#define PAD_SHARE 32 /* a batch's pads stay within 1/32 of its tokens */

void albert_scheduler_options_init(albert_scheduler_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->pooling = ALBERT_POOL_POOLER;
}

static sched_window *window_of(albert_scheduler *s, uint64_t seq)
{
    return &s->windows[seq % SCHED_WINDOWS];
}

static sched_item *slot(albert_scheduler *s, uint64_t index)
{
    return &s->items[index % s->cap];
}

static int next_done(albert_scheduler *s);

/* After a record or batch is done: wakes next() when its record is. */
static void result_maybe(albert_scheduler *s)
{
    if (next_done(s))
        pthread_cond_signal(&s->result_ready);
}

static void wake_all(albert_scheduler *s)
{
    pthread_cond_broadcast(&s->to_prepare);
    pthread_cond_broadcast(&s->to_batch);
    pthread_cond_broadcast(&s->room);
    pthread_cond_broadcast(&s->result_ready);
}

/* ------------------------------------------------------------ windows */

static int shorter_first(const void *a, const void *b)
{
    const sched_item *x = *(sched_item *const *)a, *y = *(sched_item *const *)b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* A closed window whose records are all tokenized: sorted for batching (or,
 * tokenizing only, done). */
static void make_ready(albert_scheduler *s, sched_window *w)
{
    int k = 0;
    for (int i = 0; i < w->count; i++) {
        sched_item *it = slot(s, w->first + (uint64_t)i);
        if (it->state != ITEM_READY)
            continue;
        if (s->opt.engine_count == 0)
            it->state = ITEM_DONE;
        else
            w->order[k++] = it;
    }
    qsort(w->order, (size_t)k, sizeof *w->order, shorter_first);
    w->batchable = k;
    w->taken = 0;
    w->ready = 1;
    pthread_cond_broadcast(&s->to_batch);
}

static void maybe_ready(albert_scheduler *s, sched_window *w)
{
    if (w->closed && !w->ready && w->prepared == w->count)
        make_ready(s, w);
}

static void close_window(albert_scheduler *s, sched_window *w)
{
    w->closed = 1;
    maybe_ready(s, w);
}

/* A window's slot can hold a new window once every record of the old one
 * has been handed out. */
static int drained(const albert_scheduler *s, const sched_window *w)
{
    return w->closed && s->out_next >= w->first + (uint64_t)w->count;
}

static void open_next_window(albert_scheduler *s)
{
    uint64_t seq = s->open_window + 1;
    sched_window *w = window_of(s, seq);
    sched_item **order = w->order;
    memset(w, 0, sizeof *w);
    w->order = order;
    w->seq = seq;
    w->first = s->pushed;
    s->open_window = seq;
}

/* ------------------------------------------------------------ waiting */

static void wait_until(albert_scheduler *s, pthread_cond_t *cond, uint64_t deadline_ns)
{
    struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
    pthread_cond_timedwait(cond, &s->lock, &ts);
}

/* The open window's deadline when it has records and a wait limit, else 0. */
static uint64_t window_deadline(albert_scheduler *s)
{
    sched_window *w = window_of(s, s->open_window);
    if (s->opt.max_wait_ms <= 0 || w->closed || w->count == 0)
        return 0;
    return w->opened_ns + (uint64_t)s->opt.max_wait_ms * 1000000u;
}

/* Waits on COND, or closes the open window when its time is up: the device
 * threads keep the time, or with no engines the tokenizer threads. */
static void wait_or_close(albert_scheduler *s, pthread_cond_t *cond)
{
    uint64_t deadline = window_deadline(s);
    if (!deadline) {
        pthread_cond_wait(cond, &s->lock);
    } else if (albert_now_ns() >= deadline) {
        close_window(s, window_of(s, s->open_window));
        pthread_cond_broadcast(&s->room); /* pushes go to a new window */
        result_maybe(s);                  /* tokenizing only: its records are done */
    } else {
        wait_until(s, cond, deadline);
    }
}

static void close_window(albert_scheduler *s, sched_window *w);

/* A failure that is not one record's (a device error, out of memory) ends
 * the run as finish would: pushes fail with it, what was pushed runs, and
 * next() returns the results before the failed record, then the failure. */
static void fail_run(albert_scheduler *s, const sched_item *it)
{
    if (s->failed)
        return;
    s->failed = it->status;
    snprintf(s->failure, sizeof s->failure, "%s",
             it->message ? it->message : it->status == ALBERT_E_NOMEM ? "out of memory"
                                                                      : albert_status_name(it->status));
    s->finished = 1;
    close_window(s, window_of(s, s->open_window));
    wake_all(s);
}

static int running(const albert_scheduler *s)
{
    return !s->cancelled;
}

/* ------------------------------------------------------------ threads */

typedef struct preparer {
    albert_scheduler *s;
    int32_t *scratch;
    sched_prompt_memo memo;
} preparer;

static void *prepare_thread(void *arg)
{
    preparer *p = arg;
    albert_scheduler *s = p->s;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (running(s) && s->prepare_next == s->pushed && !s->finished) {
            if (s->opt.engine_count == 0)
                wait_or_close(s, &s->to_prepare);
            else
                pthread_cond_wait(&s->to_prepare, &s->lock);
        }
        if (!running(s) || s->prepare_next == s->pushed)
            break;
        sched_item *it = slot(s, s->prepare_next++);
        it->state = ITEM_PREPARING;
        pthread_mutex_unlock(&s->lock);
        uint64_t t0 = albert_now_ns();
        sched_prepare(s, it, p->scratch, &p->memo);
        uint64_t dt = albert_now_ns() - t0;
        pthread_mutex_lock(&s->lock);
        s->tokenize_ns += dt;
        s->tokens += it->status == ALBERT_OK ? (uint64_t)it->n : 0;
        it->state = it->status == ALBERT_OK ? ITEM_READY : ITEM_DONE;
        if (it->fatal)
            fail_run(s, it);
        sched_window *w = window_of(s, it->window);
        w->prepared++;
        maybe_ready(s, w);
        result_maybe(s);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Up to max_rows of the longest records left in W, within the budget, and
 * no more than padding can spare: a row joins while the batch's pads stay
 * within 1/PAD_SHARE of its tokens (a window of lines of every length cut
 * into budget-sized batches would otherwise pad a fifth of them, which
 * costs the cpu device more than its larger batches gain). */
static int take_batch(albert_scheduler *s, sched_window *w, int budget, sched_item **mine)
{
    int end = w->batchable - w->taken;
    int T = w->order[end - 1]->n;
    int fit = budget / T > 1 ? budget / T : 1;
    int most = fit < s->max_rows ? fit : s->max_rows;
    int B = 1;
    uint64_t pads = 0;
    while (B < most && B < end) {
        pads += (uint64_t)(T - w->order[end - 1 - B]->n);
        if (pads * PAD_SHARE > (uint64_t)(B + 1) * (uint64_t)T)
            break;
        B++;
    }
    for (int i = 0; i < B; i++) {
        mine[i] = w->order[end - B + i];
        mine[i]->state = ITEM_RUNNING;
    }
    w->taken += B;
    return B;
}

/* The oldest window with batches left, or NULL. */
static sched_window *window_with_work(albert_scheduler *s)
{
    uint64_t oldest = s->open_window >= SCHED_WINDOWS - 1 ? s->open_window - (SCHED_WINDOWS - 1) : 0;
    for (uint64_t seq = oldest; seq <= s->open_window; seq++) {
        sched_window *w = window_of(s, seq);
        if (w->seq == seq && w->ready && w->taken < w->batchable)
            return w;
    }
    return NULL;
}

/* Finished, and every window batched. */
static int all_taken(albert_scheduler *s)
{
    if (!s->finished)
        return 0;
    for (int i = 0; i < SCHED_WINDOWS; i++)
        if (!s->windows[i].ready && s->windows[i].count > 0)
            return 0;
    return window_with_work(s) == NULL;
}

/* Called with the lock held: BATCH's records are done. */
static void batch_done(albert_scheduler *s, const sched_batch *b)
{
    for (int i = 0; i < b->n_taken; i++) {
        b->taken[i]->state = ITEM_DONE;
        if (b->taken[i]->fatal)
            fail_run(s, b->taken[i]);
    }
    result_maybe(s);
}

/* Called with the lock held, which it lets go meanwhile: waits for BATCH and
 * hands its results out. */
static void land(sched_worker *w, sched_batch *b)
{
    pthread_mutex_unlock(&w->s->lock);
    sched_batch_finish(w, b);
    pthread_mutex_lock(&w->s->lock);
    batch_done(w->s, b);
}

/* Takes a batch, submits it, then hands out the one submitted before, so an
 * asynchronous engine computes one batch while this thread pads the next and
 * copies out the last.  A synchronous one has run the batch inside submit:
 * it is handed out at once, not held back behind the next one's compute.
 * Before it sleeps waiting for work the thread lands what it has. */
static void *device_thread(void *arg)
{
    sched_worker *w = arg;
    albert_scheduler *s = w->s;
    sched_batch *pending = NULL; /* submitted, results not yet out */
    int next = 0;
    pthread_mutex_lock(&s->lock);
    while (running(s) && !all_taken(s)) {
        sched_window *win = window_with_work(s);
        if (!win && pending) {
            land(w, pending);
            pending = NULL;
            continue;
        }
        if (!win) {
            wait_or_close(s, &s->to_batch);
            continue;
        }
        sched_batch *b = &w->batches[next];
        next = (next + 1) % SCHED_BATCHES;
        b->n_taken = take_batch(s, win, w->budget, b->taken);
        if (all_taken(s)) /* the other device threads can stop waiting */
            pthread_cond_broadcast(&s->to_batch);
        pthread_mutex_unlock(&s->lock);
        int queued = sched_batch_submit(w, b);
        if (queued && !albert_engine_is_async(w->engine)) {
            sched_batch_finish(w, b);
            queued = 0;
        }
        if (pending)
            sched_batch_finish(w, pending);
        pthread_mutex_lock(&s->lock);
        if (pending)
            batch_done(s, pending);
        if (!queued)
            batch_done(s, b);
        pending = queued ? b : NULL;
    }
    if (pending)
        land(w, pending);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ------------------------------------------------------------ pushing */

/* RECORD's copies (text and pair in one block, ids/types/mask in another)
 * in IT, made before the lock is taken. */
static int copy_record(const albert_record *r, sched_item *it)
{
    memset(it, 0, sizeof *it);
    it->tag = r->tag;
    it->want_tokens = r->token_vectors != 0;
    it->truncation = r->truncation;
    if (r->error) {
        it->status = ALBERT_E_INPUT;
        it->message = strdup(r->error);
        return it->message ? 0 : -1;
    }
    if (r->input_ids) {
        size_t n = (size_t)r->n_ids;
        it->ids = malloc(3 * (n ? n : 1) * sizeof *it->ids);
        if (!it->ids)
            return -1;
        memcpy(it->ids, r->input_ids, n * sizeof *it->ids);
        if (r->token_type_ids)
            it->types = memcpy(it->ids + n, r->token_type_ids, n * sizeof *it->ids);
        if (r->attention_mask)
            it->mask = memcpy(it->ids + 2 * n, r->attention_mask, n * sizeof *it->ids);
        it->n = it->n_full = r->n_ids;
        return 0;
    }
    size_t pair_len = r->pair ? r->pair_len : 0;
    size_t prompt_len = r->prompt ? r->prompt_len : 0, text_len = prompt_len + r->text_len;
    it->text = malloc(text_len + pair_len + 2);
    if (!it->text)
        return -1;
    memcpy(it->text, r->prompt ? r->prompt : "", prompt_len);
    memcpy(it->text + prompt_len, r->text, r->text_len);
    it->text[text_len] = '\0';
    it->text_len = text_len;
    it->has_prompt = r->prompt != NULL;
    it->prompt_len = prompt_len;
    if (r->pair) {
        it->pair = it->text + text_len + 1;
        memcpy(it->pair, r->pair, pair_len);
        it->pair[pair_len] = '\0';
        it->pair_len = pair_len;
        it->has_pair = 1;
    }
    return 0;
}

static int check_record(const albert_record *r, albert_error *err)
{
    if (!r)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: NULL record");
    if (r->error)
        return ALBERT_OK;
    if (!r->text && !r->input_ids)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: a record needs text or ids");
    if (r->input_ids && r->n_ids < 1)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: n_ids %d", r->n_ids);
    if (r->prompt && r->input_ids)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_scheduler_push: a prompt goes before a text, and the record "
                           "brings input_ids");
    if (r->truncation != ALBERT_TRUNCATE_RIGHT && r->truncation != ALBERT_TRUNCATE_LEFT)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: truncation %d is neither "
                           "ALBERT_TRUNCATE_RIGHT nor ALBERT_TRUNCATE_LEFT", (int)r->truncation);
    albert_error e;
    if (r->prompt && albert_text_check("the prompt", r->prompt, r->prompt_len, &e) != ALBERT_OK)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: %s", e.msg);
    return ALBERT_OK;
}

/* A window's worth of records can be pushed. */
static int window_of_room(const albert_scheduler *s)
{
    return s->pushed - s->out_next + (uint64_t)s->window <= s->cap - 1;
}

size_t albert_scheduler_room(const albert_scheduler *cs)
{
    albert_scheduler *s = (albert_scheduler *)cs; /* the lock is not the state */
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    /* One slot stays with the result last handed out; a full ring takes
     * records again once a window's worth is free; once the open window is
     * full, the next one needs its slot drained. */
    size_t room = s->cap - 1 - (size_t)(s->pushed - s->out_next);
    const sched_window *w = window_of(s, s->open_window);
    int next_free = s->open_window + 1 < SCHED_WINDOWS ||
                    drained(s, window_of(s, s->open_window + 1));
    size_t in_window = w->closed ? 0 : (size_t)(s->window - w->count);
    if (!next_free && in_window < room)
        room = in_window;
    if ((s->refilling && !window_of_room(s)) || !running(s) || s->finished)
        room = 0;
    pthread_mutex_unlock(&s->lock);
    return room;
}

/* Waits (lock held) until there is room for one more record in an open
 * window; ALBERT_OK or why not. */
static int wait_for_room(albert_scheduler *s, albert_error *err)
{
    for (;;) {
        if (s->cancelled)
            return albert_fail(err, ALBERT_E_CANCELLED, "albert_scheduler_push: cancelled");
        if (s->failed)
            return albert_fail(err, s->failed, "%s", s->failure);
        if (s->finished)
            return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: after finish");
        sched_window *w = window_of(s, s->open_window);
        int full = w->closed || w->count == s->window;
        if (full && !drained(s, window_of(s, s->open_window + 1)) &&
            s->open_window + 1 >= SCHED_WINDOWS) {
            pthread_cond_wait(&s->room, &s->lock);
        } else if (full) {
            open_next_window(s);
        } else if (s->pushed - s->out_next >= s->cap - 1 ||
                   (s->refilling && !window_of_room(s))) {
            /* Full: wait for a window's worth of room, not one slot, so that
             * pushing and tokenizing come in bursts rather than one record
             * at a time between the device's batches (where each wake-up
             * would cost a CPU device a time slice). */
            s->refilling = 1;
            pthread_cond_wait(&s->room, &s->lock);
        } else {
            s->refilling = 0;
            return ALBERT_OK;
        }
    }
}

int albert_scheduler_push(albert_scheduler *s, const albert_record *record, albert_error *err)
{
    if (!s)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_push: NULL scheduler");
    int rc = check_record(record, err);
    if (rc != ALBERT_OK)
        return rc;
    sched_item copy;
    if (copy_record(record, &copy) != 0) {
        sched_item_release(&copy);
        return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_push: out of memory");
    }
    pthread_mutex_lock(&s->lock);
    rc = wait_for_room(s, err);
    if (rc == ALBERT_OK) {
        sched_window *w = window_of(s, s->open_window);
        copy.index = s->pushed++;
        copy.window = w->seq;
        copy.state = ITEM_PUSHED;
        *slot(s, copy.index) = copy;
        if (w->count++ == 0) {
            w->opened_ns = albert_now_ns();
            if (s->opt.max_wait_ms > 0) /* a device thread keeps its time */
                pthread_cond_broadcast(&s->to_batch);
        }
        if (w->count == s->window)
            close_window(s, w);
        pthread_cond_signal(&s->to_prepare);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != ALBERT_OK)
        sched_item_release(&copy);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

int albert_scheduler_finish(albert_scheduler *s, albert_error *err)
{
    if (!s)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_finish: NULL scheduler");
    pthread_mutex_lock(&s->lock);
    s->finished = 1;
    close_window(s, window_of(s, s->open_window));
    wake_all(s);
    pthread_mutex_unlock(&s->lock);
    return albert_ok(err);
}

/* ------------------------------------------------------------ results */

/* A failure's message (an allocation for it may have failed too). */
static const char *item_message(const sched_item *it)
{
    if (it->message)
        return it->message;
    return it->status == ALBERT_E_NOMEM ? "out of memory" : albert_status_name(it->status);
}

static void fill_result(albert_scheduler *s, sched_item *it)
{
    albert_result *r = &s->result;
    memset(r, 0, sizeof *r);
    r->index = it->index;
    r->tag = it->tag;
    r->status = it->status;
    r->message = it->status ? item_message(it) : "";
    if (it->status != ALBERT_OK)
        return;
    r->n_ids = it->n;
    r->n_full = it->n_full;
    r->input_ids = it->ids;
    r->token_type_ids = it->has_pair ? it->types : NULL;
    r->pooled = it->pooled;
    r->tokens = it->tokens;
    r->rows = it->rows;
    r->reference_pooled = it->ref_pooled;
    r->reference_tokens = it->ref_tokens;
}

static int next_done(albert_scheduler *s)
{
    return s->out_next < s->pushed && slot(s, s->out_next)->state == ITEM_DONE;
}

int albert_scheduler_next(albert_scheduler *s, const albert_result **result, albert_error *err)
{
    if (!s || !result)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_next: NULL argument");
    *result = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->returned) {
        sched_item_release(s->returned);
        s->returned = NULL;
        if (window_of_room(s) || drained(s, window_of(s, s->open_window + 1)))
            pthread_cond_broadcast(&s->room);
    }
    while (running(s) && !next_done(s) && !(s->finished && s->out_next == s->pushed))
        pthread_cond_wait(&s->result_ready, &s->lock);
    int rc = ALBERT_OK;
    if (s->cancelled) {
        rc = albert_fail(err, ALBERT_E_CANCELLED, "albert_scheduler_next: cancelled");
    } else if (next_done(s)) {
        sched_item *it = slot(s, s->out_next);
        if (it->fatal) {
            rc = albert_fail(err, it->status, "%s", item_message(it));
        } else {
            fill_result(s, it);
            *result = &s->result;
            s->returned = it;
            s->out_next++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

int albert_scheduler_width(const albert_scheduler *s)
{
    return s ? s->hidden : 0;
}

int albert_scheduler_pooled_width(const albert_scheduler *s)
{
    return s ? s->result_width : 0;
}

size_t albert_scheduler_ready(const albert_scheduler *cs)
{
    albert_scheduler *s = (albert_scheduler *)cs;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    while (s->out_next + n < s->pushed && slot(s, s->out_next + n)->state == ITEM_DONE)
        n++;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ------------------------------------------------------------ life */

void albert_scheduler_cancel(albert_scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->cancelled = 1;
    wake_all(s);
    pthread_mutex_unlock(&s->lock);
}

void albert_scheduler_free(albert_scheduler *s)
{
    if (!s)
        return;
    albert_scheduler_cancel(s);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    for (size_t i = 0; s->items && i < s->cap; i++)
        sched_item_release(&s->items[i]);
    for (int i = 0; i < SCHED_WINDOWS; i++)
        free(s->windows[i].order);
    for (int i = 0; s->workers && i < s->opt.engine_count; i++)
        sched_worker_free(&s->workers[i]);
    free(s->workers);
    free(s->layers);
    for (int i = 0; s->preparers && i < s->opt.tokenize_threads; i++)
        free(s->preparers[i].memo.text);
    free(s->preparers);
    free(s->threads);
    free(s->items);
    pthread_mutex_destroy(&s->reference_lock);
    pthread_cond_destroy(&s->to_prepare);
    pthread_cond_destroy(&s->to_batch);
    pthread_cond_destroy(&s->room);
    pthread_cond_destroy(&s->result_ready);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int albert_scheduler_stats_get(const albert_scheduler *cs, albert_scheduler_stats *stats,
                               albert_scheduler_device_stats *devices, size_t capacity,
                               albert_error *err)
{
    albert_scheduler *s = (albert_scheduler *)cs;
    if (!s || !stats || (capacity && !devices))
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_stats_get: NULL argument");
    pthread_mutex_lock(&s->lock);
    memset(stats, 0, sizeof *stats);
    stats->pushed = s->pushed;
    stats->returned = s->out_next;
    stats->tokens = s->tokens;
    stats->tokenize_ns = s->tokenize_ns;
    stats->reference_ns = s->reference_ns;
    stats->wall_ns = albert_now_ns() - s->start_ns;
    stats->engine_count = s->opt.engine_count;
    for (size_t i = 0; i < capacity && i < (size_t)s->opt.engine_count; i++)
        devices[i] = s->workers[i].stats;
    pthread_mutex_unlock(&s->lock);
    return albert_ok(err);
}

/* ------------------------------------------------------------ creation */

/* The head takes the pooled vectors' width, truncate_dim cuts within what
 * comes out. */
static int check_pooled_widths(const albert_scheduler_options *o, albert_error *err)
{
    albert_outputs widths = {.n_layers = o->n_layers, .layers_concat = o->layers_concat};
    const int modes = o->pooling_modes ? albert_pooling_count(o->pooling_modes) : 1;
    const int width = albert_output_width(o->config, &widths) * modes;
    if (o->head && o->pooling == ALBERT_POOL_NONE)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_scheduler_create: a head runs on pooled vectors, and pooling "
                           "is none");
    if (o->head && albert_head_width_in(o->head) != width)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_scheduler_create: the head (the Dense modules) takes vectors "
                           "of %d values, and the pooled vectors have %d",
                           albert_head_width_in(o->head), width);
    const int pooled = o->head ? albert_head_width_out(o->head) : width;
    if (o->truncate_dim && o->pooling == ALBERT_POOL_NONE)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_scheduler_create: truncate_dim cuts pooled vectors, and "
                           "pooling is none");
    if (o->truncate_dim > pooled)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_scheduler_create: truncate_dim %d: the pooled vectors have %d "
                           "values", o->truncate_dim, pooled);
    return ALBERT_OK;
}

static int check_options(const albert_scheduler_options *o, albert_error *err)
{
    if (!o || !o->config)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_create: NULL options or config");
    if (o->engine_count < 0 || (o->engine_count > 0 && !o->engines))
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_create: %d engines",
                           o->engine_count);
    for (int i = 0; i < o->engine_count; i++) {
        if (!o->engines[i])
            return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_create: engine %d is NULL", i);
        /* An engine runs on one thread at a time. */
        for (int j = 0; j < i; j++)
            if (o->engines[j] == o->engines[i])
                return albert_fail(err, ALBERT_E_ARG,
                                   "albert_scheduler_create: engines %d and %d are one", j, i);
        if (o->engines[i] == o->reference)
            return albert_fail(err, ALBERT_E_ARG,
                               "albert_scheduler_create: engine %d is also the reference", i);
        /* Its waits would collect the caller's batches. */
        if (albert_engine_in_flight(o->engines[i]))
            return albert_fail(err, ALBERT_E_ARG,
                               "albert_scheduler_create: engine %d has batches in flight", i);
    }
    if (o->max_length < 0 || o->max_batch_tokens < 0 || o->max_batch_size < 0 ||
        o->tokenize_threads < 0 || o->window < 0 || o->max_wait_ms < 0 || o->truncate_dim < 0)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_create: a negative size");
    if (o->pooling < ALBERT_POOL_NONE || o->pooling > ALBERT_POOL_LAST_TOKEN)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_create: pooling %d",
                           (int)o->pooling);
    if (o->pooling_modes && (o->pooling_modes & ~POOLING_BITS || !(o->pooling_modes >> o->pooling & 1)))
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_scheduler_create: pooling_modes 0x%x: modes from CLS to "
                           "LAST_TOKEN, pooling %d among them",
                           o->pooling_modes, (int)o->pooling);
    int rc = check_pooled_widths(o, err);
    if (rc != ALBERT_OK)
        return rc;
    return albert_outputs_check_layers(o->config, o->layers, o->n_layers, o->skip_last_layers,
                                       o->pooling, "albert_scheduler_create", err);
}

/* The options with their defaults filled in. */
static void resolve_options(albert_scheduler *s, const albert_scheduler_options *o)
{
    s->opt = *o;
    int max_pos = o->config->max_position_embeddings;
    if (s->opt.max_length == 0 || s->opt.max_length > max_pos)
        s->opt.max_length = max_pos;
    albert_outputs widths = {.n_layers = o->n_layers, .layers_concat = o->layers_concat};
    s->hidden = albert_output_width(o->config, &widths);
    s->modes = o->pooling_modes ? o->pooling_modes
               : o->pooling != ALBERT_POOL_NONE ? 1u << o->pooling : 0;
    const int several = albert_pooling_count(s->modes) > 1;
    s->pool_width = (several ? albert_pooling_count(s->modes) : 1) * s->hidden;
    s->pooled_width = o->head ? albert_head_width_out(o->head) : s->pool_width;
    s->result_width = o->truncate_dim ? o->truncate_dim : s->pooled_width;
    if (!o->truncate_dim && o->normalize_truncated) /* no cut: the same thing */
        s->opt.normalize = 1;
    s->opt.normalize_truncated = o->truncate_dim && o->normalize_truncated;
    s->host_pooling = several || (o->exclude_prompt && o->pooling != ALBERT_POOL_NONE &&
                                  o->pooling != ALBERT_POOL_POOLER && o->pooling != ALBERT_POOL_CLS);
    s->max_rows = o->max_batch_size ? o->max_batch_size : DEFAULT_MAX_ROWS;
    int tokens = o->pooling == ALBERT_POOL_NONE || o->token_vectors;
    s->window = o->window ? o->window : tokens ? DEFAULT_WINDOW_TOKENS : DEFAULT_WINDOW;
    s->cap = (size_t)s->window * SCHED_WINDOWS;
    if (s->opt.tokenize_threads == 0) {
        int half = albert_cpu_count() / 2;
        s->opt.tokenize_threads = half < 1 ? 1 : half > MAX_TOKENIZE_THREADS ? MAX_TOKENIZE_THREADS
                                                                          : half;
    }
}

static int default_budget(const albert_engine *engine)
{
    albert_device_info info;
    albert_error e;
    if (albert_device_info_get(albert_engine_device(engine), NULL, &info, &e) == ALBERT_OK &&
        strcmp(info.type, "GPU") == 0)
        return GPU_BATCH_TOKENS;
    return OTHER_BATCH_TOKENS;
}

/* Whether ENGINE takes every batch take_batch may form from BUDGET: for
 * each padded length T, as many rows as fit (at least one). */
static int check_fits(const albert_scheduler *s, const albert_engine *engine, int budget,
                      albert_error *err)
{
    const albert_outputs vectors = {.layers = s->opt.layers, .n_layers = s->opt.n_layers,
                                    .layers_concat = s->opt.layers_concat};
    int last_rows = 0;
    for (int T = s->opt.max_length; T >= 1; T--) {
        int rows = budget / T > 1 ? budget / T : 1;
        rows = rows < s->max_rows ? rows : s->max_rows;
        if (rows == last_rows && T < s->opt.max_length)
            continue; /* a shorter batch of as many rows takes less */
        last_rows = rows;
        albert_error e;
        int rc = albert_engine_fits_outputs(engine, rows, T, &vectors, &e);
        /* The message names the engine's device and the batch that does not fit. */
        if (rc != ALBERT_OK)
            return albert_fail(err, rc, "%s", e.msg);
    }
    return ALBERT_OK;
}

static int init_workers(albert_scheduler *s, albert_error *err)
{
    int n = s->opt.engine_count;
    s->workers = calloc(n ? (size_t)n : 1, sizeof *s->workers);
    if (!s->workers)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: out of memory");
    for (int i = 0; i < n; i++) {
        sched_worker *w = &s->workers[i];
        w->s = s;
        w->engine = s->opt.engines[i];
        w->budget = s->opt.max_batch_tokens ? s->opt.max_batch_tokens : default_budget(w->engine);
        snprintf(w->stats.name, sizeof w->stats.name, "%s", albert_engine_device_name(w->engine));
        int rc = check_fits(s, w->engine, w->budget, err);
        if (rc == ALBERT_OK && s->opt.reference)
            rc = check_fits(s, s->opt.reference, w->budget, err);
        int most = w->budget < s->max_rows * s->opt.max_length ? w->budget
                                                                : s->max_rows * s->opt.max_length;
        if (rc == ALBERT_OK)
            rc = sched_worker_init(w, most > s->opt.max_length ? most : s->opt.max_length,
                                   s->max_rows, err);
        if (rc != ALBERT_OK)
            return rc;
    }
    return ALBERT_OK;
}

static int init_sync(albert_scheduler *s, albert_error *err)
{
    pthread_condattr_t attr;
    int ok = pthread_condattr_init(&attr) == 0;
    ok = ok && pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0;
    ok = ok && pthread_cond_init(&s->to_prepare, &attr) == 0;
    ok = ok && pthread_cond_init(&s->to_batch, &attr) == 0;
    ok = ok && pthread_cond_init(&s->room, &attr) == 0;
    ok = ok && pthread_cond_init(&s->result_ready, &attr) == 0;
    if (ok)
        pthread_condattr_destroy(&attr);
    if (!ok || pthread_mutex_init(&s->lock, NULL) != 0 ||
        pthread_mutex_init(&s->reference_lock, NULL) != 0)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: cannot make its locks");
    return ALBERT_OK;
}

static int init_memory(albert_scheduler *s, albert_error *err)
{
    s->items = calloc(s->cap, sizeof *s->items);
    int ok = s->items != NULL;
    /* The caller's LAYERS may go once create returns. */
    s->layers = s->opt.n_layers ? malloc((size_t)s->opt.n_layers * sizeof *s->layers) : NULL;
    ok = ok && (s->layers || !s->opt.n_layers);
    for (int i = 0; s->layers && i < s->opt.n_layers; i++)
        s->layers[i] = s->opt.layers[i];
    s->opt.layers = s->layers;
    for (int i = 0; i < SCHED_WINDOWS; i++) {
        s->windows[i].order = malloc((size_t)s->window * sizeof *s->windows[i].order);
        ok = ok && s->windows[i].order;
    }
    s->threads = calloc((size_t)(s->opt.tokenize_threads + s->opt.engine_count), sizeof *s->threads);
    if (!ok || !s->threads)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: out of memory");
    return init_workers(s, err);
}

/* Each tokenizer thread's scratch follows the preparer entries, in one block. */
static int start_threads(albert_scheduler *s, albert_error *err)
{
    int P = s->opt.tokenize_threads;
    size_t scratch = 2 * (size_t)s->opt.max_length;
    preparer *preparers = calloc((size_t)P, sizeof *preparers + scratch * sizeof(int32_t));
    if (!preparers)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: out of memory");
    s->preparers = preparers;
    int32_t *space = (int32_t *)(preparers + P);
    for (int i = 0; i < P; i++) {
        preparers[i].s = s;
        preparers[i].scratch = space + (size_t)i * scratch;
        if (pthread_create(&s->threads[s->nthreads], NULL, prepare_thread, &preparers[i]) != 0)
            return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: cannot start a thread");
        s->nthreads++;
    }
    for (int i = 0; i < s->opt.engine_count; i++) {
        if (pthread_create(&s->threads[s->nthreads], NULL, device_thread, &s->workers[i]) != 0)
            return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: cannot start a thread");
        s->nthreads++;
    }
    return ALBERT_OK;
}

int albert_scheduler_create(const albert_scheduler_options *opt, albert_scheduler **out,
                            albert_error *err)
{
    if (!out)
        return albert_fail(err, ALBERT_E_ARG, "albert_scheduler_create: NULL out");
    *out = NULL;
    int rc = check_options(opt, err);
    if (rc != ALBERT_OK)
        return rc;
    albert_scheduler *s = calloc(1, sizeof *s);
    if (!s)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_scheduler_create: out of memory");
    resolve_options(s, opt);
    s->start_ns = albert_now_ns();
    rc = init_sync(s, err);
    if (rc == ALBERT_OK)
        rc = init_memory(s, err);
    if (rc == ALBERT_OK)
        rc = start_threads(s, err);
    if (rc != ALBERT_OK) {
        albert_scheduler_free(s);
        return rc;
    }
    *out = s;
    return albert_ok(err);
}
