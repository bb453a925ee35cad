/* The scheduler (albert_scheduler_*): results in push order and equal to
 * running each record alone, on one device and on every device at once;
 * bad records fail alone in their place; small windows and batch budgets
 * (many windows, the ring wrapping around, one-row batches); pushing from
 * another thread against a bounded ring; cancel releasing a blocked push;
 * a window closed by max_wait_ms without finish; tokenize only; token
 * vectors with ALBERT_POOL_NONE, and for the records that ask; a head (Dense modules) after the pooling;
 * option errors. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "albert_cl.h"
#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECORDS 300
#define TOL 1e-5

static const char *const words[] = {"paris", "is", "a", "beautiful", "city", "of", "light",
                                    "the", "quick", "brown", "fox", "jumps", "over", "dog"};

typedef struct fixture {
    albert_model *model;
    albert_tokenizer *tok;
    const albert_config *cfg;
    albert_engine *engine; /* any engine, for option checks */
    char texts[RECORDS][400];
} fixture;

static void make_texts(fixture *f)
{
    unsigned x = 12345;
    for (int i = 0; i < RECORDS; i++) {
        char *p = f->texts[i];
        p[0] = '\0';
        x = x * 1103515245u + 12345u;
        int n = (int)(x >> 16) % 40;
        for (int k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            strcat(p, words[(x >> 16) % (sizeof words / sizeof *words)]);
            strcat(p, " ");
        }
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static albert_record text_record(const char *text, uint64_t tag)
{
    albert_record r;
    memset(&r, 0, sizeof r);
    r.text = text;
    r.text_len = strlen(text);
    r.tag = tag;
    return r;
}

/* Record I alone through ENGINE, into the outputs O asks for. */
static void run_alone_into(const fixture *f, albert_engine *engine, int i, albert_outputs *o)
{
    int32_t ids[512], types[512];
    int n, n_full;
    albert_error err;
    CHECK(albert_tokenize(f->tok, f->texts[i], strlen(f->texts[i]), NULL, 0, 512, ids, types, &n,
                          &n_full, &err) == ALBERT_OK,
          "%s", err.msg);
    albert_batch b = {1, n, ids, types, NULL};
    CHECK(albert_engine_run(engine, &b, o, &err) == ALBERT_OK, "%s", err.msg);
}

/* Record I alone through ENGINE: its pooled vector into OUT. */
static void run_alone(const fixture *f, albert_engine *engine, int i, float *out)
{
    albert_outputs o = {.pooled = out, .pooling = ALBERT_POOL_POOLER};
    run_alone_into(f, engine, i, &o);
}

static double max_diff(const float *a, const float *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        m = d > m || d != d ? d : m; /* NaN counts */
    }
    return m;
}

static albert_scheduler *start(const albert_scheduler_options *o)
{
    albert_scheduler *s = NULL;
    albert_error err;
    CHECK(albert_scheduler_create(o, &s, &err) == ALBERT_OK, "create: %s", err.msg);
    return s;
}

static albert_scheduler_options small_options(const fixture *f, albert_engine **engines, int n)
{
    albert_scheduler_options o;
    albert_scheduler_options_init(&o);
    o.config = f->cfg;
    o.tokenizer = f->tok;
    o.engines = engines;
    o.engine_count = n;
    o.window = 16;           /* many windows, the ring wraps around */
    o.max_batch_tokens = 64; /* batches of a few rows, long records alone */
    o.max_batch_size = 5;
    return o;
}

typedef struct pusher {
    albert_scheduler *s;
    const fixture *f;
    int first_bad; /* record index pushed as bad, or -1 */
    int rc_last;
} pusher;

static void *push_all(void *arg)
{
    pusher *p = arg;
    albert_error err;
    for (int i = 0; i < RECORDS; i++) {
        albert_record r = text_record(p->f->texts[i], 1000u + (uint64_t)i);
        if (i == p->first_bad)
            r.error = "this line did not parse";
        p->rc_last = albert_scheduler_push(p->s, &r, &err);
        if (p->rc_last != ALBERT_OK)
            return NULL;
    }
    albert_scheduler_finish(p->s, &err);
    return NULL;
}

/* Every record through ENGINES, pushed from a thread, against each alone on
 * REFERENCE; record BAD pushed as bad. */
static void check_stream(const fixture *f, albert_engine **engines, int n, albert_engine *reference,
                         int bad, const char *what)
{
    albert_scheduler_options o = small_options(f, engines, n);
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    CHECK(albert_scheduler_room(s) == 16 * 4 - 1, "%s: room %zu", what, albert_scheduler_room(s));
    pusher p = {s, f, bad, 0};
    pthread_t t;
    pthread_create(&t, NULL, push_all, &p);
    int H = f->cfg->hidden_size, count = 0;
    float *want = test_calloc((size_t)H, sizeof *want);
    double worst = 0;
    const albert_result *res;
    albert_error err;
    while (albert_scheduler_next(s, &res, &err) == ALBERT_OK && res) {
        CHECK(res->index == (uint64_t)count, "%s: result %d has index %llu", what, count,
              (unsigned long long)res->index);
        CHECK(res->tag == 1000u + res->index, "%s: tag %llu", what, (unsigned long long)res->tag);
        if ((int)res->index == bad) {
            CHECK(res->status == ALBERT_E_INPUT && strcmp(res->message, "this line did not parse") == 0,
                  "%s: the bad record: %d %s", what, res->status, res->message);
        } else {
            CHECK(res->status == ALBERT_OK && res->pooled, "%s: record %d: %s", what, count,
                  res->message);
            run_alone(f, reference, count, want);
            if (res->pooled)
                worst = fmax(worst, max_diff(res->pooled, want, H));
        }
        count++;
    }
    pthread_join(t, NULL);
    CHECK(count == RECORDS, "%s: %d results", what, count);
    CHECK(worst <= TOL, "%s: max diff %g from each record alone", what, worst);
    albert_scheduler_stats st;
    albert_scheduler_device_stats dev[8];
    CHECK(albert_scheduler_stats_get(s, &st, dev, 8, &err) == ALBERT_OK, "%s", err.msg);
    uint64_t records = 0, batches = 0;
    for (int i = 0; i < n && i < 8; i++) {
        records += dev[i].records;
        batches += dev[i].batches;
        CHECK(dev[i].padded_tokens <= dev[i].batches * 64 + 512 && dev[i].tokens <= dev[i].padded_tokens,
              "%s: device %d: %llu padded tokens in %llu batches", what, i,
              (unsigned long long)dev[i].padded_tokens, (unsigned long long)dev[i].batches);
    }
    CHECK(records == RECORDS - (bad >= 0) && st.pushed == RECORDS && st.returned == RECORDS,
          "%s: %llu records ran, %llu pushed", what, (unsigned long long)records,
          (unsigned long long)st.pushed);
    CHECK(batches > RECORDS / 5, "%s: %llu batches: the budget was not held", what,
          (unsigned long long)batches);
    printf("%s: %d results in order, max diff %.2g, %llu batches\n", what, count, worst,
           (unsigned long long)batches);
    free(want);
    albert_scheduler_free(s);
}

/* Ids out of the vocabulary fail alone; the records around them run. */
static void check_bad_ids(const fixture *f, albert_engine *engine)
{
    albert_scheduler_options o = small_options(f, &engine, 1);
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    int32_t good[] = {2, 100, 3}, bad[] = {2, 999999, 3};
    albert_error err;
    for (int i = 0; i < 3; i++) {
        albert_record r;
        memset(&r, 0, sizeof r);
        r.input_ids = i == 1 ? bad : good;
        r.n_ids = 3;
        CHECK(albert_scheduler_push(s, &r, &err) == ALBERT_OK, "%s", err.msg);
    }
    albert_scheduler_finish(s, &err);
    const albert_result *res;
    for (int i = 0; i < 3; i++) {
        CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res, "%s", err.msg);
        if (!res)
            break;
        int want = i == 1 ? ALBERT_E_INPUT : ALBERT_OK;
        CHECK(res->status == want, "record %d: %d %s", i, res->status, res->message);
        if (i == 1)
            CHECK(strstr(res->message, "999999") != NULL, "the message names the id: %s",
                  res->message);
    }
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && !res, "the end after 3");
    albert_scheduler_free(s);
}

