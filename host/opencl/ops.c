/* The OpenCL backend's operations: CLBlast GEMMs and our kernels (see
 * opencl/ops.h).  Every launch goes through ocl_launch / ocl_gemm. */
#include "opencl/ops.h"

#include "core/safetensors.h"
#include "opencl/clblast_params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ocl_tunables_default(ocl_tunables *t)
{
    t->wg_row = 64;
    t->wg_elem = 64;
    t->vec = 4;
    t->gemm_mr = 0;
    t->gemm_nr = 0;
    t->attn_d = 0;
    t->attn_max_t = 0;
    t->attn_bq = 0;
    t->attn_bk = 0;
    t->subgroups = 0;
    t->half_weights = 0;
}

void ocl_tunables_options(const ocl_tunables *t, char *dst, size_t size)
{
    int n = snprintf(dst, size, "-cl-std=CL1.2 -DALBERT_WG_ROW=%d -DALBERT_WG_ELEM=%d -DALBERT_VW=%d",
                     t->wg_row, t->wg_elem, t->vec);
    if (t->gemm_nr && n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - (size_t)n, " -DALBERT_GEMM_MR=%d -DALBERT_GEMM_NR=%d",
                      t->gemm_mr, t->gemm_nr);
    if (t->attn_d && !t->attn_bq && n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - (size_t)n, " -DALBERT_ATTN_D=%d -DALBERT_ATTN_MAX_T=%d",
                      t->attn_d, t->attn_max_t);
    if (t->attn_d && t->attn_bq && n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - (size_t)n, " -DALBERT_ATTN_D=%d -DALBERT_ATTN_BQ=%d"
                      " -DALBERT_ATTN_BK=%d", t->attn_d, t->attn_bq, t->attn_bk);
    if (t->subgroups && n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - (size_t)n, " -DALBERT_SUBGROUPS=1");
    if (t->half_weights && n > 0 && (size_t)n < size)
        snprintf(dst + n, size - (size_t)n, " -DALBERT_HALF_WEIGHTS=1");
}

size_t ocl_attention_tile_bytes(int d, int bk)
{
    return (2 * (size_t)bk * (size_t)d + (size_t)bk + 1) * 4;
}

/* The tiled attention's shape, against the device's limits. */
static int check_attention_tiles(const ocl_ctx *c, const ocl_tunables *t, albert_error *err)
{
    const int bq = t->attn_bq;
    if (bq & (bq - 1) || t->attn_d % 4 || t->attn_d > 256 || t->attn_bk < 1 || t->attn_bk > 64)
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: attn_bq %d must be a power of 2, attn_d %d a "
                           "multiple of 4 up to 256 and attn_bk %d from 1 to 64",
                           bq, t->attn_d, t->attn_bk);
    if ((size_t)bq > c->max_work_group)
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: attn_bq %d exceeds the device's max work-group size "
                           "%zu", bq, c->max_work_group);
    const size_t need = ocl_attention_tile_bytes(t->attn_d, t->attn_bk);
    if (need > c->local_mem)
        return albert_fail(err, ALBERT_E_CAPACITY,
                           "tiled attention: tiles of %d keys of heads of %d floats need %zu bytes "
                           "of local memory, the device has %llu; lower kernels.attn_bk",
                           t->attn_bk, t->attn_d, need, (unsigned long long)c->local_mem);
    return ALBERT_OK;
}

