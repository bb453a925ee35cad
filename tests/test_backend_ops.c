/* Every OpenCL op (opencl/ops.h) against its CPU twin (cpu/ops.h), in the
 * shape of llama.cpp's test-backend-ops: one table of op cases (T = 1 and
 * 512, widths that are not multiples of a work-group size, fully padded
 * rows, every activation) run on every OpenCL device under each tunables set
 * a device profile may choose.  An op only says which inputs it takes, how
 * the CPU computes the reference and how the device op is launched; one
 * harness makes the seeded random inputs, uploads them, runs the op into a
 * NaN-filled output (so an op that writes nothing fails), reads the result
 * back and compares. */
#include "core/backend.h"
#include "core/safetensors.h"
#include "cpu/ops.h"
#include "opencl/ops.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5      /* relative to 1 + |reference| */
#define EVERY_ACT 100 /* a case's act: run it with OCL_ACT_NONE and each activation */
#define VOCAB 97      /* embed's tables */
#define MAX_POS 512
#define EPS 1e-12f    /* LayerNorm */
#define SCALE 0.125f  /* softmax */
#define MAX_TENSORS 8

/* ---------------------------------------------------------------- the table */

typedef enum op_kind {
    OP_EMBED, OP_BIAS_ACT, OP_LINEAR, OP_POOLER, OP_RESIDUAL_LN,
    OP_SOFTMAX, OP_ATTENTION, OP_POOL, OP_L2, OP_COMBINE,
} op_kind;

/* ROWS is the batch (B) or the matrix rows (M), N the row width (E, N, H),
 * K a Linear's inner size, HEADS NH.  Where the op takes a mask, batch row b
 * keeps its first lens[b % nlens] tokens (0: fully padded), or its last ones
 * with PAD_LEFT (so whole key tiles before the kept keys are masked). */
typedef struct op_case {
    op_kind op;
    int rows, T, n, k, heads;
    int act;       /* bias_act, linear: OCL_ACT_NONE, an albert_activation or EVERY_ACT */
    int variant;   /* residual_layernorm: output 0 apart, 1 into x, 2 into res; pool: mode;
                      combine_layer: the column it writes from */
    int normalize; /* pool: l2_normalize the result; combine_layer: first (write, not add) */
    int nlens, lens[4];
    int pad_left;
} op_case;

#define LENS(...) .nlens = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), .lens = {__VA_ARGS__}
#define RAGGED LENS(7, 3, 0, 1)
#define POOL(b, t, h, mode, norm) \
    {OP_POOL, .rows = b, .T = t, .n = h, .variant = mode, .normalize = norm, LENS(3, 0, 512, 1)}

