/* Every OpenCL op (ocl_ops.h) against its CPU twin (ops_cpu.h) on random
 * inputs and edge sizes: T = 1 and 512, widths that are not multiples of the
 * work-group size (hidden 32, 48, 33, 768, 1000), fully padded rows, every
 * activation.  Run with the default tunables and with an odd set (other
 * work-group sizes, a vector width of 3), as device profiles will. */
#include "ocl_ops.h"
#include "ocl_test.h"
#include "ops_cpu.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5 /* relative to 1 + |reference| */

typedef struct env {
    ocl_ctx ctx;
    ocl_kernels k;
    const char *label;
    unsigned long long seed;
} env;

/* ---------------------------------------------------------------- helpers */

static float rnd(env *e, float scale)
{
    e->seed = e->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return scale * ((float)(e->seed >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
}

static float *rand_floats(env *e, size_t n, float scale)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = rnd(e, scale);
    if (!p) {
        fprintf(stderr, "FATAL: out of memory\n");
        exit(1);
    }
    return p;
}

static float *copy_floats(const float *src, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "FATAL: out of memory\n");
        exit(1);
    }
    memcpy(p, src, n * sizeof *p);
    return p;
}

static cl_mem to_device(env *e, const void *host, size_t bytes)
{
    cl_mem m = NULL;
    albert_error err = {0};
    int rc = ocl_buffer(&e->ctx, CL_MEM_READ_WRITE, bytes, host, &m, "test", &err);
    if (rc != ALBERT_OK) {
        fprintf(stderr, "FATAL: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static cl_mem floats_to_device(env *e, const float *host, size_t n)
{
    return to_device(e, host, n * sizeof *host);
}

/* Waits for the queue and reads N floats back (freed by the caller). */
static float *from_device(env *e, cl_mem m, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    albert_error err = {0};
    int rc = ocl_read(&e->ctx, m, 0, n * sizeof *p, p, 1, &err);
    CHECK(rc == ALBERT_OK, "read back: %s", err.msg);
    return p;
}

/* max |got - want| / (1 + |want|), NaN counting as infinite. */
static double rel_diff(const float *got, const float *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

/* Reads OUT back, compares it with WANT and releases OUT. */
static void expect_close(env *e, cl_mem out, const float *want, size_t n, const char *what)
{
    float *got = from_device(e, out, n);
    double d = rel_diff(got, want, n);
    CHECK(d <= TOL, "[%s] %s: rel diff %.3e", e->label, what, d);
    free(got);
    ocl_release_mem(&out);
}

static void expect_ok(env *e, int rc, const albert_error *err, const char *what)
{
    CHECK(rc == ALBERT_OK, "[%s] %s: %s", e->label, what, err->msg);
}

/* A mask for B rows of T with row b keeping its first LENS[b % nlens]
 * tokens (0: fully padded); also rotates which row is short. */
static int32_t *make_mask(int B, int T, const int *lens, int nlens)
{
    int32_t *m = malloc((size_t)B * T * sizeof *m);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int len = lens[b % nlens];
            m[(size_t)b * T + t] = t < (len > T ? T : len);
        }
    return m;
}

/* ---------------------------------------------------------------- ops */

static void test_embed(env *e, int B, int T, int E)
{
    albert_config cfg;
    albert_config_init(&cfg);
    cfg.vocab_size = 97;
    cfg.embedding_size = E;
    cfg.max_position_embeddings = 512;
    cfg.type_vocab_size = 2;
    cfg.layer_norm_eps = 1e-12f;
    albert_weights w = {0};
    float *word = rand_floats(e, (size_t)97 * E, 1.0f), *pos = rand_floats(e, (size_t)512 * E, 1.0f);
    float *type = rand_floats(e, (size_t)2 * E, 1.0f), *g = rand_floats(e, (size_t)E, 1.0f);
    float *bta = rand_floats(e, (size_t)E, 1.0f);
    w.word_emb = word, w.pos_emb = pos, w.type_emb = type, w.emb_ln_g = g, w.emb_ln_b = bta;
    const size_t n = (size_t)B * T;
    int32_t *ids = malloc(n * sizeof *ids), *types = malloc(n * sizeof *types);
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int32_t)((i * 31 + 7) % 97);
        types[i] = (int32_t)(i % 3 == 0);
    }
    float *want = malloc(n * E * sizeof *want);
    cpu_embed(&cfg, &w, B, T, ids, types, want);
    ocl_embed_weights dw = {floats_to_device(e, word, (size_t)97 * E),
                            floats_to_device(e, pos, (size_t)512 * E),
                            floats_to_device(e, type, (size_t)2 * E), floats_to_device(e, g, E),
                            floats_to_device(e, bta, E)};
    cl_mem d_ids = to_device(e, ids, n * 4), d_types = to_device(e, types, n * 4);
    cl_mem out = floats_to_device(e, want, n * E); /* overwritten */
    albert_error err = {0};
    expect_ok(e, ocl_op_embed(&e->ctx, &e->k, &dw, cfg.layer_norm_eps, B * T, T, E, d_ids, d_types,
                              out, &err),
              &err, "embed");
    char what[64];
    snprintf(what, sizeof what, "embed B=%d T=%d E=%d", B, T, E);
    expect_close(e, out, want, n * E, what);
    cl_mem all[] = {dw.word, dw.pos, dw.type, dw.gamma, dw.beta, d_ids, d_types};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ocl_release_mem(&all[i]);
    free(word), free(pos), free(type), free(g), free(bta), free(ids), free(types), free(want);
}

/* bias + activation for ACT (OCL_ACT_NONE: bias only). */
static void test_bias_act(env *e, int rows, int n, int act)
{
    float *x = rand_floats(e, (size_t)rows * n, 4.0f), *bias = rand_floats(e, (size_t)n, 1.0f);
    cl_mem dx = floats_to_device(e, x, (size_t)rows * n), db = floats_to_device(e, bias, n);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++)
            x[(size_t)r * n + j] += bias[j];
    if (act != OCL_ACT_NONE)
        cpu_activate(rows, n, (albert_activation)act, x);
    albert_error err = {0};
    expect_ok(e, ocl_op_bias_act(&e->ctx, &e->k, rows, n, db, act, dx, &err), &err, "bias_act");
    char what[96];
    snprintf(what, sizeof what, "bias_act %s rows=%d n=%d",
             act == OCL_ACT_NONE ? "none" : albert_activation_name((albert_activation)act), rows,
             n);
    expect_close(e, dx, x, (size_t)rows * n, what);
    ocl_release_mem(&db);
    free(x), free(bias);
}

