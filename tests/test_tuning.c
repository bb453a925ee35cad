/* Tuning profiles: the test profile loads; every kind of malformed file is
 * refused naming file and key; the most specific match wins in a folder of
 * profiles; applying a valid non-default profile on each OpenCL device keeps
 * GEMMs (direct and indirect paths) and a whole forward pass equal to the CPU
 * reference; a later engine without a profile gets CLBlast's own parameters
 * back; while one engine holds a device's CLBlast parameters, a second one
 * wanting others is refused instead of retuning the first. */
#include "opencl/ops.h"
#include "opencl/tuning.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/albert-test-profile-XXXXXX";
static char test_profile[1024]; /* tests/data/profiles/pocl-test.json */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "FATAL: cannot write %s\n", path);
        exit(1);
    }
}

/* ---------------------------------------------------------------- loading */

static void test_load_good(void)
{
    tuning_profile p;
    albert_error err = {0};
    CHECK(tuning_load(test_profile, &p, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(!strcmp(p.name, "pocl-test"), "name '%s'", p.name);
    CHECK(!strcmp(p.match[TUNING_MATCH_PLATFORM][0], "Portable Computing Language"), "%s",
          p.match[TUNING_MATCH_PLATFORM][0]);
    for (int i = 0; i < CLBLAST_KERNELS; i++)
        CHECK(p.has_clblast[i], "kernel %s missing", clblast_kernel_specs[i].kernel);
    const int xgemm = clblast_kernel_index("Xgemm");
    const int routine = clblast_kernel_index("GemmRoutine");
    CHECK(xgemm >= 0 && p.clblast[xgemm][2] == 16, "Xgemm KWG %zu", p.clblast[xgemm][2]);
    CHECK(routine >= 0 && p.clblast[routine][0] == 128, "XGEMM_MIN_INDIRECT_SIZE %zu",
          p.clblast[routine][0]);
    CHECK(p.wg_row == 32 && p.wg_elem == 128 && p.vec == 2, "kernels %d %d %d", p.wg_row,
          p.wg_elem, p.vec);
    CHECK(clblast_kernel_index("Xgemv") == -1, "Xgemv is not a kernel a profile sets");
}

#define XGEMM_BODY                                                                           \
    "\"GEMMK\": 0, \"KREG\": 1, \"KWG\": 32, \"KWI\": 2, \"MDIMA\": 8, \"MDIMC\": 8, "       \
    "\"MWG\": 32, \"NDIMB\": 16, \"NDIMC\": 16, \"NWG\": 32, \"SA\": 1, \"SB\": 1, "         \
    "\"STRM\": 0, \"STRN\": 0, \"VWM\": 4"

/* One malformed profile: its text, the status and what the message names. */
typedef struct bad_case {
    const char *text;
    int code;
    const char *key;
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"albert_cl_profile\": 1, \"name\": \"x\"", ALBERT_E_FORMAT, "invalid JSON at line 1"},
    {"[1, 2]", ALBERT_E_FORMAT, "JSON object"},
    {"{\"name\": \"x\"}", ALBERT_E_FORMAT, "albert_cl_profile: missing"},
    {"{\"albert_cl_profile\": 2, \"name\": \"x\"}", ALBERT_E_FORMAT, "albert_cl_profile: format"},
    {"{\"albert_cl_profile\": \"1\", \"name\": \"x\"}", ALBERT_E_FORMAT,
     "albert_cl_profile: expected a non-negative integer"},
    {"{\"albert_cl_profile\": 1}", ALBERT_E_FORMAT, "name: missing"},
    {"{\"albert_cl_profile\": 1, \"name\": 7}", ALBERT_E_FORMAT, "name: expected a string"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"colour\": 1}", ALBERT_E_FORMAT,
     "colour: unknown key"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": {\"type\": \"Gpu\"}}",
     ALBERT_E_FORMAT, "match.type: 'Gpu' is not a device type"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": {\"type\": [\"GPU\", 1]}}",
     ALBERT_E_FORMAT, "match.type: expected a string"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"name\": \"y\"}", ALBERT_E_FORMAT,
     "name: duplicate key"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"description\": []}", ALBERT_E_FORMAT,
     "description: expected a string"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"tuned\": 3}", ALBERT_E_FORMAT,
     "tuned: expected an object"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": \"PoCL\"}", ALBERT_E_FORMAT,
     "match: expected an object"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": {\"vendor\": \"a\"}}",
     ALBERT_E_FORMAT, "match.vendor: unknown key"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": {\"device\": 1}}", ALBERT_E_FORMAT,
     "match.device: expected a string"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": {\"device\": []}}", ALBERT_E_FORMAT,
     "match.device: expected a string or 1 to 16 strings"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"match\": {\"device\": [\"a\", 2]}}",
     ALBERT_E_FORMAT, "match.device: expected a string"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemv\": {}}}", ALBERT_E_FORMAT,
     "clblast.Xgemv: not a CLBlast kernel"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": [1]}}",
     ALBERT_E_FORMAT, "clblast.Xgemm: expected an object"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": {" XGEMM_BODY "}}}",
     ALBERT_E_FORMAT, "clblast.Xgemm: missing parameter VWN"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": {" XGEMM_BODY
     ", \"VWN\": -2}}}",
     ALBERT_E_FORMAT, "clblast.Xgemm.VWN: expected a non-negative integer"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": {" XGEMM_BODY
     ", \"VWN\": 0}}}",
     ALBERT_E_FORMAT, "clblast.Xgemm.VWN: must be positive"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": {" XGEMM_BODY
     ", \"VWN\": 1.5}}}",
     ALBERT_E_FORMAT, "clblast.Xgemm.VWN: expected a non-negative integer"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": {" XGEMM_BODY
     ", \"VWN\": \"2\"}}}",
     ALBERT_E_FORMAT, "clblast.Xgemm.VWN: expected a non-negative integer"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"clblast\": {\"Xgemm\": {" XGEMM_BODY
     ", \"VWN\": 2, \"WGD\": 8}}}",
     ALBERT_E_FORMAT, "clblast.Xgemm.WGD: not a parameter"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"wg_row\": 48}}",
     ALBERT_E_FORMAT, "kernels.wg_row: 48 is not a power of two"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"vec\": 0}}", ALBERT_E_FORMAT,
     "kernels.vec: 0 is not a power of two"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"gemm_nr\": 24}}",
     ALBERT_E_FORMAT, "kernels.gemm_nr: 24 is not a multiple of 16"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"gemm_mr\": 17}}",
     ALBERT_E_FORMAT, "kernels.gemm_mr: 17 is not from 1 to 16"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"attention\": 3}}",
     ALBERT_E_FORMAT, "kernels.attention: 3 is not from 0 to 2"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"attn_bq\": 48}}",
     ALBERT_E_FORMAT, "kernels.attn_bq: 48 is not a power of two from 1 to 1024"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"attn_bk\": 65}}",
     ALBERT_E_FORMAT, "kernels.attn_bk: 65 is not from 1 to 64"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"subgroups\": 2}}",
     ALBERT_E_FORMAT, "kernels.subgroups: 2 is not from 0 to 1"},
    {"{\"albert_cl_profile\": 1, \"name\": \"x\", \"kernels\": {\"speed\": 2}}", ALBERT_E_FORMAT,
     "kernels.speed: unknown key"},
};

static void test_load_bad(void)
{
    tuning_profile p;
    albert_error err = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/absent.json", tmp_dir);
    CHECK(tuning_load(path, &p, &err) == ALBERT_E_IO && strstr(err.msg, path), "absent: %s",
          err.msg);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        write_file(tmp_dir, "bad.json", bad_cases[i].text);
        snprintf(path, sizeof path, "%s/bad.json", tmp_dir);
        int rc = tuning_load(path, &p, &err);
        CHECK(rc == bad_cases[i].code, "case %zu: status %d (%s)", i, rc, err.msg);
        CHECK(!strncmp(err.msg, path, strlen(path)) && strstr(err.msg, bad_cases[i].key) &&
                  !strchr(err.msg, '\n'),
              "case %zu: message '%s' should start with the file and name '%s'", i, err.msg,
              bad_cases[i].key);
    }
    unlink(path);
}