typedef struct blocked {
    albert_scheduler *s;
    int pushed, rc;
} blocked;

static void *push_until_blocked(void *arg)
{
    blocked *b = arg;
    albert_record r = text_record("a b c", 0);
    albert_error err;
    while ((b->rc = albert_scheduler_push(b->s, &r, &err)) == ALBERT_OK)
        b->pushed++;
    return NULL;
}

/* Nobody takes results: the ring fills, push blocks, cancel releases it. */
static void check_cancel(const fixture *f, albert_engine *engine)
{
    albert_scheduler_options o = small_options(f, &engine, 1);
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    blocked b = {s, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, push_until_blocked, &b);
    for (int i = 0; i < 200 && albert_scheduler_room(s) > 0; i++)
        sleep_ms(10);
    sleep_ms(50);
    CHECK(albert_scheduler_room(s) == 0 && b.pushed == 16 * 4 - 1,
          "the ring holds 63 records: room %zu, %d pushed", albert_scheduler_room(s), b.pushed);
    albert_scheduler_cancel(s);
    pthread_join(t, NULL);
    CHECK(b.rc == ALBERT_E_CANCELLED, "a blocked push ends with ALBERT_E_CANCELLED: %d", b.rc);
    const albert_result *res;
    albert_error err;
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_E_CANCELLED, "next after cancel");
    albert_scheduler_free(s);
}

/* Three records and no finish: max_wait_ms batches them anyway. */
static void check_max_wait(const fixture *f, albert_engine *engine)
{
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.max_wait_ms = 20;
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    albert_error err;
    for (int i = 0; i < 3; i++) {
        albert_record r = text_record(f->texts[i], 0);
        albert_scheduler_push(s, &r, &err);
    }
    const albert_result *res;
    for (int i = 0; i < 3; i++)
        CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res && res->status == ALBERT_OK,
              "record %d without finish: %s", i, err.msg);
    CHECK(albert_scheduler_ready(s) == 0, "nothing more is ready");
    albert_scheduler_free(s); /* with the threads waiting: free must not hang */
}

