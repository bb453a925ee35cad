/* Direct checks of each host op against double-precision formulas and naive
 * loops, on inputs small enough to reason about by hand. */
#include "core/backend.h"
#include "cpu/attention_bf16.h"
#include "cpu/linear_lowp.h"
#include "cpu/ops.h"
#include "test_util.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Deterministic values in [-2, 2), so tests need no seed handling. */
static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) & 0xffff) / 16384.0f - 2.0f;
    }
}

static double ref_activation(albert_activation act, double x)
{
    const double pi = 3.14159265358979323846;
    switch (act) {
    case ALBERT_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case ALBERT_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
    case ALBERT_ACT_RELU:
        return x > 0 ? x : 0;
    case ALBERT_ACT_SILU:
        return x / (1.0 + exp(-x));
    case ALBERT_ACT_TANH:
        return tanh(x);
    case ALBERT_ACT_QUICK_GELU:
        return x / (1.0 + exp(-1.702 * x));
    }
    return NAN;
}

static void test_activations(void)
{
    /* Past +-87 exercise the clamps of the vectorised exp. */
    const float points[] = {-100.0f, -20.0f, -6.0f, -3.0f, -1.0f, -0.5f, 0.0f,
                            0.25f,   1.0f,   2.5f, 6.0f,  20.0f, 100.0f};
    const int np = (int)(sizeof points / sizeof points[0]);
    for (int a = ALBERT_ACT_GELU; a <= ALBERT_ACT_QUICK_GELU; a++) {
        float row[sizeof points / sizeof points[0]];
        memcpy(row, points, sizeof row);
        cpu_activate(1, np, (albert_activation)a, row);
        for (int i = 0; i < np; i++) {
            double want = ref_activation((albert_activation)a, points[i]);
            double got = cpu_activation((albert_activation)a, points[i]);
            CHECK(fabs(got - want) <= 2e-7 * (1.0 + fabs(want)), "act %d at %g: %.9g vs %.9g", a,
                  points[i], got, want);
            CHECK(row[i] == (float)got, "cpu_activate act %d at %g differs from scalar", a,
                  points[i]);
        }
    }
    /* Rows long enough for the AVX-512 gelu_tanh (16 lanes at a time, the
     * rest scalar): a sweep over [-12, 12], the points above, and values
     * past every clamp in both paths (positions 16.. and the last ones). */
    enum { SWEEP = 4099 };
    const float special[] = {INFINITY, -INFINITY, NAN, 1e30f, -1e30f, -FLT_MAX, -9.5f};
    const int ns = (int)(sizeof special / sizeof special[0]);
    float *sweep = test_calloc(SWEEP, sizeof *sweep), *orig = test_calloc(SWEEP, sizeof *orig);
    for (int i = 0; i < SWEEP; i++)
        orig[i] = i < np ? points[i] : -12.0f + 24.0f * (float)i / SWEEP;
    for (int i = 0; i < ns; i++)
        orig[16 + i] = orig[SWEEP - 1 - i] = special[i];
    memcpy(sweep, orig, SWEEP * sizeof *sweep);
    cpu_activate(1, SWEEP, ALBERT_ACT_GELU_TANH, sweep);
    double worst = 0;
    for (int i = 0; i < SWEEP; i++) {
        const float x = orig[i], y = sweep[i];
        if (isnan(x) || x == -INFINITY) /* HF: NaN, and -inf * 0 */
            CHECK(isnan(y), "gelu_tanh(%g) = %g, not NaN", x, y);
        else if (x == INFINITY || x == 1e30f)
            CHECK(y == x, "gelu_tanh(%g) = %g", x, y);
        else if (x < -1e20f) /* HF: x * 0 */
            CHECK(fabsf(y) < 1e-20f, "gelu_tanh(%g) = %g, not 0", x, y);
        else
            worst = fmax(worst, fabs(y - ref_activation(ALBERT_ACT_GELU_TANH, x)) /
                                    (1.0 + fabs(ref_activation(ALBERT_ACT_GELU_TANH, x))));
    }
    CHECK(worst <= 2e-7, "gelu_tanh over a long row: %.3g relative to 1 + |gelu|", worst);
    free(sweep);
    free(orig);
    /* Known values that separate the erf and tanh GELUs. */
    CHECK(fabsf(cpu_activation(ALBERT_ACT_GELU, 1.0f) - 0.8413447f) < 1e-6f, "gelu(1)");
    CHECK(fabsf(cpu_activation(ALBERT_ACT_GELU_TANH, 1.0f) - 0.8411920f) < 1e-6f, "gelu_new(1)");
    CHECK(cpu_activation(ALBERT_ACT_RELU, -0.0f) == 0.0f, "relu(-0)");
}

