/* Every OpenCL and CLBlast call is checked, and a failure names the call
 * and the code's name: "clBuildProgram: CL_BUILD_PROGRAM_FAILURE (-11)". */
#ifndef ALBERT_OPENCL_ERRORS_H
#define ALBERT_OPENCL_ERRORS_H

#include "core/common.h"

#include <CL/cl.h>
#include <clblast_c.h>

/* "CL_INVALID_VALUE", "CL_PLATFORM_NOT_FOUND_KHR", ...; "unknown OpenCL
 * error" for codes the table lacks.  Never NULL. */
const char *ocl_error_name(cl_int code);

/* "CLBlastInvalidLocalMemUsage", ...; never NULL. */
const char *clblast_status_name(CLBlastStatusCode code);

/* ALBERT_OK when RC is CL_SUCCESS, else ALBERT_E_DEVICE with "CALL: NAME (RC)". */
int ocl_check(cl_int rc, const char *call, albert_error *err);

/* RC, or CL_OUT_OF_RESOURCES when a test build injects a fault here
 * (core/fault.h): for the calls that report their own errors. */
cl_int ocl_injected(cl_int rc);

/* The same for CLBlast status codes. */
int clblast_check(CLBlastStatusCode rc, const char *call, albert_error *err);

#endif