static const op_case cases[] = {
    {OP_EMBED, .rows = 1, .T = 1, .n = 32},    {OP_EMBED, .rows = 3, .T = 7, .n = 48},
    {OP_EMBED, .rows = 1, .T = 512, .n = 128}, {OP_EMBED, .rows = 2, .T = 5, .n = 33},
    {OP_BIAS_ACT, .rows = 1, .n = 1, .act = EVERY_ACT},
    {OP_BIAS_ACT, .rows = 7, .n = 33, .act = EVERY_ACT},
    {OP_BIAS_ACT, .rows = 5, .n = 768, .act = EVERY_ACT},
    {OP_LINEAR, .rows = 1, .n = 1, .k = 1, .act = OCL_ACT_NONE},
    {OP_LINEAR, .rows = 7, .n = 33, .k = 48, .act = ALBERT_ACT_GELU},
    {OP_LINEAR, .rows = 130, .n = 768, .k = 128, .act = OCL_ACT_NONE},
    {OP_LINEAR, .rows = 64, .n = 3072, .k = 768, .act = ALBERT_ACT_GELU_TANH},
    {OP_LINEAR, .rows = 13, .n = 96, .k = 5, .act = OCL_ACT_NONE}, /* packed: M % gemm_mr */
    {OP_LINEAR, .rows = 2, .n = 64, .k = 3072, .act = ALBERT_ACT_GELU},
    {OP_LINEAR, .rows = 5, .n = 96, .k = 16, .act = EVERY_ACT}, /* packed: every epilogue */
    {OP_POOLER, .rows = 3, .T = 5, .n = 48},
    {OP_POOLER, .rows = 2, .T = 1, .n = 768},
    {OP_RESIDUAL_LN, .rows = 3, .n = 1, .variant = 0},
    {OP_RESIDUAL_LN, .rows = 3, .n = 32, .variant = 1},
    {OP_RESIDUAL_LN, .rows = 3, .n = 33, .variant = 2},
    {OP_RESIDUAL_LN, .rows = 3, .n = 48, .variant = 0},
    {OP_RESIDUAL_LN, .rows = 3, .n = 128, .variant = 1},
    {OP_RESIDUAL_LN, .rows = 3, .n = 768, .variant = 2},
    {OP_RESIDUAL_LN, .rows = 3, .n = 1000, .variant = 0},
    {OP_SOFTMAX, .rows = 1, .heads = 1, .T = 1, LENS(1)},
    {OP_SOFTMAX, .rows = 4, .heads = 3, .T = 7, RAGGED},
    {OP_SOFTMAX, .rows = 2, .heads = 2, .T = 512, LENS(512, 300)},
    {OP_SOFTMAX, .rows = 4, .heads = 2, .T = 65, LENS(65, 0, 64, 1)},
    {OP_ATTENTION, .rows = 4, .T = 7, .n = 32, .heads = 4, RAGGED},
    {OP_ATTENTION, .rows = 1, .T = 1, .n = 48, .heads = 3, LENS(1)},
    {OP_ATTENTION, .rows = 2, .T = 130, .n = 64, .heads = 2, LENS(130, 57)},
    {OP_ATTENTION, .rows = 1, .T = 512, .n = 128, .heads = 2, LENS(512)},
    {OP_ATTENTION, .rows = 4, .T = 9, .n = 192, .heads = 3, RAGGED},     /* d 64 */
    {OP_ATTENTION, .rows = 2, .T = 20, .n = 64, .heads = 4, LENS(20, 5)}, /* d 16 */
    {OP_ATTENTION, .rows = 2, .T = 20, .n = 64, .heads = 4, LENS(0, 20)}, /* all masked, T >= 16 */
    {OP_ATTENTION, .rows = 1, .T = 21, .n = 64, .heads = 4, LENS(17)},    /* T past attn_max_t */
    /* Left padding: the first key tiles masked whole, then kept keys. */
    {OP_ATTENTION, .rows = 2, .T = 130, .n = 128, .heads = 2, LENS(40, 130), .pad_left = 1},
    {OP_ATTENTION, .rows = 3, .T = 20, .n = 64, .heads = 4, LENS(3, 0, 20), .pad_left = 1},
    POOL(4, 9, 33, ALBERT_POOL_CLS, 0),      POOL(4, 9, 33, ALBERT_POOL_CLS, 1),
    POOL(4, 9, 48, ALBERT_POOL_MEAN, 0),     POOL(4, 9, 48, ALBERT_POOL_MEAN, 1),
    POOL(2, 512, 768, ALBERT_POOL_MEAN, 0),  POOL(2, 512, 768, ALBERT_POOL_MEAN, 1),
    POOL(4, 9, 48, ALBERT_POOL_MAX, 0),      POOL(2, 512, 768, ALBERT_POOL_MAX, 1),
    POOL(4, 9, 33, ALBERT_POOL_MEAN_SQRT_LEN, 0), POOL(4, 520, 40, ALBERT_POOL_MEAN_SQRT_LEN, 1),
    POOL(4, 9, 33, ALBERT_POOL_WEIGHTED_MEAN, 0), POOL(4, 520, 40, ALBERT_POOL_WEIGHTED_MEAN, 1),
    POOL(4, 9, 33, ALBERT_POOL_LAST_TOKEN, 0),    POOL(4, 520, 40, ALBERT_POOL_LAST_TOKEN, 1),
    {OP_L2, .rows = 3, .n = 1},   {OP_L2, .rows = 3, .n = 32},  {OP_L2, .rows = 3, .n = 33},
    {OP_L2, .rows = 3, .n = 48},  {OP_L2, .rows = 3, .n = 128}, {OP_L2, .rows = 3, .n = 768},
    {OP_L2, .rows = 3, .n = 1000},
    /* combine_layer: N values per row into rows of K at column VARIANT. */
    {OP_COMBINE, .rows = 5, .n = 32, .k = 32, .variant = 0, .normalize = 1},
    {OP_COMBINE, .rows = 5, .n = 32, .k = 32, .variant = 0, .normalize = 0},
    {OP_COMBINE, .rows = 3, .n = 33, .k = 99, .variant = 66, .normalize = 1},
    {OP_COMBINE, .rows = 7, .n = 96, .k = 384, .variant = 96, .normalize = 0},
};

/* More rows than one enqueue may have work-groups along dimension 1
 * (OCL_MAX_GROUPS_YZ): these launches go in slices with global offsets.
 * Once per device with the default kernels (under every tunables set of the
 * table they would take a minute on PoCL). */
static const op_case sliced_cases[] = {
    {OP_BIAS_ACT, .rows = 65535 + 7, .n = 5, .act = ALBERT_ACT_GELU},
    {OP_POOL, .rows = 65535 + 3, .T = 2, .n = 3, .variant = ALBERT_POOL_MEAN, LENS(2, 0, 1)},
};

/* The tunables sets the table runs under; a 0 keeps ocl_tunables_default's. */
typedef struct tunables_set {
    const char *label;
    ocl_tunables delta;
} tunables_set;

static const tunables_set tunables_sets[] = {
    {"default", {0}},
    {"odd", {.wg_row = 128, .wg_elem = 48, .vec = 3}},
    {"one work-item", {.wg_row = 1, .wg_elem = 1, .vec = 1}},
    /* Linears on kernels/linear.cl wherever N is a multiple of gemm_nr. */
    {"linear 12x32", {.gemm_mr = 12, .gemm_nr = 32}},
    {"linear 5x48", {.gemm_mr = 5, .gemm_nr = 48}},
    /* Attention on kernels/attention.cl for heads of 64 (T up to 512), then 16. */
    {"attention d=64", {.gemm_mr = 12, .gemm_nr = 32, .attn_d = 64, .attn_max_t = 512}},
    {"attention d=16", {.attn_d = 16, .attn_max_t = 20}},
    /* kernels/attention_tiled.cl (any T): the GPU profile's shape for heads
     * of 64, then tiles that divide no T of the table, for heads of 16 and 8
     * (the ragged case holds a fully masked row). */
    {"tiled d=64", {.attn_d = 64, .attn_bq = 64, .attn_bk = 32}},
    {"tiled d=16", {.attn_d = 16, .attn_bq = 8, .attn_bk = 6}},
    {"tiled d=8", {.attn_d = 8, .attn_bq = 2, .attn_bk = 3}},
    /* Row kernels reducing with sub-group built-ins, where the device has them. */
    {"subgroups", {.wg_row = 256, .subgroups = 1}},
    {"subgroups, narrowest", {.wg_row = 64, .subgroups = 1}},
    /* The fp16 precision's Linears: half weights on kernels/linear_tiled.cl,
     * then on kernels/linear.cl where gemm_nr divides N (the rest tiled).
     * The CPU reference gets the same weights rounded to halves. */
    {"half weights", {.half_weights = 1}},
    {"half weights, linear 12x32", {.gemm_mr = 12, .gemm_nr = 32, .half_weights = 1}},
};

