/* The CPU backend's Linears on oneDNN's matmul (linear_lowp.h).  One
 * primitive per weight and row count: oneDNN's brgemm kernels (AMX,
 * AVX512-BF16, VNNI), 3 to 5 times faster than its gemm, need the row count
 * when they are made, which a run-time dimension (DNNL_RUNTIME_DIM_VAL)
 * leaves out.  Rows are padded (lowp_padded_rows), so a run meets a
 * bounded number of shapes; each is made once (a few ms of JIT). */
#include "cpu/linear_lowp.h"

#include "core/common.h"
#include "cpu/onednn.h"
#include "cpu/ops.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The row count the weights' layout is chosen for: brgemm's layout depends
 * on N, K and the ISA only, so every row count takes it. */
#define LAYOUT_ROWS 256

struct lowp_linear {
    lowp_context *ctx;
    int precision, N, K;
    int act;      /* LOWP_NO_ACT or the albert_activation fused as a post-op */
    bool next_input;
    float *col_scales;           /* int8: per output column, for each primitive made */
    dnnl_primitive_t *by_rows;   /* [i]: the primitive for 8 (i + 1) rows, or NULL */
    size_t n_by_rows;
    dnnl_memory_desc_t weights_md;
    dnnl_memory_t weights, bias; /* weights in the primitives' own layout; bias: bf16 only */
    float *bias_int8;            /* int8: added after the scales */
    float *wsum;                 /* int8: per column, scale * sum of its quantized weights */
};

bool lowp_supported(int precision)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa(), need;
    if (precision == ALBERT_PRECISION_FP32)
        return true;
    if (precision == ALBERT_PRECISION_BF16)
        need = dnnl_cpu_isa_avx512_core_bf16;
    else if (precision == ALBERT_PRECISION_INT8)
        need = dnnl_cpu_isa_avx512_core_vnni;
    else
        return false;
    return (isa & need) == need;
}

/* ------------------------------------------------------------ conversions */

#define SPAN 16384

static void round_bf16(size_t n, const float *x, uint16_t *out)
{
    size_t spans = (n + SPAN - 1) / SPAN;
#pragma omp parallel for if (spans > 4)
    for (size_t s = 0; s < spans; s++)
        onednn_round_bf16(s + 1 < spans ? SPAN : n - s * SPAN, x + s * SPAN, out + s * SPAN);
}

/* Each of ROWS rows of N: q = round(x / scale) with scale = max |x| / 127
 * (1 for a zero row), ties to even, into OUT; the scales into SCALES. */
static void quantize_rows(size_t rows, size_t n, const float *x, int8_t *out, float *scales)
{
#pragma omp parallel for if (rows * n > 65536)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float top = 0.0f;
#pragma omp simd reduction(max : top)
        for (size_t i = 0; i < n; i++)
            top = fabsf(xr[i]) > top ? fabsf(xr[i]) : top;
        float scale = top > 0.0f ? top / 127.0f : 1.0f, inv = 1.0f / scale;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            /* 1.5 * 2^23 rounds to an integer, ties to even, and vectorises. */
            float q = (xr[i] * inv + 12582912.0f) - 12582912.0f;
            q = q < -127.0f ? -127.0f : q > 127.0f ? 127.0f : q;
            out[r * n + i] = (int8_t)(int32_t)q;
        }
        scales[r] = scale;
    }
}

/* A row holding NaN or an infinity: scale NaN, so the row's outputs are
 * NaN and the caller's check of the vectors reports it, where a quantized
 * row would hide it. */
static void quantize_nonfinite(size_t n, uint8_t *out, float *scale_out, float *zero_out)
{
    memset(out, 0, n);
    *scale_out = NAN;
    *zero_out = 0.0f;
}

/* Each of ROWS rows of N, asymmetrically: q = round(x / scale) + zero in
 * [0, 255] with scale = (max - min) / 255 over the row and zero = round(-min
 * / scale), so the row's whole range uses all 256 steps (a GELU's output,
 * nearly all positive, would waste half of a symmetric code). */
