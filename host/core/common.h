/* Internal helpers shared by the library and the programs built on it (the
 * CLI compiles this file in too): errors, whole-file reads, paths, the
 * clock.  Nothing here is public API. */
#ifndef ALBERT_CORE_COMMON_H
#define ALBERT_CORE_COMMON_H

#include "albert_cl.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define ALBERT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ALBERT_PRINTF(f, a)
#endif

/* Fills ERR (if not NULL) with CODE, row -1 and a printf-style message;
 * returns CODE so callers can write `return albert_fail(err, ALBERT_E_IO, "...")`. */
int albert_fail(albert_error *err, int code, const char *fmt, ...) ALBERT_PRINTF(3, 4);

/* The same for a problem with batch row ROW: the message is prefixed with
 * "batch row ROW: " and err->row set. */
int albert_fail_row(albert_error *err, int code, int row, const char *fmt, ...)
    ALBERT_PRINTF(4, 5);

/* Clears ERR (if not NULL) and returns ALBERT_OK. */
int albert_ok(albert_error *err);

/* Reads all of F into a NUL-terminated malloc'd buffer; NAME names it in
 * errors.  *SIZE (when not NULL) gets the length without the NUL. */
int albert_read_stream(FILE *f, const char *name, char **data, size_t *size, albert_error *err);

/* The same for the file at PATH. */
int albert_read_file(const char *path, char **data, size_t *size, albert_error *err);

/* snprintf into DST of DST_SIZE joining DIR and NAME with a '/'. */
void albert_path_join(char *dst, size_t dst_size, const char *dir, const char *name);

/* Number of online CPU cores, at least 1. */
int albert_cpu_count(void);

/* $NAME when set and not empty, else NULL.  For the programs (the CLI, the
 * tuner), which map environment variables to engine options; the library
 * itself reads only the defaults of the folders its header names (the kernel
 * cache, the Hugging Face hub cache). */
const char *albert_env(const char *name);

/* Why albert_json_parse failed: where, and whether it looks like memory ran
 * out rather than the text being bad. */
typedef struct albert_json_failure {
    size_t offset; /* byte where cJSON stopped */
    int nomem;     /* 1: memory ran out, not the syntax */
} albert_json_failure;

/* TEXT (LEN bytes) parsed by cJSON; with WHOLE nothing but whitespace may
 * follow the value (TEXT[LEN] must then be a NUL).  NULL on failure, *WHY
 * telling where and why.  cJSON fails the same way for bad syntax and for
 * want of memory, so a failed parse is tried once more: bad syntax fails
 * again at the same byte (and memory is still there); a retry that
 * succeeds is returned. */
struct cJSON *albert_json_parse(const char *text, size_t len, int whole,
                                albert_json_failure *why);

/* Reads the JSON value in the file PATH into *ROOT (free it with
 * cJSON_Delete): ALBERT_E_IO when the file cannot be read, ALBERT_E_FORMAT
 * (naming the byte) when it holds no JSON, ALBERT_E_NOMEM. */
int albert_json_load_value(const char *path, struct cJSON **root, albert_error *err);

/* Reads the JSON object in the file PATH into *ROOT (free it with
 * cJSON_Delete): ALBERT_E_IO when the file cannot be read, ALBERT_E_FORMAT
 * when it holds no JSON object, ALBERT_E_NOMEM. */
int albert_json_load(const char *path, struct cJSON **root, albert_error *err);

/* Writes all N bytes of DATA to FD (going on after short writes and
 * EINTR): 0, or the errno of the failed write (EIO for a write of 0). */
int albert_write_all(int fd, const void *data, size_t n);

/* Monotonic clock in nanoseconds, for host-side timers. */
uint64_t albert_now_ns(void);

#endif