static int check_tunables(const ocl_ctx *c, const ocl_tunables *t, albert_error *err)
{
    int rc = ALBERT_OK, pow2 = t->wg_row > 0 && (t->wg_row & (t->wg_row - 1)) == 0;
    if (!pow2 || t->wg_elem < 1 || t->vec < 1)
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: wg_row %d must be a power of 2, wg_elem %d and vec "
                           "%d at least 1",
                           t->wg_row, t->wg_elem, t->vec);
    if (t->gemm_nr && (t->gemm_nr % 16 || t->gemm_nr > 64 || t->gemm_mr < 1 || t->gemm_mr > 16))
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: gemm_nr %d must be 16, 32, 48 or 64 and gemm_mr %d "
                           "from 1 to 16",
                           t->gemm_nr, t->gemm_mr);
    if (t->attn_d && t->attn_bq)
        rc = check_attention_tiles(c, t, err);
    else if (t->attn_d && (t->attn_d % 16 || t->attn_d > 128 || t->attn_max_t < 1 ||
                           t->attn_max_t > 8192))
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: attn_d %d must be a multiple of 16 up to 128 and "
                           "attn_max_t %d from 1 to 8192",
                           t->attn_d, t->attn_max_t);
    if (rc == ALBERT_OK && t->subgroups && !c->subgroups)
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: subgroups on a device without cl_khr_subgroups or "
                           "cl_intel_subgroups");
    if (rc == ALBERT_OK && t->subgroups && t->wg_row < OCL_SUBGROUPS_MIN_WG)
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: subgroups need wg_row >= %d, not %d",
                           OCL_SUBGROUPS_MIN_WG, t->wg_row);
    size_t biggest = (size_t)(t->wg_row > t->wg_elem ? t->wg_row : t->wg_elem);
    if (rc == ALBERT_OK && biggest > c->max_work_group)
        return albert_fail(err, ALBERT_E_ARG,
                           "kernel tunables: work-group size %zu exceeds the device's %zu",
                           biggest, c->max_work_group);
    return rc;
}

/* Creates kernel NAME and checks the device can run it with LOCAL items. */
static int make_kernel(ocl_ctx *c, cl_program prog, const char *name, size_t local,
                       cl_kernel *out, albert_error *err)
{
    cl_int rc;
    *out = clCreateKernel(prog, name, &rc);
    char call[128];
    snprintf(call, sizeof call, "clCreateKernel (%.80s)", name);
    if (ocl_check(rc, call, err) != ALBERT_OK) {
        ocl_release_kernel(out);
        return ALBERT_E_DEVICE;
    }
    size_t max = 0;
    rc = clGetKernelWorkGroupInfo(*out, c->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max, &max,
                                  NULL);
    if (rc != CL_SUCCESS)
        return albert_fail(err, ALBERT_E_DEVICE, "clGetKernelWorkGroupInfo (%s): %s", name,
                           ocl_error_name(rc));
    cl_ulong local_mem = 0;
    rc = clGetKernelWorkGroupInfo(*out, c->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local_mem,
                                  &local_mem, NULL);
    if (rc != CL_SUCCESS)
        return albert_fail(err, ALBERT_E_DEVICE, "clGetKernelWorkGroupInfo (%s): %s", name,
                           ocl_error_name(rc));
    if (local_mem > c->local_mem)
        return albert_fail(err, ALBERT_E_CAPACITY,
                           "kernel %s: needs %llu bytes of local memory, the device has %llu",
                           name, (unsigned long long)local_mem, (unsigned long long)c->local_mem);
    if (local > max)
        return albert_fail(err, ALBERT_E_DEVICE,
                           "kernel %s: work-group size %zu exceeds the %zu it can run with", name,
                           local, max);
    return ALBERT_OK;
}

/* kernels/linear_tiled.cl's work-group: LT_DIM x LT_DIM items computing
 * LT_TILE x LT_TILE outputs. */
#define LINEAR_TILED_DIM 16
#define LINEAR_TILED_ITEMS (LINEAR_TILED_DIM * LINEAR_TILED_DIM)
#define LINEAR_TILED_TILE 64

/* kernels/activation.cl's bias kernels, at act + 1. */
static const char *const bias_kernel_names[OCL_ACT_KINDS] = {
    "bias_none", "bias_gelu", "bias_gelu_tanh", "bias_relu", "bias_silu", "bias_tanh",
    "bias_quick_gelu"};

