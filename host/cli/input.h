/* Input files: read line by line, checked for UTF-8 and parsed
 * per --input-format into records that keep their file name and line. */
#ifndef ALBERT_CLI_INPUT_H
#define ALBERT_CLI_INPUT_H

#include "cli/cli.h"
#include "cli/input_stream.h"

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
    char *id;           /* --id-field's value as JSON (owned), or NULL */
    int file_no;        /* FILE's place among the reader's files */
} cli_record;

/* csv input's parser and its rows (cli/csv_record.c). */
typedef struct cli_csv cli_csv;

/* Input files read line by line, in order, as one stream of records:
 * memory stays flat on input of any length. */
typedef struct cli_reader {
    cli_input_stream **files; /* all opened up front (a missing one fails at once),
                                 each closed (NULL) once read */
    const char **names;     /* "<stdin>" for stdin */
    int nfiles, current;
    cli_input_format format;
    cli_json_keys keys;     /* jsonl's */
    char *line;             /* getline's buffer */
    size_t cap;
    long line_no;
    int newline;            /* the last line ended in '\n' (which LINE has lost) */
    cli_csv *csv;           /* --input-format csv */
    int32_t *ids;           /* the last record's ids (jsonl input_ids), owned */
    char *id;               /* the last record's --id-field value, owned */
    uint64_t bytes_read;    /* of the files, as stored (gzip: compressed) */
    uint64_t bytes_done;    /* of the files read to their end */
    uint64_t file_bytes;    /* the current file's lines' */
    uint64_t bytes_total;   /* the regular files' sizes; 0 when some size is unknown */
} cli_reader;

/* Opens PATHS (N of them; none, or "-": stdin); KEYS NULL: the default ones. */
int cli_reader_open(cli_reader *r, const char *const *paths, int n, cli_input_format format,
                    const cli_json_keys *keys, albert_error *err);
/* The next record in REC (valid until the next call); *GOT 0 at the end.
 * A line that does not parse (invalid UTF-8, a NUL, per the format a line
 * without exactly one tab or a bad JSON record) is ALBERT_E_INPUT with the
 * message "FILE:LINE: ..." and REC's file and line set: the caller may go
 * on past it.  A read error is ALBERT_E_IO naming the file. */
int cli_reader_next(cli_reader *r, cli_record *rec, int *got, albert_error *err);
void cli_reader_close(cli_reader *r);

/* The members of a pre-tokenized jsonl record, NULL-terminated. */
extern const char *const cli_json_array_keys[4];

/* Parses one jsonl record (LINE is NUL-terminated and decoded in place),
 * its texts from KEYS' members (NULL: the default ones). */
int cli_parse_json_record(char *line, const cli_json_keys *keys, cli_record *rec,
                          albert_error *err);

/* csv input (csv_record.c): open (NAMES: the files', KEYS: the columns
 * wanted), feed each line of file FILE (LINE its number, NEWLINE whether a
 * '\n' ended it), end each file (its last row may lack a line break), take
 * the records (the first row of each file is its header; *GOT 0 when none
 * is complete yet), close.  A row with the wrong number of fields or a bad
 * text is its record's ALBERT_E_INPUT; malformed quoting or a header
 * without the columns KEYS name is ALBERT_E_FORMAT, which ends the input.
 * Feeding and ending return 0 once that happened: the next record then is
 * that failure, after the rows complete before it. */
int cli_csv_open(cli_csv **out, const char *const *names, const cli_json_keys *keys);
int cli_csv_feed_line(cli_csv *c, int file, long line, const char *bytes, size_t len,
                      int newline);
int cli_csv_end_file(cli_csv *c, int file);
int cli_csv_next(cli_csv *c, cli_record *rec, int *got, albert_error *err);
void cli_csv_close(cli_csv *c);

/* Byte offset of the first invalid UTF-8 sequence in S (N bytes), or -1:
 * overlong forms, surrogates and code points past U+10FFFF included, as
 * Python's strict decoder rejects them. */
long cli_utf8_invalid_at(const char *s, size_t n);

#endif
