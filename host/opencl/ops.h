/* The OpenCL backend's operations, one function per op, each the device twin
 * of a cpu/ops.h function (tests/test_backend_ops.c checks them against
 * each other).  They only enqueue work on ctx->queue; nothing waits. */
#ifndef ALBERT_OPENCL_OPS_H
#define ALBERT_OPENCL_OPS_H

#include "opencl/program_cache.h"

/* Activation code for "bias only" (albert_activation values otherwise). */
#define OCL_ACT_NONE (-1)
/* Bias kernels: OCL_ACT_NONE and every albert_activation, at act + 1. */
#define OCL_ACT_KINDS 7

/* The narrowest row work-group that may use sub-groups: at least the widest
 * sub-group a device may pick (Intel's CPU runtime picks 16 on AVX-512 and
 * then crashes now and then, in softmax_masked, on work-groups of 8). */
#define OCL_SUBGROUPS_MIN_WG 64

/* Kernel launch shapes, passed to the kernels as -D build options. */
typedef struct ocl_tunables {
    int wg_row;  /* work-group size of one-row-per-group kernels; a power of 2 */
    int wg_elem; /* work-group size of element-wise kernels */
    int vec;     /* elements per work-item in element-wise kernels */
    /* Linear GEMMs by kernels/linear.cl on weights packed into panels of
     * gemm_nr columns (a multiple of 16, at most 64), gemm_mr rows (1 to 16)
     * per work-item; gemm_nr 0: by CLBlast. */
    int gemm_mr, gemm_nr;
    /* Attention without a scores buffer for heads of attn_d floats; attn_d
     * 0: CLBlast GEMMs around softmax_masked.  attn_bq 0: kernels/attention.cl,
     * one query per one-item work-group (attn_d a multiple of 16 up to 128,
     * at most attn_max_t tokens); attn_bq > 0: kernels/attention_tiled.cl,
     * attn_bq queries (a power of 2) per work-group sharing key/value tiles
     * of attn_bk keys (1 to 64) in local memory (attn_d a multiple of 4 up
     * to 256, any T). */
    int attn_d, attn_max_t, attn_bq, attn_bk;
    /* 1: the row kernels reduce with sub-group built-ins (only where the
     * device has cl_khr_subgroups or cl_intel_subgroups, and with wg_row at
     * least OCL_SUBGROUPS_MIN_WG). */
    int subgroups;
    /* 1: Linear weights stored as halves (the fp16 precision), read by
     * kernels/linear.cl where gemm_nr divides N, else kernels/linear_tiled.cl,
     * never CLBlast; sums in float. */
    int half_weights;
} ocl_tunables;

void ocl_tunables_default(ocl_tunables *t);

/* Our program and its kernels for one context. */
typedef struct ocl_kernels {
    ocl_tunables tun;
    cl_program program;
    cl_kernel embed, residual_ln, softmax, pool, l2norm, combine;
    cl_kernel bias_act[OCL_ACT_KINDS];
    cl_kernel linear;    /* NULL unless tun.gemm_nr */
    cl_kernel linear_tiled; /* NULL unless tun.half_weights */
    cl_kernel attention; /* NULL unless tun.attn_d: attention_rows or _tiles */
} ocl_kernels;

/* Builds (or loads from the program cache in DIRS, NULL: the defaults) and
 * checks every kernel can run with TUN's work-group sizes on CTX's device. */
int ocl_kernels_create(ocl_ctx *ctx, const ocl_tunables *tun, const ocl_program_dirs *dirs,
                       ocl_kernels *k, albert_error *err);
void ocl_kernels_release(ocl_kernels *k);

/* The -D options TUN gives the kernels (what the program cache keys on). */
void ocl_tunables_options(const ocl_tunables *tun, char *dst, size_t size);

/* A GEMM operand: buffer, then offset, leading dimension and batch stride,
 * all in floats. */
typedef struct ocl_mat {
    cl_mem buf;
    size_t off, ld, stride;
} ocl_mat;

/* Row-major C[m,n] = alpha * A[m,k] * op(B), op(B) = B^T (B is [n,k]) when
 * TRANS_B, else B ([k,n]); BATCH > 1 repeats it at each operand's stride. */
int ocl_gemm(ocl_ctx *ctx, int trans_b, size_t m, size_t n, size_t k, float alpha, ocl_mat a,
             ocl_mat b, ocl_mat c, size_t batch, albert_error *err);

/* CLBlast's parameter PARAM (an index into its spec's names) of KERNEL
 * (CLBLAST_XGEMM, ...) in force for CTX's device. */
int ocl_clblast_param(ocl_ctx *ctx, int kernel, size_t param, size_t *value, albert_error *err);

typedef struct ocl_embed_weights {
    cl_mem word, pos, type; /* [V,E] [P,E] [TV,E] */
    cl_mem gamma, beta;     /* [E] */
} ocl_embed_weights;

