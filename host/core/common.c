#include "core/common.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail_v(albert_error *err, int code, int row, const char *prefix, const char *fmt,
                  va_list ap)
{
    if (!err)
        return code;
    int n = snprintf(err->msg, sizeof err->msg, "%s", prefix);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        n = 0;
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    err->code = code;
    err->row = row;
    return code;
}

int albert_fail(albert_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(err, code, -1, "", fmt, ap);
    va_end(ap);
    return code;
}

int albert_fail_row(albert_error *err, int code, int row, const char *fmt, ...)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "batch row %d: ", row);
    va_list ap;
    va_start(ap, fmt);
    fail_v(err, code, row, prefix, fmt, ap);
    va_end(ap);
    return code;
}

int albert_ok(albert_error *err)
{
    if (err) {
        err->code = ALBERT_OK;
        err->row = -1;
        err->msg[0] = '\0';
    }
    return ALBERT_OK;
}

int albert_read_stream(FILE *f, const char *name, char **data, size_t *size, albert_error *err)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    if (!buf)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory reading the file", name);
    if (ferror(f)) {
        int e = errno;
        free(buf);
        return albert_fail(err, ALBERT_E_IO, "%s: cannot read: %s", name, strerror(e));
    }
    buf[len] = '\0';
    *data = buf;
    if (size)
        *size = len;
    return albert_ok(err);
}

int albert_read_file(const char *path, char **data, size_t *size, albert_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc = albert_read_stream(f, path, data, size, err);
    fclose(f);
    return rc;
}

void albert_path_join(char *dst, size_t dst_size, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] == '/';
    snprintf(dst, dst_size, "%s%s%s", dir, slash ? "" : "/", name);
}

int albert_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

uint64_t albert_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *albert_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static cJSON *parse_once(const char *text, size_t len, int whole, size_t *offset)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, whole ? len + 1 : len, &end, whole);
    *offset = end ? (size_t)(end - text) : 0;
    return root;
}

cJSON *albert_json_parse(const char *text, size_t len, int whole, albert_json_failure *why)
{
    size_t first = 0, second = 0;
    cJSON *root = parse_once(text, len, whole, &first);
    if (!root)
        root = parse_once(text, len, whole, &second);
    why->offset = first;
    why->nomem = 0;
    if (!root) { /* the same stop twice is the syntax, unless memory is gone for good */
        void *probe = malloc(len + 4096);
        why->nomem = second != first || !probe;
        free(probe);
    }
    return root;
}

int albert_json_load_value(const char *path, cJSON **root, albert_error *err)
{
    char *data = NULL;
    size_t size = 0;
    *root = NULL;
    int rc = albert_read_file(path, &data, &size, err);
    if (rc != ALBERT_OK)
        return rc;
    albert_json_failure why;
    *root = albert_json_parse(data, size, 0, &why);
    free(data);
    if (!*root && why.nomem)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory while parsing it", path);
    if (!*root)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: malformed JSON at byte %zu", path,
                           why.offset);
    return ALBERT_OK;
}

int albert_json_load(const char *path, cJSON **root, albert_error *err)
{
    int rc = albert_json_load_value(path, root, err);
    if (rc != ALBERT_OK && rc != ALBERT_E_FORMAT)
        return rc;
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return albert_fail(err, ALBERT_E_FORMAT, "%s: malformed JSON (expected an object)", path);
    }
    return ALBERT_OK;
}

int albert_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
