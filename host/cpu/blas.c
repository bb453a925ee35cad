/* Which GEMM library the CPU backend runs and the instructions it uses:
 * oneDNN, which picks its kernels at run time for the CPU it finds (unlike
 * OpenBLAS's DYNAMIC_ARCH tables, which fell back to SSE3 on CPUs newer than
 * themselves). */
#include "core/common.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>

/* oneDNN's name for the widest instruction set it uses here. */
static const char *isa_name(dnnl_cpu_isa_t isa)
{
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } names[] = {
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_sse41, "sse41"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((isa & names[i].isa) == names[i].isa)
            return names[i].name;
    return "generic";
}

void albert_blas_describe(char *dst, size_t size)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(dst, size, "oneDNN %d.%d.%d %s", v->major, v->minor, v->patch,
             isa_name(dnnl_get_effective_cpu_isa()));
}
