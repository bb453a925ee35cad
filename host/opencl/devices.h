/* OpenCL device discovery: every device of every platform the ICD loader
 * reports, numbered in platform order then device order, and their
 * properties. */
#ifndef ALBERT_OPENCL_DEVICES_H
#define ALBERT_OPENCL_DEVICES_H

#include "opencl/errors.h"

/* Walks every device of every platform in the ICD loader's order and counts
 * them in *COUNT; when 0 <= INDEX < *COUNT it also returns that device and
 * its platform.  No platform at all is not an error: *COUNT is 0 and the
 * reason is in ERR->msg with code ALBERT_OK. */
int ocl_find_device(int index, cl_platform_id *platform, cl_device_id *device, int *count,
                    albert_error *err);

/* ocl_find_device's count alone. */
int ocl_device_count(int *count, albert_error *err);

/* Device INDEX as albert_device_info_get describes it, but for the tuning
 * profile (which the backend picks). */
int ocl_device_describe(int index, albert_device_info *info, albert_error *err);

/* Queries a string property into DST (always NUL-terminated, truncated to
 * SIZE). */
int ocl_device_string(cl_device_id dev, cl_device_info what, char *dst, size_t size,
                      albert_error *err);
int ocl_platform_string(cl_platform_id p, cl_platform_info what, char *dst, size_t size,
                        albert_error *err);

/* "GPU", "CPU", "ACCELERATOR" or "OTHER", as albert_device_info.type. */
const char *ocl_device_type_name(cl_device_type type);

/* *HAS = 1 when DEV lists extension NAME. */
int ocl_device_has_extension(cl_device_id dev, const char *name, int *has, albert_error *err);

#endif
