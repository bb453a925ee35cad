/* albert-cl-tune: tunes CLBlast's GEMM kernels on one OpenCL device for the
 * GEMMs an ALBERT forward runs at the batch shapes asked for, and writes a
 * profile (profiles/README.md, tools/TUNING.md).
 *
 * Xgemm (indirect path) and XgemmDirect are searched in turn, each by a
 * seeded random search over CLBlast 1.5.3's tuning spaces followed by a hill
 * climb from the best; every candidate's result is checked against oneDNN's
 * sgemm.
 * The switch point XGEMM_MIN_INDIRECT_SIZE is then chosen from both paths'
 * timings of every GEMM.  Last, the Linears are timed on kernels/linear.cl
 * with a list of tiles; the best goes into the profile (kernels.gemm_mr,
 * gemm_nr) when it beats CLBlast.  A budget that timing CLBlast's defaults
 * uses up only completes the profile (TUNING.md, "Tiny budgets"). */
#include "opencl/clblast_params.h"
#include "opencl/ops.h"
#include "opencl/tuning.h"

#include <oneapi/dnnl/dnnl.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- spaces */

#define MAX_PARAMS 16
#define MAX_SHAPES 16
#define MAX_ITEMS (MAX_SHAPES * 8 + 1)

/* The values one parameter may take. */
typedef struct choice {
    int n;
    int v[8];
} choice;

typedef struct dev_limits {
    size_t local_mem, max_wg;
} dev_limits;

/* One CLBlast kernel (its parameter names are clblast_kernel_specs'), its
 * search spaces (one per kernel variant) and its constraints. */
typedef struct kspace {
    int spec; /* CLBLAST_XGEMM, ... */
    const choice *spaces[2];
    int (*valid)(const int *p, const dev_limits *lim);
    int (*variant)(const int *p);
} kspace;

/* Positions in clblast_kernel_specs[CLBLAST_XGEMM].params. */
enum { GEMMK, KREG, KWG, KWI, MDIMA, MDIMC, MWG, NDIMB, NDIMC, NWG, SA, SB, STRM, STRN, VWM, VWN };

/* CLBlast 1.5.3 src/tuning/kernels/xgemm.hpp, variation 2 (kernel 0) and
 * variation 12 (kernel 1, 2D register tiling), widened towards CPU drivers:
 * one-item work-groups (MDIMC = NDIMC = 1), 16-wide vectors and tiles that
 * are not powers of two (a 32 x 12 tile is 24 AVX-512 accumulators). */
static const choice xgemm_space0[] = {
    {1, {0}},
    {1, {1}},
    {3, {8, 16, 32}},
    {2, {1, 2}},
    {5, {1, 2, 8, 16, 32}},
    {5, {1, 2, 8, 16, 32}},
    {6, {16, 32, 48, 64, 96, 128}},
    {5, {1, 2, 8, 16, 32}},
    {5, {1, 2, 8, 16, 32}},
    {8, {8, 10, 12, 14, 16, 24, 32, 64}},
    {2, {0, 1}},
    {2, {0, 1}},
    {2, {0, 1}},
    {2, {0, 1}},
    {5, {1, 2, 4, 8, 16}},
    {4, {1, 2, 4, 8}}};
static const choice xgemm_space1[] = {
    {1, {1}},
    {5, {1, 2, 4, 8, 16}},
    {1, {1}},
    {1, {1}},
    {5, {2, 4, 8, 16, 32}},
    {5, {2, 4, 8, 16, 32}},
    {5, {8, 16, 32, 64, 128}},
    {5, {2, 4, 8, 16, 32}},
    {5, {2, 4, 8, 16, 32}},
    {5, {8, 16, 32, 64, 128}},
    {1, {0}},
    {1, {0}},
    {1, {0}},
    {1, {0}},
    {4, {1, 2, 4, 8}},
    {4, {1, 2, 4, 8}}};

/* Positions in clblast_kernel_specs[CLBLAST_XGEMM_DIRECT].params. */
enum { KWID, MDIMAD, MDIMCD, NDIMBD, NDIMCD, PADA, PADB, VWMD, VWND, WGD };
/* CLBlast 1.5.3 src/tuning/kernels/xgemm_direct.hpp, variation 2, widened
 * like Xgemm's towards one-item work-groups and small tiles. */
static const choice direct_space[] = {
    {4, {1, 2, 8, 16}},   {4, {1, 8, 16, 32}}, {4, {1, 8, 16, 32}}, {4, {1, 8, 16, 32}},
    {4, {1, 8, 16, 32}},  {2, {0, 1}},         {2, {0, 1}},         {5, {1, 2, 4, 8, 16}},
    {5, {1, 2, 4, 8, 16}}, {4, {8, 16, 32, 64}}};

static int multiple(int x, int y)
{
    return y > 0 && x % y == 0;
}

/* Work-group size and local memory, common to both kernels. */
static int fits(int threads, size_t local_floats, const dev_limits *lim)
{
    return (size_t)threads <= lim->max_wg && local_floats * sizeof(float) <= lim->local_mem;
}

static int xgemm_valid(const int *p, const dev_limits *lim)
{
    int ok = multiple(p[KWG], p[KWI]) && multiple(p[MWG], p[MDIMC] * p[VWM]) &&
             multiple(p[NWG], p[NDIMC] * p[VWN]) && multiple(p[MWG], p[MDIMA] * p[VWM]) &&
             multiple(p[NWG], p[NDIMB] * p[VWN]);
    if (p[GEMMK] == 0) /* KWG a multiple of KDIMA and KDIMB */
        ok = ok && multiple(p[KWG], p[MDIMC] * p[NDIMC] / p[MDIMA]) &&
             multiple(p[KWG], p[MDIMC] * p[NDIMC] / p[NDIMB]);
    else
        ok = ok && multiple(p[KREG], p[VWN]) && p[MDIMA] == p[MDIMC] && p[NDIMB] == p[NDIMC];
    size_t local = (size_t)(p[SA] * p[KWG] * p[MWG] + p[SB] * p[KWG] * p[NWG]);
    return ok && fits(p[MDIMC] * p[NDIMC], local, lim);
}

static int xgemm_variant(const int *p)
{
    return p[GEMMK];
}

static int direct_valid(const int *p, const dev_limits *lim)
{
    const int w = p[WGD], threads = p[MDIMCD] * p[NDIMCD];
    int ok = multiple(w, p[KWID]) && multiple(w, p[MDIMCD] * p[VWMD]) &&
             multiple(w, p[NDIMCD] * p[VWND]) && multiple(w, p[MDIMAD] * p[VWMD]) &&
             multiple(w, p[NDIMBD] * p[VWND]) && multiple(w, threads / p[MDIMAD]) &&
             multiple(w, threads / p[NDIMBD]);
    size_t local = (size_t)(w * (w + p[PADA]) + w * (w + p[PADB]));
    return ok && fits(threads, local, lim);
}

static int direct_variant(const int *p)
{
    (void)p;
    return 0;
}

static const kspace xgemm_ks = {CLBLAST_XGEMM, {xgemm_space0, xgemm_space1}, xgemm_valid,
                                xgemm_variant};
static const kspace direct_ks = {CLBLAST_XGEMM_DIRECT, {direct_space, direct_space},
                                 direct_valid, direct_variant};

static const clblast_kernel_spec *spec_of(const kspace *ks)
{
    return &clblast_kernel_specs[ks->spec];
}

/* What each search tries first.  On CPU devices: work-groups of one item
 * with 16-wide vectors, which PoCL compiles into a register-tiled loop (a
 * work-group of many items keeps each item's accumulators in memory across
 * barriers); measured on PoCL 3.1 with AVX-512, 110 GFLOP/s against 60 for
 * the best many-item tile.  On other devices: shapes that do well on GPUs,
 * all within 256 work-items and 16 KiB of local memory.  The first seed of
 * the device's kind is the fallback when the budget allows nothing else. */
