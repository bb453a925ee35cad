/* A growing text buffer for records and replies. */
#include "cli/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_buf_put(cli_buf *b, const char *s, size_t n)
{
    if (b->nomem)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *bigger = realloc(b->data, cap);
        if (!bigger) {
            b->nomem = 1;
            return;
        }
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void cli_buf_printf(cli_buf *b, const char *fmt, ...)
{
    char small[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        cli_buf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->nomem = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    cli_buf_put(b, big, (size_t)n);
    free(big);
}

void cli_buf_floats_digits(cli_buf *b, const float *v, int n, int digits)
{
    cli_buf_put(b, "[", 1);
    for (int i = 0; i < n; i++)
        cli_buf_printf(b, i ? ", %.*g" : "%.*g", digits, (double)v[i]);
    cli_buf_put(b, "]", 1);
}

void cli_buf_floats(cli_buf *b, const float *v, int n)
{
    cli_buf_floats_digits(b, v, n, 9);
}

void cli_buf_ints(cli_buf *b, const int32_t *v, int n)
{
    cli_buf_put(b, "[", 1);
    for (int i = 0; i < n; i++)
        cli_buf_printf(b, i ? ", %d" : "%d", (int)v[i]);
    cli_buf_put(b, "]", 1);
}
