/* The Unigram model (unigram.h), following HF tokenizers'
 * Unigram::encode_optimized and Unigram::tokenize. */
#include "tokenizer/unigram.h"
#include "core/common.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/trie.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HF tokenizers' (and sentencepiece's) kUnkPenalty. */
#define UNK_PENALTY 10.0

struct unigram {
    double *scores; /* per id */
    size_t vocab_size;
    int32_t unk_id;     /* -1: none */
    bool byte_fallback;
    int32_t byte_ids[256]; /* "<0xXX>" pieces, -1 when missing */
    double unk_score;
    byte_trie pieces; /* the piece ids */
    char *texts;      /* every piece, NUL-terminated, in id order */
    size_t *text_at;  /* per id: where its piece starts in texts */
};

const char *unigram_piece(const unigram *u, int32_t id)
{
    return id >= 0 && (size_t)id < u->vocab_size ? u->texts + u->text_at[id] : NULL;
}

int32_t unigram_piece_id(const unigram *u, const char *s, size_t len)
{
    return byte_trie_find(&u->pieces, s, len);
}

int32_t unigram_unk_id(const unigram *u) { return u->unk_id; }

size_t unigram_vocab_size(const unigram *u) { return u->vocab_size; }

/* ------------------------------------------------------------ encode */

typedef struct lattice_node {
    double score;   /* of the best path ending here */
    int32_t start;  /* where its last piece starts; -1: none yet */
    int32_t id;
} lattice_node;

typedef struct segment {
    int32_t start, end, id;
} segment;

static bool improves(const lattice_node *n, double score)
{
    return n->start < 0 || score > n->score;
}

/* Every piece starting at byte AT of WORD, and the unknown character when
 * no piece is that one character. */
static void extend_from(const unigram *u, const char *word, size_t len, size_t at,
                        lattice_node *lat)
{
    double here = lat[at].score;
    size_t k = at;
    text_cp_at(word, &k);
    size_t char_end = k;
    bool single = false;
    uint32_t node = 0;
    for (size_t i = at; i < len; i++) {
        if (!(node = byte_trie_step(&u->pieces, node, (unsigned char)word[i])))
            break;
        int32_t id = byte_trie_value(&u->pieces, node);
        if (id < 0)
            continue;
        double score = here + u->scores[id];
        if (improves(&lat[i + 1], score))
            lat[i + 1] = (lattice_node){score, (int32_t)at, id};
        single = single || i + 1 == char_end;
    }
    if (!single && improves(&lat[char_end], here + u->unk_score))
        lat[char_end] = (lattice_node){here + u->unk_score, (int32_t)at, u->unk_id};
}

/* The ids of an unknown run S[0..LEN) (an error without an unknown id, as
 * in HF): its own piece if the vocabulary has one, else its bytes' pieces
 * if all exist and byte fallback is on, else the unknown id. */
static int push_unknown(const unigram *u, const char *what, const char *s, size_t len,
                        id_sink *ids, albert_error *err)
{
    if (u->unk_id < 0)
        return albert_fail(err, ALBERT_E_INPUT,
                           "tokenize: %s: \"%.*s\" is not in the vocabulary and tokenizer.json "
                           "has no unk_id",
                           what, (int)(len < 32 ? len : 32), s);
    int32_t id = unigram_piece_id(u, s, len);
    if (id >= 0)
        return id_sink_push(ids, id, err);
    bool bytes = u->byte_fallback;
    for (size_t i = 0; bytes && i < len; i++)
        bytes = u->byte_ids[(unsigned char)s[i]] >= 0;
    int rc = ALBERT_OK;
    for (size_t i = 0; bytes && rc == ALBERT_OK && i < len; i++)
        rc = id_sink_push(ids, u->byte_ids[(unsigned char)s[i]], err);
    return bytes ? rc : id_sink_push(ids, u->unk_id, err);
}

/* Emits the best path's pieces in order, each run of unknown ones fused. */
static int emit(const unigram *u, const char *what, const char *word, const segment *seg,
                size_t n, id_sink *ids, albert_error *err)
{
    int rc = ALBERT_OK;
    for (size_t k = n; rc == ALBERT_OK && k-- > 0;) {
        if (seg[k].id != u->unk_id) {
            rc = id_sink_push(ids, seg[k].id, err);
            continue;
        }
        size_t first = k;
        while (k > 0 && seg[k - 1].id == u->unk_id)
            k--;
        rc = push_unknown(u, what, word + seg[first].start,
                          (size_t)(seg[k].end - seg[first].start), ids, err);
    }
    return rc;
}

