/* Added tokens (added.h), following HF tokenizers' AddedVocabulary. */
#include "tokenizer/added.h"
#include "core/common.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/trie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ characters */

/* Rust's char::is_whitespace and regex \s: the White_Space property. */
static bool white_space(int32_t c)
{
    static const cp_range ws[] = {{0x09, 0x0d}, {0x20, 0x20}, {0x85, 0x85},     {0xa0, 0xa0},
                                  {0x1680, 0x1680}, {0x2000, 0x200a}, {0x2028, 0x2029},
                                  {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000}};
    return IN_RANGES(c, ws);
}

/* Rust regex's Unicode \w: Alphabetic (the letter and letter-number
 * categories, and the circled and squared letters that are symbols), marks,
 * decimal digits, connector punctuation and the joiners. */
static bool word_char(int32_t c)
{
    static const cp_range symbol_letters[] = {
        {0x24b6, 0x24e9}, {0x1f130, 0x1f149}, {0x1f150, 0x1f169}, {0x1f170, 0x1f189}};
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC: return true;
    default: return c == 0x200c || c == 0x200d || IN_RANGES(c, symbol_letters);
    }
}

/* ------------------------------------------------------------ matching */

/* The longest token of SET at S[I..LEN), or NULL. */
static const added_token *longest_at(const added_set *set, const char *s, size_t len, size_t i)
{
    const added_token *best = NULL;
    uint32_t node = 0;
    for (size_t k = i; k < len; k++) {
        node = byte_trie_step(&set->trie, node, (unsigned char)s[k]);
        if (!node)
            break;
        int32_t index = byte_trie_value(&set->trie, node);
        best = index >= 0 ? &set->tokens[index] : best;
    }
    return best;
}

/* Whether a single_word match S[START..END) has no word character on
 * either side. */
static bool stands_alone(const char *s, size_t len, size_t start, size_t end)
{
    size_t at = end, prev;
    return (start == 0 || !word_char(text_cp_before(s, start, &prev))) &&
           (end == len || !word_char(text_cp_at(s, &at)));
}

bool added_next(const added_set *set, const char *s, size_t len, size_t search, size_t floor,
                added_match *m)
{
    for (size_t i = set->n ? search : len; i < len; i++) {
        const added_token *t = longest_at(set, s, len, i);
        if (!t)
            continue;
        size_t ms = i, me = i + t->len, prev;
        if (t->single_word && !stands_alone(s, len, ms, me)) {
            i = me - 1; /* the matcher has moved past it */
            continue;
        }
        m->resume = me;
        while (t->lstrip && ms > floor && white_space(text_cp_before(s, ms, &prev)))
            ms = prev;
        for (size_t k = me; t->rstrip && k < len && white_space(text_cp_at(s, &k));)
            me = k;
        m->start = ms;
        m->end = me;
        m->tok = t;
        return true;
    }
    return false;
}

bool added_near(const added_set *set, const char *s, size_t len, size_t b)
{
    for (size_t i = b > set->longest ? b - set->longest : 0; set->n && i <= b && i < len; i++) {
        uint32_t node = 0;
        for (size_t k = i; k < len; k++) {
            node = byte_trie_step(&set->trie, node, (unsigned char)s[k]);
            if (!node)
                break;
            if (byte_trie_value(&set->trie, node) >= 0 && k + 1 >= b)
                return true;
        }
    }
    return false;
}

bool added_blocks_cuts(const added_set *set)
{
    for (size_t k = 0; k < set->n; k++) {
        const added_token *t = &set->tokens[k];
        if (t->rstrip)
            return true;
        for (size_t i = 0; i < t->len;)
            if (white_space(text_cp_at(t->content, &i)))
                return true;
    }
    return false;
}

/* ------------------------------------------------------------ parse */

/* Entry E into *T, and whether it is matched on normalized text. */
static int parse_token(const cJSON *e, const json_at *at, added_token *t, bool *normalized,
                       albert_error *err)
{
    const char *content;
    if (!cJSON_IsObject(e))
        return json_type_error(at, NULL, "an object", err);
    int rc = json_string(e, "content", at, &content, err);
    *normalized = false;
    if (rc == ALBERT_OK)
        rc = json_bool(e, "lstrip", at, &t->lstrip, err);
    if (rc == ALBERT_OK)
        rc = json_bool(e, "rstrip", at, &t->rstrip, err);
    if (rc == ALBERT_OK)
        rc = json_bool(e, "single_word", at, &t->single_word, err);
    if (rc == ALBERT_OK)
        rc = json_bool(e, "normalized", at, normalized, err);
    if (rc != ALBERT_OK)
        return rc;
    albert_error bad;
    if (text_check_utf8("added token", content, strlen(content), 0, &bad) != ALBERT_OK)
        return json_type_error(at, "content", "valid UTF-8 without NUL", err);
    t->len = strlen(content);
    t->content = malloc(t->len + 1);
    if (!t->content)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for %s", at->file, at->path);
    memcpy(t->content, content, t->len + 1);
    return ALBERT_OK;
}

