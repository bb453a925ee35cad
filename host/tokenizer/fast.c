/* The fast kind (fast.h): tokenizer.json run the way HF tokenizers'
 * TokenizerImpl::encode runs it, for the ALBERT family's components:
 *
 *   text -> split on the raw added tokens -> each piece normalized
 *        -> split on the normalized added tokens -> Metaspace words
 *        -> Unigram ids (template.c adds the special tokens)
 *
 * Long texts are encoded chunk by chunk as the slow kind does
 * (tokenizer.h), cut before an ASCII space that follows an ASCII letter or
 * digit: every step then sees each side as it would in the whole text
 * (the normalizer's cut_safe and added_blocks_cuts check the file allows
 * it), and a Metaspace word never spans the cut. */
#include "tokenizer/fast.h"
#include "core/common.h"
#include "tokenizer/added.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unigram.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

/* The Metaspace pre-tokenizer; none: each piece is one word. */
typedef struct metaspace {
    bool on;
    char rep[5]; /* the replacement character, UTF-8 */
    size_t rep_len;
    int32_t rep_cp;
    prepend_scheme prepend;
    bool split;
} metaspace;

struct fast_tokenizer {
    normalizer nz;
    metaspace meta;
    unigram *model;
    added_set raw, normalized;
    tok_template layout;
    bool chunks;
    bool hard_cuts; /* runs without a cut point may be cut (hard_cut) */
    size_t chunk_bytes, run_max; /* tokenizer.h; SIZE_MAX when not chunking */
    bool truncate_left; /* the file's truncation.direction is "Left" */
};

/* One encode call's state and scratch: the tokenizer itself is read-only. */
typedef struct encoding {
    const fast_tokenizer *tok;
    const char *what;
    id_sink *ids;
    str_buf norm, tmp, word;
    unigram_scratch scratch;
    /* The next word continues one cut before it that ended in an unknown
     * piece: an unknown piece it starts with is the same one (HF fuses
     * runs of unknown pieces). */
    bool merge_unknown;
    bool last_from_model; /* the last id came from a word, not an added token */
} encoding;

/* ------------------------------------------------------------ Metaspace + model */

/* The ids of the word continuing an unknown piece, less a leading unknown. */
static int encode_merged(encoding *e, albert_error *err)
{
    id_sink part = {.cap = SIZE_MAX, .last = -1};
    int rc = unigram_encode(e->tok->model, e->what, e->word.p, e->word.n, &e->scratch, &part, err);
    int32_t unk = unigram_unk_id(e->tok->model);
    for (size_t i = part.n && part.v[0] == unk ? 1 : 0; rc == ALBERT_OK && i < part.n; i++)
        rc = id_sink_push(e->ids, part.v[i], err);
    free(part.v);
    return rc;
}

static int flush_word(encoding *e, albert_error *err)
{
    int rc = e->merge_unknown ? encode_merged(e, err)
                              : unigram_encode(e->tok->model, e->what, e->word.p, e->word.n,
                                               &e->scratch, e->ids, err);
    e->merge_unknown = false;
    e->last_from_model = true;
    e->word.n = 0;
    return rc;
}

/* Metaspace on S[0..N): spaces become the replacement, which is put in
 * front when the scheme says (FIRST: S starts the text; MID_WORD: S
 * continues a word cut before it, so never), and with split every
 * replacement starts a new word (MergedWithNext). */
static int pretokenize(encoding *e, const char *s, size_t n, bool first, bool mid_word,
                       albert_error *err)
{
    const metaspace *m = &e->tok->meta;
    e->word.n = 0;
    if (!m->on) {
        if (!str_append(&e->word, s, n))
            return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory for a word");
        return flush_word(e, err);
    }
    size_t k = 0;
    int32_t c0 = n ? text_cp_at(s, &k) : 0;
    bool prepend = n > 0 && !mid_word && c0 != ' ' && c0 != m->rep_cp &&
                   (m->prepend == PREPEND_ALWAYS || (m->prepend == PREPEND_FIRST && first));
    if (prepend && !str_append(&e->word, m->rep, m->rep_len))
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory for a word");
    int rc = ALBERT_OK;
    for (size_t i = 0, at; rc == ALBERT_OK && i < n;) {
        at = i;
        int32_t c = text_cp_at(s, &i);
        bool delim = c == ' ' || c == m->rep_cp;
        if (delim && m->split && e->word.n > 0)
            rc = flush_word(e, err);
        if (rc == ALBERT_OK && !(delim ? str_append(&e->word, m->rep, m->rep_len)
                                       : str_append(&e->word, s + at, i - at)))
            rc = albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory for a word");
    }
    return rc == ALBERT_OK && e->word.n > 0 ? flush_word(e, err) : rc;
}

