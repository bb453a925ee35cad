/* The device registry: every backend's devices under one numbering (OpenCL
 * devices first, then the CPU), the automatic pick and the one way to
 * create a backend.  The public albert_device_* calls are its face. */
#ifndef ALBERT_ENGINE_REGISTRY_H
#define ALBERT_ENGINE_REGISTRY_H

#include "core/backend.h"

/* ALBERT_DEVICE_AUTO's choice: the first GPU, else device 0. */
int registry_auto_device(void);

/* A backend for MODEL on registry device INDEX, with OPT (never NULL). */
int registry_create_backend(const albert_model *model, int index,
                            const albert_engine_options *opt, albert_backend **out,
                            albert_error *err);

#endif