/* ocl_tunables_default with DELTA's nonzero fields, so a set names only
 * what it changes and follows the defaults otherwise. */
static void tunables_of(const ocl_tunables *delta, ocl_tunables *t)
{
    ocl_tunables_default(t);
    t->wg_row = delta->wg_row ? delta->wg_row : t->wg_row;
    t->wg_elem = delta->wg_elem ? delta->wg_elem : t->wg_elem;
    t->vec = delta->vec ? delta->vec : t->vec;
    t->gemm_mr = delta->gemm_mr ? delta->gemm_mr : t->gemm_mr;
    t->gemm_nr = delta->gemm_nr ? delta->gemm_nr : t->gemm_nr;
    t->attn_d = delta->attn_d ? delta->attn_d : t->attn_d;
    t->attn_max_t = delta->attn_max_t ? delta->attn_max_t : t->attn_max_t;
    t->attn_bq = delta->attn_bq ? delta->attn_bq : t->attn_bq;
    t->attn_bk = delta->attn_bk ? delta->attn_bk : t->attn_bk;
    t->subgroups = delta->subgroups ? delta->subgroups : t->subgroups;
    t->half_weights = delta->half_weights ? delta->half_weights : t->half_weights;
}

/* ---------------------------------------------------------------- inputs */

typedef struct env {
    ocl_ctx ctx;
    ocl_kernels k;
    char device[160];
    const char *label; /* the tunables set's */
} env;

/* Every tensor is float or int32, 4 bytes an element either way. */
_Static_assert(sizeof(float) == sizeof(int32_t), "4-byte elements");

typedef enum tensor_kind { PLAIN, WEIGHT /* uploaded by ocl_linear_upload */ } tensor_kind;

/* A case's tensors on the host, then on the device: the op's inputs and,
 * unless it works in place, a NaN-filled output; and the CPU's output. */
typedef struct op_io {
    struct {
        tensor_kind kind;
        size_t n;
        int N; /* WEIGHT: W is N x (n / N) */
        void *host;
        cl_mem dev;
    } t[MAX_TENSORS];
    int count;
    float *want;  /* the reference output, out_n floats */
    size_t out_n;
    int in_place; /* the tensor the op overwrites with its output, or -1 */
    unsigned long long seed;
    int half_weights; /* Linear weights go to the device as halves: round them here too */
} op_io;

/* A new tensor of N zeros; returns its host copy. */
static void *add(op_io *io, tensor_kind kind, size_t n)
{
    if (io->count == MAX_TENSORS) {
        fprintf(stderr, "FATAL: more than %d tensors\n", MAX_TENSORS);
        exit(1);
    }
    io->t[io->count].kind = kind;
    io->t[io->count].n = n;
    io->t[io->count].host = test_calloc(n, sizeof(float));
    return io->t[io->count++].host;
}

