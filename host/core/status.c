/* The public names of the status codes. */
#include "albert_cl.h"

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
    default: return "ALBERT_E_UNKNOWN";
    }
}
