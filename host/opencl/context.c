/* The device context, its recorded events and the single path for
 * transfers and launches (see context.h). */
#include "opencl/context.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ocl_warn(ocl_ctx *c, unsigned problem, const char *fmt, ...)
{
    if (!c->warn.fn || (c->warned & problem))
        return;
    c->warned |= problem;
    char msg[8192]; /* room for a path or two, unlike an albert_error */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->warn.fn(c->warn.user, msg);
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
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(c->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_mem,
                                       &c->local_mem, NULL),
                       "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)", err);
    int khr = 0, intel = 0;
    if (rc == ALBERT_OK)
        rc = ocl_device_has_extension(c->device, "cl_khr_subgroups", &khr, err);
    if (rc == ALBERT_OK)
        rc = ocl_device_has_extension(c->device, "cl_intel_subgroups", &intel, err);
    c->subgroups = khr || intel;
    cl_device_type type = 0;
    if (rc == ALBERT_OK)
        rc = ocl_check(clGetDeviceInfo(c->device, CL_DEVICE_TYPE, sizeof type, &type, NULL),
                       "clGetDeviceInfo", err);
    snprintf(c->device_type, sizeof c->device_type, "%s", ocl_device_type_name(type));
    return rc;
}

int ocl_ctx_open(int index, int timing, ocl_ctx *c, albert_error *err)
{
    memset(c, 0, sizeof *c);
    c->index = index;
    c->timing = timing;
    int count = 0;
    int rc = ocl_find_device(index, &c->platform, &c->device, &count, err);
    if (rc != ALBERT_OK)
        return rc;
    if (index < 0 || index >= count)
        return albert_fail(err, ALBERT_E_ARG, "OpenCL device %d does not exist (%d found)", index,
                           count);
    rc = ctx_describe(c, err);
    if (rc != ALBERT_OK)
        return rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)c->platform,
                                     0};
    cl_int cl_rc;
    c->context = clCreateContext(props, 1, &c->device, NULL, NULL, &cl_rc);
    if (cl_rc != CL_SUCCESS)
        return ocl_check(cl_rc, "clCreateContext", err);
    cl_command_queue_properties qprops = timing ? CL_QUEUE_PROFILING_ENABLE : 0;
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
    if (!c->timing)
        return NULL;
    if (c->n_events == c->cap_events) {
        size_t cap = c->cap_events ? 2 * c->cap_events : 256;
        ocl_event_rec *bigger = realloc(c->events, cap * sizeof *bigger);
        if (!bigger)
            return NULL; /* the timings lose this event; the run itself goes on */
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

static void release_events(ocl_event_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i].event)
            (void)clReleaseEvent(recs[i].event);
        if (recs[i].begin)
            (void)clReleaseEvent(recs[i].begin);
    }
}

void ocl_events_drop_from(ocl_ctx *c, size_t first)
{
    if (first >= c->n_events)
        return;
    release_events(c->events + first, c->n_events - first);
    c->n_events = first;
}

void ocl_events_clear(ocl_ctx *c)
{
    ocl_events_drop_from(c, 0);
}

/* A profiling timestamp, 0 when the driver has none. */
static cl_ulong event_time(cl_event ev, cl_profiling_info what)
{
    cl_ulong t = 0;
    if (!ev || clGetEventProfilingInfo(ev, what, sizeof t, &t, NULL) != CL_SUCCESS)
        return 0;
    return t;
}

void ocl_events_fold(ocl_ctx *c, size_t count, timing_table *stats)
{
    count = count < c->n_events ? count : c->n_events;
    if (count == 0)
        return;
    for (size_t i = 0; stats && i < count; i++) {
        const ocl_event_rec *rec = &c->events[i];
        if (!rec->event)
            continue; /* never enqueued: nothing ran */
        cl_ulong start = event_time(rec->event, CL_PROFILING_COMMAND_START);
        cl_ulong end = event_time(rec->event, CL_PROFILING_COMMAND_END);
        cl_ulong begin = event_time(rec->begin, CL_PROFILING_COMMAND_END);
        if (begin && begin < start)
            start = begin;
        timing_add(stats, rec->name, end > start ? end - start : 0, rec->work.flops,
                  rec->work.bytes);
    }
    release_events(c->events, count);
    memmove(c->events, c->events + count, (c->n_events - count) * sizeof *c->events);
    c->n_events -= count;
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
    char call[128];
    snprintf(call, sizeof call, "clCreateBuffer (%.60s, %zu bytes)", what, bytes);
    int status = ocl_check(rc, call, err);
    if (status != ALBERT_OK)
        ocl_release_mem(out);
    return status;
}

