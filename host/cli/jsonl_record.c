/* jsonl input records, parsed with cJSON: one object per line with
 * "text"/"text_pair" strings (or the members --text-field and --pair-field
 * name) or "input_ids"/"attention_mask"/"token_type_ids" integer arrays.
 * Decoded strings are copied back into the line (a JSON string never
 * decodes to more bytes than it spells), so records can keep pointing into
 * the file buffer they came from. */
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
    const char *text_key, *pair_key, *id_key;
    char *id;           /* the id member's value as JSON */
    char why[256];      /* a problem that names a member */
} jrecord;

const char *const cli_json_array_keys[4] = {"input_ids", "attention_mask", "token_type_ids",
                                            NULL};

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

/* R's problem about member KEY, in R->why. */
static const char *member_problem(jrecord *r, const char *key, const char *problem)
{
    snprintf(r->why, sizeof r->why, "\"%.100s\" %s", key, problem);
    return r->why;
}

/* The text must be a string; the pair a string, or null (absent). */
static const char *read_text(const cJSON *obj, jrecord *r, int pair)
{
    const char *key = pair ? r->pair_key : r->text_key;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || (pair && cJSON_IsNull(v)))
        return NULL;
    if (!cJSON_IsString(v))
        return member_problem(r, key, pair ? "must be a string or null" : "must be a string");
    if (strchr(v->valuestring, NUL_MARK))
        return member_problem(r, key, "holds a NUL character (\\u0000, not allowed in text)");
    *(pair ? &r->pair : &r->text) = v->valuestring;
    *(pair ? &r->has_pair : &r->has_text) = 1;
    return NULL;
}

/* Integers from this magnitude on may have lost digits as doubles. */
#define INEXACT_ID 9007199254740992.0 /* 2^53 */

/* The id member: a string or an integer, kept as JSON for the output. */
static const char *read_id(const cJSON *obj, jrecord *r)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, r->id_key);
    if (!v || cJSON_IsNull(v))
        return member_problem(r, r->id_key, "is missing (--id-field)");
    if (cJSON_IsString(v) && strchr(v->valuestring, NUL_MARK))
        return member_problem(r, r->id_key, "holds a NUL character (\\u0000)");
    double d = v->valuedouble;
    if (cJSON_IsNumber(v) && (d != floor(d) || fabs(d) >= INEXACT_ID))
        return member_problem(r, r->id_key, "must be an integer below 2^53 in magnitude (a "
                                            "larger one as a string)");
    if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
        return member_problem(r, r->id_key, "must be a string or an integer");
    if (cJSON_IsString(v)) {
        r->id = cJSON_PrintUnformatted(v);
    } else { /* every digit: cJSON prints 15 significant ones */
        r->id = malloc(24);
        if (r->id)
            snprintf(r->id, 24, "%.0f", d);
    }
    return r->id ? NULL : "out of memory";
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
    /* The id first: a record that is bad otherwise keeps it in its error. */
    const char *problem = r->id_key ? read_id(obj, r) : NULL;
    if (!problem)
        problem = read_text(obj, r, 0);
    if (!problem)
        problem = read_text(obj, r, 1);
    for (int k = 0; k < 3 && !problem; k++)
        problem = read_int_array(obj, cli_json_array_keys[k], &r->arrays[k], &r->lens[k]);
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
static const char *record_problem(jrecord *r)
{
    if (r->has_text == (r->arrays[0] != NULL)) {
        snprintf(r->why, sizeof r->why, "a record needs either \"%.100s\" or \"input_ids\"",
                 r->text_key);
        return r->why;
    }
    if (r->has_text && (r->arrays[1] || r->arrays[2]))
        return "attention_mask and token_type_ids go with input_ids, not text";
    if (r->has_pair && !r->has_text)
        return member_problem(r, r->pair_key, "needs a text");
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

int cli_parse_json_record(char *line, const cli_json_keys *keys, cli_record *rec,
                          albert_error *err)
{
    jrecord r;
    memset(&r, 0, sizeof r);
    r.text_key = keys && keys->text ? keys->text : "text";
    r.pair_key = keys && keys->pair ? keys->pair : "text_pair";
    r.id_key = keys ? keys->id : NULL;
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
    rec->id = r.id; /* the reader's to free, whatever else went wrong */
    for (int k = 0; k < 3; k++)
        free(r.arrays[k]);
    if (problem)
        return albert_fail(err, ALBERT_E_INPUT, "%s:%ld: bad JSON record: %s", rec->file, rec->line,
                        problem);
    return ALBERT_OK;
}