WIDEST_VECTORS static void quantize_row_u8(size_t n, const float *xr, uint8_t *out,
                                           float *scale_out, float *zero_out)
{
    float lo = 0.0f, hi = 0.0f; /* zero stays representable exactly */
    int bad = 0;
        /* omp simd: these reductions may be reordered, so they vectorise. */
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(| : bad)
    for (size_t i = 0; i < n; i++) {
        lo = xr[i] < lo ? xr[i] : lo;
        hi = xr[i] > hi ? xr[i] : hi;
        bad |= !(fabsf(xr[i]) <= FLT_MAX);
    }
    if (bad) {
        quantize_nonfinite(n, out, scale_out, zero_out);
        return;
    }
    float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / scale;
    float zero = (-lo * inv + 12582912.0f) - 12582912.0f;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float q = (xr[i] * inv + 12582912.0f) - 12582912.0f + zero;
        q = q < 0.0f ? 0.0f : q > 255.0f ? 255.0f : q;
        out[i] = (uint8_t)(int32_t)q;
    }
    *scale_out = scale;
    *zero_out = zero;
}

#ifdef CPU_AVX512
/* quantize_row_u8 for rows of a multiple of 64, as it computes them.  The
 * compiler's version kept one min and one max vector, each max waiting for
 * the last (4 cycles a step), and emulated the clamp and the narrowing to
 * bytes with mask shuffles: together 9% of an int8 forward. */
__attribute__((target("avx512f"))) static void quantize_row_u8_avx512(size_t n, const float *xr,
                                                                      uint8_t *out,
                                                                      float *scale_out,
                                                                      float *zero_out)
{
    __m512 lo[4], hi[4];
    const __m512 biggest = _mm512_set1_ps(FLT_MAX);
    __mmask16 bad = 0;
    for (int j = 0; j < 4; j++)
        lo[j] = hi[j] = _mm512_setzero_ps(); /* zero stays representable exactly */
    for (size_t i = 0; i < n; i += 64)
        for (int j = 0; j < 4; j++) {
            __m512 v = _mm512_loadu_ps(xr + i + 16 * j);
            lo[j] = _mm512_min_ps(lo[j], v);
            hi[j] = _mm512_max_ps(hi[j], v);
            bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(v), biggest, _CMP_NLE_UQ);
        }
    if (bad) {
        quantize_nonfinite(n, out, scale_out, zero_out);
        return;
    }
    float vlo = _mm512_reduce_min_ps(_mm512_min_ps(_mm512_min_ps(lo[0], lo[1]),
                                                   _mm512_min_ps(lo[2], lo[3])));
    float vhi = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(hi[0], hi[1]),
                                                   _mm512_max_ps(hi[2], hi[3])));
    float scale = vhi > vlo ? (vhi - vlo) / 255.0f : 1.0f, inv = 1.0f / scale;
    float zero = (-vlo * inv + 12582912.0f) - 12582912.0f;
    const __m512 vinv = _mm512_set1_ps(inv), vzero = _mm512_set1_ps(zero);
    const __m512 top = _mm512_set1_ps(255.0f);
    for (size_t i = 0; i < n; i += 16) {
        __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + i), vinv),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, vzero), _mm512_setzero_ps()), top);
        _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(q)));
    }
    *scale_out = scale;
    *zero_out = zero;
}
#endif

/* The fastest quantize_row_u8 this CPU and N take. */
static void quantize_row_u8_any(size_t n, const float *xr, uint8_t *out, float *scale,
                                float *zero)
{
#ifdef CPU_AVX512
    if (n % 64 == 0 && __builtin_cpu_supports("avx512f")) {
        quantize_row_u8_avx512(n, xr, out, scale, zero);
        return;
    }
#endif
    quantize_row_u8(n, xr, out, scale, zero);
}

static void quantize_rows_u8(size_t rows, size_t n, const float *x, uint8_t *out, float *scales,
                             float *zeros)
{
#pragma omp parallel for if (rows * n > 65536)
    for (size_t r = 0; r < rows; r++)
        quantize_row_u8_any(n, x + r * n, out + r * n, &scales[r], &zeros[r]);
}

/* From oneDNN's y = wscale[c] * sum q_x q_w: y = scale[r] * (y - zero[r] *
 * wsum[c]) + bias[c] (bias NULL: none), then ACT (LOWP_NO_ACT: none) on the
 * row while it is in cache. */
