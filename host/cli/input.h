/* Input files: read whole, split into lines, checked for UTF-8 and parsed
 * per --input-format into records that keep their file name and line. */
#ifndef ALBERT_CLI_INPUT_H
#define ALBERT_CLI_INPUT_H

#include "cli/cli.h"

#include <stdint.h>

typedef struct cli_record {
    const char *file;   /* as given, "<stdin>" for stdin */
    long line;          /* 1-based */
    const char *text;   /* NULL for a pre-tokenized jsonl record */
    size_t text_len;
    const char *pair;   /* NULL when there is no second sentence */
    size_t pair_len;
    int32_t *ids;       /* pre-tokenized: n_ids ids (owned), else NULL */
    int32_t *types;     /* inside the ids block, or NULL for all 0 */
    int32_t *mask;      /* inside the ids block, or NULL for all 1 */
    int n_ids;
} cli_record;

typedef struct cli_input {
    cli_record *records;
    size_t count, cap;
    char **buffers;     /* file contents the records point into */
    size_t nbuffers;
} cli_input;

/* Reads PATH ("-" is stdin) and appends its records.  Fails with a message
 * naming the file (and line) on unreadable files, invalid UTF-8 and, per
 * FORMAT, a line without exactly one tab or a bad JSON record. */
int cli_input_read(cli_input *in, const char *path, cli_input_format format, albert_error *err);

/* 1 when some record needs the tokenizer. */
int cli_input_needs_tokenizer(const cli_input *in);

void cli_input_free(cli_input *in);

/* Parses one jsonl record (LINE is NUL-terminated and decoded in place). */
int cli_parse_json_record(char *line, cli_record *rec, albert_error *err);

#endif