/* No engines: the ids albert_tokenize gives; ALBERT_POOL_NONE: a vector per token. */
static void check_tokenize_and_tokens(const fixture *f, albert_engine *engine)
{
    for (int engines = 0; engines <= 1; engines++) {
        albert_scheduler_options o = small_options(f, &engine, engines);
        o.pooling = ALBERT_POOL_NONE;
        albert_scheduler *s = start(&o);
        if (!s)
            return;
        albert_error err;
        for (int i = 0; i < 40; i++) {
            albert_record r = text_record(f->texts[i], 0);
            r.pair = i % 2 ? "and a pair" : NULL;
            r.pair_len = r.pair ? strlen(r.pair) : 0;
            albert_scheduler_push(s, &r, &err);
        }
        albert_scheduler_finish(s, &err);
        const albert_result *res;
        int i = 0;
        while (albert_scheduler_next(s, &res, &err) == ALBERT_OK && res) {
            int32_t ids[512], types[512];
            int n, n_full;
            const char *pair = i % 2 ? "and a pair" : NULL;
            albert_tokenize(f->tok, f->texts[i], strlen(f->texts[i]), pair, pair ? strlen(pair) : 0,
                            512, ids, types, &n, &n_full, &err);
            CHECK(res->n_ids == n && memcmp(res->input_ids, ids, (size_t)n * sizeof *ids) == 0,
                  "record %d: the ids albert_tokenize gives", i);
            CHECK(!pair == !res->token_type_ids, "record %d: types only for a pair", i);
            if (pair && res->token_type_ids)
                CHECK(memcmp(res->token_type_ids, types, (size_t)n * sizeof *types) == 0,
                      "record %d: the pair's types", i);
            CHECK(engines ? res->tokens && res->rows == n && !res->pooled
                          : !res->tokens && !res->pooled,
                  "record %d, %d engines: %d token vectors", i, engines, res->rows);
            i++;
        }
        CHECK(i == 40, "%d results", i);
        albert_scheduler_free(s);
    }
}

/* Results of 60 records under pooling POOLER; every third asks for its
 * token vectors (ALL: the options ask for everyone's).  Copies each
 * result's pooled vector and token vectors into POOLED and TOKENS. */
static void record_tokens_run(const fixture *f, albert_engine *engine, int all, float *pooled,
                              float *tokens, int *rows)
{
    const int H = f->cfg->hidden_size;
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.token_vectors = all;
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    albert_error err;
    for (int i = 0; i < 60; i++) {
        albert_record r = text_record(f->texts[i], (uint64_t)i);
        r.token_vectors = i % 3 == 0;
        albert_scheduler_push(s, &r, &err);
    }
    albert_scheduler_finish(s, &err);
    const albert_result *res;
    for (int i = 0; albert_scheduler_next(s, &res, &err) == ALBERT_OK && res; i++) {
        const int want = all || i % 3 == 0;
        CHECK(res->status == ALBERT_OK && res->pooled, "record %d: %s", i, res->message);
        CHECK(want ? res->tokens && res->rows == res->n_ids : !res->tokens && res->rows == 0,
              "record %d (token_vectors %d, all %d): %d token vectors of %d tokens", i,
              i % 3 == 0, all, res->rows, res->n_ids);
        if (res->pooled)
            memcpy(pooled + (size_t)i * H, res->pooled, (size_t)H * sizeof(float));
        rows[i] = res->tokens ? res->rows : 0;
        if (res->tokens)
            memcpy(tokens + (size_t)i * 64 * H, res->tokens, (size_t)res->rows * H * sizeof(float));
    }
    albert_scheduler_free(s);
}

/* albert_record.token_vectors: the records that ask get their token
 * vectors (those of a run that gives everyone's), the others none, and the
 * pooled vectors are the same either way. */
static void check_record_tokens(const fixture *f, albert_engine *engine)
{
    const size_t H = (size_t)f->cfg->hidden_size;
    float *pooled[2], *tokens[2];
    int rows[2][60];
    for (int all = 0; all < 2; all++) {
        pooled[all] = test_calloc(60 * H, sizeof(float));
        tokens[all] = test_calloc(60 * 64 * H, sizeof(float));
        record_tokens_run(f, engine, all, pooled[all], tokens[all], rows[all]);
    }
    CHECK(max_diff(pooled[0], pooled[1], 60 * (int)H) <= TOL, "pooled vectors differ by %g",
          max_diff(pooled[0], pooled[1], 60 * (int)H));
    for (int i = 0; i < 60; i += 3)
        CHECK(rows[0][i] == rows[1][i] && rows[0][i] > 0 &&
                  max_diff(tokens[0] + i * 64 * H, tokens[1] + i * 64 * H,
                           rows[0][i] * (int)H) <= TOL,
              "record %d: token vectors as the run that gives everyone's", i);
    for (int all = 0; all < 2; all++) {
        free(pooled[all]);
        free(tokens[all]);
    }
}