/* N floats uniform in [-SCALE, SCALE], the same every run. */
static float *add_floats(op_io *io, size_t n, float scale)
{
    float *p = add(io, PLAIN, n);
    for (size_t i = 0; i < n; i++) {
        io->seed = io->seed * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = scale * ((float)(io->seed >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
    }
    return p;
}

/* A Linear's weight W[N,K], as the device will hold it. */
static float *add_weight(op_io *io, int N, int K)
{
    float *w = add_floats(io, (size_t)N * K, 0.1f);
    for (size_t i = 0; io->half_weights && i < (size_t)N * K; i++)
        w[i] = st_f16_to_f32(st_f32_to_f16(w[i]));
    io->t[io->count - 1].kind = WEIGHT;
    io->t[io->count - 1].N = N;
    return w;
}

/* The case's attention mask [rows, T]. */
static int32_t *add_mask(op_io *io, const op_case *c)
{
    int32_t *m = add(io, PLAIN, (size_t)c->rows * c->T);
    for (int b = 0; b < c->rows; b++)
        for (int t = 0; t < c->T; t++)
            m[(size_t)b * c->T + t] = c->pad_left ? t >= c->T - c->lens[b % c->nlens]
                                                  : t < c->lens[b % c->nlens];
    return m;
}

static cl_mem in_dev(const op_io *io, int i)
{
    return io->t[i].dev;
}

/* The buffer for the CPU op's output of N floats, which the device op
 * writes into tensor IN_PLACE (-1: a buffer of its own).  It starts as a
 * copy of that tensor, as the device's output does. */
static float *expect(op_io *io, size_t n, int in_place)
{
    io->out_n = n;
    io->in_place = in_place;
    io->want = test_calloc(n, sizeof(float));
    if (in_place >= 0)
        memcpy(io->want, io->t[in_place].host, n * sizeof(float));
    return io->want;
}

/* want = x + bias, the bias broadcast over ROWS x N. */
static void add_bias(int rows, int n, const float *x, const float *bias, float *want)
{
    for (size_t i = 0; i < (size_t)rows * n; i++)
        want[i] = x[i] + bias[i % (size_t)n];
}

static void activate(int rows, int n, int act, float *x)
{
    if (act != OCL_ACT_NONE)
        cpu_activate(rows, n, (albert_activation)act, x);
}

/* ---------------------------------------------------------------- the ops
 * Each op has two functions.  NAME_reference adds its inputs (in the order
 * NAME_launch reads them) and runs the CPU op into expect()'s buffer;
 * NAME_launch enqueues the OpenCL op on the uploaded inputs, writing OUT. */

/* word, pos, type tables, gamma, beta, ids, types */
static void embed_reference(const op_case *c, op_io *io)
{
    const size_t E = (size_t)c->n, tokens = (size_t)c->rows * c->T;
    /* Statements, not one initializer list, whose order C leaves open. */
    albert_weights w = {0};
    w.word_emb = add_floats(io, VOCAB * E, 1.0f);
    w.pos_emb = add_floats(io, MAX_POS * E, 1.0f);
    w.type_emb = add_floats(io, 2 * E, 1.0f);
    w.emb_ln_g = add_floats(io, E, 1.0f);
    w.emb_ln_b = add_floats(io, E, 1.0f);
    int32_t *ids = add(io, PLAIN, tokens), *types = add(io, PLAIN, tokens);
    for (size_t i = 0; i < tokens; i++) {
        ids[i] = (int32_t)((i * 31 + 7) % VOCAB);
        types[i] = (int32_t)(i % 3 == 0);
    }
    albert_config cfg;
    albert_config_init(&cfg);
    cfg.vocab_size = VOCAB, cfg.embedding_size = c->n, cfg.max_position_embeddings = MAX_POS;
    cfg.type_vocab_size = 2, cfg.layer_norm_eps = EPS;
    cpu_embed(&cfg, &w, c->rows, c->T, ids, types, expect(io, tokens * E, -1));
}

static int embed_launch(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err)
{
    ocl_embed_weights w = {in_dev(io, 0), in_dev(io, 1), in_dev(io, 2), in_dev(io, 3),
                           in_dev(io, 4)};
    return ocl_op_embed(&e->ctx, &e->k, &w, EPS, c->rows * c->T, c->T, c->n, in_dev(io, 5),
                        in_dev(io, 6), out, err);
}

/* x (in place), bias */
static void bias_act_reference(const op_case *c, op_io *io)
{
    const float *x = add_floats(io, (size_t)c->rows * c->n, 4.0f);
    const float *bias = add_floats(io, (size_t)c->n, 1.0f);
    float *want = expect(io, (size_t)c->rows * c->n, 0);
    add_bias(c->rows, c->n, x, bias, want);
    activate(c->rows, c->n, c->act, want);
}

static int bias_act_launch(env *e, const op_case *c, const op_io *io, cl_mem out,
                           albert_error *err)
{
    return ocl_op_bias_act(&e->ctx, &e->k, c->rows, c->n, in_dev(io, 1), c->act, out, err);
}

/* x, W, bias: the GEMM (CLBlast or packed) with the bias and activation */
static void linear_reference(const op_case *c, op_io *io)
{
    const float *x = add_floats(io, (size_t)c->rows * c->k, 1.0f);
    const float *w = add_weight(io, c->n, c->k);
    const float *bias = add_floats(io, (size_t)c->n, 0.5f);
    float *want = expect(io, (size_t)c->rows * c->n, -1);
    CHECK(cpu_linear(c->rows, c->n, c->k, x, w, bias, want) == ALBERT_OK, "cpu_linear");
    activate(c->rows, c->n, c->act, want);
}

static int linear_launch(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err)
{
    ocl_mat x = {in_dev(io, 0), 0, (size_t)c->k, 0};
    return ocl_op_linear(&e->ctx, &e->k, c->rows, c->n, c->k, x, in_dev(io, 1), in_dev(io, 2),
                         c->act, out, err);
}

/* hidden, W, bias: a Linear + tanh on each batch row's first token */
static void pooler_reference(const op_case *c, op_io *io)
{
    const float *hidden = add_floats(io, (size_t)c->rows * c->T * c->n, 1.0f);
    const float *w = add_weight(io, c->n, c->n);
    const float *bias = add_floats(io, (size_t)c->n, 0.5f);
    CHECK(cpu_pooler(c->rows, c->T, c->n, hidden, w, bias,
                     expect(io, (size_t)c->rows * c->n, -1)) == ALBERT_OK,
          "cpu_pooler");
}

static int pooler_launch(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err)
{
    /* Leading dimension T*H: the GEMM reads every T-th row in place. */
    ocl_mat x = {in_dev(io, 0), 0, (size_t)c->T * c->n, 0};
    return ocl_op_linear(&e->ctx, &e->k, c->rows, c->n, c->n, x, in_dev(io, 1), in_dev(io, 2),
                         ALBERT_ACT_TANH, out, err);
}

/* x, bias, res, gamma, beta; the output apart or aliasing x or res */
static void residual_ln_reference(const op_case *c, op_io *io)
{
    const size_t size = (size_t)c->rows * c->n;
    const float *x = add_floats(io, size, 3.0f), *bias = add_floats(io, (size_t)c->n, 1.0f);
    const float *res = add_floats(io, size, 3.0f), *g = add_floats(io, (size_t)c->n, 1.0f);
    const float *b = add_floats(io, (size_t)c->n, 1.0f);
    float *want = expect(io, size, c->variant == 1 ? 0 : c->variant == 2 ? 2 : -1);
    add_bias(c->rows, c->n, x, bias, want);
    cpu_layernorm(c->rows, c->n, want, res, g, b, EPS, want);
}

static int residual_ln_launch(env *e, const op_case *c, const op_io *io, cl_mem out,
                              albert_error *err)
{
    ocl_norm norm = {in_dev(io, 3), in_dev(io, 4), EPS};
    return ocl_op_residual_layernorm(&e->ctx, &e->k, c->rows, c->n, in_dev(io, 0), in_dev(io, 1),
                                     in_dev(io, 2), &norm, out, err);
}

/* scores (in place), mask */
static void softmax_reference(const op_case *c, op_io *io)
{
    const size_t n = (size_t)c->rows * c->heads * c->T * c->T;
    add_floats(io, n, 8.0f);
    const int32_t *mask = add_mask(io, c);
    cpu_softmax_masked(c->rows, c->heads, c->T, SCALE, mask, expect(io, n, 0));
}

static int softmax_launch(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err)
{
    return ocl_op_softmax(&e->ctx, &e->k, c->rows, c->heads, c->T, SCALE, in_dev(io, 1), out, err);
}

/* qkv, mask, the device's scores scratch */
static void attention_reference(const op_case *c, op_io *io)
{
    const size_t tokens = (size_t)c->rows * c->T;
    const float *qkv = add_floats(io, tokens * 3 * c->n, 1.0f);
    const int32_t *mask = add_mask(io, c);
    add(io, PLAIN, (size_t)c->rows * c->heads * c->T * c->T);
    float *scores = test_calloc((size_t)c->T * c->T, sizeof *scores); /* one thread's */
    CHECK(cpu_attention(c->rows, c->T, c->n, c->heads, qkv, mask, 1, scores,
                        expect(io, tokens * c->n, -1)) == ALBERT_OK,
          "cpu_attention");
    free(scores);
}

static int attention_launch(env *e, const op_case *c, const op_io *io, cl_mem out,
                            albert_error *err)
{
    return ocl_op_attention(&e->ctx, &e->k, c->rows, c->T, c->n, c->heads, in_dev(io, 0),
                            in_dev(io, 1), in_dev(io, 2), out, err);
}

/* hidden, mask */
static void pool_reference(const op_case *c, op_io *io)
{
    const float *hidden = add_floats(io, (size_t)c->rows * c->T * c->n, 2.0f);
    const int32_t *mask = add_mask(io, c);
    float *want = expect(io, (size_t)c->rows * c->n, -1);
    cpu_pool(c->rows, c->T, c->n, hidden, mask, (albert_pooling)c->variant, want);
    if (c->normalize)
        albert_l2_normalize(c->rows, c->n, want);
}

static int pool_launch(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err)
{
    int rc = ocl_op_pool(&e->ctx, &e->k, c->rows, c->T, c->n, in_dev(io, 0), in_dev(io, 1),
                         (albert_pooling)c->variant, out, err);
    if (rc == ALBERT_OK && c->normalize)
        rc = ocl_op_l2_normalize(&e->ctx, &e->k, c->rows, c->n, out, err);
    return rc;
}

/* x (in place), its first row zeros: a zero row must stay zero */
static void l2_reference(const op_case *c, op_io *io)
{
    const size_t n = (size_t)c->rows * c->n;
    memset(add_floats(io, n, 3.0f), 0, (size_t)c->n * sizeof(float));
    albert_l2_normalize(c->rows, c->n, expect(io, n, 0));
}

static int l2_launch(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err)
{
    (void)io; /* OUT is its input */
    return ocl_op_l2_normalize(&e->ctx, &e->k, c->rows, c->n, out, err);
}

/* src, dst (in place, added to unless first) */
#define COMBINE_SCALE 0.25f
static void combine_reference(const op_case *c, op_io *io)
{
    const float *src = add_floats(io, (size_t)c->rows * c->n, 2.0f);
    add_floats(io, (size_t)c->rows * c->k, 1.0f);
    cpu_combine_layer(c->rows, c->n, src, c->k, c->variant, COMBINE_SCALE, c->normalize,
                      expect(io, (size_t)c->rows * c->k, 1));
}

static int combine_launch(env *e, const op_case *c, const op_io *io, cl_mem out,
                          albert_error *err)
{
    return ocl_op_combine_layer(&e->ctx, &e->k, c->rows, c->n, in_dev(io, 0), c->k, c->variant,
                                COMBINE_SCALE, c->normalize, out, err);
}

typedef struct op_def {
    const char *name;
    void (*reference)(const op_case *c, op_io *io);
    int (*launch)(env *e, const op_case *c, const op_io *io, cl_mem out, albert_error *err);
} op_def;

static const op_def ops[] = {
    [OP_EMBED] = {"embed", embed_reference, embed_launch},
    [OP_BIAS_ACT] = {"bias_act", bias_act_reference, bias_act_launch},
    [OP_LINEAR] = {"linear", linear_reference, linear_launch},
    [OP_POOLER] = {"pooler", pooler_reference, pooler_launch},
    [OP_RESIDUAL_LN] = {"residual_layernorm", residual_ln_reference,
                        residual_ln_launch},
    [OP_SOFTMAX] = {"softmax", softmax_reference, softmax_launch},
    [OP_ATTENTION] = {"attention", attention_reference, attention_launch},
    [OP_POOL] = {"pool", pool_reference, pool_launch},
    [OP_L2] = {"l2_normalize", l2_reference, l2_launch},
    [OP_COMBINE] = {"combine_layer", combine_reference, combine_launch},
};

/* ---------------------------------------------------------------- harness */

/* "attention rows=4 T=7 n=32 heads=4 lens=7,3,0,1": the fields C sets. */
static void describe(const op_case *c, char *dst, size_t size)
{
    static const char *const names[] = {"rows", "T", "n", "k", "heads", "variant", "normalize"};
    const int values[] = {c->rows, c->T, c->n, c->k, c->heads, c->variant, c->normalize};
    snprintf(dst, size, "%s", ops[c->op].name);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (values[i])
            snprintf(dst + strlen(dst), size - strlen(dst), " %s=%d", names[i], values[i]);
    if (c->op == OP_BIAS_ACT || c->op == OP_LINEAR)
        snprintf(dst + strlen(dst), size - strlen(dst), " act=%s",
                 c->act == OCL_ACT_NONE ? "none" : albert_activation_name(c->act));
    for (int i = 0; i < c->nlens; i++)
        snprintf(dst + strlen(dst), size - strlen(dst), "%s%d", i ? "," : " lens=", c->lens[i]);
    if (c->pad_left)
        snprintf(dst + strlen(dst), size - strlen(dst), " left");
}

static void upload(env *e, op_io *io)
{
    for (int i = 0; i < io->count; i++) {
        albert_error err = {0};
        int rc = io->t[i].kind == WEIGHT
                     ? ocl_linear_upload(&e->ctx, &e->k, io->t[i].N, (int)(io->t[i].n / io->t[i].N),
                                         io->t[i].host, &io->t[i].dev, "test weight", &err)
                     : ocl_buffer(&e->ctx, CL_MEM_READ_WRITE, io->t[i].n * sizeof(float),
                                  io->t[i].host, &io->t[i].dev, "test tensor", &err);
        if (rc != ALBERT_OK) {
            fprintf(stderr, "FATAL: [%s / %s] upload: %s\n", e->device, e->label, err.msg);
            exit(1);
        }
    }
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

/* Runs case C on E's device and compares it with the CPU op; 1 when they
 * match.  SEED makes its inputs, so a failing case reproduces alone. */
static int run_case(env *e, const op_case *c, unsigned long long seed)
{
    const op_def *op = &ops[c->op];
    op_io io = {.seed = seed, .half_weights = e->k.tun.half_weights};
    op->reference(c, &io);
    float *got = test_calloc(io.out_n, sizeof *got);
    int out = io.in_place;
    if (out < 0) {
        float *nan = add(&io, PLAIN, io.out_n);
        for (size_t i = 0; i < io.out_n; i++)
            nan[i] = NAN;
        out = io.count - 1;
    }
    upload(e, &io);
    albert_error err = {0};
    int rc = op->launch(e, c, &io, io.t[out].dev, &err);
    if (rc == ALBERT_OK)
        rc = ocl_read(&e->ctx, io.t[out].dev, 0, io.out_n * sizeof *got, got, 1, &err);
    const double d = rc == ALBERT_OK ? rel_diff(got, io.want, io.out_n) : INFINITY;
    char what[160];
    describe(c, what, sizeof what);
    CHECK(d <= TOL, "[%s / %s] %s: rel diff %.3e %s", e->device, e->label, what, d, err.msg);
    for (int i = 0; i < io.count; i++) {
        ocl_release_mem(&io.t[i].dev);
        free(io.t[i].host);
    }
    free(io.want), free(got);
    return d <= TOL;
}

/* Every case of the table, EVERY_ACT ones once per activation. */
static void run_table(env *e, const ocl_tunables *tun)
{
    int passed = 0, total = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c = cases[i];
        int first = c.act, last = c.act;
        if (c.act == EVERY_ACT)
            first = OCL_ACT_NONE, last = ALBERT_ACT_QUICK_GELU;
        for (c.act = first; c.act <= last; c.act++, total++)
            passed += run_case(e, &c, 12345 + i);
    }
    printf("[%s / %s] wg_row %d wg_elem %d vec %d: %d of %d op cases match the CPU\n", e->device,
           e->label, tun->wg_row, tun->wg_elem, tun->vec, passed, total);
}

/* Opens DEVICE with TUN's kernels (TIMING: with profiling events). */
static int env_open(env *e, int device, int timing, const ocl_tunables *tun)
{
    test_device_label(device, e->device, sizeof e->device);
    albert_error err = {0};
    int rc = ocl_ctx_open(device, timing, &e->ctx, &err);
    if (rc == ALBERT_OK)
        rc = ocl_kernels_create(&e->ctx, tun, NULL, &e->k, &err);
    CHECK(rc == ALBERT_OK, "[%s / %s] setup: %s", e->device, e->label, err.msg);
    return rc == ALBERT_OK;
}

static void env_close(env *e)
{
    ocl_kernels_release(&e->k);
    ocl_ctx_close(&e->ctx);
}

/* ---------------------------------------------------------------- the rest */

/* With timing on, each command leaves a named event with start and end times
 * (what --profile builds on); with it off, none. */
static void test_timing_hook(int device)
{
    static const char *const names[] = {"l2_normalize", "download", "CLBlastSgemm", "bias_relu",
                                        "download"};
    const op_case l2 = {OP_L2, .rows = 3, .n = 48};
    const op_case linear = {OP_LINEAR, .rows = 4, .n = 8, .k = 16, .act = ALBERT_ACT_RELU};
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    for (int timing = 0; timing <= 1; timing++) {
        env e = {.label = timing ? "timing on" : "timing off"};
        if (env_open(&e, device, timing, &tun)) {
            run_case(&e, &l2, 7);
            run_case(&e, &linear, 8);
        }
        CHECK(e.ctx.n_events == (timing ? 5u : 0u), "[%s / %s] %zu events", e.device, e.label,
              e.ctx.n_events);
        for (size_t i = 0; i < e.ctx.n_events && i < 5; i++) {
            const ocl_event_rec *r = &e.ctx.events[i];
            CHECK(!strcmp(r->name, names[i]), "event %zu is %s, not %s", i, r->name, names[i]);
            CHECK(r->event != NULL, "event %zu (%s) missing", i, r->name);
            cl_ulong start = 0, end = 0;
            if (r->event) {
                clGetEventProfilingInfo(r->event, CL_PROFILING_COMMAND_START, sizeof start, &start,
                                        NULL);
                clGetEventProfilingInfo(r->event, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
            }
            CHECK(end >= start && start > 0, "event %s: start %llu end %llu", r->name,
                  (unsigned long long)start, (unsigned long long)end);
        }
        env_close(&e);
    }
}

/* ocl_kernels_create with ocl_tunables_default changed by DELTA. */
static int create(ocl_ctx *ctx, ocl_tunables delta, ocl_kernels *k, albert_error *err)
{
    ocl_tunables tun;
    tunables_of(&delta, &tun);
    return ocl_kernels_create(ctx, &tun, NULL, k, err);
}

/* The tiled attention and sub-groups: refused where the shape or the device
 * cannot take them, with a message naming why. */
static void test_tiled_choices(ocl_ctx *ctx)
{
    ocl_kernels k;
    albert_error err = {0};
    const struct {
        ocl_tunables delta;
        const char *says;
    } bad[] = {
        {{.attn_d = 64, .attn_bq = 48, .attn_bk = 32}, "attn_bq 48"},
        {{.attn_d = 6, .attn_bq = 64, .attn_bk = 32}, "attn_d 6"},
        {{.attn_d = 64, .attn_bq = 64, .attn_bk = 65}, "attn_bk 65"},
        {{.attn_d = 64, .attn_bq = 1 << 20, .attn_bk = 32}, "max work-group size"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(create(ctx, bad[i].delta, &k, &err) == ALBERT_E_ARG, "%s accepted", bad[i].says);
        CHECK(strstr(err.msg, bad[i].says) != NULL, "%s: %s", bad[i].says, err.msg);
    }
    CHECK(create(ctx, (ocl_tunables){.attn_d = 64, .attn_bq = 64, .attn_bk = 32}, &k, &err) ==
                  ALBERT_OK && k.attention && ocl_attention_fused(&k, 768, 12, 4096) &&
              !ocl_attention_fused(&k, 768, 24, 8),
          "tiled attention for heads of 64 at any T, no other: %s", err.msg);
    ocl_kernels_release(&k);
    /* A device with 16 KiB of local memory cannot hold 32-key tiles of 64
     * floats (16.5 KiB), and says what to lower. */
    const cl_ulong local_mem = ctx->local_mem;
    ctx->local_mem = 16384;
    CHECK(create(ctx, (ocl_tunables){.attn_d = 64, .attn_bq = 64, .attn_bk = 32}, &k, &err) ==
              ALBERT_E_CAPACITY,
          "tiles beyond the local memory accepted");
    CHECK(strstr(err.msg, "16384") && strstr(err.msg, "attn_bk"), "%s", err.msg);
    ctx->local_mem = local_mem;
    if (!ctx->subgroups) {
        CHECK(create(ctx, (ocl_tunables){.subgroups = 1}, &k, &err) == ALBERT_E_ARG,
              "subgroups accepted on a device without them");
        CHECK(strstr(err.msg, "cl_khr_subgroups") != NULL, "%s", err.msg);
    } else {
        CHECK(create(ctx, (ocl_tunables){.wg_row = 32, .subgroups = 1}, &k, &err) ==
                  ALBERT_E_ARG,
              "subgroups accepted with work-groups of 32");
        CHECK(strstr(err.msg, "wg_row >= 64") != NULL, "%s", err.msg);
    }
}

/* Tunables the kernels cannot take are refused with a message, not built;
 * the packed Linear and attention kernels are there exactly when asked for. */
static void test_kernel_choices(int device)
{
    ocl_ctx ctx;
    ocl_kernels k;
    albert_error err = {0};
    int rc = ocl_ctx_open(device, 0, &ctx, &err);
    CHECK(rc == ALBERT_OK, "device %d: %s", device, err.msg);
    if (rc != ALBERT_OK)
        return;
    CHECK(create(&ctx, (ocl_tunables){.wg_row = 48}, &k, &err) == ALBERT_E_ARG,
          "wg_row 48 accepted");
    CHECK(strstr(err.msg, "power of 2") != NULL, "%s", err.msg);
    CHECK(create(&ctx, (ocl_tunables){.gemm_mr = 4, .gemm_nr = 32}, &k, &err) == ALBERT_OK &&
              k.linear && ocl_linear_packed(&k, 96) && !ocl_linear_packed(&k, 33),
          "packed Linears only where N is a multiple of gemm_nr: %s", err.msg);
    ocl_kernels_release(&k);
    CHECK(create(&ctx, (ocl_tunables){0}, &k, &err) == ALBERT_OK && !k.linear &&
              !k.attention && !ocl_linear_packed(&k, 96),
          "default tunables: every Linear on CLBlast, no attention kernel: %s", err.msg);
    ocl_kernels_release(&k);
    CHECK(create(&ctx, (ocl_tunables){.attn_d = 64, .attn_max_t = 128}, &k, &err) == ALBERT_OK &&
              k.attention,
          "attn_d 64: %s", err.msg);
    ocl_kernels_release(&k);
    CHECK(create(&ctx, (ocl_tunables){.attn_d = 24, .attn_max_t = 128}, &k, &err) == ALBERT_E_ARG,
          "attn_d 24 accepted");
    CHECK(create(&ctx, (ocl_tunables){.gemm_mr = 4, .gemm_nr = 24}, &k, &err) == ALBERT_E_ARG,
          "gemm_nr 24 accepted");
    CHECK(strstr(err.msg, "gemm_nr 24") != NULL, "%s", err.msg);
    test_tiled_choices(&ctx);
    ocl_ctx_close(&ctx);
}

/* 1 when DEVICE has cl_khr_subgroups or cl_intel_subgroups. */
static int device_has_subgroups(int device)
{
    ocl_ctx ctx;
    albert_error err = {0};
    int rc = ocl_ctx_open(device, 0, &ctx, &err);
    CHECK(rc == ALBERT_OK, "device %d: %s", device, err.msg);
    const int has = rc == ALBERT_OK && ctx.subgroups;
    if (rc == ALBERT_OK)
        ocl_ctx_close(&ctx);
    return has;
}

/* Packing: panel p, row k, lane j holds W[p*NR + j][k]. */
static void test_packing(void)
{
    float w[32 * 3], packed[32 * 3];
    for (int i = 0; i < 32 * 3; i++)
        w[i] = (float)i;
    ocl_linear_pack(32, 3, 16, w, packed);
    CHECK(packed[0] == w[0] && packed[1] == w[3] && packed[16] == w[1] && packed[48] == w[16 * 3] &&
              packed[95] == w[31 * 3 + 2],
          "ocl_linear_pack layout");
}

/* With timing on: a sliced launch is one timed call (a span from a marker
 * before its first slice to its last slice), then the download. */
static void test_sliced_launches(int device)
{
    static const char *const names[] = {"bias_gelu", "download", "pool", "download"};
    env e = {.label = "sliced"};
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    if (env_open(&e, device, 1, &tun))
        for (size_t i = 0; i < sizeof sliced_cases / sizeof sliced_cases[0]; i++)
            run_case(&e, &sliced_cases[i], 777 + i);
    CHECK(e.ctx.n_events == 4, "[%s / %s] %zu events", e.device, e.label, e.ctx.n_events);
    for (size_t i = 0; i < e.ctx.n_events && i < 4; i++) {
        const ocl_event_rec *r = &e.ctx.events[i];
        CHECK(!strcmp(r->name, names[i]) && r->event && (i % 2 || r->begin),
              "[%s] event %zu is %s (event %p, begin %p), not %s's", e.device, i, r->name,
              (void *)r->event, (void *)r->begin, names[i]);
    }
    env_close(&e);
}

int main(void)
{
    const int devices = test_opencl_device_count();
    int with_subgroups = 0;
    for (int device = 0; device < devices; device++) {
        const int subgroups = device_has_subgroups(device);
        with_subgroups += subgroups;
        for (size_t i = 0; i < sizeof tunables_sets / sizeof tunables_sets[0]; i++) {
            if (tunables_sets[i].delta.subgroups && !subgroups)
                continue; /* refused there: test_tiled_choices */
            env e = {.label = tunables_sets[i].label};
            ocl_tunables tun;
            tunables_of(&tunables_sets[i].delta, &tun);
            if (env_open(&e, device, 0, &tun))
                run_table(&e, &tun);
            env_close(&e);
        }
        test_timing_hook(device);
        test_kernel_choices(device);
        test_sliced_launches(device);
    }
    test_packing();
    /* tools/test.sh installs Intel's runtime, which has them: the sub-group
     * kernels must have run somewhere. */
    const char *need = getenv("ALBERT_TEST_REQUIRE_SUBGROUPS");
    CHECK(!need || strcmp(need, "1") != 0 || with_subgroups > 0,
          "ALBERT_TEST_REQUIRE_SUBGROUPS=1 but no OpenCL device has sub-groups");
    return test_finish();
}
