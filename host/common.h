/* Internal helpers shared by every file of the library. */
#ifndef ALBERT_COMMON_H
#define ALBERT_COMMON_H

#include "albert_cl.h"

#include <stddef.h>

#if defined(__GNUC__)
#define ALBERT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ALBERT_PRINTF(f, a)
#endif

/* Fills ERR (if not NULL) with CODE and a printf-style message; returns CODE
 * so callers can write `return albert_fail(err, ALBERT_E_IO, "...")`. */
int albert_fail(albert_error *err, int code, const char *fmt, ...) ALBERT_PRINTF(3, 4);

/* Clears ERR (if not NULL) and returns ALBERT_OK. */
int albert_ok(albert_error *err);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
int albert_read_file(const char *path, char **data, size_t *size, albert_error *err);

/* snprintf into DST of DST_SIZE joining DIR and NAME with a '/'. */
void albert_path_join(char *dst, size_t dst_size, const char *dir, const char *name);

/* Number of online CPU cores, at least 1. */
int albert_cpu_count(void);

#endif