/* ---------------------------------------------------------------- matching */

static void write_profile(const char *dir, const char *name, const char *match)
{
    char text[512];
    snprintf(text, sizeof text, "{\"albert_cl_profile\": 1, \"name\": \"%s\", \"match\": %s}",
             name, match);
    char file[256];
    snprintf(file, sizeof file, "%s.json", name);
    write_file(dir, file, text);
}

/* The folder pick() searches. */
static const char *pick_dir;

/* The name of the profile a device of TYPE gets from pick_dir, "" for
 * none, "error: ..." on failure. */
static const char *pick_typed(const char *type, const char *platform, const char *device,
                              const char *driver)
{
    static char out[ALBERT_ERRMSG_MAX + 8];
    const char *const dev[TUNING_MATCH_COUNT] = {platform, device, driver, type};
    tuning_profile p;
    albert_error err = {0};
    int found = -1;
    if (tuning_find(dev, pick_dir, &p, &found, &err) != ALBERT_OK)
        snprintf(out, sizeof out, "error: %s", err.msg);
    else
        snprintf(out, sizeof out, "%s", found ? p.name : "");
    return out;
}

/* pick_typed for a CPU device. */
static const char *pick(const char *platform, const char *device, const char *driver)
{
    return pick_typed("CPU", platform, device, driver);
}

