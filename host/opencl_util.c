/* OpenCL error names, checked calls, the device context and the single path
 * for transfers and launches (see opencl_util.h). */
#include "opencl_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct code_name {
    int code;
    const char *name;
} code_name;

/* Numeric codes, not the CL_* macros: CL_TARGET_OPENCL_VERSION=120 hides the
 * newer ones, yet a 3.0 driver can still return them. */
static const code_name cl_codes[] = {
    {0, "CL_SUCCESS"},
    {-1, "CL_DEVICE_NOT_FOUND"},
    {-2, "CL_DEVICE_NOT_AVAILABLE"},
    {-3, "CL_COMPILER_NOT_AVAILABLE"},
    {-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"},
    {-5, "CL_OUT_OF_RESOURCES"},
    {-6, "CL_OUT_OF_HOST_MEMORY"},
    {-7, "CL_PROFILING_INFO_NOT_AVAILABLE"},
    {-8, "CL_MEM_COPY_OVERLAP"},
    {-9, "CL_IMAGE_FORMAT_MISMATCH"},
    {-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED"},
    {-11, "CL_BUILD_PROGRAM_FAILURE"},
    {-12, "CL_MAP_FAILURE"},
    {-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET"},
    {-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"},
    {-15, "CL_COMPILE_PROGRAM_FAILURE"},
    {-16, "CL_LINKER_NOT_AVAILABLE"},
    {-17, "CL_LINK_PROGRAM_FAILURE"},
    {-18, "CL_DEVICE_PARTITION_FAILED"},
    {-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"},
    {-30, "CL_INVALID_VALUE"},
    {-31, "CL_INVALID_DEVICE_TYPE"},
    {-32, "CL_INVALID_PLATFORM"},
    {-33, "CL_INVALID_DEVICE"},
    {-34, "CL_INVALID_CONTEXT"},
    {-35, "CL_INVALID_QUEUE_PROPERTIES"},
    {-36, "CL_INVALID_COMMAND_QUEUE"},
    {-37, "CL_INVALID_HOST_PTR"},
    {-38, "CL_INVALID_MEM_OBJECT"},
    {-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"},
    {-40, "CL_INVALID_IMAGE_SIZE"},
    {-41, "CL_INVALID_SAMPLER"},
    {-42, "CL_INVALID_BINARY"},
    {-43, "CL_INVALID_BUILD_OPTIONS"},
    {-44, "CL_INVALID_PROGRAM"},
    {-45, "CL_INVALID_PROGRAM_EXECUTABLE"},
    {-46, "CL_INVALID_KERNEL_NAME"},
    {-47, "CL_INVALID_KERNEL_DEFINITION"},
    {-48, "CL_INVALID_KERNEL"},
    {-49, "CL_INVALID_ARG_INDEX"},
    {-50, "CL_INVALID_ARG_VALUE"},
    {-51, "CL_INVALID_ARG_SIZE"},
    {-52, "CL_INVALID_KERNEL_ARGS"},
    {-53, "CL_INVALID_WORK_DIMENSION"},
    {-54, "CL_INVALID_WORK_GROUP_SIZE"},
    {-55, "CL_INVALID_WORK_ITEM_SIZE"},
    {-56, "CL_INVALID_GLOBAL_OFFSET"},
    {-57, "CL_INVALID_EVENT_WAIT_LIST"},
    {-58, "CL_INVALID_EVENT"},
    {-59, "CL_INVALID_OPERATION"},
    {-60, "CL_INVALID_GL_OBJECT"},
    {-61, "CL_INVALID_BUFFER_SIZE"},
    {-62, "CL_INVALID_MIP_LEVEL"},
    {-63, "CL_INVALID_GLOBAL_WORK_SIZE"},
    {-64, "CL_INVALID_PROPERTY"},
    {-65, "CL_INVALID_IMAGE_DESCRIPTOR"},
    {-66, "CL_INVALID_COMPILER_OPTIONS"},
    {-67, "CL_INVALID_LINKER_OPTIONS"},
    {-68, "CL_INVALID_DEVICE_PARTITION_COUNT"},
    {-69, "CL_INVALID_PIPE_SIZE"},
    {-70, "CL_INVALID_DEVICE_QUEUE"},
    {-71, "CL_INVALID_SPEC_ID"},
    {-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED"},
    {-1000, "CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR"},
    {-1001, "CL_PLATFORM_NOT_FOUND_KHR"},
    {-1057, "CL_DEVICE_PARTITION_FAILED_EXT"},
    {-1058, "CL_INVALID_PARTITION_COUNT_EXT"},
    {-1059, "CL_INVALID_PARTITION_NAME_EXT"},
    {-1121, "CL_CONTEXT_TERMINATED_KHR"},
    {-1138, "CL_INVALID_COMMAND_BUFFER_KHR"},
    {-1139, "CL_INVALID_SYNC_POINT_WAIT_LIST_KHR"},
    {-1140, "CL_INCOMPATIBLE_COMMAND_QUEUE_KHR"},
};

static const code_name clblast_codes[] = {
    {0, "CLBlastSuccess"},
    {-3, "CLBlastOpenCLCompilerNotAvailable"},
    {-4, "CLBlastTempBufferAllocFailure"},
    {-5, "CLBlastOpenCLOutOfResources"},
    {-6, "CLBlastOpenCLOutOfHostMemory"},
    {-11, "CLBlastOpenCLBuildProgramFailure"},
    {-30, "CLBlastInvalidValue"},
    {-36, "CLBlastInvalidCommandQueue"},
    {-38, "CLBlastInvalidMemObject"},
    {-42, "CLBlastInvalidBinary"},
    {-43, "CLBlastInvalidBuildOptions"},
    {-44, "CLBlastInvalidProgram"},
    {-45, "CLBlastInvalidProgramExecutable"},
    {-46, "CLBlastInvalidKernelName"},
    {-47, "CLBlastInvalidKernelDefinition"},
    {-48, "CLBlastInvalidKernel"},
    {-49, "CLBlastInvalidArgIndex"},
    {-50, "CLBlastInvalidArgValue"},
    {-51, "CLBlastInvalidArgSize"},
    {-52, "CLBlastInvalidKernelArgs"},
    {-53, "CLBlastInvalidLocalNumDimensions"},
    {-54, "CLBlastInvalidLocalThreadsTotal"},
    {-55, "CLBlastInvalidLocalThreadsDim"},
    {-56, "CLBlastInvalidGlobalOffset"},
    {-57, "CLBlastInvalidEventWaitList"},
    {-58, "CLBlastInvalidEvent"},
    {-59, "CLBlastInvalidOperation"},
    {-61, "CLBlastInvalidBufferSize"},
    {-63, "CLBlastInvalidGlobalWorkSize"},
    {-1024, "CLBlastNotImplemented"},
    {-1022, "CLBlastInvalidMatrixA"},
    {-1021, "CLBlastInvalidMatrixB"},
    {-1020, "CLBlastInvalidMatrixC"},
    {-1019, "CLBlastInvalidVectorX"},
    {-1018, "CLBlastInvalidVectorY"},
    {-1017, "CLBlastInvalidDimension"},
    {-1016, "CLBlastInvalidLeadDimA"},
    {-1015, "CLBlastInvalidLeadDimB"},
    {-1014, "CLBlastInvalidLeadDimC"},
    {-1013, "CLBlastInvalidIncrementX"},
    {-1012, "CLBlastInvalidIncrementY"},
    {-1011, "CLBlastInsufficientMemoryA"},
    {-1010, "CLBlastInsufficientMemoryB"},
    {-1009, "CLBlastInsufficientMemoryC"},
    {-1008, "CLBlastInsufficientMemoryX"},
    {-1007, "CLBlastInsufficientMemoryY"},
    {-2050, "CLBlastInsufficientMemoryTemp"},
    {-2049, "CLBlastInvalidBatchCount"},
    {-2048, "CLBlastInvalidOverrideKernel"},
    {-2047, "CLBlastMissingOverrideParameter"},
    {-2046, "CLBlastInvalidLocalMemUsage"},
    {-2045, "CLBlastNoHalfPrecision"},
    {-2044, "CLBlastNoDoublePrecision"},
    {-2043, "CLBlastInvalidVectorScalar"},
    {-2042, "CLBlastInsufficientMemoryScalar"},
    {-2041, "CLBlastDatabaseError"},
    {-2040, "CLBlastUnknownError"},
    {-2039, "CLBlastUnexpectedError"},
};

static const char *lookup(const code_name *table, size_t n, int code, const char *unknown)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].code == code)
            return table[i].name;
    return unknown;
}

const char *ocl_error_name(cl_int code)
{
    return lookup(cl_codes, sizeof cl_codes / sizeof cl_codes[0], code, "unknown OpenCL error");
}

const char *clblast_status_name(CLBlastStatusCode code)
{
    return lookup(clblast_codes, sizeof clblast_codes / sizeof clblast_codes[0], code,
                  "unknown CLBlast status");
}

int ocl_check(cl_int rc, const char *call, albert_error *err)
{
    if (rc == CL_SUCCESS)
        return ALBERT_OK;
    return albert_fail(err, ALBERT_E_DEVICE, "%s: %s (%d)", call, ocl_error_name(rc), (int)rc);
}

int clblast_check(CLBlastStatusCode rc, const char *call, albert_error *err)
{
    if (rc == CLBlastSuccess)
        return ALBERT_OK;
    return albert_fail(err, ALBERT_E_DEVICE, "%s: %s (%d)", call, clblast_status_name(rc),
                       (int)rc);
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

static int ctx_describe(ocl_ctx *c, albert_error *err)
{
    int rc = ocl_platform_string(c->platform, CL_PLATFORM_NAME, c->platform_name,
                                 sizeof c->platform_name, err);
    if (rc == ALBERT_OK)
        rc = ocl_platform_string(c->platform, CL_PLATFORM_VERSION, c->platform_version,
                                 sizeof c->platform_version, err);
    if (rc == ALBERT_OK)
        rc = ocl_device_string(c->device, CL_DEVICE_NAME, c->device_name, sizeof c->device_name,
                               err);
    if (rc == ALBERT_OK)
        rc = ocl_device_string(c->device, CL_DRIVER_VERSION, c->driver_version,
                               sizeof c->driver_version, err);
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(c->device, CL_DEVICE_MAX_WORK_GROUP_SIZE,
                                       sizeof c->max_work_group, &c->max_work_group, NULL),
                       "clGetDeviceInfo", err);
    return rc;
}

/* "0 (NAME), 1 (NAME), cpu" for an error that tells the user what to pick. */
static void list_devices(int count, char *dst, size_t size)
{
    size_t len = 0;
    dst[0] = '\0';
    for (int i = 0; i < count && len < size; i++) {
        cl_platform_id p;
        cl_device_id d;
        int n;
        char name[128] = "?";
        if (ocl_find_device(i, &p, &d, &n, NULL) == ALBERT_OK)
            ocl_device_string(d, CL_DEVICE_NAME, name, sizeof name, NULL);
        len += (size_t)snprintf(dst + len, size - len, "%d (%s), ", i, name);
    }
    if (len < size)
        snprintf(dst + len, size - len, "cpu");
}

int ocl_ctx_open(int index, int profiling, ocl_ctx *c, albert_error *err)
{
    memset(c, 0, sizeof *c);
    c->index = index;
    c->profiling = profiling;
    int count = 0;
    int rc = ocl_find_device(index, &c->platform, &c->device, &count, err);
    if (rc != ALBERT_OK)
        return rc;
    if (index < 0 || index >= count) {
        char list[ALBERT_ERRMSG_MAX / 2];
        list_devices(count, list, sizeof list);
        return albert_fail(err, ALBERT_E_ARG, "OpenCL device %d does not exist; there are: %s",
                           index, list);
    }
    rc = ctx_describe(c, err);
    if (rc != ALBERT_OK)
        return rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)c->platform,
                                     0};
    cl_int cl_rc;
    c->context = clCreateContext(props, 1, &c->device, NULL, NULL, &cl_rc);
    if (cl_rc != CL_SUCCESS)
        return ocl_check(cl_rc, "clCreateContext", err);
    cl_command_queue_properties qprops = profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    c->queue = clCreateCommandQueue(c->context, c->device, qprops, &cl_rc);
    if (cl_rc != CL_SUCCESS) {
        ocl_ctx_close(c);
        return ocl_check(cl_rc, "clCreateCommandQueue", err);
    }
    return ALBERT_OK;
}

void ocl_ctx_close(ocl_ctx *c)
{
    ocl_events_clear(c);
    free(c->events);
    c->events = NULL;
    c->cap_events = 0;
    /* Destructors cannot report: a failed release leaves nothing to undo. */
    if (c->queue)
        (void)clReleaseCommandQueue(c->queue);
    if (c->context)
        (void)clReleaseContext(c->context);
    c->queue = NULL;
    c->context = NULL;
}

cl_event *ocl_event_slot(ocl_ctx *c, const char *name, ocl_work work)
{
    if (!c->profiling)
        return NULL;
    if (c->n_events == c->cap_events) {
        size_t cap = c->cap_events ? 2 * c->cap_events : 256;
        ocl_event_rec *bigger = realloc(c->events, cap * sizeof *bigger);
        if (!bigger)
            return NULL; /* profiling loses this event; the run itself goes on */
        c->events = bigger;
        c->cap_events = cap;
    }
    ocl_event_rec *rec = &c->events[c->n_events++];
    rec->name = name;
    rec->work = work;
    rec->event = NULL;
    rec->begin = NULL;
    return &rec->event;
}

cl_event *ocl_event_span_slot(ocl_ctx *c, const char *name, ocl_work work)
{
    cl_event *slot = ocl_event_slot(c, name, work);
    if (!slot)
        return NULL;
    /* On an in-order queue the marker ends when everything before it has,
     * or at once on an idle device: where the call's first kernel starts.
     * Failing to place it only makes the timing cover the last kernel. */
    ocl_event_rec *rec = &c->events[c->n_events - 1];
    if (clEnqueueMarkerWithWaitList(c->queue, 0, NULL, &rec->begin) != CL_SUCCESS)
        rec->begin = NULL;
    return slot;
}

void ocl_events_clear(ocl_ctx *c)
{
    for (size_t i = 0; i < c->n_events; i++) {
        if (c->events[i].event)
            (void)clReleaseEvent(c->events[i].event);
        if (c->events[i].begin)
            (void)clReleaseEvent(c->events[i].begin);
    }
    c->n_events = 0;
}

/* A profiling timestamp, 0 when the driver has none. */
static cl_ulong event_time(cl_event ev, cl_profiling_info what)
{
    cl_ulong t = 0;
    if (!ev || clGetEventProfilingInfo(ev, what, sizeof t, &t, NULL) != CL_SUCCESS)
        return 0;
    return t;
}

void ocl_events_fold(ocl_ctx *c, kstat_table *stats)
{
    for (size_t i = 0; i < c->n_events; i++) {
        const ocl_event_rec *rec = &c->events[i];
        if (!rec->event)
            continue; /* never enqueued: nothing ran */
        cl_ulong start = event_time(rec->event, CL_PROFILING_COMMAND_START);
        cl_ulong end = event_time(rec->event, CL_PROFILING_COMMAND_END);
        cl_ulong begin = event_time(rec->begin, CL_PROFILING_COMMAND_END);
        if (begin && begin < start)
            start = begin;
        kstat_add(stats, rec->name, end > start ? end - start : 0, rec->work.flops,
                  rec->work.bytes);
    }
    ocl_events_clear(c);
}

void ocl_release_mem(cl_mem *mem)
{
    if (*mem)
        (void)clReleaseMemObject(*mem);
    *mem = NULL;
}

void ocl_release_kernel(cl_kernel *kernel)
{
    if (*kernel)
        (void)clReleaseKernel(*kernel);
    *kernel = NULL;
}

void ocl_release_program(cl_program *program)
{
    if (*program)
        (void)clReleaseProgram(*program);
    *program = NULL;
}

int ocl_buffer(ocl_ctx *c, cl_mem_flags flags, size_t bytes, const void *host, cl_mem *out,
               const char *what, albert_error *err)
{
    cl_int rc;
    if (host)
        flags |= CL_MEM_COPY_HOST_PTR;
    /* The API takes a non-const pointer but only reads it with COPY_HOST_PTR. */
    *out = clCreateBuffer(c->context, flags, bytes, (void *)(uintptr_t)host, &rc);
    if (rc != CL_SUCCESS)
        return albert_fail(err, ALBERT_E_DEVICE, "clCreateBuffer (%s, %zu bytes): %s", what, bytes,
                           ocl_error_name(rc));
    return ALBERT_OK;
}

int ocl_write(ocl_ctx *c, cl_mem mem, size_t offset, size_t bytes, const void *host, int blocking,
              albert_error *err)
{
    cl_int rc = clEnqueueWriteBuffer(c->queue, mem, blocking ? CL_TRUE : CL_FALSE, offset, bytes,
                                     host, 0, NULL,
                                     ocl_event_slot(c, "upload", (ocl_work){0, bytes}));
    return ocl_check(rc, "clEnqueueWriteBuffer", err);
}

int ocl_read(ocl_ctx *c, cl_mem mem, size_t offset, size_t bytes, void *host, int blocking,
             albert_error *err)
{
    cl_int rc = clEnqueueReadBuffer(c->queue, mem, blocking ? CL_TRUE : CL_FALSE, offset, bytes,
                                    host, 0, NULL,
                                    ocl_event_slot(c, "download", (ocl_work){0, bytes}));
    return ocl_check(rc, "clEnqueueReadBuffer", err);
}

int ocl_finish(ocl_ctx *c, albert_error *err)
{
    return ocl_check(clFinish(c->queue), "clFinish", err);
}

int ocl_launch(ocl_ctx *c, cl_kernel kernel, const char *name, ocl_work work, const ocl_arg *args,
               int nargs, cl_uint dims, const size_t *global, const size_t *local,
               albert_error *err)
{
    for (int i = 0; i < nargs; i++) {
        cl_int rc = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (rc != CL_SUCCESS)
            return albert_fail(err, ALBERT_E_DEVICE, "clSetKernelArg (%s, arg %d): %s", name, i,
                               ocl_error_name(rc));
    }
    cl_int rc = clEnqueueNDRangeKernel(c->queue, kernel, dims, NULL, global, local, 0, NULL,
                                       ocl_event_slot(c, name, work));
    if (rc != CL_SUCCESS)
        return albert_fail(err, ALBERT_E_DEVICE, "clEnqueueNDRangeKernel (%s): %s", name,
                           ocl_error_name(rc));
    return ALBERT_OK;
}

size_t ocl_round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}