#define N_CPU_SEEDS 2
#define N_XGEMM_SEEDS 8
static const int xgemm_seeds[N_XGEMM_SEEDS][MAX_PARAMS] = {
    {0, 1, 16, 1, 1, 1, 32, 1, 1, 12, 0, 0, 0, 0, 16, 4},
    {0, 1, 16, 1, 1, 1, 48, 1, 1, 10, 0, 0, 0, 0, 16, 2},
    {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},
    {0, 1, 32, 2, 8, 8, 128, 8, 8, 128, 0, 0, 1, 1, 2, 8},
    {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 8, 8},
    {1, 4, 1, 1, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},
    {0, 1, 16, 2, 8, 8, 128, 8, 8, 64, 0, 0, 0, 0, 8, 4},
    {0, 1, 32, 2, 8, 8, 128, 8, 8, 64, 0, 0, 0, 0, 8, 8}};
#define N_DIRECT_SEEDS 5
static const int direct_seeds[N_DIRECT_SEEDS][MAX_PARAMS] = {
    {1, 1, 1, 1, 1, 0, 0, 8, 8, 8},
    {2, 1, 1, 1, 1, 0, 0, 16, 4, 16},
    {2, 8, 8, 8, 8, 1, 1, 1, 1, 32},
    {2, 8, 8, 8, 8, 0, 0, 4, 4, 64},
    {8, 8, 8, 8, 8, 1, 1, 2, 2, 32}};
/* The smallest XgemmDirect tile, for programs that never run it: PoCL
 * builds its kernels in about a second, where a CPU seed's take ten. */
static const int direct_idle[MAX_PARAMS] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1};

/* Copies SEEDS to OUT, the N_CPU_SEEDS CPU ones first on a CPU device and
 * last elsewhere. */
static void order_seeds(int cpu, const int (*seeds)[MAX_PARAMS], int n, int (*out)[MAX_PARAMS])
{
    const int k = cpu ? 0 : n - N_CPU_SEEDS;
    memcpy(out[k], seeds[0], N_CPU_SEEDS * sizeof seeds[0]);
    memcpy(out[cpu ? N_CPU_SEEDS : 0], seeds[N_CPU_SEEDS],
           (size_t)(n - N_CPU_SEEDS) * sizeof seeds[0]);
}

/* ---------------------------------------------------------------- random */

/* splitmix64: small, seedable, good enough to sample a search space. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rng_below(uint64_t *s, int n)
{
    return (int)(rng_next(s) % (uint64_t)n);
}

static float rng_unit(uint64_t *s)
{
    return (float)((double)(rng_next(s) >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

/* ---------------------------------------------------------------- workload */

typedef struct shape {
    int B, T;
} shape;

/* One GEMM of the forward as ocl_gemm runs it, with how often one forward
 * runs it and the weight its time gets in the objective. */
typedef struct item {
    int shape;   /* index into the batch shapes; -1 for the reference GEMM */
    int trans_b;
    size_t m, n, k, batch;
    ocl_mat a, b, c; /* buf fields unused: the tuner's pools */
    size_t a_len, b_len, c_len;
    double count, weight;
    float *ref; /* c_len floats */
    double t_indirect, t_direct, t_measured;
    int linear; /* a Linear's GEMM: linear.cl may take it */
} item;

typedef struct options {
    int device;
    shape shapes[MAX_SHAPES];
    int n_shapes;
    const char *model, *out, *name, *match_platform, *match_device, *note, *start;
    double budget;
    unsigned long seed;
    int no_reference; /* --no-reference: no 1024x3072x768 figure */
    ocl_program_dirs dirs; /* $ALBERT_CL_KERNEL_DIR, $ALBERT_CL_CACHE_DIR, as albert-cl */
} options;

typedef struct tuner {
    const options *opt;
    albert_config cfg;
    ocl_ctx ctx;
    dev_limits lim;
    int cpu; /* a CL_DEVICE_TYPE_CPU device: seeds its searches differently */
    item items[MAX_ITEMS];
    int n_items;
    cl_mem in_a, in_b, out_c;
    float *host_a, *host_b, *host_c;
    size_t max_a, max_b, max_c;
    double start, deadline;
    uint64_t rng;
    int xgemm[MAX_PARAMS], direct[MAX_PARAMS], min_indirect;
    /* CLBlast's own switch point for the device, and the one that forces
     * the direct path (see read_own_switch). */
    int own_switch, force_direct;
    int tiny; /* timing the defaults spent the budget: see tune() */
    int tried[2], passed[2];
    /* kernels/linear.cl for the Linears, when lin_on: its tile and each
     * Linear item's packed weight (NULL where it stays on CLBlast). */
    int lin_on, gemm_mr, gemm_nr, lin_tried, lin_passed;
    ocl_kernels lin;
    cl_mem lin_w[MAX_ITEMS];
} tuner;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double item_flops(const item *it, size_t rows)
{
    return 2.0 * (double)rows * (double)it->n * (double)it->k * (double)it->batch;
}

static size_t item_mnk(const item *it)
{
    return it->m * it->n * it->k;
}

/* Floats a strided operand spans: the last batch's last row ends it. */
static size_t span(const ocl_mat *m, size_t rows, size_t cols, size_t batch)
{
    return m->off + (batch - 1) * m->stride + (rows - 1) * m->ld + cols;
}

static void add_item(tuner *t, int sh, int trans_b, size_t m, size_t n, size_t k, size_t batch,
                     ocl_mat a, ocl_mat b, ocl_mat c, double count)
{
    item *it = &t->items[t->n_items++];
    *it = (item){.shape = sh, .trans_b = trans_b, .m = m, .n = n, .k = k, .batch = batch,
                 .a = a, .b = b, .c = c, .count = count};
    it->a_len = span(&a, m, k, batch);
    it->b_len = trans_b ? span(&b, n, k, batch) : span(&b, k, n, batch);
    it->c_len = span(&c, m, n, batch);
}

static ocl_mat mat(size_t off, size_t ld, size_t stride)
{
    return (ocl_mat){NULL, off, ld, stride};
}

/* The GEMMs of host/opencl/backend.c's forward at shape SH (one layer's, counted
 * once per layer, and attention's, once per sequence and layer). */
static void add_shape_items(tuner *t, int sh)
{
    const albert_config *c = &t->cfg;
    const size_t B = (size_t)t->opt->shapes[sh].B, T = (size_t)t->opt->shapes[sh].T;
    const size_t H = (size_t)c->hidden_size, FF = (size_t)c->intermediate_size;
    const size_t E = (size_t)c->embedding_size, d = H / (size_t)c->num_attention_heads;
    const size_t NH = (size_t)c->num_attention_heads, rows = B * T;
    const double L = (double)c->num_hidden_layers * c->inner_group_num;
    const size_t lin[4][2] = {{3 * H, H}, {H, H}, {FF, H}, {H, FF}};
    add_item(t, sh, 1, rows, H, E, 1, mat(0, E, 0), mat(0, E, 0), mat(0, H, 0), 1.0);
    t->items[t->n_items - 1].linear = 1;
    for (int i = 0; i < 4; i++) {
        add_item(t, sh, 1, rows, lin[i][0], lin[i][1], 1, mat(0, lin[i][1], 0),
                 mat(0, lin[i][1], 0), mat(0, lin[i][0], 0), L);
        t->items[t->n_items - 1].linear = 1;
    }
    add_item(t, sh, 1, T, T, d, NH, mat(0, 3 * H, d), mat(H, 3 * H, d), mat(0, T, T * T),
             L * (double)B);
    add_item(t, sh, 0, T, d, T, NH, mat(0, T, T * T), mat(2 * H, 3 * H, d), mat(0, H, d),
             L * (double)B);
    add_item(t, sh, 1, B, H, H, 1, mat(0, T * H, 0), mat(0, H, 0), mat(0, H, 0), 1.0);
    t->items[t->n_items - 1].linear = 1; /* the pooler */
}

