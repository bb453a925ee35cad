/* layernorm.cl - AlbertAttention / AlbertLayer output: LayerNorm(x + bias +
 * residual), fusing the Linear's bias that the GEMM left out.  One
 * work-group per row; OUT may alias X or RES. */
__kernel void residual_layernorm(__global const float *x, __global const float *bias,
                                 __global const float *res, __global const float *gamma,
                                 __global const float *beta, int n, float eps,
                                 __global float *out)
{
    __local float scratch[ALBERT_WG_ROW];
    const size_t base = get_group_id(0) * (size_t)n;
    __global float *row = out + base;
    for (int j = (int)get_local_id(0); j < n; j += ALBERT_WG_ROW)
        row[j] = (x[base + j] + bias[j]) + res[base + j];
    layernorm_row(row, n, gamma, beta, eps, scratch);
}
