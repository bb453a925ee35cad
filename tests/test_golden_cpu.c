/* The CPU backend through the public API against the float64 golden outputs
 * of every golden model, plus batch invariance and the pooling modes.  The
 * max abs errors printed here are the numbers quoted in the release notes. */
#include "albert_cl.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_TOL 1e-4   /* HuggingFace's own tolerance */
#define INVARIANT_TOL 1e-5

/* Runs BATCH with the given outputs; a failed run is a failed check. */
static int run(albert_engine *eng, const albert_batch *batch, const albert_outputs *out)
{
    albert_error err;
    int rc = albert_engine_run(eng, batch, out, &err);
    CHECK(rc == ALBERT_OK, "albert_engine_run: %s", err.msg);
    return rc;
}

static albert_batch case_batch(const golden_case *c)
{
    albert_batch b = {c->B, c->T, c->input_ids, c->token_type_ids, c->attention_mask};
    return b;
}

/* Checks last_hidden_state, pooler_output and hidden_states; fills LHS. */
static void check_golden(const char *model, albert_engine *eng, const golden_case *c, float *lhs)
{
    const size_t bth = (size_t)c->B * c->T * c->H;
    float *pooled = malloc((size_t)c->B * c->H * sizeof(float));
    float *hs = c->hidden_states ? malloc(c->layers_plus_one * bth * sizeof(float)) : NULL;
    albert_batch b = case_batch(c);
    albert_outputs o = {.last_hidden_state = lhs, .hidden_states = hs, .pooled = pooled,
                        .pooling = ALBERT_POOL_POOLER};
    if (run(eng, &b, &o) == ALBERT_OK) {
        double e_lhs = test_max_abs_masked(lhs, c->last_hidden_state, 1, c->B, c->T, c->H,
                                           c->attention_mask);
        /* pooler_output is defined for every row, even when [CLS] is masked. */
        double e_pool = test_max_abs_masked(pooled, c->pooler_output, 1, c->B, 1, c->H, NULL);
        double e_hs = hs ? test_max_abs_masked(hs, c->hidden_states, c->layers_plus_one, c->B,
                                               c->T, c->H, c->attention_mask)
                         : 0.0;
        printf("%-22s %-17s B=%d T=%-3d last_hidden_state %.3g  pooler_output %.3g", model,
               c->name, c->B, c->T, e_lhs, e_pool);
        if (hs)
            printf("  hidden_states %.3g", e_hs);
        printf("\n");
        CHECK(e_lhs <= GOLDEN_TOL, "%s/%s last_hidden_state max abs %g", model, c->name, e_lhs);
        CHECK(e_pool <= GOLDEN_TOL, "%s/%s pooler_output max abs %g", model, c->name, e_pool);
        CHECK(e_hs <= GOLDEN_TOL, "%s/%s hidden_states max abs %g", model, c->name, e_hs);
    }
    free(pooled);
    free(hs);
}

/* Number of leading mask-1 tokens of row B when the row is right-padded
 * (ones then zeros), else 0: only such rows have an unpadded twin. */
static int prefix_length(const golden_case *c, int b)
{
    const int32_t *m = c->attention_mask + (size_t)b * c->T;
    int n = 0;
    while (n < c->T && m[n])
        n++;
    for (int t = n; t < c->T; t++)
        if (m[t])
            return 0;
    return n;
}

/* Each right-padded row run alone, unpadded, matches its row in the batch. */
static void check_batch_invariance(const char *model, albert_engine *eng, const golden_case *c,
                                   const float *lhs)
{
    float *alone = malloc((size_t)c->T * c->H * sizeof(float));
    for (int b = 0; b < c->B; b++) {
        int n = prefix_length(c, b);
        if (n == 0 || (c->B == 1 && n == c->T))
            continue; /* not right-padded, or the batch is this row alone */
        size_t off = (size_t)b * c->T;
        albert_batch one = {1, n, c->input_ids + off, c->token_type_ids + off, NULL};
        albert_outputs o = {.last_hidden_state = alone};
        if (run(eng, &one, &o) != ALBERT_OK)
            break;
        double e = test_max_abs_masked(alone, lhs + off * c->H, 1, 1, n, c->H, NULL);
        CHECK(e <= INVARIANT_TOL, "%s/%s row %d alone vs in batch: max abs %g", model, c->name, b,
              e);
    }
    free(alone);
}