int unigram_encode(const unigram *u, const char *what, const char *word, size_t len,
                   unigram_scratch *scratch, id_sink *ids, albert_error *err)
{
    if (len == 0)
        return ALBERT_OK;
    if (len >= INT32_MAX || !text_grow(&scratch->lattice, &scratch->lattice_cap, len + 1,
                                       sizeof(lattice_node)))
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory segmenting %s", what);
    lattice_node *lat = scratch->lattice;
    lat[0] = (lattice_node){0.0, 0, -1};
    for (size_t i = 1; i <= len; i++)
        lat[i] = (lattice_node){0.0, -1, -1};
    for (size_t at = 0, k; at < len; at = k) {
        extend_from(u, word, len, at, lat);
        k = at;
        text_cp_at(word, &k);
    }
    size_t n = 0;
    for (size_t end = len; end > 0; end = (size_t)lat[end].start) {
        if (!text_grow(&scratch->segments, &scratch->segments_cap, n + 1, sizeof(segment)))
            return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory segmenting %s", what);
        ((segment *)scratch->segments)[n++] = (segment){lat[end].start, (int32_t)end, lat[end].id};
    }
    return emit(u, what, word, scratch->segments, n, ids, err);
}

void unigram_scratch_free(unigram_scratch *scratch)
{
    free(scratch->lattice);
    free(scratch->segments);
    memset(scratch, 0, sizeof *scratch);
}

/* ------------------------------------------------------------ parse */

/* Reads vocab[I] = [piece, score] into *PIECE and U->scores[I]. */
static int vocab_entry(const cJSON *e, int i, const json_at *at, unigram *u, const char **piece,
                       albert_error *err)
{
    const cJSON *p = cJSON_GetArrayItem(e, 0), *score = cJSON_GetArrayItem(e, 1);
    if (cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) || !cJSON_IsNumber(score) ||
        !isfinite(score->valuedouble)) {
        char what[64];
        snprintf(what, sizeof what, "vocab[%d]", i);
        return json_type_error(at, what, "[piece, score]", err);
    }
    *piece = p->valuestring;
    u->scores[i] = score->valuedouble;
    return ALBERT_OK;
}

static int alloc_trie(unigram *u, const cJSON *vocab, const char *file, albert_error *err)
{
    size_t bytes = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        const cJSON *p = cJSON_GetArrayItem(e, 0);
        bytes += cJSON_IsString(p) ? strlen(p->valuestring) : 0;
    }
    u->scores = malloc(u->vocab_size * sizeof *u->scores);
    u->texts = malloc(bytes + u->vocab_size);
    u->text_at = malloc(u->vocab_size * sizeof *u->text_at);
    if (!byte_trie_init(&u->pieces, bytes) || !u->scores || !u->texts || !u->text_at)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for model.vocab", file);
    return ALBERT_OK;
}

static int load_vocab(unigram *u, const cJSON *vocab, const json_at *at, albert_error *err)
{
    int rc = alloc_trie(u, vocab, at->file, err);
    double min_score = INFINITY;
    int i = 0;
    size_t text_len = 0;
    for (const cJSON *e = vocab->child; rc == ALBERT_OK && e; e = e->next, i++) {
        const char *piece = "";
        rc = vocab_entry(e, i, at, u, &piece, err);
        if (rc != ALBERT_OK)
            break;
        size_t len = strlen(piece);
        byte_trie_add(&u->pieces, piece, len, i);
        u->text_at[i] = text_len;
        memcpy(u->texts + text_len, piece, len + 1);
        text_len += len + 1;
        min_score = u->scores[i] < min_score ? u->scores[i] : min_score;
    }
    u->unk_score = min_score - UNK_PENALTY;
    for (int b = 0; rc == ALBERT_OK && b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        u->byte_ids[b] = unigram_piece_id(u, name, 6);
    }
    return rc;
}

static int parse_model(const cJSON *j, const json_at *at, unigram *u, albert_error *err)
{
    const char *type;
    const cJSON *vocab;
    int rc = json_type_of(j, at, &type, err);
    if (rc == ALBERT_OK && strcmp(type, "Unigram") != 0)
        return json_unsupported(at, "type", type, "albert-cl implements the Unigram model", err);
    if (rc == ALBERT_OK)
        rc = json_array(j, "vocab", at, &vocab, err);
    int size = rc == ALBERT_OK ? cJSON_GetArraySize(vocab) : 0;
    if (rc == ALBERT_OK && (size < 1 || size >= INT32_MAX))
        return json_type_error(at, "vocab", "a non-empty array", err);
    if (rc != ALBERT_OK)
        return rc;
    u->vocab_size = (size_t)cJSON_GetArraySize(vocab);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(j, "unk_id");
    long unk_id = -1;
    if (unk && !cJSON_IsNull(unk))
        rc = json_int(j, "unk_id", at, 0, (long)u->vocab_size - 1, &unk_id, err);
    u->unk_id = (int32_t)unk_id;
    if (rc == ALBERT_OK)
        rc = json_bool(j, "byte_fallback", at, &u->byte_fallback, err);
    return rc == ALBERT_OK ? load_vocab(u, vocab, at, err) : rc;
}

int unigram_parse(const cJSON *j, const char *file, unigram **out, albert_error *err)
{
    unigram *u = calloc(1, sizeof *u);
    if (!u)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for the model", file);
    json_at at = {file, "model"};
    int rc = parse_model(j, &at, u, err);
    if (rc != ALBERT_OK) {
        unigram_free(u);
        return rc;
    }
    *out = u;
    return ALBERT_OK;
}

void unigram_free(unigram *u)
{
    if (!u)
        return;
    free(u->scores);
    free(u->texts);
    free(u->text_at);
    byte_trie_free(&u->pieces);
    free(u);
}
