/* albert_engine_submit / albert_engine_wait on every device the registry
 * lists: two batches in flight give what albert_engine_run gives each
 * (the second larger than any batch before, so an OpenCL engine regrows its
 * buffers while the first is queued, and with NULL token types and mask,
 * which an OpenCL engine fills on the device, against explicit ones run);
 * each wait adds exactly its batch's per-kernel timings (the CPU's come in
 * submit); a rejected submit
 * leaves the batch in flight alone; the limits (a third submit, a wait with
 * nothing in flight, run while batches are in flight) are ALBERT_E_ARG; an
 * engine freed with a batch in flight neither crashes nor leaks (ASan). */
#include "albert_cl.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KERNELS 64

typedef struct shape {
    int B, T;
    int32_t *ids, *types, *mask; /* types all 0 */
    int padded;                  /* some rows shorter than T */
} shape;

/* What one batch writes: every output albert_outputs has. */
typedef struct result {
    float *last, *hidden, *pooled;
} result;

static shape make_shape(int B, int T, int padded, int vocab, unsigned seed)
{
    shape s = {B, T, test_calloc((size_t)B * T, sizeof(int32_t)),
               test_calloc((size_t)B * T, sizeof(int32_t)),
               test_calloc((size_t)B * T, sizeof(int32_t)), padded};
    for (int b = 0; b < B; b++) {
        int len = padded ? T - b % 3 : T; /* rows of different lengths */
        for (int t = 0; t < T; t++) {
            seed = seed * 1103515245u + 12345u;
            s.ids[b * T + t] = t < len ? 5 + (int32_t)((seed >> 16) % (unsigned)(vocab - 5)) : 0;
            s.mask[b * T + t] = t < len;
        }
    }
    return s;
}

static result make_result(const albert_config *c, const shape *s)
{
    size_t row = (size_t)s->B * s->T * c->hidden_size;
    result r = {test_calloc(row, sizeof(float)),
                test_calloc((size_t)(c->num_hidden_layers + 1) * row, sizeof(float)),
                test_calloc((size_t)s->B * c->hidden_size, sizeof(float))};
    return r;
}

static void free_result(result *r)
{
    free(r->last);
    free(r->hidden);
    free(r->pooled);
}

static void free_shape(shape *s)
{
    free(s->ids);
    free(s->types);
    free(s->mask);
}

/* DEFAULTS: NULL types, and a NULL mask where no row is padded. */
static albert_batch batch_of(const shape *s, int defaults)
{
    albert_batch b = {s->B, s->T, s->ids, defaults ? NULL : s->types,
                      defaults && !s->padded ? NULL : s->mask};
    return b;
}

static albert_outputs outputs_of(const result *r)
{
    albert_outputs o = {.last_hidden_state = r->last, .hidden_states = r->hidden,
                        .pooled = r->pooled, .pooling = ALBERT_POOL_MEAN, .normalize = 1};
    return o;
}

/* Largest |a - b| over the mask's tokens of every output. */
static double diff(const albert_config *c, const shape *s, const result *a, const result *b)
{
    const int H = c->hidden_size;
    size_t n = 0;
    double d = test_max_abs_masked(a->last, b->last, 1, s->B, s->T, H, s->mask, &n);
    d = fmax(d, test_max_abs_masked(a->hidden, b->hidden, c->num_hidden_layers + 1, s->B, s->T, H,
                                    s->mask, &n));
    d = fmax(d, test_max_abs_masked(a->pooled, b->pooled, 1, s->B, 1, H, NULL, &n));
    return n ? d : INFINITY;
}

typedef struct calls {
    albert_kernel_stat k[MAX_KERNELS];
    size_t n;
} calls;

static calls timings(albert_engine *e)
{
    calls c;
    albert_error err;
    CHECK(albert_engine_timing_get(e, c.k, MAX_KERNELS, &c.n, &err) == ALBERT_OK, "%s", err.msg);
    c.n = c.n < MAX_KERNELS ? c.n : MAX_KERNELS;
    return c;
}

/* Per-kernel call counts, looked up by name in the other list. */
static void check_same_calls(const calls *got, const calls *want, const char *label,
                             const char *when)
{
    CHECK(got->n == want->n && got->n > 0, "[%s] %s: %zu kernels submitted, %zu run", label,
          when, got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        size_t j = 0;
        while (j < want->n && strcmp(got->k[i].name, want->k[j].name) != 0)
            j++;
        CHECK(j < want->n && got->k[i].calls == want->k[j].calls,
              "[%s] %s: %s: %llu calls submitted, %llu run", label, when, got->k[i].name,
              (unsigned long long)got->k[i].calls,
              j < want->n ? (unsigned long long)want->k[j].calls : 0ull);
    }
}

