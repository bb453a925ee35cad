/* Run-time compilation of our kernels with an on-disk binary cache (see
 * program_cache.h for the layout and the rules). */
#include "opencl/program_cache.h"

#include "opencl/kernels_embedded.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "ALBCLPB1" /* bump the digit when the entry layout changes */
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

typedef struct entry_header {
    char magic[8];
    uint64_t key;
    uint64_t size;     /* payload bytes after the header */
    uint64_t checksum; /* FNV-1a of the payload */
} entry_header;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

/* ---------------------------------------------------------------- source */

typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static int sb_append(strbuf *b, const char *s, albert_error *err)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = 2 * (b->len + n + 1);
        char *bigger = realloc(b->s, cap);
        if (!bigger)
            return albert_fail(err, ALBERT_E_NOMEM, "kernel source: out of memory");
        b->s = bigger;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
    return ALBERT_OK;
}

/* common.cl holds the helpers the others call, so it goes first; then name
 * order, so the program (and its cache key) does not depend on readdir. */
static int source_order(const void *a, const void *b)
{
    const albert_kernel_source *x = a, *y = b;
    int xc = strcmp(x->name, "common.cl") != 0, yc = strcmp(y->name, "common.cl") != 0;
    return xc != yc ? xc - yc : strcmp(x->name, y->name);
}

/* Concatenates FILES (sorted here) into one program source; #line keeps
 * build-log locations per file. */
static int concat_sources(albert_kernel_source *files, size_t n, char **out, albert_error *err)
{
    qsort(files, n, sizeof *files, source_order);
    strbuf b = {0};
    int rc = ALBERT_OK;
    for (size_t i = 0; i < n && rc == ALBERT_OK; i++) {
        char line[300];
        snprintf(line, sizeof line, "#line 1 \"%s\"\n", files[i].name);
        rc = sb_append(&b, line, err);
        if (rc == ALBERT_OK)
            rc = sb_append(&b, files[i].source, err);
        if (rc == ALBERT_OK)
            rc = sb_append(&b, "\n", err);
    }
    if (rc == ALBERT_OK && b.len == 0)
        rc = albert_fail(err, ALBERT_E_IO, "no kernel sources");
    if (rc != ALBERT_OK) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    return ALBERT_OK;
}

static int embedded_source(char **out, albert_error *err)
{
    size_t n = 0;
    while (albert_embedded_kernels[n].name)
        n++;
    albert_kernel_source *files = malloc((n + 1) * sizeof *files);
    if (!files)
        return albert_fail(err, ALBERT_E_NOMEM, "kernel source: out of memory");
    memcpy(files, albert_embedded_kernels, n * sizeof *files);
    int rc = concat_sources(files, n, out, err);
    free(files);
    return rc;
}

static int has_cl_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".cl") == 0;
}

static void free_files(albert_kernel_source *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)files[i].name);
        free((char *)files[i].source);
    }
    free(files);
}