/* A failure that is not one record's ends the run: a text record with no
 * tokenizer.  The records done before it come back, then the failure, and
 * pushes fail with it instead of filling the ring. */
static void check_fatal(const fixture *f, albert_engine *engine)
{
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.tokenizer = NULL;
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    int32_t good[] = {2, 100, 3};
    albert_error err;
    albert_record r;
    memset(&r, 0, sizeof r);
    r.input_ids = good;
    r.n_ids = 3;
    r.truncation = (albert_truncation)5;
    CHECK(albert_scheduler_push(s, &r, &err) == ALBERT_E_ARG && strstr(err.msg, "truncation"),
          "a truncation that is neither side: %s", err.msg);
    r.truncation = ALBERT_TRUNCATE_LEFT;
    albert_scheduler_push(s, &r, &err);
    albert_record text = text_record("no tokenizer for this", 0);
    albert_scheduler_push(s, &text, &err);
    albert_scheduler_finish(s, &err);
    const albert_result *res;
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res && res->status == ALBERT_OK,
          "the record before the failure: %s", err.msg);
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_E_ARG && strstr(err.msg, "tokenizer"),
          "then the failure: %s", err.msg);
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_E_ARG, "and again");
    albert_scheduler_free(s);
    /* Pushing after it fails at once (the ring would never drain). */
    s = start(&o);
    if (!s)
        return;
    albert_scheduler_push(s, &text, &err);
    int rc = ALBERT_OK;
    for (int i = 0; i < 1000 && rc == ALBERT_OK; i++) {
        rc = albert_scheduler_push(s, &r, &err);
        if (rc == ALBERT_OK && albert_scheduler_room(s) == 0)
            sleep_ms(20); /* the failure comes from a tokenizer thread */
    }
    CHECK(rc == ALBERT_E_ARG && albert_scheduler_room(s) == 0, "push after the failure: %d", rc);
    albert_scheduler_free(s);
}

/* Tokenizing only, max_wait_ms closes a window too; room() says when a push
 * would block on the windows, not only on the ring. */
static void check_tokenize_wait_and_room(const fixture *f, albert_engine *engine)
{
    albert_scheduler_options o = small_options(f, &engine, 0);
    o.max_wait_ms = 5;
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    albert_error err;
    albert_record r = text_record("a slow stream", 0);
    albert_scheduler_push(s, &r, &err);
    const albert_result *res;
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res && res->n_ids > 2,
          "tokenized without finish: %s", err.msg);
    /* Windows of one record each, nobody taking results: four windows hold
     * one record each (the first result above drained its own), and a fifth
     * push would wait for the oldest to drain. */
    for (int i = 0; i < 4; i++) {
        albert_scheduler_push(s, &r, &err);
        sleep_ms(30);
    }
    CHECK(albert_scheduler_room(s) == 0, "room %zu with four windows in flight",
          albert_scheduler_room(s));
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res, "%s", err.msg);
    CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res, "%s", err.msg);
    CHECK(albert_scheduler_room(s) > 0, "room once the first window drained");
    albert_scheduler_free(s);
}

/* Layers combined (albert_scheduler_options.layers, copied at create):
 * results of albert_scheduler_width values, each the vector of its record
 * run alone with the same layers on the cpu engine (once the scheduler,
 * which may run that engine too, is done). */
#define COMBINED_RECORDS 20

/* Finishes S, takes up to MAX results' pooled vectors of W values into a
 * new array *GOT, frees S; returns how many came. */
static int collect_pooled(albert_scheduler *s, int max, int W, float **got)
{
    albert_error err;
    albert_scheduler_finish(s, &err);
    const albert_result *res;
    *got = test_calloc((size_t)max * W, sizeof **got);
    int n = 0;
    while (s && albert_scheduler_next(s, &res, &err) == ALBERT_OK && res && res->pooled &&
           n < max)
        memcpy(*got + (size_t)n++ * W, res->pooled, (size_t)W * sizeof **got);
    albert_scheduler_free(s); /* before its engine runs records alone */
    return n;
}
static void check_layers_combined(const fixture *f, albert_engine *engine)
{
    const int H = f->cfg->hidden_size;
    int layers[2] = {3, 1};
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.pooling = ALBERT_POOL_CLS;
    o.layers = layers;
    o.n_layers = 2;
    o.layers_concat = 1;
    albert_scheduler *s = start(&o);
    if (!s)
        return;
    layers[0] = layers[1] = -7; /* the scheduler has its copy */
    CHECK(albert_scheduler_width(s) == 2 * H, "width %d", albert_scheduler_width(s));
    albert_error err;
    for (int i = 0; i < COMBINED_RECORDS; i++) {
        albert_record r = text_record(f->texts[i], 0);
        albert_scheduler_push(s, &r, &err);
    }
    float *got, *want = test_calloc((size_t)2 * H, sizeof *want);
    const int n = collect_pooled(s, COMBINED_RECORDS, 2 * H, &got);
    CHECK(n == COMBINED_RECORDS, "%d results with layers combined", n);
    const int asked[2] = {3, 1};
    for (int i = 0; i < n; i++) {
        albert_outputs alone = {.pooled = want, .pooling = ALBERT_POOL_CLS, .layers = asked,
                                .n_layers = 2, .layers_concat = 1};
        run_alone_into(f, f->engine, i, &alone);
        const double d = max_diff(got + (size_t)i * 2 * H, want, 2 * H);
        CHECK(d <= 1e-5, "%s record %d: %g from its run alone", albert_engine_device_name(engine),
              i, d);
    }
    free(got);
    free(want);
}

