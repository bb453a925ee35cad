/* AlbertTokenizer (HuggingFace, slow, sentencepiece-based) reproduced id for
 * id: preprocess_text, sentencepiece and the digit-comma split of
 * _tokenize (the special tokens and truncation: tokenizer.c).
 *
 * tokenize() first splits the text on the added tokens ([CLS], [MASK], ...),
 * which map straight to their ids, and runs _tokenize on the text between
 * them.
 *
 * Text is preprocessed as an array of code points because every step is
 * defined on Python str characters; the result goes back to UTF-8 for
 * sentencepiece.  Long texts go through all of it chunk by chunk
 * (tokenizer.h says why and why the ids stay the same).  Nothing here is
 * mutable after open, so albert_tokenize may run concurrently on one
 * tokenizer. */
#include "core/common.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/spm_wrapper.h"
#include "tokenizer/slow.h"
#include "tokenizer/text.h"
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

/* AlbertTokenizer's added tokens: special, normalized=False, matched
 * case-sensitively.  [MASK] has lstrip=True (it eats the whitespace to its
 * left); none has rstrip or single_word.  No token is a prefix of another or
 * overlaps one, so HF's regex alternation and its Trie.split (earliest start,
 * then longest) find exactly the matches of a left-to-right scan. */
typedef struct added_token {
    const char *text; /* ASCII */
    size_t len;
    bool lstrip;
} added_token;

static const added_token ADDED_TOKENS[] = {
    {"[CLS]", 5, false}, {"[SEP]", 5, false}, {"<unk>", 5, false},
    {"<pad>", 5, false}, {"[MASK]", 6, true}};

#define N_ADDED (sizeof ADDED_TOKENS / sizeof ADDED_TOKENS[0])

struct slow_tokenizer {
    spm_model *spm;
    bool do_lower_case, remove_space, keep_accents;
    int32_t added_ids[N_ADDED]; /* piece_to_id of each ADDED_TOKENS entry */
    int32_t unk_id;
    bool chunks;                 /* spm_splits_at_blanks: cutting keeps the ids */
    size_t chunk_bytes, run_max; /* tokenizer.h; SIZE_MAX when not chunking */
};

/* "▁", sentencepiece's word-boundary marker. */
static const char SPIECE_UNDERLINE[] = "\xe2\x96\x81";
#define SPIECE_UNDERLINE_LEN 3

/* ------------------------------------------------------------ growable arrays */

typedef struct cp_buf {
    int32_t *v;
    size_t n, cap;
} cp_buf;

static bool cp_push(cp_buf *b, int32_t c)
{
    if (!text_grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v))
        return false;
    b->v[b->n++] = c;
    return true;
}

static bool cp_append(cp_buf *b, const int32_t *v, size_t n)
{
    if (!text_grow((void **)&b->v, &b->cap, b->n + n, sizeof *b->v))
        return false;
    memcpy(b->v + b->n, v, n * sizeof *v);
    b->n += n;
    return true;
}

/* ------------------------------------------------------------ UTF-8 */

/* Decodes S[0..LEN), which starts at byte BASE of WHAT (for messages). */
static int utf8_decode(const char *what, const char *s, size_t len, size_t base, cp_buf *out,
                       albert_error *err)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        int32_t c = 0;
        const char *why;
        size_t k = text_utf8_next(u + i, len - i, &c, &why);
        if (k == 0)
            return text_check_utf8(what, s, len, base, err); /* names the byte and why */
        if (!cp_push(out, c))
            return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory decoding %s", what);
        i += k;
    }
    return ALBERT_OK;
}

/* Encodes code points to a NUL-terminated malloc'd UTF-8 string. */
static int utf8_encode(const cp_buf *in, char **out, size_t *out_len, albert_error *err)
{
    unsigned char *buf = malloc(4 * in->n + 1);
    if (!buf)
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory encoding text");
    size_t n = 0;
    for (size_t i = 0; i < in->n; i++)
        n += (size_t)utf8proc_encode_char(in->v[i], buf + n);
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = n;
    return ALBERT_OK;
}

/* ------------------------------------------------------------ Python str predicates */

