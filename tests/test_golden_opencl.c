/* The whole model through the public API on the OpenCL test device:
 * every golden case of every golden model (last_hidden_state, pooler_output,
 * hidden_states) within 1e-4 of the float64 reference, batch invariance
 * (a line alone vs inside a padded batch, beside a fully padded row), and
 * CLS / MEAN pooling with and without normalisation against the CPU
 * backend. */
#include "ocl_test.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_TOL 1e-4
#define INVARIANCE_TOL 1e-5
#define CPU_TOL 1e-4

static int device;

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "FATAL: out of memory\n");
        exit(1);
    }
    return p;
}

static void run(albert_engine *e, const albert_batch *b, const albert_outputs *o, const char *what)
{
    albert_error err = {0};
    int rc = albert_engine_run(e, b, o, &err);
    CHECK(rc == ALBERT_OK, "%s: %s", what, err.msg);
}

/* Max abs difference over B rows of H (every row is valid for pooled). */
static double max_abs(const float *a, const float *b, size_t n)
{
    return test_max_abs_masked(a, b, 1, 1, 1, (int)n, NULL);
}

/* One golden case: all three outputs against the reference; returns the
 * worst difference. */
static double check_case(albert_engine *e, const char *model, const golden_case *c)
{
    const size_t bth = (size_t)c->B * c->T * c->H;
    float *lhs = alloc_floats(bth), *pooled = alloc_floats((size_t)c->B * c->H);
    float *hs = c->hidden_states ? alloc_floats((size_t)c->layers_plus_one * bth) : NULL;
    albert_batch b = {c->B, c->T, c->input_ids, c->token_type_ids, c->attention_mask};
    albert_outputs o = {lhs, hs, pooled, ALBERT_POOL_POOLER, 0};
    run(e, &b, &o, c->name);
    double d_lhs = test_max_abs_masked(lhs, c->last_hidden_state, 1, c->B, c->T, c->H,
                                       c->attention_mask);
    double d_pool = max_abs(pooled, c->pooler_output, (size_t)c->B * c->H);
    double d_hs = hs ? test_max_abs_masked(hs, c->hidden_states, c->layers_plus_one, c->B, c->T,
                                           c->H, c->attention_mask)
                     : 0.0;
    printf("%-22s %-16s B=%d T=%-3d last_hidden %.2e pooled %.2e hidden_states %s%.2e\n", model,
           c->name, c->B, c->T, d_lhs, d_pool, hs ? "" : "(none) ", d_hs);
    CHECK(d_lhs <= GOLDEN_TOL, "%s/%s last_hidden_state %.3e", model, c->name, d_lhs);
    CHECK(d_pool <= GOLDEN_TOL, "%s/%s pooler_output %.3e", model, c->name, d_pool);
    CHECK(d_hs <= GOLDEN_TOL, "%s/%s hidden_states %.3e", model, c->name, d_hs);
    free(lhs);
    free(pooled);
    free(hs);
    return fmax(d_lhs, fmax(d_pool, d_hs));
}

static int valid_len(const golden_case *c, int row)
{
    int n = 0;
    for (int t = 0; t < c->T; t++)
        n += c->attention_mask[row * c->T + t];
    return n;
}

/* Row R of the batch alone (trimmed to its tokens) against the batch's
 * outputs for it. */
static double row_alone(albert_engine *e, const golden_case *c, int r, const float *lhs,
                        const float *pooled)
{
    const int n = valid_len(c, r), H = c->H;
    float *l1 = alloc_floats((size_t)n * H), *p1 = alloc_floats((size_t)H);
    albert_batch b = {1, n, c->input_ids + (size_t)r * c->T, c->token_type_ids + (size_t)r * c->T,
                      NULL};
    albert_outputs o = {l1, NULL, p1, ALBERT_POOL_POOLER, 0};
    run(e, &b, &o, "row alone");
    double d = fmax(max_abs(l1, lhs + (size_t)r * c->T * H, (size_t)n * H),
                    max_abs(p1, pooled + (size_t)r * H, (size_t)H));
    free(l1);
    free(p1);
    return d;
}

/* Every row of the case's padded batch, run alone, matches its batch row;
 * a fully padded row appended to the batch changes nothing. */
