/* The special-token layout and truncation (template.h). */
#include "tokenizer/template.h"
#include "core/common.h"
#include "tokenizer/json_fields.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int32_t CLS[] = {ALBERT_CLS_ID}, SEP[] = {ALBERT_SEP_ID};
static const tmpl_piece albert_single[] = {{CLS, 1, 0, 0}, {NULL, 0, 0, 0}, {SEP, 1, 0, 0}};
static const tmpl_piece albert_pair[] = {
    {CLS, 1, 0, 0}, {NULL, 0, 0, 0}, {SEP, 1, 0, 0}, {NULL, 0, 1, 1}, {SEP, 1, 0, 1}};

const tok_template TMPL_ALBERT = {albert_single, albert_pair, 3, 5, NULL,
                                  TMPL_TRUNCATE_ONE_AT_A_TIME};

/* ------------------------------------------------------------ truncation */

/* Python's "longest_first" drops one token at a time from the longer part
 * (from B on ties); in closed form, as texts can be millions of tokens: the
 * longer part first comes down to the shorter one's length, then B and A
 * lose one each in turn, B first. */
static void truncate_one_at_a_time(size_t *a, size_t *b, size_t budget)
{
    size_t excess = *a + *b - budget;
    size_t *longer = *a > *b ? a : b, *shorter = *a > *b ? b : a;
    size_t even = *longer - *shorter < excess ? *longer - *shorter : excess;
    *longer -= even;
    excess -= even;
    *b -= (excess + 1) / 2;
    *a -= excess / 2;
}

/* HF tokenizers' LongestFirst: the shorter part keeps all of itself if the
 * longer can still have as many, else both get half the budget, the longer
 * the odd one. */
static void truncate_split(size_t *a, size_t *b, size_t budget)
{
    bool swap = *a > *b;
    size_t n1 = swap ? *b : *a, n2;
    n2 = n1 > budget ? n1 : (n1 > budget - n1 ? n1 : budget - n1);
    if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
    }
    size_t keep_a = swap ? n2 : n1, keep_b = swap ? n1 : n2;
    *a = *a < keep_a ? *a : keep_a;
    *b = *b < keep_b ? *b : keep_b;
}

static void truncate_parts(const tok_template *t, size_t *a, size_t *b, bool pair, size_t budget)
{
    if (*a + *b <= budget)
        return;
    if (!pair)
        *a = budget;
    else if (t->truncation == TMPL_TRUNCATE_SPLIT)
        truncate_split(a, b, budget);
    else
        truncate_one_at_a_time(a, b, budget);
}

/* ------------------------------------------------------------ layout */

size_t template_specials(const tok_template *t, bool pair)
{
    const tmpl_piece *p = pair ? t->pair : t->single;
    size_t n = pair ? t->n_pair : t->n_single, count = 0;
    for (size_t i = 0; i < n; i++)
        count += p[i].n_ids;
    return count;
}

static void put(const int32_t *v, size_t count, int32_t type, int32_t *ids, int32_t *type_ids,
                size_t *at)
{
    for (size_t i = 0; i < count; i++, (*at)++) {
        ids[*at] = v[i];
        if (type_ids)
            type_ids[*at] = type;
    }
}

/* COUNT ids of PART: its first ones, or with keep_last its last ones. */
static void put_part(const id_sink *part, size_t count, int32_t type, int32_t *ids,
                     int32_t *type_ids, size_t *at)
{
    const size_t from = part->keep_last ? part->n - count : 0;
    for (size_t i = 0; i < count; i++, (*at)++) {
        ids[*at] = id_sink_at(part, from + i);
        if (type_ids)
            type_ids[*at] = type;
    }
}

void template_assemble(const tok_template *t, const id_sink *a, const id_sink *b, bool pair,
                       size_t max_length, int32_t *ids, int32_t *type_ids, int *n, int *n_full)
{
    size_t specials = template_specials(t, pair);
    size_t keep[2] = {a->total, pair ? b->total : 0};
    truncate_parts(t, &keep[0], &keep[1], pair, max_length - specials);
    const id_sink *parts[2] = {a, b};
    const tmpl_piece *p = pair ? t->pair : t->single;
    size_t count = pair ? t->n_pair : t->n_single, at = 0;
    for (size_t i = 0; i < count; i++) {
        if (p[i].ids)
            put(p[i].ids, p[i].n_ids, p[i].type_id, ids, type_ids, &at);
        else
            put_part(parts[p[i].seq], keep[p[i].seq], p[i].type_id, ids, type_ids, &at);
    }
    *n = (int)at;
    if (n_full) {
        size_t full = a->total + (pair ? b->total : 0) + specials;
        *n_full = full > (size_t)INT32_MAX ? INT32_MAX : (int)full;
    }
}

/* ------------------------------------------------------------ TemplateProcessing */

/* Copies the ids of every entry of post_processor.special_tokens into
 * T->id_store, in order. */
static int store_special_ids(const cJSON *specials, const json_at *at, tok_template *t,
                             albert_error *err)
{
    size_t room = 0, used = 0;
    for (const cJSON *e = specials->child; e; e = e->next)
        room += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "ids"));
    t->id_store = malloc((room ? room : 1) * sizeof *t->id_store);
    if (!t->id_store)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for %s", at->file, at->path);
    for (const cJSON *e = specials->child; e; e = e->next) {
        char list[128], path[256];
        json_path(list, sizeof list, at->path, "special_tokens", 0);
        json_path(path, sizeof path, list, e->string, 0);
        json_at in = {at->file, path};
        const cJSON *ids;
        int rc = json_array(e, "ids", &in, &ids, err);
        if (rc != ALBERT_OK)
            return rc;
        for (const cJSON *id = ids->child; id; id = id->next) {
            if (!cJSON_IsNumber(id) || !(id->valuedouble >= 0 && id->valuedouble <= INT32_MAX))
                return json_type_error(&in, "ids", "an array of token ids", err);
            t->id_store[used++] = (int32_t)id->valuedouble;
        }
    }
    return ALBERT_OK;
}

