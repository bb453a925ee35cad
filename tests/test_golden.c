/* The whole model through the public API on every device the registry
 * lists (every OpenCL device, then the CPU; under the sanitizers the first
 * OpenCL device and the CPU: test_opencl_devices_checked), for every golden
 * model:
 *   - every golden case (last_hidden_state, pooler_output, hidden_states)
 *     within 1e-4 of the float64 reference, over a count of values that
 *     must not be zero;
 *   - batch invariance on every padded case: each row run alone matches its
 *     row in the batch, and a fully padded row added to the batch changes
 *     nothing and stays finite;
 *   - CLS / MEAN pooling and the pooler, with and without normalisation,
 *     each asked for alone (CLS and the pooler then take the last layer's
 *     [CLS] rows only: albert_cls_rows_only), against the same device's
 *     last_hidden_state pooled here in double and its pooler_output of a
 *     run that asked for last_hidden_state too;
 *   - forwards stopped early (skip_last_layers) against the golden
 *     hidden_states of the layer they stop at, and layers combined
 *     (albert_outputs.layers: averaged, concatenated) against the golden
 *     hidden_states combined.
 * The max abs errors printed here are the figures README.md and docs/accuracy.md quote. */
#include "albert_cl.h"
#include "test_util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_TOL 1e-4    /* HuggingFace's own tolerance */
#define INVARIANCE_TOL 1e-5

static float *alloc_floats(size_t n)
{
    return test_calloc(n, sizeof(float));
}

/* What one model on one device is checked with. */
typedef struct subject {
    const char *model;
    char device[160];
    albert_engine *engine;
} subject;

/* Runs BATCH; a failed run is a failed check. */
static int run(const subject *s, const albert_batch *b, const albert_outputs *o, const char *what)
{
    albert_error err = {0};
    int rc = albert_engine_run(s->engine, b, o, &err);
    CHECK(rc == ALBERT_OK, "[%s] %s/%s: %s", s->device, s->model, what, err.msg);
    return rc;
}

static albert_batch case_batch(const golden_case *c)
{
    albert_batch b = {c->B, c->T, c->input_ids, c->token_type_ids, c->attention_mask};
    return b;
}

/* Checks one output against its reference: within TOL over a non-zero
 * number of values. */
static void expect_close(const subject *s, const golden_case *c, const char *output, double d,
                         size_t compared, double tol)
{
    CHECK(compared > 0, "[%s] %s/%s %s: compared no values", s->device, s->model, c->name,
          output);
    CHECK(d <= tol, "[%s] %s/%s %s: max abs %.3e", s->device, s->model, c->name, output, d);
}

/* The three outputs against the golden reference; returns the worst. */
static double check_case(const subject *s, const golden_case *c)
{
    const size_t bth = (size_t)c->B * c->T * c->H;
    float *lhs = alloc_floats(bth), *pooled = alloc_floats((size_t)c->B * c->H);
    float *hs = c->hidden_states ? alloc_floats((size_t)c->layers_plus_one * bth) : NULL;
    albert_batch b = case_batch(c);
    albert_outputs o = {.last_hidden_state = lhs, .hidden_states = hs, .pooled = pooled,
                        .pooling = ALBERT_POOL_POOLER};
    double worst = INFINITY;
    if (run(s, &b, &o, c->name) == ALBERT_OK) {
        size_t n_lhs = 0, n_pool = 0, n_hs = 0;
        double d_lhs = test_max_abs_masked(lhs, c->last_hidden_state, 1, c->B, c->T, c->H,
                                           c->attention_mask, &n_lhs);
        /* pooler_output is defined for every row, even when [CLS] is masked. */
        double d_pool = test_max_abs_masked(pooled, c->pooler_output, 1, c->B, 1, c->H, NULL,
                                            &n_pool);
        double d_hs = hs ? test_max_abs_masked(hs, c->hidden_states, c->layers_plus_one, c->B,
                                               c->T, c->H, c->attention_mask, &n_hs)
                         : 0.0;
        printf("[%s] %-22s %-16s B=%d T=%-3d last_hidden %.2e pooled %.2e hidden_states %s%.2e\n",
               s->device, s->model, c->name, c->B, c->T, d_lhs, d_pool, hs ? "" : "(none) ", d_hs);
        expect_close(s, c, "last_hidden_state", d_lhs, n_lhs, GOLDEN_TOL);
        expect_close(s, c, "pooler_output", d_pool, n_pool, GOLDEN_TOL);
        if (hs)
            expect_close(s, c, "hidden_states", d_hs, n_hs, GOLDEN_TOL);
        worst = fmax(d_lhs, fmax(d_pool, d_hs));
    }
    free(lhs);
    free(pooled);
    free(hs);
    return worst;
}

