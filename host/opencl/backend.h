/* The OpenCL backend: CLBlast GEMMs plus our kernels (opencl/ops.h) on every
 * OpenCL device the ICD loader reports, as the registry lists them. */
#ifndef ALBERT_OPENCL_BACKEND_H
#define ALBERT_OPENCL_BACKEND_H

#include "core/backend.h"

extern const albert_backend_reg albert_opencl_backend_reg;

#endif