/* ------------------------------------------------------------ added-token stages */

/* What the text between two added tokens goes to. */
typedef int (*text_fn)(encoding *e, const char *s, size_t n, bool first, bool mid_word,
                       albert_error *err);

/* S[0..N) split on the tokens of SET: they become ids, the text between
 * them goes to ON_TEXT.  FIRST / MID_WORD: S starts the text / continues a
 * word cut before it. */
static int split_added(encoding *e, const added_set *set, const char *s, size_t n, bool first,
                       bool mid_word, text_fn on_text, albert_error *err)
{
    size_t from = 0, search = 0;
    added_match m;
    int rc = ALBERT_OK;
    while (rc == ALBERT_OK && added_next(set, s, n, search, from, &m)) {
        if (m.start > from)
            rc = on_text(e, s + from, m.start - from, first && from == 0, mid_word && from == 0,
                         err);
        if (rc == ALBERT_OK)
            rc = id_sink_push(e->ids, m.tok->id, err);
        e->merge_unknown = e->last_from_model = false;
        search = m.resume;
        from = m.end > from ? m.end : from;
    }
    if (rc == ALBERT_OK && from < n)
        rc = on_text(e, s + from, n - from, first && from == 0, mid_word && from == 0, err);
    return rc;
}

/* Text between raw added tokens: normalized, then split on the normalized
 * added tokens, the rest pre-tokenized. */
static int normalize_piece(encoding *e, const char *s, size_t n, bool first, bool mid_word,
                           albert_error *err)
{
    e->norm.n = 0;
    if (!str_append(&e->norm, s, n))
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory normalizing %s", e->what);
    /* "first" prepends only where the first normalized character still
     * aligns with the text's start (normalizer.h). */
    size_t start_chars = first ? 1 : 0;
    bool track = first && e->tok->meta.prepend == PREPEND_FIRST;
    int rc = normalizer_apply(&e->tok->nz, &e->norm, &e->tmp, track ? &start_chars : NULL, err);
    return rc == ALBERT_OK ? split_added(e, &e->tok->normalized, e->norm.p, e->norm.n,
                                         first && start_chars > 0, mid_word, pretokenize, err)
                           : rc;
}

/* A chunk S[0..N) (at byte AT of the text). */
static int encode_chunk(encoding *e, const char *s, size_t n, size_t at, bool mid_word,
                        albert_error *err)
{
    return split_added(e, &e->tok->raw, s, n, at == 0, mid_word, normalize_piece, err);
}

/* ------------------------------------------------------------ chunks */

/* How far back from the run limit a hard cut looks for two plain characters. */
#define CUT_SEARCH 64

/* Whether a hard cut at byte B splits or touches no added token. */
static bool clear_of_tokens(const fast_tokenizer *tok, const char *s, size_t len, size_t b)
{
    return !added_near(&tok->raw, s, len, b) && !added_near(&tok->normalized, s, len, b);
}

/* A cut in the run S[AT..LIMIT) that has no cut point: between two plain
 * characters that no grapheme links, clear of the added tokens, near LIMIT,
 * else at LIMIT moved back to a character boundary (and off a token when it
 * can).  The next chunk continues the word. */
