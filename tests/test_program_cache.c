/* The program cache on every OpenCL device: cold build writes an entry, a
 * warm start reuses it without building, corrupt entries are rebuilt and
 * rewritten, other options get another key, an unusable cache folder only
 * costs a build, "" means no cache, a kernel folder replaces the embedded
 * sources and a failed build reports the device's build log; and engines
 * take their cache and kernel folders from their options. */
#include "opencl/ops.h"
#include "test_util.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int device;
static ocl_program_dirs dirs; /* what every build below uses */

/* A fresh context (so fresh counters) with the kernels built for TUN. */
static int build(const ocl_tunables *tun, ocl_program_stats *stats, albert_error *err)
{
    ocl_ctx ctx;
    ocl_kernels k;
    memset(stats, 0, sizeof *stats);
    int rc = ocl_ctx_open(device, 0, &ctx, err);
    if (rc != ALBERT_OK)
        return rc;
    rc = ocl_kernels_create(&ctx, tun, &dirs, &k, err);
    if (rc == ALBERT_OK)
        ocl_kernels_release(&k);
    *stats = ctx.programs;
    ocl_ctx_close(&ctx);
    return rc;
}

static void entry_path(const ocl_tunables *tun, char *path, size_t size)
{
    ocl_ctx ctx;
    albert_error err;
    char options[256];
    ocl_tunables_options(tun, options, sizeof options);
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(ocl_program_cache_path(&ctx, &dirs, options, path, size, &err) == ALBERT_OK, "%s",
          err.msg);
    ocl_ctx_close(&ctx);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Builds with TUN and checks the counters against the expected ones. */
static void expect(const char *what, const ocl_tunables *tun, int builds, int hits, int writes,
                   int rejects)
{
    ocl_program_stats s = {0};
    albert_error err = {0};
    int rc = build(tun, &s, &err);
    CHECK(rc == ALBERT_OK, "%s: %s", what, err.msg);
    CHECK(s.source_builds == builds && s.cache_hits == hits && s.cache_writes == writes &&
              s.cache_rejects == rejects,
          "%s: builds %d hits %d writes %d rejects %d, expected %d %d %d %d", what,
          s.source_builds, s.cache_hits, s.cache_writes, s.cache_rejects, builds, hits, writes,
          rejects);
}

static void flip_byte(const char *path, long offset)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s", path);
    if (!f)
        return;
    fseek(f, offset, SEEK_SET);
    int c = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_cache_cycle(const char *dir)
{
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    char path[4200];
    entry_path(&tun, path, sizeof path);
    CHECK(strncmp(path, dir, strlen(dir)) == 0, "entry %s not under %s", path, dir);
    CHECK(file_size(path) < 0, "entry exists before the first build");

    expect("cold", &tun, 1, 0, 1, 0);
    long size = file_size(path);
    CHECK(size > 32, "cold build wrote no entry (%ld bytes)", size);
    expect("warm", &tun, 0, 1, 0, 0);

    flip_byte(path, size / 2);
    expect("flipped payload byte", &tun, 1, 0, 1, 1);
    /* PoCL's binaries vary in size from build to build, so "rewritten" is
     * judged by the next start reading it back, not by its size. */
    expect("warm after rewrite", &tun, 0, 1, 0, 0);

    flip_byte(path, 9); /* inside the header's key */
    expect("flipped header byte", &tun, 1, 0, 1, 1);

    CHECK(truncate(path, size / 3) == 0, "truncate %s", path);
    expect("truncated", &tun, 1, 0, 1, 1);
    CHECK(file_size(path) > size / 3, "entry not rewritten after truncation");
    expect("warm after truncation", &tun, 0, 1, 0, 0);
    CHECK(truncate(path, 10) == 0, "truncate %s", path);
    expect("shorter than a header", &tun, 1, 0, 1, 1);

    ocl_tunables other = tun;
    other.wg_row = 32;
    char other_path[4200];
    entry_path(&other, other_path, sizeof other_path);
    CHECK(strcmp(path, other_path) != 0, "different options share key %s", path);
    expect("other options, cold", &other, 1, 0, 1, 0);
    expect("other options, warm", &other, 0, 1, 0, 0);
    expect("first options still cached", &tun, 0, 1, 0, 0);
}

/* A cache folder that cannot be created: building works, nothing cached. */
static void test_unwritable(const char *dir)
{
    char blocker[4200], bad[4300];
    snprintf(blocker, sizeof blocker, "%s/not-a-dir", dir);
    FILE *f = fopen(blocker, "w");
    CHECK(f != NULL, "create %s", blocker);
    if (f)
        fclose(f);
    snprintf(bad, sizeof bad, "%s/cache", blocker);
    dirs.cache_dir = bad;
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    expect("unwritable cache, first", &tun, 1, 0, 0, 0);
    expect("unwritable cache, second", &tun, 1, 0, 0, 0);
}

/* cache_dir "": no entry path, every build from source. */
static void test_no_cache(void)
{
    dirs.cache_dir = "";
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    char path[4200] = "x";
    entry_path(&tun, path, sizeof path);
    CHECK(path[0] == '\0', "cache_dir \"\" has an entry path: %s", path);
    expect("no cache, first", &tun, 1, 0, 0, 0);
    expect("no cache, second", &tun, 1, 0, 0, 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A kernel folder: its files are built instead of the embedded ones
 * (common.cl first, so the other file can use its macro). */
static void test_kernel_dir(const char *dir)
{
    char kdir[4200];
    snprintf(kdir, sizeof kdir, "%s/kernels", dir);
    CHECK(mkdir(kdir, 0755) == 0, "mkdir %s", kdir);
    write_text(kdir, "common.cl", "#define SEVEN 7\n");
    write_text(kdir, "a_first_by_name.cl",
               "__kernel void seven(__global int *x) { x[get_global_id(0)] = SEVEN; }\n");
    write_text(kdir, "notes.txt", "not a kernel");
    dirs.kernel_dir = kdir;
    ocl_ctx ctx;
    albert_error err = {0};
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    cl_program prog = NULL;
    int rc = ocl_program_get(&ctx, &dirs, "", &prog, &err);
    CHECK(rc == ALBERT_OK, "kernel dir build: %s", err.msg);
    cl_int crc = CL_INVALID_PROGRAM;
    cl_kernel kern = prog ? clCreateKernel(prog, "seven", &crc) : NULL;
    CHECK(crc == CL_SUCCESS, "kernel 'seven' from the kernel folder: %s", ocl_error_name(crc));
    ocl_release_kernel(&kern);
    ocl_release_program(&prog);

    write_text(kdir, "broken.cl", "__kernel void broken(__global int *x) { x[0] = undeclared; }\n");
    rc = ocl_program_get(&ctx, &dirs, "", &prog, &err);
    CHECK(rc == ALBERT_E_DEVICE, "broken kernel built (rc %d)", rc);
    CHECK(strstr(err.msg, "clBuildProgram: CL_BUILD_PROGRAM_FAILURE") != NULL, "message: %s",
          err.msg);
    CHECK(strstr(err.msg, "undeclared") != NULL, "build log missing from: %s", err.msg);
    printf("broken kernel: %s\n", err.msg);
    ocl_ctx_close(&ctx);
    dirs.kernel_dir = NULL;
}

/* Files named *.bin in DIR (a cache folder's entries). */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strlen(e->d_name) > 4 && !strcmp(e->d_name + strlen(e->d_name) - 4, ".bin");
    if (d)
        closedir(d);
    return n;
}

/* Through the public API: an engine writes its programs to its cache_dir,
 * and builds from its kernel_dir (a broken kernel fails the engine, naming
 * the build log). */
static void test_engine_options(const char *dir)
{
    albert_model *m = test_open_model("tiny-gelu");
    char cache[4200], kdir[4200];
    snprintf(cache, sizeof cache, "%s/engine-cache", dir);
    snprintf(kdir, sizeof kdir, "%s/kernels", dir); /* test_kernel_dir's, with broken.cl */
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = device;
    opt.no_tuning = 1;
    opt.cache_dir = cache;
    albert_engine *e = NULL;
    albert_error err = {0};
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(count_entries(cache) == 1, "engine wrote %d entries to its cache_dir %s",
          count_entries(cache), cache);
    albert_engine_free(e);
    opt.kernel_dir = kdir;
    e = NULL;
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_E_DEVICE && e == NULL,
          "engine built a broken kernel_dir");
    CHECK(strstr(err.msg, "undeclared") != NULL, "no build log: %s", err.msg);
    albert_model_close(m);
}

static void test_device(int d)
{
    device = d;
    memset(&dirs, 0, sizeof dirs);
    char dir[] = "/tmp/albert-cl-cache-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char cache[4200];
    snprintf(cache, sizeof cache, "%s/nested/cache", dir); /* created on demand */
    dirs.cache_dir = cache;
    test_cache_cycle(cache);
    test_kernel_dir(dir);
    test_engine_options(dir);
    test_unwritable(dir);
    test_no_cache();
    test_remove_tree(dir);
}

int main(void)
{
    const int n = test_opencl_device_count();
    for (int d = 0; d < n; d++)
        test_device(d);
    return test_finish();
}
