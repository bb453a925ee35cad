/* linear_tiled.cl - a Linear for devices with many work-items (GPUs):
 * y[m, n] = act(x[m, k] * w[n, k]^T + bias), bias NULL for none, W as
 * uploaded ([n, k], not packed; halves with ALBERT_HALF_WEIGHTS, widened to
 * float as they are read: the fp16 precision's GEMM).
 *
 * The classic local-memory GEMM: a work-group of LT_DIM x LT_DIM items
 * computes a tile of LT_TILE x LT_TILE outputs, each item LT_WPT x LT_WPT of
 * them (rows ly + LT_DIM * i, columns lx + LT_DIM * j, so neighbouring items
 * read neighbouring local words), walking k in steps of LT_K: each step the
 * group loads an x tile and a w tile into local memory once (rows padded by
 * one word against bank conflicts), then every item reads them LT_WPT times.
 * Sums in float; edges are zero-filled, so any m, n, k works.
 * Grid: (ceil(n / LT_TILE) * LT_DIM, ceil(m / LT_TILE) * LT_DIM),
 * local (LT_DIM, LT_DIM). */
#define LT_DIM 16
#define LT_WPT 4
#define LT_TILE (LT_DIM * LT_WPT)
#define LT_K 16

#ifdef ALBERT_HALF_WEIGHTS
#define WEIGHT half
#define LOAD_W(i, p) vload_half((i), (p))
#else
#define WEIGHT float
#define LOAD_W(i, p) ((p)[i])
#endif

__kernel __attribute__((reqd_work_group_size(LT_DIM, LT_DIM, 1))) void
linear_tiled(int m, int n, int k, __global const float *x, int ldx, __global const WEIGHT *w,
             __global const float *bias, int act, __global float *y)
{
    __local float xs[LT_TILE][LT_K + 1], ws[LT_TILE][LT_K + 1];
    const int lx = (int)get_local_id(0), ly = (int)get_local_id(1);
    const int lid = ly * LT_DIM + lx;
    /* The tile from get_global_id, which counts a sliced launch's offset. */
    const int col0 = ((int)get_global_id(0) - lx) / LT_DIM * LT_TILE;
    const int row0 = ((int)get_global_id(1) - ly) / LT_DIM * LT_TILE;
    float acc[LT_WPT][LT_WPT];
    for (int i = 0; i < LT_WPT; i++)
        for (int j = 0; j < LT_WPT; j++)
            acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < k; k0 += LT_K) {
        for (int e = lid; e < LT_TILE * LT_K; e += LT_DIM * LT_DIM) {
            const int r = e / LT_K, c = e % LT_K, kk = k0 + c;
            const int xr = row0 + r, wr = col0 + r;
            xs[r][c] = xr < m && kk < k ? x[(size_t)xr * (size_t)ldx + (size_t)kk] : 0.0f;
            ws[r][c] = wr < n && kk < k ? LOAD_W((size_t)wr * (size_t)k + (size_t)kk, w) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c = 0; c < LT_K; c++) {
            float a[LT_WPT], b[LT_WPT];
            for (int i = 0; i < LT_WPT; i++) {
                a[i] = xs[ly + LT_DIM * i][c];
                b[i] = ws[lx + LT_DIM * i][c];
            }
            for (int i = 0; i < LT_WPT; i++)
                for (int j = 0; j < LT_WPT; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < LT_WPT; i++) {
        const int row = row0 + ly + LT_DIM * i;
        for (int j = 0; j < LT_WPT && row < m; j++) {
            const int col = col0 + lx + LT_DIM * j;
            if (col < n)
                y[(size_t)row * (size_t)n + col] =
                    activate(act, acc[i][j] + (bias ? bias[col] : 0.0f));
        }
    }
}
