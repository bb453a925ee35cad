/* The public tokenizer: a slow (slow.c) or fast (fast.c) kind that turns a
 * text into ids, and the special-token layout and truncation around them
 * (template.c). */
#include "tokenizer/tokenizer.h"
#include "core/common.h"
#include "tokenizer/fast.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/slow.h"
#include "tokenizer/template.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct albert_tokenizer {
    slow_tokenizer *slow; /* one of the two is set */
    fast_tokenizer *fast;
    albert_truncation truncation; /* tokenizer_config.json's truncation_side */
};

/* DIR/tokenizer_config.json's truncation_side, which HF's tokenizers of
 * either kind take as theirs; *NAMED 0 when it names none (no file, which
 * HF skips as a folder by that name too, absent or null: right). */
static int load_truncation_side(const char *dir, albert_truncation *side, int *named,
                                albert_error *err)
{
    char path[4096];
    albert_path_join(path, sizeof path, dir, "tokenizer_config.json");
    *side = ALBERT_TRUNCATE_RIGHT;
    *named = 0;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return ALBERT_OK;
    cJSON *root;
    int rc = albert_json_load(path, &root, err);
    if (rc != ALBERT_OK)
        return rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "truncation_side");
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    json_at at = {path, ""};
    *named = s != NULL;
    if (s && strcmp(s, "left") == 0)
        *side = ALBERT_TRUNCATE_LEFT;
    else if (v && !cJSON_IsNull(v) && !(s && strcmp(s, "right") == 0))
        rc = json_type_error(&at, "truncation_side", "\"right\" or \"left\"", err);
    cJSON_Delete(root);
    return rc;
}

int albert_tokenizer_open(const char *dir, albert_tokenizer **out, albert_error *err)
{
    return albert_tokenizer_open_kind(dir, ALBERT_TOKENIZER_SLOW, out, err);
}

int albert_tokenizer_open_kind(const char *dir, albert_tokenizer_kind kind,
                               albert_tokenizer **out, albert_error *err)
{
    if (!dir || !out)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenizer_open: dir and out must be set");
    *out = NULL;
    if (kind != ALBERT_TOKENIZER_SLOW && kind != ALBERT_TOKENIZER_FAST)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenizer_open: unknown kind %d", (int)kind);
    albert_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_tokenizer_open: out of memory");
    int named = 0;
    int rc = load_truncation_side(dir, &tok->truncation, &named, err);
    if (rc == ALBERT_OK)
        rc = kind == ALBERT_TOKENIZER_SLOW ? slow_open(dir, &tok->slow, err)
                                           : fast_open(dir, &tok->fast, err);
    if (rc != ALBERT_OK) {
        free(tok);
        return rc;
    }
    /* HF's fast tokenizer falls back on tokenizer.json's own direction. */
    if (!named && tok->fast && fast_truncates_left(tok->fast))
        tok->truncation = ALBERT_TRUNCATE_LEFT;
    *out = tok;
    return albert_ok(err);
}

albert_truncation albert_tokenizer_truncation(const albert_tokenizer *tok)
{
    return tok ? tok->truncation : ALBERT_TRUNCATE_RIGHT;
}

void albert_tokenizer_close(albert_tokenizer *tok)
{
    if (!tok)
        return;
    slow_close(tok->slow);
    fast_close(tok->fast);
    free(tok);
}

static const tok_template *layout(const albert_tokenizer *tok)
{
    return tok->fast ? fast_template(tok->fast) : &TMPL_ALBERT;
}

int albert_tokenizer_specials(const albert_tokenizer *tok, int *before, int *after,
                              albert_error *err)
{
    if (!tok || !before || !after)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenizer_specials: an argument is NULL");
    const tok_template *t = layout(tok);
    int *side = before;
    *before = *after = 0;
    for (size_t i = 0; i < t->n_single; i++) {
        if (!t->single[i].ids)
            side = after; /* sequence A: what follows is after it */
        else
            *side += (int)t->single[i].n_ids;
    }
    return albert_ok(err);
}

