/* Run-time compilation of our kernels with an on-disk binary cache (see
 * program_cache.h for the layout and the rules). */
#include "opencl/program_cache.h"

#include "opencl/kernels_embedded.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "ALBCLPB2" /* bump the digit when the entry layout or its MAC changes */
#define KEY_BYTES 16           /* an entry's cache key (its file name in hex) */
#define MAC_BYTES crypto_generichash_BYTES
#define SECRET_BYTES 32 /* the folder's key, as crypto_generichash recommends */
#define SECRET_FILE "mac.key"

/* Each problem is reported once per context (ocl_warn). */
enum { WARN_WRITE = 1u, WARN_REJECT = 2u };

typedef struct entry_header {
    char magic[8];
    unsigned char key[KEY_BYTES];
    uint64_t size;                /* payload bytes after the header */
    unsigned char mac[MAC_BYTES]; /* keyed BLAKE2b of the fields above, then the payload */
} entry_header;

_Static_assert(SECRET_BYTES == crypto_generichash_KEYBYTES, "key size");
/* The MAC covers the header's bytes as they are in the file. */
_Static_assert(offsetof(entry_header, mac) == 8 + KEY_BYTES + 8 &&
                   sizeof(entry_header) == offsetof(entry_header, mac) + MAC_BYTES,
               "entry_header has padding");

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

/* One ocl_program_get's view of the cache: the folder, the entry and the
 * folder's MAC key. */
typedef struct cache {
    char dir[4096]; /* "" when there is no cache */
    char path[4200];
    unsigned char key[KEY_BYTES];
    unsigned char secret[SECRET_BYTES];
} cache;

/* What the binary depends on, NUL-separated, hashed: entries of another
 * source, build options, device, driver or layout get another key. */
static void cache_key(const ocl_ctx *c, const char *src, const char *options,
                      unsigned char key[KEY_BYTES])
{
    const char *fields[] = {CACHE_MAGIC,       src,
                            options,           c->device_name,
                            c->driver_version, c->platform_version};
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, KEY_BYTES);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        crypto_generichash_update(&st, (const unsigned char *)fields[i], strlen(fields[i]) + 1);
    crypto_generichash_final(&st, key, KEY_BYTES);
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

/* The folder, key and entry path for SRC and OPTIONS (no secret yet); -1
 * when libsodium cannot start (it needs a source of random bytes). */
static int cache_locate(const ocl_ctx *c, const ocl_program_dirs *dirs, const char *src,
                        const char *options, cache *k)
{
    if (sodium_init() < 0)
        return -1;
    cache_key(c, src, options, k->key);
    cache_dir(dirs, k->dir, sizeof k->dir);
    char hex[2 * KEY_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, k->key, KEY_BYTES);
    if (!k->dir[0])
        k->path[0] = '\0';
    else
        snprintf(k->path, sizeof k->path, "%s/%s.bin", k->dir, hex);
    return 0;
}

static void entry_mac(const cache *k, const entry_header *h, const unsigned char *payload,
                      size_t size, unsigned char mac[MAC_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, k->secret, SECRET_BYTES, MAC_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)h, offsetof(entry_header, mac));
    crypto_generichash_update(&st, payload, size);
    crypto_generichash_final(&st, mac, MAC_BYTES);
}

/* mkdir -p with private folders; 0 or the errno that stops DIR being a
 * folder. */
static int make_dirs(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700); /* an existing folder is fine; a real problem shows below */
            *p = '/';
        }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return errno;
    struct stat sb;
    if (stat(buf, &sb) != 0)
        return errno;
    return S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
}

/* A new file in DIR under a temporary name, put in TMP; mkstemp makes it
 * 0600.  Its descriptor, or -1 with errno set. */
static int temp_file(const char *dir, char *tmp, size_t size)
{
    snprintf(tmp, size, "%s/.tmp-XXXXXX", dir);
    return mkstemp(tmp);
}

/* Closes FD after writing to it; E (0 or an errno value) unless the close
 * itself fails. */
