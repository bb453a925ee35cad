/* Device discovery and error naming: the public device API on this
 * machine's OpenCL devices, and the OpenCL / CLBlast code-name tables. */
#include "ocl_test.h"
#include "opencl_util.h"
#include "test_util.h"

#include <string.h>
#include <unistd.h>

static void test_listing(void)
{
    int device = ocl_test_device(), count = -1;
    albert_error err = {0};
    CHECK(albert_device_count(&count, &err) == ALBERT_OK && count > device, "count %d: %s", count,
          err.msg);
    for (int i = 0; i < count; i++) {
        albert_device_info info;
        CHECK(albert_device_info_get(i, &info, &err) == ALBERT_OK, "device %d: %s", i, err.msg);
        printf("device %d: %s / %s [%s] %d CUs, %llu MiB, driver %s, %s, fp16 %d\n", info.index,
               info.platform, info.name, info.type, info.compute_units,
               (unsigned long long)(info.global_mem_bytes >> 20), info.driver_version,
               info.device_version, info.fp16);
        CHECK(info.index == i, "index %d for device %d", info.index, i);
        CHECK(info.platform[0] && info.name[0] && info.driver_version[0], "empty strings");
        CHECK(strncmp(info.device_version, "OpenCL ", 7) == 0, "version '%s'",
              info.device_version);
        CHECK(info.compute_units > 0 && info.global_mem_bytes > 0, "units %d mem %llu",
              info.compute_units, (unsigned long long)info.global_mem_bytes);
        CHECK(!strcmp(info.type, "GPU") || !strcmp(info.type, "CPU") ||
                  !strcmp(info.type, "ACCELERATOR") || !strcmp(info.type, "OTHER"),
              "type '%s'", info.type);
        CHECK(info.profile[0] == '\0' || access(info.profile, R_OK) == 0,
              "profile '%s' is not a readable file", info.profile);
    }
    albert_device_info info;
    CHECK(albert_device_info_get(count, &info, &err) == ALBERT_E_ARG, "index %d accepted", count);
    char expect[64];
    snprintf(expect, sizeof expect, "%d device", count);
    CHECK(strstr(err.msg, expect) != NULL, "message '%s' lacks '%s'", err.msg, expect);
    CHECK(albert_device_info_get(-1, &info, &err) == ALBERT_E_ARG, "index -1 accepted");
}