/* Points PIECE at the ids of special token NAME in T->id_store. */
static int special_ids(const cJSON *specials, const char *name, const json_at *at,
                       const tok_template *t, tmpl_piece *piece, albert_error *err)
{
    size_t offset = 0;
    for (const cJSON *e = specials->child; e; e = e->next) {
        size_t n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "ids"));
        if (strcmp(e->string, name) == 0) {
            piece->ids = t->id_store + offset;
            piece->n_ids = n;
            return ALBERT_OK;
        }
        offset += n;
    }
    char what[160];
    snprintf(what, sizeof what, "a name in special_tokens, not \"%.64s\"", name);
    return json_type_error(at, "SpecialToken.id", what, err);
}

/* One entry of a layout: {"SpecialToken": {"id", "type_id"}} or
 * {"Sequence": {"id": "A"|"B", "type_id"}}. */
static int parse_piece(const cJSON *item, const cJSON *specials, const json_at *at,
                       const tok_template *t, tmpl_piece *piece, albert_error *err)
{
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
    bool special = body != NULL;
    if (!special)
        body = cJSON_GetObjectItemCaseSensitive(item, "Sequence");
    if (!cJSON_IsObject(body))
        return json_type_error(at, NULL, "{\"SpecialToken\": ...} or {\"Sequence\": ...}", err);
    const char *id;
    long type_id;
    json_at in = *at;
    char path[256];
    json_path(path, sizeof path, at->path, special ? "SpecialToken" : "Sequence", 0);
    in.path = path;
    int rc = json_string(body, "id", &in, &id, err);
    if (rc == ALBERT_OK)
        rc = json_int(body, "type_id", &in, 0, INT32_MAX, &type_id, err);
    if (rc != ALBERT_OK)
        return rc;
    piece->type_id = (int32_t)type_id;
    if (special)
        return special_ids(specials, id, at, t, piece, err);
    if (strcmp(id, "A") != 0 && strcmp(id, "B") != 0)
        return json_type_error(&in, "id", "\"A\" or \"B\"", err);
    piece->ids = NULL;
    piece->seq = id[0] - 'A';
    return ALBERT_OK;
}

/* The layout named KEY ("single" or "pair"): every entry parsed, with A
 * exactly once, and B exactly once in a pair and never in a single. */
static int parse_layout(const cJSON *post, const char *key, const cJSON *specials,
                        const json_at *at, tok_template *t, albert_error *err)
{
    const cJSON *list;
    int rc = json_array(post, key, at, &list, err);
    if (rc != ALBERT_OK)
        return rc;
    bool pair = key[0] == 'p';
    size_t n = (size_t)cJSON_GetArraySize(list), seen[2] = {0, 0};
    tmpl_piece *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for %s", at->file, key);
    if (pair)
        t->pair = p;
    else
        t->single = p;
    *(pair ? &t->n_pair : &t->n_single) = n;
    char base[64];
    json_path(base, sizeof base, at->path, key, 0);
    int i = 0;
    for (const cJSON *item = list->child; rc == ALBERT_OK && item; item = item->next, i++) {
        char path[96];
        json_path(path, sizeof path, base, NULL, i);
        json_at in = {at->file, path};
        rc = parse_piece(item, specials, &in, t, &p[i], err);
        if (rc == ALBERT_OK && !p[i].ids)
            seen[p[i].seq]++;
    }
    if (rc == ALBERT_OK && (seen[0] != 1 || seen[1] != (pair ? 1u : 0u)))
        return json_unsupported(at, key, pair ? "pair layout" : "single layout",
                                pair ? "it must hold A and B once each" : "it must hold A once",
                                err);
    return rc;
}

int template_parse(const cJSON *post, const char *file, const char *jpath, tok_template *t,
                   albert_error *err)
{
    static const tmpl_piece plain_single[] = {{NULL, 0, 0, 0}},
                            plain_pair[] = {{NULL, 0, 0, 0}, {NULL, 0, 1, 1}};
    memset(t, 0, sizeof *t);
    t->truncation = TMPL_TRUNCATE_SPLIT;
    json_at at = {file, jpath};
    const char *type;
    const cJSON *specials;
    if (!post || cJSON_IsNull(post)) {
        /* No post-processor: no special tokens, B typed 1 (HF tokenizers). */
        t->single = plain_single;
        t->pair = plain_pair;
        t->n_single = 1;
        t->n_pair = 2;
        return ALBERT_OK;
    }
    int rc = json_type_of(post, &at, &type, err);
    if (rc == ALBERT_OK && strcmp(type, "TemplateProcessing") != 0)
        return json_unsupported(&at, "type", type, "only TemplateProcessing", err);
    if (rc == ALBERT_OK)
        rc = json_object(post, "special_tokens", &at, &specials, err);
    if (rc != ALBERT_OK)
        return rc;
    rc = store_special_ids(specials, &at, t, err);
    if (rc == ALBERT_OK)
        rc = parse_layout(post, "single", specials, &at, t, err);
    return rc == ALBERT_OK ? parse_layout(post, "pair", specials, &at, t, err) : rc;
}

void template_free(tok_template *t)
{
    if (!t || !t->id_store)
        return; /* static layouts own nothing */
    free((void *)t->single);
    free((void *)t->pair);
    free(t->id_store);
    memset(t, 0, sizeof *t);
}
