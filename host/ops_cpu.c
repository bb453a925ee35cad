/* The host CPU ops: float32 with HuggingFace's semantics, the reference the
 * OpenCL kernels are tested against.  GEMMs go to CBLAS; the rest is plain C
 * parallelised over rows with OpenMP (a serial loop when the caller already
 * runs inside a parallel region, so ops nest without oversubscribing). */
#include "ops_cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* --------------------------------------------------------------- helpers */

/* x[0..n) = (x - mean) / sqrt(var + eps) * g + b, in place.  Sums run in
 * double so long rows lose nothing to accumulation order. */
static void layernorm_row(int n, float *x, const float *g, const float *b, float eps)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    float mean = (float)(sum / n);
    double sq = 0;
    for (int i = 0; i < n; i++) {
        float d = x[i] - mean;
        sq += (double)d * d;
    }
    float rstd = (float)(1.0 / sqrt(sq / n + (double)eps));
    for (int i = 0; i < n; i++)
        x[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

/* y[M,N] = x[M,K] (row stride ldx) * w[N,K]^T + bias[N]. */
static void linear_strided(int M, int N, int K, const float *x, int ldx, const float *w,
                           const float *bias, float *y)
{
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for if (!omp_in_parallel())
        for (int r = 0; r < M; r++)
            memcpy(y + (size_t)r * N, bias, (size_t)N * sizeof *y);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, ldx, w, K, beta, y, N);
}

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* ------------------------------------------------------------------- ops */

void cpu_embed(const albert_config *cfg, const albert_weights *w, int B, int T,
               const int32_t *ids, const int32_t *types, float *out)
{
    const int E = cfg->embedding_size;
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < B * T; r++) {
        const float *word = w->word_emb + (size_t)ids[r] * E;
        const float *type = w->type_emb + (size_t)(types ? types[r] : 0) * E;
        const float *pos = w->pos_emb + (size_t)(r % T) * E;
        float *o = out + (size_t)r * E;
        /* HF's order: (inputs_embeds + token_type_embeddings) + position. */
        for (int i = 0; i < E; i++)
            o[i] = (word[i] + type[i]) + pos[i];
        layernorm_row(E, o, w->emb_ln_g, w->emb_ln_b, cfg->layer_norm_eps);
    }
}

void cpu_linear(int M, int N, int K, const float *x, const float *w, const float *bias, float *y)
{
    linear_strided(M, N, K, x, K, w, bias, y);
}

float cpu_activation(albert_activation act, float x)
{
    switch (act) {
    case ALBERT_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ALBERT_ACT_GELU_TANH:
        return 0.5f * x *
               (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case ALBERT_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case ALBERT_ACT_SILU:
        return x * sigmoidf(x);
    case ALBERT_ACT_TANH:
        return tanhf(x);
    case ALBERT_ACT_QUICK_GELU:
        return x * sigmoidf(1.702f * x);
    }
    return x;
}

void cpu_activate(int rows, int n, albert_activation act, float *x)
{
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        for (int i = 0; i < n; i++)
            row[i] = cpu_activation(act, row[i]);
    }
}

void cpu_layernorm(int rows, int n, const float *x, const float *res, const float *g,
                   const float *b, float eps, float *out)
{
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        const float *rr = res ? res + (size_t)r * n : NULL;
        float *o = out + (size_t)r * n;
        /* Elementwise first, so OUT may alias X or RES. */
        for (int i = 0; i < n; i++)
            o[i] = rr ? xr[i] + rr[i] : xr[i];
        layernorm_row(n, o, g, b, eps);
    }
}

/* One softmax row of T keys; MASK is the batch row's key mask or NULL. */
static void softmax_row(int T, float scale, const int32_t *mask, float *s)
{
    float max = -INFINITY;
    for (int k = 0; k < T; k++) {
        s[k] *= scale;
        if ((!mask || mask[k]) && s[k] > max)
            max = s[k];
    }
    if (max == -INFINITY) {
        /* Every key masked: HF's scores all equal finfo.min, so uniform. */
        for (int k = 0; k < T; k++)
            s[k] = 1.0f / (float)T;
        return;
    }
    float sum = 0.0f;
    for (int k = 0; k < T; k++) {
        s[k] = (!mask || mask[k]) ? expf(s[k] - max) : 0.0f;
        sum += s[k];
    }
    float inv = 1.0f / sum;
    for (int k = 0; k < T; k++)
        s[k] *= inv;
}

void cpu_softmax_masked(int B, int NH, int T, float scale, const int32_t *mask, float *scores)
{
    const int rows = B * NH * T;
#pragma omp parallel for if (!omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        int b = r / (NH * T);
        softmax_row(T, scale, mask ? mask + (size_t)b * T : NULL, scores + (size_t)r * T);
    }
}

void cpu_pooler(int B, int T, int H, const float *hidden, const float *pool_w,
                const float *pool_b, float *pooled)
{
    /* Row stride T*H picks each batch row's [CLS] vector without a copy. */
    linear_strided(B, H, H, hidden, T * H, pool_w, pool_b, pooled);
    for (size_t i = 0; i < (size_t)B * H; i++)
        pooled[i] = tanhf(pooled[i]);
}

/* pooled[0..H) = mean of the rows t of HIDDEN (one batch row) with mask 1. */
static void mean_pool_row(int T, int H, const float *hidden, const int32_t *mask, float *pooled)
{
    memset(pooled, 0, (size_t)H * sizeof *pooled);
    int count = 0;
    for (int t = 0; t < T; t++) {
        if (mask && !mask[t])
            continue;
        const float *h = hidden + (size_t)t * H;
        for (int i = 0; i < H; i++)
            pooled[i] += h[i];
        count++;
    }
    float inv = count ? 1.0f / (float)count : 0.0f;
    for (int i = 0; i < H; i++)
        pooled[i] *= inv;
}

void cpu_pool(int B, int T, int H, const float *hidden, const int32_t *mask,
              albert_pooling mode, float *pooled)
{
    for (int b = 0; b < B; b++) {
        const float *rows = hidden + (size_t)b * T * H;
        float *p = pooled + (size_t)b * H;
        if (mode == ALBERT_POOL_MEAN)
            mean_pool_row(T, H, rows, mask ? mask + (size_t)b * T : NULL, p);
        else
            memcpy(p, rows, (size_t)H * sizeof *p);
    }
}

void cpu_l2_normalize(int rows, int n, float *x)
{
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        double sq = 0;
        for (int i = 0; i < n; i++)
            sq += (double)row[i] * row[i];
        /* torch.nn.functional.normalize: x / max(||x||, 1e-12). */
        float inv = (float)(1.0 / fmax(sqrt(sq), 1e-12));
        for (int i = 0; i < n; i++)
            row[i] *= inv;
    }
}
