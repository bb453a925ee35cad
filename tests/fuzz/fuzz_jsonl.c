/* Fuzz target: the CLI's input parsing (cli/input.h).  Each line of the
 * input goes to the jsonl record parser on its own, in a buffer of exactly
 * its size (so a read or write past the line is caught, which the CLI's one
 * big file buffer would hide); then the whole input is read as a file the
 * way albert-cl reads it, in each input format, record by record past bad
 * lines (cli_reader_open takes paths: the input is written to the scratch
 * folder). */
#include "cli/input.h"
#include "fuzz_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The members the line parser reads: the defaults, then others with an id
 * (--text-field, --pair-field, --id-field). */
static const cli_json_keys keyings[2] = {{NULL, NULL, NULL}, {"body", "q", "id"}};

/* An id is the JSON of a string or an integer, whatever else failed. */
static void check_id(const char *id)
{
    cJSON *v = id ? cJSON_Parse(id) : NULL;
    FUZZ_EXPECT(!id || (v && (cJSON_IsString(v) ||
                              (cJSON_IsNumber(v) && fabs(v->valuedouble) < 9007199254740992.0 &&
                               v->valuedouble == floor(v->valuedouble)))),
                "the id %s", id);
    cJSON_Delete(v);
}

/* What a parsed record promises (cli_record's comments). */
static void check_record(const cli_record *r, const char *line, size_t len)
{
    FUZZ_EXPECT(!r->text != !r->ids, "a record with %s", r->text ? "text and ids" : "neither");
    if (r->ids) {
        FUZZ_EXPECT(r->n_ids > 0, "%d ids", r->n_ids);
        for (int i = 0; r->mask && i < r->n_ids; i++)
            FUZZ_EXPECT(r->mask[i] == 0 || r->mask[i] == 1, "mask value %d", r->mask[i]);
        return;
    }
    /* Decoded strings are copied back into the line: both lie inside it. */
    FUZZ_EXPECT(r->text >= line && r->text_len <= len && r->text + r->text_len <= line + len &&
                    r->text[r->text_len] == '\0',
                "text outside the line");
    FUZZ_EXPECT(!r->pair || (r->pair >= line && r->pair + r->pair_len <= line + len &&
                             r->pair[r->pair_len] == '\0'),
                "pair outside the line");
}

static void parse_line(const uint8_t *data, size_t len, long number)
{
    char *line = malloc(len + 1);
    if (!line)
        fuzz_die("out of memory for a %zu-byte line", len);
    memcpy(line, data, len);
    line[len] = '\0';
    for (int k = 0; k < 2; k++) {
        memcpy(line, data, len); /* parsed in place */
        cli_record rec;
        memset(&rec, 0, sizeof rec);
        rec.file = "fuzz.jsonl";
        rec.line = number;
        albert_error err;
        int rc = cli_parse_json_record(line, &keyings[k], &rec, &err);
        fuzz_expect_status(rc, &err, "cli_parse_json_record");
        FUZZ_EXPECT(!rec.id || keyings[k].id, "an id nobody asked for");
        check_id(rec.id);
        FUZZ_EXPECT(rc != ALBERT_OK || !keyings[k].id || rec.id, "a record without its id");
        if (rc == ALBERT_OK)
            check_record(&rec, line, len);
        free(rec.ids);
        free(rec.id);
    }
    free(line);
}

/* A csv record: UTF-8 texts ending in a NUL, and the id asked for. */
static void check_csv_record(const cli_record *r)
{
    FUZZ_EXPECT(r->text && r->text[r->text_len] == '\0' &&
                    cli_utf8_invalid_at(r->text, r->text_len) < 0,
                "a csv text that is not UTF-8 or not NUL-terminated");
    FUZZ_EXPECT(!r->pair || (r->pair_len > 0 && r->pair[r->pair_len] == '\0' &&
                             cli_utf8_invalid_at(r->pair, r->pair_len) < 0),
                "a bad csv pair");
    FUZZ_EXPECT(r->id && r->id[0] == '"', "a csv id that is not a JSON string");
    check_id(r->id);
}

static void read_file(const char *path, cli_input_format format)
{
    static const cli_json_keys csv_keys = {NULL, NULL, "id"};
    cli_reader r;
    albert_error err;
    int rc = cli_reader_open(&r, &path, 1, format, format == CLI_IN_CSV ? &csv_keys : NULL, &err);
    fuzz_expect_status(rc, &err, "cli_reader_open");
    int got = rc == ALBERT_OK;
    while (got) {
        cli_record rec;
        rc = cli_reader_next(&r, &rec, &got, &err);
        fuzz_expect_status(rc, &err, "cli_reader_next");
        if (rc == ALBERT_OK && got && format == CLI_IN_JSONL) /* tsv texts end at the tab */
            check_record(&rec, r.line, r.cap);
        else if (rc == ALBERT_OK && got && format == CLI_IN_CSV)
            check_csv_record(&rec);
        else if (rc == ALBERT_OK)
            continue;
        else if (rc != ALBERT_E_INPUT) /* a bad line is passed, anything else ends it */
            got = 0;
    }
    cli_reader_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    for (long number = 1; p < end; number++) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        parse_line(p, len, number);
        p += len + 1;
    }
    static char path[4096];
    if (!path[0])
        fuzz_scratch_path(path, sizeof path, "input.jsonl");
    fuzz_write_file(path, data, size);
    const cli_input_format formats[] = {CLI_IN_JSONL, CLI_IN_TSV, CLI_IN_TEXT, CLI_IN_CSV};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        read_file(path, formats[i]);
    return 0;
}
