/* pooling.cl - sentence vectors from last_hidden_state: CLS or masked mean
 * (the HF pooler is a Linear + tanh, done by GEMM + bias_act) and
 * sentence-transformers' other modes, and L2
 * normalisation; and the combination of several layers' hidden states. */
#define POOL_CLS 2  /* albert_pooling values */
#define POOL_MEAN 3
#define POOL_MAX 4
#define POOL_MEAN_SQRT_LEN 5
#define POOL_WEIGHTED_MEAN 6
#define POOL_LAST_TOKEN 7

/* pooled[b, j] over global (H rounded up, B). */
__kernel void pool(__global const float *hidden, __global const int *mask, int T, int H,
                   int mode, __global float *pooled)
{
    const int j = (int)get_global_id(0);
    const size_t b = get_global_id(1);
    if (j >= H)
        return;
    __global const float *h = hidden + b * (size_t)T * (size_t)H + (size_t)j;
    if (mode == POOL_CLS) {
        pooled[b * (size_t)H + j] = h[0];
        return;
    }
    /* MEAN and MEAN_SQRT_LEN sum, WEIGHTED_MEAN sums weighted by position,
     * MAX keeps the largest (a NaN wins, as in torch.max), LAST_TOKEN the
     * last; no unmasked token: 0. */
    float acc = 0.0f, weights = 0.0f;
    int count = 0, last = -1;
    for (int t = 0; t < T; t++)
        if (mask[b * (size_t)T + t]) {
            const float v = h[(size_t)t * (size_t)H], w = mode == POOL_WEIGHTED_MEAN ? (float)(t + 1) : 1.0f;
            acc = mode != POOL_MAX ? acc + w * v : !count || v > acc || isnan(v) ? v : acc;
            count++;
            weights += w;
            last = t;
        }
    pooled[b * (size_t)H + j] = !count                         ? 0.0f
                                : mode == POOL_MAX             ? acc
                                : mode == POOL_LAST_TOKEN      ? h[(size_t)last * (size_t)H]
                                : mode == POOL_MEAN_SQRT_LEN   ? acc / sqrt((float)count)
                                                               : acc / weights;
}

/* Each row of N divided by max(||row||, 1e-12), as torch's F.normalize: a
 * zero row stays zero.  One work-group per row. */
__kernel void l2_normalize(__global float *x, int n)
{
    __local float scratch[ALBERT_WG_ROW];
    __global float *row = x + get_group_id(0) * (size_t)n;
    float ss = 0.0f;
    for (int j = (int)get_local_id(0); j < n; j += ALBERT_WG_ROW)
        ss += row[j] * row[j];
    const float norm = fmax(sqrt(wg_reduce(ss, 0, scratch)), 1e-12f);
    for (int j = (int)get_local_id(0); j < n; j += ALBERT_WG_ROW)
        row[j] /= norm;
}

/* One layer's hidden state SRC [rows, H] into the combination DST [rows, W]
 * at column OFFSET: SCALE * SRC, written when FIRST, else added (a mean of
 * layers: SCALE 1/n at offset 0; a concatenation: SCALE 1, each layer
 * first at its own offset).  Over global (H rounded up, rows). */
__kernel void combine_layer(__global const float *src, __global float *dst, int H, int W,
                            int offset, float scale, int first)
{
    const int j = (int)get_global_id(0);
    const size_t r = get_global_id(1);
    if (j >= H)
        return;
    const float v = scale * src[r * (size_t)H + (size_t)j];
    __global float *d = dst + r * (size_t)W + (size_t)offset + (size_t)j;
    *d = first ? v : *d + v;
}