static void build_items(tuner *t)
{
    for (int s = 0; s < t->opt->n_shapes; s++)
        add_shape_items(t, s);
    if (!t->opt->no_reference) { /* the figure everyone quotes, timed but not tuned for */
        add_item(t, -1, 1, 1024, 3072, 768, 1, mat(0, 768, 0), mat(0, 768, 0),
                 mat(0, 3072, 0), 0);
        t->items[t->n_items - 1].linear = 1; /* on linear.cl when Linears go there */
    }
    for (int i = 0; i < t->n_items; i++) {
        const item *it = &t->items[i];
        t->max_a = it->a_len > t->max_a ? it->a_len : t->max_a;
        t->max_b = it->b_len > t->max_b ? it->b_len : t->max_b;
        t->max_c = it->c_len > t->max_c ? it->c_len : t->max_c;
    }
}

/* oneDNN's sgemm's answer for IT on the host pools. */
static int reference(tuner *t, item *it, albert_error *err)
{
    it->ref = calloc(it->c_len, sizeof(float));
    if (!it->ref)
        return albert_fail(err, ALBERT_E_NOMEM, "reference: out of memory (%zu floats)",
                           it->c_len);
    for (size_t i = 0; i < it->batch; i++)
        if (dnnl_sgemm('N', it->trans_b ? 'T' : 'N', (dnnl_dim_t)it->m, (dnnl_dim_t)it->n,
                       (dnnl_dim_t)it->k, 1.0f, t->host_a + it->a.off + i * it->a.stride,
                       (dnnl_dim_t)it->a.ld, t->host_b + it->b.off + i * it->b.stride,
                       (dnnl_dim_t)it->b.ld, 0.0f, it->ref + it->c.off + i * it->c.stride,
                       (dnnl_dim_t)it->c.ld) != dnnl_success)
            return albert_fail(err, ALBERT_E_NOMEM, "reference: oneDNN's sgemm failed");
    return ALBERT_OK;
}

static int fill_random(float **dst, size_t n, uint64_t *rng, albert_error *err)
{
    *dst = malloc(n * sizeof(float));
    if (!*dst)
        return albert_fail(err, ALBERT_E_NOMEM, "inputs: out of memory (%zu floats)", n);
    for (size_t i = 0; i < n; i++)
        (*dst)[i] = rng_unit(rng);
    return ALBERT_OK;
}

static int setup_data(tuner *t, albert_error *err)
{
    uint64_t data_rng = 12345;
    int rc = fill_random(&t->host_a, t->max_a, &data_rng, err);
    if (rc == ALBERT_OK)
        rc = fill_random(&t->host_b, t->max_b, &data_rng, err);
    if (rc == ALBERT_OK && !(t->host_c = malloc(t->max_c * sizeof(float))))
        rc = albert_fail(err, ALBERT_E_NOMEM, "results: out of memory");
    if (rc == ALBERT_OK)
        rc = ocl_buffer(&t->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                        t->max_a * sizeof(float), t->host_a, &t->in_a, "A", err);
    if (rc == ALBERT_OK)
        rc = ocl_buffer(&t->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                        t->max_b * sizeof(float), t->host_b, &t->in_b, "B", err);
    if (rc == ALBERT_OK)
        rc = ocl_buffer(&t->ctx, CL_MEM_READ_WRITE, t->max_c * sizeof(float), NULL, &t->out_c,
                        "C", err);
    for (int i = 0; rc == ALBERT_OK && i < t->n_items; i++)
        rc = reference(t, &t->items[i], err);
    return rc;
}

/* ---------------------------------------------------------------- running */

static int override(tuner *t, const kspace *ks, const int *p, albert_error *err)
{
    size_t v[MAX_PARAMS];
    const clblast_kernel_spec *s = spec_of(ks);
    for (size_t i = 0; i < s->n; i++)
        v[i] = (size_t)p[i];
    return clblast_check(clblast_params_set(t->ctx.device, s->kernel, s->n, s->params, v),
                         "CLBlastOverrideParameters", err);
}

/* Switch points that force one path: m*n*k < 1 never holds, < 10^15 always. */
#define FORCE_INDIRECT 1
#define FORCE_DIRECT 100000

/* Applies the tuner's current Xgemm, XgemmDirect and switch point.  Under
 * FORCE_INDIRECT no XgemmDirect kernel runs, yet PoCL compiles every kernel
 * of a CLBlast program when CLBlast builds it: those get direct_idle. */
static int apply_all(tuner *t, albert_error *err)
{
    static const kspace routine_ks = {CLBLAST_GEMM_ROUTINE, {NULL, NULL}, NULL, NULL};
    const int *direct = t->min_indirect == FORCE_INDIRECT ? direct_idle : t->direct;
    int rc = override(t, &xgemm_ks, t->xgemm, err);
    if (rc == ALBERT_OK)
        rc = override(t, &direct_ks, direct, err);
    return rc == ALBERT_OK ? override(t, &routine_ks, &t->min_indirect, err) : rc;
}

/* Enqueues IT on its first ROWS rows (ROWS < m only for plain GEMMs). */
static int enqueue(tuner *t, const item *it, size_t rows, albert_error *err)
{
    ocl_mat a = it->a, b = it->b, c = it->c;
    a.buf = t->in_a;
    b.buf = t->in_b;
    c.buf = t->out_c;
    const cl_mem packed = t->lin_on ? t->lin_w[it - t->items] : NULL;
    if (packed)
        return ocl_op_linear_gemm(&t->ctx, &t->lin, (int)rows, (int)it->n, (int)it->k, a, packed,
                                  t->out_c, err);
    return ocl_gemm(&t->ctx, it->trans_b, rows, it->n, it->k, 1.0f, a, b, c, it->batch, err);
}

/* Runs IT once on a C full of a sentinel (entries the GEMM skips keep it)
 * and compares with the reference, relative to its largest entry. */
static int check(tuner *t, const item *it, size_t rows, albert_error *err)
{
    const float sentinel = 12345.0f;
    const size_t len = it->batch > 1 ? it->c_len : span(&it->c, rows, it->n, 1);
    int rc = ocl_check(clEnqueueFillBuffer(t->ctx.queue, t->out_c, &sentinel, sizeof sentinel, 0,
                                           len * sizeof(float), 0, NULL, NULL),
                       "clEnqueueFillBuffer", err);
    if (rc == ALBERT_OK)
        rc = enqueue(t, it, rows, err);
    if (rc == ALBERT_OK)
        rc = ocl_read(&t->ctx, t->out_c, 0, len * sizeof(float), t->host_c, 1, err);
    if (rc != ALBERT_OK)
        return rc;
    double scale = 1e-30, worst = 0.0;
    for (size_t i = 0; i < len; i++) {
        double r = fabs((double)it->ref[i]), d = fabs((double)t->host_c[i] - it->ref[i]);
        scale = r > scale ? r : scale;
        if (!(d <= worst)) /* NaN too */
            worst = d != d ? INFINITY : d;
    }
    if (!(worst <= 1e-4 * scale))
        return albert_fail(err, ALBERT_E_DEVICE,
                           "wrong result for %zux%zux%zu (batch %zu): max error %.3g of %.3g",
                           rows, it->n, it->k, it->batch, worst, scale);
    return ALBERT_OK;
}

/* Checks IT, then the best wall-clock time of REPS runs. */
static int time_item(tuner *t, const item *it, size_t rows, int reps, double *best,
                     albert_error *err)
{
    int rc = check(t, it, rows, err);
    *best = INFINITY;
    for (int r = 0; rc == ALBERT_OK && r < reps; r++) {
        double t0 = now_s();
        rc = enqueue(t, it, rows, err);
        if (rc == ALBERT_OK)
            rc = ocl_finish(&t->ctx, err);
        double dt = now_s() - t0;
        *best = dt < *best ? dt : *best;
    }
    return rc;
}

/* Which GEMMs a measurement covers: the Xgemm search scores the plain
 * GEMMs (the batched ones are small and mostly go direct), the XgemmDirect
 * search only GEMMs small enough that the direct path could win (512^3 and
 * below); the switch point needs every GEMM on the indirect path. */
enum { SCOPE_PLAIN, SCOPE_DIRECT, SCOPE_ALL };
#define DIRECT_EDGE 512
#define DIRECT_CAP ((size_t)DIRECT_EDGE * DIRECT_EDGE * DIRECT_EDGE)

