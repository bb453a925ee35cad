/* The device registry and error naming: the public device API on this
 * machine's devices (every OpenCL device, then the CPU, each found by its
 * id), engines on each, and the OpenCL / CLBlast code-name tables. */
#include "opencl/context.h"
#include "test_util.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An OpenCL device's row. */
static void check_opencl_info(int i, const albert_device_info *info)
{
    char id[16];
    snprintf(id, sizeof id, "%d", i);
    CHECK(!strcmp(info->id, id) && !strcmp(info->backend, "opencl"), "device %d: id '%s' %s", i,
          info->id, info->backend);
    CHECK(info->platform[0] && info->name[0] && info->driver_version[0], "empty strings");
    CHECK(strncmp(info->device_version, "OpenCL ", 7) == 0, "version '%s'",
          info->device_version);
    CHECK(info->compute_units > 0 && info->global_mem_bytes > 0, "units %d mem %llu",
          info->compute_units, (unsigned long long)info->global_mem_bytes);
    CHECK(!strcmp(info->type, "GPU") || !strcmp(info->type, "CPU") ||
              !strcmp(info->type, "ACCELERATOR") || !strcmp(info->type, "OTHER"),
          "type '%s'", info->type);
    CHECK(info->tuning_profile[0] == '\0' || access(info->tuning_profile, R_OK) == 0,
          "profile '%s' is not a readable file", info->tuning_profile);
}

/* The CPU's row: the library lists it like any other device. */
static void check_cpu_info(const albert_device_info *info)
{
    char blas[64];
    albert_blas_describe(blas, sizeof blas);
    CHECK(!strcmp(info->id, "cpu") && !strcmp(info->backend, "cpu") &&
              !strcmp(info->type, "CPU") && !strcmp(info->platform, "host"),
          "cpu row: %s %s %s %s", info->id, info->backend, info->type, info->platform);
    CHECK(info->compute_units >= 1 && !strcmp(info->driver_version, blas), "cpu: %d units, '%s'",
          info->compute_units, info->driver_version);
    const uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    CHECK(info->global_mem_bytes == ram, "cpu memory %llu, the host has %llu",
          (unsigned long long)info->global_mem_bytes, (unsigned long long)ram);
    CHECK(info->tuning_profile[0] == '\0' && info->device_version[0] == '\0', "cpu: '%s' '%s'",
          info->tuning_profile, info->device_version);
}

