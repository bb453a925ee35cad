/* The boundary every compute backend implements.  The engine validates a
 * batch (ids in range, shapes) before it reaches a backend, so backends may
 * assume well-formed input. */
#ifndef ALBERT_BACKEND_H
#define ALBERT_BACKEND_H

#include "kernel_stats.h"
#include "model.h"

typedef struct albert_backend albert_backend;

typedef struct albert_backend_ops {
    /* Fills every non-NULL buffer of OUT for BATCH. */
    int (*run)(albert_backend *be, const albert_batch *batch, const albert_outputs *out,
               albert_error *err);
    void (*destroy)(albert_backend *be);
} albert_backend_ops;

struct albert_backend {
    const albert_backend_ops *ops;
    char name[256]; /* human-readable device description */
    int profiling;    /* 1: each run adds its ops' totals to STATS */
    kstat_table stats; /* owned by the engine, which frees it */
};

/* The host CPU backend: CBLAS GEMMs plus plain C, THREADS threads (0 = all). */
int albert_backend_cpu_create(const albert_model *m, int threads, int profiling,
                              albert_backend **out, albert_error *err);

/* The OpenCL backend on device INDEX (see albert_device_info_get). */
int albert_backend_opencl_create(const albert_model *m, const albert_engine_options *opt,
                                 int index, albert_backend **out, albert_error *err);

#endif