static size_t hard_cut(const fast_tokenizer *tok, const char *s, size_t len, size_t at,
                       size_t limit)
{
    size_t stop = limit - at > CUT_SEARCH + 8 ? limit - CUT_SEARCH : at + 8, prev;
    for (size_t b = limit; b > stop; b--) {
        if (((unsigned char)s[b] & 0xc0) == 0x80)
            continue;
        size_t k = b;
        int32_t before = text_cp_before(s, b, &prev), after = text_cp_at(s, &k);
        if (text_plain_char(before) && text_plain_char(after) &&
            utf8proc_grapheme_break(before, after) && clear_of_tokens(tok, s, len, b))
            return b;
    }
    size_t cut = limit;
    while (cut > at + 1 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    for (size_t b = cut; b > stop; b--)
        if (((unsigned char)s[b] & 0xc0) != 0x80 && clear_of_tokens(tok, s, len, b))
            return b;
    return cut;
}

/* Before an ASCII space that follows an ASCII letter or digit. */
static bool fast_cut_point(const void *ctx, const char *s, size_t len, size_t i, size_t *step)
{
    (void)ctx;
    (void)len;
    *step = 1;
    return s[i] == ' ' && text_ascii_alnum(s[i - 1]);
}

/* The end of the chunk of S[0..LEN) starting at AT (text_chunk_end), else a
 * hard cut (*MID_WORD) where the file allows one, else the next cut point
 * however far. */
static size_t chunk_end(const fast_tokenizer *tok, const char *s, size_t len, size_t at,
                        bool *mid_word)
{
    *mid_word = false;
    size_t end = text_chunk_end(s, len, at, tok->chunk_bytes, tok->run_max, fast_cut_point, tok);
    if (end)
        return end;
    for (size_t i = at + tok->run_max, step; !tok->hard_cuts && i < len; i++)
        if (fast_cut_point(tok, s, len, i, &step))
            return i;
    if (!tok->hard_cuts)
        return len;
    *mid_word = true;
    return hard_cut(tok, s, len, at, at + tok->run_max);
}

int fast_encode(const fast_tokenizer *tok, const char *what, const char *text, size_t len,
                id_sink *ids, albert_error *err)
{
    int rc = text_check_utf8(what, text, len, 0, err);
    encoding e = {.tok = tok, .what = what, .ids = ids};
    bool mid_word = false, next_mid_word;
    for (size_t at = 0, end; rc == ALBERT_OK && at < len; at = end, mid_word = next_mid_word) {
        end = chunk_end(tok, text, len, at, &next_mid_word);
        e.merge_unknown = mid_word && e.last_from_model && ids->last == unigram_unk_id(tok->model);
        rc = encode_chunk(&e, text + at, end - at, at, mid_word, err);
    }
    free(e.norm.p);
    free(e.tmp.p);
    free(e.word.p);
    unigram_scratch_free(&e.scratch);
    return rc;
}

void fast_set_chunking(fast_tokenizer *tok, size_t chunk_bytes, size_t run_max_bytes)
{
    if (tok->chunks)
        text_chunk_limits(chunk_bytes, run_max_bytes, &tok->chunk_bytes, &tok->run_max);
}

bool fast_chunks(const fast_tokenizer *tok) { return tok->chunks; }

bool fast_truncates_left(const fast_tokenizer *tok)
{
    return tok->truncate_left;
}

const tok_template *fast_template(const fast_tokenizer *tok) { return &tok->layout; }

/* ------------------------------------------------------------ open */

/* Metaspace: {"replacement": one character, "prepend_scheme":
 * "always"|"first"|"never" (older files: "add_prefix_space"), "split"}. */
static int parse_metaspace(const cJSON *j, const json_at *at, metaspace *m, albert_error *err)
{
    const char *rep;
    int rc = json_string(j, "replacement", at, &rep, err);
    size_t n = rc == ALBERT_OK ? strlen(rep) : 0;
    int32_t c = 0;
    const char *why;
    if (rc == ALBERT_OK &&
        (n == 0 || n > 4 || text_utf8_next((const unsigned char *)rep, n, &c, &why) != n))
        return json_type_error(at, "replacement", "one character", err);
    bool add_prefix_space = true;
    const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(j, "prepend_scheme");
    m->split = true;
    if (rc == ALBERT_OK)
        rc = json_bool(j, "add_prefix_space", at, &add_prefix_space, err);
    if (rc == ALBERT_OK)
        rc = json_bool(j, "split", at, &m->split, err);
    if (rc != ALBERT_OK)
        return rc;
    memcpy(m->rep, rep, n);
    m->rep_len = n;
    m->rep_cp = c;
    m->on = true;
    m->prepend = add_prefix_space ? PREPEND_ALWAYS : PREPEND_NEVER;
    if (!scheme || cJSON_IsNull(scheme))
        return ALBERT_OK;
    static const char *const names[] = {"always", "first", "never"};
    for (int k = 0; k < 3; k++)
        if (cJSON_IsString(scheme) && strcmp(scheme->valuestring, names[k]) == 0) {
            m->prepend = (prepend_scheme)k;
            return ALBERT_OK;
        }
    return json_type_error(at, "prepend_scheme", "\"always\", \"first\" or \"never\"", err);
}

static int parse_pre_tokenizer(const cJSON *j, const char *file, metaspace *m, albert_error *err)
{
    json_at at = {file, "pre_tokenizer"};
    const char *type;
    if (!j || cJSON_IsNull(j))
        return ALBERT_OK;
    int rc = json_type_of(j, &at, &type, err);
    if (rc == ALBERT_OK && strcmp(type, "Metaspace") != 0)
        return json_unsupported(&at, "type", type, "albert-cl implements Metaspace", err);
    return rc == ALBERT_OK ? parse_metaspace(j, &at, m, err) : rc;
}

/* Whether long texts may be cut (the file comment). */
static bool can_chunk(const fast_tokenizer *tok)
{
    return tok->nz.cut_safe && tok->meta.on && tok->meta.split && tok->meta.rep_cp != ' ' &&
           !added_blocks_cuts(&tok->raw) && !added_blocks_cuts(&tok->normalized);
}

/* "truncation": null, or {"direction": "Left" | "Right", ...}: only the
 * side is taken (HF's fast tokenizer takes it as its truncation_side when
 * tokenizer_config.json names none); the length is the caller's. */
static int parse_truncation(const cJSON *j, const char *file, bool *left, albert_error *err)
{
    json_at at = {file, "truncation"};
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "direction");
    *left = false;
    if (!j || cJSON_IsNull(j) || !d || cJSON_IsNull(d))
        return ALBERT_OK;
    if (cJSON_IsString(d) && strcmp(d->valuestring, "Left") == 0)
        *left = true;
    else if (!cJSON_IsString(d) || strcmp(d->valuestring, "Right") != 0)
        return json_type_error(&at, "direction", "\"Left\" or \"Right\"", err);
    return ALBERT_OK;
}

