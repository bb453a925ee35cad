/* What every OpenCL test shares: the device it runs on. */
#ifndef ALBERT_OCL_TEST_H
#define ALBERT_OCL_TEST_H

#include "albert_cl.h"

#include <stdio.h>
#include <stdlib.h>

/* $ALBERT_CL_TEST_DEVICE, default 0.  Exits loudly when that device does
 * not exist: OpenCL tests never skip. */
static inline int ocl_test_device(void)
{
    const char *s = getenv("ALBERT_CL_TEST_DEVICE");
    int index = s && *s ? atoi(s) : 0, count = 0;
    albert_error err = {0};
    if (albert_device_count(&count, &err) != ALBERT_OK || index < 0 || index >= count) {
        fprintf(stderr,
                "FATAL: OpenCL test device %d not available (%d device(s)%s%s); set "
                "ALBERT_CL_TEST_DEVICE or install an OpenCL driver (e.g. pocl-opencl-icd)\n",
                index, count, err.msg[0] ? ": " : "", err.msg);
        exit(1);
    }
    return index;
}

#endif