static int has_padding(const golden_case *c)
{
    for (int i = 0; i < c->B * c->T; i++)
        if (!c->attention_mask[i])
            return 1;
    return 0;
}

/* Number of leading mask-1 tokens of row R when the row is right-padded
 * (ones then zeros), else 0: only such rows have an unpadded twin. */
static int prefix_length(const golden_case *c, int r)
{
    const int32_t *m = c->attention_mask + (size_t)r * c->T;
    int n = 0;
    while (n < c->T && m[n])
        n++;
    for (int t = n; t < c->T; t++)
        if (m[t])
            return 0;
    return n;
}

/* Row R alone, trimmed to its tokens, against the batch's outputs for it;
 * adds to *COMPARED. */
static double row_alone(const subject *s, const golden_case *c, int r, const float *lhs,
                        const float *pooled, size_t *compared)
{
    const int n = prefix_length(c, r), H = c->H;
    if (n == 0)
        return 0;
    float *l1 = alloc_floats((size_t)n * H), *p1 = alloc_floats((size_t)H);
    const size_t off = (size_t)r * c->T;
    albert_batch b = {1, n, c->input_ids + off, c->token_type_ids + off, NULL};
    albert_outputs o = {.last_hidden_state = l1, .pooled = p1, .pooling = ALBERT_POOL_POOLER};
    double d = INFINITY;
    if (run(s, &b, &o, "row alone") == ALBERT_OK)
        d = fmax(test_max_abs_masked(l1, lhs + off * H, 1, 1, n, H, NULL, compared),
                 test_max_abs_masked(p1, pooled + (size_t)r * H, 1, 1, 1, H, NULL, compared));
    free(l1);
    free(p1);
    return d;
}

/* The case's batch with a fully padded row appended: every real row alone
 * matches its batch row, and the padded row's pooled output is finite. */
static void check_invariance(const subject *s, const golden_case *c)
{
    const int B = c->B + 1, T = c->T, H = c->H;
    const size_t real = (size_t)c->B * T * sizeof(int32_t);
    int32_t *ids = calloc((size_t)B * T, sizeof *ids), *types = calloc((size_t)B * T, sizeof *ids);
    int32_t *mask = calloc((size_t)B * T, sizeof *ids);
    memcpy(ids, c->input_ids, real);
    memcpy(types, c->token_type_ids, real);
    memcpy(mask, c->attention_mask, real);
    float *lhs = alloc_floats((size_t)B * T * H), *pooled = alloc_floats((size_t)B * H);
    albert_batch b = {B, T, ids, types, mask};
    albert_outputs o = {.last_hidden_state = lhs, .pooled = pooled, .pooling = ALBERT_POOL_POOLER};
    if (run(s, &b, &o, "batch with a padded row") == ALBERT_OK) {
        double worst = 0;
        size_t compared = 0;
        for (int r = 0; r < c->B; r++)
            worst = fmax(worst, row_alone(s, c, r, lhs, pooled, &compared));
        int finite = 1;
        for (size_t i = 0; i < (size_t)B * H; i++)
            finite &= isfinite(pooled[i]);
        printf("[%s] %-22s %-16s batch invariance: max abs %.2e over %d rows\n", s->device,
               s->model, c->name, worst, c->B);
        expect_close(s, c, "batch invariance", worst, compared, INVARIANCE_TOL);
        CHECK(finite, "[%s] %s/%s: non-finite pooled output beside a fully padded row",
              s->device, s->model, c->name);
    }
    free(ids);
    free(types);
    free(mask);
    free(lhs);
    free(pooled);
}

/* Each of ROWS rows of N doubles scaled to unit L2 norm (zero rows stay). */
static void normalize_rows(int rows, int n, double *x)
{
    for (int r = 0; r < rows; r++) {
        double *p = x + (size_t)r * n, norm = 0;
        for (int i = 0; i < n; i++)
            norm += p[i] * p[i];
        for (int i = 0; i < n; i++)
            p[i] /= fmax(sqrt(norm), 1e-12);
    }
}