/* str.isspace(): bidirectional class WS, B or S, or category Zs. */
static bool py_isspace(int32_t c)
{
    const utf8proc_property_t *p = utf8proc_get_property(c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* Numeric_Type=Digit code points outside category Nd (superscripts, circled
 * digits, ...); utf8proc does not carry the numeric type. */
static const cp_range digit_extra[] = {
    {0xB2, 0xB3},     {0xB9, 0xB9},     {0x1369, 0x1371}, {0x19DA, 0x19DA},
    {0x2070, 0x2070}, {0x2074, 0x2079}, {0x2080, 0x2089}, {0x2460, 0x2468},
    {0x2474, 0x247C}, {0x2488, 0x2490}, {0x24EA, 0x24EA}, {0x24F5, 0x24FD},
    {0x24FF, 0x24FF}, {0x2776, 0x277E}, {0x2780, 0x2788}, {0x278A, 0x2792},
    {0x10A40, 0x10A43}, {0x10E60, 0x10E68}, {0x11052, 0x1105A}, {0x1F100, 0x1F10A}};

/* str.isdigit(): Numeric_Type Decimal or Digit. */
static bool py_isdigit(int32_t c)
{
    return utf8proc_get_property(c)->category == UTF8PROC_CATEGORY_ND || IN_RANGES(c, digit_extra);
}

/* Word_Break MidLetter / MidNumLet / Single_Quote: case-ignorable though
 * they are punctuation. */
static const cp_range ignorable_extra[] = {
    {0x27, 0x27},     {0x2E, 0x2E},     {0x3A, 0x3A},     {0xB7, 0xB7},
    {0x387, 0x387},   {0x55F, 0x55F},   {0x5F4, 0x5F4},   {0x2018, 0x2019},
    {0x2024, 0x2024}, {0x2027, 0x2027}, {0xFE13, 0xFE13}, {0xFE52, 0xFE52},
    {0xFE55, 0xFE55}, {0xFF07, 0xFF07}, {0xFF0E, 0xFF0E}, {0xFF1A, 0xFF1A}};

/* Other_Lowercase / Other_Uppercase code points that are not letters. */
static const cp_range cased_extra[] = {
    {0xAA, 0xAA},       {0xBA, 0xBA},       {0x2160, 0x217F},   {0x24B6, 0x24E9},
    {0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189}};

static bool case_ignorable(int32_t c)
{
    switch (utf8proc_get_property(c)->category) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK: return true;
    default: return IN_RANGES(c, ignorable_extra);
    }
}

static bool cased(int32_t c)
{
    switch (utf8proc_get_property(c)->category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT: return true;
    default: return IN_RANGES(c, cased_extra);
    }
}

/* Python's Final_Sigma test for the capital sigma at V[I]: a cased letter
 * before it and none after it (skipping case-ignorables both ways).  Each
 * scan stops at the next non-ignorable, so the total work stays linear. */
static bool final_sigma(const int32_t *v, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && case_ignorable(v[j - 1]))
        j--;
    if (j == 0 || !cased(v[j - 1]))
        return false;
    for (j = i + 1; j < n && case_ignorable(v[j]); j++)
        ;
    return j == n || !cased(v[j]);
}

/* ------------------------------------------------------------ preprocess_text */

/* " ".join(text.strip().split()) */
static bool collapse_spaces(const cp_buf *in, cp_buf *out)
{
    bool pending = false;
    for (size_t i = 0; i < in->n; i++) {
        if (py_isspace(in->v[i])) {
            pending = out->n > 0;
            continue;
        }
        if ((pending && !cp_push(out, ' ')) || !cp_push(out, in->v[i]))
            return false;
        pending = false;
    }
    return true;
}

/* .replace("``", '"').replace("''", '"'): both scan left to right without
 * overlap, and the first cannot create a match for the second. */
static bool replace_quotes(const cp_buf *in, cp_buf *out)
{
    for (size_t i = 0; i < in->n; i++) {
        int32_t c = in->v[i];
        if ((c == '`' || c == '\'') && i + 1 < in->n && in->v[i + 1] == c) {
            c = '"';
            i++;
        }
        if (!cp_push(out, c))
            return false;
    }
    return true;
}

/* NFKD, then drop every code point with a non-zero canonical combining class
 * (unicodedata.combining).  Canonical reordering only permutes marks with
 * non-zero classes, which are all dropped, so decomposing one code point at a
 * time gives the same result. */