static int close_written(int fd, int e)
{
    return close(fd) != 0 && !e ? errno : e;
}

/* Deletes PATH, which failed its checks for reason WHY, and says so. */
static void reject_file(ocl_ctx *c, const char *path, const char *why)
{
    if (unlink(path) == 0 || errno == ENOENT)
        ocl_warn(c, WARN_REJECT, "program cache: rejected %s (%s); deleted it", path, why);
    else
        ocl_warn(c, WARN_REJECT, "program cache: rejected %s (%s); cannot delete it: %s", path,
                 why, strerror(errno));
}

static void cannot_write(ocl_ctx *c, const char *dir, int errnum)
{
    ocl_warn(c, WARN_WRITE,
             "program cache folder %s cannot be written (%s): kernels are compiled from "
             "source every time",
             dir, strerror(errnum));
}

/* ---------------------------------------------------------------- the folder's key */

/* Why the key file open at FD cannot be trusted, or NULL: only a private
 * file of ours keeps its key secret. */
static const char *secret_problem(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return strerror(errno);
    if (!S_ISREG(sb.st_mode))
        return "not a regular file";
    if (sb.st_uid != geteuid())
        return "owned by another user";
    if (sb.st_mode & 077)
        return "open to other users";
    if (sb.st_size != SECRET_BYTES)
        return "not 32 bytes long";
    return NULL;
}

typedef enum { SECRET_READ, SECRET_MISSING, SECRET_UNREADABLE, SECRET_BAD } secret_state;

/* Reads the key at PATH into K->secret; SECRET_BAD says why in WHY. */
static secret_state read_secret(const char *path, cache *k, char *why, size_t n)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return SECRET_MISSING;
    if (fd < 0 && errno != ELOOP) { /* no file descriptor, no memory: not the key's fault */
        snprintf(why, n, "%s", strerror(errno));
        return SECRET_UNREADABLE;
    }
    const char *problem = fd < 0 ? strerror(errno) : secret_problem(fd);
    if (!problem && read(fd, k->secret, SECRET_BYTES) != (ssize_t)SECRET_BYTES)
        problem = "short read";
    if (fd >= 0)
        close(fd);
    if (!problem)
        return SECRET_READ;
    snprintf(why, n, "%s", problem);
    return SECRET_BAD;
}

/* Creates the key at PATH: written in full under a temporary name, then
 * linked into place (link, unlike rename, never replaces a file), so other
 * processes see no key or the whole key, and a process that loses the race
 * reads the winner's.  0 or an errno value (EEXIST: lost the race). */
static int create_secret(cache *k, const char *path)
{
    char tmp[4200];
    int fd = temp_file(k->dir, tmp, sizeof tmp);
    if (fd < 0)
        return errno;
    randombytes_buf(k->secret, SECRET_BYTES);
    int e = albert_write_all(fd, k->secret, SECRET_BYTES);
    if (!e && fsync(fd) != 0)
        e = errno;
    e = close_written(fd, e);
    if (!e && link(tmp, path) != 0)
        e = errno;
    unlink(tmp);
    return e;
}

/* Reads or creates the folder's key in K->secret (an untrusted key file is
 * replaced); 0 when the cache can be used, else warns and returns -1. */
static int load_secret(ocl_ctx *c, cache *k)
{
    int e = make_dirs(k->dir);
    char path[4300], why[128];
    snprintf(path, sizeof path, "%s/%s", k->dir, SECRET_FILE);
    /* A second attempt reads the key of a process that created it first. */
    for (int attempt = 0; !e && attempt < 2; attempt++) {
        secret_state st = read_secret(path, k, why, sizeof why);
        if (st == SECRET_READ)
            return 0;
        if (st == SECRET_UNREADABLE) {
            ocl_warn(c, WARN_WRITE, "program cache key %s cannot be read (%s): kernels are "
                                    "compiled from source this time", path, why);
            return -1;
        }
        if (st == SECRET_BAD)
            reject_file(c, path, why);
        e = create_secret(k, path);
        if (!e)
            return 0;
        if (e == EEXIST && attempt == 0)
            e = 0;
    }
    cannot_write(c, k->dir, e);
    return -1;
}

