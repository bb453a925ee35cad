/* Reading input files into records, a line at a time.  Every file is
 * opened before the first line is read, so a missing one fails before any
 * work is done. */
#include "cli/input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence starting at S (at most N bytes), or 0 when it
 * is invalid: overlong forms, surrogates and code points past U+10FFFF
 * included, as Python's strict decoder rejects them. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || s[0] > 0xF4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0;
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return len;
}

long cli_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_sequence(u + i, n - i);
        if (len == 0)
            return (long)i;
        i += len;
    }
    return -1;
}

/* A tsv line is two sentences split by its one tab. */
static int parse_tsv_line(char *line, size_t len, cli_record *rec, albert_error *err)
{
    char *tab = memchr(line, '\t', len);
    if (!tab || memchr(tab + 1, '\t', len - (size_t)(tab + 1 - line)))
        return albert_fail(err, ALBERT_E_INPUT,
                        "%s:%ld: a tsv line needs exactly one tab between the two sentences",
                        rec->file, rec->line);
    rec->text = line;
    rec->text_len = (size_t)(tab - line);
    rec->pair = tab + 1;
    rec->pair_len = len - rec->text_len - 1;
    return ALBERT_OK;
}

static int parse_line(const cli_reader *r, char *line, size_t len, cli_record *rec,
                      albert_error *err)
{
    long bad = cli_utf8_invalid_at(line, len);
    if (bad >= 0)
        return albert_fail(err, ALBERT_E_INPUT, "%s:%ld: invalid UTF-8 at byte %ld of the line",
                        rec->file, rec->line, bad + 1);
    /* Text cannot hold a NUL (the tokenizer's C strings end there) and JSON
     * must not: told here, the same for every format, before any model loads. */
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return albert_fail(err, ALBERT_E_INPUT,
                           "%s:%ld: a NUL character at byte %ld of the line (not allowed in text)",
                           rec->file, rec->line, (long)(nul - line) + 1);
    switch (r->format) {
    case CLI_IN_TSV:
        return parse_tsv_line(line, len, rec, err);
    case CLI_IN_JSONL:
        return cli_parse_json_record(line, &r->keys, rec, err);
    default:
        rec->text = line;
        rec->text_len = len;
        return ALBERT_OK;
    }
}

static int open_one(cli_reader *r, const char *path, albert_error *err)
{
    int i = r->nfiles;
    uint64_t size = 0;
    int rc = cli_input_stream_open(path, &r->files[i], err);
    if (rc != ALBERT_OK)
        return rc;
    r->names[i] = strcmp(path, "-") == 0 ? "<stdin>" : path;
    r->nfiles++;
    if (!cli_input_stream_size(r->files[i], &size))
        r->bytes_total = 0;
    else if (i == 0 || r->bytes_total)
        r->bytes_total += size;
    return ALBERT_OK;
}

int cli_reader_open(cli_reader *r, const char *const *paths, int n, cli_input_format format,
                    const cli_json_keys *keys, albert_error *err)
{
    static const char *const only_stdin[] = {"-"};
    memset(r, 0, sizeof *r);
    r->format = format;
    if (keys)
        r->keys = *keys;
    if (n == 0) {
        paths = only_stdin;
        n = 1;
    }
    r->files = calloc((size_t)n, sizeof *r->files);
    r->names = calloc((size_t)n, sizeof *r->names);
    if (!r->files || !r->names)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for input files");
    for (int i = 0; i < n; i++) {
        int rc = open_one(r, paths[i], err);
        if (rc != ALBERT_OK)
            return rc;
    }
    if (format == CLI_IN_CSV && cli_csv_open(&r->csv, r->names, &r->keys) != ALBERT_OK)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for the CSV parser");
    return ALBERT_OK;
}

/* How far the current file is read: a gzip file by its compressed bytes
 * taken in, a plain one by the lines' bytes. */
