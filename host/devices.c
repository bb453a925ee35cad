/* OpenCL device discovery (stub until the OpenCL backend lands). */
#include "common.h"

#include <string.h>

int albert_device_count(int *count, albert_error *err)
{
    *count = 0;
    albert_fail(err, ALBERT_OK, "OpenCL support is not built yet");
    return ALBERT_OK;
}

int albert_device_info_get(int index, albert_device_info *info, albert_error *err)
{
    memset(info, 0, sizeof *info);
    return albert_fail(err, ALBERT_E_ARG, "no OpenCL device %d", index);
}
