/* common.cl - tunables and helpers every kernel file uses.  The program cache
 * puts this file first, then the others in name order, into one program.
 *
 * Tunables come as -D build options (host/ocl_ops.c passes them, a device
 * profile may change them); the defaults here suit most devices. */
#ifndef ALBERT_WG_ROW
#define ALBERT_WG_ROW 64 /* work-group size of one-row-per-group kernels; a power of 2 */
#endif
#ifndef ALBERT_WG_ELEM
#define ALBERT_WG_ELEM 64 /* work-group size of element-wise kernels */
#endif
#if defined(ALBERT_SUBGROUPS) && defined(cl_khr_subgroups)
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif
/* Sub-group reductions where the profile asks for them and the compiler
 * declares the built-ins: an OpenCL C 1.2 compiler may know
 * cl_khr_subgroups only from 2.0 on, and without this the whole program
 * would fail to build; the tree reduction below is then used instead. */
#if defined(ALBERT_SUBGROUPS) &&                                                   \
    (defined(cl_khr_subgroups) || defined(cl_intel_subgroups) || defined(__opencl_c_subgroups))
#define ALBERT_SUBGROUP_REDUCE 1
#endif
#ifndef ALBERT_VW
#define ALBERT_VW 4 /* consecutive elements each work-item of an element-wise kernel handles */
#endif

#ifdef ALBERT_SUBGROUP_REDUCE
/* Reduction of V over the work-group (sum, or max when IS_MAX); every
 * work-item gets the result.  Each sub-group reduces in registers, then
 * every item combines the sub-groups' results from SCRATCH (ALBERT_WG_ROW
 * floats) in one order, so all items agree to the bit.  The trailing
 * barrier lets the caller reuse SCRATCH straight away. */
float wg_reduce(float v, int is_max, __local float *scratch)
{
    const float part = is_max ? sub_group_reduce_max(v) : sub_group_reduce_add(v);
    if (get_sub_group_local_id() == 0)
        scratch[get_sub_group_id()] = part;
    barrier(CLK_LOCAL_MEM_FENCE);
    float result = scratch[0];
    for (uint g = 1; g < get_num_sub_groups(); g++)
        result = is_max ? fmax(result, scratch[g]) : result + scratch[g];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}
#else
/* Tree reduction of V over the work-group (sum, or max when IS_MAX); every
 * work-item gets the result.  SCRATCH holds ALBERT_WG_ROW floats.  The
 * trailing barrier lets the caller reuse SCRATCH straight away. */
float wg_reduce(float v, int is_max, __local float *scratch)
{
    const int lid = (int)get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = ALBERT_WG_ROW / 2; width > 0; width >>= 1) {
        if (lid < width) {
            const float other = scratch[lid + width];
            scratch[lid] = is_max ? fmax(scratch[lid], other) : scratch[lid] + other;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}
#endif

/* LayerNorm of ROW (N floats that already hold the summed inputs) in place,
 * by the whole work-group: two-pass mean and variance as torch computes them.
 * Each work-item touches the same columns in every pass, so no barrier is
 * needed between a write and its own later read. */
void layernorm_row(__global float *row, int n, __global const float *gamma,
                   __global const float *beta, float eps, __local float *scratch)
{
    const int lid = (int)get_local_id(0);
    float s = 0.0f;
    for (int j = lid; j < n; j += ALBERT_WG_ROW)
        s += row[j];
    const float mean = wg_reduce(s, 0, scratch) / (float)n;
    float v = 0.0f;
    for (int j = lid; j < n; j += ALBERT_WG_ROW) {
        const float d = row[j] - mean;
        v += d * d;
    }
    const float var = wg_reduce(v, 0, scratch) / (float)n;
    const float rstd = 1.0f / sqrt(var + eps);
    for (int j = lid; j < n; j += ALBERT_WG_ROW)
        row[j] = (row[j] - mean) * rstd * gamma[j] + beta[j];
}
