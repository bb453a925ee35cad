/* A growing text buffer: records, replies. */
#ifndef ALBERT_CLI_BUF_H
#define ALBERT_CLI_BUF_H

#include "core/common.h"

#include <stddef.h>
#include <stdint.h>

/* A failed allocation is remembered (NOMEM), not fatal: the writer checks
 * once at the end. */
typedef struct cli_buf {
    char *data;
    size_t len, cap;
    int nomem;
} cli_buf;

void cli_buf_put(cli_buf *b, const char *s, size_t n);
void cli_buf_printf(cli_buf *b, const char *fmt, ...) ALBERT_PRINTF(2, 3);
/* [v0, v1, ...]: floats with 9 significant digits (float32 round-trips). */
void cli_buf_floats(cli_buf *b, const float *v, int n);
/* The same with DIGITS significant digits (9 round-trips a float, 5 a half). */
void cli_buf_floats_digits(cli_buf *b, const float *v, int n, int digits);
void cli_buf_ints(cli_buf *b, const int32_t *v, int n);

#endif
