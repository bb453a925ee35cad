/* OpenCL device discovery: every device of every platform the ICD loader
 * reports, numbered in platform order then device order, so an index is
 * stable for as long as the installed drivers are. */
#include "opencl/devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The devices of platform P; a platform without devices has 0, not an
 * error. */
static int platform_devices(cl_platform_id p, cl_device_id **devs, cl_uint *n, albert_error *err)
{
    *devs = NULL;
    *n = 0;
    cl_int rc = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, NULL, n);
    if (rc == CL_DEVICE_NOT_FOUND || (rc == CL_SUCCESS && *n == 0)) {
        *n = 0;
        return ALBERT_OK;
    }
    if (rc != CL_SUCCESS)
        return ocl_check(rc, "clGetDeviceIDs", err);
    *devs = malloc(*n * sizeof **devs);
    if (!*devs)
        return albert_fail(err, ALBERT_E_NOMEM, "clGetDeviceIDs: out of memory");
    rc = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, *n, *devs, NULL);
    if (rc != CL_SUCCESS) {
        free(*devs);
        *devs = NULL;
        return ocl_check(rc, "clGetDeviceIDs", err);
    }
    return ALBERT_OK;
}

/* Every platform; none at all is reported as *N == 0 with the reason in
 * ERR (code ALBERT_OK). */
static int platforms(cl_platform_id **ps, cl_uint *n, albert_error *err)
{
    *ps = NULL;
    *n = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, n);
    if (rc == CL_PLATFORM_NOT_FOUND_KHR || (rc == CL_SUCCESS && *n == 0)) {
        *n = 0;
        return albert_fail(err, ALBERT_OK, "no OpenCL platform found (clGetPlatformIDs: %s)",
                           rc == CL_SUCCESS ? "0 platforms" : ocl_error_name(rc));
    }
    if (rc != CL_SUCCESS)
        return ocl_check(rc, "clGetPlatformIDs", err);
    *ps = malloc(*n * sizeof **ps);
    if (!*ps)
        return albert_fail(err, ALBERT_E_NOMEM, "clGetPlatformIDs: out of memory");
    rc = clGetPlatformIDs(*n, *ps, NULL);
    if (rc != CL_SUCCESS) {
        free(*ps);
        *ps = NULL;
        return ocl_check(rc, "clGetPlatformIDs", err);
    }
    return albert_ok(err);
}

int ocl_find_device(int index, cl_platform_id *platform, cl_device_id *device, int *count,
                    albert_error *err)
{
    *count = 0;
    cl_platform_id *ps;
    cl_uint np;
    int rc = platforms(&ps, &np, err);
    for (cl_uint i = 0; rc == ALBERT_OK && i < np; i++) {
        cl_device_id *devs;
        cl_uint nd;
        rc = platform_devices(ps[i], &devs, &nd, err);
        if (rc == ALBERT_OK && index >= *count && index < *count + (int)nd) {
            *platform = ps[i];
            *device = devs[index - *count];
        }
        *count += (int)nd;
        free(devs);
    }
    free(ps);
    return rc;
}

int ocl_device_count(int *count, albert_error *err)
{
    cl_platform_id p;
    cl_device_id d;
    return ocl_find_device(-1, &p, &d, count, err);
}

/* clGetDeviceInfo or clGetPlatformInfo, the one that fits OBJ. */
static cl_int get_info(int is_platform, void *obj, cl_uint what, size_t size, void *value,
                       size_t *ret)
{
    if (is_platform)
        return clGetPlatformInfo((cl_platform_id)obj, what, size, value, ret);
    return clGetDeviceInfo((cl_device_id)obj, what, size, value, ret);
}

/* A string property of any length in a malloc'd buffer. */
static int query_string(int is_platform, void *obj, cl_uint what, char **out, albert_error *err)
{
    const char *call = is_platform ? "clGetPlatformInfo" : "clGetDeviceInfo";
    size_t len = 0;
    int rc = ocl_check(get_info(is_platform, obj, what, 0, NULL, &len), call, err);
    if (rc != ALBERT_OK)
        return rc;
    char *buf = malloc(len + 1);
    if (!buf)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", call);
    rc = ocl_check(get_info(is_platform, obj, what, len, buf, NULL), call, err);
    if (rc != ALBERT_OK) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    return ALBERT_OK;
}