static int in_scope(const item *it, int scope)
{
    if (it->shape < 0)
        return 0;
    return scope == SCOPE_DIRECT ? item_mnk(it) <= DIRECT_CAP
                                 : scope == SCOPE_ALL || it->batch == 1;
}

/* Weighted time over the items of SCOPE; each item's time goes to t_direct
 * (SCOPE_DIRECT) or t_indirect. */
static int score_all(tuner *t, int scope, double *score, albert_error *err)
{
    const int direct = scope == SCOPE_DIRECT;
    int rc = ALBERT_OK;
    *score = 0.0;
    for (int i = 0; rc == ALBERT_OK && i < t->n_items; i++) {
        item *it = &t->items[i];
        if (!in_scope(it, scope))
            continue;
        double s;
        rc = time_item(t, it, it->m, 2, &s, err);
        *(direct ? &it->t_direct : &it->t_indirect) = s;
        *score += it->weight * s;
    }
    return rc;
}

/* ---------------------------------------------------------------- search */

typedef struct search {
    const kspace *ks;
    int direct;               /* which path this kernel is on */
    int *best;                /* t->xgemm or t->direct */
    double best_score, best_screen;
    const item *screen;       /* the cheap first test */
    size_t screen_rows;
    int (*tried)[MAX_PARAMS];
    int n_tried, cap_tried;
    const int (*seeds)[MAX_PARAMS];
    int n_seeds;
} search;

static void print_params(const kspace *ks, const int *p, char *dst, size_t size)
{
    size_t used = 0;
    dst[0] = '\0';
    for (int i = 0; i < (int)spec_of(ks)->n && used < size; i++)
        used += (size_t)snprintf(dst + used, size - used, "%s%s=%d", i ? " " : "",
                                 spec_of(ks)->params[i], p[i]);
}

static int seen(search *s, const int *p)
{
    for (int i = 0; i < s->n_tried; i++)
        if (memcmp(s->tried[i], p, sizeof(int) * spec_of(s->ks)->n) == 0)
            return 1;
    if (s->n_tried == s->cap_tried) {
        int cap = s->cap_tried ? 2 * s->cap_tried : 64;
        void *grown = realloc(s->tried, (size_t)cap * sizeof *s->tried);
        if (!grown)
            return 1;
        s->tried = grown;
        s->cap_tried = cap;
    }
    memcpy(s->tried[s->n_tried++], p, sizeof(int) * spec_of(s->ks)->n);
    return 0;
}

/* A uniform draw from one variant's space (FROM NULL) or FROM with one
 * parameter changed; 0 when no valid, untried one turned up. */
static int propose(tuner *t, search *s, const int *from, int *p)
{
    const kspace *ks = s->ks;
    for (int tries = 0; tries < 20000; tries++) {
        const choice *sp = ks->spaces[from ? ks->variant(from) : rng_below(&t->rng, 2)];
        if (from) {
            memcpy(p, from, sizeof(int) * spec_of(ks)->n);
            int i = rng_below(&t->rng, (int)spec_of(ks)->n);
            p[i] = sp[i].v[rng_below(&t->rng, sp[i].n)];
        } else {
            for (int i = 0; i < (int)spec_of(ks)->n; i++)
                p[i] = sp[i].v[rng_below(&t->rng, sp[i].n)];
        }
        if (ks->valid(p, &t->lim) && !seen(s, p))
            return 1;
    }
    return 0;
}

/* Tries P: screen on one GEMM, and when that is within 1.5x of the best
 * screen, the full weighted score.  A failing candidate is reported and
 * skipped. */
static int try_candidate(tuner *t, search *s, const int *p)
{
    albert_error err = {0};
    char desc[320];
    double screen = INFINITY, score = INFINITY;
    const int which = s->direct;
    memcpy(s->best, p, sizeof(int) * spec_of(s->ks)->n);
    t->tried[which]++;
    print_params(s->ks, p, desc, sizeof desc);
    const double t0 = now_s();
    int rc = apply_all(t, &err);
    if (rc == ALBERT_OK)
        rc = time_item(t, s->screen, s->screen_rows, 1, &screen, &err);
    const double gflops = item_flops(s->screen, s->screen_rows) / screen * 1e-9;
    int full = rc == ALBERT_OK && screen <= 1.5 * s->best_screen;
    if (full)
        rc = score_all(t, s->direct ? SCOPE_DIRECT : SCOPE_PLAIN, &score, &err);
    /* CLBlast keeps every program it builds, keyed by the parameters: drop
     * them, or a long search grows without bound (overrides stay). */
    (void)CLBlastClearCache(); /* a failure only costs memory */
    if (rc != ALBERT_OK) {
        fprintf(stderr, "  %s [%s]: rejected: %s\n", spec_of(s->ks)->kernel, desc, err.msg);
        return 0;
    }
    t->passed[which]++;
    s->best_screen = screen < s->best_screen ? screen : s->best_screen;
    int better = score < s->best_score;
    if (better)
        s->best_score = score;
    fprintf(stderr,
            "  %s #%d [%s]: %.1f GFLOP/s%s%s (score %.3g, best %.3g; took %.0f s, %.0f s left)\n",
            spec_of(s->ks)->kernel, t->tried[which], desc, gflops, full ? "" : ", screened out",
            better ? ", new best" : "", score, s->best_score, now_s() - t0,
            t->deadline - now_s());
    return better;
}

/* The seeds (the first always, the rest while time is left), then until
 * END a hill climb from the best, one parameter at a time, with every third
 * candidate a uniform draw so the search can leave a local optimum.  *best
 * holds the winner on return. */
static int run_search(tuner *t, search *s, int *best, double end, albert_error *err)
{
    int cand[MAX_PARAMS], winner[MAX_PARAMS];
    s->best_score = s->best_screen = INFINITY;
    memcpy(winner, s->seeds[0], sizeof winner);
    for (int i = 0; i < s->n_seeds && (i == 0 || now_s() < end); i++) {
        memcpy(cand, s->seeds[i], sizeof cand);
        if (s->ks->valid(cand, &t->lim) && !seen(s, cand) && try_candidate(t, s, cand))
            memcpy(winner, cand, sizeof winner);
    }
    for (int n = 1; now_s() < end; n++) {
        int climbing = n % 3 != 0 && s->best_score < INFINITY;
        if (!propose(t, s, climbing ? winner : NULL, cand))
            break;
        if (try_candidate(t, s, cand))
            memcpy(winner, cand, sizeof winner);
    }
    memcpy(best, winner, sizeof winner);
    free(s->tried);
    if (s->best_score == INFINITY)
        return albert_fail(err, ALBERT_E_DEVICE, "%s: no candidate passed the checks",
                           spec_of(s->ks)->kernel);
    return ALBERT_OK;
}

/* The item a search screens with: the heaviest one in its scope, at most
 * 256 rows of it when it is a plain GEMM. */
static void pick_screen(const tuner *t, search *s)
{
    double heaviest = -1.0;
    for (int i = 0; i < t->n_items; i++) {
        const item *it = &t->items[i];
        double w = it->weight * item_flops(it, it->m);
        if (in_scope(it, s->direct ? SCOPE_DIRECT : SCOPE_PLAIN) && w > heaviest) {
            heaviest = w;
            s->screen = it;
        }
    }
    if (s->screen)
        s->screen_rows = s->screen->batch == 1 && s->screen->m > 256 ? 256 : s->screen->m;
}

static int tune_kernel(tuner *t, const kspace *ks, int direct, const int (*seeds)[MAX_PARAMS],
                       int n_seeds, double end, albert_error *err)
{
    int *params = direct ? t->direct : t->xgemm;
    search s = {.ks = ks, .direct = direct, .best = params, .seeds = seeds, .n_seeds = n_seeds};
    pick_screen(t, &s);
    if (!s.screen) { /* e.g. no GEMM small enough for the direct path */
        fprintf(stderr, "albert-cl-tune: no GEMM of these shapes for %s: kept as it is\n",
                spec_of(ks)->kernel);
        return ALBERT_OK;
    }
    t->min_indirect = direct ? t->force_direct : FORCE_INDIRECT;
    fprintf(stderr, "albert-cl-tune: tuning %s for %.0f s (screen %zux%zux%zu batch %zu)\n",
            spec_of(ks)->kernel, end - now_s(), s.screen_rows, s.screen->n, s.screen->k,
            s.screen->batch);
    return run_search(t, &s, params, end, err);
}