/* What MODE pools from LHS, vectors of W values, in double: [CLS], the
 * pooler's POOLER, or over the tokens whose mask is 1 (zeros for a row
 * without any) their mean, max, sum / sqrt(count), mean weighted by
 * position t + 1, or the last one's. */
static void reference_pool(const golden_case *c, int W, const float *lhs, const float *pooler,
                           albert_pooling mode, double *pooled)
{
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < W; i++) {
            double sum = 0, weights = 0, max = -INFINITY, last = 0;
            int count = 0;
            for (int t = 0; t < c->T; t++) {
                if (!c->attention_mask[b * c->T + t])
                    continue;
                const double v = lhs[((size_t)b * c->T + t) * W + i];
                const double w = mode == ALBERT_POOL_WEIGHTED_MEAN ? t + 1 : 1;
                sum += w * v;
                weights += w;
                max = fmax(max, v);
                last = v;
                count++;
            }
            double *p = &pooled[(size_t)b * W + i];
            if (mode == ALBERT_POOL_POOLER)
                *p = pooler[(size_t)b * W + i];
            else if (mode == ALBERT_POOL_CLS)
                *p = lhs[(size_t)b * c->T * W + i];
            else if (!count)
                *p = 0;
            else
                *p = mode == ALBERT_POOL_MAX             ? max
                     : mode == ALBERT_POOL_LAST_TOKEN    ? last
                     : mode == ALBERT_POOL_MEAN_SQRT_LEN ? sum / sqrt(count)
                                                         : sum / weights;
        }
}

/* max |got - want| over N values, NaN counting as infinite. */
static double max_abs_double(const float *got, const double *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]));
    return worst;
}

/* Each of MODES[0..N), without and (with BOTH) with normalisation, asked
 * for alone, against the same device's last_hidden_state pooled here. */
static void check_pooling(const subject *s, const golden_case *c, const albert_pooling *modes,
                          int n_modes, int both)
{
    const size_t n = (size_t)c->B * c->H;
    float *lhs = alloc_floats((size_t)c->B * c->T * c->H), *pooled = alloc_floats(n);
    float *pooler = alloc_floats(n);
    double *want = malloc(n * sizeof *want);
    albert_batch b = case_batch(c);
    albert_outputs plain = {.last_hidden_state = lhs, .pooled = pooler,
                            .pooling = ALBERT_POOL_POOLER};
    int rc = want ? run(s, &b, &plain, "pooling") : ALBERT_E_NOMEM;
    for (int k = 0; rc == ALBERT_OK && k < (both ? 2 : 1) * n_modes; k++) {
        const albert_pooling mode = modes[both ? k / 2 : k];
        const int normalize = both && k % 2;
        albert_outputs o = {.pooled = pooled, .pooling = mode, .normalize = normalize};
        rc = run(s, &b, &o, "pooling");
        reference_pool(c, c->H, lhs, pooler, mode, want);
        if (normalize)
            normalize_rows(c->B, c->H, want);
        double d = max_abs_double(pooled, want, n);
        /* A sum over up to T tokens divided by sqrt(count) keeps its rounding
         * of up to sqrt(T) times a mean's. */
        const double tol = INVARIANCE_TOL * (mode == ALBERT_POOL_MEAN_SQRT_LEN && !normalize
                                                 ? sqrt(c->T) : 1);
        CHECK(d <= tol, "[%s] %s/%s pooling %d normalize %d: max abs %.3e", s->device, s->model,
              c->name, (int)mode, normalize, d);
    }
    free(lhs);
    free(pooler);
    free(pooled);
    free(want);
}

/* A forward stopped SKIP layers early (albert_outputs.skip_last_layers):
 * last_hidden_state, hidden_states and mean pooling against the golden
 * hidden_states[L - SKIP], then CLS pooling alone (the [CLS] rows only in
 * the last layer applied). */