/* N floats of NaN: an output buffer an op must overwrite (expect_close
 * counts NaN as a mismatch). */
static cl_mem nan_buffer(env *e, size_t n)
{
    float *nan = malloc((n ? n : 1) * sizeof *nan);
    if (!nan) {
        fprintf(stderr, "FATAL: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    cl_mem m = floats_to_device(e, nan, n);
    free(nan);
    return m;
}

/* A Linear's weight W[N,K] as the env's kernels want it (packed or not). */
static cl_mem weight_to_device(env *e, const float *w, int N, int K)
{
    cl_mem m = NULL;
    albert_error err = {0};
    if (ocl_linear_upload(&e->ctx, &e->k, N, K, w, &m, "test weight", &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: [%s] %s\n", e->label, err.msg);
        exit(1);
    }
    return m;
}

static void test_linear(env *e, int M, int N, int K, int act)
{
    float *x = rand_floats(e, (size_t)M * K, 1.0f), *w = rand_floats(e, (size_t)N * K, 0.1f);
    float *bias = rand_floats(e, (size_t)N, 0.5f), *want = malloc((size_t)M * N * sizeof *want);
    cpu_linear(M, N, K, x, w, bias, want);
    if (act != OCL_ACT_NONE)
        cpu_activate(M, N, (albert_activation)act, want);
    cl_mem dx = floats_to_device(e, x, (size_t)M * K), dw = weight_to_device(e, w, N, K);
    cl_mem db = floats_to_device(e, bias, N), dy = nan_buffer(e, (size_t)M * N);
    ocl_mat xm = {dx, 0, (size_t)K, 0};
    albert_error err = {0};
    expect_ok(e, ocl_op_linear(&e->ctx, &e->k, M, N, K, xm, dw, db, act, dy, &err), &err,
              "linear");
    char what[64];
    snprintf(what, sizeof what, "linear M=%d N=%d K=%d act=%d", M, N, K, act);
    expect_close(e, dy, want, (size_t)M * N, what);
    ocl_release_mem(&dx), ocl_release_mem(&dw), ocl_release_mem(&db);
    free(x), free(w), free(bias), free(want);
}

/* The pooler: a Linear on every T-th row (leading dimension T*H) + tanh. */
static void test_pooler(env *e, int B, int T, int H)
{
    float *hidden = rand_floats(e, (size_t)B * T * H, 1.0f);
    float *w = rand_floats(e, (size_t)H * H, 0.1f), *bias = rand_floats(e, (size_t)H, 0.5f);
    float *want = malloc((size_t)B * H * sizeof *want);
    cpu_pooler(B, T, H, hidden, w, bias, want);
    cl_mem dh = floats_to_device(e, hidden, (size_t)B * T * H);
    cl_mem dw = weight_to_device(e, w, H, H), db = floats_to_device(e, bias, H);
    cl_mem dy = nan_buffer(e, (size_t)B * H);
    ocl_mat xm = {dh, 0, (size_t)T * H, 0};
    albert_error err = {0};
    expect_ok(e, ocl_op_linear(&e->ctx, &e->k, B, H, H, xm, dw, db, ALBERT_ACT_TANH, dy, &err),
              &err, "pooler");
    char what[64];
    snprintf(what, sizeof what, "pooler B=%d T=%d H=%d", B, T, H);
    expect_close(e, dy, want, (size_t)B * H, what);
    ocl_release_mem(&dh), ocl_release_mem(&dw), ocl_release_mem(&db);
    free(hidden), free(w), free(bias), free(want);
}

/* LayerNorm(x + bias + res); ALIAS 0: separate output, 1: into x, 2: into res. */
static void test_residual_ln(env *e, int rows, int n, int alias)
{
    const size_t sz = (size_t)rows * n;
    float *x = rand_floats(e, sz, 3.0f), *res = rand_floats(e, sz, 3.0f);
    float *bias = rand_floats(e, (size_t)n, 1.0f), *g = rand_floats(e, (size_t)n, 1.0f);
    float *b = rand_floats(e, (size_t)n, 1.0f), *want = malloc(sz * sizeof *want);
    cl_mem dx = floats_to_device(e, x, sz), dr = floats_to_device(e, res, sz);
    cl_mem dbias = floats_to_device(e, bias, n);
    ocl_norm norm = {floats_to_device(e, g, n), floats_to_device(e, b, n), 1e-12f};
    cl_mem dout = alias == 1 ? dx : alias == 2 ? dr : floats_to_device(e, x, sz);
    for (size_t i = 0; i < sz; i++)
        x[i] += bias[i % (size_t)n];
    cpu_layernorm(rows, n, x, res, g, b, norm.eps, want);
    albert_error err = {0};
    expect_ok(e, ocl_op_residual_layernorm(&e->ctx, &e->k, rows, n, dx, dbias, dr, &norm, dout,
                                           &err),
              &err, "residual_layernorm");
    char what[64];
    snprintf(what, sizeof what, "residual_layernorm rows=%d n=%d alias=%d", rows, n, alias);
    float *got = from_device(e, dout, sz);
    double d = rel_diff(got, want, sz);
    CHECK(d <= TOL, "[%s] %s: rel diff %.3e", e->label, what, d);
    if (alias == 0)
        ocl_release_mem(&dout);
    cl_mem all[] = {dx, dr, dbias, norm.gamma, norm.beta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ocl_release_mem(&all[i]);
    free(got), free(x), free(res), free(bias), free(g), free(b), free(want);
}

static void test_softmax(env *e, int B, int NH, int T, const int *lens, int nlens)
{
    const size_t n = (size_t)B * NH * T * T;
    float *s = rand_floats(e, n, 8.0f), *want = copy_floats(s, n);
    int32_t *mask = make_mask(B, T, lens, nlens);
    const float scale = 0.125f;
    cpu_softmax_masked(B, NH, T, scale, mask, want);
    cl_mem ds = floats_to_device(e, s, n), dm = to_device(e, mask, (size_t)B * T * 4);
    albert_error err = {0};
    expect_ok(e, ocl_op_softmax(&e->ctx, &e->k, B, NH, T, scale, dm, ds, &err), &err, "softmax");
    char what[80];
    snprintf(what, sizeof what, "softmax B=%d NH=%d T=%d first len %d", B, NH, T, lens[0]);
    expect_close(e, ds, want, n, what);
    ocl_release_mem(&dm);
    free(s), free(want), free(mask);
}

/* Reference attention from the ops_cpu pieces: per batch row and head,
 * scores = q k^T, masked softmax, context = p v. */
static void cpu_attention(int B, int T, int H, int NH, const float *qkv, const int32_t *mask,
                          float *out)
{
    const int D = H / NH;
    float *q = malloc((size_t)T * D * 4), *k = malloc((size_t)T * D * 4);
    float *vt = malloc((size_t)T * D * 4), *s = malloc((size_t)T * T * 4);
    float *o = malloc((size_t)T * D * 4);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    const float *row = qkv + ((size_t)b * T + t) * 3 * H + (size_t)h * D + d;
                    q[t * D + d] = row[0];
                    k[t * D + d] = row[H];
                    vt[(size_t)d * T + t] = row[2 * H];
                }
            cpu_linear(T, T, D, q, k, NULL, s);
            cpu_softmax_masked(1, 1, T, 1.0f / sqrtf((float)D), mask + (size_t)b * T, s);
            cpu_linear(T, D, T, s, vt, NULL, o);
            for (int t = 0; t < T; t++)
                memcpy(out + ((size_t)b * T + t) * H + (size_t)h * D, o + (size_t)t * D,
                       (size_t)D * 4);
        }
    free(q), free(k), free(vt), free(s), free(o);
}

static void test_attention(env *e, int B, int T, int H, int NH, const int *lens, int nlens)
{
    const size_t tok = (size_t)B * T;
    float *qkv = rand_floats(e, tok * 3 * H, 1.0f), *want = malloc(tok * H * sizeof *want);
    int32_t *mask = make_mask(B, T, lens, nlens);
    cpu_attention(B, T, H, NH, qkv, mask, want);
    cl_mem dq = floats_to_device(e, qkv, tok * 3 * H), dm = to_device(e, mask, tok * 4);
    cl_mem ds = floats_to_device(e, NULL, (size_t)B * NH * T * T);
    cl_mem dout = nan_buffer(e, tok * H);
    albert_error err = {0};
    expect_ok(e, ocl_op_attention(&e->ctx, &e->k, B, T, H, NH, dq, dm, ds, dout, &err), &err,
              "attention");
    char what[80];
    snprintf(what, sizeof what, "attention B=%d T=%d H=%d NH=%d", B, T, H, NH);
    expect_close(e, dout, want, tok * H, what);
    ocl_release_mem(&dq), ocl_release_mem(&dm), ocl_release_mem(&ds);
    free(qkv), free(want), free(mask);
}

static void test_pool(env *e, int B, int T, int H, albert_pooling mode, int normalize)
{
    static const int lens[] = {3, 0, 512, 1};
    float *hidden = rand_floats(e, (size_t)B * T * H, 2.0f);
    float *want = malloc((size_t)B * H * sizeof *want);
    int32_t *mask = make_mask(B, T, lens, 4);
    cpu_pool(B, T, H, hidden, mask, mode, want);
    if (normalize)
        cpu_l2_normalize(B, H, want);
    cl_mem dh = floats_to_device(e, hidden, (size_t)B * T * H);
    cl_mem dm = to_device(e, mask, (size_t)B * T * 4), dp = floats_to_device(e, want, (size_t)B * H);
    albert_error err = {0};
    int rc = ocl_op_pool(&e->ctx, &e->k, B, T, H, dh, dm, mode, dp, &err);
    if (rc == ALBERT_OK && normalize)
        rc = ocl_op_l2_normalize(&e->ctx, &e->k, B, H, dp, &err);
    expect_ok(e, rc, &err, "pool");
    char what[80];
    snprintf(what, sizeof what, "pool mode=%d normalize=%d B=%d T=%d H=%d", (int)mode, normalize,
             B, T, H);
    expect_close(e, dp, want, (size_t)B * H, what);
    ocl_release_mem(&dh), ocl_release_mem(&dm);
    free(hidden), free(want), free(mask);
}

/* Rows of all zeros stay zero; others get unit norm. */
static void test_l2(env *e, int rows, int n)
{
    float *x = rand_floats(e, (size_t)rows * n, 3.0f);
    memset(x, 0, (size_t)n * sizeof *x);
    float *want = copy_floats(x, (size_t)rows * n);
    cpu_l2_normalize(rows, n, want);
    cl_mem dx = floats_to_device(e, x, (size_t)rows * n);
    albert_error err = {0};
    expect_ok(e, ocl_op_l2_normalize(&e->ctx, &e->k, rows, n, dx, &err), &err, "l2_normalize");
    char what[64];
    snprintf(what, sizeof what, "l2_normalize rows=%d n=%d", rows, n);
    expect_close(e, dx, want, (size_t)rows * n, what);
    free(x), free(want);
}

/* ---------------------------------------------------------------- driver */

static void run_all(env *e)
{
    static const int widths[] = {1, 32, 33, 48, 128, 768, 1000};
    const int nw = (int)(sizeof widths / sizeof widths[0]);
    test_embed(e, 1, 1, 32);
    test_embed(e, 3, 7, 48);
    test_embed(e, 1, 512, 128);
    test_embed(e, 2, 5, 33);
    for (int act = OCL_ACT_NONE; act <= ALBERT_ACT_QUICK_GELU; act++) {
        test_bias_act(e, 1, 1, act);
        test_bias_act(e, 7, 33, act);
        test_bias_act(e, 5, 768, act);
    }
    test_linear(e, 1, 1, 1, OCL_ACT_NONE);
    test_linear(e, 7, 33, 48, ALBERT_ACT_GELU);
    test_linear(e, 130, 768, 128, OCL_ACT_NONE);
    test_linear(e, 64, 3072, 768, ALBERT_ACT_GELU_TANH);
    test_linear(e, 13, 96, 5, OCL_ACT_NONE); /* packed: M not a multiple of gemm_mr */
    test_linear(e, 2, 64, 3072, ALBERT_ACT_GELU);
    for (int act = OCL_ACT_NONE; act <= ALBERT_ACT_QUICK_GELU; act++)
        test_linear(e, 5, 96, 16, act); /* packed: every activation in its epilogue */
    test_pooler(e, 3, 5, 48);
    test_pooler(e, 2, 1, 768);
    for (int i = 0; i < nw; i++)
        test_residual_ln(e, 3, widths[i], i % 3);
    static const int ragged[] = {7, 3, 0, 1}, first_masked[] = {1};
    test_softmax(e, 1, 1, 1, first_masked, 1);
    test_softmax(e, 4, 3, 7, ragged, 4);
    test_softmax(e, 2, 2, 512, (const int[]){512, 300}, 2);
    test_softmax(e, 4, 2, 65, (const int[]){65, 0, 64, 1}, 4);
    test_attention(e, 4, 7, 32, 4, ragged, 4);
    test_attention(e, 1, 1, 48, 3, first_masked, 1);
    test_attention(e, 2, 130, 64, 2, (const int[]){130, 57}, 2);
    test_attention(e, 1, 512, 128, 2, (const int[]){512}, 1);
    test_attention(e, 4, 9, 192, 3, ragged, 4); /* d 64: attention.cl where enabled */
    test_attention(e, 2, 20, 64, 4, (const int[]){20, 5}, 2); /* d 16 */
    test_attention(e, 2, 20, 64, 4, (const int[]){0, 20}, 2); /* all masked, T >= 16 */
    test_attention(e, 1, 21, 64, 4, (const int[]){17}, 1);    /* d 16, T past attn_max_t */
    for (int norm = 0; norm <= 1; norm++) {
        test_pool(e, 4, 9, 33, ALBERT_POOL_CLS, norm);
        test_pool(e, 4, 9, 48, ALBERT_POOL_MEAN, norm);
        test_pool(e, 2, 512, 768, ALBERT_POOL_MEAN, norm);
    }
    for (int i = 0; i < nw; i++)
        test_l2(e, 3, widths[i]);
}

static void with_tunables(int device, const ocl_tunables *tun, const char *label)
{
    env e = {.label = label, .seed = 12345};
    albert_error err = {0};
    int rc = ocl_ctx_open(device, 0, &e.ctx, &err);
    if (rc == ALBERT_OK)
        rc = ocl_kernels_create(&e.ctx, tun, &e.k, &err);
    CHECK(rc == ALBERT_OK, "[%s] setup: %s", label, err.msg);
    if (rc == ALBERT_OK) {
        int before = test_failures;
        run_all(&e);
        printf("[%s] wg_row %d wg_elem %d vec %d: %s\n", label, tun->wg_row, tun->wg_elem,
               tun->vec, test_failures == before ? "all ops match the CPU" : "MISMATCHES");
        ocl_kernels_release(&e.k);
    }
    ocl_ctx_close(&e.ctx);
}

/* With profiling on, each launch leaves a named event with timings (the
 * hook --profile builds on); without it, none. */
static void test_profiling_hook(int device)
{
    for (int profiling = 0; profiling <= 1; profiling++) {
        env e = {.label = "profiling", .seed = 7};
        ocl_tunables tun;
        ocl_tunables_default(&tun);
        albert_error err = {0};
        int rc = ocl_ctx_open(device, profiling, &e.ctx, &err);
        if (rc == ALBERT_OK)
            rc = ocl_kernels_create(&e.ctx, &tun, &e.k, &err);
        CHECK(rc == ALBERT_OK, "profiling setup: %s", err.msg);
        if (rc == ALBERT_OK) {
            test_l2(&e, 3, 48);
            test_linear(&e, 4, 8, 16, ALBERT_ACT_RELU);
        }
        static const char *const names[] = {"l2_normalize", "download", "CLBlastSgemm", "bias_relu",
                                            "download"};
        CHECK(e.ctx.n_events == (profiling ? 5u : 0u), "profiling %d: %zu events", profiling,
              e.ctx.n_events);
        for (size_t i = 0; profiling && i < e.ctx.n_events && i < 5; i++)
            CHECK(!strcmp(e.ctx.events[i].name, names[i]), "event %zu is %s, not %s", i,
                  e.ctx.events[i].name, names[i]);
        for (size_t i = 0; profiling && i < e.ctx.n_events; i++) {
            cl_ulong start = 0, end = 0;
            cl_event ev = e.ctx.events[i].event;
            CHECK(ev != NULL, "event %zu (%s) missing", i, e.ctx.events[i].name);
            if (!ev)
                continue;
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
            CHECK(end >= start && start > 0, "event %s: start %llu end %llu",
                  e.ctx.events[i].name, (unsigned long long)start, (unsigned long long)end);
        }
        ocl_kernels_release(&e.k);
        ocl_ctx_close(&e.ctx);
    }
}

int main(void)
{
    const int device = ocl_test_device();
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    with_tunables(device, &tun, "default");
    ocl_tunables odd = {.wg_row = 128, .wg_elem = 48, .vec = 3};
    with_tunables(device, &odd, "odd");
    ocl_tunables small = {.wg_row = 1, .wg_elem = 1, .vec = 1};
    with_tunables(device, &small, "one work-item");
    /* Linears on kernels/linear.cl wherever N is a multiple of gemm_nr. */
    ocl_tunables packed = tun, packed_odd = tun;
    packed.gemm_mr = 12, packed.gemm_nr = 32;
    with_tunables(device, &packed, "linear 12x32");
    packed_odd.gemm_mr = 5, packed_odd.gemm_nr = 48;
    with_tunables(device, &packed_odd, "linear 5x48");
    /* Attention on kernels/attention.cl for heads of 64 (T up to 512), then 16. */
    ocl_tunables attn64 = packed, attn16 = tun;
    attn64.attn_d = 64, attn64.attn_max_t = 512;
    with_tunables(device, &attn64, "attention d=64");
    attn16.attn_d = 16, attn16.attn_max_t = 20;
    with_tunables(device, &attn16, "attention d=16");
    test_profiling_hook(device);
    /* Bad tunables are refused with a message, not built. */
    ocl_ctx ctx;
    ocl_kernels k;
    albert_error err = {0};
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    ocl_tunables bad = {.wg_row = 48, .wg_elem = 64, .vec = 4};
    CHECK(ocl_kernels_create(&ctx, &bad, &k, &err) == ALBERT_E_ARG, "wg_row 48 accepted");
    CHECK(strstr(err.msg, "power of 2") != NULL, "%s", err.msg);
    /* Packing: panel p, row k, lane j holds W[p*NR + j][k]. */
    float w[32 * 3], packed_w[32 * 3];
    for (int i = 0; i < 32 * 3; i++)
        w[i] = (float)i;
    ocl_linear_pack(32, 3, 16, w, packed_w);
    CHECK(packed_w[0] == w[0] && packed_w[1] == w[3] && packed_w[16] == w[1] &&
              packed_w[48] == w[16 * 3] && packed_w[95] == w[31 * 3 + 2],
          "ocl_linear_pack layout");
    ocl_tunables with_linear = tun;
    with_linear.gemm_mr = 4, with_linear.gemm_nr = 32;
    CHECK(ocl_kernels_create(&ctx, &with_linear, &k, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(k.linear && ocl_linear_packed(&k, 96) && !ocl_linear_packed(&k, 33),
          "packed Linears only where N is a multiple of gemm_nr");
    ocl_kernels_release(&k);
    CHECK(ocl_kernels_create(&ctx, &tun, &k, &err) == ALBERT_OK && !k.linear &&
              !ocl_linear_packed(&k, 96),
          "default tunables: every Linear on CLBlast");
    ocl_kernels_release(&k);
    ocl_tunables with_attn = tun;
    with_attn.attn_d = 64, with_attn.attn_max_t = 128;
    CHECK(ocl_kernels_create(&ctx, &with_attn, &k, &err) == ALBERT_OK && k.attention,
          "attn_d 64: %s", err.msg);
    ocl_kernels_release(&k);
    ocl_tunables bad_attn = tun;
    bad_attn.attn_d = 24, bad_attn.attn_max_t = 128;
    CHECK(ocl_kernels_create(&ctx, &bad_attn, &k, &err) == ALBERT_E_ARG, "attn_d 24 accepted");
    ocl_tunables bad_gemm = tun;
    bad_gemm.gemm_mr = 4, bad_gemm.gemm_nr = 24;
    CHECK(ocl_kernels_create(&ctx, &bad_gemm, &k, &err) == ALBERT_E_ARG, "gemm_nr 24 accepted");
    CHECK(strstr(err.msg, "gemm_nr 24") != NULL, "%s", err.msg);
    ocl_ctx_close(&ctx);
    return test_finish();
}
