/* sgemm_rate: GFLOP/s of OpenBLAS's cblas_sgemm at the shape of ALBERT-base's
 * FFN GEMM (M x N x K = 1024 x 3072 x 768 by default), the ceiling
 * tools/bench.sh relates the model's rates to.
 * usage: sgemm_rate [THREADS [M N K [SECONDS]]]   prints one JSON line. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int arg(int argc, char **argv, int i, int fallback)
{
    int v = argc > i ? atoi(argv[i]) : fallback;
    if (v < 1) {
        fprintf(stderr, "sgemm_rate: argument %d ('%s') must be a positive integer\n", i, argv[i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const int threads = arg(argc, argv, 1, 2), m = arg(argc, argv, 2, 1024),
              n = arg(argc, argv, 3, 3072), k = arg(argc, argv, 4, 768);
    const double seconds = argc > 5 ? atof(argv[5]) : 2.0;
    openblas_set_num_threads(threads);
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)n * k * sizeof *b),
          *c = malloc((size_t)m * n * sizeof *c);
    if (!a || !b || !c) {
        fputs("sgemm_rate: out of memory\n", stderr);
        return 1;
    }
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)n * k; i++)
        b[i] = (float)(i % 5) * 0.01f;
    /* x * W^T, as a Linear layer runs it; the first call is warm-up. */
    int runs = -1;
    double t0 = 0;
    do {
        if (runs == 0)
            t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c,
                    n);
        runs++;
    } while (runs < 3 || now_s() - t0 < seconds);
    const double dt = (now_s() - t0) / runs;
    printf("{\"m\": %d, \"n\": %d, \"k\": %d, \"threads\": %d, \"runs\": %d, \"ms\": %.3f, "
           "\"gflops\": %.2f}\n",
           m, n, k, threads, runs, dt * 1e3, 2.0 * m * n * k / dt / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