/* A LayerNorm's parameters. */
typedef struct ocl_norm {
    cl_mem gamma, beta;
    float eps;
} ocl_norm;

/* cpu_embed: out[r, :] = LayerNorm(word[ids[r]] + type[types[r]] + pos[r % T]) for
 * ROWS = B*T tokens of E. */
int ocl_op_embed(ocl_ctx *ctx, const ocl_kernels *k, const ocl_embed_weights *w, float eps,
                 int rows, int T, int E, cl_mem ids, cl_mem types, cl_mem out, albert_error *err);

/* x[r, j] = act(x[r, j] + bias[j]) for ROWS x N; ACT OCL_ACT_NONE adds the
 * bias only. */
int ocl_op_bias_act(ocl_ctx *ctx, const ocl_kernels *k, int rows, int n, cl_mem bias, int act,
                    cl_mem x, albert_error *err);

/* 1 when a Linear weight of N rows is stored packed for K's linear kernel
 * (ocl_linear_pack), 0 when as is, [N,K], for CLBlast or linear_tiled. */
int ocl_linear_packed(const ocl_kernels *k, int N);

/* Bytes of one stored Linear weight element: 2 with half_weights, else 4. */
size_t ocl_weight_bytes(const ocl_kernels *k);

/* Local memory kernels/attention_tiled.cl takes for heads of D floats and
 * tiles of BK keys: a key and a value tile, the tile's mask and a flag. */
size_t ocl_attention_tile_bytes(int d, int bk);

/* 1 when ocl_op_attention runs K's attention kernel for heads of H / NH
 * floats over T tokens, 0 when CLBlast's batched GEMMs and the softmax. */
int ocl_attention_fused(const ocl_kernels *k, int H, int NH, int T);

/* W[N,K] rearranged into DST (N*K floats) as [N/NR][K][NR] panels. */
void ocl_linear_pack(int N, int K, int nr, const float *w, float *dst);

/* Uploads a Linear's weight W[N,K] as K's Linear GEMM wants it (packed or
 * not, see ocl_linear_packed; halves with half_weights); WHAT names it in
 * errors. */
int ocl_linear_upload(ocl_ctx *ctx, const ocl_kernels *k, int N, int K, const float *w,
                      cl_mem *out, const char *what, albert_error *err);

/* The GEMM of a Linear: y[M,N] = x[M,K] * w^T with W uploaded by
 * ocl_linear_upload and X's rows X.ld floats apart (the pooler reads every
 * T-th row). */
int ocl_op_linear_gemm(ocl_ctx *ctx, const ocl_kernels *k, int M, int N, int K, ocl_mat x,
                       cl_mem w, cl_mem y, albert_error *err);

/* cpu_linear + cpu_activate: y[M,N] = act(x[M,K] * w^T + bias), as
 * ocl_op_linear_gemm. */
int ocl_op_linear(ocl_ctx *ctx, const ocl_kernels *k, int M, int N, int K, ocl_mat x, cl_mem w,
                  cl_mem bias, int act, cl_mem y, albert_error *err);

/* cpu_layernorm with the Linear's bias fused: out = LayerNorm(x + bias +
 * res) over rows of N.  OUT may alias X or RES. */
int ocl_op_residual_layernorm(ocl_ctx *ctx, const ocl_kernels *k, int rows, int n, cl_mem x,
                              cl_mem bias, cl_mem res, const ocl_norm *norm, cl_mem out,
                              albert_error *err);

/* cpu_softmax_masked on scores[B, NH, T, T] (MASK is [B, T], never NULL). */
int ocl_op_softmax(ocl_ctx *ctx, const ocl_kernels *k, int B, int NH, int T, float scale,
                   cl_mem mask, cl_mem scores, albert_error *err);

/* cpu_attention: ctx_out[B*T, H] from the fused projections qkv[B*T, 3H],
 * with SCORES [B, NH, T, T] as scratch (unused when ocl_attention_fused). */
int ocl_op_attention(ocl_ctx *ctx, const ocl_kernels *k, int B, int T, int H, int NH, cl_mem qkv,
                     cl_mem mask, cl_mem scores, cl_mem ctx_out, albert_error *err);

/* cpu_pool for any albert_pooling but NONE and POOLER (MASK never NULL). */
int ocl_op_pool(ocl_ctx *ctx, const ocl_kernels *k, int B, int T, int H, cl_mem hidden,
                cl_mem mask, albert_pooling mode, cl_mem pooled, albert_error *err);

/* cpu_combine_layer. */
int ocl_op_combine_layer(ocl_ctx *ctx, const ocl_kernels *k, int rows, int H, cl_mem src, int W,
                         int offset, float scale, int first, cl_mem dst, albert_error *err);

/* albert_l2_normalize (core/backend.h). */
int ocl_op_l2_normalize(ocl_ctx *ctx, const ocl_kernels *k, int rows, int n, cl_mem x,
                        albert_error *err);

#endif