/* A sentence-transformers head (Dense 32 -> 16, Tanh) after mean pooling,
 * then normalised: each result is the engine's pooled vector run alone,
 * through albert_head_apply, scaled to unit norm. */
static void check_head(const fixture *f, albert_engine *engine)
{
    albert_head *head = NULL;
    albert_error err;
    const char *dir = ALBERT_TEST_DATA_DIR "/sentence-transformers/dense-tanh-normalize";
    CHECK(albert_head_open(dir, &head, &err) == ALBERT_OK && head, "%s", err.msg);
    if (!head)
        return;
    const int H = f->cfg->hidden_size, W = albert_head_width_out(head);
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.pooling = ALBERT_POOL_MEAN;
    o.normalize = 1;
    o.head = head;
    albert_scheduler *s = start(&o);
    CHECK(albert_scheduler_pooled_width(s) == W && W == 16 && albert_scheduler_width(s) == H,
          "widths %d, %d", albert_scheduler_pooled_width(s), albert_scheduler_width(s));
    for (int i = 0; s && i < COMBINED_RECORDS; i++) {
        albert_record r = text_record(f->texts[i], 0);
        albert_scheduler_push(s, &r, &err);
    }
    float *got;
    const int n = collect_pooled(s, COMBINED_RECORDS, W, &got);
    CHECK(n == COMBINED_RECORDS, "%d results through the head", n);
    float *pooled = test_calloc((size_t)H, sizeof *pooled), *want = test_calloc((size_t)W, 4);
    for (int r = 0; r < n; r++) {
        albert_outputs alone = {.pooled = pooled, .pooling = ALBERT_POOL_MEAN};
        run_alone_into(f, f->engine, r, &alone);
        albert_head_apply(head, pooled, 1, want, &err);
        double sq = 0;
        for (int i = 0; i < W; i++)
            sq += (double)want[i] * want[i];
        for (int i = 0; i < W; i++)
            want[i] = (float)(want[i] / sqrt(sq));
        const double d = max_diff(got + (size_t)r * W, want, W);
        CHECK(d <= 1e-5, "%s record %d: %g from its run alone through the head",
              albert_engine_device_name(engine), r, d);
    }
    free(got);
    free(pooled);
    free(want);
    o.pooling = ALBERT_POOL_NONE; /* a head runs on pooled vectors */
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "head"),
          "a head without pooling: %s", err.msg);
    const int two[] = {1, 2}; /* 64 values per vector: not what the head takes */
    o.pooling = ALBERT_POOL_MEAN;
    o.layers = two;
    o.n_layers = 2;
    o.layers_concat = 1;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "64"),
          "a head of the wrong width: %s", err.msg);
    albert_head_close(head);
}

/* The pooled vectors of the first COMBINED_RECORDS texts under O, W values
 * each, in a new array (NULL when the scheduler does not start). */
static float *pooled_under(const fixture *f, const albert_scheduler_options *o, int W)
{
    albert_scheduler *s = start(o);
    if (!s)
        return NULL;
    CHECK(albert_scheduler_pooled_width(s) == W, "pooled width %d, not %d",
          albert_scheduler_pooled_width(s), W);
    albert_error err;
    for (int i = 0; i < COMBINED_RECORDS; i++) {
        albert_record r = text_record(f->texts[i], 0);
        albert_scheduler_push(s, &r, &err);
    }
    float *got;
    const int n = collect_pooled(s, COMBINED_RECORDS, W, &got);
    CHECK(n == COMBINED_RECORDS, "%d results of %d values", n, W);
    return got;
}

/* truncate_dim keeps the first values of what the head and normalize give
 * (no longer unit-length); normalize_truncated scales the cut to unit
 * length, with a head or with the engine's own pooling and normalize. */