int ocl_kernels_create(ocl_ctx *c, const ocl_tunables *tun, const ocl_program_dirs *dirs,
                       ocl_kernels *k, albert_error *err)
{
    memset(k, 0, sizeof *k);
    k->tun = *tun;
    int rc = check_tunables(c, tun, err);
    char options[256];
    ocl_tunables_options(tun, options, sizeof options);
    if (rc == ALBERT_OK)
        rc = ocl_program_get(c, dirs, options, &k->program, err);
    const size_t row = (size_t)tun->wg_row, elem = (size_t)tun->wg_elem;
    struct {
        const char *name;
        size_t local;
        cl_kernel *slot;
    } list[] = {
        {"embed_layernorm", row, &k->embed},   {"residual_layernorm", row, &k->residual_ln},
        {"softmax_masked", row, &k->softmax},  {"pool", elem, &k->pool},
        {"l2_normalize", row, &k->l2norm},     {"combine_layer", elem, &k->combine},
    };
    for (size_t i = 0; rc == ALBERT_OK && i < sizeof list / sizeof list[0]; i++)
        rc = make_kernel(c, k->program, list[i].name, list[i].local, list[i].slot, err);
    for (int i = 0; rc == ALBERT_OK && i < OCL_ACT_KINDS; i++)
        rc = make_kernel(c, k->program, bias_kernel_names[i], elem, &k->bias_act[i], err);
    if (rc == ALBERT_OK && tun->gemm_nr)
        rc = make_kernel(c, k->program, "linear_packed", 1, &k->linear, err);
    if (rc == ALBERT_OK && tun->half_weights)
        rc = make_kernel(c, k->program, "linear_tiled", LINEAR_TILED_ITEMS, &k->linear_tiled,
                         err);
    if (rc == ALBERT_OK && tun->attn_d)
        rc = tun->attn_bq ? make_kernel(c, k->program, "attention_tiles", (size_t)tun->attn_bq,
                                        &k->attention, err)
                          : make_kernel(c, k->program, "attention_rows", 1, &k->attention, err);
    if (rc != ALBERT_OK)
        ocl_kernels_release(k);
    return rc;
}

void ocl_kernels_release(ocl_kernels *k)
{
    cl_kernel *all[] = {&k->embed, &k->residual_ln, &k->softmax, &k->pool, &k->l2norm, &k->combine,
                        &k->linear, &k->linear_tiled, &k->attention};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ocl_release_kernel(all[i]);
    for (int i = 0; i < OCL_ACT_KINDS; i++)
        ocl_release_kernel(&k->bias_act[i]);
    ocl_release_program(&k->program);
}

int ocl_clblast_param(ocl_ctx *c, int kernel, size_t param, size_t *value, albert_error *err)
{
    const clblast_kernel_spec *s = &clblast_kernel_specs[kernel];
    return clblast_check(clblast_params_get(c->device, s->kernel, s->params[param], value),
                         "CLBlast RetrieveParameters", err);
}

/* CLBlast 1.5.3's strided-batched GEMM computes wrong results on its
 * indirect path under Xgemm's GEMMK=1 kernel (2D register tiling), where
 * its plain GEMM is right (albert-cl-tune met it, --validate shows it):
 * such a batch runs as plain GEMMs, one per item.  The direct path, below
 * XGEMM_MIN_INDIRECT_SIZE cubed, never runs Xgemm. */
static int batch_needs_split(ocl_ctx *c, size_t m, size_t n, size_t k, int *split,
                             albert_error *err)
{
    size_t gemmk = 0, side = 0;
    int rc = ocl_clblast_param(c, CLBLAST_XGEMM, 0 /* GEMMK */, &gemmk, err);
    if (rc == ALBERT_OK)
        rc = ocl_clblast_param(c, CLBLAST_GEMM_ROUTINE, 0 /* XGEMM_MIN_INDIRECT_SIZE */, &side,
                               err);
    const unsigned long long mnk = (unsigned long long)m * n * k,
                             cube = (unsigned long long)side * side * side;
    *split = rc == ALBERT_OK && gemmk == 1 && mnk >= cube;
    return rc;
}

static int gemm_one(ocl_ctx *c, CLBlastTranspose tb, size_t m, size_t n, size_t k, float alpha,
                    ocl_mat a, ocl_mat b, ocl_mat cm, albert_error *err)
{
    const ocl_work work = {2 * (uint64_t)m * n * k, sizeof(float) * (uint64_t)(m * k + n * k + m * n)};
    return clblast_check(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, tb, m, n, k, alpha,
                                      a.buf, a.off, a.ld, b.buf, b.off, b.ld, 0.0f, cm.buf, cm.off,
                                      cm.ld, &c->queue,
                                      ocl_event_span_slot(c, "CLBlastSgemm", work)),
                         "CLBlastSgemm", err);
}