static bool strip_accents(const cp_buf *in, cp_buf *out)
{
    for (size_t i = 0; i < in->n; i++) {
        int32_t d[32];
        utf8proc_ssize_t k = utf8proc_decompose_char(in->v[i], d, 32,
                                                     UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, NULL);
        if (k < 0 || k > 32)
            return false;
        for (utf8proc_ssize_t j = 0; j < k; j++)
            if (utf8proc_get_property(d[j])->combining_class == 0 && !cp_push(out, d[j]))
                return false;
    }
    return true;
}

/* Appends C lowercased as str.lower() does: simple lowercase plus the two
 * full mappings Python applies, U+0130 -> "i\u0307" and, where FINAL says
 * the context calls for it, the final sigma. */
static bool push_lower(cp_buf *out, int32_t c, bool final)
{
    if (c == 0x130)
        return cp_push(out, 'i') && cp_push(out, 0x307);
    if (c == 0x3a3)
        return cp_push(out, final ? 0x3c2 : 0x3c3);
    return cp_push(out, utf8proc_tolower(c));
}

/* str.lower() */
static bool py_lower(const cp_buf *in, cp_buf *out)
{
    for (size_t i = 0; i < in->n; i++)
        if (!push_lower(out, in->v[i], in->v[i] == 0x3a3 && final_sigma(in->v, in->n, i)))
            return false;
    return true;
}

typedef bool (*cp_pass)(const cp_buf *in, cp_buf *out);

/* Runs PASS from *CUR into a fresh buffer that then replaces *CUR. */
static bool run_pass(cp_pass pass, cp_buf *cur)
{
    cp_buf next = {0};
    if (!pass(cur, &next)) {
        free(next.v);
        return false;
    }
    free(cur->v);
    *cur = next;
    return true;
}

static bool preprocess(const slow_tokenizer *tok, cp_buf *text)
{
    return (!tok->remove_space || run_pass(collapse_spaces, text)) &&
           run_pass(replace_quotes, text) && (tok->keep_accents || run_pass(strip_accents, text)) &&
           (!tok->do_lower_case || run_pass(py_lower, text));
}

/* ------------------------------------------------------------ _tokenize */

static int push_piece_id(const slow_tokenizer *tok, const char *piece, size_t len, id_sink *ids,
                         albert_error *err)
{
    int id = spm_piece_to_id(tok->spm, piece, len);
    if (id < 0)
        return albert_fail(err, ALBERT_E_FORMAT, "tokenize: sentencepiece piece lookup failed");
    return id_sink_push(ids, id, err);
}

static int encode_pieces(const slow_tokenizer *tok, const char *text, size_t len, bool mid_word,
                         char **pieces, size_t *count, albert_error *err)
{
    char msg[256] = "";
    int rc = spm_encode(tok->spm, text, len, mid_word, pieces, count, msg, sizeof msg);
    if (rc == SPM_E_NOMEM)
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory in sentencepiece");
    if (rc != SPM_OK)
        return albert_fail(err, ALBERT_E_FORMAT, "tokenize: sentencepiece encode failed: %s", msg);
    return ALBERT_OK;
}

static bool starts_with_underline(const char *s, size_t len)
{
    return len >= SPIECE_UNDERLINE_LEN && memcmp(s, SPIECE_UNDERLINE, SPIECE_UNDERLINE_LEN) == 0;
}

/* True for a piece of two or more characters that ends in "," right after a
 * digit: HF splits those so "9,9" does not glue the comma to a number. */
static bool digit_comma_piece(const char *p, size_t len)
{
    if (len < 2 || p[len - 1] != ',')
        return false;
    size_t start = len - 1;
    do
        start--;
    while (start > 0 && ((unsigned char)p[start] & 0xc0) == 0x80);
    int32_t c = 0;
    const char *why;
    return text_utf8_next((const unsigned char *)p + start, len - 1 - start, &c, &why) != 0 &&
           py_isdigit(c);
}

/* piece[:-1].replace("▁", "") into a fresh string. */
static char *strip_underlines(const char *p, size_t len, size_t *out_len)
{
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (starts_with_underline(p + i, len - i)) {
            i += SPIECE_UNDERLINE_LEN;
            continue;
        }
        s[n++] = p[i++];
    }
    s[n] = '\0';
    *out_len = n;
    return s;
}