static void check_truncate(const fixture *f, const albert_head *head)
{
    enum { CUT = 5 };
    albert_engine *engine = f->engine;
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.pooling = ALBERT_POOL_MEAN;
    o.normalize = 1;
    for (int with_head = 1; with_head >= 0; with_head--) {
        o.head = with_head ? head : NULL;
        o.truncate_dim = o.normalize_truncated = 0;
        const int W = with_head ? albert_head_width_out(head) : f->cfg->hidden_size;
        float *whole = pooled_under(f, &o, W);
        o.truncate_dim = CUT;
        float *cut = pooled_under(f, &o, CUT);
        o.normalize_truncated = 1;
        float *unit = pooled_under(f, &o, CUT);
        for (int r = 0; whole && cut && unit && r < COMBINED_RECORDS; r++) {
            const float *w = whole + (size_t)r * W;
            double sq = 0;
            for (int i = 0; i < CUT; i++)
                sq += (double)w[i] * w[i];
            double d_cut = max_diff(cut + (size_t)r * CUT, w, CUT), d_unit = 0;
            for (int i = 0; i < CUT; i++)
                d_unit = fmax(d_unit, fabs(unit[(size_t)r * CUT + i] - w[i] / sqrt(sq)));
            CHECK(d_cut <= 1e-6 && d_unit <= 1e-6 && sq < 0.999,
                  "head %d, record %d: the cut is %g from the whole vector's first %d values "
                  "(squared norm %g), normalised %g from it scaled",
                  with_head, r, d_cut, CUT, sq, d_unit);
        }
        free(whole);
        free(cut);
        free(unit);
    }
    albert_scheduler *s;
    albert_error err;
    o.truncate_dim = f->cfg->hidden_size + 1;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "have 32"),
          "truncate_dim past the width: %s", err.msg);
    o.head = head;
    o.truncate_dim = albert_head_width_out(head) + 1;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "have 16"),
          "truncate_dim past the head's width: %s", err.msg);
    o.head = NULL;
    o.truncate_dim = -1;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG, "a negative truncate_dim");
    o.truncate_dim = CUT;
    o.pooling = ALBERT_POOL_NONE;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "pooling is none"),
          "truncate_dim without pooling: %s", err.msg);
}

/* sentence-transformers' Pooling with include_prompt false, by hand: MODE
 * over the positions K.. of HIDDEN [N, H] (mean, max, weighted by t + 1,
 * sum / sqrt(count), or the last one). */
static void pool_past(const float *hidden, int n, int H, int k, albert_pooling mode, float *out)
{
    for (int i = 0; i < H; i++) {
        double acc = mode == ALBERT_POOL_MAX ? -INFINITY : 0, weights = 0;
        for (int t = k; t < n; t++) {
            const double w = mode == ALBERT_POOL_WEIGHTED_MEAN ? t + 1 : 1, v = hidden[t * H + i];
            acc = mode == ALBERT_POOL_MAX ? fmax(acc, v) : acc + w * v;
            weights += w;
        }
        out[i] = (float)(mode == ALBERT_POOL_MAX         ? acc
                         : mode == ALBERT_POOL_MEAN_SQRT_LEN ? acc / sqrt(weights)
                         : mode == ALBERT_POOL_LAST_TOKEN    ? hidden[(n - 1) * H + i]
                                                             : acc / weights);
    }
}

/* The ids of TEXT and how many positions its prompt's pooling leaves out. */
static int prompt_positions(const fixture *f, const char *prompt)
{
    int32_t ids[512], types[512];
    int n = 0, n_full;
    albert_error err;
    CHECK(albert_tokenize(f->tok, prompt, strlen(prompt), NULL, 0, 512, ids, types, &n, &n_full,
                          &err) == ALBERT_OK, "%s", err.msg);
    return n - 1; /* [CLS] and the prompt's pieces */
}

#define PROMPT_RECORDS 6

/* Records with a prompt, pooled without its positions (exclude_prompt): each
 * result is the engine's token vectors of prompt + text run alone, pooled by
 * hand past the prompt; a record without a prompt pools every token. */
static void check_prompt_pooling(const fixture *f, albert_engine *engine, albert_pooling mode)
{
    /* Records switch between two prompts (a tokenizer thread remembers the
     * last one's positions), and the last one has none. */
    static const char *const prompts[3] = {"Represent this sentence: ", "query: ", ""};
    const int H = f->cfg->hidden_size;
    const int k[3] = {prompt_positions(f, prompts[0]), prompt_positions(f, prompts[1]), 0};
    CHECK(k[0] != k[1], "the two prompts' positions: %d and %d", k[0], k[1]);
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.pooling = mode;
    o.exclude_prompt = 1;
    albert_scheduler *s = start(&o);
    albert_error err;
    for (int i = 0; s && i < PROMPT_RECORDS; i++) {
        albert_record r = text_record(f->texts[i], (uint64_t)i);
        r.prompt = i == PROMPT_RECORDS - 1 ? NULL : prompts[i % 3 / 2];
        r.prompt_len = r.prompt ? strlen(r.prompt) : 0;
        CHECK(albert_scheduler_push(s, &r, &err) == ALBERT_OK, "%s", err.msg);
    }
    float *got;
    const int n = collect_pooled(s, PROMPT_RECORDS, H, &got);
    CHECK(n == PROMPT_RECORDS, "%d results with a prompt", n);
    float *hidden = test_calloc((size_t)512 * H, sizeof *hidden), *want = test_calloc((size_t)H, 4);
    for (int r = 0; r < n; r++) {
        const int which = r == PROMPT_RECORDS - 1 ? 2 : r % 3 / 2;
        char text[64 + sizeof f->texts[r]];
        snprintf(text, sizeof text, "%s%s", prompts[which], f->texts[r]);
        int32_t ids[512], types[512];
        int len = 0, n_full;
        albert_tokenize(f->tok, text, strlen(text), NULL, 0, 512, ids, types, &len, &n_full, &err);
        albert_batch b = {1, len, ids, types, NULL};
        albert_outputs alone = {.last_hidden_state = hidden};
        CHECK(albert_engine_run(f->engine, &b, &alone, &err) == ALBERT_OK, "%s", err.msg);
        pool_past(hidden, len, H, k[which], mode, want);
        const double d = max_diff(got + (size_t)r * H, want, H);
        CHECK(d <= 1e-5, "%s, pooling %d, record %d: %g from its tokens pooled past the prompt",
              albert_engine_device_name(engine), (int)mode, r, d);
    }
    free(got);
    free(hidden);
    free(want);
}

