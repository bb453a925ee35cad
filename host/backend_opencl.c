/* The OpenCL backend (stub until it lands). */
#include "backend.h"
#include "common.h"

int albert_backend_opencl_create(const albert_model *m, const albert_engine_options *opt,
                                 int index, albert_backend **out, albert_error *err)
{
    (void)m;
    (void)opt;
    *out = NULL;
    return albert_fail(err, ALBERT_E_UNSUPPORTED, "OpenCL device %d: OpenCL backend not built yet",
                       index);
}