WIDEST_VECTORS static void dequantize_row(size_t n, float scale, float zero, const float *wsum,
                                          const float *bias, float *yr)
{
    for (size_t i = 0; i < n; i++)
        yr[i] = scale * (yr[i] - zero * wsum[i]) + (bias ? bias[i] : 0.0f);
}

/* An int8 input block: the row scales and zero points (4-byte aligned),
 * then the values; padded rows (lowp_scratch_bytes). */
typedef struct int8_block {
    float *scales, *zeros;
    uint8_t *values;
} int8_block;

static int8_block int8_block_at(void *at, size_t rows)
{
    int8_block b = {at, (float *)at + rows, (uint8_t *)((float *)at + 2 * rows)};
    return b;
}

/* Dequantizes Y's ROWS rows of N (IN: the input's row scales and zero
 * points), then ACT; with OUT, each row quantized into it while in cache
 * (row R's input scale is read before its output scale is written, so OUT
 * may be IN's own block). */
static void dequantize_rows(size_t rows, size_t n, const int8_block *in, const float *wsum,
                            const float *bias, int act, float *y, const int8_block *out)
{
#pragma omp parallel for if (rows * n > 65536)
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * n;
        dequantize_row(n, in->scales[r], in->zeros[r], wsum, bias, yr);
        if (act != LOWP_NO_ACT)
            cpu_activate_row((albert_activation)act, (int)n, yr);
        if (out)
            quantize_row_u8_any(n, yr, out->values + r * n, &out->scales[r], &out->zeros[r]);
    }
}

/* ------------------------------------------------------------ primitives */

/* int8: activations u8 (asymmetric, VNNI's native u8 x s8), weights s8. */
static dnnl_data_type_t input_type(int precision)
{
    return precision == ALBERT_PRECISION_INT8   ? dnnl_u8
           : precision == ALBERT_PRECISION_FP32 ? dnnl_f32
                                                : dnnl_bf16;
}

static dnnl_data_type_t weight_type(int precision)
{
    return precision == ALBERT_PRECISION_INT8   ? dnnl_s8
           : precision == ALBERT_PRECISION_FP32 ? dnnl_f32
                                                : dnnl_bf16;
}

/* Bytes of one weight. */
static size_t weight_bytes(int precision)
{
    return precision == ALBERT_PRECISION_INT8 ? 1 : precision == ALBERT_PRECISION_FP32 ? 4 : 2;
}

/* A plain row-major [ROWS, COLS] descriptor (ROWS may be the run-time one). */
static dnnl_status_t plain_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols,
                              dnnl_data_type_t type, dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = {rows, cols};
    return dnnl_memory_desc_init_by_tag(md, 2, dims, type, tag);
}

static dnnl_data_type_t output_type(const lowp_linear *l)
{
    return l->next_input && l->precision == ALBERT_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* oneDNN's eltwise algorithm and alpha for ACT (beta is 0 for all). */
static dnnl_alg_kind_t eltwise_of(int act, float *alpha)
{
    *alpha = 0.0f;
    switch (act) {
    case ALBERT_ACT_GELU:
        return dnnl_eltwise_gelu_erf;
    case ALBERT_ACT_GELU_TANH:
        return dnnl_eltwise_gelu_tanh;
    case ALBERT_ACT_RELU:
        return dnnl_eltwise_relu;
    case ALBERT_ACT_SILU:
        *alpha = 1.0f;
        return dnnl_eltwise_swish; /* x sigmoid(alpha x) */
    case ALBERT_ACT_TANH:
        return dnnl_eltwise_tanh;
    default: /* ALBERT_ACT_QUICK_GELU */
        *alpha = 1.702f;
        return dnnl_eltwise_swish;
    }
}

/* The activation as an eltwise post-op: applied to each output tile while
 * it is in cache, instead of a pass over the whole [M, N] output. */
static dnnl_status_t add_activation(dnnl_primitive_attr_t attr, int act)
{
    dnnl_post_ops_t ops = NULL;
    float alpha;
    dnnl_alg_kind_t alg = eltwise_of(act, &alpha);
    dnnl_status_t s = dnnl_post_ops_create(&ops);
    if (s == dnnl_success)
        s = dnnl_post_ops_append_eltwise(ops, 1.0f, alg, alpha, 0.0f);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_post_ops(attr, ops);
    dnnl_post_ops_destroy(ops);
    return s;
}

/* The matmul of ROWS rows with WEIGHTS (the packed layout, or "any" to
 * have one chosen).  int8 multiplies each output column by its weight scale
 * (oneDNN's output scales, mask: dimension 1); the bias comes after the row
 * scale. */
static int make_pd(const lowp_linear *l, int64_t rows, const dnnl_memory_desc_t *weights,
                   bool has_bias, dnnl_primitive_desc_t *pd, albert_error *err)
{
    const bool int8 = l->precision == ALBERT_PRECISION_INT8;
    dnnl_memory_desc_t src, bias, dst;
    DNNL_CHECK(plain_md(&src, rows, l->K, input_type(l->precision), dnnl_ab));
    DNNL_CHECK(plain_md(&bias, 1, l->N, dnnl_f32, dnnl_ab));
    DNNL_CHECK(plain_md(&dst, rows, l->N, output_type(l), dnnl_ab));
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &src, weights, has_bias && !int8 ? &bias : NULL,
                                     &dst));
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success && int8)
        s = dnnl_primitive_attr_set_output_scales(attr, l->N, 1 << 1, l->col_scales);
    /* int8 applies it after its own dequantizing (dequantize_rows). */
    if (s == dnnl_success && l->act != LOWP_NO_ACT && !int8)
        s = add_activation(attr, l->act);
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(pd, &desc, attr, l->ctx->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return s == dnnl_success ? ALBERT_OK : onednn_fail(err, s, "matmul primitive descriptor");
}

