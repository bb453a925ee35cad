/* The host CPU backend: oneDNN GEMMs plus the plain-C ops of cpu/ops.h,
 * one device (the host), as the registry lists it. */
#ifndef ALBERT_CPU_BACKEND_H
#define ALBERT_CPU_BACKEND_H

#include "core/backend.h"

extern const albert_backend_reg albert_cpu_backend_reg;

#endif
