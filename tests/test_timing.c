/* The timing API on every device: per-name counts that match what the
 * forward pass runs (GEMM calls per layer, attention batches per sequence),
 * FLOP totals equal to albert_forward_flops, accumulation across runs,
 * reset, the capacity protocol, and the error without options.timing.
 * Timing values are only checked to be recorded, never for speed. */
#include "albert_cl.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STATS 64

/* One forward over a B x T batch of valid ids into pooled vectors with
 * POOLING and, with TOKENS, last_hidden_state; returns the FLOPs
 * albert_forward_flops counts for those outputs. */
static uint64_t run(albert_engine *e, const albert_config *c, int B, int T, albert_pooling pooling,
                    int tokens)
{
    int32_t *ids = calloc((size_t)B * T, sizeof *ids);
    float *pooled = calloc((size_t)B * c->hidden_size, sizeof *pooled);
    float *lhs = tokens ? calloc((size_t)B * T * c->hidden_size, sizeof *lhs) : NULL;
    for (int i = 0; ids && i < B * T; i++)
        ids[i] = i % T == 0 ? ALBERT_CLS_ID : 5 + i % 100;
    albert_batch b = {B, T, ids, NULL, NULL};
    albert_outputs o = {.last_hidden_state = lhs, .pooled = pooled, .pooling = pooling};
    albert_error err = {0};
    CHECK(ids && pooled && (lhs || !tokens) && albert_engine_run(e, &b, &o, &err) == ALBERT_OK,
          "run: %s", err.msg);
    const uint64_t flops = albert_forward_flops(c, B, T, &o);
    free(ids);
    free(pooled);
    free(lhs);
    return flops;
}

typedef struct timings {
    albert_kernel_stat s[MAX_STATS];
    size_t n;
} timings;

static void get(albert_engine *e, timings *p)
{
    albert_error err = {0};
    int rc = albert_engine_timing_get(e, p->s, MAX_STATS, &p->n, &err);
    CHECK(rc == ALBERT_OK && p->n <= MAX_STATS, "timing_get: %s (%zu entries)", err.msg, p->n);
}

static const albert_kernel_stat *find(const timings *p, const char *name)
{
    for (size_t i = 0; i < p->n && i < MAX_STATS; i++)
        if (!strcmp(p->s[i].name, name))
            return &p->s[i];
    return NULL;
}

static uint64_t calls(const timings *p, const char *name)
{
    const albert_kernel_stat *s = find(p, name);
    return s ? s->calls : 0;
}

static void sums(const timings *p, uint64_t *flops, uint64_t *ns)
{
    *flops = *ns = 0;
    for (size_t i = 0; i < p->n && i < MAX_STATS; i++) {
        *flops += p->s[i].flops;
        *ns += p->s[i].total_ns;
    }
}

/* The counts per forward pass each backend must report, times RUNS: one
 * run of pooled vectors only, the others with last_hidden_state too. */
static void check_counts(const timings *p, int opencl, const albert_config *c, int B, int runs)
{
    const uint64_t layers = (uint64_t)c->num_hidden_layers * (uint64_t)c->inner_group_num;
    const uint64_t r = (uint64_t)runs;
    if (opencl) {
        /* embedding projection, QKV, output, FFN in and out, pooler: on
         * CLBlast, or on linear.cl under a profile with gemm_nr */
        const uint64_t linears = calls(p, "CLBlastSgemm") + calls(p, "linear_packed");
        CHECK(linears == r * (2 + 4 * layers), "Linear GEMM calls %llu",
              (unsigned long long)linears);
        /* A profile with kernels.attention: attention_rows, or attention_tiles
         * for heads attention.cl does not take. */
        const uint64_t fused = calls(p, "attention_rows") + calls(p, "attention_tiles");
        if (fused) {
            CHECK(fused == r * layers, "attention kernel calls");
            CHECK(!calls(p, "CLBlastSgemmStridedBatched") && !calls(p, "softmax_masked"),
                  "attention both fused and not");
        } else { /* scores and context, one strided batch per sequence */
            CHECK(calls(p, "CLBlastSgemmStridedBatched") == r * 2 * layers * (uint64_t)B,
                  "strided batched calls %llu",
                  (unsigned long long)calls(p, "CLBlastSgemmStridedBatched"));
            CHECK(calls(p, "softmax_masked") == r * layers, "softmax calls");
        }
        CHECK(calls(p, "residual_layernorm") == r * 2 * layers, "layernorm calls");
        CHECK(calls(p, "embed_layernorm") == r, "embed calls");
        CHECK(calls(p, "upload") == r * 3, "uploads: ids, types, mask");
        CHECK(calls(p, "download") == 2 * r - 1, "downloads: pooled, and last_hidden_state");
        CHECK(calls(p, "copy_rows") == 1, "the pooled-only run's [CLS] rows packed once");
        const albert_kernel_stat *w = find(p, "upload");
        CHECK(w && w->bytes == r * 3 * (uint64_t)B * 7 * sizeof(int32_t), "upload bytes");
    } else {
        CHECK(calls(p, "cpu_linear") == r * (1 + 4 * layers), "cpu_linear calls %llu",
              (unsigned long long)calls(p, "cpu_linear"));
        CHECK(calls(p, "cpu_attention") == r * layers, "cpu_attention calls");
        CHECK(calls(p, "cpu_pooler") == r, "cpu_pooler calls");
    }
}

