/* softmax.cl - attention probabilities: softmax(scores * scale + mask) over
 * keys, as HF computes it.  HF adds finfo(float32).min to masked keys, which
 * makes them exactly 0 unless every key of the row is masked; then all
 * scores are equal and the row is uniform.  One work-group per query row of
 * scores[B, NH, T, T]. */
__kernel void softmax_masked(__global float *scores, __global const int *mask, int NH, int T,
                             float scale)
{
    __local float scratch[ALBERT_WG_ROW];
    const int lid = (int)get_local_id(0);
    const size_t r = get_group_id(0);
    const size_t b = r / ((size_t)NH * (size_t)T);
    __global float *s = scores + r * (size_t)T;
    __global const int *m = mask + b * (size_t)T;
    float mx = -INFINITY;
    for (int k = lid; k < T; k += ALBERT_WG_ROW)
        if (m[k])
            mx = fmax(mx, s[k] * scale);
    mx = wg_reduce(mx, 1, scratch);
    /* Every key masked: all weights equal.  No early return: barriers must
     * stay in work-group-uniform control flow on every implementation. */
    const int uniform = mx == -INFINITY;
    float sum = 0.0f;
    for (int k = lid; k < T; k += ALBERT_WG_ROW) {
        const float e = uniform ? 1.0f : m[k] ? exp(s[k] * scale - mx) : 0.0f;
        s[k] = e;
        sum += e;
    }
    const float inv = 1.0f / wg_reduce(sum, 0, scratch);
    for (int k = lid; k < T; k += ALBERT_WG_ROW)
        s[k] *= inv;
}
