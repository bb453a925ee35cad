/* attention_tiled.cl - self-attention for GPUs: flash attention's online
 * softmax, one query per work-item, ALBERT_ATTN_BQ queries per work-group:
 * ctx[b, i, head] = softmax(q_i k_j^T * scale + mask) v_j, straight from the
 * fused projections qkv[B * T, 3H] (q | k | v per token).
 *
 * The work-group walks the keys in tiles of ALBERT_ATTN_BK: it loads each
 * tile's keys and values into local memory once (coalesced, every item a
 * few float4s) and all its queries read them from there, so global memory
 * sees each key once per BQ queries, not once per query.  Each item keeps
 * its query and output row in registers and rescales the output when a tile
 * raises its running maximum, so no B*NH*T*T scores buffer exists and T has
 * no limit.  Masking as softmax.cl: masked keys weigh 0, unless every key of
 * the sequence is masked, then all weigh the same.
 * Grid: (T rounded up to BQ, NH, B), local (BQ, 1, 1); head size
 * ALBERT_ATTN_D a multiple of 4. */
#ifdef ALBERT_ATTN_BQ /* with ALBERT_ATTN_BK and ALBERT_ATTN_D, only when chosen */
#define TILE_NV (ALBERT_ATTN_D / 4)

/* 1 when any key of the sequence is unmasked, by the whole work-group. */
int any_key_kept(__global const int *m, int T, __local int *flag)
{
    const int lid = (int)get_local_id(0);
    if (lid == 0)
        *flag = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int j = lid; j < T; j += ALBERT_ATTN_BQ)
        if (m[j]) {
            atomic_or(flag, 1);
            break;
        }
    barrier(CLK_LOCAL_MEM_FENCE);
    return *flag;
}

__kernel void attention_tiles(__global const float *qkv, __global const int *mask,
                              __global float *ctx, int T, int H, float scale)
{
    __local float4 kt[ALBERT_ATTN_BK * TILE_NV], vt[ALBERT_ATTN_BK * TILE_NV];
    __local int keep[ALBERT_ATTN_BK];
    __local int flag;
    const int lid = (int)get_local_id(0), i = (int)get_global_id(0);
    const int head = (int)get_global_id(1), b = (int)get_global_id(2);
    const size_t ld = 3 * (size_t)H, first = (size_t)b * (size_t)T;
    const int row = i < T ? i : T - 1; /* items past T compute a copy and store nothing */
    __global const float *q = qkv + (first + (size_t)row) * ld + (size_t)head * ALBERT_ATTN_D;
    __global const float *keys = qkv + first * ld + H + (size_t)head * ALBERT_ATTN_D;
    __global const int *m = mask + first;
    float4 qv[TILE_NV], acc[TILE_NV];
    for (int v = 0; v < TILE_NV; v++) {
        qv[v] = vload4(v, q) * scale;
        acc[v] = (float4)(0.0f);
    }
    const int uniform = !any_key_kept(m, T, &flag);
    float mx = -INFINITY, sum = 0.0f;
    for (int j0 = 0; j0 < T; j0 += ALBERT_ATTN_BK) {
        /* A last tile of N < BK keys is filled with zeros and kept out:
         * every loop below then runs to the constant BK, so s[] can live in
         * registers (a GPU compiler puts an array indexed by a run-time
         * bound in slow private memory). */
        const int n = min(ALBERT_ATTN_BK, T - j0);
        for (int t = lid; t < ALBERT_ATTN_BK * TILE_NV; t += ALBERT_ATTN_BQ) {
            if (t / TILE_NV < n) {
                __global const float *key = keys + (size_t)(j0 + t / TILE_NV) * ld;
                kt[t] = vload4(t % TILE_NV, key);
                vt[t] = vload4(t % TILE_NV, key + H);
            } else {
                kt[t] = vt[t] = (float4)(0.0f);
            }
        }
        for (int r = lid; r < ALBERT_ATTN_BK; r += ALBERT_ATTN_BQ)
            keep[r] = r < n && (uniform || m[j0 + r]);
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[ALBERT_ATTN_BK];
        float tile_max = -INFINITY;
        for (int r = 0; r < ALBERT_ATTN_BK; r++) {
            float4 dot = (float4)(0.0f);
            for (int v = 0; v < TILE_NV && !uniform; v++)
                dot = fma(qv[v], kt[r * TILE_NV + v], dot);
            s[r] = (dot.x + dot.y) + (dot.z + dot.w);
            if (keep[r])
                tile_max = fmax(tile_max, s[r]);
        }
        if (tile_max > -INFINITY) { /* some key of the tile counts */
            const float new_max = fmax(mx, tile_max), rescale = exp(mx - new_max);
            sum *= rescale;
            for (int v = 0; v < TILE_NV; v++)
                acc[v] *= rescale;
            for (int r = 0; r < ALBERT_ATTN_BK; r++) {
                if (!keep[r])
                    continue;
                const float p = exp(s[r] - new_max);
                sum += p;
                for (int v = 0; v < TILE_NV; v++)
                    acc[v] = fma((float4)(p), vt[r * TILE_NV + v], acc[v]);
            }
            mx = new_max;
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* the tile is read before the next overwrites it */
    }
    if (i >= T)
        return;
    __global float *out = ctx + (first + (size_t)i) * (size_t)H + (size_t)head * ALBERT_ATTN_D;
    const float inv = 1.0f / sum;
    for (int v = 0; v < TILE_NV; v++)
        vstore4(acc[v] * inv, v, out);
}
#endif
