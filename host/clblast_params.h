/* CLBlast's tuning parameters per device, set and put back.
 *
 * CLBlast keeps the parameters of every (device, precision, kernel) in a
 * process-wide cache: CLBlastOverrideParameters replaces an entry and nothing
 * in its API removes one (CLBlastClearCache drops compiled programs and
 * binaries only).  Compiled programs are keyed by the parameter values, so a
 * change never runs a stale binary, but an engine that wants CLBlast's own
 * parameters after another engine of the process overrode them must write
 * them back.  These functions remember CLBlast's choice for a device and
 * kernel the first time they override it - the library's one piece of
 * process-wide state, mirroring CLBlast's own - so clblast_params_reset can
 * restore it.  Single precision only. */
#ifndef ALBERT_CLBLAST_PARAMS_H
#define ALBERT_CLBLAST_PARAMS_H

#include <CL/cl.h>
#include <clblast_c.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLBlastOverrideParameters for KERNEL on DEVICE, after recording the values
 * it replaces if this is the first override of that pair. */
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