/* Several pooling modes: CLS, MAX and MEAN vectors end to end, each the
 * engine's own pooling of the record run alone; L2-normalised as a whole. */
static void check_several_modes(const fixture *f, albert_engine *engine)
{
    const int H = f->cfg->hidden_size;
    static const albert_pooling order[3] = {ALBERT_POOL_CLS, ALBERT_POOL_MAX, ALBERT_POOL_MEAN};
    albert_scheduler_options o = small_options(f, &engine, 1);
    o.pooling = ALBERT_POOL_MEAN;
    o.pooling_modes = 1u << ALBERT_POOL_MEAN | 1u << ALBERT_POOL_CLS | 1u << ALBERT_POOL_MAX;
    o.normalize = 1;
    albert_scheduler *s = start(&o);
    CHECK(albert_scheduler_pooled_width(s) == 3 * H && albert_scheduler_width(s) == H,
          "widths %d, %d", albert_scheduler_pooled_width(s), albert_scheduler_width(s));
    albert_error err;
    for (int i = 0; s && i < PROMPT_RECORDS; i++) {
        albert_record r = text_record(f->texts[i], (uint64_t)i);
        albert_scheduler_push(s, &r, &err);
    }
    float *got;
    const int n = collect_pooled(s, PROMPT_RECORDS, 3 * H, &got);
    CHECK(n == PROMPT_RECORDS, "%d results with three modes", n);
    float *want = test_calloc((size_t)3 * H, sizeof *want);
    for (int r = 0; r < n; r++) {
        double sq = 0;
        for (int m = 0; m < 3; m++) {
            albert_outputs alone = {.pooled = want + m * H, .pooling = order[m]};
            run_alone_into(f, f->engine, r, &alone);
        }
        for (int i = 0; i < 3 * H; i++)
            sq += (double)want[i] * want[i];
        for (int i = 0; i < 3 * H; i++)
            want[i] = (float)(want[i] / sqrt(sq));
        const double d = max_diff(got + (size_t)r * 3 * H, want, 3 * H);
        CHECK(d <= 1e-5, "%s record %d: %g from CLS, MAX and MEAN alone, end to end",
              albert_engine_device_name(engine), r, d);
    }
    free(got);
    free(want);
    o.pooling = ALBERT_POOL_POOLER; /* not among the modes */
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "pooling_modes"),
          "pooling not among the modes: %s", err.msg);
    o.pooling = ALBERT_POOL_MEAN;
    o.pooling_modes |= 1u << ALBERT_POOL_POOLER;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "pooling_modes"),
          "the pooler among the modes: %s", err.msg);
}

/* A prompt goes before a text, in UTF-8. */
static void check_prompt_errors(const fixture *f)
{
    albert_engine *engine = f->engine;
    albert_scheduler_options o = small_options(f, &engine, 1);
    albert_scheduler *s = start(&o);
    albert_error err;
    const int32_t ids[] = {2, 3};
    albert_record r = text_record("", 0);
    r.text = NULL;
    r.input_ids = ids;
    r.n_ids = 2;
    r.prompt = "query: ";
    r.prompt_len = 7;
    CHECK(albert_scheduler_push(s, &r, &err) == ALBERT_E_ARG && strstr(err.msg, "input_ids"),
          "a prompt before ids: %s", err.msg);
    r = text_record("fine", 0);
    r.prompt = "caf\xc3";
    r.prompt_len = 4;
    CHECK(albert_scheduler_push(s, &r, &err) == ALBERT_E_ARG && strstr(err.msg, "prompt") &&
              strstr(err.msg, "UTF-8"),
          "a prompt that is not UTF-8: %s", err.msg);
    /* A text that is not UTF-8 fails alone, at its own byte, prompt or not. */
    const char *prompts[2] = {NULL, "query: "};
    for (int i = 0; i < 2; i++) {
        r = text_record("caf\xc3x", (uint64_t)i);
        r.prompt = prompts[i];
        r.prompt_len = prompts[i] ? strlen(prompts[i]) : 0;
        CHECK(albert_scheduler_push(s, &r, &err) == ALBERT_OK, "%s", err.msg);
    }
    albert_scheduler_finish(s, &err);
    const albert_result *res;
    char first[ALBERT_ERRMSG_MAX] = "";
    for (int i = 0; i < 2; i++) {
        CHECK(albert_scheduler_next(s, &res, &err) == ALBERT_OK && res &&
                  res->status == ALBERT_E_INPUT,
              "record %d: %s", i, res ? res->message : err.msg);
        if (i == 0 && res)
            snprintf(first, sizeof first, "%s", res->message);
        else if (res)
            CHECK(strcmp(first, res->message) == 0 && strstr(first, "byte 3"),
                  "after a prompt: '%s', alone: '%s'", res->message, first);
    }
    albert_scheduler_free(s);
}