/* ---------------------------------------------------------------- linear.cl */

/* Tiles (MR rows x NR columns) for kernels/linear.cl, the likeliest first:
 * the accumulators, MR x NR/16 float16 vectors, must fit the registers
 * (32 x 512 bits with AVX-512, 16 x 256 with AVX2). */
static const int linear_tiles[][2] = {{12, 32}, {14, 32}, {16, 16}, {8, 32}, {10, 32},
                                      {6, 16},  {8, 48},  {6, 64},  {7, 16}, {4, 16}};
#define N_LINEAR_TILES ((int)(sizeof linear_tiles / sizeof linear_tiles[0]))

static void linear_release(tuner *t)
{
    for (int i = 0; i < t->n_items; i++)
        ocl_release_mem(&t->lin_w[i]);
    ocl_kernels_release(&t->lin);
    t->lin_on = 0;
}

/* Builds linear.cl with tile MR x NR and uploads each Linear item's weight
 * (rows of the B pool) packed for it. */
static int linear_setup(tuner *t, int mr, int nr, albert_error *err)
{
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    tun.gemm_mr = mr;
    tun.gemm_nr = nr;
    int rc = ocl_kernels_create(&t->ctx, &tun, &t->opt->dirs, &t->lin, err);
    float *w = malloc(t->max_b * sizeof *w);
    if (rc == ALBERT_OK && !w)
        rc = albert_fail(err, ALBERT_E_NOMEM, "linear.cl weights: out of memory");
    for (int i = 0; rc == ALBERT_OK && i < t->n_items; i++) {
        const item *it = &t->items[i];
        if (!it->linear || !ocl_linear_packed(&t->lin, (int)it->n))
            continue;
        for (size_t r = 0; r < it->n; r++)
            memcpy(w + r * it->k, t->host_b + it->b.off + r * it->b.ld, it->k * sizeof *w);
        rc = ocl_linear_upload(&t->ctx, &t->lin, (int)it->n, (int)it->k, w, &t->lin_w[i],
                               "linear.cl weight", err);
    }
    free(w);
    t->lin_on = rc == ALBERT_OK;
    if (rc != ALBERT_OK)
        linear_release(t);
    return rc;
}

/* Scores the Linears (SCOPE_PLAIN) on CLBlast, then on linear.cl with each
 * tile while time is left (the first always), and keeps linear.cl with the
 * best tile when it beats CLBlast. */
static int tune_linear(tuner *t, double end, albert_error *err)
{
    double best;
    int rc = score_all(t, SCOPE_PLAIN, &best, err);
    fprintf(stderr, "albert-cl-tune: Linears on CLBlast: score %.3g\n", best);
    for (int i = 0; rc == ALBERT_OK && i < N_LINEAR_TILES && (i == 0 || now_s() < end); i++) {
        const int mr = linear_tiles[i][0], nr = linear_tiles[i][1];
        const double t0 = now_s();
        double score = INFINITY;
        albert_error cand = {0};
        t->lin_tried++;
        int crc = linear_setup(t, mr, nr, &cand);
        if (crc == ALBERT_OK)
            crc = score_all(t, SCOPE_PLAIN, &score, &cand);
        if (crc == ALBERT_OK)
            t->lin_passed++;
        if (crc != ALBERT_OK)
            fprintf(stderr, "  linear.cl %dx%d: rejected: %s\n", mr, nr, cand.msg);
        else
            fprintf(stderr, "  linear.cl #%d %dx%d: score %.3g%s (took %.0f s)\n", i + 1, mr, nr,
                    score, score < best ? ", new best" : "", now_s() - t0);
        if (crc == ALBERT_OK && score < best) {
            best = score;
            t->gemm_mr = mr;
            t->gemm_nr = nr;
        }
        linear_release(t);
    }
    return rc == ALBERT_OK && t->gemm_nr ? linear_setup(t, t->gemm_mr, t->gemm_nr, err) : rc;
}

/* ---------------------------------------------------------------- switch */

/* Cost of switch point S: each item on the path CLBlast would take. */
static double switch_cost(const tuner *t, size_t s)
{
    const unsigned long long s3 = (unsigned long long)s * s * s;
    double cost = 0.0;
    for (int i = 0; i < t->n_items; i++) {
        const item *it = &t->items[i];
        int direct = (unsigned long long)item_mnk(it) < s3;
        if (it->weight > 0.0)
            cost += it->weight * (direct ? it->t_direct : it->t_indirect);
    }
    return cost;
}

/* Times every item on both paths with the winners and picks the switch
 * point: 1 (never direct) or just above one item's cube root. */
static int pick_switch(tuner *t, albert_error *err)
{
    double unused;
    int rc = ALBERT_OK;
    for (int i = 0; i < t->n_items; i++)
        t->items[i].t_direct = INFINITY;
    t->min_indirect = t->force_direct;
    rc = apply_all(t, err);
    if (rc == ALBERT_OK)
        rc = score_all(t, SCOPE_DIRECT, &unused, err);
    t->min_indirect = FORCE_INDIRECT;
    if (rc == ALBERT_OK)
        rc = apply_all(t, err);
    if (rc == ALBERT_OK)
        rc = score_all(t, SCOPE_ALL, &unused, err);
    size_t best = 1;
    for (int i = 0; rc == ALBERT_OK && i < t->n_items; i++) {
        size_t s = (size_t)ceil(cbrt((double)item_mnk(&t->items[i]))) + 1;
        if (in_scope(&t->items[i], SCOPE_DIRECT) && switch_cost(t, s) < switch_cost(t, best))
            best = s;
    }
    t->min_indirect = (int)best;
    return rc;
}

/* ---------------------------------------------------------------- measure */

#define REFERENCE_LABEL "gemm 1024x3072x768"

/* The figures measure() gives: one per shape, then the reference GEMM's
 * unless --no-reference. */
static int n_figures(const tuner *t)
{
    return t->opt->n_shapes + !t->opt->no_reference;
}

/* GFLOP/s of each shape (and the reference GEMM, index n_shapes) with what
 * is applied now: forward-weighted flops over forward-weighted time. */
static int measure(tuner *t, double *gflops, albert_error *err)
{
    double flops[MAX_SHAPES + 1] = {0}, secs[MAX_SHAPES + 1] = {0};
    int rc = ALBERT_OK;
    for (int i = 0; rc == ALBERT_OK && i < t->n_items; i++) {
        const item *it = &t->items[i];
        const int sh = it->shape < 0 ? t->opt->n_shapes : it->shape;
        const double count = it->shape < 0 ? 1.0 : it->count;
        rc = time_item(t, it, it->m, 2, &t->items[i].t_measured, err);
        flops[sh] += count * item_flops(it, it->m);
        secs[sh] += count * it->t_measured;
    }
    for (int s = 0; s < n_figures(t); s++)
        gflops[s] = flops[s] / secs[s] * 1e-9;
    return rc;
}

/* Each GEMM's weight in the objective: how often a forward runs it over
 * its shape's forward GEMM time with CLBlast's defaults, so the objective
 * sums each shape's time relative to the defaults and every shape counts
 * alike, whatever its size. */
static void set_weights(tuner *t)
{
    double total[MAX_SHAPES] = {0};
    for (int i = 0; i < t->n_items; i++)
        if (t->items[i].shape >= 0)
            total[t->items[i].shape] += t->items[i].count * t->items[i].t_measured;
    for (int i = 0; i < t->n_items; i++) {
        item *it = &t->items[i];
        it->weight = it->shape < 0 ? 0.0 : it->count / total[it->shape];
    }
}


