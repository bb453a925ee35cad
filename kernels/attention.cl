/* attention.cl - self-attention for CPU devices, one query per work-item:
 * ctx[b, i, head] = softmax(q_i k_j^T * scale + mask) v_j, summed over keys j,
 * straight from the fused projections qkv[B * T, 3H] (q | k | v per token).
 *
 * On a CPU the two batched GEMMs and the softmax kernel they need cost more in
 * launches and passes over scores[B, NH, T, T] than the arithmetic: here a
 * work-item keeps its query and its output row in registers (head size
 * ATTN_D, a multiple of 16, as float16 vectors) and its T scores in a private
 * array.  Masking as softmax.cl: masked keys weigh 0, unless every key is
 * masked, then all weigh the same.
 * Grid: (T, NH, B), local (1, 1, 1).  Left out when the tiled kernel is
 * chosen (ALBERT_ATTN_BQ), whose heads need not be a multiple of 16. */
#ifndef ALBERT_ATTN_BQ
#ifndef ALBERT_ATTN_D
#define ALBERT_ATTN_D 64
#endif
#ifndef ALBERT_ATTN_MAX_T
#define ALBERT_ATTN_MAX_T 512
#endif
#define ATTN_NV (ALBERT_ATTN_D / 16)

float hsum16(float16 v)
{
    const float8 a = v.lo + v.hi;
    const float4 b = a.lo + a.hi;
    const float2 c = b.lo + b.hi;
    return c.x + c.y;
}

__kernel void attention_rows(__global const float *qkv, __global const int *mask,
                             __global float *ctx, int T, int H, float scale)
{
    const int i = (int)get_global_id(0), head = (int)get_global_id(1), b = (int)get_global_id(2);
    const size_t ld = 3 * (size_t)H, first = (size_t)b * (size_t)T;
    __global const float *q = qkv + (first + (size_t)i) * ld + (size_t)head * ALBERT_ATTN_D;
    __global const float *keys = qkv + first * ld + H + (size_t)head * ALBERT_ATTN_D;
    __global const float *vals = keys + H;
    __global const int *m = mask + first;
    float16 qv[ATTN_NV], acc[ATTN_NV];
#pragma unroll
    for (int v = 0; v < ATTN_NV; v++) {
        qv[v] = vload16(v, q) * scale;
        acc[v] = (float16)(0.0f);
    }
    float s[ALBERT_ATTN_MAX_T];
    float mx = -INFINITY;
    for (int j = 0; j < T; j++) {
        float16 dot = (float16)(0.0f);
#pragma unroll
        for (int v = 0; v < ATTN_NV; v++)
            dot = fma(qv[v], vload16(v, keys + (size_t)j * ld), dot);
        s[j] = hsum16(dot);
        if (m[j])
            mx = fmax(mx, s[j]);
    }
    /* Weights, 16 at a time where possible: exp is the costliest step. */
    const int uniform = mx == -INFINITY;
    float16 sum16 = (float16)(0.0f);
    int j = 0;
    for (; j + 16 <= T; j += 16) {
        const int16 keep = (vload16(0, m + j) != 0) | (int16)(uniform ? -1 : 0);
        const float16 e = uniform ? (float16)(1.0f) : exp(vload16(0, s + j) - mx);
        const float16 w = select((float16)(0.0f), e, keep);
        vstore16(w, 0, s + j);
        sum16 += w;
    }
    float sum = hsum16(sum16);
    for (; j < T; j++) {
        s[j] = uniform ? 1.0f : m[j] ? exp(s[j] - mx) : 0.0f;
        sum += s[j];
    }
    for (j = 0; j < T; j++) {
        const float e = s[j];
        if (e == 0.0f)
            continue;
#pragma unroll
        for (int v = 0; v < ATTN_NV; v++)
            acc[v] = fma((float16)(e), vload16(v, vals + (size_t)j * ld), acc[v]);
    }
    __global float *out = ctx + (first + (size_t)i) * (size_t)H + (size_t)head * ALBERT_ATTN_D;
    const float inv = 1.0f / sum;
#pragma unroll
    for (int v = 0; v < ATTN_NV; v++)
        vstore16(acc[v] * inv, v, out);
}
#endif