/* The digit-comma branch of AlbertTokenizer._tokenize for PIECE. */
static int split_digit_comma(const slow_tokenizer *tok, const char *piece, size_t len,
                             id_sink *ids, albert_error *err)
{
    size_t body_len;
    char *body = strip_underlines(piece, len - 1, &body_len);
    if (!body)
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory splitting a piece");
    char *sub = NULL;
    size_t count = 0;
    int rc = encode_pieces(tok, body, body_len, false, &sub, &count, err);
    free(body);
    const char *p = sub;
    for (size_t k = 0; rc == ALBERT_OK && k < count; k++, p += strlen(p) + 1) {
        size_t plen = strlen(p);
        const char *q = p;
        /* A piece glued to what precedes it must not gain a word boundary. */
        if (k == 0 && !starts_with_underline(piece, len) && starts_with_underline(p, plen)) {
            q += SPIECE_UNDERLINE_LEN;
            plen -= SPIECE_UNDERLINE_LEN;
            if (plen == 0)
                continue;
        }
        rc = push_piece_id(tok, q, plen, ids, err);
    }
    free(sub);
    return rc == ALBERT_OK ? push_piece_id(tok, ",", 1, ids, err) : rc;
}

/* Whether PIECE, the first of text that continues the word cut before it,
 * is unknown right after an unknown piece: sentencepiece would have made the
 * two one unknown piece (tokenizer.h). */
static bool merges_with_unknown(const slow_tokenizer *tok, const char *piece, size_t len,
                                const id_sink *ids)
{
    return ids->last == tok->unk_id && spm_piece_to_id(tok->spm, piece, len) == tok->unk_id;
}

/* The sentencepiece pieces of NORM as ids, with the digit-comma rule;
 * MID_WORD: NORM continues a word cut before it. */
static int pieces_to_ids(const slow_tokenizer *tok, const char *norm, size_t norm_len,
                         bool mid_word, id_sink *ids, albert_error *err)
{
    char *pieces = NULL;
    size_t count = 0;
    int rc = encode_pieces(tok, norm, norm_len, mid_word, &pieces, &count, err);
    const char *p = pieces;
    for (size_t k = 0; rc == ALBERT_OK && k < count; k++, p += strlen(p) + 1) {
        size_t plen = strlen(p);
        if (k == 0 && mid_word && merges_with_unknown(tok, p, plen, ids))
            continue;
        rc = digit_comma_piece(p, plen) ? split_digit_comma(tok, p, plen, ids, err)
                                        : push_piece_id(tok, p, plen, ids, err);
    }
    free(pieces);
    return rc;
}

/* _tokenize on the code points V[0..N), appending ids to IDS; an empty
 * segment is skipped, as tokenize() skips it.  MID_WORD: V continues a word
 * cut before it. */
static int tokenize_segment(const slow_tokenizer *tok, const int32_t *v, size_t n,
                            bool mid_word, id_sink *ids, albert_error *err)
{
    if (n == 0)
        return ALBERT_OK;
    cp_buf cps = {0};
    if (!cp_append(&cps, v, n) || !preprocess(tok, &cps)) {
        free(cps.v);
        return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory preprocessing text");
    }
    char *norm = NULL;
    size_t norm_len = 0;
    int rc = utf8_encode(&cps, &norm, &norm_len, err);
    free(cps.v);
    if (rc == ALBERT_OK)
        rc = pieces_to_ids(tok, norm, norm_len, mid_word, ids, err);
    free(norm);
    return rc;
}

/* ------------------------------------------------------------ added tokens (tokenize) */

/* The index in ADDED_TOKENS of the token starting at V[I], or -1. */
static int added_at(const int32_t *v, size_t n, size_t i)
{
    for (size_t k = 0; k < N_ADDED; k++) {
        const added_token *t = &ADDED_TOKENS[k];
        size_t j = 0;
        while (j < t->len && i + j < n && v[i + j] == (unsigned char)t->text[j])
            j++;
        if (j == t->len)
            return (int)k;
    }
    return -1;
}

/* tokenize()'s do_lower_case step: re.sub lowers the text outside the added
 * tokens one character at a time, so a capital sigma never becomes final
 * and "<UNK>" turns into the added token "<unk>". */
static bool lower_outside_added(const cp_buf *in, cp_buf *out)
{
    for (size_t i = 0; i < in->n;) {
        int k = added_at(in->v, in->n, i);
        size_t len = k < 0 ? 1 : ADDED_TOKENS[k].len;
        if (!(k < 0 ? push_lower(out, in->v[i], false) : cp_append(out, in->v + i, len)))
            return false;
        i += len;
    }
    return true;
}

