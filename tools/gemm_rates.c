/* gemm_rates: the GEMM ceilings tools/bench.sh relates the model's rates to,
 * at ALBERT-base's FFN shape (M x N x K = 1024 x 3072 x 768 by default):
 * oneDNN's sgemm (what the CPU backend's fp32 runs), and its matmul in f32, bf16 and
 * u8 x s8 (the int8 path) with the weights in oneDNN's own layout, as the CPU
 * backend keeps them.  A type this CPU cannot run natively prints null.
 * usage: gemm_rates [THREADS [M N K [SECONDS]]]   prints one JSON line
 * (GFLOP/s; GOP/s for int8). */
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        fprintf(stderr, "gemm_rates: argument %d ('%s') must be a positive integer\n", i, argv[i]);
        exit(2);
    }
    return v;
}

static void check(dnnl_status_t s, const char *what)
{
    if (s != dnnl_success) {
        fprintf(stderr, "gemm_rates: oneDNN %s failed (status %d)\n", what, (int)s);
        exit(1);
    }
}

static dnnl_memory_t memory(dnnl_engine_t eng, int64_t rows, int64_t cols, dnnl_data_type_t t,
                            dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols};
    check(dnnl_memory_desc_init_by_tag(&md, 2, dims, t, tag), "memory descriptor");
    dnnl_memory_t mem;
    check(dnnl_memory_create(&mem, &md, eng, DNNL_MEMORY_ALLOCATE), "memory");
    return mem;
}

/* Every byte 0x3c: 0.0115 as f32 or bf16, 60 as u8 or s8. */
static void fill(dnnl_memory_t mem, dnnl_primitive_desc_t pd, dnnl_query_t which)
{
    void *data = NULL;
    check(dnnl_memory_get_data_handle(mem, &data), "data handle");
    memset(data, 0x3c, dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, which, 0)));
}

/* Ops per second of one M x N x K matmul of SRC and WEIGHT types into f32,
 * repeated for SECONDS. */
static double rate(dnnl_engine_t eng, dnnl_stream_t st, int m, int n, int k,
                   dnnl_data_type_t src_t, dnnl_data_type_t wei_t, double seconds)
{
    dnnl_memory_desc_t src, wei, dst;
    dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n};
    check(dnnl_memory_desc_init_by_tag(&src, 2, sd, src_t, dnnl_ab), "src");
    check(dnnl_memory_desc_init_by_tag(&wei, 2, wd, wei_t, dnnl_format_tag_any), "weights");
    check(dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab), "dst");
    dnnl_matmul_desc_t desc;
    check(dnnl_matmul_desc_init(&desc, &src, &wei, NULL, &dst), "matmul descriptor");
    dnnl_primitive_desc_t pd;
    check(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL), "primitive descriptor");
    dnnl_primitive_t mm;
    check(dnnl_primitive_create(&mm, pd), "primitive");
    dnnl_memory_t a = memory(eng, m, k, src_t, dnnl_ab), c = memory(eng, m, n, dnnl_f32, dnnl_ab);
    dnnl_memory_t b;
    check(dnnl_memory_create(&b, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), eng,
                             DNNL_MEMORY_ALLOCATE),
          "weights memory");
    /* Real values in real pages: memory never written reads as the kernel's
     * one shared zero page, always in L1, and doubles the int8 rate. */
    fill(a, pd, dnnl_query_src_md);
    fill(b, pd, dnnl_query_weights_md);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    check(dnnl_primitive_execute(mm, st, 3, args), "warm-up");
    check(dnnl_stream_wait(st), "wait");
    int runs = 0;
    double t0 = now_s(), t;
    do {
        check(dnnl_primitive_execute(mm, st, 3, args), "execute");
        check(dnnl_stream_wait(st), "wait");
        runs++;
    } while ((t = now_s() - t0) < seconds);
    dnnl_memory_destroy(a);
    dnnl_memory_destroy(b);
    dnnl_memory_destroy(c);
    dnnl_primitive_destroy(mm);
    dnnl_primitive_desc_destroy(pd);
    return 2.0 * m * n * k * runs / t / 1e9;
}

/* dnnl_sgemm's FLOP/s for x * W^T, as a Linear runs it; the first call is
 * warm-up. */
static double sgemm_rate(int m, int n, int k, double seconds)
{
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)n * k * sizeof *b),
          *c = malloc((size_t)m * n * sizeof *c);
    if (!a || !b || !c) {
        fputs("gemm_rates: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)n * k; i++)
        b[i] = (float)(i % 5) * 0.01f;
    int runs = -1;
    double t0 = 0;
    do {
        if (runs == 0)
            t0 = now_s();
        check(dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, k, b, k, 0.0f, c, n), "sgemm");
        runs++;
    } while (runs < 3 || now_s() - t0 < seconds);
    const double dt = (now_s() - t0) / runs;
    free(a);
    free(b);
    free(c);
    return 2.0 * m * n * k / dt / 1e9;
}

int main(int argc, char **argv)
{
    const int threads = arg(argc, argv, 1, 2), m = arg(argc, argv, 2, 1024),
              n = arg(argc, argv, 3, 3072), k = arg(argc, argv, 4, 768);
    const double seconds = arg(argc, argv, 5, 2);
    omp_set_num_threads(threads);
    dnnl_engine_t eng;
    dnnl_stream_t st;
    check(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    check(dnnl_stream_create(&st, eng, dnnl_stream_default_flags), "stream");
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    char bf16[32] = "null", int8[32] = "null";
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16)
        snprintf(bf16, sizeof bf16, "%.2f", rate(eng, st, m, n, k, dnnl_bf16, dnnl_bf16, seconds));
    if ((isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni)
        snprintf(int8, sizeof int8, "%.2f", rate(eng, st, m, n, k, dnnl_u8, dnnl_s8, seconds));
    printf("{\"threads\": %d, \"m\": %d, \"n\": %d, \"k\": %d, \"sgemm\": %.2f, \"f32\": %.2f, "
           "\"bf16\": %s, \"int8\": %s}\n",
           threads, m, n, k, sgemm_rate(m, n, k, seconds),
           rate(eng, st, m, n, k, dnnl_f32, dnnl_f32, seconds), bf16, int8);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return 0;
}
