/* csv input records (--input-format csv): RFC 4180 rows, parsed by libcsv
 * (Debian's libcsv: quoted fields with commas, doubled quotes and line
 * breaks, CRLF or LF rows, as Python's csv module reads them), a header row
 * first in every file naming the columns the text, its pair and its id come
 * from.  Lines are fed to the parser as the reader reads them; rows it
 * completes wait in a queue (one line may end two rows at a lone CR). */
#include "cli/fifo.h"
#include "cli/input.h"
#include "core/common.h"

#include <cjson/cJSON.h>
#include <csv.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_row {
    long line;          /* where it ends, as Python's csv line_num */
    int file;
    size_t nfields;
    size_t *starts;     /* field i at bytes + starts[i], NUL-terminated */
    size_t *lens;
    char *bytes;
} csv_row;

enum { COL_TEXT, COL_PAIR, COL_ID };

struct cli_csv {
    const char *const *names;   /* the reader's file names */
    cli_json_keys keys;
    struct csv_parser parser;
    int parser_open;
    csv_row building;   /* the row whose fields the parser is handing over */
    size_t bytes_cap, fields_cap;
    cli_fifo rows;      /* complete rows (csv_row *), oldest first */
    csv_row current;    /* the row the last record points into */
    int nomem;
    /* A failure that ends the input, told once the rows before it are taken */
    int failed;
    albert_error failure;
    long line;          /* the line being fed */
    long row_line;      /* where the row being parsed began; 0: between rows */
    int file;
    /* The header of file HEADER_FILE (-1: none yet): how many columns, and
     * where each wanted one is (COL_*; -1: none) */
    int header_file;
    size_t ncols;
    long cols[3];
};

static void row_free(csv_row *r)
{
    free(r->starts);
    free(r->lens);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}

/* A queued row, and its struct with it. */
static void queued_row_free(void *row)
{
    row_free(row);
    free(row);
}

/* ------------------------------------------------------------ parsing */

static int reserve(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(*p, cap2 * size);
    if (!q)
        return -1;
    *p = q;
    *cap = cap2;
    return 0;
}

/* libcsv's field callback: the field joins the row being built. */
static void on_field(void *field, size_t len, void *data)
{
    cli_csv *c = data;
    csv_row *r = &c->building;
    if (c->nomem)
        return;
    size_t used = r->nfields ? r->starts[r->nfields - 1] + r->lens[r->nfields - 1] + 1 : 0;
    /* STARTS and LENS grow together: both from the same capacity */
    size_t fields_cap = c->fields_cap;
    if (reserve((void **)&r->bytes, &c->bytes_cap, used + len + 1, 1) != 0 ||
        reserve((void **)&r->starts, &fields_cap, r->nfields + 1, sizeof *r->starts) != 0 ||
        reserve((void **)&r->lens, &c->fields_cap, r->nfields + 1, sizeof *r->lens) != 0) {
        c->nomem = 1;
        return;
    }
    if (len)
        memcpy(r->bytes + used, field, len);
    r->bytes[used + len] = '\0';
    r->starts[r->nfields] = used;
    r->lens[r->nfields++] = len;
}

/* libcsv's row callback: the row built goes to the queue. */
static void on_row(int term, void *data)
{
    (void)term;
    cli_csv *c = data;
    csv_row *row = c->nomem ? NULL : malloc(sizeof *row);
    if (!row || cli_fifo_push(&c->rows, row) != 0) {
        free(row);
        c->nomem = 1;
        return;
    }
    c->building.line = c->line;
    c->building.file = c->file;
    *row = c->building;
    memset(&c->building, 0, sizeof c->building);
    c->bytes_cap = c->fields_cap = 0;
    c->row_line = 0;
}

/* Python's csv reads fields as they are: no space trimmed. */
static int no_space(unsigned char ch)
{
    (void)ch;
    return 0;
}