/* Reads every DIR/ *.cl (a kernel folder, for kernel development). */
static int dir_source(const char *dir, char **out, albert_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return albert_fail(err, ALBERT_E_IO, "kernel folder %s: %s", dir, strerror(errno));
    albert_kernel_source *files = NULL;
    size_t n = 0, cap = 0;
    int rc = ALBERT_OK;
    for (struct dirent *e; rc == ALBERT_OK && (e = readdir(d));) {
        if (!has_cl_suffix(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            albert_kernel_source *bigger = realloc(files, cap * sizeof *files);
            if (!bigger) {
                rc = albert_fail(err, ALBERT_E_NOMEM, "kernel source: out of memory");
                break;
            }
            files = bigger;
        }
        char path[4096];
        albert_path_join(path, sizeof path, dir, e->d_name);
        char *text = NULL;
        rc = albert_read_file(path, &text, NULL, err);
        files[n].name = strdup(e->d_name);
        files[n++].source = text;
        if (rc == ALBERT_OK && !files[n - 1].name)
            rc = albert_fail(err, ALBERT_E_NOMEM, "kernel source: out of memory");
    }
    closedir(d);
    if (rc == ALBERT_OK)
        rc = concat_sources(files, n, out, err);
    free_files(files, n);
    return rc;
}

static int program_source(const ocl_program_dirs *dirs, char **out, albert_error *err)
{
    const char *dir = dirs ? dirs->kernel_dir : NULL;
    return dir && *dir ? dir_source(dir, out, err) : embedded_source(out, err);
}

/* ---------------------------------------------------------------- cache files */

static uint64_t cache_key(const ocl_ctx *c, const char *src, const char *options)
{
    const char *fields[] = {CACHE_MAGIC,       src,
                            options,           c->device_name,
                            c->driver_version, c->platform_version};
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        h = fnv1a(h, fields[i], strlen(fields[i]) + 1); /* the NUL separates fields */
    return h;
}

/* The cache folder, or "" for none: DIRS's, else the XDG default. */
static void cache_dir(const ocl_program_dirs *dirs, char *dir, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (dirs && dirs->cache_dir)
        snprintf(dir, size, "%s", dirs->cache_dir);
    else if (xdg && *xdg)
        snprintf(dir, size, "%s/albert-cl", xdg);
    else if (home && *home)
        snprintf(dir, size, "%s/.cache/albert-cl", home);
    else
        dir[0] = '\0';
}

static void entry_path(const char *dir, uint64_t key, char *path, size_t size)
{
    if (!*dir)
        path[0] = '\0';
    else
        snprintf(path, size, "%s/%016llx.bin", dir, (unsigned long long)key);
}

/* mkdir -p; failures show up when the entry is written. */
static void make_dirs(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

typedef enum { ENTRY_MISSING, ENTRY_VALID, ENTRY_BAD } entry_state;

/* Reads the entry at PATH; its payload stays in *FILE (free it) at
 * *PAYLOAD, *SIZE bytes. */
static entry_state read_entry(const char *path, uint64_t key, char **file,
                              const unsigned char **payload, size_t *size)
{
    *file = NULL;
    struct stat sb;
    if (!*path || stat(path, &sb) != 0)
        return ENTRY_MISSING;
    size_t len = 0;
    if (albert_read_file(path, file, &len, NULL) != ALBERT_OK)
        return ENTRY_BAD;
    entry_header h;
    if (len < sizeof h)
        return ENTRY_BAD;
    memcpy(&h, *file, sizeof h);
    *payload = (const unsigned char *)*file + sizeof h;
    *size = len - sizeof h;
    if (memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) != 0 || h.key != key || h.size != *size ||
        h.checksum != fnv1a(FNV_OFFSET, *payload, *size))
        return ENTRY_BAD;
    return ENTRY_VALID;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Temp file + rename, so a reader sees the old entry or the whole new one.
 * Returns 0 when written; any failure just leaves no entry. */
static int write_entry(const char *dir, const char *path, uint64_t key, const unsigned char *data,
                       size_t size)
{
    make_dirs(dir);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    entry_header h;
    memcpy(h.magic, CACHE_MAGIC, sizeof h.magic);
    h.key = key;
    h.size = size;
    h.checksum = fnv1a(FNV_OFFSET, data, size);
    int bad = write_all(fd, &h, sizeof h) != 0 || write_all(fd, data, size) != 0;
    bad |= close(fd) != 0;
    if (!bad && rename(tmp, path) == 0)
        return 0;
    unlink(tmp);
    return -1;
}

/* ---------------------------------------------------------------- building */

/* The build log from its first line that mentions an error (the part worth
 * reading in a one-line message), newlines folded; malloc'd or NULL. */
static char *build_log(cl_program prog, cl_device_id dev)
{
    size_t len = 0;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) != CL_SUCCESS)
        return NULL;
    char *log = malloc(len + 1);
    if (!log)
        return NULL;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, len, log, NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    log[len] = '\0';
    char *from = strstr(log, "error");
    while (from && from > log && from[-1] != '\n')
        from--;
    if (from)
        memmove(log, from, strlen(from) + 1);
    for (char *p = log; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return log;
}

/* "clBuildProgram: CL_BUILD_PROGRAM_FAILURE: <build log>". */
static int build_failure(cl_program prog, cl_device_id dev, cl_int rc, albert_error *err)
{
    char *log = build_log(prog, dev);
    albert_fail(err, ALBERT_E_DEVICE, "clBuildProgram: %s: %s", ocl_error_name(rc),
                log ? log : "(no build log)");
    free(log);
    return ALBERT_E_DEVICE;
}

static int build_source(ocl_ctx *c, const char *src, const char *options, cl_program *out,
                        albert_error *err)
{
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(c->context, 1, &src, NULL, &rc);
    if (rc != CL_SUCCESS)
        return ocl_check(rc, "clCreateProgramWithSource", err);
    rc = clBuildProgram(prog, 1, &c->device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        int code = build_failure(prog, c->device, rc, err);
        ocl_release_program(&prog);
        return code;
    }
    c->programs.source_builds++;
    *out = prog;
    return ALBERT_OK;
}

/* A program from a cached binary; any failure means "rebuild", so errors
 * are not reported. */
static int build_binary(ocl_ctx *c, const unsigned char *bin, size_t size, const char *options,
                        cl_program *out)
{
    cl_int rc, status;
    cl_program prog =
        clCreateProgramWithBinary(c->context, 1, &c->device, &size, &bin, &status, &rc);
    if (rc != CL_SUCCESS || status != CL_SUCCESS) {
        if (rc == CL_SUCCESS)
            ocl_release_program(&prog);
        return -1;
    }
    if (clBuildProgram(prog, 1, &c->device, options, NULL, NULL) != CL_SUCCESS) {
        ocl_release_program(&prog);
        return -1;
    }
    *out = prog;
    return 0;
}

/* The device binary of PROG in a malloc'd buffer, NULL when the driver gives
 * none (the program is then simply not cached). */
static unsigned char *program_binary(cl_program prog, size_t *size)
{
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof *size, size, NULL) != CL_SUCCESS ||
        *size == 0)
        return NULL;
    unsigned char *bin = malloc(*size);
    if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS) {
        free(bin);
        bin = NULL;
    }
    return bin;
}