static void test_matching(void)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/match", tmp_dir);
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    pick_dir = dir;
    const char *got = pick("Acme", "Turbo", "1.0");
    CHECK(!strcmp(got, ""), "empty folder: '%s'", got);
    write_profile(dir, "acme", "{\"platform\": \"Acme\"}");
    write_profile(dir, "other", "{\"platform\": \"Other\", \"device\": \"Turbo 9000\"}");
    write_file(dir, "notes.txt", "not a profile: ignored");
    got = pick("Acme OpenCL", "Acme Turbo 9000", "1.0");
    CHECK(!strcmp(got, "acme"), "platform only: '%s'", got);
    CHECK(!strcmp(pick("Beta", "Turbo 9000", "1.0"), ""), "no match should give none");
    write_profile(dir, "any", "{}");
    got = pick("Beta", "Turbo 9000", "1.0");
    CHECK(!strcmp(got, "any"), "catch-all: '%s'", got);
    /* Longer match strings in total win; "turbo" is case-sensitive. */
    write_profile(dir, "zz-turbo", "{\"platform\": \"Acme\", \"device\": \"Turbo\"}");
    write_profile(dir, "lower", "{\"platform\": \"Acme\", \"device\": \"turbo 9000\"}");
    got = pick("Acme OpenCL", "Acme Turbo 9000", "1.0");
    CHECK(!strcmp(got, "zz-turbo"), "most specific: '%s'", got);
    /* A tie (9 characters each) goes to the file name that sorts first. */
    write_profile(dir, "aa-tie", "{\"platform\": \"Acme Open\", \"driver\": \"\"}");
    got = pick("Acme OpenCL", "Acme Turbo 9000", "1.0");
    CHECK(!strcmp(got, "aa-tie"), "tie: '%s'", got);
    write_profile(dir, "driver",
                  "{\"platform\": \"Acme\", \"device\": \"Turbo\", \"driver\": \"1.0\"}");
    got = pick("Acme OpenCL", "Acme Turbo 9000", "1.0");
    CHECK(!strcmp(got, "driver"), "driver adds specificity: '%s'", got);
    got = pick("Acme OpenCL", "Acme Turbo 9000", "2.0");
    CHECK(!strcmp(got, "aa-tie"), "driver mismatch: '%s'", got);
    /* A list matches when any of its strings does, as specific as the
     * longest that occurs. */
    write_profile(dir, "list", "{\"platform\": \"Acme\", \"device\": [\"Mega\", \"Turbo 9\"], "
                               "\"driver\": \"1.0\"}");
    got = pick("Acme OpenCL", "Acme Turbo 9000", "1.0");
    CHECK(!strcmp(got, "list"), "list, second string longest: '%s'", got);
    got = pick("Acme OpenCL", "Acme Mega 9000", "1.0");
    CHECK(!strcmp(got, "list"), "list, first string: '%s'", got);
    got = pick("Acme OpenCL", "Acme Mega 9000", "2.0");
    CHECK(!strcmp(got, "aa-tie"), "list, driver mismatch: '%s'", got);
    /* 4 + 7 + 3 beats "driver"'s 12; counting "Mega" would lose. */
    got = pick("Acme OpenCL", "Acme Mega Turbo 9000", "1.0");
    CHECK(!strcmp(got, "list"), "list, both occur: '%s'", got);
    /* The device type: a GPU profile for any GPU, which a CPU never gets. */
    write_profile(dir, "gpus", "{\"type\": \"GPU\"}");
    got = pick_typed("GPU", "Beta", "Turbo 9000", "1.0");
    CHECK(!strcmp(got, "gpus"), "GPU by type: '%s'", got);
    got = pick_typed("CPU", "Beta", "Turbo 9000", "1.0");
    CHECK(!strcmp(got, "any"), "a CPU got '%s'", got);
    write_profile(dir, "acme-gpu", "{\"type\": [\"ACCELERATOR\", \"GPU\"], "
                                   "\"platform\": \"Acme OpenCL\"}");
    got = pick_typed("GPU", "Acme OpenCL", "Beta", "1.0");
    CHECK(!strcmp(got, "acme-gpu"), "type and platform beat type alone: '%s'", got);
    got = pick_typed("CPU", "Acme OpenCL", "Beta", "1.0");
    CHECK(!strcmp(got, "aa-tie"), "a CPU of that platform got '%s'", got);
    /* A malformed file met while searching is an error naming it. */
    write_file(dir, "broken.json", "{\"albert_cl_profile\": 1, \"name\": \"b\", \"match\": 3}");
    got = pick("Acme OpenCL", "Acme Turbo 9000", "1.0");
    CHECK(!strncmp(got, "error: ", 7) && strstr(got, "broken.json: match"), "'%s'", got);
    char path[1200];
    snprintf(path, sizeof path, "%s/broken.json", dir);
    unlink(path);
    pick_dir = "/nonexistent/albert-profiles";
    got = pick("Acme", "Turbo", "1.0");
    CHECK(strstr(got, "error: ") && strstr(got, "/nonexistent/albert-profiles"), "'%s'", got);
}