/* The layout oneDNN wants the weights in, into l->weights_md. */
static int choose_layout(lowp_linear *l, bool has_bias, dnnl_primitive_desc_t *pd,
                         albert_error *err)
{
    dnnl_memory_desc_t any;
    DNNL_CHECK(plain_md(&any, l->K, l->N, weight_type(l->precision), dnnl_format_tag_any));
    int rc = make_pd(l, LAYOUT_ROWS, &any, has_bias, pd, err);
    if (rc == ALBERT_OK)
        l->weights_md = *dnnl_primitive_desc_query_md(*pd, dnnl_query_weights_md, 0);
    return rc;
}

/* Finer steps for fewer rows, where a padding row costs most: at most 7
 * padding rows up to 64, 31 up to 512, 63 up to 1024, 127 beyond (an
 * eighth from 513 rows on); 54 shapes up to 4096 rows.  Above 512 rows, steps
 * of 64: oneDNN 2.6's AMX matmul blocks M by its largest divisor in 32..64,
 * and the blocks of 58 and 62 rows that 928 and 992 get run 3 to 4 times
 * slower than 960's or 1024's 64 (tools/gemm_rates, every ALBERT-base
 * shape, bf16 and int8); a multiple of 64 always gets 64. */
size_t lowp_padded_rows(size_t rows)
{
    size_t step = rows <= 64 ? 8 : rows <= 512 ? 32 : rows <= 1024 ? 64 : 128;
    return (rows + step - 1) / step * step;
}

/* The primitive for ROWS (a lowp_padded_rows count), made at first use. */
static int primitive_for(lowp_linear *l, size_t rows, dnnl_primitive_t *out, albert_error *err)
{
    size_t i = rows / 8 - 1;
    if (i >= l->n_by_rows) {
        dnnl_primitive_t *more = realloc(l->by_rows, (i + 1) * sizeof *more);
        if (!more)
            return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for a matmul");
        memset(more + l->n_by_rows, 0, (i + 1 - l->n_by_rows) * sizeof *more);
        l->by_rows = more;
        l->n_by_rows = i + 1;
    }
    if (!l->by_rows[i]) {
        dnnl_primitive_desc_t pd = NULL;
        int rc = make_pd(l, (int64_t)rows, &l->weights_md, l->bias != NULL, &pd, err);
        dnnl_status_t s = rc == ALBERT_OK ? dnnl_primitive_create(&l->by_rows[i], pd)
                                          : dnnl_success;
        dnnl_primitive_desc_destroy(pd);
        if (rc != ALBERT_OK)
            return rc;
        if (s != dnnl_success)
            return onednn_fail(err, s, "matmul primitive");
    }
    *out = l->by_rows[i];
    return ALBERT_OK;
}

/* The converted W [N, K] row-major, the K x N matrix of layout "ba",
 * reordered into the primitive's layout. */