static int encode(const albert_tokenizer *tok, const char *what, const char *text, size_t len,
                  id_sink *ids, albert_error *err)
{
    return tok->fast ? fast_encode(tok->fast, what, text, len, ids, err)
                     : slow_encode(tok->slow, what, text, len, ids, err);
}

/* TYPE_IDS and N_FULL may be NULL.  MAX_LENGTH must hold the special tokens;
 * a pair whose budget is exhausted keeps neither text. */
int albert_tokenizer_piece(const albert_tokenizer *tok, int32_t id, char *dst, size_t size,
                           albert_error *err)
{
    if (!tok || !dst || size == 0)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenizer_piece: tok and dst must be set");
    int rc = tok->slow ? slow_piece(tok->slow, id, dst, size) : fast_piece(tok->fast, id, dst, size);
    if (rc != 0) {
        dst[0] = '\0';
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenizer_piece: no token has id %d", (int)id);
    }
    return albert_ok(err);
}

int albert_tokenize(const albert_tokenizer *tok, const char *text, size_t text_len,
                    const char *pair, size_t pair_len, int max_length, int32_t *ids,
                    int32_t *type_ids, int *n, int *n_full, albert_error *err)
{
    return albert_tokenize_side(tok, text, text_len, pair, pair_len, max_length,
                                ALBERT_TRUNCATE_RIGHT, ids, type_ids, n, n_full, err);
}

int albert_tokenize_side(const albert_tokenizer *tok, const char *text, size_t text_len,
                         const char *pair, size_t pair_len, int max_length,
                         albert_truncation side, int32_t *ids, int32_t *type_ids, int *n,
                         int *n_full, albert_error *err)
{
    if (!tok || !text || !ids || !n)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenize: tok, text, ids and n must be set");
    if (side != ALBERT_TRUNCATE_RIGHT && side != ALBERT_TRUNCATE_LEFT)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenize: truncation side %d is neither "
                           "ALBERT_TRUNCATE_RIGHT nor ALBERT_TRUNCATE_LEFT", (int)side);
    const tok_template *t = layout(tok);
    size_t specials = template_specials(t, pair != NULL);
    if (max_length < 0 || (size_t)max_length < specials)
        return albert_fail(err, ALBERT_E_ARG,
                           "albert_tokenize: max_length %d cannot hold the %zu special tokens",
                           max_length, specials);
    /* Truncation keeps at most max_length - specials of either part. */
    size_t cap = (size_t)max_length - specials;
    const bool left = side == ALBERT_TRUNCATE_LEFT;
    id_sink a = {.cap = cap, .last = -1, .keep_last = left};
    id_sink b = {.cap = cap, .last = -1, .keep_last = left};
    int rc = encode(tok, "text", text, text_len, &a, err);
    if (rc == ALBERT_OK && pair)
        rc = encode(tok, "pair", pair, pair_len, &b, err);
    if (rc == ALBERT_OK) {
        template_assemble(t, &a, &b, pair != NULL, (size_t)max_length, ids, type_ids, n, n_full);
        rc = albert_ok(err);
    }
    free(a.v);
    free(b.v);
    return rc;
}

void albert_tokenizer_set_chunking(albert_tokenizer *tok, size_t chunk_bytes, size_t run_max_bytes)
{
    if (tok->fast)
        fast_set_chunking(tok->fast, chunk_bytes, run_max_bytes);
    else
        slow_set_chunking(tok->slow, chunk_bytes, run_max_bytes);
}

bool albert_tokenizer_chunks(const albert_tokenizer *tok)
{
    return tok->fast ? fast_chunks(tok->fast) : slow_chunks(tok->slow);
}

int albert_text_check(const char *what, const char *text, size_t len, albert_error *err)
{
    if (!text && len)
        return albert_fail(err, ALBERT_E_ARG, "albert_text_check: NULL text of %zu bytes", len);
    int rc = text_check_utf8(what ? what : "text", text ? text : "", len, 0, err);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
