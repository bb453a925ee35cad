/* The public names of the status codes and precisions. */
#include "albert_cl.h"

const char *albert_precision_name(int precision)
{
    static const char *const names[ALBERT_PRECISION_COUNT] = {"fp32", "bf16", "fp16", "int8"};
    return precision >= 0 && precision < ALBERT_PRECISION_COUNT ? names[precision] : "?";
}

const char *albert_status_name(int code)
{
    switch (code) {
    case ALBERT_OK: return "ALBERT_OK";
    case ALBERT_E_IO: return "ALBERT_E_IO";
    case ALBERT_E_FORMAT: return "ALBERT_E_FORMAT";
    case ALBERT_E_INPUT: return "ALBERT_E_INPUT";
    case ALBERT_E_ARG: return "ALBERT_E_ARG";
    case ALBERT_E_NOMEM: return "ALBERT_E_NOMEM";
    case ALBERT_E_DEVICE: return "ALBERT_E_DEVICE";
    case ALBERT_E_UNSUPPORTED: return "ALBERT_E_UNSUPPORTED";
    case ALBERT_E_CAPACITY: return "ALBERT_E_CAPACITY";
    case ALBERT_E_CANCELLED: return "ALBERT_E_CANCELLED";
    default: return "ALBERT_E_UNKNOWN";
    }
}

const char *albert_version(void) { return ALBERT_CL_VERSION; }