/* ---------------------------------------------------------------- entries */

typedef enum { ENTRY_MISSING, ENTRY_VALID, ENTRY_BAD } entry_state;

/* Why FILE (LEN bytes, at least a header) is not K's entry, or NULL. */
static const char *entry_problem(const cache *k, const unsigned char *file, size_t len,
                                 char *why, size_t n)
{
    entry_header h;
    memcpy(&h, file, sizeof h);
    size_t size = len - sizeof h;
    unsigned char mac[MAC_BYTES];
    if (memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) != 0)
        return "not an " CACHE_MAGIC " entry";
    if (memcmp(h.key, k->key, KEY_BYTES) != 0)
        return "written for another key";
    if (h.size != size) {
        snprintf(why, n, "%zu payload bytes where its header says %llu", size,
                 (unsigned long long)h.size);
        return why;
    }
    entry_mac(k, &h, file + sizeof h, size, mac);
    if (crypto_verify_32(mac, h.mac) != 0)
        return "MAC mismatch: corrupt, or not written with this folder's key";
    return NULL;
}

/* Reads and checks K's entry: ENTRY_VALID leaves it in *FILE (free it),
 * its payload *SIZE bytes from sizeof(entry_header); ENTRY_BAD says why in
 * WHY. */
static entry_state read_entry(const cache *k, char **file, size_t *size, char *why, size_t n)
{
    *file = NULL;
    struct stat sb;
    if (stat(k->path, &sb) != 0 && errno == ENOENT)
        return ENTRY_MISSING;
    size_t len = 0;
    albert_error err;
    const char *problem = NULL;
    if (albert_read_file(k->path, file, &len, &err) != ALBERT_OK)
        return ENTRY_MISSING; /* unreadable now (memory, descriptors): rebuilt, kept */
    if (len < sizeof(entry_header))
        problem = "shorter than its header";
    else
        problem = entry_problem(k, (const unsigned char *)*file, len, why, n);
    if (!problem) {
        *size = len - sizeof(entry_header);
        return ENTRY_VALID;
    }
    if (problem != why)
        snprintf(why, n, "%s", problem);
    free(*file);
    *file = NULL;
    return ENTRY_BAD;
}

/* Temp file + rename, so a reader sees the old entry or the whole new one.
 * 0 or an errno value. */