static int pack_weights(lowp_linear *l, const dnnl_primitive_desc_t pd, void *plain,
                        albert_error *err)
{
    const dnnl_memory_desc_t *packed = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t plain_desc;
    dnnl_memory_t from = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_status_t s = plain_md(&plain_desc, l->K, l->N, weight_type(l->precision), dnnl_ba);
    if (s == dnnl_success)
        s = dnnl_memory_create(&from, &plain_desc, l->ctx->engine, plain);
    if (s == dnnl_success)
        s = dnnl_memory_create(&l->weights, packed, l->ctx->engine, DNNL_MEMORY_ALLOCATE);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&rpd, &plain_desc, l->ctx->engine, packed,
                                               l->ctx->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&reorder, rpd);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, l->weights}};
    if (s == dnnl_success)
        s = dnnl_primitive_execute(reorder, l->ctx->stream, 2, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(l->ctx->stream);
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    return s == dnnl_success ? ALBERT_OK : onednn_fail(err, s, "weight reorder");
}

static int copy_bias(lowp_linear *l, const float *bias, albert_error *err)
{
    if (l->precision == ALBERT_PRECISION_INT8) {
        l->bias_int8 = malloc((size_t)l->N * sizeof *l->bias_int8);
        if (!l->bias_int8)
            return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for a bias");
        memcpy(l->bias_int8, bias, (size_t)l->N * sizeof *bias);
        return ALBERT_OK;
    }
    dnnl_memory_desc_t md;
    DNNL_CHECK(plain_md(&md, 1, l->N, dnnl_f32, dnnl_ab));
    DNNL_CHECK(dnnl_memory_create(&l->bias, &md, l->ctx->engine, DNNL_MEMORY_ALLOCATE));
    void *data = NULL;
    DNNL_CHECK(dnnl_memory_get_data_handle(l->bias, &data));
    memcpy(data, bias, (size_t)l->N * sizeof *bias);
    return ALBERT_OK;
}

/* W converted: bf16 values, or int8 values, their per-row (output channel)
 * scales into COL_SCALES and l->wsum. */
static int convert_weights(lowp_linear *l, const float *w, void *plain, float *col_scales,
                           albert_error *err)
{
    size_t n = (size_t)l->N, k = (size_t)l->K;
    if (l->precision == ALBERT_PRECISION_FP32) {
        memcpy(plain, w, n * k * sizeof(float));
        return ALBERT_OK;
    }
    if (l->precision != ALBERT_PRECISION_INT8) {
        round_bf16(n * k, w, plain);
        return ALBERT_OK;
    }
    quantize_rows(n, k, w, plain, col_scales);
    if (!(l->wsum = malloc(n * sizeof *l->wsum)))
        return albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for int8 weights");
    const int8_t *q = plain;
    for (size_t c = 0; c < n; c++) {
        int64_t sum = 0;
        for (size_t i = 0; i < k; i++)
            sum += q[c * k + i];
        l->wsum[c] = col_scales[c] * (float)sum;
    }
    return ALBERT_OK;
}

int lowp_linear_create(lowp_context *ctx, int precision, int N, int K, const float *w,
                       const float *bias, const lowp_fusion *fuse, lowp_linear **out,
                       albert_error *err)
{
    *out = NULL;
    if (fuse && fuse->next_input && precision == ALBERT_PRECISION_FP32)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: an fp32 Linear hands over float32");
    lowp_linear *l = calloc(1, sizeof *l);
    void *plain = malloc((size_t)N * (size_t)K * weight_bytes(precision));
    float *col_scales = malloc((size_t)N * sizeof *col_scales);
    int rc = l && plain && col_scales
                 ? ALBERT_OK
                 : albert_fail(err, ALBERT_E_NOMEM, "cpu backend: out of memory for %s weights",
                               albert_precision_name(precision));
    if (rc == ALBERT_OK) {
        /* The scales are kept: int8 primitives made later need them. */
        *l = (lowp_linear){.ctx = ctx, .precision = precision, .N = N, .K = K,
                           .act = fuse ? fuse->act : LOWP_NO_ACT,
                           .next_input = fuse && fuse->next_input, .col_scales = col_scales};
        rc = convert_weights(l, w, plain, col_scales, err);
    } else {
        free(col_scales);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (rc == ALBERT_OK)
        rc = choose_layout(l, bias != NULL, &pd, err);
    if (rc == ALBERT_OK)
        rc = pack_weights(l, pd, plain, err);
    if (rc == ALBERT_OK && bias)
        rc = copy_bias(l, bias, err);
    dnnl_primitive_desc_destroy(pd);
    free(plain);
    if (rc == ALBERT_OK)
        *out = l;
    else
        lowp_linear_free(l);
    return rc;
}

void lowp_linear_free(lowp_linear *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_by_rows; i++)
        if (l->by_rows[i])
            dnnl_primitive_destroy(l->by_rows[i]);
    free(l->by_rows);
    free(l->col_scales);
    dnnl_memory_destroy(l->weights);
    dnnl_memory_destroy(l->bias);
    free(l->bias_int8);
    free(l->wsum);
    free(l);
}