int ocl_gemm(ocl_ctx *c, int trans_b, size_t m, size_t n, size_t k, float alpha, ocl_mat a,
             ocl_mat b, ocl_mat cm, size_t batch, albert_error *err)
{
    const CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    int split = batch == 1;
    int rc = split ? ALBERT_OK : batch_needs_split(c, m, n, k, &split, err);
    for (size_t i = 0; rc == ALBERT_OK && split && i < batch; i++) {
        ocl_mat ai = a, bi = b, ci = cm;
        ai.off += i * a.stride;
        bi.off += i * b.stride;
        ci.off += i * cm.stride;
        rc = gemm_one(c, tb, m, n, k, alpha, ai, bi, ci, err);
    }
    if (rc != ALBERT_OK || split)
        return rc;
    const ocl_work work = {2 * (uint64_t)m * n * k * batch,
                           sizeof(float) * (uint64_t)(m * k + n * k + m * n) * batch};
    return clblast_check(
        CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, tb, m, n, k, alpha,
                                   a.buf, a.off, a.ld, a.stride, b.buf, b.off, b.ld, b.stride,
                                   0.0f, cm.buf, cm.off, cm.ld, cm.stride, batch, &c->queue,
                                   ocl_event_span_slot(c, "CLBlastSgemmStridedBatched", work)),
        "CLBlastSgemmStridedBatched", err);
}

/* One work-group of wg_row items per row. */
static int launch_rows(ocl_ctx *c, const ocl_kernels *k, cl_kernel kernel, const char *name,
                       ocl_work work, const ocl_arg *args, int nargs, size_t rows,
                       albert_error *err)
{
    const size_t local = (size_t)k->tun.wg_row, global = rows * local;
    return ocl_launch(c, kernel, name, work, args, nargs, 1, &global, &local, err);
}

/* The least traffic of a memory-bound kernel: FLOATS floats and INTS ints. */
static ocl_work traffic(uint64_t floats, uint64_t ints)
{
    return (ocl_work){0, floats * sizeof(float) + ints * sizeof(int32_t)};
}

#define NARGS(a) ((int)(sizeof(a) / sizeof(a)[0]))

int ocl_op_embed(ocl_ctx *c, const ocl_kernels *k, const ocl_embed_weights *w, float eps,
                 int rows, int T, int E, cl_mem ids, cl_mem types, cl_mem out, albert_error *err)
{
    ocl_arg args[] = {OCL_MEM(ids),     OCL_MEM(types),   OCL_MEM(w->word), OCL_MEM(w->pos),
                      OCL_MEM(w->type), OCL_MEM(w->gamma), OCL_MEM(w->beta), OCL_INT(T),
                      OCL_INT(E),       OCL_FLOAT(eps),   OCL_MEM(out)};
    const uint64_t r = (uint64_t)rows, e = (uint64_t)E;
    return launch_rows(c, k, k->embed, "embed_layernorm", traffic(4 * r * e, 2 * r), args,
                       NARGS(args), (size_t)rows, err);
}

int ocl_op_bias_act(ocl_ctx *c, const ocl_kernels *k, int rows, int n, cl_mem bias, int act,
                    cl_mem x, albert_error *err)
{
    const size_t vec = (size_t)k->tun.vec, local[2] = {(size_t)k->tun.wg_elem, 1};
    const size_t global[2] = {ocl_round_up(((size_t)n + vec - 1) / vec, local[0]), (size_t)rows};
    const uint64_t total = (uint64_t)rows * (uint64_t)n;
    ocl_arg args[] = {OCL_MEM(x), OCL_MEM(bias), OCL_INT(n)};
    return ocl_launch(c, k->bias_act[act + 1], bias_kernel_names[act + 1],
                      traffic(2 * total + (uint64_t)n, 0), args, NARGS(args), 2, global, local,
                      err);
}