static void check_skip(const subject *s, const golden_case *c, int skip)
{
    const int L = c->layers_plus_one - 1, kept = L - skip;
    const size_t bth = (size_t)c->B * c->T * c->H, n = (size_t)c->B * c->H;
    const float *want_lhs = c->hidden_states + (size_t)kept * bth;
    float *lhs = alloc_floats(bth), *hs = alloc_floats((size_t)(kept + 1) * bth);
    float *pooled = alloc_floats(n);
    double *want = test_calloc(n, sizeof *want);
    albert_batch b = case_batch(c);
    albert_outputs o = {.last_hidden_state = lhs, .hidden_states = hs, .pooled = pooled,
                        .pooling = ALBERT_POOL_MEAN, .skip_last_layers = skip};
    albert_outputs cls = {.pooled = pooled, .pooling = ALBERT_POOL_CLS, .skip_last_layers = skip};
    if (run(s, &b, &o, "skip_last_layers") == ALBERT_OK) {
        size_t n_lhs = 0, n_hs = 0;
        double d = test_max_abs_masked(lhs, want_lhs, 1, c->B, c->T, c->H, c->attention_mask,
                                       &n_lhs);
        d = fmax(d, test_max_abs_masked(hs, c->hidden_states, kept + 1, c->B, c->T, c->H,
                                        c->attention_mask, &n_hs));
        reference_pool(c, c->H, want_lhs, NULL, ALBERT_POOL_MEAN, want);
        d = fmax(d, max_abs_double(pooled, want, n));
        expect_close(s, c, "skip_last_layers", d, n_lhs * (n_hs > 0), GOLDEN_TOL);
    }
    if (run(s, &b, &cls, "skip_last_layers, CLS alone") == ALBERT_OK) {
        reference_pool(c, c->H, want_lhs, NULL, ALBERT_POOL_CLS, want);
        expect_close(s, c, "skip_last_layers CLS", max_abs_double(pooled, want, n), n,
                     GOLDEN_TOL);
    }
    free(lhs);
    free(hs);
    free(pooled);
    free(want);
}

/* The golden hidden_states LAYERS[0..N) combined as albert_outputs.layers
 * asks (their mean, or with CONCAT their concatenation), [B, T, W]. */
static float *reference_combined(const golden_case *c, const int *layers, int n, int concat)
{
    const size_t bt = (size_t)c->B * c->T, H = (size_t)c->H, W = concat ? (size_t)n * H : H;
    float *want = alloc_floats(bt * W);
    for (size_t r = 0; r < bt; r++)
        for (size_t i = 0; i < H; i++) {
            double sum = 0;
            for (int k = 0; k < n; k++) {
                const float v = c->hidden_states[((size_t)layers[k] * bt + r) * H + i];
                sum += v;
                if (concat)
                    want[r * W + (size_t)k * H + i] = v;
            }
            if (!concat)
                want[r * W + i] = (float)(sum / n);
        }
    return want;
}

/* Layers combined (albert_outputs.layers): last_hidden_state with mean
 * pooling, then CLS pooling normalised alone, against the golden
 * hidden_states combined here. */
static void check_combine(const subject *s, const golden_case *c, const int *layers, int n,
                          int concat)
{
    const int W = concat ? n * c->H : c->H;
    const size_t btw = (size_t)c->B * c->T * W, bw = (size_t)c->B * W;
    float *want_lhs = reference_combined(c, layers, n, concat), *lhs = alloc_floats(btw);
    float *pooled = alloc_floats(bw);
    double *want = test_calloc(bw, sizeof *want);
    albert_batch b = case_batch(c);
    albert_outputs o = {.last_hidden_state = lhs, .pooled = pooled, .pooling = ALBERT_POOL_MEAN,
                        .layers = layers, .n_layers = n, .layers_concat = concat};
    albert_outputs cls = {.pooled = pooled, .pooling = ALBERT_POOL_CLS, .normalize = 1,
                          .layers = layers, .n_layers = n, .layers_concat = concat};
    char what[64];
    snprintf(what, sizeof what, "%d layers %s from %d", n, concat ? "concatenated" : "averaged",
             layers[0]);
    albert_config config;
    memset(&config, 0, sizeof config);
    config.hidden_size = c->H;
    config.num_hidden_layers = c->layers_plus_one - 1;
    CHECK(albert_output_width(&config, &o) == W, "%s: width %d", what,
          albert_output_width(&config, &o));
    if (run(s, &b, &o, what) == ALBERT_OK) {
        size_t compared = 0;
        double d = test_max_abs_masked(lhs, want_lhs, 1, c->B, c->T, W, c->attention_mask,
                                       &compared);
        reference_pool(c, W, want_lhs, NULL, ALBERT_POOL_MEAN, want);
        expect_close(s, c, what, fmax(d, max_abs_double(pooled, want, bw)), compared, GOLDEN_TOL);
    }
    if (run(s, &b, &cls, what) == ALBERT_OK) {
        reference_pool(c, W, want_lhs, NULL, ALBERT_POOL_CLS, want);
        normalize_rows(c->B, W, want);
        expect_close(s, c, what, max_abs_double(pooled, want, bw), bw, GOLDEN_TOL);
    }
    free(want_lhs);
    free(lhs);
    free(pooled);
    free(want);
}