/* ------------------------------------------------------------ run */

/* int8: an int8_block; bf16: the rounded input. */
size_t lowp_scratch_bytes(int precision, size_t M, size_t K)
{
    size_t rows = lowp_padded_rows(M);
    return precision == ALBERT_PRECISION_INT8   ? 2 * rows * sizeof(float) + rows * K
           : precision == ALBERT_PRECISION_FP32 ? 0
                                                : rows * K * 2;
}

/* Y from X, both of ROWS rows (padded). */
static int execute(lowp_linear *l, size_t rows, const void *x, void *y, albert_error *err)
{
    dnnl_primitive_t matmul = NULL;
    int rc = primitive_for(l, rows, &matmul, err);
    if (rc != ALBERT_OK)
        return rc;
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_status_t s = plain_md(&src_md, (int64_t)rows, l->K, input_type(l->precision), dnnl_ab);
    if (s == dnnl_success)
        s = plain_md(&dst_md, (int64_t)rows, l->N, output_type(l), dnnl_ab);
    if (s == dnnl_success)
        s = dnnl_memory_create(&src, &src_md, l->ctx->engine, (void *)x);
    if (s == dnnl_success)
        s = dnnl_memory_create(&dst, &dst_md, l->ctx->engine, y);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, l->weights},
                               {DNNL_ARG_DST, dst}, {DNNL_ARG_BIAS, l->bias}};
    if (s == dnnl_success)
        s = dnnl_primitive_execute(matmul, l->ctx->stream, l->bias ? 4 : 3, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(l->ctx->stream);
    dnnl_memory_destroy(src);
    dnnl_memory_destroy(dst);
    return s == dnnl_success ? ALBERT_OK : onednn_fail(err, s, "matmul");
}

int lowp_linear_run(lowp_linear *l, int M, const void *x, bool x_ready, void *scratch, void *y,
                    albert_error *err)
{
    const size_t m = (size_t)M, k = (size_t)l->K, n = (size_t)l->N, rows = lowp_padded_rows(m);
    if (l->precision == ALBERT_PRECISION_FP32)
        return execute(l, rows, x, y, err); /* X brings its padding rows */
    if (l->precision != ALBERT_PRECISION_INT8) {
        if (x_ready)
            return execute(l, rows, x, y, err);
        round_bf16(m * k, x, scratch);
        /* The padding rows: zeros, so their outputs (never read) stay finite. */
        memset((uint16_t *)scratch + m * k, 0, (rows - m) * k * sizeof(uint16_t));
        return execute(l, rows, scratch, y, err);
    }
    if (x_ready && x != scratch)
        return albert_fail(err, ALBERT_E_ARG, "cpu backend: an int8 Linear's handed-over input "
                                              "is its scratch");
    const int8_block in = int8_block_at(scratch, rows);
    if (!x_ready) {
        quantize_rows_u8(m, k, x, in.values, in.scales, in.zeros);
        memset(in.values + m * k, 0, (rows - m) * k);
    }
    int rc = execute(l, rows, in.values, y, err);
    if (rc != ALBERT_OK)
        return rc;
    /* The products are in Y: the input's values are free for the output's. */
    dequantize_rows(m, n, &in, l->wsum, l->bias_int8, l->act, y, l->next_input ? &in : NULL);
    if (l->next_input)
        memset(in.values + m * n, 0, (rows - m) * n);
    return ALBERT_OK;
}