/* "a,b,c" as a JSON array of its parts, a single string as itself. */
static cJSON *match_list(const char *s)
{
    if (!strchr(s, ','))
        return cJSON_CreateString(s);
    cJSON *list = cJSON_CreateArray();
    for (const char *p = s;; p++) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char part[128];
        snprintf(part, sizeof part, "%.*s", (int)(n < sizeof part ? n : sizeof part - 1), p);
        cJSON_AddItemToArray(list, cJSON_CreateString(part));
        if (!end)
            return list;
        p = end;
    }
}

/* ---------------------------------------------------------------- output */

static cJSON *params_json(const kspace *ks, const int *p)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < (int)spec_of(ks)->n; i++)
        cJSON_AddNumberToObject(o, spec_of(ks)->params[i], p[i]);
    return o;
}

/* X to 3 significant digits: small models' rates are fractions of a GFLOP/s. */
static double round3(double x)
{
    if (!(x > 0.0) || isinf(x))
        return x;
    const double scale = pow(10.0, 2.0 - floor(log10(x)));
    return round(x * scale) / scale;
}

static cJSON *gflops_json(const tuner *t, const double *def, const double *best)
{
    cJSON *arr = cJSON_CreateArray();
    for (int s = 0; s < n_figures(t); s++) {
        char label[64];
        if (s < t->opt->n_shapes)
            snprintf(label, sizeof label, "%dx%d", t->opt->shapes[s].B, t->opt->shapes[s].T);
        else
            snprintf(label, sizeof label, REFERENCE_LABEL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "shape", label);
        cJSON_AddNumberToObject(o, "default_gflops", round3(def[s]));
        cJSON_AddNumberToObject(o, "tuned_gflops", round3(best[s]));
        cJSON_AddNumberToObject(o, "speedup", round3(best[s] / def[s]));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *tuned_json(const tuner *t, const double *def, const double *best)
{
    const options *o = t->opt;
    char date[32], shapes[256] = "";
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    for (int s = 0; s < o->n_shapes; s++)
        snprintf(shapes + strlen(shapes), sizeof shapes - strlen(shapes), "%s%dx%d",
                 s ? "," : "", o->shapes[s].B, o->shapes[s].T);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tool", "albert-cl-tune");
    cJSON_AddStringToObject(j, "date", date);
    cJSON_AddStringToObject(j, "platform", t->ctx.platform_name);
    cJSON_AddStringToObject(j, "device", t->ctx.device_name);
    cJSON_AddStringToObject(j, "driver", t->ctx.driver_version);
    cJSON_AddStringToObject(j, "shapes", shapes);
    char model[128];
    snprintf(model, sizeof model, "H=%d I=%d E=%d heads=%d layers=%d", t->cfg.hidden_size,
             t->cfg.intermediate_size, t->cfg.embedding_size, t->cfg.num_attention_heads,
             t->cfg.num_hidden_layers * t->cfg.inner_group_num);
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddNumberToObject(j, "budget_s", o->budget);
    cJSON_AddNumberToObject(j, "elapsed_s", round(now_s() - t->start));
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "xgemm_candidates", t->tried[0]);
    cJSON_AddNumberToObject(j, "xgemm_passed", t->passed[0]);
    cJSON_AddNumberToObject(j, "xgemm_direct_candidates", t->tried[1]);
    cJSON_AddNumberToObject(j, "xgemm_direct_passed", t->passed[1]);
    cJSON_AddNumberToObject(j, "linear_tiles", t->lin_tried);
    cJSON_AddNumberToObject(j, "linear_tiles_passed", t->lin_passed);
    cJSON_AddBoolToObject(j, "switch_point_searched", !t->tiny);
    cJSON_AddStringToObject(j, "objective",
                            "sum over the shapes of the forward's GEMM time relative to CLBlast's "
                            "defaults; GFLOP/s below are forward-weighted, wall clock after "
                            "clFinish, best of 2");
    cJSON_AddItemToObject(j, "gflops", gflops_json(t, def, best));
    if (o->note)
        cJSON_AddStringToObject(j, "note", o->note);
    return j;
}

/* The kernel shapes this tuner does not search (work-groups, attention,
 * sub-groups) from the profile the device gets now (gpu-generic on a GPU
 * without its own), so the tuned profile, which takes its place, keeps them. */
static void add_base_kernels(const tuner *t, cJSON *kernels)
{
    const ocl_ctx *c = &t->ctx;
    const char *const device[TUNING_MATCH_COUNT] = {c->platform_name, c->device_name,
                                                    c->driver_version, c->device_type};
    const char *dir = getenv("ALBERT_CL_PROFILE_DIR");
    tuning_profile *p = malloc(sizeof *p);
    albert_error err = {0};
    int found = 0;
    if (!p || tuning_find(device, dir && *dir ? dir : NULL, p, &found, &err) != ALBERT_OK) {
        fprintf(stderr, "albert-cl-tune: warning: the device's current profile: %s\n",
                p ? err.msg : "out of memory");
        found = 0;
    }
    const struct {
        const char *key;
        int value;
    } keep[] = {
        {"wg_row", found ? p->wg_row : 0},     {"wg_elem", found ? p->wg_elem : 0},
        {"vec", found ? p->vec : 0},           {"attention", found ? p->attention : 0},
        {"attn_bq", found ? p->attn_bq : 0},   {"attn_bk", found ? p->attn_bk : 0},
        {"subgroups", found ? p->subgroups : 0},
    };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (keep[i].value)
            cJSON_AddNumberToObject(kernels, keep[i].key, keep[i].value);
    free(p);
}

static char *profile_json(const tuner *t, const double *def, const double *best)
{
    static const kspace routine_ks = {CLBLAST_GEMM_ROUTINE, {NULL, NULL}, NULL, NULL};
    const options *o = t->opt;
    cJSON *root = cJSON_CreateObject(), *match = cJSON_CreateObject();
    cJSON *clb = cJSON_CreateObject();
    char desc[320];
    snprintf(desc, sizeof desc, "%s on %s, tuned by albert-cl-tune", t->ctx.device_name,
             t->ctx.platform_name);
    cJSON_AddNumberToObject(root, "albert_cl_profile", 1);
    cJSON_AddStringToObject(root, "name", o->name);
    cJSON_AddStringToObject(root, "description", desc);
    cJSON_AddStringToObject(match, "platform", o->match_platform);
    cJSON_AddItemToObject(match, "device", match_list(o->match_device));
    cJSON_AddStringToObject(match, "driver", "");
    cJSON_AddStringToObject(match, "type", t->ctx.device_type);
    cJSON_AddItemToObject(root, "match", match);
    cJSON_AddItemToObject(clb, spec_of(&xgemm_ks)->kernel, params_json(&xgemm_ks, t->xgemm));
    cJSON_AddItemToObject(clb, spec_of(&direct_ks)->kernel, params_json(&direct_ks, t->direct));
    cJSON_AddItemToObject(clb, spec_of(&routine_ks)->kernel,
                          params_json(&routine_ks, &t->min_indirect));
    cJSON_AddItemToObject(root, "clblast", clb);
    cJSON *kernels = cJSON_CreateObject();
    add_base_kernels(t, kernels);
    if (t->gemm_nr) {
        cJSON_AddNumberToObject(kernels, "gemm_mr", t->gemm_mr);
        cJSON_AddNumberToObject(kernels, "gemm_nr", t->gemm_nr);
    }
    if (cJSON_GetArraySize(kernels) > 0)
        cJSON_AddItemToObject(root, "kernels", kernels);
    else
        cJSON_Delete(kernels);
    cJSON_AddItemToObject(root, "tuned", tuned_json(t, def, best));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* ---------------------------------------------------------------- options */

static const char usage_text[] =
    "usage: albert-cl-tune [OPTIONS]\n"
    "Tunes CLBlast's GEMM kernels, and the tile of albert-cl's own Linear kernel,\n"
    "on one OpenCL device for ALBERT's GEMMs and writes an albert-cl profile (JSON).\n"
    "  --device N           OpenCL device index (default 0)\n"
    "  --shapes LIST        batch shapes BxT, comma-separated (default 32x128,1x8,4x512)\n"
    "  --model DIR          read H, I, E and heads from DIR/config.json\n"
    "                       (default albert-base-v2 sizes)\n"
    "  --budget SECONDS     time for the search (default 600); when timing CLBlast's\n"
    "                       defaults uses it up: one candidate per search and\n"
    "                       CLBlast's switch point, a complete but untuned profile\n"
    "  --seed N             random search seed (default 1)\n"
    "  --start FILE         try FILE's (a profile's) Xgemm and XgemmDirect first\n"
    "                       (either may be left out)\n"
    "  --no-reference       do not time the 1024x3072x768 reference GEMM\n"
    "  -o FILE              write the profile to FILE (default stdout)\n"
    "  --name NAME          profile name (default from the device)\n"
    "  --match-platform S   platform substring to match (default the platform name)\n"
    "  --match-device S     device substring to match (default from the device name);\n"
    "                       S1,S2,... matches any of them\n"
    "  --note TEXT          free-form note stored in the profile's \"tuned\" section\n"
    "  --help               this text\n"
    "environment (as albert-cl's): ALBERT_CL_KERNEL_DIR builds linear.cl from DIR/*.cl,\n"
    "ALBERT_CL_CACHE_DIR is the compiled-kernel cache\n"
    "Exit status: 0 done, 1 tuning failed, 2 usage error.\n";

static int usage_error(const char *fmt, ...) ALBERT_PRINTF(1, 2);

/* One line on stderr, written at once. */
static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "albert-cl-tune: %s (see --help)\n", msg);
    return 2;
}