/* The rows albert_engine_fits_outputs says fit when B x T does not. */
static int rows_said_to_fit(const subject *s, int B, int T, const albert_outputs *out)
{
    albert_error err = {0};
    int rc = albert_engine_fits_outputs(s->engine, B, T, out, &err), rows = -1;
    const char *at = strstr(err.msg, "at most ");
    if (at)
        rows = atoi(at + strlen("at most "));
    else if (strstr(err.msg, "not one row"))
        rows = 0;
    CHECK(rc == ALBERT_E_CAPACITY && rows >= 0, "[%s] %s: %d x %d: rc %d '%s'", s->device,
          s->model, B, T, rc, err.msg);
    return rows;
}

/* Capacity counts the combined vectors: a batch too big for any device
 * fits fewer rows with every layer concatenated than with one layer. */
static void check_combined_capacity(const subject *s, const golden_case *c)
{
    const int L = c->layers_plus_one - 1, T = 64, B = INT_MAX / T - 1;
    int *all = test_calloc((size_t)L + 1, sizeof *all);
    for (int i = 0; i <= L; i++)
        all[i] = i;
    const albert_outputs concat = {.layers = all, .n_layers = L + 1, .layers_concat = 1};
    const int one = rows_said_to_fit(s, B, T, NULL), joined = rows_said_to_fit(s, B, T, &concat);
    CHECK(joined < one, "[%s] %s: %d rows fit with %d layers concatenated, %d with one",
          s->device, s->model, joined, L + 1, one);
    free(all);
}