static int parser_open(cli_csv *c)
{
    if (csv_init(&c->parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return -1;
    csv_set_space_func(&c->parser, no_space);
    /* libcsv grows a field by this much at a time (128 bytes by default: a
     * long field cost quadratic copying) */
    csv_set_blk_size(&c->parser, 1 << 20);
    c->parser_open = 1;
    return 0;
}

int cli_csv_open(cli_csv **out, const char *const *names, const cli_json_keys *keys)
{
    *out = calloc(1, sizeof **out);
    if (*out) {
        (*out)->names = names;
        (*out)->keys = *keys;
        (*out)->header_file = -1;
    }
    if (*out && parser_open(*out) == 0)
        return ALBERT_OK;
    free(*out);
    *out = NULL;
    return ALBERT_E_NOMEM;
}

void cli_csv_close(cli_csv *c)
{
    if (!c)
        return;
    if (c->parser_open)
        csv_free(&c->parser);
    row_free(&c->building);
    row_free(&c->current);
    cli_fifo_free(&c->rows, queued_row_free);
    free(c);
}

static void parse_failure(cli_csv *c, const char *what, long line)
{
    c->failed = 1;
    if (c->nomem)
        albert_fail(&c->failure, ALBERT_E_NOMEM, "%s:%ld: out of memory for a CSV row",
                    c->names[c->file], line);
    else
        albert_fail(&c->failure, ALBERT_E_FORMAT, "%s:%ld: malformed CSV (%s): %s",
                    c->names[c->file], line, csv_strerror(csv_error(&c->parser)), what);
}

static void feed(cli_csv *c, const char *bytes, size_t len)
{
    if (!c->failed && (csv_parse(&c->parser, bytes, len, on_field, on_row, c) != len || c->nomem))
        parse_failure(c, "a quote inside an unquoted field, or text after a closing quote",
                      c->line);
}

int cli_csv_feed_line(cli_csv *c, int file, long line, const char *bytes, size_t len,
                      int newline)
{
    c->file = file;
    c->line = line;
    if (line == 1 && len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) { /* Excel's UTF-8 BOM */
        bytes += 3;
        len -= 3;
    }
    int blank = len == 0 || (len == 1 && bytes[0] == '\r');
    if (!c->row_line && !blank)
        c->row_line = line;
    feed(c, bytes, len);
    if (newline)
        feed(c, "\n", 1);
    return !c->failed;
}

int cli_csv_end_file(cli_csv *c, int file)
{
    c->file = file;
    if (!c->failed && (csv_fini(&c->parser, on_field, on_row, c) != 0 || c->nomem))
        parse_failure(c, "a quoted field left open from here to the end of the file",
                      c->row_line ? c->row_line : c->line);
    csv_free(&c->parser);
    c->parser_open = 0;
    row_free(&c->building);
    c->bytes_cap = c->fields_cap = 0;
    c->row_line = 0;
    if (!c->failed && parser_open(c) != 0) {
        c->nomem = 1;
        parse_failure(c, "", c->line);
    }
    return !c->failed;
}

/* ------------------------------------------------------------ records */

static const char *field(const csv_row *r, long col)
{
    return r->bytes + r->starts[col];
}

/* KEY's column in the header row R, or -1; -2 when two columns have it. */
static long column(const csv_row *r, const char *key)
{
    long found = -1;
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(field(r, (long)i), key) == 0)
            found = found == -1 ? (long)i : -2;
    return found;
}

/* The header row R: where the wanted columns are.  A bad one ends the input. */
static void take_header(cli_csv *c, const csv_row *r)
{
    static const char *const flags[3] = {"--text-field names the text's", "--pair-field",
                                         "--id-field"};
    const cli_json_keys *keys = &c->keys;
    const char *wanted[3] = {keys->text ? keys->text : "text",
                             keys->pair ? keys->pair : "text_pair", keys->id};
    const char *name = c->names[r->file];
    for (int k = 0; k < 3 && !c->failed; k++) {
        c->cols[k] = wanted[k] ? column(r, wanted[k]) : -1;
        if (c->cols[k] == -2)
            albert_fail(&c->failure, ALBERT_E_FORMAT, "%s:%ld: the CSV header has two columns "
                        "\"%.100s\"", name, r->line, wanted[k]);
        /* Only the default pair column may be absent: no pairs then. */
        else if (c->cols[k] == -1 && wanted[k] && (k != COL_PAIR || keys->pair))
            albert_fail(&c->failure, ALBERT_E_FORMAT, "%s:%ld: the CSV header has no column "
                        "\"%.100s\" (%s)", name, r->line, wanted[k], flags[k]);
        else
            continue;
        c->failed = 1;
    }
    c->ncols = r->nfields;
    c->header_file = r->file;
    if (c->failed) /* rows after a bad header are not taken */
        cli_fifo_free(&c->rows, queued_row_free);
}

/* Column COL of the current row as text: UTF-8 without a NUL. */
static const char *text_problem(const cli_csv *c, long col, char *why, size_t size)
{
    const char *s = field(&c->current, col);
    size_t n = c->current.lens[col];
    long bad = cli_utf8_invalid_at(s, n);
    if (bad >= 0)
        snprintf(why, size, "column %ld: invalid UTF-8 at byte %ld of the field", col + 1,
                 bad + 1);
    else if (memchr(s, '\0', n))
        snprintf(why, size, "column %ld holds a NUL character (not allowed in text)", col + 1);
    else
        return NULL;
    return why;
}

/* The current row as REC; a row that does not fit is its record's error. */
static int take_record(cli_csv *c, cli_record *rec, albert_error *err)
{
    const csv_row *r = &c->current;
    char why[160];
    const char *problem = NULL;
    if (r->nfields != c->ncols) {
        snprintf(why, sizeof why, "%zu fields, and the header has %zu", r->nfields, c->ncols);
        problem = why;
    }
    for (int k = 0; k < 3 && !problem; k++)
        problem = c->cols[k] >= 0 ? text_problem(c, c->cols[k], why, sizeof why) : NULL;
    if (!problem && c->cols[COL_ID] >= 0) {
        cJSON *id = cJSON_CreateString(field(r, c->cols[COL_ID]));
        rec->id = id ? cJSON_PrintUnformatted(id) : NULL;
        cJSON_Delete(id);
        problem = rec->id ? NULL : "out of memory";
    }
    if (problem)
        return albert_fail(err, ALBERT_E_INPUT, "%s:%ld: bad CSV record: %s", rec->file,
                           rec->line, problem);
    const long text = c->cols[COL_TEXT], pair = c->cols[COL_PAIR];
    rec->text = field(r, text);
    rec->text_len = r->lens[text];
    if (pair >= 0 && r->lens[pair] > 0) { /* an empty cell: no pair */
        rec->pair = field(r, pair);
        rec->pair_len = r->lens[pair];
    }
    return ALBERT_OK;
}

int cli_csv_next(cli_csv *c, cli_record *rec, int *got, albert_error *err)
{
    *got = 0;
    for (csv_row *row; (row = cli_fifo_pop(&c->rows)) != NULL;) {
        row_free(&c->current);
        c->current = *row;
        free(row);
        rec->file = c->names[c->current.file];
        rec->file_no = c->current.file;
        rec->line = c->current.line;
        if (c->current.file == c->header_file) {
            *got = 1;
            return take_record(c, rec, err);
        }
        take_header(c, &c->current); /* its file's first row */
    }
    if (c->failed) {
        *err = c->failure;
        return err->code;
    }
    return albert_ok(err);
}