/* OpenCL devices of every platform, counted straight from the ICD loader. */
static int raw_opencl_count(void)
{
    cl_uint platforms = 0, total = 0;
    if (clGetPlatformIDs(0, NULL, &platforms) != CL_SUCCESS || platforms == 0)
        return 0;
    cl_platform_id ids[16];
    platforms = platforms < 16 ? platforms : 16;
    CHECK(clGetPlatformIDs(platforms, ids, NULL) == CL_SUCCESS, "clGetPlatformIDs");
    for (cl_uint p = 0; p < platforms; p++) {
        cl_uint n = 0;
        if (clGetDeviceIDs(ids[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) == CL_SUCCESS)
            total += n;
    }
    return (int)total;
}

/* The device ALBERT_DEVICE_AUTO should pick: the first GPU, else device 0. */
static int expected_auto(int count)
{
    for (int i = 0; i < count; i++) {
        albert_device_info info;
        if (albert_device_info_get(i, NULL, &info, NULL) == ALBERT_OK && !strcmp(info.type, "GPU"))
            return i;
    }
    return 0;
}

static void test_listing(void)
{
    const int opencl = test_opencl_device_count();
    CHECK(opencl == raw_opencl_count(), "registry lists %d OpenCL devices, the loader %d", opencl,
          raw_opencl_count());
    int count = -1;
    albert_error err = {0};
    CHECK(albert_device_count(&count, &err) == ALBERT_OK && count == opencl + 1,
          "count %d with %d OpenCL devices: %s", count, opencl, err.msg);
    for (int i = 0; i < count; i++) {
        albert_device_info info;
        CHECK(albert_device_info_get(i, NULL, &info, &err) == ALBERT_OK, "device %d: %s", i,
              err.msg);
        printf("device %d (%s, %s): %s / %s [%s] %d CUs, %llu MiB, driver %s, %s, fp16 %d, %s\n",
               info.index, info.id, info.backend, info.platform, info.name, info.type,
               info.compute_units, (unsigned long long)(info.global_mem_bytes >> 20),
               info.driver_version, info.device_version, info.fp16, info.precisions);
        CHECK(info.index == i, "index %d for device %d", info.index, i);
        /* fp32 first, everywhere; which others is test_precision's. */
        CHECK(!strncmp(info.precisions, "fp32", 4) && (!info.precisions[4] ||
                                                       info.precisions[4] == ','),
              "precisions '%s'", info.precisions);
        if (i < opencl)
            check_opencl_info(i, &info);
        else
            check_cpu_info(&info);
        int found = -1;
        CHECK(albert_device_find(info.id, &found, &err) == ALBERT_OK && found == i,
              "find '%s': %d, %s", info.id, found, err.msg);
    }
    albert_device_info info;
    CHECK(albert_device_info_get(count, NULL, &info, &err) == ALBERT_E_ARG, "index %d accepted",
          count);
    char expect[64];
    snprintf(expect, sizeof expect, "%d device", count);
    CHECK(strstr(err.msg, expect) != NULL, "message '%s' lacks '%s'", err.msg, expect);
    CHECK(albert_device_info_get(-2, NULL, &info, &err) == ALBERT_E_ARG, "index -2 accepted");
    /* AUTO describes the device an engine would pick. */
    CHECK(albert_device_info_get(ALBERT_DEVICE_AUTO, NULL, &info, &err) == ALBERT_OK &&
              info.index == expected_auto(count),
          "AUTO: index %d, want %d (%s)", info.index, expected_auto(count), err.msg);
    int found = 7;
    CHECK(albert_device_find("gpu", &found, &err) == ALBERT_E_ARG && found == 7,
          "find 'gpu' accepted");
    CHECK(strstr(err.msg, "device gpu does not exist") && strstr(err.msg, "cpu"), "%s", err.msg);
    /* A number's leading zeros do not count; other spellings find nothing. */
    CHECK(albert_device_find("00", &found, &err) == ALBERT_OK && found == 0, "find '00': %s",
          err.msg);
    CHECK(albert_device_find("+0", &found, &err) == ALBERT_E_ARG, "find '+0' accepted");
    CHECK(albert_device_find("0x", &found, &err) == ALBERT_E_ARG, "find '0x' accepted");
    CHECK(albert_device_find("", &found, &err) == ALBERT_E_ARG, "find '' accepted");
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
    CHECK(ocl_ctx_open(0, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
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

/* An engine on each device names it; an index past the end is refused
 * with ALBERT_E_ARG and the list of devices; AUTO (and so no options) takes
 * the first GPU, else device 0. */
static void test_engine_device(void)
{
    albert_model *m = test_open_model("tiny-gelu");
    albert_error err = {0};
    const int count = test_device_count();
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    for (opt.device = 0; opt.device < count; opt.device++) {
        albert_engine *e = NULL;
        CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "%s", err.msg);
        albert_device_info info;
        CHECK(albert_device_info_get(opt.device, NULL, &info, &err) == ALBERT_OK, "%s", err.msg);
        char want[300];
        /* Then ", profile NAME" or ", no profile". */
        snprintf(want, sizeof want, "OpenCL %d: %s / %s, ", opt.device, info.platform, info.name);
        const char *name = e ? albert_engine_device_name(e) : "";
        if (!strcmp(info.backend, "cpu"))
            CHECK(!strncmp(name, "cpu (", 5), "cpu engine named '%s'", name);
        else
            CHECK(!strncmp(name, want, strlen(want)) && strstr(name + strlen(want), "profile"),
                  "name '%s', want '%s...profile...'", name, want);
        albert_engine_free(e);
    }
    albert_engine *e = NULL;
    opt.device = count;
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_E_ARG, "device %d accepted", count);
    CHECK(strstr(err.msg, "does not exist") != NULL, "%s", err.msg);
    albert_device_info first;
    albert_device_info_get(0, NULL, &first, NULL);
    CHECK(strstr(err.msg, first.name) != NULL && strstr(err.msg, "cpu") != NULL,
          "the error does not list the devices: %s", err.msg);
    CHECK(e == NULL, "engine returned on failure");
    char auto_name[32];
    snprintf(auto_name, sizeof auto_name, "OpenCL %d: ", expected_auto(count));
    CHECK(albert_engine_create(m, NULL, &e, &err) == ALBERT_OK && e &&
              !strncmp(albert_engine_device_name(e), auto_name, strlen(auto_name)),
          "default options: %s, want %s...", e ? albert_engine_device_name(e) : err.msg,
          auto_name);
    albert_engine_free(e);
    albert_model_close(m);
}

/* The CPU backend leaves the caller's OpenMP team size as it found it. */
static void test_cpu_leaves_threads(void)
{
    /* A count the backend would not pick itself (it wants all cores). */
    omp_set_num_threads(5);
    albert_model *m = test_open_model("tiny-gelu");
    albert_engine *e = test_open_engine(m, test_cpu_device(), 0);
    const int32_t ids[3] = {ALBERT_CLS_ID, 7, ALBERT_SEP_ID};
    const albert_batch b = {1, 3, ids, NULL, NULL};
    float pooled[64];
    const albert_outputs o = {.pooled = pooled, .pooling = ALBERT_POOL_POOLER};
    albert_error err = {0};
    CHECK(albert_engine_run(e, &b, &o, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(omp_get_max_threads() == 5, "OpenMP team size %d after a run, 5 before",
          omp_get_max_threads());
    albert_engine_free(e);
    albert_model_close(m);
}

/* One engine's job for a thread: RUNS forwards of a fixed batch, the
 * pooled output of the last kept. */
typedef struct job {
    albert_engine *engine;
    float pooled[2 * 32];
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    const int32_t ids[2 * 6] = {ALBERT_CLS_ID, 11, 12, 13, 14, ALBERT_SEP_ID,
                                ALBERT_CLS_ID, 21, 22, ALBERT_SEP_ID, 0, 0};
    const int32_t mask[2 * 6] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    const albert_batch b = {2, 6, ids, NULL, mask};
    const albert_outputs o = {.pooled = j->pooled, .pooling = ALBERT_POOL_MEAN, .normalize = 1};
    j->rc = ALBERT_OK;
    for (int i = 0; i < 20 && j->rc == ALBERT_OK; i++)
        j->rc = albert_engine_run(j->engine, &b, &o, NULL);
    return NULL;
}

/* Different engines may run at the same time (the header's promise): every
 * device's engine plus a second one on the CPU and on OpenCL device 0, each
 * in its own thread, give what each gives alone. */
static void test_concurrent_engines(void)
{
    albert_model *m = test_open_model("tiny-gelu"); /* hidden 32 */
    const int devices = test_device_count(), n = devices + 2;
    job *alone = calloc((size_t)n, sizeof *alone), *together = calloc((size_t)n, sizeof *alone);
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    for (int i = 0; i < n; i++) {
        const int device = i < devices ? i : i == devices ? test_cpu_device() : 0;
        alone[i].engine = together[i].engine = test_open_engine(m, device, 0);
        run_job(&alone[i]);
    }
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&threads[i], NULL, run_job, &together[i]) == 0, "pthread_create");
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        CHECK(alone[i].rc == ALBERT_OK && together[i].rc == ALBERT_OK, "engine %d: %d %d", i,
              alone[i].rc, together[i].rc);
        CHECK(!memcmp(alone[i].pooled, together[i].pooled, sizeof alone[i].pooled),
              "engine %d gives other results beside the others", i);
        albert_engine_free(alone[i].engine);
    }
    free(alone);
    free(together);
    free(threads);
    albert_model_close(m);
}

/* A batch shape too big for the device is refused before anything is
 * allocated, with the number of rows that would fit, which do fit. */
static void test_capacity(void)
{
    albert_model *m = test_open_model("tiny-gelu");
    const int count = test_device_count(), T = 64; /* tiny-gelu's positions */
    for (int d = 0; d < count; d++) {
        albert_engine *e = test_open_engine(m, d, 0);
        albert_error err = {0};
        CHECK(albert_engine_fits(e, 4, 64, &err) == ALBERT_OK, "device %d: 4 x 64: %s", d,
              err.msg);
        CHECK(albert_engine_fits(e, 1 << 30, T, &err) == ALBERT_E_CAPACITY &&
                  strstr(err.msg, "more than 2147483647 tokens"),
              "device %d: 2^30 x %d: %s", d, T, err.msg);
        CHECK(albert_engine_fits(e, 1, T + 1, &err) == ALBERT_E_ARG, "T beyond the positions");
        CHECK(albert_engine_fits(e, 1 << 24, T, &err) == ALBERT_E_CAPACITY,
              "device %d: 2^24 x %d fits", d, T);
        const char *at = strstr(err.msg, "at most ");
        int rows = 0;
        CHECK(at && sscanf(at, "at most %d rows of 64 tokens fit", &rows) == 1 && rows > 0,
              "device %d: %s", d, err.msg);
        CHECK(strstr(err.msg, "GiB") && strstr(err.msg, "the device has"), "%s", err.msg);
        printf("device %d: %s\n", d, err.msg);
        CHECK(albert_engine_fits(e, rows, T, &err) == ALBERT_OK, "device %d: %d rows: %s", d,
              rows, err.msg);
        CHECK(albert_engine_fits(e, rows + 1, T, &err) == ALBERT_E_CAPACITY,
              "device %d: %d rows fit too", d, rows + 1);
        CHECK(albert_engine_fits(e, 0, T, &err) == ALBERT_E_ARG, "0 rows");
        CHECK(albert_engine_fits(NULL, 1, T, &err) == ALBERT_E_ARG, "NULL engine");
        albert_engine_free(e);
    }
    albert_model_close(m);
}

/* Close and free calls take NULL. */
static void test_null_handles(void)
{
    albert_engine_free(NULL);
    albert_model_close(NULL);
    albert_tokenizer_close(NULL);
    CHECK(!strcmp(albert_engine_device_name(NULL), ""), "device name of NULL");
}

/* Run by ctest with OCL_ICD_VENDORS pointing at an empty folder: no
 * platform leaves the CPU alone in the registry, with the reason, not an
 * error, and AUTO falls back to the CPU backend. */
static void test_no_platform(void)
{
    int count = -1;
    albert_error err = {0};
    CHECK(albert_device_count(&count, &err) == ALBERT_OK && count == 1, "count %d", count);
    CHECK(strstr(err.msg, "no OpenCL platform found (clGetPlatformIDs: ") != NULL, "'%s'",
          err.msg);
    printf("no platform: %s\n", err.msg);
    albert_device_info info;
    CHECK(albert_device_info_get(0, NULL, &info, &err) == ALBERT_OK && !strcmp(info.id, "cpu"),
          "device 0 without platforms: %s", err.msg);
    CHECK(albert_device_info_get(1, NULL, &info, &err) == ALBERT_E_ARG, "device 1 accepted");
    CHECK(strstr(err.msg, "1 device") != NULL, "%s", err.msg);
    int found = -1;
    CHECK(albert_device_find("0", &found, &err) == ALBERT_E_ARG, "device '0' without platforms");
    CHECK(strstr(err.msg, "there are: cpu (no OpenCL platform found") != NULL,
          "the reason there is no OpenCL device is not told: %s", err.msg);
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
    test_cpu_leaves_threads();
    test_concurrent_engines();
    test_capacity();
    test_null_handles();
    return test_finish();
}