int ocl_linear_packed(const ocl_kernels *k, int N)
{
    return k->linear && N % k->tun.gemm_nr == 0;
}

int ocl_attention_fused(const ocl_kernels *k, int H, int NH, int T)
{
    return k->attention && H / NH == k->tun.attn_d && (k->tun.attn_bq || T <= k->tun.attn_max_t);
}

void ocl_linear_pack(int N, int K, int nr, const float *w, float *dst)
{
    for (int panel = 0; panel < N / nr; panel++)
        for (int p = 0; p < K; p++)
            for (int j = 0; j < nr; j++)
                *dst++ = w[(size_t)(panel * nr + j) * (size_t)K + (size_t)p];
}

size_t ocl_weight_bytes(const ocl_kernels *k)
{
    return k->tun.half_weights ? sizeof(uint16_t) : sizeof(float);
}

int ocl_linear_upload(ocl_ctx *c, const ocl_kernels *k, int N, int K, const float *w,
                      cl_mem *out, const char *what, albert_error *err)
{
    const size_t n = (size_t)N * (size_t)K;
    const int packed = ocl_linear_packed(k, N), half = k->tun.half_weights;
    if (!packed && !half)
        return ocl_buffer(c, CL_MEM_READ_ONLY, n * sizeof(float), w, out, what, err);
    float *staged = packed ? malloc(n * sizeof *staged) : NULL;
    uint16_t *halves = half ? malloc(n * sizeof *halves) : NULL;
    int rc = (packed && !staged) || (half && !halves)
                 ? albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", what)
                 : ALBERT_OK;
    const float *src = w;
    if (rc == ALBERT_OK && packed) {
        ocl_linear_pack(N, K, k->tun.gemm_nr, w, staged);
        src = staged;
    }
    for (size_t i = 0; rc == ALBERT_OK && half && i < n; i++)
        halves[i] = st_f32_to_f16(src[i]);
    if (rc == ALBERT_OK)
        rc = ocl_buffer(c, CL_MEM_READ_ONLY, n * ocl_weight_bytes(k),
                        half ? (const void *)halves : (const void *)src, out, what, err);
    free(staged);
    free(halves);
    return rc;
}

/* ocl_op_linear_gemm, and on our kernels the bias (when BIAS) and
 * activation too; *FUSED says whether they were.  Our kernels: linear.cl on
 * packed weights (one item per MR x NR tile), else, for half weights,
 * linear_tiled.cl (LINEAR_TILED_TILE square tiles per work-group). */
static int linear_gemm(ocl_ctx *c, const ocl_kernels *k, int M, int N, int K, ocl_mat x,
                       cl_mem w, cl_mem bias, int act, cl_mem y, int *fused, albert_error *err)
{
    *fused = 0;
    const int packed = ocl_linear_packed(k, N);
    if (!packed && !k->tun.half_weights) {
        ocl_mat wm = {w, 0, (size_t)K, 0}, ym = {y, 0, (size_t)N, 0};
        return ocl_gemm(c, 1, (size_t)M, (size_t)N, (size_t)K, 1.0f, x, wm, ym, 1, err);
    }
    if (x.off)
        return albert_fail(err, ALBERT_E_ARG, "linear kernels: x must start at offset 0");
    const size_t mr = (size_t)k->tun.gemm_mr, tile = LINEAR_TILED_TILE;
    const size_t packed_local[2] = {1, 1}, tiled_local[2] = {LINEAR_TILED_DIM, LINEAR_TILED_DIM};
    const size_t global[2] = {
        packed ? (size_t)(N / k->tun.gemm_nr) : ((size_t)N + tile - 1) / tile * LINEAR_TILED_DIM,
        packed ? ((size_t)M + mr - 1) / mr : ((size_t)M + tile - 1) / tile * LINEAR_TILED_DIM};
    const uint64_t m = (uint64_t)M, n = (uint64_t)N, kk = (uint64_t)K;
    const ocl_work work = {2 * m * n * kk,
                           sizeof(float) * (m * kk + m * n) + ocl_weight_bytes(k) * n * kk};
    ocl_arg args[] = {OCL_INT(M), OCL_INT(N), OCL_INT(K),   OCL_MEM(x.buf), OCL_INT((int)x.ld),
                      OCL_MEM(w), OCL_MEM(bias), OCL_INT(act), OCL_MEM(y)};
    *fused = 1;
    return ocl_launch(c, packed ? k->linear : k->linear_tiled,
                      packed ? "linear_packed" : "linear_tiled", work, args, NARGS(args), 2,
                      global, packed ? packed_local : tiled_local, err);
}