/* tokens_trie.split and the rest of tokenize(): added tokens become their
 * ids, an lstrip token rstrip()s the text before it, and each text between
 * them goes through _tokenize on its own.  MID_WORD: CPS continues a word
 * cut before it. */
static int split_on_added(const slow_tokenizer *tok, const cp_buf *cps, bool mid_word,
                          id_sink *ids, albert_error *err)
{
    size_t start = 0, i = 0;
    int rc = ALBERT_OK;
    while (rc == ALBERT_OK && i < cps->n) {
        int k = added_at(cps->v, cps->n, i);
        if (k < 0) {
            i++;
            continue;
        }
        size_t end = i;
        while (ADDED_TOKENS[k].lstrip && end > start && py_isspace(cps->v[end - 1]))
            end--;
        rc = tokenize_segment(tok, cps->v + start, end - start, mid_word && start == 0, ids, err);
        if (rc == ALBERT_OK)
            rc = id_sink_push(ids, tok->added_ids[k], err);
        start = i = i + ADDED_TOKENS[k].len;
    }
    return rc == ALBERT_OK ? tokenize_segment(tok, cps->v + start, cps->n - start,
                                              mid_word && start == 0, ids, err)
                           : rc;
}

/* ------------------------------------------------------------ chunks (tokenizer.h) */

/* Whether S[0..LEN) starts with a blank a chunk may start at; *K gets the
 * length of the character there (1 for an invalid byte: the decoder reports
 * it).  With remove_space any Python whitespace, as preprocessing makes
 * every run of it one space; without, only the ASCII blanks sentencepiece
 * turns into word boundaries itself (it drops a vertical tab, for one). */
static bool blank_at(const slow_tokenizer *tok, const char *s, size_t len, size_t *k)
{
    int32_t c = (unsigned char)s[0];
    const char *why;
    *k = 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return true;
    if (!tok->remove_space)
        return false;
    if (c >= 0x80 && (*k = text_utf8_next((const unsigned char *)s, len, &c, &why)) == 0) {
        *k = 1;
        return false;
    }
    return py_isspace(c);
}

/* The character starting at byte B of S[0..LEN), or -1. */
static int32_t char_at(const char *s, size_t len, size_t b)
{
    int32_t c;
    const char *why;
    return b < len && text_utf8_next((const unsigned char *)s + b, len - b, &c, &why) ? c : -1;
}

/* The character ending at byte B of S (after byte AT), or -1. */
static int32_t char_before(const char *s, size_t at, size_t b)
{
    size_t start = b - 1;
    while (start > at && b - start < 4 && ((unsigned char)s[start] & 0xc0) == 0x80)
        start--;
    int32_t c;
    const char *why;
    size_t k = text_utf8_next((const unsigned char *)s + start, b - start, &c, &why);
    return k == b - start ? c : -1;
}

static bool ascii_ieq(const char *s, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char a = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        char b = t[i] >= 'A' && t[i] <= 'Z' ? (char)(t[i] - 'A' + 'a') : t[i];
        if (a != b)
            return false;
    }
    return true;
}

/* Where an added token (in any case: lowercasing can make one) that
 * straddles byte B of S[0..LEN) starts, or B.  Tokens never overlap, so
 * at most one does. */
static size_t token_start(const char *s, size_t len, size_t at, size_t b)
{
    for (size_t back = 1; back < 6 && back < b - at; back++)
        for (size_t t = 0; t < N_ADDED; t++) {
            const added_token *a = &ADDED_TOKENS[t];
            size_t start = b - back;
            if (a->len > back && start + a->len <= len && ascii_ieq(s + start, a->text, a->len))
                return start;
        }
    return b;
}

static bool token_ends_at(const char *s, size_t at, size_t b)
{
    for (size_t t = 0; t < N_ADDED; t++)
        if (b - at >= ADDED_TOKENS[t].len &&
            ascii_ieq(s + b - ADDED_TOKENS[t].len, ADDED_TOKENS[t].text, ADDED_TOKENS[t].len))
            return true;
    return false;
}

/* How far back from the run limit a hard cut looks for two plain characters. */
#define CUT_SEARCH 64