int ocl_write(ocl_ctx *c, cl_mem mem, size_t offset, size_t bytes, const void *host, int blocking,
              albert_error *err)
{
    cl_int rc = clEnqueueWriteBuffer(c->queue, mem, blocking ? CL_TRUE : CL_FALSE, offset, bytes,
                                     host, 0, NULL,
                                     ocl_event_slot(c, "upload", (ocl_work){0, bytes}));
    return ocl_check(rc, "clEnqueueWriteBuffer", err);
}

int ocl_fill_int(ocl_ctx *c, cl_mem mem, int32_t value, size_t bytes, albert_error *err)
{
    cl_int rc = clEnqueueFillBuffer(c->queue, mem, &value, sizeof value, 0, bytes, 0, NULL,
                                    ocl_event_slot(c, "upload", (ocl_work){0, bytes}));
    return ocl_check(rc, "clEnqueueFillBuffer", err);
}

int ocl_read(ocl_ctx *c, cl_mem mem, size_t offset, size_t bytes, void *host, int blocking,
             albert_error *err)
{
    cl_int rc = clEnqueueReadBuffer(c->queue, mem, blocking ? CL_TRUE : CL_FALSE, offset, bytes,
                                    host, 0, NULL,
                                    ocl_event_slot(c, "download", (ocl_work){0, bytes}));
    return ocl_check(rc, "clEnqueueReadBuffer", err);
}

int ocl_copy_rows(ocl_ctx *c, cl_mem src, size_t src_pitch, cl_mem dst, size_t row_bytes,
                  size_t rows, albert_error *err)
{
    const size_t origin[3] = {0, 0, 0}, region[3] = {row_bytes, rows, 1};
    cl_int rc = clEnqueueCopyBufferRect(
        c->queue, src, dst, origin, origin, region, src_pitch, 0, row_bytes, 0, 0, NULL,
        ocl_event_slot(c, "copy_rows", (ocl_work){0, 2 * row_bytes * rows}));
    return ocl_check(rc, "clEnqueueCopyBufferRect", err);
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
    /* Slices of at most OCL_MAX_GROUPS_YZ work-groups along dimensions 1
     * and 2 (all of dimension 0), in order; a sliced launch is one timed
     * call, from a marker before its first slice to its last slice's end. */
    size_t step[3] = {global[0], 1, 1}, offset[3] = {0, 0, 0}, part[3] = {global[0], 1, 1};
    const size_t extent[3] = {global[0], dims > 1 ? global[1] : 1, dims > 2 ? global[2] : 1};
    for (cl_uint d = 1; d < dims; d++) {
        const size_t most = local ? OCL_MAX_GROUPS_YZ * local[d] : extent[d];
        step[d] = extent[d] < most ? extent[d] : most;
    }
    const int sliced = step[1] < extent[1] || step[2] < extent[2];
    cl_event *span = sliced ? ocl_event_span_slot(c, name, work) : NULL;
    for (offset[2] = 0; offset[2] < extent[2]; offset[2] += step[2])
        for (offset[1] = 0; offset[1] < extent[1]; offset[1] += step[1]) {
            for (int d = 1; d < 3; d++)
                part[d] = extent[d] - offset[d] < step[d] ? extent[d] - offset[d] : step[d];
            const int last = offset[1] + part[1] == extent[1] && offset[2] + part[2] == extent[2];
            cl_event *ev = !sliced ? ocl_event_slot(c, name, work) : last ? span : NULL;
            cl_int rc = clEnqueueNDRangeKernel(c->queue, kernel, dims, sliced ? offset : NULL,
                                               part, local, 0, NULL, ev);
            if (rc != CL_SUCCESS)
                return albert_fail(err, ALBERT_E_DEVICE, "clEnqueueNDRangeKernel (%s): %s", name,
                                   ocl_error_name(rc));
        }
    return ALBERT_OK;
}

size_t ocl_round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}
