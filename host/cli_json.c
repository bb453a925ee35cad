/* A small JSON reader for jsonl input records: one object per line with
 * "text"/"text_pair" strings or "input_ids"/"attention_mask"/"token_type_ids"
 * integer arrays.  Strings are decoded in place (an escape never decodes to
 * more bytes than it spells), so records can point into the line. */
#include "cli_input.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct jparser {
    char *p;
    const char *problem; /* set on the first error */
} jparser;

typedef struct jrecord {
    char *text, *pair;
    size_t text_len, pair_len;
    int has_text, has_pair;
    int32_t *arrays[3]; /* input_ids, attention_mask, token_type_ids */
    int lens[3];
} jrecord;

static const char *const array_keys[3] = {"input_ids", "attention_mask", "token_type_ids"};

static int jfail(jparser *j, const char *problem)
{
    if (!j->problem)
        j->problem = problem;
    return -1;
}

static void skip_ws(jparser *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n')
        j->p++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *w++ = (char)(0xF0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return w;
}

/* A \uXXXX escape at R (after the backslash-u), surrogate pairs joined;
 * lone surrogates are rejected because they are not text. */
static int unicode_escape(jparser *j, char **r, char **w)
{
    unsigned cp, lo;
    if (hex4(*r, &cp) != 0)
        return jfail(j, "bad \\u escape in a string");
    *r += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jfail(j, "lone low surrogate in a string");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if ((*r)[0] != '\\' || (*r)[1] != 'u' || hex4(*r + 2, &lo) != 0 || lo < 0xDC00 ||
            lo > 0xDFFF)
            return jfail(j, "lone high surrogate in a string");
        *r += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *w = put_utf8(*w, cp);
    return 0;
}

static int simple_escape(char c, char *out)
{
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *at = c ? strchr(from, c) : NULL;
    if (!at)
        return -1;
    *out = to[at - from];
    return 0;
}

/* Parses the string at j->p (on its opening quote), decoding it in place. */
static int parse_string(jparser *j, char **out, size_t *len)
{
    char *r = j->p + 1, *w = r, *start = r;
    for (;;) {
        char c = *r++;
        if (c == '"')
            break;
        if (c == '\0')
            return jfail(j, "unterminated string");
        if ((unsigned char)c < 0x20)
            return jfail(j, "control character in a string");
        if (c != '\\') {
            *w++ = c;
            continue;
        }
        c = *r++;
        if (c == 'u') {
            if (unicode_escape(j, &r, &w) != 0)
                return -1;
        } else if (simple_escape(c, w) == 0) {
            w++;
        } else {
            return jfail(j, "bad escape in a string");
        }
    }
    j->p = r;
    *out = start;
    *len = (size_t)(w - start);
    return 0;
}

/* A JSON integer that fits int32 (fractions and exponents are rejected: ids,
 * masks and types are integers). */
static int parse_int(jparser *j, int32_t *out)
{
    char *p = j->p;
    int neg = *p == '-';
    p += neg;
    if (*p < '0' || *p > '9')
        return jfail(j, "array elements must be integers");
    long long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > 2147483648LL)
            return jfail(j, "integer out of range");
    }
    if (*p == '.' || *p == 'e' || *p == 'E')
        return jfail(j, "array elements must be integers");
    v = neg ? -v : v;
    if (v > 2147483647LL)
        return jfail(j, "integer out of range");
    *out = (int32_t)v;
    j->p = p;
    return 0;
}

/* Called on each element of a container, at its value; KEY is NULL in arrays. */
typedef int (*element_fn)(jparser *j, const char *key, size_t key_len, void *ctx);

/* Walks the object ('{') or array ('[') at j->p, calling FN on each value. */
static int walk_container(jparser *j, element_fn fn, void *ctx)
{
    char close = *j->p++ == '{' ? '}' : ']';
    skip_ws(j);
    for (int first = 1; *j->p != close; first = 0) {
        if (!first && *j->p++ != ',')
            return jfail(j, "expected ',' between elements");
        skip_ws(j);
        char *key = NULL;
        size_t len = 0;
        if (close == '}') {
            if (*j->p != '"' || parse_string(j, &key, &len) != 0)
                return jfail(j, "expected a string key");
            skip_ws(j);
            if (*j->p++ != ':')
                return jfail(j, "expected ':' after a key");
            skip_ws(j);
        }
        if (fn(j, key, len, ctx) != 0)
            return -1;
        skip_ws(j);
    }
    j->p++;
    return 0;
}

static int skip_value(jparser *j, int depth);