/* A cut in the blank-free run S[AT..LIMIT), LIMIT < LEN: the last boundary
 * within CUT_SEARCH bytes of LIMIT between two plain characters, else LIMIT
 * moved back to a character boundary and off any added token.  *MID_WORD:
 * the text after the cut continues the word before it. */
static size_t hard_cut(const char *s, size_t len, size_t at, size_t limit, bool *mid_word)
{
    size_t stop = limit - at > CUT_SEARCH + 8 ? limit - CUT_SEARCH : at + 8;
    *mid_word = true;
    for (size_t b = limit; b > stop; b--)
        if (((unsigned char)s[b] & 0xc0) != 0x80 && text_plain_char(char_at(s, len, b)) &&
            text_plain_char(char_before(s, at, b)) && token_start(s, len, at, b) == b)
            return b;
    size_t cut = limit;
    for (int k = 0; k < 3 && ((unsigned char)s[cut] & 0xc0) == 0x80; k++)
        cut--;
    cut = token_start(s, len, at, cut);
    int32_t before = char_before(s, at, cut), after = char_at(s, len, cut);
    *mid_word = !token_ends_at(s, at, cut) && !(before >= 0 && py_isspace(before)) &&
                !(after >= 0 && py_isspace(after));
    return cut;
}

static bool slow_cut_point(const void *ctx, const char *s, size_t len, size_t i, size_t *step)
{
    return blank_at(ctx, s + i, len - i, step);
}

/* The end of the chunk of S[0..LEN) that starts at AT: a blank starts the
 * next chunk (text_chunk_end), else a hard cut (*MID_WORD set when the next
 * chunk continues a word). */
static size_t chunk_end(const slow_tokenizer *tok, const char *s, size_t len, size_t at,
                        bool *mid_word)
{
    *mid_word = false;
    size_t end = text_chunk_end(s, len, at, tok->chunk_bytes, tok->run_max, slow_cut_point, tok);
    return end ? end : hard_cut(s, len, at, at + tok->run_max, mid_word);
}

/* tokenize() on S[AT..END) of WHAT, appending to IDS; MID_WORD: the chunk
 * continues a word cut before it. */
static int tokenize_chunk(const slow_tokenizer *tok, const char *what, const char *s, size_t at,
                          size_t end, bool mid_word, id_sink *ids, albert_error *err)
{
    cp_buf cps = {0};
    int rc = utf8_decode(what, s + at, end - at, at, &cps, err);
    if (rc == ALBERT_OK && tok->do_lower_case && !run_pass(lower_outside_added, &cps))
        rc = albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory lowercasing %s", what);
    if (rc == ALBERT_OK)
        rc = split_on_added(tok, &cps, mid_word, ids, err);
    free(cps.v);
    return rc;
}

/* Appends the ids of one text (without [CLS]/[SEP] around it) to IDS,
 * chunk by chunk; an empty text has none. */
static int tokenize_one(const slow_tokenizer *tok, const char *what, const char *text,
                        size_t len, id_sink *ids, albert_error *err)
{
    int rc = ALBERT_OK;
    bool mid_word = false, next_mid_word;
    for (size_t at = 0, end; rc == ALBERT_OK && at < len; at = end, mid_word = next_mid_word) {
        end = chunk_end(tok, text, len, at, &next_mid_word);
        rc = tokenize_chunk(tok, what, text, at, end, mid_word, ids, err);
    }
    return rc;
}

void slow_set_chunking(slow_tokenizer *tok, size_t chunk_bytes, size_t run_max_bytes)
{
    if (tok->chunks)
        text_chunk_limits(chunk_bytes, run_max_bytes, &tok->chunk_bytes, &tok->run_max);
}

bool slow_chunks(const slow_tokenizer *tok) { return tok->chunks; }

/* Appends the ids of TEXT (no special tokens around it) to IDS. */
int slow_encode(const slow_tokenizer *tok, const char *what, const char *text, size_t len,
                id_sink *ids, albert_error *err)
{
    return tokenize_one(tok, what, text, len, ids, err);
}

/* ------------------------------------------------------------ open / close */

