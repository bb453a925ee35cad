/* CLBlast's tuning parameters per device: the one list of the kernels and
 * parameter names a tuning profile may set, and the lease that keeps two
 * engines from retuning each other.
 *
 * CLBlast keeps the parameters of every (device, precision, kernel) in a
 * process-wide cache: CLBlastOverrideParameters replaces an entry and nothing
 * in its API removes one (CLBlastClearCache drops compiled programs and
 * binaries only).  Compiled programs are keyed by the parameter values, so a
 * change never runs a stale binary, but a second engine on a device would
 * silently retune the first.  So engines lease a device's parameters: the
 * first sets them, later ones must want the same, the last one out lets
 * go.  These functions also remember CLBlast's own parameters for a device
 * and kernel the first time they override them, so that an engine that
 * wants CLBlast's defaults after another changed them gets them back.  This
 * is the library's one piece of process-wide state on the OpenCL side,
 * mirroring CLBlast's own.  Single precision only. */
#ifndef ALBERT_OPENCL_CLBLAST_PARAMS_H
#define ALBERT_OPENCL_CLBLAST_PARAMS_H

#include <CL/cl.h>
#include <clblast_c.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The CLBlast 1.5.3 kernels a tuning profile may override: the ones an
 * ALBERT forward runs through CLBlastSgemm / CLBlastSgemmStridedBatched, in
 * the order of clblast_kernel_specs. */
enum {
    CLBLAST_XGEMM,
    CLBLAST_XGEMM_DIRECT,
    CLBLAST_GEMM_ROUTINE,
    CLBLAST_COPY,
    CLBLAST_PAD,
    CLBLAST_TRANSPOSE,
    CLBLAST_PADTRANSPOSE,
    CLBLAST_KERNELS
};
#define CLBLAST_MAX_PARAMS 16

typedef struct clblast_kernel_spec {
    const char *kernel;                     /* "Xgemm", as CLBlastOverrideParameters takes it */
    size_t n;                               /* parameters it has, all required */
    const char *params[CLBLAST_MAX_PARAMS]; /* as CLBlast's database names them */
    /* Bit i set: params[i] may be 0 (a switch or a padding).  Every other
     * one is a size CLBlast's host code divides by, unchecked. */
    unsigned zero_ok;
} clblast_kernel_spec;

extern const clblast_kernel_spec clblast_kernel_specs[CLBLAST_KERNELS];

/* Index of KERNEL in clblast_kernel_specs, or -1. */
int clblast_kernel_index(const char *kernel);

/* What an engine wants of every kernel of clblast_kernel_specs. */
typedef struct clblast_param_set {
    int given[CLBLAST_KERNELS]; /* 0: CLBlast's own parameters */
    size_t values[CLBLAST_KERNELS][CLBLAST_MAX_PARAMS]; /* in the spec's order */
} clblast_param_set;

typedef enum clblast_lease_result {
    CLBLAST_LEASE_OK,
    CLBLAST_LEASE_CONFLICT, /* the device is leased with other parameters */
    CLBLAST_LEASE_FAILED    /* CLBlast refused them: see *STATUS, *KERNEL */
} clblast_lease_result;

/* Leases DEVICE's parameters as SET: applies it when nobody holds the
 * device, else checks the holders wanted the same.  LABEL (e.g. the
 * profile's path) is kept for the next conflict's message, which gets the
 * holder's label in HOLDER (HOLDER_SIZE bytes).  On FAILED, *STATUS is
 * CLBlast's code and *KERNEL the index of the kernel it refused. */
clblast_lease_result clblast_params_lease(cl_device_id device, const clblast_param_set *set,
                                          const char *label, char *holder, size_t holder_size,
                                          CLBlastStatusCode *status, int *kernel);

/* Gives back one lease of DEVICE. */
void clblast_params_release(cl_device_id device);

/* CLBlastOverrideParameters for KERNEL on DEVICE, after recording the values
 * it replaces if this is the first override of that pair.  The lease sets
 * through it; so do the tuner and the tests, which hold no lease: no engine
 * may be alive on DEVICE then. */
CLBlastStatusCode clblast_params_set(cl_device_id device, const char *kernel, size_t n,
                                     const char *const *names, const size_t *values);

/* Puts CLBlast's own parameters for KERNEL back if clblast_params_set
 * changed them; otherwise does nothing. */
CLBlastStatusCode clblast_params_reset(cl_device_id device, const char *kernel);

/* The value of parameter NAME of KERNEL that CLBlast uses now on DEVICE. */
CLBlastStatusCode clblast_params_get(cl_device_id device, const char *kernel, const char *name,
                                     size_t *value);

#ifdef __cplusplus
}
#endif

#endif