static uint64_t file_progress(const cli_reader *r)
{
    const cli_input_stream *s = r->files[r->current];
    return cli_input_stream_compressed(s) ? cli_input_stream_used(s) : r->file_bytes;
}

/* Ends the current file: its reader's buffers go at once, as a run may
 * read many files. */
static void next_file(cli_reader *r)
{
    r->bytes_done += file_progress(r);
    cli_input_stream_close(r->files[r->current]);
    r->files[r->current++] = NULL;
    r->line_no = 0;
    r->file_bytes = 0;
}

/* The next line of the current file in r->line (its '\n' removed); -1 at
 * the end of all files, or with a read error in *ERR.  A line that a read
 * error cut short is not returned (a truncated gzip file ends so). */
static ssize_t next_line(cli_reader *r, albert_error *err)
{
    while (r->current < r->nfiles) {
        const cli_input_stream *s = r->files[r->current];
        FILE *f = cli_input_stream_file(s);
        errno = 0;
        ssize_t len = getline(&r->line, &r->cap, f);
        r->newline = len > 0 && r->line[len - 1] == '\n';
        if (len >= 0 && (r->newline || !ferror(f))) {
            r->line_no++;
            r->file_bytes += (uint64_t)len;
            r->bytes_read = r->bytes_done + file_progress(r);
            if (r->newline)
                r->line[--len] = '\0';
            return len;
        }
        if (ferror(f) || errno == ENOMEM) { /* ENOMEM alone: getline's own allocation */
            albert_fail(err, errno == ENOMEM ? ALBERT_E_NOMEM : ALBERT_E_IO, "%s: cannot read: %s",
                        r->names[r->current],
                        ferror(f) ? cli_input_stream_error(s) : strerror(ENOMEM));
            return -1;
        }
        next_file(r);
    }
    albert_ok(err);
    return -1;
}

/* The next line's record. */
static int next_line_record(cli_reader *r, cli_record *rec, int *got, albert_error *err)
{
    ssize_t len = next_line(r, err);
    if (len < 0)
        return err->code;
    *got = 1;
    rec->file = r->names[r->current];
    rec->file_no = r->current;
    rec->line = r->line_no;
    return parse_line(r, r->line, (size_t)len, rec, err);
}

/* The next csv record: lines go to the parser until a row is complete
 * (or it fails: the rows before are taken first, then the failure). */
static int next_csv_record(cli_reader *r, cli_record *rec, int *got, albert_error *err)
{
    for (int going = 1;;) {
        int rc = cli_csv_next(r->csv, rec, got, err);
        if (rc != ALBERT_OK || *got || !going || r->current >= r->nfiles)
            return rc;
        int file = r->current;
        ssize_t len = next_line(r, err);
        if (len < 0 && err->code != ALBERT_OK)
            return err->code;
        if (r->current != file || len < 0) /* FILE is over: its last row, if unended */
            going = cli_csv_end_file(r->csv, file);
        if (going && len >= 0)
            going = cli_csv_feed_line(r->csv, r->current, r->line_no, r->line, (size_t)len,
                                      r->newline);
    }
}

int cli_reader_next(cli_reader *r, cli_record *rec, int *got, albert_error *err)
{
    free(r->ids);
    free(r->id);
    r->ids = NULL;
    r->id = NULL;
    memset(rec, 0, sizeof *rec);
    *got = 0;
    int rc = r->format == CLI_IN_CSV ? next_csv_record(r, rec, got, err)
                                     : next_line_record(r, rec, got, err);
    r->ids = rec->ids;
    r->id = rec->id;
    return rc;
}

void cli_reader_close(cli_reader *r)
{
    for (int i = 0; i < r->nfiles; i++)
        cli_input_stream_close(r->files[i]);
    free(r->files);
    free(r->names);
    free(r->line);
    free(r->ids);
    free(r->id);
    cli_csv_close(r->csv);
    memset(r, 0, sizeof *r);
}