/* ---------------------------------------------------------------- applying */

/* Row-major C = A op(B) in double. */
static void ref_gemm(int trans_b, size_t m, size_t n, size_t k, const float *a, const float *b,
                     float *c)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t l = 0; l < k; l++)
                s += (double)a[i * k + l] * (double)(trans_b ? b[j * k + l] : b[l * n + j]);
            c[i * n + j] = (float)s;
        }
}

/* One GEMM of BATCH on the device against the reference. */
static void check_gemm(ocl_ctx *ctx, int trans_b, size_t m, size_t n, size_t k, size_t batch)
{
    const size_t sa = m * k, sb = k * n, sc = m * n;
    float *a = malloc(batch * sa * sizeof *a), *b = malloc(batch * sb * sizeof *b);
    float *c = malloc(batch * sc * sizeof *c), *want = malloc(sc * sizeof *want);
    unsigned long long seed = m * 131 + n * 7 + k;
    for (size_t i = 0; i < batch * sa; i++)
        a[i] = (float)((seed = seed * 6364136223846793005ULL + 1) >> 41) / (float)(1 << 23) - 1;
    for (size_t i = 0; i < batch * sb; i++)
        b[i] = (float)((seed = seed * 6364136223846793005ULL + 1) >> 41) / (float)(1 << 23) - 1;
    albert_error err = {0};
    cl_mem da = NULL, db = NULL, dc = NULL;
    int rc = ocl_buffer(ctx, CL_MEM_READ_WRITE, batch * sa * 4, a, &da, "a", &err);
    if (rc == ALBERT_OK)
        rc = ocl_buffer(ctx, CL_MEM_READ_WRITE, batch * sb * 4, b, &db, "b", &err);
    if (rc == ALBERT_OK)
        rc = ocl_buffer(ctx, CL_MEM_READ_WRITE, batch * sc * 4, NULL, &dc, "c", &err);
    ocl_mat ma = {da, 0, k, sa}, mb = {db, 0, trans_b ? k : n, sb}, mc = {dc, 0, n, sc};
    if (rc == ALBERT_OK)
        rc = ocl_gemm(ctx, trans_b, m, n, k, 1.0f, ma, mb, mc, batch, &err);
    if (rc == ALBERT_OK)
        rc = ocl_read(ctx, dc, 0, batch * sc * 4, c, 1, &err);
    CHECK(rc == ALBERT_OK, "gemm %zux%zux%zu: %s", m, n, k, err.msg);
    double worst = 0;
    for (size_t q = 0; rc == ALBERT_OK && q < batch; q++) {
        ref_gemm(trans_b, m, n, k, a + q * sa, b + q * sb, want);
        for (size_t i = 0; i < sc; i++)
            worst = fmax(worst, fabs((double)c[q * sc + i] - want[i]) / (1 + fabs(want[i])));
    }
    CHECK(worst < 1e-4, "gemm trans_b %d %zux%zux%zu batch %zu: max rel diff %g", trans_b, m, n,
          k, batch, worst);
    ocl_release_mem(&da);
    ocl_release_mem(&db);
    ocl_release_mem(&dc);
    free(a);
    free(b);
    free(c);
    free(want);
}