static void test_backend(int dev, const char *model_name)
{
    const int opencl = dev != test_cpu_device(), B = 3, T = 7;
    albert_model *m = test_open_model(model_name);
    const albert_config *c = albert_model_config(m);
    albert_error err = {0};

    albert_engine *plain = test_open_engine(m, dev, 0);
    size_t n = 99;
    CHECK(albert_engine_timing_get(plain, NULL, 0, &n, &err) == ALBERT_E_ARG &&
              strstr(err.msg, "options.timing"),
          "timing_get without timing: '%s'", err.msg);
    CHECK(albert_engine_timing_reset(plain, &err) == ALBERT_E_ARG, "reset without timing");
    albert_engine_free(plain);

    albert_engine *e = test_open_engine(m, dev, 1);
    timings p;
    get(e, &p);
    CHECK(p.n == 0, "%s: a fresh engine has %zu entries", model_name, p.n);
    /* Pooled vectors only: the last layer keeps its [CLS] rows alone. */
    uint64_t want = run(e, c, B, T, ALBERT_POOL_POOLER, 0);
    want += run(e, c, B, T, ALBERT_POOL_POOLER, 1);
    get(e, &p);
    check_counts(&p, opencl, c, B, 2);
    /* The shipped CPU profiles (PoCL's, Intel's runtime's) move albert-base's
     * Linears and attention to our kernels: the counts above must then come
     * from them. */
    const char *name = albert_engine_device_name(e);
    const int cpu_profile = strstr(name, "profile pocl-x86-64") ||
                            strstr(name, "profile intel-cpu-runtime");
    if (opencl && cpu_profile && c->hidden_size == 768) {
        CHECK(calls(&p, "linear_packed") && !calls(&p, "CLBlastSgemm"),
              "%s: Linears not on linear.cl", name);
        CHECK(calls(&p, "attention_rows") > 0, "%s: attention not on attention.cl", name);
    }
    uint64_t flops, ns;
    sums(&p, &flops, &ns);
    CHECK(flops == want, "%s on %d: flops %llu, formula %llu for both runs", model_name, dev,
          (unsigned long long)flops, (unsigned long long)want);
    CHECK(ns > 0, "no time recorded");

    size_t count = 0;
    albert_kernel_stat one[2];
    memset(one, 0, sizeof one);
    CHECK(albert_engine_timing_get(e, NULL, 0, &count, &err) == ALBERT_OK && count == p.n,
          "capacity 0 sizes: %zu vs %zu", count, p.n);
    CHECK(albert_engine_timing_get(e, one, 1, &count, &err) == ALBERT_OK && count == p.n &&
              !strcmp(one[0].name, p.s[0].name) && one[1].name[0] == '\0',
          "capacity 1 copies one entry");

    CHECK(albert_engine_timing_reset(e, &err) == ALBERT_OK, "reset: %s", err.msg);
    get(e, &p);
    CHECK(p.n == 0, "reset leaves %zu entries", p.n);
    want = run(e, c, B, T, ALBERT_POOL_MEAN, 0);
    get(e, &p);
    sums(&p, &flops, &ns);
    CHECK(flops == want, "mean pooling flops %llu", (unsigned long long)flops);
    CHECK(calls(&p, opencl ? "pool" : "cpu_pool") == 1, "pool ran once");
    albert_engine_free(e);
    albert_model_close(m);
}