static void check_option_errors(const fixture *f)
{
    albert_scheduler *s = (albert_scheduler *)1;
    albert_error err;
    albert_scheduler_options o;
    albert_scheduler_options_init(&o);
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && !s, "no config");
    o.config = f->cfg;
    o.engine_count = 1;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG, "one engine, no array");
    o.engine_count = 0;
    o.window = -1;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG, "a negative window");
    CHECK(albert_scheduler_push(NULL, NULL, &err) == ALBERT_E_ARG, "NULL scheduler");
    albert_engine *twice[2] = {f->engine, f->engine};
    o.window = 0;
    o.engines = twice;
    o.engine_count = 2;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG, "one engine twice");
    const int twice_layer[] = {2, 2};
    o.engine_count = 0;
    o.pooling = ALBERT_POOL_MEAN;
    o.layers = twice_layer;
    o.n_layers = 2;
    CHECK(albert_scheduler_create(&o, &s, &err) == ALBERT_E_ARG && strstr(err.msg, "twice"),
          "a layer given twice: %s", err.msg);
    CHECK(albert_scheduler_width(NULL) == 0 && albert_scheduler_pooled_width(NULL) == 0,
          "the width of NULL");
    albert_scheduler_free(NULL);
}

int main(void)
{
    fixture *f = test_calloc(1, sizeof *f);
    f->model = test_open_model("tiny-gelu");
    char dir[1024];
    test_shared_path(dir, sizeof dir, "models/tiny-gelu");
    albert_error err;
    if (albert_tokenizer_open(dir, &f->tok, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: %s\n", err.msg);
        return 1;
    }
    f->cfg = albert_model_config(f->model);
    make_texts(f);
    int devices = test_device_count(), cpu = test_cpu_device();
    albert_engine **all = test_calloc((size_t)devices, sizeof *all);
    for (int d = 0; d < devices; d++)
        all[d] = test_open_engine(f->model, d, 0);
    /* The records alone run on an engine of their own: the scheduler's are
     * busy on its threads meanwhile. */
    albert_engine *alone = test_open_engine(f->model, cpu, 0);
    for (int d = 0; d < devices; d++) {
        char label[160], what[200];
        test_device_label(d, label, sizeof label);
        snprintf(what, sizeof what, "device %s", label);
        check_stream(f, &all[d], 1, alone, d == 0 ? 7 : -1, what);
    }
    check_stream(f, all, devices, alone, 150, "every device at once");
    albert_engine_free(alone);
    for (int d = 0; d < devices; d++) { /* rejected rows and token vectors, on every engine */
        check_bad_ids(f, all[d]);
        check_tokenize_and_tokens(f, all[d]);
        check_record_tokens(f, all[d]);
    }
    check_cancel(f, all[cpu]);
    check_max_wait(f, all[cpu]);
    check_fatal(f, all[cpu]);
    check_tokenize_wait_and_room(f, all[cpu]);
    f->engine = all[cpu];
    check_option_errors(f);
    for (int d = 0; d < devices; d++) { /* against the cpu alone */
        check_layers_combined(f, all[d]);
        check_head(f, all[d]);
        check_prompt_pooling(f, all[d], ALBERT_POOL_MEAN);
        check_prompt_pooling(f, all[d], ALBERT_POOL_WEIGHTED_MEAN);
        check_prompt_pooling(f, all[d], ALBERT_POOL_MAX);
        check_prompt_pooling(f, all[d], ALBERT_POOL_MEAN_SQRT_LEN);
        check_prompt_pooling(f, all[d], ALBERT_POOL_LAST_TOKEN);
        check_several_modes(f, all[d]);
    }
    check_prompt_errors(f);
    albert_head *head = NULL; /* Dense 32 -> 16, Tanh */
    CHECK(albert_head_open(ALBERT_TEST_DATA_DIR "/sentence-transformers/dense-tanh-normalize",
                           &head, &err) == ALBERT_OK && head, "%s", err.msg);
    if (head)
        check_truncate(f, head); /* the host's work: the cpu alone */
    albert_head_close(head);
    for (int d = 0; d < devices; d++)
        albert_engine_free(all[d]);
    free(all);
    albert_tokenizer_close(f->tok);
    albert_model_close(f->model);
    free(f);
    return test_finish();
}
