/* Output that is all or nothing: records go to a temporary file, which
 * becomes the output (rename, or a copy to stdout or a non-regular file) only
 * when the whole run succeeded. */
#ifndef ALBERT_CLI_OUTPUT_H
#define ALBERT_CLI_OUTPUT_H

#include "cli/cli.h"

#include <stdint.h>
#include <stdio.h>

typedef struct cli_sink {
    FILE *f;            /* where records are written */
    const char *path;   /* final path; NULL for stdout */
    char *tmp_path;     /* temporary file to rename over PATH, or NULL */
} cli_sink;

/* PATH NULL or "-" is stdout. */
int cli_sink_open(cli_sink *s, const char *path, albert_error *err);
/* Makes the written records the output; closes the sink. */
int cli_sink_commit(cli_sink *s, albert_error *err);
/* Drops what was written; closes the sink.  Safe after commit. */
void cli_sink_abort(cli_sink *s);

/* NPY v1.0 header for little-endian float32 [ROWS, COLS] in C order. */
void cli_write_npy_header(FILE *f, size_t rows, int cols);
void cli_write_npy_row(FILE *f, const float *v, int n);

/* {"index": I, "input_ids": [...]} plus, when EMB is not NULL, "embedding":
 * one vector of H floats (NESTED 0) or ROWS vectors of H (NESTED 1). */
void cli_write_jsonl_record(FILE *f, size_t index, const int32_t *ids, int n_ids,
                            const float *emb, int rows, int h, int nested);

#endif
