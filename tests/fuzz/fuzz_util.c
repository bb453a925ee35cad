/* The fuzz targets' shared helpers (fuzz_util.h) and the sanitizer settings
 * every target runs with, built in so that a reproducer run by hand behaves
 * like the fuzzing run that found it. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fuzz_util.h"

#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

/* An allocation past 2 GiB fails (returns NULL) as it would on a small
 * machine instead of ending the run: a size taken from a file must lead to
 * ALBERT_E_NOMEM or a format error, which is what gets checked.  libFuzzer's
 * -rss_limit_mb still catches memory really used.  With ASan's default
 * 256 MiB quarantine the tokenizer target's RSS kept creeping up over
 * millions of inputs (flat without one); at 64 MiB it stays flat. */
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=2048:quarantine_size_mb=64";
}

const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1:halt_on_error=1";
}

static void finish_line(const char *fmt, va_list ap)
{
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void fuzz_broken(const char *file, int line, const char *cond, const char *fmt, ...)
{
    fprintf(stderr, "%s:%d: library promise broken: %s: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    finish_line(fmt, ap);
    va_end(ap);
    abort();
}

void fuzz_die(const char *fmt, ...)
{
    fprintf(stderr, "fuzz harness: ");
    va_list ap;
    va_start(ap, fmt);
    finish_line(fmt, ap);
    va_end(ap);
    exit(2);
}

void fuzz_expect_status(int rc, const albert_error *err, const char *call)
{
    FUZZ_EXPECT(rc >= ALBERT_OK && rc <= ALBERT_E_UNSUPPORTED, "%s returned %d", call, rc);
    if (rc == ALBERT_OK) /* internal functions leave ERR alone on success */
        return;
    FUZZ_EXPECT(err->code == rc, "%s returned %d but err.code is %d", call, rc, err->code);
    size_t len = strnlen(err->msg, sizeof err->msg);
    FUZZ_EXPECT(len > 0 && len < sizeof err->msg, "%s failed (%d) without a message", call, rc);
}

static char scratch[4096];

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_scratch(void)
{
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(void)
{
    if (scratch[0])
        return scratch;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/albert-fuzz-XXXXXX", base);
    if (!mkdtemp(scratch))
        fuzz_die("cannot make a scratch folder in %s: %s", base, strerror(errno));
    atexit(remove_scratch);
    return scratch;
}

void fuzz_scratch_path(char *dst, size_t size, const char *name)
{
    const char *slash = strchr(name, '/');
    if (slash) {
        snprintf(dst, size, "%s/%.*s", fuzz_scratch_dir(), (int)(slash - name), name);
        if (mkdir(dst, 0700) != 0 && errno != EEXIST)
            fuzz_die("cannot make %s: %s", dst, strerror(errno));
    }
    snprintf(dst, size, "%s/%s", fuzz_scratch_dir(), name);
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fuzz_die("cannot write %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno != EINTR)
            fuzz_die("cannot write %s: %s", path, strerror(errno));
        done += n > 0 ? (size_t)n : 0;
    }
    close(fd);
}

void fuzz_symlink(const char *target, const char *path)
{
    unlink(path);
    if (symlink(target, path) != 0)
        fuzz_die("cannot link %s to %s: %s", path, target, strerror(errno));
}

const char *fuzz_shared_dir(void)
{
    const char *dir = getenv("ALBERT_CL_SHARED");
    return dir && *dir ? dir : ALBERT_FUZZ_SHARED_DIR;
}

static int64_t shape_product(const st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(n, t->shape[i], &n))
            return -1;
    return n;
}

/* Bytes per element, in st_dtype's order: the harness's own copy, so a
 * wrong size in the reader shows as a broken promise. */
static const int64_t elem_size[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};

void fuzz_check_tensor(const st_file *f, const st_tensor *t)
{
    FUZZ_EXPECT(t->name && st_find(f, t->name) != NULL, "a tensor not found by its name");
    FUZZ_EXPECT(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "'%s': %d dimensions", t->name, t->ndim);
    FUZZ_EXPECT((unsigned)t->dtype < sizeof elem_size / sizeof elem_size[0], "'%s': dtype %d",
                t->name, (int)t->dtype);
    FUZZ_EXPECT(shape_product(t) == t->numel, "'%s': numel %lld is not the shape's product",
                t->name, (long long)t->numel);
    FUZZ_EXPECT((uint64_t)t->numel * (uint64_t)elem_size[t->dtype] == t->nbytes,
                "'%s': %lld elements in %zu bytes", t->name, (long long)t->numel, t->nbytes);
    albert_error err;
    void *dst = malloc((size_t)t->numel * 4 + 1);
    if (!dst)
        fuzz_die("out of memory for %lld elements", (long long)t->numel);
    fuzz_expect_status(st_to_f32(f, t, dst, &err), &err, "st_to_f32");
    fuzz_expect_status(st_to_i32(f, t, dst, &err), &err, "st_to_i32");
    free(dst);
}

void fuzz_check_tensor_file(const char *name, const uint8_t *data, size_t size,
                            fuzz_tensor_reader open, const char *call,
                            void (*inside)(const st_file *, const st_tensor *))
{
    char path[4096];
    fuzz_scratch_path(path, sizeof path, name);
    fuzz_write_file(path, data, size);
    st_file *f = NULL;
    albert_error err;
    int rc = open(path, &f, &err);
    fuzz_expect_status(rc, &err, call);
    FUZZ_EXPECT((rc == ALBERT_OK) == (f != NULL), "%s: rc %d with file %p", call, rc, (void *)f);
    FUZZ_EXPECT(!f || f->count >= 0, "%d tensors", f->count);
    for (int i = 0; f && i < f->count; i++) {
        inside(f, &f->tensors[i]);
        fuzz_check_tensor(f, &f->tensors[i]);
    }
    st_close(f);
}