static void check_invariance(albert_engine *e, const char *model, const golden_case *c)
{
    const int B = c->B + 1, T = c->T, H = c->H;
    int32_t *ids = calloc((size_t)B * T, sizeof *ids), *types = calloc((size_t)B * T, sizeof *ids);
    int32_t *mask = calloc((size_t)B * T, sizeof *ids);
    memcpy(ids, c->input_ids, (size_t)c->B * T * sizeof *ids);
    memcpy(types, c->token_type_ids, (size_t)c->B * T * sizeof *ids);
    memcpy(mask, c->attention_mask, (size_t)c->B * T * sizeof *ids);
    float *lhs = alloc_floats((size_t)B * T * H), *pooled = alloc_floats((size_t)B * H);
    albert_batch b = {B, T, ids, types, mask};
    albert_outputs o = {lhs, NULL, pooled, ALBERT_POOL_POOLER, 0};
    run(e, &b, &o, "batch with a padded row");
    double worst = 0;
    for (int r = 0; r < c->B; r++)
        worst = fmax(worst, row_alone(e, c, r, lhs, pooled));
    int finite = 1;
    for (size_t i = 0; i < (size_t)B * H; i++)
        finite &= isfinite(pooled[i]);
    printf("%-22s %-16s batch invariance: max abs %.2e over %d rows\n", model, c->name, worst,
           c->B);
    CHECK(worst <= INVARIANCE_TOL, "%s/%s batch vs alone %.3e", model, c->name, worst);
    CHECK(finite, "%s/%s: non-finite pooled output with a fully padded row", model, c->name);
    free(ids);
    free(types);
    free(mask);
    free(lhs);
    free(pooled);
}

/* CLS and MEAN pooling, with and without normalize, OpenCL vs CPU. */
static void check_pooling(albert_engine *ocl, albert_engine *cpu, const char *model,
                          const golden_case *c)
{
    const albert_pooling modes[] = {ALBERT_POOL_CLS, ALBERT_POOL_MEAN, ALBERT_POOL_POOLER};
    const size_t n = (size_t)c->B * c->H;
    float *a = alloc_floats(n), *b = alloc_floats(n);
    albert_batch batch = {c->B, c->T, c->input_ids, c->token_type_ids, c->attention_mask};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
        for (int norm = 0; norm <= 1; norm++) {
            albert_outputs oa = {NULL, NULL, a, modes[m], norm}, ob = {NULL, NULL, b, modes[m], norm};
            run(ocl, &batch, &oa, "pooling on OpenCL");
            run(cpu, &batch, &ob, "pooling on CPU");
            double d = max_abs(a, b, n);
            printf("%-22s %-16s pooling %d normalize %d: OpenCL vs CPU %.2e\n", model, c->name,
                   (int)modes[m], norm, d);
            CHECK(d <= CPU_TOL, "%s/%s pooling %d normalize %d: %.3e", model, c->name,
                  (int)modes[m], norm, d);
        }
    free(a);
    free(b);
}

/* The first case with several rows and some padding. */
static const golden_case *find_padded(const golden_case *cases, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; cases[i].B > 1 && j < cases[i].B * cases[i].T; j++)
            if (!cases[i].attention_mask[j])
                return &cases[i];
    return NULL;
}

static void test_model(const char *name)
{
    golden_case *cases;
    int n = golden_load(name, &cases);
    albert_model *m = test_open_model(name);
    albert_engine *e = test_open_engine(m, device, 0);
    const char *dev_name = albert_engine_device_name(e);
    CHECK(!strncmp(dev_name, "OpenCL ", 7), "engine device '%s'", dev_name);
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, check_case(e, name, &cases[i]));
    printf("%-22s max abs error over %d cases: %.2e (%s)\n", name, n, worst, dev_name);
    const golden_case *padded = find_padded(cases, n);
    CHECK(padded != NULL, "%s: no padded batch case", name);
    if (padded) {
        check_invariance(e, name, padded);
        albert_engine *cpu = test_open_engine(m, ALBERT_DEVICE_CPU, 0);
        check_pooling(e, cpu, name, padded);
        albert_engine_free(cpu);
    }
    albert_engine_free(e);
    albert_model_close(m);
    golden_free(cases, n);
}

int main(void)
{
    device = ocl_test_device();
    for (int i = 0; golden_models[i]; i++)
        test_model(golden_models[i]);
    return test_finish();
}
