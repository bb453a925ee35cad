/* linear.cl - a Linear for CPU devices: y[m, n] = act(x[m, k] * w[n, k]^T + bias),
 * bias NULL for none (the residual LayerNorm adds it), ACT an ACT_* code.
 *
 * CLBlast's GEMM reads its operands k-row by k-row, thousands of bytes apart,
 * which defeats a CPU's prefetchers.  Here the host packs w once, at upload,
 * into panels of ALBERT_GEMM_NR output columns, [n / NR][k][NR], so one
 * work-item streams its panel and ALBERT_GEMM_MR rows of x in order and keeps
 * an MR x NR tile of y in vector registers: the shape of a BLAS micro-kernel.
 * Work-groups of one item: PoCL then compiles it to one straight loop (with
 * more items it would keep each item's accumulators in memory).
 * The bias and activation run on the tile in registers, on float16 vectors.
 * With ALBERT_HALF_WEIGHTS the panels hold halves (fp16 precision: half the
 * bytes to stream), widened to float as they are read; the sums stay float.
 * Grid: (n / NR, ceil(m / MR)), local (1, 1). */
#ifndef ALBERT_GEMM_MR
#define ALBERT_GEMM_MR 4
#endif
#ifndef ALBERT_GEMM_NR
#define ALBERT_GEMM_NR 16 /* a multiple of 16: the panel is read as float16 */
#endif
#define GEMM_NV (ALBERT_GEMM_NR / 16)
#ifdef ALBERT_HALF_WEIGHTS
#define WEIGHT16 half /* read 16 at a time: W16_UNIT halves per 16 weights */
#define W16_UNIT 16
#define LOAD_W16(i, p) vload_half16((i), (p))
#else
#define WEIGHT16 float16
#define W16_UNIT 1
#define LOAD_W16(i, p) ((p)[i])
#endif

__kernel void linear_packed(int m, int n, int k, __global const float *x, int ldx,
                            __global const WEIGHT16 *w, __global const float *bias, int act,
                            __global float *y)
{
    const int panel = (int)get_global_id(0), row0 = (int)get_global_id(1) * ALBERT_GEMM_MR;
    __global const WEIGHT16 *wp = w + (size_t)panel * (size_t)k * GEMM_NV * W16_UNIT;
    /* Rows past m repeat the last row: no branch in the loop; not stored. */
    __global const float *xr[ALBERT_GEMM_MR];
    float16 acc[ALBERT_GEMM_MR][GEMM_NV];
#pragma unroll
    for (int r = 0; r < ALBERT_GEMM_MR; r++) {
        xr[r] = x + (size_t)min(row0 + r, m - 1) * (size_t)ldx;
#pragma unroll
        for (int v = 0; v < GEMM_NV; v++)
            acc[r][v] = (float16)(0.0f);
    }
    for (int p = 0; p < k; p++) {
        float16 wv[GEMM_NV];
#pragma unroll
        for (int v = 0; v < GEMM_NV; v++)
            wv[v] = LOAD_W16(p * GEMM_NV + v, wp);
#pragma unroll
        for (int r = 0; r < ALBERT_GEMM_MR; r++) {
            const float16 a = (float16)(xr[r][p]);
#pragma unroll
            for (int v = 0; v < GEMM_NV; v++)
                acc[r][v] = fma(a, wv[v], acc[r][v]);
        }
    }
    const int col0 = panel * ALBERT_GEMM_NR;
    float16 b[GEMM_NV];
#pragma unroll
    for (int v = 0; v < GEMM_NV; v++)
        b[v] = bias ? vload16(0, bias + col0 + v * 16) : (float16)(0.0f);
#pragma unroll
    for (int r = 0; r < ALBERT_GEMM_MR; r++)
        if (row0 + r < m) {
#pragma unroll
            for (int v = 0; v < GEMM_NV; v++)
                vstore16(activate16(act, acc[r][v] + b[v]), 0,
                         y + (size_t)(row0 + r) * (size_t)n + col0 + v * 16);
        }
}
