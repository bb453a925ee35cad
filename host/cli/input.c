/* Reading input files into records.  Whole files are read up front: output is
 * only committed once every line has gone through, and reading first lets a
 * missing file or a bad line fail before the model is loaded. */
#include "cli/input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_path(const char *path, char **data, size_t *size, albert_error *err)
{
    if (strcmp(path, "-") == 0)
        return albert_read_stream(stdin, "<stdin>", data, size, err);
    return albert_read_file(path, data, size, err);
}

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

/* Byte offset of the first invalid UTF-8 sequence in S, or -1. */
static long utf8_invalid_at(const char *s, size_t n)
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

static cli_record *append_record(cli_input *in, albert_error *err)
{
    if (in->count == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 256;
        cli_record *bigger = realloc(in->records, cap * sizeof *bigger);
        if (!bigger) {
            albert_fail(err, ALBERT_E_NOMEM, "out of memory for input records");
            return NULL;
        }
        in->records = bigger;
        in->cap = cap;
    }
    cli_record *rec = &in->records[in->count++];
    memset(rec, 0, sizeof *rec);
    return rec;
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

static int parse_line(char *line, size_t len, cli_input_format format, cli_record *rec,
                      albert_error *err)
{
    long bad = utf8_invalid_at(line, len);
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
    switch (format) {
    case CLI_IN_TSV:
        return parse_tsv_line(line, len, rec, err);
    case CLI_IN_JSONL:
        return cli_parse_json_record(line, rec, err);
    default:
        rec->text = line;
        rec->text_len = len;
        return ALBERT_OK;
    }
}

/* Splits BUF at '\n' (NUL-terminating each line in place): a last line
 * without '\n' counts, a trailing '\n' makes no extra line. */
static int split_lines(cli_input *in, const char *name, char *buf, size_t size,
                       cli_input_format format, albert_error *err)
{
    char *p = buf, *end = buf + size;
    for (long line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p[len] = '\0';
        cli_record *rec = append_record(in, err);
        if (!rec)
            return err->code;
        rec->file = name;
        rec->line = line;
        int rc = parse_line(p, len, format, rec, err);
        if (rc != ALBERT_OK)
            return rc;
        p += len + 1;
    }
    return ALBERT_OK;
}

int cli_input_read(cli_input *in, const char *path, cli_input_format format, albert_error *err)
{
    char **bigger = realloc(in->buffers, (in->nbuffers + 1) * sizeof *bigger);
    if (!bigger)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for input files");
    in->buffers = bigger;
    char *buf;
    size_t size;
    int rc = read_path(path, &buf, &size, err);
    if (rc != ALBERT_OK)
        return rc;
    in->buffers[in->nbuffers++] = buf;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    return split_lines(in, name, buf, size, format, err);
}

int cli_input_needs_tokenizer(const cli_input *in)
{
    for (size_t i = 0; i < in->count; i++)
        if (in->records[i].text)
            return 1;
    return 0;
}

void cli_input_free(cli_input *in)
{
    for (size_t i = 0; i < in->count; i++)
        free(in->records[i].ids);
    for (size_t i = 0; i < in->nbuffers; i++)
        free(in->buffers[i]);
    free(in->records);
    free(in->buffers);
    memset(in, 0, sizeof *in);
}