static int write_entry(const cache *k, const unsigned char *data, size_t size)
{
    char tmp[4200];
    int fd = temp_file(k->dir, tmp, sizeof tmp);
    if (fd < 0)
        return errno;
    entry_header h;
    memcpy(h.magic, CACHE_MAGIC, sizeof h.magic);
    memcpy(h.key, k->key, KEY_BYTES);
    h.size = size;
    entry_mac(k, &h, data, size, h.mac);
    int e = albert_write_all(fd, &h, sizeof h);
    e = close_written(fd, e ? e : albert_write_all(fd, data, size));
    if (!e && rename(tmp, k->path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    return e;
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
    rc = ocl_injected(clBuildProgram(prog, 1, &c->device, options, NULL, NULL));
    if (rc != CL_SUCCESS) {
        int code = build_failure(prog, c->device, rc, err);
        ocl_release_program(&prog);
        return code;
    }
    c->programs.source_builds++;
    *out = prog;
    return ALBERT_OK;
}

/* A program from a cached binary; a failure means "rebuild", so it is
 * only described in WHY. */
static int build_binary(ocl_ctx *c, const unsigned char *bin, size_t size, const char *options,
                        cl_program *out, char *why, size_t n)
{
    cl_int rc, status;
    cl_program prog =
        clCreateProgramWithBinary(c->context, 1, &c->device, &size, &bin, &status, &rc);
    if (rc != CL_SUCCESS || status != CL_SUCCESS) {
        snprintf(why, n, "the driver refused it: clCreateProgramWithBinary: %s",
                 ocl_error_name(rc != CL_SUCCESS ? rc : status));
        if (rc == CL_SUCCESS)
            ocl_release_program(&prog);
        return -1;
    }
    rc = clBuildProgram(prog, 1, &c->device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        snprintf(why, n, "the driver refused it: clBuildProgram: %s", ocl_error_name(rc));
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

/* Tries K's entry; 0 when *OUT came from it.  Only an entry that passed
 * every check reaches the driver (PoCL crashes on a bad binary); one that
 * fails them, or that the driver refuses, is deleted. */
static int from_cache(ocl_ctx *c, const cache *k, const char *options, cl_program *out)
{
    char *file, why[ALBERT_ERRMSG_MAX];
    size_t size = 0;
    entry_state st = read_entry(k, &file, &size, why, sizeof why);
    if (st == ENTRY_MISSING)
        return -1;
    int rc = -1;
    if (st == ENTRY_BAD)
        c->programs.cache_rejects++;
    else if ((rc = build_binary(c, (unsigned char *)file + sizeof(entry_header), size, options,
                                out, why, sizeof why)) != 0)
        c->programs.driver_rejects++;
    else
        c->programs.cache_hits++;
    free(file);
    if (rc != 0)
        reject_file(c, k->path, why);
    return rc;
}

static void to_cache(ocl_ctx *c, const cache *k, cl_program prog)
{
    size_t size = 0;
    unsigned char *bin = program_binary(prog, &size);
    int e = bin ? write_entry(k, bin, size) : 0;
    if (bin && !e)
        c->programs.cache_writes++;
    else if (e)
        cannot_write(c, k->dir, e);
    free(bin);
}

/* K for SRC and OPTIONS with its folder's key; 0 when there is a usable
 * cache. */
static int cache_open(ocl_ctx *c, const ocl_program_dirs *dirs, const char *src,
                      const char *options, cache *k)
{
    if (cache_locate(c, dirs, src, options, k) != 0) {
        ocl_warn(c, WARN_WRITE, "program cache: libsodium cannot start; kernels are compiled "
                                "from source every time");
        return -1;
    }
    return k->dir[0] ? load_secret(c, k) : -1;
}

int ocl_program_get(ocl_ctx *c, const ocl_program_dirs *dirs, const char *options,
                    cl_program *out, albert_error *err)
{
    *out = NULL;
    char *src;
    int rc = program_source(dirs, &src, err);
    if (rc != ALBERT_OK)
        return rc;
    cache k;
    int cached = cache_open(c, dirs, src, options, &k) == 0;
    if (!cached || from_cache(c, &k, options, out) != 0) {
        rc = build_source(c, src, options, out, err);
        if (rc == ALBERT_OK && cached)
            to_cache(c, &k, *out);
    }
    sodium_memzero(k.secret, sizeof k.secret);
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
    cache k;
    if (cache_locate(c, dirs, src, options, &k) == 0)
        snprintf(path, size, "%s", k.path);
    else
        rc = albert_fail(err, ALBERT_E_IO, "program cache: libsodium cannot start");
    free(src);
    return rc;
}

int ocl_program_cache_put(ocl_ctx *c, const ocl_program_dirs *dirs, const char *options,
                          const unsigned char *bin, size_t size, albert_error *err)
{
    char *src;
    int rc = program_source(dirs, &src, err);
    if (rc != ALBERT_OK)
        return rc;
    cache k;
    int e = 0;
    k.dir[0] = '\0';
    if (cache_open(c, dirs, src, options, &k) != 0)
        rc = albert_fail(err, ALBERT_E_IO, "program cache folder \"%s\": no usable cache there",
                         k.dir);
    else if ((e = write_entry(&k, bin, size)) != 0)
        rc = albert_fail(err, ALBERT_E_IO, "program cache entry %s: %s", k.path, strerror(e));
    sodium_memzero(k.secret, sizeof k.secret);
    free(src);
    return rc;
}