static int parse_file(fast_tokenizer *tok, const cJSON *root, const char *file, albert_error *err)
{
    json_at top = {file, ""};
    const cJSON *model;
    int rc = json_object(root, "model", &top, &model, err);
    if (rc == ALBERT_OK)
        rc = unigram_parse(model, file, &tok->model, err);
    if (rc == ALBERT_OK)
        rc = normalizer_parse(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), file,
                              &tok->nz, err);
    if (rc == ALBERT_OK)
        rc = parse_pre_tokenizer(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), file,
                                 &tok->meta, err);
    if (rc == ALBERT_OK)
        rc = template_parse(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), file,
                            "post_processor", &tok->layout, err);
    if (rc == ALBERT_OK)
        rc = parse_truncation(cJSON_GetObjectItemCaseSensitive(root, "truncation"), file,
                              &tok->truncate_left, err);
    if (rc == ALBERT_OK)
        rc = added_parse(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), file, tok->model,
                         unigram_vocab_size(tok->model), &tok->nz, &tok->raw, &tok->normalized,
                         err);
    tok->chunks = rc == ALBERT_OK && can_chunk(tok);
    tok->hard_cuts = tok->nz.hard_cut_safe && tok->raw.longest <= CUT_SEARCH &&
                     tok->normalized.longest <= CUT_SEARCH;
    tok->chunk_bytes = tok->chunks ? ALBERT_TOK_CHUNK_BYTES : SIZE_MAX;
    tok->run_max = tok->chunks ? ALBERT_TOK_RUN_MAX_BYTES : SIZE_MAX;
    return rc;
}

static int load(fast_tokenizer *tok, const char *dir, albert_error *err)
{
    char path[4096];
    albert_path_join(path, sizeof path, dir, "tokenizer.json");
    cJSON *root;
    int rc = albert_json_load(path, &root, err);
    if (rc == ALBERT_OK)
        rc = parse_file(tok, root, path, err);
    cJSON_Delete(root);
    return rc;
}

int fast_open(const char *dir, fast_tokenizer **out, albert_error *err)
{
    fast_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_tokenizer_open: out of memory");
    int rc = load(tok, dir, err);
    if (rc != ALBERT_OK) {
        fast_close(tok);
        return rc;
    }
    *out = tok;
    return ALBERT_OK;
}

static const char *added_content(const added_set *set, int32_t id)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->tokens[i].id == id)
            return set->tokens[i].content;
    return NULL;
}

/* As HF tokenizers' id_to_token: the added vocabulary first. */
int fast_piece(const fast_tokenizer *tok, int32_t id, char *dst, size_t size)
{
    const char *piece = added_content(&tok->raw, id);
    piece = piece ? piece : added_content(&tok->normalized, id);
    piece = piece ? piece : unigram_piece(tok->model, id);
    if (!piece)
        return -1;
    snprintf(dst, size, "%s", piece);
    return 0;
}

void fast_close(fast_tokenizer *tok)
{
    if (!tok)
        return;
    normalizer_free(&tok->nz);
    unigram_free(tok->model);
    added_free(&tok->raw);
    added_free(&tok->normalized);
    template_free(&tok->layout);
    free(tok);
}