/* Truncates into DST: a property longer than the caller's field must not
 * fail the whole query. */
static int copy_string(int is_platform, void *obj, cl_uint what, char *dst, size_t size,
                       albert_error *err)
{
    char *s = NULL;
    int rc = query_string(is_platform, obj, what, &s, err);
    if (rc != ALBERT_OK)
        return rc;
    snprintf(dst, size, "%s", s);
    free(s);
    return ALBERT_OK;
}

int ocl_device_string(cl_device_id dev, cl_device_info what, char *dst, size_t size,
                      albert_error *err)
{
    return copy_string(0, dev, what, dst, size, err);
}

int ocl_platform_string(cl_platform_id p, cl_platform_info what, char *dst, size_t size,
                        albert_error *err)
{
    return copy_string(1, p, what, dst, size, err);
}

int ocl_device_has_extension(cl_device_id dev, const char *name, int *has, albert_error *err)
{
    char *list = NULL;
    int rc = query_string(0, dev, CL_DEVICE_EXTENSIONS, &list, err);
    if (rc != ALBERT_OK)
        return rc;
    /* Whole words only: "cl_khr_fp16" must not match "cl_khr_fp16_foo". */
    size_t n = strlen(name);
    *has = 0;
    for (const char *p = strstr(list, name); p && !*has; p = strstr(p + 1, name))
        *has = (p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0');
    free(list);
    return ALBERT_OK;
}

const char *ocl_device_type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return "GPU";
    if (t & CL_DEVICE_TYPE_CPU)
        return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return "ACCELERATOR";
    return "OTHER";
}

static int describe(cl_platform_id p, cl_device_id d, albert_device_info *info, albert_error *err)
{
    cl_device_type type = 0;
    cl_uint units = 0;
    cl_ulong mem = 0;
    int rc = ocl_platform_string(p, CL_PLATFORM_NAME, info->platform, sizeof info->platform, err);
    if (rc == ALBERT_OK)
        rc = ocl_device_string(d, CL_DEVICE_NAME, info->name, sizeof info->name, err);
    if (rc == ALBERT_OK)
        rc = ocl_device_string(d, CL_DRIVER_VERSION, info->driver_version,
                               sizeof info->driver_version, err);
    if (rc == ALBERT_OK)
        rc = ocl_device_string(d, CL_DEVICE_VERSION, info->device_version,
                               sizeof info->device_version, err);
    if (rc == ALBERT_OK)
        rc = ocl_device_has_extension(d, "cl_khr_fp16", &info->fp16, err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL),
                       "clGetDeviceInfo", err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL),
                       "clGetDeviceInfo", err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL),
                       "clGetDeviceInfo", err);
    snprintf(info->type, sizeof info->type, "%s", ocl_device_type_name(type));
    info->compute_units = (int)units;
    info->global_mem_bytes = mem;
    return rc;
}

int ocl_device_describe(int index, albert_device_info *info, albert_error *err)
{
    if (!info)
        return albert_fail(err, ALBERT_E_ARG, "ocl_device_describe: NULL info");
    memset(info, 0, sizeof *info);
    cl_platform_id p = NULL;
    cl_device_id d = NULL;
    int count = 0;
    albert_error why = {0};
    int rc = ocl_find_device(index, &p, &d, &count, &why);
    if (rc != ALBERT_OK) {
        if (err)
            *err = why;
        return rc;
    }
    if (index < 0 || index >= count)
        return albert_fail(err, ALBERT_E_ARG, "no OpenCL device %d: %d device%s found%s%s", index,
                           count, count == 1 ? "" : "s", why.msg[0] ? "; " : "", why.msg);
    info->index = index;
    snprintf(info->id, sizeof info->id, "%d", index);
    snprintf(info->backend, sizeof info->backend, "opencl");
    rc = describe(p, d, info, err);
    /* fp16 stores Linear weights as halves and widens them with vload_half,
     * which core OpenCL C has (a half pointer needs no cl_khr_fp16; only half
     * arithmetic does, and fp16 does none).  So every OpenCL device runs it,
     * NVIDIA's too, whose drivers do not report cl_khr_fp16. */
    snprintf(info->precisions, sizeof info->precisions, "fp32,fp16");
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