static size_t clblast_value(cl_device_id dev, const char *kernel, const char *name)
{
    size_t v = 0;
    CLBlastStatusCode st = clblast_params_get(dev, kernel, name, &v);
    CHECK(st == CLBlastSuccess, "get %s.%s: %s", kernel, name, clblast_status_name(st));
    return v;
}

/* The test profile's CLBlast parameters applied by hand, then ocl_gemm on
 * both sides of its XGEMM_MIN_INDIRECT_SIZE of 128, then CLBlast's own back. */
static void test_gemm_with_profile(int device)
{
    ocl_ctx ctx;
    tuning_profile p;
    albert_error err = {0};
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(tuning_load(test_profile, &p, &err) == ALBERT_OK, "%s", err.msg);
    const size_t own_kwg = clblast_value(ctx.device, "Xgemm", "KWG");
    for (int i = 0; i < CLBLAST_KERNELS; i++) {
        const clblast_kernel_spec *s = &clblast_kernel_specs[i];
        CLBlastStatusCode st = clblast_params_set(ctx.device, s->kernel, s->n, s->params,
                                                  p.clblast[i]);
        CHECK(st == CLBlastSuccess, "override %s: %s", s->kernel, clblast_status_name(st));
    }
    CHECK(clblast_value(ctx.device, "Xgemm", "KWG") == 16, "profile not applied");
    CHECK(clblast_value(ctx.device, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE") == 128, "switch");
    for (int trans_b = 0; trans_b <= 1; trans_b++) {
        check_gemm(&ctx, trans_b, 40, 24, 56, 1);    /* 53760 < 128^3: direct */
        check_gemm(&ctx, trans_b, 150, 133, 141, 1); /* above: indirect, padded */
        check_gemm(&ctx, trans_b, 128, 256, 64, 1);  /* indirect, no padding */
        check_gemm(&ctx, trans_b, 17, 9, 64, 3);
        check_gemm(&ctx, trans_b, 130, 129, 131, 2);
    }
    for (int i = 0; i < CLBLAST_KERNELS; i++)
        CHECK(clblast_params_reset(ctx.device, clblast_kernel_specs[i].kernel) == CLBlastSuccess,
              "reset %s", clblast_kernel_specs[i].kernel);
    CHECK(clblast_value(ctx.device, "Xgemm", "KWG") == own_kwg, "CLBlast's KWG %zu not back",
          own_kwg);
    ocl_ctx_close(&ctx);
}

/* ---------------------------------------------------------------- engine */

typedef struct run_out {
    float *hidden, *pooled;
} run_out;

/* B x T random ids with the last rows padded, through an engine. */
static int run_engine(const albert_model *m, const albert_engine_options *opt, run_out *o,
                      char *name, size_t name_size, albert_error *err)
{
    enum { B = 16, T = 64 }; /* FFN GEMM 1024x64x32 = 128^3: the indirect path */
    const albert_config *c = albert_model_config(m);
    static int32_t ids[B * T], mask[B * T];
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)c->vocab_size);
        mask[i] = (i % T) < T - (i / T) * 3 || (i % T) == 0;
    }
    albert_engine *e = NULL;
    int rc = albert_engine_create(m, opt, &e, err);
    if (rc != ALBERT_OK)
        return rc;
    snprintf(name, name_size, "%s", albert_engine_device_name(e));
    o->hidden = malloc((size_t)B * T * c->hidden_size * sizeof(float));
    o->pooled = malloc((size_t)B * c->hidden_size * sizeof(float));
    albert_batch b = {B, T, ids, NULL, mask};
    albert_outputs out = {.last_hidden_state = o->hidden, .pooled = o->pooled,
                          .pooling = ALBERT_POOL_POOLER};
    rc = albert_engine_run(e, &b, &out, err);
    albert_engine_free(e);
    return rc;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    return worst;
}