/* A normalized token is matched by its normalized content (HF normalizes
 * the patterns of its normalized matcher). */
static int normalize_content(const normalizer *nz, const json_at *at, added_token *t,
                             albert_error *err)
{
    str_buf s = {0}, tmp = {0};
    int rc = str_append(&s, t->content, t->len)
                 ? normalizer_apply(nz, &s, &tmp, NULL, err)
                 : albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for %s", at->file, at->path);
    if (rc == ALBERT_OK && s.n == 0)
        rc = json_unsupported(at, "content", t->content, "it normalizes to nothing", err);
    if (rc == ALBERT_OK && !str_append(&s, "", 1)) /* the terminating NUL */
        rc = albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for %s", at->file, at->path);
    free(tmp.p);
    if (rc != ALBERT_OK) {
        free(s.p);
        return rc;
    }
    free(t->content);
    t->content = s.p;
    t->len = s.n - 1;
    return ALBERT_OK;
}

static size_t content_bytes(const cJSON *list)
{
    size_t bytes = 0;
    for (const cJSON *e = list->child; e; e = e->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        bytes += cJSON_IsString(c) ? strlen(c->valuestring) : 0;
    }
    return bytes;
}

/* The trie of SET's contents; a content two tokens share keeps the first. */
static int index_set(added_set *set, const char *file, albert_error *err)
{
    size_t bytes = 0;
    for (size_t k = 0; k < set->n; k++) {
        bytes += set->tokens[k].len;
        set->longest = set->tokens[k].len > set->longest ? set->tokens[k].len : set->longest;
    }
    if (!byte_trie_init(&set->trie, bytes))
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for added_tokens", file);
    for (size_t k = 0; k < set->n; k++)
        if (byte_trie_find(&set->trie, set->tokens[k].content, set->tokens[k].len) < 0)
            byte_trie_add(&set->trie, set->tokens[k].content, set->tokens[k].len, (int32_t)k);
    return ALBERT_OK;
}

typedef struct added_sets {
    added_set *raw, *normalized;
    byte_trie seen; /* the raw contents read so far: HF ignores repeats */
    int64_t next_id;
} added_sets;

/* Entry E (number I) into its set. */
static int add_entry(const cJSON *e, int i, const char *file, const unigram *model,
                     const normalizer *nz, added_sets *sets, albert_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "added_tokens[%d]", i);
    json_at at = {file, path};
    added_token t = {0};
    bool norm = false;
    int rc = parse_token(e, &at, &t, &norm, err);
    bool skip = rc != ALBERT_OK || t.len == 0 || byte_trie_find(&sets->seen, t.content, t.len) >= 0;
    if (!skip) {
        byte_trie_add(&sets->seen, t.content, t.len, i);
        int32_t id = unigram_piece_id(model, t.content, t.len);
        if (id < 0 && sets->next_id >= INT32_MAX)
            rc = json_type_error(&at, NULL, "a token whose id fits in 31 bits", err);
        t.id = id >= 0 ? id : (int32_t)sets->next_id++;
        if (rc == ALBERT_OK && norm)
            rc = normalize_content(nz, &at, &t, err);
    }
    if (skip || rc != ALBERT_OK) {
        free(t.content);
        return rc;
    }
    added_set *set = norm ? sets->normalized : sets->raw;
    set->tokens[set->n++] = t;
    return ALBERT_OK;
}

int added_parse(const cJSON *j, const char *file, const unigram *model, size_t vocab_size,
                const normalizer *nz, added_set *raw, added_set *normalized, albert_error *err)
{
    memset(raw, 0, sizeof *raw);
    memset(normalized, 0, sizeof *normalized);
    if (j && !cJSON_IsNull(j) && !cJSON_IsArray(j))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: added_tokens must be an array", file);
    size_t n = j && cJSON_IsArray(j) ? (size_t)cJSON_GetArraySize(j) : 0;
    added_sets sets = {raw, normalized, {0}, (int64_t)vocab_size};
    raw->tokens = calloc(n ? n : 1, sizeof *raw->tokens);
    normalized->tokens = calloc(n ? n : 1, sizeof *normalized->tokens);
    int rc = raw->tokens && normalized->tokens &&
                     byte_trie_init(&sets.seen, n ? content_bytes(j) : 0)
                 ? ALBERT_OK
                 : albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for added_tokens", file);
    int i = 0;
    for (const cJSON *e = n ? j->child : NULL; rc == ALBERT_OK && e; e = e->next, i++)
        rc = add_entry(e, i, file, model, nz, &sets, err);
    byte_trie_free(&sets.seen);
    if (rc == ALBERT_OK)
        rc = index_set(raw, file, err);
    return rc == ALBERT_OK ? index_set(normalized, file, err) : rc;
}

void added_free(added_set *set)
{
    for (size_t k = 0; set && set->tokens && k < set->n; k++)
        free(set->tokens[k].content);
    if (set) {
        free(set->tokens);
        byte_trie_free(&set->trie);
    }
}