static int load_config(slow_tokenizer *tok, const char *dir, albert_error *err)
{
    char path[4096];
    albert_path_join(path, sizeof path, dir, "tokenizer_config.json");
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return ALBERT_OK; /* optional: HF's defaults apply (it skips a folder so named) */
    cJSON *root;
    int rc = albert_json_load(path, &root, err);
    json_at at = {path, ""}; /* null or absent: HF's default stays */
    if (rc == ALBERT_OK)
        rc = json_bool(root, "do_lower_case", &at, &tok->do_lower_case, err);
    if (rc == ALBERT_OK)
        rc = json_bool(root, "remove_space", &at, &tok->remove_space, err);
    if (rc == ALBERT_OK)
        rc = json_bool(root, "keep_accents", &at, &tok->keep_accents, err);
    cJSON_Delete(root);
    return rc;
}

/* The ids of the added tokens, as HF's added_tokens_encoder has them: the
 * vocabulary's own (a piece the model lacks maps to the unknown id). */
static int load_added_ids(slow_tokenizer *tok, const char *path, albert_error *err)
{
    for (size_t k = 0; k < N_ADDED; k++) {
        int id = spm_piece_to_id(tok->spm, ADDED_TOKENS[k].text, ADDED_TOKENS[k].len);
        if (id < 0)
            return albert_fail(err, ALBERT_E_FORMAT, "%s: cannot look up %s", path,
                               ADDED_TOKENS[k].text);
        tok->added_ids[k] = id;
    }
    return ALBERT_OK;
}

static int load_model(slow_tokenizer *tok, const char *dir, albert_error *err)
{
    char path[4096];
    albert_path_join(path, sizeof path, dir, "spiece.model");
    char *data = NULL;
    size_t size = 0;
    int rc = albert_read_file(path, &data, &size, err);
    if (rc != ALBERT_OK)
        return rc;
    char msg[256] = "";
    rc = spm_load(data, size, &tok->spm, msg, sizeof msg);
    free(data);
    if (rc == SPM_E_NOMEM)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory loading the model", path);
    if (rc != SPM_OK)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: not a sentencepiece model: %s", path, msg);
    /* The special-token ids are fixed in the API; a model that places them
     * elsewhere would silently produce wrong inputs. */
    if (spm_piece_to_id(tok->spm, "[CLS]", 5) != ALBERT_CLS_ID ||
        spm_piece_to_id(tok->spm, "[SEP]", 5) != ALBERT_SEP_ID)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: [CLS] and [SEP] are not ids %d and %d", path,
                           ALBERT_CLS_ID, ALBERT_SEP_ID);
    return load_added_ids(tok, path, err);
}

/* Whether long texts may be cut into chunks (tokenizer.h), and the unknown
 * id that chunks continuing a word need. */
static int check_chunking(slow_tokenizer *tok, const char *dir, albert_error *err)
{
    int splits = spm_splits_at_blanks(tok->spm);
    tok->unk_id = spm_unk_id(tok->spm);
    if (splits < 0 || tok->unk_id < 0)
        return albert_fail(err, ALBERT_E_NOMEM, "%s/spiece.model: out of memory probing the model",
                           dir);
    tok->chunks = splits == 1;
    tok->chunk_bytes = tok->chunks ? ALBERT_TOK_CHUNK_BYTES : SIZE_MAX;
    tok->run_max = tok->chunks ? ALBERT_TOK_RUN_MAX_BYTES : SIZE_MAX;
    return ALBERT_OK;
}

int slow_open(const char *dir, slow_tokenizer **out, albert_error *err)
{
    if (!dir || !out)
        return albert_fail(err, ALBERT_E_ARG, "albert_tokenizer_open: dir and out must be set");
    *out = NULL;
    slow_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_tokenizer_open: out of memory");
    tok->do_lower_case = true;
    tok->remove_space = true;
    tok->keep_accents = false;
    int rc = load_model(tok, dir, err);
    if (rc == ALBERT_OK)
        rc = load_config(tok, dir, err);
    if (rc == ALBERT_OK)
        rc = check_chunking(tok, dir, err);
    if (rc != ALBERT_OK) {
        slow_close(tok);
        return rc;
    }
    *out = tok;
    return albert_ok(err);
}

int slow_piece(const slow_tokenizer *tok, int32_t id, char *dst, size_t size)
{
    return spm_id_to_piece(tok->spm, id, dst, size) == 0 ? 0 : -1;
}

void slow_close(slow_tokenizer *tok)
{
    if (!tok)
        return;
    spm_free(tok->spm);
    free(tok);
}
