/* The program cache on every OpenCL device (the first alone under the
 * sanitizers: test_opencl_devices_checked): cold build writes an entry, a
 * warm start reuses it without building; entries that fail the checks
 * (corrupt, truncated, forged, old layout, another folder's key) never reach
 * the driver and are deleted and rewritten, as are entries the driver
 * refuses, each with one warning naming the file; the folder's key is a
 * private file; other options get another key; an unusable cache folder
 * only costs a build and one warning naming it; "" means no cache; a kernel
 * folder replaces the embedded sources and a failed build reports the
 * device's build log; and engines take their cache and kernel folders and
 * their warning callback from their options. */
#include "opencl/ops.h"
#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES 64 /* program_cache.c's entry_header: magic, key, size, MAC */

static int device;
static ocl_program_dirs dirs; /* what every build below uses */

/* What the warning callback received. */
typedef struct warnings {
    int count;
    char last[8192];
} warnings;

static void on_warning(void *user, const char *message)
{
    warnings *w = user;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

/* A fresh context (so fresh counters and warnings) with the kernels built
 * for TUN. */
static int build(const ocl_tunables *tun, ocl_program_stats *stats, warnings *w,
                 albert_error *err)
{
    ocl_ctx ctx;
    ocl_kernels k;
    memset(stats, 0, sizeof *stats);
    memset(w, 0, sizeof *w);
    int rc = ocl_ctx_open(device, 0, &ctx, err);
    if (rc != ALBERT_OK)
        return rc;
    ctx.warn = (ocl_warn_sink){on_warning, w};
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

static int file_mode(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

/* Files in DIR whose names start with PREFIX (NULL: any) and end with
 * SUFFIX (NULL: any). */
static int count_matching(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name), slen = suffix ? strlen(suffix) : 0;
        n += (!prefix || !strncmp(e->d_name, prefix, strlen(prefix))) &&
             (!suffix || (len > slen && !strcmp(e->d_name + len - slen, suffix)));
    }
    if (d)
        closedir(d);
    return n;
}

/* A cache folder's entries. */
static int count_entries(const char *dir)
{
    return count_matching(dir, NULL, ".bin");
}

/* What a build does to the cache. */
static const ocl_program_stats COLD = {.source_builds = 1, .cache_writes = 1};
static const ocl_program_stats WARM = {.cache_hits = 1};
static const ocl_program_stats REJECTED = {.source_builds = 1, .cache_writes = 1,
                                           .cache_rejects = 1};
static const ocl_program_stats REFUSED = {.source_builds = 1, .cache_writes = 1,
                                          .driver_rejects = 1};
static const ocl_program_stats UNCACHED = {.source_builds = 1};

/* Builds with TUN and checks the counters against WANT, and the warnings:
 * none when WARNING is NULL, else one that mentions WARNING and WARNING2
 * (NULL: nothing more). */
static void expect(const char *what, const ocl_tunables *tun, ocl_program_stats want,
                   const char *warning, const char *warning2)
{
    ocl_program_stats s;
    warnings w;
    albert_error err = {0};
    int rc = build(tun, &s, &w, &err);
    CHECK(rc == ALBERT_OK, "%s: %s", what, err.msg);
    CHECK(s.source_builds == want.source_builds && s.cache_hits == want.cache_hits &&
              s.cache_writes == want.cache_writes && s.cache_rejects == want.cache_rejects &&
              s.driver_rejects == want.driver_rejects,
          "%s: builds %d hits %d writes %d rejects %d driver rejects %d, expected %d %d %d %d %d",
          what, s.source_builds, s.cache_hits, s.cache_writes, s.cache_rejects, s.driver_rejects,
          want.source_builds, want.cache_hits, want.cache_writes, want.cache_rejects,
          want.driver_rejects);
    CHECK(w.count == (warning != NULL), "%s: %d warnings (last: %s)", what, w.count, w.last);
    CHECK(!warning || strstr(w.last, warning), "%s: warning without \"%s\": %s", what, warning,
          w.last);
    CHECK(!warning2 || strstr(w.last, warning2), "%s: warning without \"%s\": %s", what,
          warning2, w.last);
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

static void write_file(const char *path, const void *data, size_t size, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (!f)
        return;
    CHECK(fwrite(data, 1, size, f) == size, "write %s", path);
    fclose(f);
    CHECK(chmod(path, mode) == 0, "chmod %s", path);
}

/* The entry at PATH, malloc'd (NULL when unreadable). */
static unsigned char *read_entry(const char *path, size_t *size)
{
    char *data = NULL;
    albert_error err;
    CHECK(albert_read_file(path, &data, size, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(*size > HEADER_BYTES, "entry %s has no payload (%zu bytes)", path, *size);
    return (unsigned char *)data;
}

/* The entry's payload cut to a third, its header's size field saying so:
 * only the MAC can tell. */
static void truncate_consistently(const char *path)
{
    size_t size = 0;
    unsigned char *entry = read_entry(path, &size);
    if (!entry)
        return;
    uint64_t payload = (size - HEADER_BYTES) / 3;
    memcpy(entry + 24, &payload, sizeof payload); /* after magic[8] and key[16] */
    write_file(path, entry, HEADER_BYTES + payload, 0600);
    free(entry);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Replaces the entry at PATH by one in the layout before MACs (magic
 * ALBCLPB1, key, size, FNV-1a of the payload, all consistent) holding the
 * first half of the real binary: what anyone could forge, and what made
 * PoCL abort in pocl_binary_deserialize. */
static void forge_v1_entry(const char *path)
{
    size_t size = 0;
    unsigned char *entry = read_entry(path, &size);
    if (!entry)
        return;
    const unsigned char *binary = entry + HEADER_BYTES;
    struct {
        char magic[8];
        uint64_t key, size, checksum;
    } h;
    memcpy(h.magic, "ALBCLPB1", sizeof h.magic);
    memcpy(&h.key, entry + 8, sizeof h.key);
    h.size = (size - HEADER_BYTES) / 2;
    h.checksum = fnv1a(binary, h.size);
    unsigned char *forged = malloc(sizeof h + h.size);
    CHECK(forged != NULL, "out of memory");
    if (forged) {
        memcpy(forged, &h, sizeof h);
        memcpy(forged + sizeof h, binary, h.size);
        write_file(path, forged, sizeof h + h.size, 0600);
    }
    free(forged);
    free(entry);
}

static void random_bytes(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)rand();
}

/* An entry with a valid MAC that is no binary at all: the driver's turn. */
static void plant_garbage(const ocl_tunables *tun)
{
    ocl_ctx ctx;
    albert_error err = {0};
    char options[256];
    ocl_tunables_options(tun, options, sizeof options);
    const char garbage[] = "not a program binary, but its MAC is right";
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(ocl_program_cache_put(&ctx, &dirs, options, (const unsigned char *)garbage,
                                sizeof garbage, &err) == ALBERT_OK,
          "%s", err.msg);
    ocl_ctx_close(&ctx);
}

static void test_cache_cycle(const char *dir)
{
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    char path[4200], key[4300];
    entry_path(&tun, path, sizeof path);
    snprintf(key, sizeof key, "%s/mac.key", dir);
    CHECK(strncmp(path, dir, strlen(dir)) == 0, "entry %s not under %s", path, dir);
    CHECK(file_size(path) < 0, "entry exists before the first build");

    expect("cold", &tun, COLD, NULL, NULL);
    long size = file_size(path);
    CHECK(size > HEADER_BYTES, "cold build wrote no entry (%ld bytes)", size);
    CHECK(file_mode(dir) == 0700, "cache folder %s has mode %o", dir, file_mode(dir));
    CHECK(file_mode(key) == 0600, "key file %s has mode %o", key, file_mode(key));
    CHECK(file_size(key) == 32, "key file %s has %ld bytes", key, file_size(key));
    expect("warm", &tun, WARM, NULL, NULL);

    flip_byte(path, size / 2);
    expect("flipped payload byte", &tun, REJECTED, path, "MAC mismatch");
    /* PoCL's binaries vary in size from build to build, so "rewritten" is
     * judged by the next start reading it back, not by its size. */
    expect("warm after rewrite", &tun, WARM, NULL, NULL);

    flip_byte(path, 9); /* inside the header's key */
    expect("flipped header byte", &tun, REJECTED, path, "another key");

    size = file_size(path);
    CHECK(truncate(path, size / 3) == 0, "truncate %s", path);
    expect("truncated", &tun, REJECTED, path, "header says");
    expect("warm after truncation", &tun, WARM, NULL, NULL);
    truncate_consistently(path);
    expect("truncated, size field fixed up", &tun, REJECTED, path, "MAC mismatch");
    CHECK(truncate(path, 10) == 0, "truncate %s", path);
    expect("shorter than a header", &tun, REJECTED, path, "shorter than its header");

    forge_v1_entry(path);
    expect("old layout, FNV right, binary cut", &tun, REJECTED, path, "not an ALBCLPB2 entry");
    expect("warm after the old layout", &tun, WARM, NULL, NULL);

    unsigned char other_key[32];
    random_bytes(other_key, sizeof other_key);
    write_file(key, other_key, sizeof other_key, 0600);
    expect("another key file", &tun, REJECTED, path, "MAC mismatch");
    expect("warm with that key", &tun, WARM, NULL, NULL);

    CHECK(chmod(key, 0644) == 0, "chmod %s", key);
    expect("key file open to others", &tun, REJECTED, key, "open to other users");
    CHECK(file_mode(key) == 0600, "key file %s not replaced: mode %o", key, file_mode(key));
    expect("warm with the new key", &tun, WARM, NULL, NULL);

    plant_garbage(&tun);
    expect("valid entry the driver refuses", &tun, REFUSED, path, "driver refused");
    expect("warm after the driver's refusal", &tun, WARM, NULL, NULL);

    ocl_tunables other = tun;
    other.wg_row = 32;
    char other_path[4200];
    entry_path(&other, other_path, sizeof other_path);
    CHECK(strcmp(path, other_path) != 0, "different options share key %s", path);
    expect("other options, cold", &other, COLD, NULL, NULL);
    expect("other options, warm", &other, WARM, NULL, NULL);
    expect("first options still cached", &tun, WARM, NULL, NULL);
    CHECK(count_matching(dir, ".tmp-", NULL) == 0, "temporary files left in %s", dir);
}

/* A cache folder that cannot be written: building works, nothing is
 * cached, and each context warns once, naming the folder and REASON,
 * however many programs it builds. */
static void expect_unwritable(const char *what, const char *folder, const char *reason)
{
    dirs.cache_dir = folder;
    ocl_tunables tun;
    ocl_tunables_default(&tun);
    expect(what, &tun, UNCACHED, folder, reason);
    char options[256];
    ocl_tunables_options(&tun, options, sizeof options);
    ocl_ctx ctx;
    warnings w = {0};
    albert_error err = {0};
    CHECK(ocl_ctx_open(device, 0, &ctx, &err) == ALBERT_OK, "%s", err.msg);
    ctx.warn = (ocl_warn_sink){on_warning, &w};
    for (int i = 0; i < 2; i++) {
        cl_program prog = NULL;
        CHECK(ocl_program_get(&ctx, &dirs, options, &prog, &err) == ALBERT_OK, "%s: %s", what,
              err.msg);
        ocl_release_program(&prog);
    }
    CHECK(w.count == 1 && ctx.programs.source_builds == 2,
          "%s: %d warnings over %d builds on one context", what, w.count,
          ctx.programs.source_builds);
    ocl_ctx_close(&ctx);
}

/* A cache path under a regular file; and a read-only folder, where that
 * stops writing (not for root). */
static void test_unwritable(const char *dir, char *blocked, size_t size)
{
    char blocker[4200];
    snprintf(blocker, sizeof blocker, "%s/not-a-dir", dir);
    write_file(blocker, "", 0, 0644);
    snprintf(blocked, size, "%s/cache", blocker);
    expect_unwritable("cache under a file", blocked, "Not a directory");
    if (geteuid() != 0) {
        char ro[4200];
        snprintf(ro, sizeof ro, "%s/read-only", dir);
        CHECK(mkdir(ro, 0500) == 0, "mkdir %s", ro);
        expect_unwritable("read-only cache folder", ro, "Permission denied");
    }
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
    expect("no cache, first", &tun, UNCACHED, NULL, NULL);
    expect("no cache, second", &tun, UNCACHED, NULL, NULL);
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
    warnings w = {0};
    opt.warn = on_warning;
    opt.warn_user = &w;
    e = NULL;
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(w.count == 0, "a warm engine warned: %s", w.last);
    albert_engine_free(e);
    opt.kernel_dir = kdir;
    e = NULL;
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_E_DEVICE && e == NULL,
          "engine built a broken kernel_dir");
    CHECK(strstr(err.msg, "undeclared") != NULL, "no build log: %s", err.msg);
    albert_model_close(m);
}

/* An engine whose cache folder cannot be written: created and run all the
 * same, its options' callback told once, naming the folder. */
static void test_engine_warning(const char *blocked)
{
    albert_model *m = test_open_model("tiny-gelu");
    warnings w = {0};
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    CHECK(opt.warn == NULL && opt.warn_user == NULL, "options start with a warning callback");
    opt.device = device;
    opt.no_tuning = 1;
    opt.cache_dir = blocked;
    opt.warn = on_warning;
    opt.warn_user = &w;
    albert_engine *e = NULL;
    albert_error err = {0};
    CHECK(albert_engine_create(m, &opt, &e, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(w.count == 1 && strstr(w.last, blocked) && strstr(w.last, "Not a directory"),
          "engine on an unwritable cache: %d warnings, last: %s", w.count, w.last);
    const int32_t ids[] = {2, 10, 11, 3};
    const int hidden = albert_model_config(m)->hidden_size;
    float *pooled = test_calloc((size_t)hidden, sizeof *pooled);
    albert_batch b = {1, 4, ids, NULL, NULL};
    albert_outputs o = {.pooled = pooled, .pooling = ALBERT_POOL_CLS};
    CHECK(e && albert_engine_run(e, &b, &o, &err) == ALBERT_OK, "run: %s", err.msg);
    CHECK(isfinite(pooled[0]) && isfinite(pooled[hidden - 1]), "run gave %g .. %g", pooled[0],
          pooled[hidden - 1]);
    CHECK(w.count == 1, "%d warnings after a run", w.count);
    free(pooled);
    albert_engine_free(e);
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
    char blocked[4300];
    test_unwritable(dir, blocked, sizeof blocked);
    test_engine_warning(blocked);
    test_no_cache();
    test_remove_tree(dir);
}

int main(void)
{
    const int n = test_opencl_devices_checked();
    for (int d = 0; d < n; d++)
        test_device(d);
    return test_finish();
}
