/* The array formats, npy and safetensors: records as rows of little-endian
 * float32, written through an all-or-nothing sink (cli/output.h) after a
 * header that takes the same room whatever the counts, and that is written
 * again with them at the end.
 *
 * npy: [records, elements] of the --output-dtype (float32 unless asked),
 * one pooled vector per record.
 * safetensors: "embeddings" [rows, elements] of it: one pooled vector per
 * record, or with TOKENS every record's token vectors in turn (those whose
 * attention mask is 1, as jsonl lists them), then "lengths" I32 [records]:
 * how many rows each record has.  The lengths wait in an anonymous
 * temporary file until the end, so memory stays flat. */
#ifndef ALBERT_CLI_ARRAYS_H
#define ALBERT_CLI_ARRAYS_H

#include "cli/dtype.h"
#include "cli/output.h"

#include <stdint.h>
#include <stdio.h>

typedef struct cli_arrays {
    cli_sink *sink;
    int format;        /* CLI_OUT_NPY or CLI_OUT_SAFETENSORS */
    cli_dtype dtype;   /* what each value becomes */
    int elements;      /* per row: cli_dtype_elements of the vectors' width */
    int tokens;        /* safetensors: a row per token, and the lengths */
    uint64_t rows, records;
    FILE *lengths;     /* safetensors with TOKENS, until the end */
} cli_arrays;

/* Writes SINK's header (counts of 0) for rows of WIDTH values as DTYPE and,
 * for safetensors with TOKENS, opens the lengths' temporary file. */
int cli_arrays_begin(cli_arrays *a, cli_sink *sink, int format, cli_dtype dtype, int width,
                     int tokens, albert_error *err);
/* One record: ROWS rows at BYTES, already converted (cli_dtype_convert; one
 * row, but for tokens). */
void cli_arrays_put(cli_arrays *a, const uint8_t *bytes, int rows);
/* Appends what waited and writes the header again with the counts; the
 * sink is then ready to commit. */
int cli_arrays_end(cli_arrays *a, albert_error *err);
/* Closes the temporary file; safe twice and after a failed begin. */
void cli_arrays_close(cli_arrays *a);

#endif
