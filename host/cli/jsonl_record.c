/* jsonl input records, parsed with cJSON: one object per line with
 * "text"/"text_pair" strings or "input_ids"/"attention_mask"/"token_type_ids"
 * integer arrays.  Decoded strings are copied back into the line (a JSON
 * string never decodes to more bytes than it spells), so records can keep
 * pointing into the file buffer they came from. */
#include "cli/input.h"
#include "core/common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct jrecord {
    const char *text, *pair;
    int has_text, has_pair;
    int32_t *arrays[3]; /* input_ids, attention_mask, token_type_ids */
    int lens[3];
} jrecord;

static const char *const array_keys[3] = {"input_ids", "attention_mask", "token_type_ids"};

/* cJSON decodes "\u0000" into a NUL that ends its C string, which would cut
 * the text short without a word.  The escape's backslash becomes this byte
 * instead: no valid UTF-8 line holds it and no escape decodes to it, so a
 * decoded string that holds it had a NUL. */
#define NUL_MARK '\xff'

static void mark_nul_escapes(char *line)
{
    for (char *p = line; *p; p++) {
        if (*p != '\\' || !p[1])
            continue;
        if (strncmp(p + 1, "u0000", 5) == 0)
            *p = NUL_MARK;
        else
            p++; /* the escaped character: in "\\u0000" no escape follows */
    }
}

typedef struct text_field {
    const char *key;
    int nullable; /* null counts as absent */
    const char *nul_problem;
} text_field;

static const text_field text_key = {
    "text", 0, "\"text\" holds a NUL character (\\u0000, not allowed in text)"};
static const text_field pair_key = {
    "text_pair", 1, "\"text_pair\" holds a NUL character (\\u0000, not allowed in text)"};

/* "text" must be a string; "text_pair" a string or null. */
static const char *read_text(const cJSON *obj, const text_field *field, const char **out,
                             int *seen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field->key);
    if (!v || (field->nullable && cJSON_IsNull(v)))
        return NULL;
    if (!cJSON_IsString(v))
        return "\"text\" and \"text_pair\" must be strings";
    if (strchr(v->valuestring, NUL_MARK))
        return field->nul_problem;
    *out = v->valuestring;
    *seen = 1;
    return NULL;
}

static const char *read_int_array(const cJSON *obj, const char *key, int32_t **out, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *item;
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsArray(v))
        return "input_ids, attention_mask and token_type_ids must be arrays";
    *n = cJSON_GetArraySize(v);
    *out = malloc(((size_t)*n + 1) * sizeof **out);
    if (!*out)
        return "out of memory";
    int i = 0;
    cJSON_ArrayForEach(item, v) {
        double d = item->valuedouble;
        if (!cJSON_IsNumber(item) || d != floor(d) || fabs(d) > 2147483647.0)
            return "arrays must hold integers";
        (*out)[i++] = (int32_t)d;
    }
    return NULL;
}

static const char *read_record(const cJSON *obj, jrecord *r)
{
    if (!cJSON_IsObject(obj))
        return "a record must be a JSON object";
    const char *problem = read_text(obj, &text_key, &r->text, &r->has_text);
    if (!problem)
        problem = read_text(obj, &pair_key, &r->pair, &r->has_pair);
    for (int k = 0; k < 3 && !problem; k++)
        problem = read_int_array(obj, array_keys[k], &r->arrays[k], &r->lens[k]);
    return problem;
}

static const char *mask_problem(const int32_t *mask, int n)
{
    int ones = 0;
    for (int i = 0; i < n; i++) {
        if (mask[i] != 0 && mask[i] != 1)
            return "attention_mask values must be 0 or 1";
        ones += mask[i];
    }
    return ones ? NULL : "attention_mask has no 1: nothing to embed";
}

/* The one rule set for what a record may hold (id and type ranges depend on
 * the model and are checked once it is known). */
static const char *record_problem(const jrecord *r)
{
    if (r->has_text == (r->arrays[0] != NULL))
        return "a record needs either \"text\" or \"input_ids\"";
    if (r->has_text && (r->arrays[1] || r->arrays[2]))
        return "attention_mask and token_type_ids go with input_ids, not text";
    if (r->has_pair && !r->has_text)
        return "\"text_pair\" needs \"text\"";
    if (r->arrays[0] && r->lens[0] == 0)
        return "input_ids is empty";
    for (int k = 1; k < 3; k++)
        if (r->arrays[k] && r->lens[k] != r->lens[0])
            return k == 1 ? "attention_mask and input_ids differ in length"
                          : "token_type_ids and input_ids differ in length";
    return r->arrays[1] ? mask_problem(r->arrays[1], r->lens[1]) : NULL;
}

/* Moves the parsed arrays into one block owned by REC. */
static int take_arrays(jrecord *r, cli_record *rec)
{
    int n = r->lens[0];
    int32_t *block = malloc(3 * (size_t)n * sizeof *block);
    if (!block)
        return -1;
    rec->ids = block;
    rec->n_ids = n;
    memcpy(block, r->arrays[0], (size_t)n * sizeof *block);
    if (r->arrays[1]) {
        rec->mask = block + n;
        memcpy(rec->mask, r->arrays[1], (size_t)n * sizeof *block);
    }
    if (r->arrays[2]) {
        rec->types = block + 2 * n;
        memcpy(rec->types, r->arrays[2], (size_t)n * sizeof *block);
    }
    return 0;
}

/* Copies the decoded strings over LINE, which the record then points into. */
static void keep_texts(const jrecord *r, char *line, cli_record *rec)
{
    rec->text_len = strlen(r->text);
    memmove(line, r->text, rec->text_len + 1);
    rec->text = line;
    if (r->has_pair) {
        char *pair = line + rec->text_len + 1;
        rec->pair_len = strlen(r->pair);
        memmove(pair, r->pair, rec->pair_len + 1);
        rec->pair = pair;
    }
}

int cli_parse_json_record(char *line, cli_record *rec, albert_error *err)
{
    jrecord r;
    memset(&r, 0, sizeof r);
    mark_nul_escapes(line);
    albert_json_failure why;
    cJSON *root = albert_json_parse(line, strlen(line), 1, &why);
    const char *problem = !root ? (why.nomem ? "out of memory" : "not valid JSON")
                                : read_record(root, &r);
    if (!problem)
        problem = record_problem(&r);
    if (!problem && r.arrays[0] && take_arrays(&r, rec) != 0)
        problem = "out of memory";
    if (!problem && r.has_text)
        keep_texts(&r, line, rec);
    cJSON_Delete(root);
    for (int k = 0; k < 3; k++)
        free(r.arrays[k]);
    if (problem)
        return albert_fail(err, ALBERT_E_INPUT, "%s:%ld: bad JSON record: %s", rec->file, rec->line,
                        problem);
    return ALBERT_OK;
}
