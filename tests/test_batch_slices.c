/* The CPU backend runs a batch in slices of whole sequences (about 1024
 * rows each) through every layer: a batch of several slices, the last one
 * short, with padding, gives each row what that row gives run alone -
 * last_hidden_state, every layer's hidden_states and the pooled vector -
 * in every precision the CPU runs.  Asked for alone, the pooled vectors
 * (the last layer then takes each slice's [CLS] rows only) match those of
 * the run with every output, at 64 tokens (slices of 16 sequences), at
 * 8 (slices of 128: the fp32 sgemm's row counts, not the matmul's) and at
 * 13 (585 rows, which bf16's and int8's matmul pads to 640: steps of 64
 * above 512, lowp_padded_rows). */
#include "albert_cl.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = 40, T = 64 }; /* 2560 rows: slices of 16, 16 and 8 sequences */

/* Largest |got - want| over N values (NaN: infinite). */
static double max_abs(const float *got, const float *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        worst = d > worst || isnan(d) ? (isnan(d) ? INFINITY : d) : worst;
    }
    return worst;
}

typedef struct outputs {
    float *last, *hidden, *pooled;
} outputs;

static int run_len(albert_engine *e, int rows, int seq_len, const int32_t *ids,
                   const int32_t *mask, const outputs *o)
{
    albert_batch b = {rows, seq_len, ids, NULL, mask};
    albert_outputs out = {.last_hidden_state = o->last, .hidden_states = o->hidden,
                          .pooled = o->pooled, .pooling = ALBERT_POOL_POOLER};
    albert_error err = {0};
    int rc = albert_engine_run(e, &b, &out, &err);
    CHECK(rc == ALBERT_OK, "%d x %d: %s", rows, seq_len, err.msg);
    return rc;
}

static int run(albert_engine *e, int rows, const int32_t *ids, const int32_t *mask,
               const outputs *o)
{
    return run_len(e, rows, T, ids, mask, o);
}

/* ROWS x SEQ_LEN (IDS and MASK, the first SEQ_LEN of each row of T) run for
 * the pooled vectors alone against a run with last_hidden_state too;
 * returns the worst difference. */
static double compare_pooled_alone(albert_engine *e, int rows, int seq_len, int H,
                                   const int32_t *ids, const int32_t *mask)
{
    const size_t n = (size_t)rows * seq_len;
    int32_t *i2 = test_calloc(n, sizeof *i2), *m2 = test_calloc(n, sizeof *m2);
    for (size_t k = 0; k < n; k++) { /* row r of the short batch: row r % B of the long */
        const size_t at = (k / seq_len) % B * T + k % seq_len;
        i2[k] = ids[at] ? ids[at] : 5;
        m2[k] = k % seq_len < 2 || mask[at];
    }
    outputs with = {test_calloc(n * H, sizeof(float)), NULL,
                    test_calloc((size_t)rows * H, sizeof(float))};
    outputs alone = {NULL, NULL, test_calloc((size_t)rows * H, sizeof(float))};
    double worst = INFINITY;
    if (run_len(e, rows, seq_len, i2, m2, &with) == ALBERT_OK &&
        run_len(e, rows, seq_len, i2, m2, &alone) == ALBERT_OK)
        worst = max_abs(alone.pooled, with.pooled, (size_t)rows * H);
    free(i2);
    free(m2);
    free(with.last);
    free(with.pooled);
    free(alone.pooled);
    return worst;
}

/* The batch against each of its rows alone; returns the worst difference. */
static double compare_rows(albert_engine *e, int layers, int H, const int32_t *ids,
                           const int32_t *mask, const outputs *all)
{
    const size_t row = (size_t)T * H, layer = (size_t)B * row;
    outputs one = {test_calloc(row, sizeof(float)),
                   test_calloc((size_t)(layers + 1) * row, sizeof(float)),
                   test_calloc((size_t)H, sizeof(float))};
    double worst = INFINITY;
    for (int r = 0; r < B && run(e, 1, ids + (size_t)r * T, mask + (size_t)r * T, &one) == 0;
         r++) {
        worst = r == 0 ? 0 : worst;
        worst = fmax(worst, max_abs(one.last, all->last + r * row, row));
        worst = fmax(worst, max_abs(one.pooled, all->pooled + (size_t)r * H, (size_t)H));
        for (int l = 0; l <= layers; l++)
            worst = fmax(worst, max_abs(one.hidden + l * row, all->hidden + l * layer + r * row,
                                        row));
    }
    free(one.last);
    free(one.hidden);
    free(one.pooled);
    return worst;
}

int main(void)
{
    albert_model *m = test_open_model("tiny-gelu");
    const albert_config *c = albert_model_config(m);
    const int H = c->hidden_size, layers = c->num_hidden_layers, cpu = test_cpu_device();
    int32_t *ids = test_calloc((size_t)B * T, sizeof *ids);
    int32_t *mask = test_calloc((size_t)B * T, sizeof *mask);
    for (int r = 0; r < B; r++) /* lengths 64 down to 8: padding in most rows */
        for (int t = 0; t < T; t++) {
            mask[r * T + t] = t < T - (r * 7) % 57;
            ids[r * T + t] = mask[r * T + t] ? 5 + (r * 131 + t * 17) % 29000 : 0;
        }
    const size_t rows = (size_t)B * T;
    outputs all = {test_calloc(rows * H, sizeof(float)),
                   test_calloc((size_t)(layers + 1) * rows * H, sizeof(float)),
                   test_calloc((size_t)B * H, sizeof(float))};
    albert_device_info info;
    albert_error err = {0};
    CHECK(albert_device_info_get(cpu, NULL, &info, &err) == ALBERT_OK, "%s", err.msg);
    /* fp32 as batch invariance asks elsewhere; reduced precisions to their
     * rounding (a row's GEMM blocking may differ alone). */
    const double tol[ALBERT_PRECISION_COUNT] = {1e-5, 1e-3, 1e-3, 1e-3};
    int checked = 0;
    for (int p = 0; p < ALBERT_PRECISION_COUNT; p++) {
        if (!albert_device_runs(&info, p))
            continue;
        albert_engine_options opt;
        albert_engine_options_init(&opt);
        opt.device = cpu;
        opt.precision = p;
        albert_engine *e = NULL;
        CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "%s", err.msg);
        if (e && run(e, B, ids, mask, &all) == ALBERT_OK) {
            double worst = compare_rows(e, layers, H, ids, mask, &all);
            printf("%s: %d x %d in slices vs each row alone: max abs %.2e\n",
                   albert_precision_name(p), B, T, worst);
            CHECK(worst <= tol[p], "%s: max abs %.3e", albert_precision_name(p), worst);
            const int shapes[3][2] = {{B, T}, {130, 8}, {45, 13}};
            for (int k = 0; k < 3; k++) {
                const int rows_k = shapes[k][0], len_k = shapes[k][1];
                worst = compare_pooled_alone(e, rows_k, len_k, H, ids, mask);
                printf("%s: %d x %d pooled alone vs with tokens: max abs %.2e\n",
                       albert_precision_name(p), rows_k, len_k, worst);
                CHECK(worst <= tol[p], "%s: %d x %d pooled alone: max abs %.3e",
                      albert_precision_name(p), rows_k, len_k, worst);
            }
            checked++;
        }
        albert_engine_free(e);
    }
    CHECK(checked > 0, "no precision checked");
    free(ids);
    free(mask);
    free(all.last);
    free(all.hidden);
    free(all.pooled);
    albert_model_close(m);
    return test_finish();
}