int ocl_op_linear_gemm(ocl_ctx *c, const ocl_kernels *k, int M, int N, int K, ocl_mat x,
                       cl_mem w, cl_mem y, albert_error *err)
{
    int fused;
    return linear_gemm(c, k, M, N, K, x, w, NULL, OCL_ACT_NONE, y, &fused, err);
}

int ocl_op_linear(ocl_ctx *c, const ocl_kernels *k, int M, int N, int K, ocl_mat x, cl_mem w,
                  cl_mem bias, int act, cl_mem y, albert_error *err)
{
    int fused;
    int rc = linear_gemm(c, k, M, N, K, x, w, bias, act, y, &fused, err);
    return rc == ALBERT_OK && !fused ? ocl_op_bias_act(c, k, M, N, bias, act, y, err) : rc;
}

int ocl_op_residual_layernorm(ocl_ctx *c, const ocl_kernels *k, int rows, int n, cl_mem x,
                              cl_mem bias, cl_mem res, const ocl_norm *norm, cl_mem out,
                              albert_error *err)
{
    ocl_arg args[] = {OCL_MEM(x),           OCL_MEM(bias),       OCL_MEM(res),
                      OCL_MEM(norm->gamma), OCL_MEM(norm->beta), OCL_INT(n),
                      OCL_FLOAT(norm->eps), OCL_MEM(out)};
    const uint64_t all = (uint64_t)rows * (uint64_t)n;
    return launch_rows(c, k, k->residual_ln, "residual_layernorm",
                       traffic(3 * all + 3 * (uint64_t)n, 0), args, NARGS(args), (size_t)rows,
                       err);
}

int ocl_op_softmax(ocl_ctx *c, const ocl_kernels *k, int B, int NH, int T, float scale,
                   cl_mem mask, cl_mem scores, albert_error *err)
{
    ocl_arg args[] = {OCL_MEM(scores), OCL_MEM(mask), OCL_INT(NH), OCL_INT(T), OCL_FLOAT(scale)};
    const uint64_t rows = (uint64_t)B * (uint64_t)NH * (uint64_t)T;
    return launch_rows(c, k, k->softmax, "softmax_masked",
                       traffic(2 * rows * (uint64_t)T, (uint64_t)B * (uint64_t)T), args,
                       NARGS(args), (size_t)rows, err);
}

/* kernels/attention.cl (one query per one-item work-group) or, with
 * attn_bq, kernels/attention_tiled.cl (attn_bq queries per work-group share
 * each key/value tile): no scores buffer, no softmax pass. */
static int attention_fused(ocl_ctx *c, const ocl_kernels *k, int B, int T, int H, int NH,
                           cl_mem qkv, cl_mem mask, cl_mem ctx_out, albert_error *err)
{
    const size_t bq = k->tun.attn_bq ? (size_t)k->tun.attn_bq : 1;
    const size_t global[3] = {ocl_round_up((size_t)T, bq), (size_t)NH, (size_t)B};
    const size_t local[3] = {bq, 1, 1};
    const uint64_t tok = (uint64_t)B * (uint64_t)T, t = (uint64_t)T, h = (uint64_t)H;
    const ocl_work work = {4 * tok * t * h, sizeof(float) * (tok * 3 * h + tok * h)};
    ocl_arg args[] = {OCL_MEM(qkv), OCL_MEM(mask), OCL_MEM(ctx_out),
                      OCL_INT(T),   OCL_INT(H),    OCL_FLOAT(1.0f / sqrtf((float)(H / NH)))};
    return ocl_launch(c, k->attention, k->tun.attn_bq ? "attention_tiles" : "attention_rows",
                      work, args, NARGS(args), 3, global, local, err);
}