/* Tries the cache entry; 0 when *OUT came from it. */
static int from_cache(ocl_ctx *c, const char *path, uint64_t key, const char *options,
                      cl_program *out)
{
    char *file;
    const unsigned char *payload = NULL;
    size_t size = 0;
    entry_state st = read_entry(path, key, &file, &payload, &size);
    int rc = st == ENTRY_VALID ? build_binary(c, payload, size, options, out) : -1;
    free(file);
    if (rc == 0)
        c->programs.cache_hits++;
    else if (st != ENTRY_MISSING)
        c->programs.cache_rejects++;
    return rc;
}

static void to_cache(ocl_ctx *c, const char *dir, const char *path, uint64_t key,
                     cl_program prog)
{
    size_t size = 0;
    unsigned char *bin = *path ? program_binary(prog, &size) : NULL;
    if (bin && write_entry(dir, path, key, bin, size) == 0)
        c->programs.cache_writes++;
    free(bin);
}

int ocl_program_get(ocl_ctx *c, const ocl_program_dirs *dirs, const char *options,
                    cl_program *out, albert_error *err)
{
    *out = NULL;
    char *src;
    int rc = program_source(dirs, &src, err);
    if (rc != ALBERT_OK)
        return rc;
    uint64_t key = cache_key(c, src, options);
    char dir[4096], path[4200];
    cache_dir(dirs, dir, sizeof dir);
    entry_path(dir, key, path, sizeof path);
    if (from_cache(c, path, key, options, out) != 0) {
        rc = build_source(c, src, options, out, err);
        if (rc == ALBERT_OK)
            to_cache(c, dir, path, key, *out);
    }
    free(src);
    return rc;
}

int ocl_program_cache_path(const ocl_ctx *c, const ocl_program_dirs *dirs, const char *options,
                           char *path, size_t size, albert_error *err)
{
    char *src;
    int rc = program_source(dirs, &src, err);
    if (rc != ALBERT_OK)
        return rc;
    char dir[4096];
    cache_dir(dirs, dir, sizeof dir);
    entry_path(dir, cache_key(c, src, options), path, size);
    free(src);
    return ALBERT_OK;
}