static int parse_shapes(const char *list, options *o)
{
    const char *p = list;
    o->n_shapes = 0;
    while (*p) {
        int B, T, used = 0;
        if (o->n_shapes == MAX_SHAPES || sscanf(p, "%dx%d%n", &B, &T, &used) != 2 || B < 1 ||
            T < 1 || B > 4096 || T > 4096 || (p[used] != ',' && p[used] != '\0'))
            return usage_error("--shapes: '%s' is not a list of BxT shapes", list);
        o->shapes[o->n_shapes++] = (shape){B, T};
        p += used + (p[used] == ',');
    }
    return o->n_shapes ? 0 : usage_error("--shapes: '%s' is empty", list);
}

static int parse_number(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || !(x >= lo && x <= hi))
        return usage_error("%s: '%s' is not a number in range", flag, v);
    *out = x;
    return 0;
}

/* --match-device's value as the profile format takes it: 1 to 16
 * comma-separated parts of 1 to 127 bytes (an empty one would match any
 * device). */
static int check_match_list(const char *v)
{
    int parts = 1;
    for (const char *p = v;; p++) {
        const char *end = strchr(p, ',');
        const size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || n > 127)
            return usage_error("--match-device: '%s': each comma-separated part must have 1 to "
                               "127 characters", v);
        if (!end)
            break;
        p = end;
        parts++;
    }
    if (parts > 16)
        return usage_error("--match-device: '%s': at most 16 parts", v);
    return 0;
}

/* One flag with its value at ARGV[*I + 1]; 0, 2 on a usage error. */
static int parse_flag(int argc, char **argv, int *i, options *o)
{
    const char *f = argv[*i];
    const char **str[] = {&o->model,        &o->out,          &o->name, &o->match_platform,
                          &o->match_device, &o->note,         &o->start};
    const char *str_flags[] = {"--model",        "-o",     "--name",  "--match-platform",
                               "--match-device", "--note", "--start"};
    const char *num_flags[] = {"--device", "--budget", "--seed"};
    int s = -1, n = -1;
    for (int k = 0; k < 7; k++)
        s = strcmp(f, str_flags[k]) == 0 ? k : s;
    for (int k = 0; k < 3; k++)
        n = strcmp(f, num_flags[k]) == 0 ? k : n;
    if (s < 0 && n < 0 && strcmp(f, "--shapes") != 0)
        return usage_error("unknown option '%s'", f);
    if (*i + 1 >= argc)
        return usage_error("%s needs a value", f);
    const char *v = argv[++*i];
    if (s == 4 && check_match_list(v))
        return 2;
    if (s >= 0) {
        *str[s] = v;
        return 0;
    }
    if (n < 0)
        return parse_shapes(v, o);
    double x = 0, hi[] = {1000, 1e6, 4e9};
    if (parse_number(f, v, n == 1 ? 1 : 0, hi[n], &x))
        return 2;
    if (n == 0)
        o->device = (int)x;
    else if (n == 1)
        o->budget = x;
    else
        o->seed = (unsigned long)x;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.device = 0, .budget = 600, .seed = 1};
    o->dirs.kernel_dir = albert_env("ALBERT_CL_KERNEL_DIR");
    o->dirs.cache_dir = albert_env("ALBERT_CL_CACHE_DIR");
    parse_shapes("32x128,1x8,4x512", o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return -1;
        }
        if (strcmp(argv[i], "--no-reference") == 0) {
            o->no_reference = 1;
            continue;
        }
        if (parse_flag(argc, argv, &i, o))
            return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- main */

/* albert-base-v2's sizes, or DIR/config.json's. */
static int load_config(const options *o, albert_config *cfg, albert_error *err)
{
    albert_config_init(cfg);
    if (o->model)
        return albert_config_load(o->model, cfg, err);
    cfg->hidden_size = 768;
    cfg->intermediate_size = 3072;
    cfg->embedding_size = 128;
    cfg->num_attention_heads = 12;
    return ALBERT_OK;
}

/* Match strings and name the device suggests when none are given: the
 * instruction set PoCL puts in its device names, else the whole name. */
static void default_identity(tuner *t, options *o, char *name, size_t size)
{
    static const char *const isa[] = {"avx512", "avx2", "avx", "sse4"};
    const char *dev = t->ctx.device_name;
    for (int i = 0; i < 4 && !o->match_device; i++)
        if (strstr(dev, isa[i]))
            o->match_device = isa[i];
    if (!o->match_device)
        o->match_device = dev;
    if (!o->match_platform)
        o->match_platform = t->ctx.platform_name;
    if (o->name)
        return;
    snprintf(name, size, "%s-%s", strstr(t->ctx.platform_name, "Portable") ? "pocl" : "device",
             o->match_device);
    for (char *c = name; *c; c++)
        *c = (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a'
                    : ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')) ? *c : '-');
    o->name = name;
}

static int open_device(tuner *t, albert_error *err)
{
    int rc = ocl_ctx_open(t->opt->device, 0, &t->ctx, err);
    cl_ulong local = 0;
    cl_device_type type = 0;
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(t->ctx.device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local,
                                       &local, NULL),
                       "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)", err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(t->ctx.device, CL_DEVICE_TYPE, sizeof type, &type, NULL),
                       "clGetDeviceInfo(CL_DEVICE_TYPE)", err);
    t->cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    t->lim = (dev_limits){(size_t)local, t->ctx.max_work_group};
    return rc;
}

/* CLBlast's own switch point for the device, read before any override, and
 * the value that forces the direct path: that same one when it already
 * sends every GEMM the direct path is timed on there (PoCL's 896 does), so
 * that the direct search builds the very programs a profile keeping
 * CLBlast's switch point runs; else FORCE_DIRECT.  The timings are the
 * same either way. */
static int read_own_switch(tuner *t, albert_error *err)
{
    const clblast_kernel_spec *s = &clblast_kernel_specs[CLBLAST_GEMM_ROUTINE];
    size_t v = 0;
    int rc = clblast_check(clblast_params_get(t->ctx.device, s->kernel, s->params[0], &v),
                           "clblast_params_get", err);
    t->own_switch = (int)v;
    t->force_direct = v > DIRECT_EDGE && v < FORCE_DIRECT ? (int)v : FORCE_DIRECT;
    return rc;
}

/* Both searches' seeds, --start's values first when given. */
typedef struct seed_lists {
    int xgemm[N_XGEMM_SEEDS + 1][MAX_PARAMS], direct[N_DIRECT_SEEDS + 1][MAX_PARAMS];
    int first[2]; /* where each list starts: 0 with --start's values, else 1 */
} seed_lists;

/* Reads KS's parameters from the "clblast" object of a profile into P;
 * *GIVEN 0 when the profile leaves the kernel out, as any profile may. */
