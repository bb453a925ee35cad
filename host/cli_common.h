/* What the albert-cl helper files share: the parsed command line and a way to
 * report one-line errors.  The CLI uses only the public albert_cl.h API. */
#ifndef ALBERT_CLI_COMMON_H
#define ALBERT_CLI_COMMON_H

#include "albert_cl.h"

#include <stddef.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

typedef enum cli_input_format { CLI_IN_TEXT, CLI_IN_TSV, CLI_IN_JSONL } cli_input_format;
typedef enum cli_output_format { CLI_OUT_JSONL, CLI_OUT_NPY } cli_output_format;

/* Options are plain ints (enum values included) so one table can parse them. */
typedef struct cli_options {
    const char *model_dir;
    int device;                  /* ALBERT_DEVICE_AUTO, ALBERT_DEVICE_CPU or an index */
    int list_devices;
    const char *profile_file;    /* --profile-file, or NULL */
    int no_profile;
    int input_format;            /* cli_input_format */
    int pooling;                 /* albert_pooling */
    int normalize;
    int tokenize_only;
    int max_length;
    int format;                  /* cli_output_format */
    const char *output;          /* NULL or "-": stdout */
    int batch_size;
    int threads;                 /* 0: all cores */
    int validate;
    double validate_tol;
    int profile;                 /* --profile: table on stderr */
    const char *profile_json;    /* --profile-json FILE, or NULL */
    int benchmark;
    int seq_len;                 /* --benchmark only; 0: not given */
    int iterations;              /* --benchmark only; 0: not given */
    int warmup;                  /* --benchmark only; -1: not given */
    const char **files;          /* none: stdin */
    int nfiles;
} cli_options;

/* Fills ERR with a printf-style message and ALBERT_E_INPUT unless CODE says
 * otherwise; returns the code so callers can `return cli_fail(...)`. */
int cli_fail(albert_error *err, int code, const char *fmt, ...) CLI_PRINTF(3, 4);

/* Prints "albert-cl: warning: ..." on stderr. */
void cli_warn(const char *fmt, ...) CLI_PRINTF(1, 2);

#endif