/* Combinations albert_engine_run refuses, each naming what is wrong. */
static void check_combine_refused(const subject *s, const golden_case *c)
{
    const int L = c->layers_plus_one - 1;
    const int twice[] = {1, 1}, beyond[] = {L + 1}, below[] = {-1}, one[] = {1};
    float *pooled = alloc_floats((size_t)c->B * c->H * 2);
    albert_batch b = case_batch(c);
    const struct {
        albert_outputs out;
        const char *says;
    } bad[] = {
        {{.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .layers = twice, .n_layers = 2},
         "given twice"},
        {{.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .layers = beyond, .n_layers = 1},
         "is not in 0.."},
        {{.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .layers = below, .n_layers = 1},
         "is not in 0.."},
        {{.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .layers = NULL, .n_layers = 1},
         "layers NULL"},
        {{.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .layers = one, .n_layers = L + 2},
         "n_layers"},
        {{.pooled = pooled, .pooling = ALBERT_POOL_POOLER, .layers = one, .n_layers = 1},
         "pooler"},
        {{.pooled = pooled, .pooling = ALBERT_POOL_MEAN, .skip_last_layers = 1, .layers = one,
          .n_layers = 1},
         "one or the other"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        albert_error err = {0};
        int rc = albert_engine_run(s->engine, &b, &bad[i].out, &err);
        CHECK(rc == ALBERT_E_ARG && strstr(err.msg, bad[i].says),
              "[%s] %s: bad layers case %zu: rc %d '%s'", s->device, s->model, i, rc, err.msg);
    }
    free(pooled);
    check_combined_capacity(s, c);
}

/* Stopping early: the first, middle and every layer skipped, on a case
 * with hidden_states; the pooler (the last layer's) and skips out of
 * 0..L refused.  Then layers combined: the mean of the last four
 * hidden_states (of every one when there are fewer) and the last, the middle and the embedding projection's
 * concatenated in that order, and the combinations refused. */
static void check_layers(const subject *s, const golden_case *c)
{
    const int L = c->layers_plus_one - 1;
    const int skips[] = {1, L / 2, L};
    for (size_t i = 0; i < sizeof skips / sizeof skips[0]; i++)
        check_skip(s, c, skips[i]);
    float *pooled = alloc_floats((size_t)c->B * c->H);
    albert_batch b = case_batch(c);
    const albert_outputs bad[] = {{.pooled = pooled, .pooling = ALBERT_POOL_POOLER,
                                   .skip_last_layers = 1},
                                  {.pooled = pooled, .pooling = ALBERT_POOL_MEAN,
                                   .skip_last_layers = L + 1},
                                  {.pooled = pooled, .pooling = ALBERT_POOL_MEAN,
                                   .skip_last_layers = -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        albert_error err = {0};
        int rc = albert_engine_run(s->engine, &b, &bad[i], &err);
        CHECK(rc == ALBERT_E_ARG && strstr(err.msg, "skip_last_layers"),
              "[%s] %s: bad skip case %zu: rc %d '%s'", s->device, s->model, i, rc, err.msg);
    }
    free(pooled);
    const int four = L + 1 < 4 ? L + 1 : 4, last_four[] = {L - 3, L - 2, L - 1, L};
    const int spread[] = {L, L / 2, 0};
    check_combine(s, c, last_four + 4 - four, four, 0);
    check_combine(s, c, spread, L >= 2 ? 3 : 2, 1);
    check_combine_refused(s, c);
}

/* Every case of MODEL on DEVICE, under its own profile or, with PROFILE,
 * that one forced. */
static void check_model_on(const char *model, const albert_model *m, int device,
                           const char *profile, const golden_case *cases, int n)
{
    subject s = {model, "", profile ? test_open_engine_profile(m, device, profile)
                                    : test_open_engine(m, device, 0)};
    test_device_label(device, s.device, sizeof s.device);
    static const albert_pooling first_modes[] = {ALBERT_POOL_CLS, ALBERT_POOL_MEAN,
                                                 ALBERT_POOL_POOLER};
    static const albert_pooling st_modes[] = {
        ALBERT_POOL_MAX, ALBERT_POOL_MEAN_SQRT_LEN, ALBERT_POOL_WEIGHTED_MEAN,
        ALBERT_POOL_LAST_TOKEN};
    double worst = 0;
    int padded = 0, layered = 0, st_checked = 0;
    for (int i = 0; i < n; i++) {
        worst = fmax(worst, check_case(&s, &cases[i]));
        if (cases[i].B > 1 && has_padding(&cases[i])) {
            check_invariance(&s, &cases[i]);
            padded++;
        }
        if (cases[i].T <= 128) /* keeps the long_512 case to one forward */
            check_pooling(&s, &cases[i], first_modes, 3, 1);
        /* sentence-transformers' other modes: one padded batch is enough */
        if (cases[i].B > 1 && has_padding(&cases[i]) && !st_checked++)
            check_pooling(&s, &cases[i], st_modes, 4, 0);
        if (cases[i].hidden_states && !layered++) /* one case: each skip is 2 forwards */
            check_layers(&s, &cases[i]);
    }
    printf("[%s] %-22s max abs error over %d cases: %.2e (%s)\n", s.device, model, n, worst,
           albert_engine_device_name(s.engine));
    CHECK(padded > 0 && st_checked > 0, "%s: no padded batch case to check invariance and "
          "pooling on", model);
    CHECK(layered > 0, "%s: no case with hidden_states to stop early on", model);
    albert_engine_free(s.engine);
}

/* Profiles every OpenCL device runs the golden cases under besides its own:
 * the GPU path (so CI runs, on CPU devices, exactly the kernels a GPU gets).
 * The tiny models only: they take every kernel of that path (the tiled
 * attention, sub-group row kernels, CLBlast's GEMMs), while albert-base's
 * GEMMs on CLBlast with CPU defaults would cost minutes; its heads of 64 run
 * through the tiled attention op by op in test_backend_ops (T up to 512) and
 * whole in test_precision (fp16 under this profile). */
static const char *const forced_profiles[] = {ALBERT_TEST_PROFILES_DIR "/gpu-generic.json"};

int main(void)
{
    const int opencl = test_opencl_devices_checked(), cpu = test_cpu_device();
    for (int i = 0; golden_models[i]; i++) {
        golden_case *cases;
        int n = golden_load(golden_models[i], &cases);
        CHECK(n > 0, "%s has no golden cases", golden_models[i]);
        albert_model *m = test_open_model(golden_models[i]);
        for (int d = 0; d < opencl; d++)
            check_model_on(golden_models[i], m, d, NULL, cases, n);
        check_model_on(golden_models[i], m, cpu, NULL, cases, n);
        const int tiny = strncmp(golden_models[i], "tiny-", 5) == 0;
        for (size_t f = 0; tiny && f < sizeof forced_profiles / sizeof forced_profiles[0]; f++)
            for (int d = 0; d < opencl; d++)
                check_model_on(golden_models[i], m, d, forced_profiles[f], cases, n);
        albert_model_close(m);
        golden_free(cases, n);
    }
    return test_finish();
}
