#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int albert_fail(albert_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int albert_ok(albert_error *err)
{
    if (err) {
        err->code = ALBERT_OK;
        err->msg[0] = '\0';
    }
    return ALBERT_OK;
}

const char *albert_status_name(int code)
{
    switch (code) {
    case ALBERT_OK: return "ALBERT_OK";
    case ALBERT_E_IO: return "ALBERT_E_IO";
    case ALBERT_E_FORMAT: return "ALBERT_E_FORMAT";
    case ALBERT_E_INPUT: return "ALBERT_E_INPUT";
    case ALBERT_E_ARG: return "ALBERT_E_ARG";
    case ALBERT_E_NOMEM: return "ALBERT_E_NOMEM";
    case ALBERT_E_DEVICE: return "ALBERT_E_DEVICE";
    case ALBERT_E_UNSUPPORTED: return "ALBERT_E_UNSUPPORTED";
    case ALBERT_E_MISMATCH: return "ALBERT_E_MISMATCH";
    default: return "ALBERT_E_UNKNOWN";
    }
}

int albert_read_file(const char *path, char **data, size_t *size, albert_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory reading file", path);
    if (failed) {
        free(buf);
        return albert_fail(err, ALBERT_E_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *data = buf;
    if (size)
        *size = len;
    return albert_ok(err);
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