/* POOLED[b] computed here from LHS in double: CLS or masked mean, then
 * optionally L2-normalised. */
static void reference_pool(const golden_case *c, const float *lhs, albert_pooling mode,
                           int normalize, double *pooled)
{
    for (int b = 0; b < c->B; b++) {
        double *p = pooled + (size_t)b * c->H, norm = 0;
        for (int i = 0; i < c->H; i++) {
            double sum = 0;
            int count = 0;
            for (int t = 0; t < (mode == ALBERT_POOL_CLS ? 1 : c->T); t++) {
                if (mode == ALBERT_POOL_MEAN && !c->attention_mask[b * c->T + t])
                    continue;
                sum += lhs[((size_t)b * c->T + t) * c->H + i];
                count++;
            }
            p[i] = count ? sum / count : 0.0;
            norm += p[i] * p[i];
        }
        for (int i = 0; i < c->H && normalize; i++)
            p[i] /= fmax(sqrt(norm), 1e-12);
    }
}

static void check_pooling(const char *model, albert_engine *eng, const golden_case *c,
                          const float *lhs)
{
    const struct {
        albert_pooling mode;
        int normalize;
    } modes[] = {{ALBERT_POOL_CLS, 0}, {ALBERT_POOL_MEAN, 0}, {ALBERT_POOL_CLS, 1},
                 {ALBERT_POOL_MEAN, 1}};
    const size_t n = (size_t)c->B * c->H;
    float *pooled = malloc(n * sizeof(float));
    double *want = malloc(n * sizeof(double));
    albert_batch b = case_batch(c);
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        albert_outputs o = {.pooled = pooled, .pooling = modes[k].mode,
                            .normalize = modes[k].normalize};
        if (run(eng, &b, &o) != ALBERT_OK)
            break;
        reference_pool(c, lhs, modes[k].mode, modes[k].normalize, want);
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, isnan(pooled[i]) ? INFINITY : fabs(pooled[i] - want[i]));
        CHECK(worst <= INVARIANT_TOL, "%s/%s pooling %d normalize %d: max abs %g", model, c->name,
              (int)modes[k].mode, modes[k].normalize, worst);
    }
    free(pooled);
    free(want);
}

static void check_model(const char *model)
{
    char dir[1024], rel[256];
    snprintf(rel, sizeof rel, "models/%s", model);
    test_shared_path(dir, sizeof dir, rel);
    albert_model *m = NULL;
    albert_engine *eng = NULL;
    albert_error err;
    int rc = albert_model_open(dir, &m, &err);
    CHECK(rc == ALBERT_OK, "albert_model_open(%s): %s", dir, err.msg);
    if (rc != ALBERT_OK)
        return;
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = ALBERT_DEVICE_CPU;
    rc = albert_engine_create(m, &opt, &eng, &err);
    CHECK(rc == ALBERT_OK, "albert_engine_create(%s): %s", model, err.msg);
    golden_case *cases;
    int count = golden_load(model, &cases);
    CHECK(count > 0, "%s has no golden cases", model);
    for (int i = 0; i < count && rc == ALBERT_OK; i++) {
        const golden_case *c = &cases[i];
        float *lhs = malloc((size_t)c->B * c->T * c->H * sizeof(float));
        check_golden(model, eng, c, lhs);
        check_batch_invariance(model, eng, c, lhs);
        if (c->T <= 128) /* keeps the long_512 case to one forward */
            check_pooling(model, eng, c, lhs);
        free(lhs);
    }
    golden_free(cases, count);
    albert_engine_free(eng);
    albert_model_close(m);
}

int main(void)
{
    for (int i = 0; golden_models[i]; i++)
        check_model(golden_models[i]);
    return test_finish();
}