static void check_limits(albert_engine *e, const shape *small, const result *r, const char *label)
{
    albert_batch b = batch_of(small, 0);
    albert_outputs o = outputs_of(r);
    albert_error err;
    CHECK(albert_engine_wait(e, &err) == ALBERT_E_ARG, "[%s] a wait with nothing in flight", label);
    CHECK(albert_engine_submit(e, &b, &o, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(albert_engine_run(e, &b, &o, &err) == ALBERT_E_ARG, "[%s] run with a batch in flight",
          label);
    CHECK(albert_engine_submit(e, &b, &o, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(albert_engine_submit(e, &b, &o, &err) == ALBERT_E_ARG &&
              albert_engine_in_flight(e) == ALBERT_ENGINE_MAX_IN_FLIGHT,
          "[%s] a third submit: %s", label, err.msg);
    for (int i = 0; i < ALBERT_ENGINE_MAX_IN_FLIGHT; i++)
        CHECK(albert_engine_wait(e, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(albert_engine_in_flight(e) == 0 && albert_engine_in_flight(NULL) == 0,
          "[%s] in flight after the waits", label);
    CHECK(albert_engine_submit(NULL, &b, &o, &err) == ALBERT_E_ARG &&
              albert_engine_wait(NULL, &err) == ALBERT_E_ARG,
          "[%s] NULL engine", label);
    albert_outputs bad = o;
    bad.pooling = (albert_pooling)(ALBERT_POOL_LAST_TOKEN + 1);
    CHECK(bad.pooled && albert_engine_run(e, &b, &bad, &err) == ALBERT_E_ARG &&
              strstr(err.msg, "not an albert_pooling"),
          "[%s] pooling %d: %s", label, (int)bad.pooling, err.msg);
}

/* A submit the engine rejects (an id outside the vocabulary, row 1) fails
 * at once; the batch in flight before it comes back whole. */
static void check_rejected(albert_engine *e, const albert_config *c, const shape *small,
                           const result *want, const char *label)
{
    result got = make_result(c, small);
    shape bad = make_shape(small->B, small->T, 1, c->vocab_size, 7);
    bad.ids[small->T + 1] = c->vocab_size;
    albert_batch b = batch_of(small, 0), nb = batch_of(&bad, 0);
    albert_outputs o = outputs_of(&got);
    albert_error err;
    CHECK(albert_engine_submit(e, &b, &o, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(albert_engine_submit(e, &nb, &o, &err) == ALBERT_E_INPUT && err.row == 1 &&
              albert_engine_in_flight(e) == 1,
          "[%s] the bad batch: %d row %d, %d in flight", label, err.code, err.row,
          albert_engine_in_flight(e));
    CHECK(albert_engine_wait(e, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(diff(c, small, &got, want) <= 1e-6, "[%s] the batch before the rejected one: %g", label,
          diff(c, small, &got, want));
    free_shape(&bad);
    free_result(&got);
}

static void check_device(const albert_model *m, int device)
{
    const albert_config *c = albert_model_config(m);
    char label[160];
    test_device_label(device, label, sizeof label);
    shape small = make_shape(2, 8, 1, c->vocab_size, 1), big = make_shape(3, 20, 0, c->vocab_size, 2);
    result want_small = make_result(c, &small), want_big = make_result(c, &big);
    result got_small = make_result(c, &small), got_big = make_result(c, &big);
    albert_engine *sync = test_open_engine(m, device, 1), *async = test_open_engine(m, device, 1);
    albert_batch bs = batch_of(&small, 0), bb = batch_of(&big, 0);
    albert_batch ds = batch_of(&small, 1), db = batch_of(&big, 1);
    albert_outputs ws = outputs_of(&want_small), wb = outputs_of(&want_big);
    albert_outputs gs = outputs_of(&got_small), gb = outputs_of(&got_big);
    albert_error err;
    CHECK(albert_engine_run(sync, &bs, &ws, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    calls after_small = timings(sync);
    CHECK(albert_engine_run(sync, &bb, &wb, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    calls after_both = timings(sync);
    CHECK(albert_engine_submit(async, &ds, &gs, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(albert_engine_submit(async, &db, &gb, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    CHECK(albert_engine_in_flight(async) == 2, "[%s] %d in flight", label,
          albert_engine_in_flight(async));
    CHECK(albert_engine_wait(async, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    calls got = timings(async); /* the CPU ran both inside their submits */
    check_same_calls(&got, albert_engine_is_async(async) ? &after_small : &after_both, label,
                     "after the first wait");
    CHECK(albert_engine_wait(async, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    got = timings(async);
    check_same_calls(&got, &after_both, label, "after the second wait");
    double d = fmax(diff(c, &small, &got_small, &want_small), diff(c, &big, &got_big, &want_big));
    CHECK(d <= 1e-6, "[%s] two batches in flight against two runs: max diff %g", label, d);
    CHECK(albert_engine_is_async(async) == (device < test_opencl_device_count()) &&
              !albert_engine_is_async(NULL),
          "[%s] is_async %d", label, albert_engine_is_async(async));
    check_limits(async, &small, &got_small, label);
    check_rejected(async, c, &small, &want_small, label);
    printf("[%s] two batches in flight: max diff %.2g from two runs\n", label, d);
    /* Freed with a batch in flight: free waits for it (what ASan can see: no
     * crash, no leak; a driver writing into freed memory it cannot). */
    CHECK(albert_engine_submit(async, &bb, &gb, &err) == ALBERT_OK, "[%s] %s", label, err.msg);
    albert_engine_free(async);
    albert_engine_free(sync);
    free_result(&want_small);
    free_result(&want_big);
    free_result(&got_small);
    free_result(&got_big);
    free_shape(&small);
    free_shape(&big);
}

int main(void)
{
    albert_model *m = test_open_model("tiny-gelu");
    test_opencl_device_count(); /* none is a failure: the OpenCL path must run */
    for (int d = 0; d < test_device_count(); d++)
        check_device(m, d);
    albert_model_close(m);
    return test_finish();
}