/* Unknown keys may hold any JSON value: skipped, nesting bounded. */
static int skip_element(jparser *j, const char *key, size_t key_len, void *ctx)
{
    (void)key;
    (void)key_len;
    return skip_value(j, *(int *)ctx + 1);
}

typedef struct int_list {
    int32_t *v;
    int n, cap;
} int_list;

static int append_int(jparser *j, const char *key, size_t key_len, void *ctx)
{
    (void)key;
    (void)key_len;
    int_list *l = ctx;
    if (l->n == l->cap) {
        int32_t *bigger = realloc(l->v, (size_t)(l->cap *= 2) * sizeof *bigger);
        if (!bigger)
            return jfail(j, "out of memory");
        l->v = bigger;
    }
    return parse_int(j, &l->v[l->n++]);
}

/* The array at j->p; *OUT is malloc'd even when it is empty. */
static int parse_int_array(jparser *j, int32_t **out, int *n)
{
    int_list l = {malloc(64 * sizeof(int32_t)), 0, 64};
    if (!l.v)
        return jfail(j, "out of memory");
    if (walk_container(j, append_int, &l) != 0) {
        free(l.v);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

static int skip_literal(jparser *j)
{
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (strncmp(j->p, words[i], n) == 0) {
            j->p += n;
            return 0;
        }
    }
    if (*j->p != '-' && (*j->p < '0' || *j->p > '9'))
        return jfail(j, "unexpected character");
    j->p++;
    while (strchr("0123456789+-.eE", *j->p) && *j->p)
        j->p++;
    return 0;
}

static int skip_value(jparser *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return jfail(j, "nested too deeply");
    skip_ws(j);
    char *s;
    size_t len;
    switch (*j->p) {
    case '"': return parse_string(j, &s, &len);
    case '{':
    case '[': return walk_container(j, skip_element, &depth);
    default: return skip_literal(j);
    }
}

static int parse_text_field(jparser *j, char **s, size_t *len, int *seen, int nullable)
{
    if (*seen)
        return jfail(j, "duplicate key");
    *seen = 1;
    if (nullable && strncmp(j->p, "null", 4) == 0) {
        j->p += 4;
        *seen = 0;
        return 0;
    }
    if (*j->p != '"')
        return jfail(j, "\"text\" and \"text_pair\" must be strings");
    return parse_string(j, s, len);
}

static int parse_field(jparser *j, const char *key, size_t key_len, void *ctx)
{
    jrecord *r = ctx;
    if (key_len == 4 && memcmp(key, "text", 4) == 0)
        return parse_text_field(j, &r->text, &r->text_len, &r->has_text, 0);
    if (key_len == 9 && memcmp(key, "text_pair", 9) == 0)
        return parse_text_field(j, &r->pair, &r->pair_len, &r->has_pair, 1);
    for (int k = 0; k < 3; k++) {
        if (strlen(array_keys[k]) != key_len || memcmp(key, array_keys[k], key_len) != 0)
            continue;
        if (r->arrays[k])
            return jfail(j, "duplicate key");
        if (*j->p != '[')
            return jfail(j, "input_ids, attention_mask and token_type_ids must be arrays");
        return parse_int_array(j, &r->arrays[k], &r->lens[k]);
    }
    int depth = 1;
    return skip_element(j, key, key_len, &depth);
}

static int parse_object(jparser *j, jrecord *r)
{
    skip_ws(j);
    if (*j->p != '{')
        return jfail(j, "a record must be a JSON object");
    if (walk_container(j, parse_field, r) != 0)
        return -1;
    skip_ws(j);
    return *j->p ? jfail(j, "trailing characters after the object") : 0;
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

int cli_parse_json_record(char *line, cli_record *rec, albert_error *err)
{
    jparser j = {line, NULL};
    jrecord r;
    memset(&r, 0, sizeof r);
    const char *problem = parse_object(&j, &r) != 0 ? j.problem : record_problem(&r);
    if (!problem && r.arrays[0] && take_arrays(&r, rec) != 0)
        problem = "out of memory";
    if (!problem && r.has_text) {
        rec->text = r.text;
        rec->text_len = r.text_len;
        rec->pair = r.has_pair ? r.pair : NULL;
        rec->pair_len = r.pair_len;
    }
    for (int k = 0; k < 3; k++)
        free(r.arrays[k]);
    if (problem)
        return cli_fail(err, ALBERT_E_INPUT, "%s:%ld: bad JSON record: %s", rec->file, rec->line,
                        problem);
    return ALBERT_OK;
}