/* The formula against numbers worked by hand for tiny-gelu (E 16, H 32,
 * I 64, 3 layers) at B 2, T 5: projection 10240, per layer 170240 (QKV
 * 61440, attention 6400, output 20480, FFN 81920), pooler 4096.  With
 * pooled vectors alone the last layer's output and FFN take 2 rows of 10:
 * 81920 less. */
static void test_formula(void)
{
    albert_model *m = test_open_model("tiny-gelu");
    const albert_config *c = albert_model_config(m);
    float v = 0;
    static const int first[] = {1}, outer[] = {0, 3};
    const struct {
        albert_outputs out;
        uint64_t flops;
    } cases[] = {
        {{.last_hidden_state = &v, .pooled = &v, .pooling = ALBERT_POOL_POOLER}, 525056u},
        {{.hidden_states = &v, .pooled = &v, .pooling = ALBERT_POOL_POOLER}, 525056u},
        {{.last_hidden_state = &v, .pooled = &v, .pooling = ALBERT_POOL_CLS}, 525056u - 4096u},
        {{.last_hidden_state = &v, .pooling = ALBERT_POOL_POOLER}, 525056u - 4096u},
        {{.pooled = &v, .pooling = ALBERT_POOL_POOLER, .normalize = 1}, 525056u - 81920u},
        {{.pooled = &v, .pooling = ALBERT_POOL_CLS}, 525056u - 81920u - 4096u},
        {{.pooled = &v, .pooling = ALBERT_POOL_MEAN}, 525056u - 4096u},
        /* A layer is 170240 FLOPs here, the embedding projection 10240. */
        {{.last_hidden_state = &v, .pooled = &v, .pooling = ALBERT_POOL_MEAN,
          .skip_last_layers = 1},
         10240u + 2 * 170240u},
        {{.pooled = &v, .pooling = ALBERT_POOL_CLS, .skip_last_layers = 1},
         10240u + 2 * 170240u - 81920u},
        {{.pooled = &v, .pooling = ALBERT_POOL_CLS, .skip_last_layers = 3}, 10240u},
        /* clamped to 0..L */
        {{.last_hidden_state = &v, .pooled = &v, .pooling = ALBERT_POOL_MEAN,
          .skip_last_layers = -1},
         525056u - 4096u},
        {{.last_hidden_state = &v, .pooled = &v, .pooling = ALBERT_POOL_MEAN,
          .skip_last_layers = 9},
         10240u},
        /* Layers combined: up to the highest, every row of the last (no
         * [CLS]-rows-only layer: the other layers' rows reach the output). */
        {{.pooled = &v, .pooling = ALBERT_POOL_CLS, .layers = first, .n_layers = 1},
         10240u + 170240u},
        {{.pooled = &v, .pooling = ALBERT_POOL_CLS, .layers = outer, .n_layers = 2,
          .layers_concat = 1},
         10240u + 3 * 170240u},
        {{.pooled = &v, .pooling = ALBERT_POOL_MEAN, .layers = outer, .n_layers = 1}, 10240u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint64_t got = albert_forward_flops(c, 2, 5, &cases[i].out);
        CHECK(got == cases[i].flops, "tiny-gelu flops case %zu: %llu, want %llu", i,
              (unsigned long long)got, (unsigned long long)cases[i].flops);
    }
    CHECK(albert_forward_flops(c, 2, 5, NULL) == 525056u - 4096u, "NULL outputs");
    albert_model_close(m);
}

int main(void)
{
    const int opencl_devices = test_opencl_device_count();
    test_formula();
    /* tiny-groups: 2 groups of 2 inner layers, so applied layers != stored ones. */
    test_backend(test_cpu_device(), "tiny-groups");
    for (int d = 0; d < opencl_devices; d++) {
        test_backend(d, "tiny-groups");
        test_backend(d, "tiny-gelu");
        /* Heads of 64: the PoCL profiles' attention.cl path, where one applies. */
        test_backend(d, "albert-base-v2-random");
    }
    return test_finish();
}