static void test_softmax(void)
{
    enum { B = 2, NH = 2, T = 4 };
    const int32_t mask[B * T] = {1, 1, 0, 1, /* row 1 fully masked: */ 0, 0, 0, 0};
    const float scale = 0.5f;
    float s[B * NH * T * T], orig[B * NH * T * T];
    fill(orig, sizeof orig / sizeof orig[0], 7);
    memcpy(s, orig, sizeof s);
    cpu_softmax_masked(B, NH, T, scale, mask, s);
    for (int r = 0; r < B * NH * T; r++) {
        int b = r / (NH * T);
        const float *o = orig + r * T, *p = s + r * T;
        double sum = 0;
        for (int k = 0; k < T; k++)
            sum += mask[b * T + k] ? exp(scale * o[k]) : 0.0;
        for (int k = 0; k < T; k++) {
            double want = b == 1 ? 1.0 / T : mask[k] ? exp(scale * o[k]) / sum : 0.0;
            CHECK(fabs(p[k] - want) < 1e-6, "softmax row %d key %d: %g vs %g", r, k, p[k], want);
        }
        CHECK(b == 1 || p[2] == 0.0f, "masked key of row %d has weight %g", r, p[2]);
    }
    /* No mask: every key counts, large scores stay finite (T query rows). */
    const float extreme[T] = {1000.0f, 999.0f, -1000.0f, 0.0f};
    float big[T * T];
    for (int q = 0; q < T; q++)
        memcpy(big + q * T, extreme, sizeof extreme);
    cpu_softmax_masked(1, 1, T, 1.0f, NULL, big);
    for (int q = 0; q < T; q++) {
        const float *p = big + q * T;
        CHECK(fabs(p[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-6, "unmasked softmax %g", p[0]);
        CHECK(p[2] == 0.0f && isfinite(p[1]) && p[3] >= 0.0f, "extreme scores row %d", q);
    }
}

/* Attention against naive loops in double: per row and head, softmax of
 * scaled q.k over the unmasked keys (uniform over all keys when every key
 * is masked, as HF), then the weighted sum of v; 2 threads, so each uses its
 * own block of scores. */
static void test_attention(void)
{
    enum { B = 2, T = 5, H = 6, NH = 3, D = H / NH, THREADS = 2 };
    const int32_t mask[B * T] = {1, 1, 0, 1, 1, /* row 1 fully masked: */ 0, 0, 0, 0, 0};
    float qkv[B * T * 3 * H], out[B * T * H], scores[THREADS * T * T];
    fill(qkv, sizeof qkv / sizeof qkv[0], 11);
    CHECK(cpu_attention(B, T, H, NH, qkv, mask, THREADS, scores, out) == ALBERT_OK,
          "cpu_attention");
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int q = 0; q < T; q++) {
                const float *qv = qkv + (size_t)(b * T + q) * 3 * H + h * D;
                double w[T], sum = 0;
                for (int k = 0; k < T; k++) {
                    const float *kv = qkv + (size_t)(b * T + k) * 3 * H + H + h * D;
                    double dot = 0;
                    for (int d = 0; d < D; d++)
                        dot += (double)qv[d] * kv[d];
                    w[k] = b == 1 ? 1.0 : mask[b * T + k] ? exp(dot / sqrt((double)D)) : 0.0;
                    sum += w[k];
                }
                for (int d = 0; d < D; d++) {
                    double want = 0;
                    for (int k = 0; k < T; k++)
                        want += w[k] / sum * qkv[(size_t)(b * T + k) * 3 * H + 2 * H + h * D + d];
                    const float got = out[(size_t)(b * T + q) * H + h * D + d];
                    CHECK(fabs(got - want) < 1e-5, "attention b %d head %d q %d d %d: %g vs %g", b,
                          h, q, d, got, want);
                }
            }
}

/* B x T sequences of H = NH heads through attn_bf16 (F32_IO: float32 in
 * and out; made for longer sequences, run twice, the second time on the
 * primitives the first made where it runs on oneDNN) against cpu_attention
 * on the same bfloat16-rounded inputs; returns the largest difference (a
 * NaN: infinite). */
static double attention_bf16_diff(int B, int T, int H, int NH, const int32_t *mask, bool f32_io)
{
    const size_t rows = (size_t)B * T;
    float *qkv = malloc(rows * 3 * H * sizeof *qkv), *want = malloc(rows * H * sizeof *want);
    float *scores = malloc((size_t)T * T * sizeof *scores);
    uint16_t *qkv16 = malloc(rows * 3 * H * 2), *got16 = malloc(rows * H * 2);
    float *got32 = malloc(rows * H * sizeof *got32);
    fill(qkv, rows * 3 * H, 17);
    onednn_round_bf16(rows * 3 * H, qkv, qkv16);
    for (size_t i = 0; i < rows * 3 * H; i++) {
        uint32_t bits = (uint32_t)qkv16[i] << 16;
        memcpy(&qkv[i], &bits, sizeof bits);
    }
    CHECK(cpu_attention(B, T, H, NH, qkv, mask, 1, scores, want) == ALBERT_OK, "cpu_attention");
    lowp_context *ctx = NULL;
    attn_bf16 *a = NULL;
    albert_error err = {0};
    double worst = INFINITY;
    CHECK(lowp_context_create(&ctx, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(ctx && attn_bf16_create(ctx, H, NH, T + 3, f32_io, &a, &err) == ALBERT_OK, "%s",
          err.msg);
    if (!a) {
        lowp_context_free(ctx);
        return INFINITY;
    }
    void *scratch = aligned_alloc(64, (attn_bf16_scratch_bytes(a, T) + 63) / 64 * 64);
    const void *in = f32_io ? (const void *)qkv : qkv16;
    void *out = f32_io ? (void *)got32 : got16;
    int rc = attn_bf16_run(a, B, T, in, mask, scratch, out, &err);
    if (rc == ALBERT_OK) /* again: cached primitives, the same answer */
        rc = attn_bf16_run(a, B, T, in, mask, scratch, out, &err);
    if (rc == ALBERT_OK) {
        worst = 0;
        for (size_t i = 0; i < rows * H; i++) {
            uint32_t bits = (uint32_t)got16[i] << 16;
            float g = got32[i];
            if (!f32_io)
                memcpy(&g, &bits, sizeof g);
            const double d = isnan(g) ? INFINITY : fabs(g - want[i]); /* NaN: as far as can be */
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst < INFINITY, "attn_bf16_run: %s", err.msg);
    CHECK(attn_bf16_run(a, B, T + 4, in, mask, scratch, out, &err) == ALBERT_E_ARG,
          "T beyond the maximum");
    attn_bf16_free(a);
    lowp_context_free(ctx);
    free(scratch);
    free(qkv);
    free(want);
    free(scores);
    free(qkv16);
    free(got16);
    free(got32);
    return worst;
}

/* Whether this CPU runs PRECISION natively, where the backend uses WHAT;
 * says so when it does not (the test is then not run, and the backend does
 * not use it either). */
static bool cpu_runs(int precision, const char *what)
{
    if (lowp_supported(precision))
        return true;
    printf("%s: not run, this CPU has no native %s (the backend does not use it)\n", what,
           albert_precision_name(precision));
    return false;
}

/* The bf16 attention agrees with the float32 one to bfloat16's precision
 * (P and the output rounded: 2^-8 relative) on masked, unmasked, fully
 * masked and one-token sequences, on ALBERT-base's head shape, and in
 * groups of sequences (8, 2 and 1 of 11), with bfloat16 or float32 in and
 * out; on both of its paths where the CPU has AVX512-BF16: bfloat16 heads
 * of a multiple of 16 up to ATTN_SHORT_MAX_T tokens on
 * attention_bf16_short.c (37, 1, 20, 11 tokens; 48, its longest, with
 * heads of 128, its widest; 16 with heads of 16), the rest on oneDNN
 * (float32 in and out, heads of 2, 57 tokens).  Only where the backend
 * runs it: CPUs with bf16. */
static void test_attention_bf16(void)
{
    if (!cpu_runs(ALBERT_PRECISION_BF16, "attn_bf16"))
        return;
    const int32_t mask[2 * 5] = {1, 1, 0, 1, 1, 0, 0, 0, 0, 0};
    int32_t long_mask[3 * 37], group_mask[11 * 20], odd_mask[3 * 11], onednn_mask[2 * 57];
    for (int i = 0; i < 3 * 37; i++)
        long_mask[i] = i % 37 < 37 - 9 * (i / 37);
    for (int i = 0; i < 11 * 20; i++)
        group_mask[i] = i % 20 < 20 - i / 20;
    for (int i = 0; i < 3 * 11; i++) /* every key, none, the first alone */
        odd_mask[i] = i < 11 || i == 22;
    for (int i = 0; i < 2 * 57; i++)
        onednn_mask[i] = i % 57 < 57 - 13 * (i / 57);
    for (int f32_io = 0; f32_io < 2; f32_io++) {
        const double small = attention_bf16_diff(2, 5, 6, 3, mask, f32_io);
        const double base = attention_bf16_diff(3, 37, 768, 12, long_mask, f32_io);
        const double single = attention_bf16_diff(4, 1, 64, 2, NULL, f32_io);
        const double groups = attention_bf16_diff(11, 20, 128, 2, group_mask, f32_io);
        const double odd = attention_bf16_diff(3, 11, 128, 2, odd_mask, f32_io);
        const double onednn = attention_bf16_diff(2, 57, 768, 12, onednn_mask, f32_io);
        const double widest = attention_bf16_diff(2, 48, 256, 2, NULL, f32_io);
        const double narrow = attention_bf16_diff(3, 16, 64, 4, NULL, f32_io);
        printf("attn_bf16 (%s in and out) vs cpu_attention: max abs %.2e, %.2e, %.2e, %.2e, "
               "%.2e, %.2e, %.2e, %.2e\n",
               f32_io ? "float32" : "bfloat16", small, base, single, groups, odd, onednn, widest,
               narrow);
        CHECK(small < 1.5e-2 && base < 1.5e-2 && single < 1.5e-2 && groups < 1.5e-2 &&
                  odd < 1.5e-2 && onednn < 1.5e-2 && widest < 1.5e-2 && narrow < 1.5e-2,
              "bf16 attention off");
        /* float32 out is not rounded: a one-token sequence's output is its V. */
        CHECK(!f32_io || single == 0, "one token: %g", single);
    }
}

/* A NaN in one key makes every row of its head NaN (each query's score
 * with it is NaN) and leaves the other head finite, as in HF, on both paths
 * (heads of 32 on attention_bf16_short.c with bfloat16, on oneDNN with
 * float32 in and out). */
static void test_attention_bf16_nan(void)
{
    if (!cpu_runs(ALBERT_PRECISION_BF16, "attn_bf16 NaN"))
        return;
    enum { T = 5, H = 64, NH = 2, D = H / NH };
    float qkv[T * 3 * H], out32[T * H];
    uint16_t qkv16[T * 3 * H], out16[T * H];
    fill(qkv, T * 3 * H, 23);
    qkv[2 * 3 * H + H + 3] = NAN; /* token 2, head 0, k[3] */
    onednn_round_bf16(T * 3 * H, qkv, qkv16);
    qkv16[2 * 3 * H + H + 3] = 0x7fc0; /* onednn_to_bf16 does not keep NaN */
    lowp_context *ctx = NULL;
    albert_error err = {0};
    CHECK(lowp_context_create(&ctx, &err) == ALBERT_OK, "%s", err.msg);
    for (int f32_io = 0; ctx && f32_io < 2; f32_io++) {
        attn_bf16 *a = NULL;
        CHECK(attn_bf16_create(ctx, H, NH, T, f32_io, &a, &err) == ALBERT_OK, "%s", err.msg);
        void *scratch = aligned_alloc(64, (attn_bf16_scratch_bytes(a, T) + 63) / 64 * 64);
        int rc = a ? attn_bf16_run(a, 1, T, f32_io ? (const void *)qkv : qkv16, NULL, scratch,
                                   f32_io ? (void *)out32 : out16, &err)
                   : ALBERT_E_ARG;
        CHECK(rc == ALBERT_OK, "%s", err.msg);
        int nan_head = 1, finite_rest = 1;
        for (int t = 0; rc == ALBERT_OK && t < T; t++)
            for (int d = 0; d < H; d++) {
                uint32_t bits = (uint32_t)out16[t * H + d] << 16;
                float v = out32[t * H + d];
                if (!f32_io)
                    memcpy(&v, &bits, sizeof v);
                if (d < D)
                    nan_head &= isnan(v);
                else
                    finite_rest &= isfinite(v);
            }
        CHECK(nan_head && finite_rest, "%s in and out: NaN head %d, the other finite %d",
              f32_io ? "float32" : "bfloat16", nan_head, finite_rest);
        attn_bf16_free(a);
        free(scratch);
    }
    lowp_context_free(ctx);
}

/* One int8 FFN of N both ways (192: the second's input quantized on
 * AVX-512; 200: portably; 2048: its rows in parallel); returns whether the
 * outputs are the same bits. */
static bool int8_handover_same(lowp_context *ctx, int N)
{
    enum { M = 37, K = 64 };
    float *w1 = test_calloc((size_t)N * K, sizeof *w1), *b1 = test_calloc((size_t)N, sizeof *b1);
    float *w2 = test_calloc((size_t)K * N, sizeof *w2), *b2 = test_calloc(K, sizeof *b2);
    float *x = test_calloc((size_t)M * K, sizeof *x);
    fill(w1, (size_t)N * K, 1);
    fill(b1, (size_t)N, 2);
    fill(w2, (size_t)K * N, 3);
    fill(b2, K, 4);
    fill(x, (size_t)M * K, 5);
    const size_t rows = lowp_padded_rows(M);
    void *scratch = test_calloc(lowp_scratch_bytes(ALBERT_PRECISION_INT8, M, (size_t)N), 1);
    float *y = test_calloc(rows * (size_t)N, sizeof *y);
    float *plain = test_calloc(rows * K, sizeof *plain), *handed = test_calloc(rows * K, sizeof *handed);
    const lowp_fusion keep = {ALBERT_ACT_GELU_TANH, false}, hand = {ALBERT_ACT_GELU_TANH, true};
    lowp_linear *first = NULL, *first_hands = NULL, *second = NULL;
    albert_error err;
    int rc = lowp_linear_create(ctx, ALBERT_PRECISION_INT8, N, K, w1, b1, &keep, &first, &err);
    if (rc == ALBERT_OK)
        rc = lowp_linear_create(ctx, ALBERT_PRECISION_INT8, N, K, w1, b1, &hand, &first_hands, &err);
    if (rc == ALBERT_OK)
        rc = lowp_linear_create(ctx, ALBERT_PRECISION_INT8, K, N, w2, b2, NULL, &second, &err);
    if (rc == ALBERT_OK) /* float32 between the two: the second quantizes it */
        rc = lowp_linear_run(first, M, x, false, scratch, y, &err);
    if (rc == ALBERT_OK)
        rc = lowp_linear_run(second, M, y, false, scratch, plain, &err);
    if (rc == ALBERT_OK) /* handed over in the scratch, quantized row by row */
        rc = lowp_linear_run(first_hands, M, x, false, scratch, y, &err);
    if (rc == ALBERT_OK)
        rc = lowp_linear_run(second, M, scratch, true, scratch, handed, &err);
    CHECK(rc == ALBERT_OK, "int8 FFN of %d: %s", N, err.msg);
    CHECK(!second || lowp_linear_run(second, M, y, true, scratch, handed, &err) == ALBERT_E_ARG,
          "an int8 Linear takes a handed-over input only from its scratch");
    bool same = rc == ALBERT_OK && memcmp(plain, handed, (size_t)M * K * sizeof *plain) == 0;
    lowp_linear_free(first);
    lowp_linear_free(first_hands);
    lowp_linear_free(second);
    free(w1), free(b1), free(w2), free(b2), free(x), free(scratch), free(y), free(plain);
    free(handed);
    return same;
}

/* The int8 FFN's first Linear hands its GELU'd output to the second
 * quantized (lowp_fusion.next_input): the same bits as the second
 * quantizing the first's float32 output itself.  Only where the backend
 * runs int8: CPUs with VNNI. */
static void test_int8_handover(void)
{
    if (!cpu_runs(ALBERT_PRECISION_INT8, "int8 hand-over"))
        return;
    lowp_context *ctx = NULL;
    albert_error err;
    CHECK(lowp_context_create(&ctx, &err) == ALBERT_OK, "%s", err.msg);
    if (!ctx)
        return;
    const int widths[] = {192, 200, 2048};
    for (int i = 0; i < 3; i++)
        CHECK(int8_handover_same(ctx, widths[i]), "int8 FFN of %d: handed over differs",
              widths[i]);
    lowp_context_free(ctx);
}

/* Y [M, 32] of an int8 Linear of the first K_USED of K inputs (the rest of
 * X's and W's columns zero). */
static int int8_linear(lowp_context *ctx, int K, int K_used, const float *x_used,
                       const float *w_used, float *y)
{
    enum { M = 9, N = 32 };
    float *x = test_calloc((size_t)M * K, sizeof *x), *w = test_calloc((size_t)N * K, sizeof *w);
    for (int r = 0; r < M; r++)
        memcpy(x + (size_t)r * K, x_used + (size_t)r * K_used, (size_t)K_used * sizeof *x);
    for (int c = 0; c < N; c++)
        memcpy(w + (size_t)c * K, w_used + (size_t)c * K_used, (size_t)K_used * sizeof *w);
    void *scratch = test_calloc(lowp_scratch_bytes(ALBERT_PRECISION_INT8, M, (size_t)K), 1);
    lowp_linear *l = NULL;
    albert_error err;
    int rc = lowp_linear_create(ctx, ALBERT_PRECISION_INT8, N, K, w, NULL, NULL, &l, &err);
    if (rc == ALBERT_OK)
        rc = lowp_linear_run(l, M, x, false, scratch, y, &err);
    CHECK(rc == ALBERT_OK, "int8 Linear of %d: %s", K, err.msg);
    lowp_linear_free(l);
    free(x), free(w), free(scratch);
    return rc;
}

/* The AVX-512 quantizer (rows of a multiple of 64) and the portable one give
 * the same bits: 192 inputs against the same 192 and 8 zeros (zeros move
 * neither a row's range nor a weight sum).  A row with NaN or an infinity
 * comes out NaN from both, not quantized away. */
static void test_int8_quantizers(void)
{
    if (!cpu_runs(ALBERT_PRECISION_INT8, "int8 quantizers"))
        return;
    enum { M = 9, N = 32, K = 192 };
    lowp_context *ctx = NULL;
    albert_error err;
    CHECK(lowp_context_create(&ctx, &err) == ALBERT_OK, "%s", err.msg);
    float *x = test_calloc((size_t)M * K, sizeof *x), *w = test_calloc((size_t)N * K, sizeof *w);
    fill(x, (size_t)M * K, 6);
    fill(w, (size_t)N * K, 7);
    x[3 * K + 5] = NAN;
    x[4 * K + 100] = INFINITY;
    const size_t rows = lowp_padded_rows(M);
    float *wide = test_calloc(rows * N, sizeof *wide), *padded = test_calloc(rows * N, sizeof *padded);
    if (ctx && int8_linear(ctx, K, K, x, w, wide) == ALBERT_OK &&
        int8_linear(ctx, K + 8, K, x, w, padded) == ALBERT_OK) {
        int finite_same = 1, nan_rows = 1;
        for (int r = 0; r < M; r++)
            for (int c = 0; c < N; c++) {
                const float a = wide[r * N + c], b = padded[r * N + c];
                if (r == 3 || r == 4)
                    nan_rows &= isnan(a) && isnan(b);
                else
                    finite_same &= isfinite(a) && memcmp(&a, &b, sizeof a) == 0;
            }
        CHECK(finite_same, "int8 rows of 192 and of 192 + 8 zeros differ");
        CHECK(nan_rows, "a row with NaN or an infinity is not NaN");
    }
    free(x), free(w), free(wide), free(padded);
    lowp_context_free(ctx);
}

static void test_layernorm(void)
{
    enum { ROWS = 3, N = 37 };
    float x[ROWS * N], res[ROWS * N], g[N], b[N], out[ROWS * N], alias[ROWS * N];
    fill(x, ROWS * N, 1);
    fill(res, ROWS * N, 2);
    fill(g, N, 3);
    fill(b, N, 4);
    const float eps = 1e-5f;
    cpu_layernorm(ROWS, N, x, res, g, b, eps, out);
    memcpy(alias, x, sizeof alias);
    cpu_layernorm(ROWS, N, alias, res, g, b, eps, alias); /* OUT aliases X */
    for (int r = 0; r < ROWS; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < N; i++)
            mean += (double)x[r * N + i] + res[r * N + i];
        mean /= N;
        for (int i = 0; i < N; i++) {
            double d = (double)x[r * N + i] + res[r * N + i] - mean;
            var += d * d;
        }
        var /= N;
        for (int i = 0; i < N; i++) {
            double z = ((double)x[r * N + i] + res[r * N + i] - mean) / sqrt(var + eps);
            double want = z * g[i] + b[i];
            CHECK(fabs(out[r * N + i] - want) < 2e-6, "layernorm [%d,%d] %g vs %g", r, i,
                  out[r * N + i], want);
            CHECK(alias[r * N + i] == out[r * N + i], "aliased layernorm differs at [%d,%d]", r, i);
        }
    }
    /* A constant row (zero variance) must not blow up: the result is b. */
    float flat[N], one[N], zero[N];
    for (int i = 0; i < N; i++)
        flat[i] = 3.0f, one[i] = 1.0f, zero[i] = 0.5f;
    cpu_layernorm(1, N, flat, NULL, one, zero, 1e-12f, flat);
    CHECK(flat[0] == 0.5f && flat[N - 1] == 0.5f, "constant row gives %g", flat[0]);
}

static void test_linear(void)
{
    enum { M = 5, N = 7, K = 9 };
    float x[M * K], w[N * K], bias[N], y[M * N], ynb[M * N];
    fill(x, M * K, 11);
    fill(w, N * K, 12);
    fill(bias, N, 13);
    CHECK(cpu_linear(M, N, K, x, w, bias, y) == ALBERT_OK &&
              cpu_linear(M, N, K, x, w, NULL, ynb) == ALBERT_OK,
          "cpu_linear");
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)x[m * K + k] * w[n * K + k];
            CHECK(fabs(y[m * N + n] - (acc + bias[n])) < 1e-5, "linear [%d,%d]", m, n);
            CHECK(fabs(ynb[m * N + n] - acc) < 1e-5, "linear no bias [%d,%d]", m, n);
        }
}

static void test_embed(void)
{
    enum { E = 8, V = 5, P = 4, TV = 2, B = 2, T = 3 };
    const albert_config cfg = {.embedding_size = E, .layer_norm_eps = 1e-12f};
    float word[V * E], pos[P * E], type[TV * E], g[E], b[E], out[B * T * E];
    fill(word, V * E, 21);
    fill(pos, P * E, 22);
    fill(type, TV * E, 23);
    fill(g, E, 24);
    fill(b, E, 25);
    albert_weights w = {.word_emb = word, .pos_emb = pos, .type_emb = type, .emb_ln_g = g,
                        .emb_ln_b = b};
    const int32_t ids[B * T] = {4, 0, 2, 1, 3, 3}, types[B * T] = {0, 0, 1, 0, 1, 1};
    for (int with_types = 0; with_types < 2; with_types++) {
        cpu_embed(&cfg, &w, B, T, ids, with_types ? types : NULL, out);
        for (int r = 0; r < B * T; r++) {
            float sum[E];
            int tt = with_types ? types[r] : 0;
            for (int i = 0; i < E; i++)
                sum[i] = word[ids[r] * E + i] + type[tt * E + i] + pos[(r % T) * E + i];
            float want[E];
            cpu_layernorm(1, E, sum, NULL, g, b, cfg.layer_norm_eps, want);
            for (int i = 0; i < E; i++)
                CHECK(fabsf(out[r * E + i] - want[i]) < 1e-6f, "embed row %d [%d] types %d", r,
                      i, with_types);
        }
    }
}

static void test_pooling(void)
{
    enum { B = 3, T = 4, H = 5 };
    float hidden[B * T * H], pooled[B * H];
    fill(hidden, B * T * H, 31);
    const int32_t mask[B * T] = {1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    cpu_pool(B, T, H, hidden, mask, ALBERT_POOL_CLS, pooled);
    CHECK(memcmp(pooled + H, hidden + T * H, H * sizeof(float)) == 0, "CLS pooling row 1");
    cpu_pool(B, T, H, hidden, mask, ALBERT_POOL_MEAN, pooled);
    for (int i = 0; i < H; i++) {
        CHECK(fabsf(pooled[i] - (hidden[i] + hidden[H + i]) / 2) < 1e-6f, "mean row 0 [%d]", i);
        double s = 0;
        for (int t = 0; t < T; t++)
            s += hidden[(T + t) * H + i];
        CHECK(fabs(pooled[H + i] - s / T) < 1e-6, "mean row 1 [%d]", i);
        CHECK(pooled[2 * H + i] == 0.0f, "mean of a fully masked row is %g", pooled[2 * H + i]);
    }
    /* MAX: per value over the kept tokens; a NaN among them wins, as in
     * torch.max (and a masked one does not count). */
    hidden[(T + 2) * H + 1] = NAN;
    hidden[2 * H + 2] = NAN;
    float most[B * H];
    cpu_pool(B, T, H, hidden, mask, ALBERT_POOL_MAX, most);
    for (int i = 0; i < H; i++) {
        CHECK(most[i] == fmaxf(hidden[i], hidden[H + i]), "max row 0 [%d]", i);
        float m = hidden[T * H + i];
        for (int t = 1; t < T; t++)
            m = fmaxf(m, hidden[(T + t) * H + i]);
        CHECK(i == 1 ? isnan(most[H + i]) : most[H + i] == m, "max row 1 [%d]: %g", i,
              most[H + i]);
        CHECK(most[2 * H + i] == 0.0f, "max of a fully masked row is %g", most[2 * H + i]);
    }

    albert_l2_normalize(B, H, pooled);
    for (int r = 0; r < 2; r++) {
        double n2 = 0;
        for (int i = 0; i < H; i++)
            n2 += (double)pooled[r * H + i] * pooled[r * H + i];
        CHECK(fabs(n2 - 1.0) < 1e-6, "normalised row %d has squared norm %g", r, n2);
    }
    CHECK(pooled[2 * H] == 0.0f && !isnan(pooled[2 * H + 1]), "zero row stays zero");

    float w[H * H], bias[H];
    fill(w, H * H, 32);
    fill(bias, H, 33);
    CHECK(cpu_pooler(B, T, H, hidden, w, bias, pooled) == ALBERT_OK, "cpu_pooler");
    for (int b = 0; b < B; b++)
        for (int n = 0; n < H; n++) {
            double acc = bias[n];
            for (int k = 0; k < H; k++)
                acc += (double)w[n * H + k] * hidden[b * T * H + k];
            CHECK(fabs(pooled[b * H + n] - tanh(acc)) < 1e-6, "pooler [%d,%d]", b, n);
        }
}

int main(void)
{
    test_activations();
    test_softmax();
    test_attention();
    test_attention_bf16();
    test_attention_bf16_nan();
    test_int8_handover();
    test_int8_quantizers();
    test_layernorm();
    test_linear();
    test_embed();
    test_pooling();
    return test_finish();
}