static void test_engine(int device)
{
    char name[256];
    albert_model *m = test_open_model("tiny-gelu");
    albert_error err = {0};
    const size_t H = (size_t)albert_model_config(m)->hidden_size;
    ocl_ctx ctx;
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    const size_t own_kwg = clblast_value(ctx.device, "Xgemm", "KWG");
    const size_t own_switch = clblast_value(ctx.device, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE");
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = test_cpu_device();
    run_out cpu = {0}, gpu = {0}, none = {0};
    CHECK(run_engine(m, &opt, &cpu, name, sizeof name, &err) == ALBERT_OK, "cpu: %s", err.msg);
    opt.device = device;
    opt.tuning_file = test_profile;
    int rc = run_engine(m, &opt, &gpu, name, sizeof name, &err);
    CHECK(rc == ALBERT_OK, "with profile: %s", err.msg);
    CHECK(rc != ALBERT_OK || strstr(name, ", profile pocl-test"), "name '%s'", name);
    if (rc == ALBERT_OK && cpu.hidden) {
        /* Padded rows' values are unspecified; compare row 0 (no padding) and pooled of it. */
        double dh = max_diff(cpu.hidden, gpu.hidden, 64 * H);
        double dp = max_diff(cpu.pooled, gpu.pooled, H);
        CHECK(dh < 1e-4 && dp < 1e-4, "profile vs cpu: hidden %g pooled %g", dh, dp);
    }
    opt.tuning_file = NULL;
    opt.no_tuning = 1;
    rc = run_engine(m, &opt, &none, name, sizeof name, &err);
    CHECK(rc == ALBERT_OK, "no profile: %s", err.msg);
    CHECK(rc != ALBERT_OK || strstr(name, ", no profile"), "name '%s'", name);
    if (rc == ALBERT_OK && cpu.hidden) {
        double dh = max_diff(cpu.hidden, none.hidden, 64 * H);
        CHECK(dh < 1e-4, "no profile vs cpu: hidden %g", dh);
    }
    /* The test profile's overrides must not outlive its engine. */
    CHECK(clblast_value(ctx.device, "Xgemm", "KWG") == own_kwg &&
              clblast_value(ctx.device, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE") == own_switch,
          "the no-profile engine did not get CLBlast's own parameters back");
    ocl_ctx_close(&ctx);
    /* A forced malformed profile fails the engine, naming file and key. */
    char bad[1100];
    snprintf(bad, sizeof bad, "%s/forced.json", tmp_dir);
    write_file(tmp_dir, "forced.json", "{\"albert_cl_profile\": 1, \"name\": \"f\", \"kernels\": "
                                       "{\"wg_elem\": 3}}");
    opt.no_tuning = 0;
    opt.tuning_file = bad;
    albert_engine *e = NULL;
    rc = albert_engine_create(m, &opt, &e, &err);
    CHECK(rc == ALBERT_E_FORMAT && strstr(err.msg, bad) && strstr(err.msg, "kernels.wg_elem"),
          "forced malformed: %d %s", rc, err.msg);
    CHECK(e == NULL, "engine returned on failure");
    unlink(bad);
    opt.no_tuning = 1;
    rc = albert_engine_create(m, &opt, &e, &err);
    CHECK(rc == ALBERT_E_ARG, "tuning_file with no_tuning accepted");
    albert_engine_free(e);
    run_out *all[] = {&cpu, &gpu, &none};
    for (size_t i = 0; i < 3; i++) {
        free(all[i]->hidden);
        free(all[i]->pooled);
    }
    albert_model_close(m);
}

/* The shipped profiles/ all load, and PoCL on an AVX-512 CPU gets the
 * profile tuned for it, Intel's CPU runtime its own, a GPU gpu-generic. */
static void test_shipped_profiles(void)
{
    const char *dir = ALBERT_TEST_PROFILES_DIR;
    const char *const avx512[TUNING_MATCH_COUNT] = {
        "Portable Computing Language", "pthread-skylake-avx512-Intel(R) Xeon(R) Processor",
        "3.1+debian", "CPU"};
    const char *const other[TUNING_MATCH_COUNT] = {"NVIDIA CUDA", "NVIDIA H100 80GB HBM3",
                                                   "550.54", "GPU"};
    tuning_profile p;
    albert_error err = {0};
    int found = 0;
    CHECK(tuning_find(avx512, dir, &p, &found, &err) == ALBERT_OK, "shipped profiles: %s", err.msg);
    CHECK(found && !strcmp(p.name, "pocl-x86-64-avx512"), "AVX-512 PoCL got '%s'",
          found ? p.name : "");
    CHECK(found && p.has_clblast[clblast_kernel_index("Xgemm")] &&
              p.has_clblast[clblast_kernel_index("XgemmDirect")] &&
              p.has_clblast[clblast_kernel_index("GemmRoutine")],
          "the AVX-512 profile lacks a GEMM kernel");
    CHECK(found && p.gemm_mr > 0 && p.gemm_nr > 0, "the AVX-512 profile has no Linear tile");
    /* Any GPU without a profile of its own gets the GPU path. */
    CHECK(tuning_find(other, dir, &p, &found, &err) == ALBERT_OK && found &&
              !strcmp(p.name, "gpu-generic") && p.attention == 2 && p.subgroups &&
              !p.has_clblast[clblast_kernel_index("Xgemm")],
          "an NVIDIA GPU got '%s'", found ? p.name : "");
    const char *const intel_cpu[TUNING_MATCH_COUNT] = {
        "Intel(R) OpenCL", "Intel(R) Xeon(R) Platinum 8480+", "2026.22.10.0.01_160000", "CPU"};
    const char *const intel_gpu[TUNING_MATCH_COUNT] = {
        "Intel(R) OpenCL Graphics", "Intel(R) Arc(TM) A770 Graphics", "24.35.30872.22", "GPU"};
    CHECK(tuning_find(intel_cpu, dir, &p, &found, &err) == ALBERT_OK && found &&
              !strcmp(p.name, "intel-cpu-runtime") && p.gemm_nr > 0 && p.attention,
          "Intel's CPU runtime got '%s'", found ? p.name : "");
    CHECK(tuning_find(intel_gpu, dir, &p, &found, &err) == ALBERT_OK && found &&
              !strcmp(p.name, "gpu-generic"),
          "an Intel GPU got '%s'", found ? p.name : "");
    /* PoCL names devices after LLVM's CPU name; plain "skylake" is AVX2. */
    static const struct {
        const char *device, *profile;
    } cpus[] = {
        {"pthread-haswell-Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz", "pocl-x86-64-avx2"},
        {"pthread-skylake-Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz", "pocl-x86-64-avx2"},
        {"pthread-znver3-AMD Ryzen 9 5950X 16-Core Processor", "pocl-x86-64-avx2"},
        {"pthread-icelake-server-Intel(R) Xeon(R) Platinum 8375C", "pocl-x86-64-avx512"},
        {"cpu-znver4-AMD EPYC 9654 96-Core Processor", "pocl-x86-64-avx512"},
        {"pthread-generic-ARM", ""},
    };
    for (size_t i = 0; i < sizeof cpus / sizeof cpus[0]; i++) {
        const char *const dev[TUNING_MATCH_COUNT] = {"Portable Computing Language", cpus[i].device,
                                                     "5.0", "CPU"};
        CHECK(tuning_find(dev, dir, &p, &found, &err) == ALBERT_OK &&
                  !strcmp(found ? p.name : "", cpus[i].profile),
              "%s got '%s', not '%s'", cpus[i].device, found ? p.name : "", cpus[i].profile);
    }
}

/* An engine on DEVICE with OPT; NULL (and the reason in ERR) when refused. */
static albert_engine *engine_on(const albert_model *m, int device, const char *tuning_file,
                                albert_error *err)
{
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = device;
    opt.tuning_file = tuning_file;
    opt.no_tuning = tuning_file == NULL;
    albert_engine *e = NULL;
    return albert_engine_create(m, &opt, &e, err) == ALBERT_OK ? e : NULL;
}

/* CLBlast's parameters are per device and process: while an engine with the
 * test profile lives, another one wanting CLBlast's own is refused, one with
 * the same profile is not, and once both are gone the defaults come back. */
static void test_lease(int device)
{
    albert_model *m = test_open_model("tiny-gelu");
    albert_error err = {0};
    ocl_ctx ctx;
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    const size_t own_kwg = clblast_value(ctx.device, "Xgemm", "KWG");
    const size_t own_switch = clblast_value(ctx.device, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE");
    albert_engine *first = engine_on(m, device, test_profile, &err);
    CHECK(first != NULL, "first engine: %s", err.msg);
    albert_engine *other = engine_on(m, device, NULL, &err);
    CHECK(other == NULL && err.code == ALBERT_E_UNSUPPORTED, "a second engine retuned device %d",
          device);
    CHECK(strstr(err.msg, "process-wide") && strstr(err.msg, test_profile), "message: %s",
          err.msg);
    albert_engine_free(other);
    albert_engine *same = engine_on(m, device, test_profile, &err);
    CHECK(same != NULL, "same profile refused: %s", err.msg);
    CHECK(clblast_value(ctx.device, "Xgemm", "KWG") == 16 &&
              clblast_value(ctx.device, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE") == 128,
          "the profile's parameters are gone");
    albert_engine_free(first);
    CHECK(engine_on(m, device, NULL, &err) == NULL, "refused while the second one lives");
    albert_engine_free(same);
    albert_engine *after = engine_on(m, device, NULL, &err);
    CHECK(after != NULL, "no profile after both are gone: %s", err.msg);
    CHECK(clblast_value(ctx.device, "Xgemm", "KWG") == own_kwg &&
              clblast_value(ctx.device, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE") == own_switch,
          "CLBlast's own parameters (KWG %zu, switch %zu) are not back", own_kwg, own_switch);
    albert_engine_free(after);
    ocl_ctx_close(&ctx);
    albert_model_close(m);
}

/* options.tuning_dir is where device listing and engines look. */
static void test_tuning_dir(int device)
{
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.tuning_dir = ALBERT_TEST_DATA_DIR "/profiles";
    albert_device_info info;
    albert_error err = {0};
    CHECK(albert_device_info_get(device, &opt, &info, &err) == ALBERT_OK, "%s", err.msg);
    const int pocl = strstr(info.platform, "Portable Computing Language") != NULL;
    /* The path, or its file name when the path is too long for the field. */
    const char *name = strrchr(info.tuning_profile, '/');
    name = name ? name + 1 : info.tuning_profile;
    CHECK(!strcmp(name, pocl ? "pocl-test.json" : ""), "device %d under %s: '%s'", device,
          opt.tuning_dir, info.tuning_profile);
    opt.no_tuning = 1;
    CHECK(albert_device_info_get(device, &opt, &info, &err) == ALBERT_OK &&
              info.tuning_profile[0] == '\0',
          "no_tuning still lists '%s'", info.tuning_profile);
}

int main(void)
{
    snprintf(test_profile, sizeof test_profile, "%s/profiles/pocl-test.json", ALBERT_TEST_DATA_DIR);
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "FATAL: mkdtemp failed\n");
        return 1;
    }
    test_load_good();
    test_load_bad();
    test_matching();
    test_shipped_profiles();
    const int devices = test_opencl_device_count();
    for (int device = 0; device < devices; device++) {
        test_gemm_with_profile(device);
        test_engine(device);
        test_lease(device);
        test_tuning_dir(device);
    }
    test_remove_tree(tmp_dir);
    return test_finish();
}