static void test_names(void)
{
    CHECK(!strcmp(ocl_error_name(CL_BUILD_PROGRAM_FAILURE), "CL_BUILD_PROGRAM_FAILURE"), "-11");
    CHECK(!strcmp(ocl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR"), "-1001");
    CHECK(!strcmp(ocl_error_name(-72), "CL_MAX_SIZE_RESTRICTION_EXCEEDED"), "-72");
    CHECK(!strcmp(ocl_error_name(-9999), "unknown OpenCL error"), "-9999");
    CHECK(!strcmp(clblast_status_name(CLBlastInvalidLocalMemUsage), "CLBlastInvalidLocalMemUsage"),
          "-2046");
    CHECK(!strcmp(clblast_status_name(CLBlastInsufficientMemoryC), "CLBlastInsufficientMemoryC"),
          "-1009");
    albert_error err = {0};
    CHECK(ocl_check(CL_INVALID_VALUE, "clFoo", &err) == ALBERT_E_DEVICE, "code");
    CHECK(strstr(err.msg, "clFoo: CL_INVALID_VALUE") != NULL, "%s", err.msg);
    CHECK(clblast_check(CLBlastInvalidLocalMemUsage, "CLBlastSgemm", &err) == ALBERT_E_DEVICE,
          "code");
    CHECK(strstr(err.msg, "CLBlastSgemm: CLBlastInvalidLocalMemUsage") != NULL, "%s", err.msg);
    CHECK(ocl_check(CL_SUCCESS, "clFoo", &err) == ALBERT_OK, "success");
}

/* A CLBlast failure surfaces with its name: a C buffer too small. */
static void test_gemm_error(void)
{
    ocl_ctx ctx;
    albert_error err = {0};
    CHECK(ocl_ctx_open(ocl_test_device(), 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    cl_mem buf = NULL;
    CHECK(ocl_buffer(&ctx, CL_MEM_READ_WRITE, 16 * sizeof(float), NULL, &buf, "tiny", &err) ==
              ALBERT_OK,
          "%s", err.msg);
    CLBlastStatusCode rc = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                        CLBlastTransposeNo, 4, 4, 4, 1.0f, buf, 0, 4, buf, 0, 4,
                                        0.0f, buf, 8, 4, &ctx.queue, NULL);
    CHECK(clblast_check(rc, "CLBlastSgemm", &err) == ALBERT_E_DEVICE, "no error for a short C");
    CHECK(strstr(err.msg, "CLBlastSgemm: CLBlastInsufficientMemoryC") != NULL, "%s", err.msg);
    ocl_release_mem(&buf);
    ocl_ctx_close(&ctx);
}

/* The engine on the test device names it; a device index past the end is
 * refused with ALBERT_E_ARG. */
static void test_engine_device(void)
{
    albert_model *m = test_open_model("tiny-gelu");
    albert_error err = {0};
    int count = 0;
    albert_device_count(&count, &err);
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = ocl_test_device();
    albert_engine *e = NULL;
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "%s", err.msg);
    albert_device_info info;
    CHECK(albert_device_info_get(opt.device, &info, &err) == ALBERT_OK, "%s", err.msg);
    char want[300];
    /* Then ", profile NAME" or ", no profile". */
    snprintf(want, sizeof want, "OpenCL %d: %s / %s, ", opt.device, info.platform, info.name);
    CHECK(e && !strncmp(albert_engine_device_name(e), want, strlen(want)) &&
              strstr(albert_engine_device_name(e) + strlen(want), "profile"),
          "name '%s', want '%s...profile...'", e ? albert_engine_device_name(e) : "", want);
    albert_engine_free(e);
    opt.device = count;
    e = NULL;
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_E_ARG, "device %d accepted", count);
    CHECK(strstr(err.msg, "does not exist") != NULL, "%s", err.msg);
    CHECK(strstr(err.msg, info.name) != NULL && strstr(err.msg, "cpu") != NULL,
          "the error does not list the devices: %s", err.msg);
    CHECK(e == NULL, "engine returned on failure");
    albert_model_close(m);
}

/* Run by ctest with OCL_ICD_VENDORS pointing at an empty folder: no
 * platform is a count of 0 with the reason, not an error, and AUTO falls
 * back to the CPU backend. */
static void test_no_platform(void)
{
    int count = -1;
    albert_error err = {0};
    CHECK(albert_device_count(&count, &err) == ALBERT_OK && count == 0, "count %d", count);
    CHECK(strstr(err.msg, "no OpenCL platform found (clGetPlatformIDs: ") != NULL, "'%s'",
          err.msg);
    printf("no platform: %s\n", err.msg);
    albert_device_info info;
    CHECK(albert_device_info_get(0, &info, &err) == ALBERT_E_ARG, "device 0 without platforms");
    CHECK(strstr(err.msg, "0 devices") != NULL, "%s", err.msg);
    char dir[1024];
    test_shared_path(dir, sizeof dir, "models/tiny-gelu");
    albert_model *m = NULL;
    CHECK(albert_model_open(dir, &m, &err) == ALBERT_OK, "%s", err.msg);
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    albert_engine *e = NULL;
    CHECK(m && albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "AUTO: %s", err.msg);
    CHECK(e && !strncmp(albert_engine_device_name(e), "cpu", 3), "AUTO picked '%s'",
          e ? albert_engine_device_name(e) : "");
    albert_engine_free(e);
    albert_model_close(m);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--no-platform")) {
        test_no_platform();
        return test_finish();
    }
    test_listing();
    test_names();
    test_gemm_error();
    test_engine_device();
    return test_finish();
}
