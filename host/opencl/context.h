/* The OpenCL backend's device context (context and in-order queue) and the
 * one place every buffer transfer and kernel launch goes through, so that
 * timing can attach an event to each. */
#ifndef ALBERT_OPENCL_CONTEXT_H
#define ALBERT_OPENCL_CONTEXT_H

#include "core/timing.h"
#include "opencl/devices.h"

/* What one command does, for the timings: the FLOPs of a GEMM (0 for
 * other commands) and the least bytes it must move. */
typedef struct ocl_work {
    uint64_t flops, bytes;
} ocl_work;

/* One recorded command for the timings: the kernel or routine name, its work,
 * its event (NULL when the command failed to enqueue) and, for a call that
 * enqueues several kernels but returns the last one's event (CLBlast), a
 * marker enqueued before it (else NULL). */
typedef struct ocl_event_rec {
    const char *name;
    ocl_work work;
    cl_event event;
    cl_event begin;
} ocl_event_rec;

/* What the program cache did, per context (tests read these). */
typedef struct ocl_program_stats {
    int source_builds;  /* clBuildProgram from source */
    int cache_hits;     /* programs created from a valid cache entry */
    int cache_writes;   /* entries written */
    int cache_rejects;  /* entries that failed the checks: never shown to the driver */
    int driver_rejects; /* entries that passed them but the driver refused */
} ocl_program_stats;

/* Where the library's warnings go: albert_engine_options' warn and
 * warn_user (fn NULL: nowhere). */
typedef struct ocl_warn_sink {
    void (*fn)(void *user, const char *message);
    void *user;
} ocl_warn_sink;

/* One device opened for one backend. */
typedef struct ocl_ctx {
    int index;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    char platform_name[128];
    char platform_version[128];
    char device_name[128];
    char driver_version[64];
    char device_type[16]; /* ocl_device_type_name's */
    size_t max_work_group;
    cl_ulong local_mem; /* CL_DEVICE_LOCAL_MEM_SIZE */
    int subgroups;      /* 1: cl_khr_subgroups or cl_intel_subgroups */
    int timing;              /* queue created with CL_QUEUE_PROFILING_ENABLE */
    ocl_event_rec *events;   /* one per command while timing */
    size_t n_events, cap_events;
    ocl_program_stats programs;
    ocl_warn_sink warn;      /* set by the owner after ocl_ctx_open; {NULL}: none */
    unsigned warned;         /* the problems (ocl_warn's bits) already reported */
} ocl_ctx;

/* Hands the one-line message to CTX's sink, unless PROBLEM (one bit, the
 * caller's) was already reported on this context: one warning per problem
 * per engine, however often it recurs. */
void ocl_warn(ocl_ctx *ctx, unsigned problem, const char *fmt, ...) ALBERT_PRINTF(3, 4);

/* Opens device INDEX (ocl_find_device's): context and in-order queue (with
 * profiling events when TIMING).  On failure everything created is
 * released. */
int ocl_ctx_open(int index, int timing, ocl_ctx *ctx, albert_error *err);
void ocl_ctx_close(ocl_ctx *ctx);

/* Where the next command's event goes: NULL when not timing (or when the
 * list cannot grow), so callers pass it straight to the enqueue call. */
cl_event *ocl_event_slot(ocl_ctx *ctx, const char *name, ocl_work work);

/* The same for a library call that enqueues several kernels and returns the
 * last one's event: enqueues a marker first, so the whole call is timed
 * from the marker's end. */
cl_event *ocl_event_span_slot(ocl_ctx *ctx, const char *name, ocl_work work);

/* Releases the recorded events and empties the list. */
void ocl_events_clear(ocl_ctx *ctx);

/* Releases the events recorded from the FIRST-th on (a failed batch's). */
void ocl_events_drop_from(ocl_ctx *ctx, size_t first);

/* Adds the first COUNT recorded commands (all must have completed: one
 * batch's, while later batches may still be queued) to STATS (NULL: to
 * nothing, a failed batch's) and drops them from the list; the rest move to
 * its front. */
void ocl_events_fold(ocl_ctx *ctx, size_t count, timing_table *stats);

/* Release helpers for destructors, which have nobody to report to. */
void ocl_release_mem(cl_mem *mem);
void ocl_release_kernel(cl_kernel *kernel);
void ocl_release_program(cl_program *program);

/* A buffer of BYTES, initialised from HOST when not NULL.  WHAT names it in
 * errors. */
int ocl_buffer(ocl_ctx *ctx, cl_mem_flags flags, size_t bytes, const void *host, cl_mem *out,
               const char *what, albert_error *err);

/* Host -> device and device -> host copies.  Non-blocking ones need HOST
 * alive until the queue has run them (ocl_finish, or a later marker's
 * event). */
int ocl_write(ocl_ctx *ctx, cl_mem mem, size_t offset, size_t bytes, const void *host,
              int blocking, albert_error *err);
/* Queues BYTES of MEM set to VALUE, int32 after int32 (timed as an upload). */
int ocl_fill_int(ocl_ctx *ctx, cl_mem mem, int32_t value, size_t bytes, albert_error *err);
int ocl_read(ocl_ctx *ctx, cl_mem mem, size_t offset, size_t bytes, void *host, int blocking,
             albert_error *err);
/* Queues a device-side copy of ROWS rows of ROW_BYTES each, SRC_PITCH bytes
 * apart in SRC, packed at the start of DST (which must not be SRC). */
int ocl_copy_rows(ocl_ctx *ctx, cl_mem src, size_t src_pitch, cl_mem dst, size_t row_bytes,
                  size_t rows, albert_error *err);

int ocl_finish(ocl_ctx *ctx, albert_error *err);

/* One kernel argument: its size and a pointer to its value. */
typedef struct ocl_arg {
    size_t size;
    const void *value;
} ocl_arg;

/* Compound literals live to the end of the enclosing block, long enough for
 * the ocl_launch call they are written in. */
#define OCL_MEM(m) ((ocl_arg){sizeof(cl_mem), &(cl_mem){(m)}})
#define OCL_INT(i) ((ocl_arg){sizeof(cl_int), &(cl_int){(cl_int)(i)}})
#define OCL_FLOAT(f) ((ocl_arg){sizeof(cl_float), &(cl_float){(cl_float)(f)}})

/* Work-groups one enqueue may have along dimensions 1 and 2: CUDA caps a
 * grid's y and z there, and NVIDIA's OpenCL runs on CUDA. */
#define OCL_MAX_GROUPS_YZ ((size_t)65535)

/* Sets ARGS[0..NARGS) on KERNEL and enqueues it over GLOBAL/LOCAL (DIMS
 * dimensions), in slices with global offsets where dimension 1 or 2 has
 * more than OCL_MAX_GROUPS_YZ work-groups (never with LOCAL NULL): such
 * kernels must index by get_global_id, which counts the offset (get_group_id
 * does not).  NAME is
 * the kernel's name, for errors and timings, WORK what it does, for
 * timings. */
int ocl_launch(ocl_ctx *ctx, cl_kernel kernel, const char *name, ocl_work work,
               const ocl_arg *args, int nargs, cl_uint dims, const size_t *global,
               const size_t *local, albert_error *err);

/* N rounded up to a multiple of M. */
size_t ocl_round_up(size_t n, size_t m);

#endif