int ocl_op_attention(ocl_ctx *c, const ocl_kernels *k, int B, int T, int H, int NH, cl_mem qkv,
                     cl_mem mask, cl_mem scores, cl_mem ctx_out, albert_error *err)
{
    /* Heads are column blocks of D inside each token's q | k | v row, so the
     * per-head GEMMs read qkv in place through leading dimension 3H and a
     * batch stride of D: no transposes.  One strided batch per sequence. */
    const size_t t = (size_t)T, h = (size_t)H, d = h / (size_t)NH, tt = t * t;
    if (ocl_attention_fused(k, H, NH, T))
        return attention_fused(c, k, B, T, H, NH, qkv, mask, ctx_out, err);
    int rc = ALBERT_OK;
    for (size_t b = 0; rc == ALBERT_OK && b < (size_t)B; b++) {
        ocl_mat q = {qkv, b * t * 3 * h, 3 * h, d}, kk = {qkv, b * t * 3 * h + h, 3 * h, d};
        ocl_mat s = {scores, b * (size_t)NH * tt, t, tt};
        rc = ocl_gemm(c, 1, t, t, d, 1.0f, q, kk, s, (size_t)NH, err);
    }
    if (rc == ALBERT_OK)
        rc = ocl_op_softmax(c, k, B, NH, T, 1.0f / sqrtf((float)d), mask, scores, err);
    for (size_t b = 0; rc == ALBERT_OK && b < (size_t)B; b++) {
        ocl_mat p = {scores, b * (size_t)NH * tt, t, tt};
        ocl_mat v = {qkv, b * t * 3 * h + 2 * h, 3 * h, d}, o = {ctx_out, b * t * h, h, d};
        rc = ocl_gemm(c, 0, t, d, t, 1.0f, p, v, o, (size_t)NH, err);
    }
    return rc;
}

int ocl_op_pool(ocl_ctx *c, const ocl_kernels *k, int B, int T, int H, cl_mem hidden,
                cl_mem mask, albert_pooling mode, cl_mem pooled, albert_error *err)
{
    const size_t local[2] = {(size_t)k->tun.wg_elem, 1};
    const size_t global[2] = {ocl_round_up((size_t)H, local[0]), (size_t)B};
    ocl_arg args[] = {OCL_MEM(hidden), OCL_MEM(mask), OCL_INT(T), OCL_INT(H), OCL_INT(mode),
                      OCL_MEM(pooled)};
    const uint64_t read_rows = mode == ALBERT_POOL_CLS ? (uint64_t)B : (uint64_t)B * (uint64_t)T;
    const ocl_work work = traffic((read_rows + (uint64_t)B) * (uint64_t)H, (uint64_t)B * (uint64_t)T);
    return ocl_launch(c, k->pool, "pool", work, args, NARGS(args), 2, global, local, err);
}

int ocl_op_combine_layer(ocl_ctx *c, const ocl_kernels *k, int rows, int H, cl_mem src, int W,
                         int offset, float scale, int first, cl_mem dst, albert_error *err)
{
    const size_t local[2] = {(size_t)k->tun.wg_elem, 1};
    const size_t global[2] = {ocl_round_up((size_t)H, local[0]), (size_t)rows};
    ocl_arg args[] = {OCL_MEM(src), OCL_MEM(dst), OCL_INT(H), OCL_INT(W), OCL_INT(offset),
                      OCL_FLOAT(scale), OCL_INT(first)};
    const uint64_t n = (uint64_t)rows * (uint64_t)H;
    return ocl_launch(c, k->combine, "combine_layer", traffic(first ? 2 * n : 3 * n, 0), args,
                      NARGS(args), 2, global, local, err);
}

int ocl_op_l2_normalize(ocl_ctx *c, const ocl_kernels *k, int rows, int n, cl_mem x,
                        albert_error *err)
{
    ocl_arg args[] = {OCL_MEM(x), OCL_INT(n)};
    return launch_rows(c, k, k->l2norm, "l2_normalize", traffic(2 * (uint64_t)rows * (uint64_t)n, 0),
                       args, NARGS(args), (size_t)rows, err);
}
