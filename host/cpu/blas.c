/* Which kernels the CPU backend's BLAS runs, and how to get better ones.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels once, when
 * it loads, from $OPENBLAS_CORETYPE or else from CPUID.  A CPU newer than
 * its tables gets the generic "Prescott" (SSE3) kernels: on this project's
 * AVX-512 test machine that was 65 GFLOP/s against 303 with "SkylakeX". */
#include "core/common.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#ifdef OPENBLAS_VERSION
static const char *core_name(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "?";
}
#endif

void albert_blas_describe(char *dst, size_t size)
{
#ifdef OPENBLAS_VERSION
    snprintf(dst, size, "OpenBLAS %s", core_name());
#else
    snprintf(dst, size, "CBLAS");
#endif
}

const char *albert_blas_coretype_hint(void)
{
#if defined(OPENBLAS_VERSION) && defined(__x86_64__) && defined(__GNUC__)
    if (strcmp(core_name(), "Prescott") != 0)
        return NULL; /* OpenBLAS knew the CPU, or was told */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}