static int start_params(const char *path, const cJSON *clb, const kspace *ks, int *p,
                        int *given, albert_error *err)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(clb, spec_of(ks)->kernel);
    *given = o != NULL;
    for (int i = 0; o && i < (int)spec_of(ks)->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, spec_of(ks)->params[i]);
        if (!cJSON_IsNumber(v))
            return albert_fail(err, ALBERT_E_FORMAT, "%s: clblast.%s.%s is missing or not a number",
                               path, spec_of(ks)->kernel, spec_of(ks)->params[i]);
        p[i] = v->valueint;
    }
    return ALBERT_OK;
}

/* --start FILE's Xgemm and XgemmDirect, one of them at least. */
static int read_start(const char *path, seed_lists *sl, albert_error *err)
{
    char *text;
    size_t size;
    int rc = albert_read_file(path, &text, &size, err);
    if (rc != ALBERT_OK)
        return rc;
    cJSON *root = cJSON_Parse(text);
    const cJSON *clb = cJSON_GetObjectItemCaseSensitive(root, "clblast");
    int given[2] = {0, 0};
    rc = root ? start_params(path, clb, &xgemm_ks, sl->xgemm[0], &given[0], err)
              : albert_fail(err, ALBERT_E_FORMAT, "%s: not valid JSON", path);
    if (rc == ALBERT_OK)
        rc = start_params(path, clb, &direct_ks, sl->direct[0], &given[1], err);
    if (rc == ALBERT_OK && !given[0] && !given[1])
        rc = albert_fail(err, ALBERT_E_FORMAT, "%s: has neither clblast.%s nor clblast.%s", path,
                         spec_of(&xgemm_ks)->kernel, spec_of(&direct_ks)->kernel);
    sl->first[0] = !given[0];
    sl->first[1] = !given[1];
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int make_seeds(const options *o, int cpu, seed_lists *sl, albert_error *err)
{
    order_seeds(cpu, xgemm_seeds, N_XGEMM_SEEDS, sl->xgemm + 1);
    order_seeds(cpu, direct_seeds, N_DIRECT_SEEDS, sl->direct + 1);
    sl->first[0] = sl->first[1] = 1;
    return o->start ? read_start(o->start, sl, err) : ALBERT_OK;
}

/* One line per figure of measure(); with DEF, the defaults' beside it. */
static void print_figures(const tuner *t, const char *what, const double *g, const double *def)
{
    for (int s = 0; s < n_figures(t); s++) {
        char beside[48] = "";
        if (def)
            snprintf(beside, sizeof beside, " (defaults %.1f)", def[s]);
        fprintf(stderr, "albert-cl-tune: %s, %s %d: %.1f GFLOP/s%s\n", what,
                s < t->opt->n_shapes ? "shape" : REFERENCE_LABEL, s, g[s], beside);
    }
}

/* The switch point: searched, or on a tiny budget CLBlast's own, which
 * needs no timing (and, see read_own_switch, often no new program). */
static int choose_switch(tuner *t, albert_error *err)
{
    if (!t->tiny)
        return pick_switch(t, err);
    t->min_indirect = t->own_switch;
    return ALBERT_OK;
}

/* Xgemm's search, then XgemmDirect's, until NOW + CLBLAST (seconds). */
static int tune_clblast(tuner *t, const seed_lists *sl, double now, double clblast,
                        albert_error *err)
{
    const int fx = sl->first[0], fd = sl->first[1];
    memcpy(t->direct, sl->direct[fd], sizeof sl->direct[fd]);
    int rc = tune_kernel(t, &xgemm_ks, 0, sl->xgemm + fx, N_XGEMM_SEEDS + 1 - fx,
                         now + 0.7 * clblast, err);
    if (rc == ALBERT_OK)
        rc = tune_kernel(t, &direct_ks, 1, sl->direct + fd, N_DIRECT_SEEDS + 1 - fd,
                         now + clblast, err);
    return rc;
}

/* Defaults, the two searches, the switch point, the final figures. */
static int tune(tuner *t, double *def, double *best, albert_error *err)
{
    fprintf(stderr, "albert-cl-tune: %s / %s, %d GEMMs, budget %.0f s\n", t->ctx.platform_name,
            t->ctx.device_name, t->n_items, t->opt->budget);
    seed_lists sl;
    int rc = make_seeds(t->opt, t->cpu, &sl, err);
    if (rc == ALBERT_OK) /* before any override: CLBlast's own defaults */
        rc = measure(t, def, err);
    if (rc != ALBERT_OK)
        return rc;
    print_figures(t, "defaults", def, NULL);
    /* A budget the defaults used up gets a complete profile and no more:
     * each search's first candidate, CLBlast's switch point.  Else the last
     * 15% of the budget is for the switch point and the figures; of the
     * rest, linear.cl's tiles get 30% on a CPU (where it usually replaces
     * CLBlast for the Linears), 10% elsewhere. */
    const double now = now_s(), left = t->deadline - now - 0.15 * t->opt->budget;
    t->tiny = now >= t->deadline;
    if (t->tiny)
        fprintf(stderr, "albert-cl-tune: the defaults took the budget: one candidate per "
                        "search, CLBlast's switch point %d\n", t->own_switch);
    set_weights(t);
    rc = tune_clblast(t, &sl, now, left * (t->cpu ? 0.7 : 0.9), err);
    if (rc == ALBERT_OK)
        rc = choose_switch(t, err);
    if (rc == ALBERT_OK)
        rc = apply_all(t, err);
    if (rc == ALBERT_OK)
        rc = tune_linear(t, now + left, err);
    if (rc == ALBERT_OK && t->lin_on) /* again, without the Linears linear.cl took */
        rc = choose_switch(t, err);
    if (rc == ALBERT_OK)
        rc = apply_all(t, err);
    if (rc == ALBERT_OK)
        rc = measure(t, best, err);
    if (rc == ALBERT_OK)
        print_figures(t, "tuned", best, def);
    return rc;
}

static void release(tuner *t)
{
    linear_release(t);
    for (int i = 0; i < t->n_items; i++)
        free(t->items[i].ref);
    ocl_release_mem(&t->in_a);
    ocl_release_mem(&t->in_b);
    ocl_release_mem(&t->out_c);
    free(t->host_a);
    free(t->host_b);
    free(t->host_c);
    ocl_ctx_close(&t->ctx);
}

static int write_profile(const char *path, int out_fd, const char *text)
{
    FILE *f = path ? fopen(path, "w") : fdopen(out_fd, "w");
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "albert-cl-tune: cannot write %s\n", path ? path : "stdout");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static tuner t;
    options o;
    int prc = parse_args(argc, argv, &o);
    if (prc)
        return prc < 0 ? 0 : prc;
    /* CLBlast and PoCL may print build logs on stdout: keep it for the
     * profile and send everything else to stderr. */
    int out_fd = dup(1);
    if (out_fd < 0 || dup2(2, 1) < 0) {
        perror("albert-cl-tune: dup");
        return 1;
    }
    albert_error err = {0};
    double def[MAX_SHAPES + 1], best[MAX_SHAPES + 1];
    char name[128];
    t.opt = &o;
    t.start = now_s();
    t.deadline = t.start + o.budget;
    t.rng = (uint64_t)o.seed;
    int rc = load_config(&o, &t.cfg, &err);
    if (rc == ALBERT_OK)
        rc = open_device(&t, &err);
    if (rc == ALBERT_OK)
        rc = read_own_switch(&t, &err);
    if (rc == ALBERT_OK) {
        default_identity(&t, &o, name, sizeof name);
        build_items(&t);
        rc = setup_data(&t, &err);
    }
    if (rc == ALBERT_OK)
        rc = tune(&t, def, best, &err);
    char *text = rc == ALBERT_OK ? profile_json(&t, def, best) : NULL;
    release(&t);
    if (rc != ALBERT_OK) {
        fprintf(stderr, "albert-cl-tune: %s\n", err.msg);
        return 1;
    }
    int wrc = write_profile(o.out, out_fd, text);
    free(text);
    return wrc;
}
