/* tokenizer.json's normalizers (normalizer.h).  Each step reads one UTF-8
 * buffer and writes the next, as HF tokenizers' NormalizedString does
 * (without the alignments: albert-cl needs no offsets). */
#include "tokenizer/normalizer.h"
#include "core/common.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/unicode9.h"

#include <oniguruma.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef enum nz_kind {
    NZ_REPLACE_STRING,
    NZ_REPLACE_REGEX,
    NZ_UNICODE, /* NFD, NFKD, NFC, NFKC: utf8proc options in .unicode */
    NZ_STRIP_ACCENTS,
    NZ_LOWERCASE,
    NZ_PRECOMPILED
} nz_kind;

/* sentencepiece's precompiled_charsmap: a darts-clone double-array trie over
 * UTF-8 bytes whose values are offsets of NUL-terminated replacements. */
typedef struct charsmap {
    uint32_t *units;
    size_t n_units;
    char *replacements;
    size_t replacements_len;
} charsmap;

struct nz_step {
    nz_kind kind;
    char *pattern, *content; /* Replace */
    size_t pattern_len, content_len;
    OnigRegex regex;         /* Replace with a Regex pattern */
    utf8proc_option_t unicode;
    charsmap map;
};

/* ------------------------------------------------------------ start tracking */

/* The Metaspace "first" scheme asks whether a piece's first normalized
 * character sits at the start of the text, as HF's alignments place it.
 * Each output character of a step takes the alignment of one input
 * character, its source; IN_Z input characters sit at the start, so the
 * output has OUT_Z such characters: those whose source is below IN_Z. */
typedef struct start_count {
    bool on;
    size_t in_z, out_z;
} start_count;

static void count_from(start_count *sc, size_t source, size_t chars)
{
    if (sc->on && source < sc->in_z)
        sc->out_z += chars;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xc0) != 0x80;
    return count;
}

/* Input bytes [A, B) copied as they are: each character is its own source.
 * *CI: the index of the character at A, moved past B. */
static void count_copied(start_count *sc, const char *s, size_t a, size_t b, size_t *ci)
{
    size_t n = utf8_chars(s + a, b - a);
    if (sc->on && *ci < sc->in_z)
        sc->out_z += sc->in_z - *ci < n ? sc->in_z - *ci : n;
    *ci += n;
}

/* ------------------------------------------------------------ Replace */

/* A match S[MS..ME) replaced by the step's content, whose characters all
 * take the alignment of the match's last character (HF's replace), or the
 * text's start when the match is empty at 0. */
static bool put_match(const nz_step *st, const str_buf *in, size_t from, size_t ms, size_t me,
                      str_buf *out, start_count *sc, size_t *ci)
{
    count_copied(sc, in->p, from, ms, ci);
    *ci += utf8_chars(in->p + ms, me - ms);
    count_from(sc, *ci ? *ci - 1 : 0, utf8_chars(st->content, st->content_len));
    return str_append(out, in->p + from, ms - from) &&
           str_append(out, st->content, st->content_len);
}

static bool put_rest(const str_buf *in, size_t from, str_buf *out, start_count *sc, size_t *ci)
{
    count_copied(sc, in->p, from, in->n, ci);
    return str_append(out, in->p + from, in->n - from);
}

static bool replace_string(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    size_t i = 0, from = 0, ci = 0;
    while (i + st->pattern_len <= in->n) {
        if (memcmp(in->p + i, st->pattern, st->pattern_len) != 0) {
            i++;
            continue;
        }
        if (!put_match(st, in, from, i, i + st->pattern_len, out, sc, &ci))
            return false;
        i += st->pattern_len;
        from = i;
    }
    return put_rest(in, from, out, sc, &ci);
}

/* The onig crate's find_iter, which HF tokenizers uses: non-overlapping
 * matches left to right; an empty match right where the previous match
 * ended is skipped by moving on one character.  -2: the search failed (a
 * match limit), where HF panics. */
static int replace_regex(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    OnigRegion *region = onig_region_new();
    if (!region)
        return false;
    const UChar *s = (const UChar *)in->p, *end = s + in->n;
    size_t from = 0, search = 0, last_end = SIZE_MAX, ci = 0;
    bool ok = true;
    while (ok && in->n > 0 && search <= in->n) {
        onig_region_clear(region);
        int at = onig_search(st->regex, s, end, s + search, end, region, ONIG_OPTION_NONE);
        if (at == ONIG_MISMATCH)
            break;
        if (at < 0) {
            onig_region_free(region, 1);
            return at == ONIGERR_MEMORY ? 0 : -2;
        }
        size_t ms = (size_t)region->beg[0], me = (size_t)region->end[0];
        if (ms == me && last_end == me) {
            size_t k = search;
            if (search >= in->n)
                break;
            text_cp_at(in->p, &k);
            search = k;
            continue;
        }
        ok = put_match(st, in, from, ms, me, out, sc, &ci);
        from = search = last_end = me;
    }
    onig_region_free(region, 1);
    return ok && put_rest(in, from, out, sc, &ci);
}

/* ------------------------------------------------------------ Unicode */

/* Whether C is unknown to HF's Unicode 9.0 tables (unicode9.h). */
static bool after_unicode9(int32_t c)
{
    size_t lo = 0, hi = UNICODE9_LATER_COUNT;
    if (c < UNICODE9_LATER[0].lo)
        return false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c > UNICODE9_LATER[mid].hi)
            lo = mid + 1;
        else if (c < UNICODE9_LATER[mid].lo)
            hi = mid;
        else
            return true;
    }
    return false;
}

static bool map_run(const nz_step *st, const char *s, size_t n, str_buf *out)
{
    if (n == 0)
        return true;
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &mapped,
                                      st->unicode);
    bool ok = m >= 0 && str_append(out, (const char *)mapped, (size_t)m);
    free(mapped);
    return ok;
}

/* S[0..N) in the step's normal form, appended to OUT; a code point HF's
 * tables do not know stays as it is and ends the run before it (to HF it
 * is a starter that composes with nothing). */
static bool normal_form(const nz_step *st, const char *s, size_t n, str_buf *out)
{
    for (size_t run = 0, i = 0; run < n; run = i) {
        size_t at = run; /* the run is [run, at), then [at, i) unknown, or the end */
        for (i = run; i < n; at = i)
            if (after_unicode9(text_cp_at(s, &i)))
                break;
        if (!map_run(st, s + run, at - run, out) || !str_append(out, s + at, i - at))
            return false;
    }
    return true;
}

/* The start's characters become those of the start's own normal form. */
static bool unicode_form(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    if (!normal_form(st, in->p, in->n, out))
        return false;
    if (!sc->on || sc->in_z == 0)
        return true;
    size_t b = 0;
    for (size_t ci = 0; b < in->n && ci < sc->in_z; ci++)
        text_cp_at(in->p, &b);
    str_buf start = {0};
    bool ok = normal_form(st, in->p, b, &start);
    sc->out_z = utf8_chars(start.p, start.n);
    free(start.p);
    return ok;
}

/* Drops General_Category Mark (Mn, Mc, Me) as of Unicode 9.0, as
 * unicode-normalization's is_combining_mark does. */
static bool strip_accents(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    (void)st;
    for (size_t i = 0, at, ci = 0; i < in->n; ci++) {
        at = i;
        int32_t c = text_cp_at(in->p, &i);
        utf8proc_category_t cat = utf8proc_category(c);
        if ((cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
             cat == UTF8PROC_CATEGORY_ME) && !after_unicode9(c))
            continue;
        count_from(sc, ci, 1);
        if (!str_append(out, in->p + at, i - at))
            return false;
    }
    return true;
}

/* Rust's char::to_lowercase, character by character (no final sigma): the
 * simple mapping, except U+0130, the one character with a longer one. */
static bool lowercase(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    (void)st;
    for (size_t i = 0, ci = 0; i < in->n; ci++) {
        int32_t c = text_cp_at(in->p, &i);
        count_from(sc, ci, c == 0x130 ? 2 : 1);
        bool ok = c == 0x130 ? str_append(out, "i\xcc\x87", 3)
                             : str_push_cp(out, utf8proc_tolower(c));
        if (!ok)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ Precompiled */

static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xff); }
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }

/* spm_precompiled's transform: the replacement of the SHORTEST prefix of
 * KEY[0..LEN) the trie holds, or NULL.  Out-of-range positions (a corrupt
 * map) end the walk. */
static const char *charsmap_lookup(const charsmap *m, const char *key, size_t len)
{
    size_t pos = unit_offset(m->units[0]);
    for (size_t i = 0; i < len && key[i]; i++) {
        unsigned char c = (unsigned char)key[i];
        pos ^= c;
        if (pos >= m->n_units || unit_label(m->units[pos]) != c)
            return NULL;
        bool leaf = unit_has_leaf(m->units[pos]);
        pos ^= unit_offset(m->units[pos]);
        if (leaf) {
            /* Each NUL-ended replacement is valid UTF-8 (checked at open), so
             * one that starts on a character boundary is too; any other
             * value is corrupt (HF panics) and maps nothing. */
            size_t value = pos < m->n_units ? (m->units[pos] & 0x7fffffffu) : SIZE_MAX;
            bool ok = value < m->replacements_len &&
                      ((unsigned char)m->replacements[value] & 0xc0) != 0x80;
            return ok ? m->replacements + value : NULL;
        }
    }
    return NULL;
}

/* Where Precompiled's output characters take their alignments from, as
 * HF's transform does the bookkeeping: each one that replaces an input
 * character takes the next unconsumed input character's, an added one the
 * last consumed one's; a deletion is charged to the previous output
 * character, and lost when there is none yet (every later source then lags
 * behind by it). */
typedef struct map_sources {
    start_count *sc;
    size_t consumed;
    bool any_out;
} map_sources;

static void map_sources_add(map_sources *ms, size_t old_chars, size_t new_chars)
{
    if (!ms->sc->on)
        return;
    if (new_chars == 0) {
        ms->consumed += ms->any_out ? old_chars : 0;
        return;
    }
    size_t replacing = new_chars < old_chars ? new_chars : old_chars;
    for (size_t k = 0; k < replacing; k++)
        count_from(ms->sc, ms->consumed++, 1);
    if (new_chars > old_chars)
        count_from(ms->sc, ms->consumed ? ms->consumed - 1 : 0, new_chars - old_chars);
    else
        ms->consumed += old_chars - new_chars;
    ms->any_out = true;
}

/* Appends KEY[0..LEN) mapped, or as it is; 0 when out of memory, 1 done,
 * 2 (WHOLE only) not in the map. */
static int map_part(const charsmap *m, const char *key, size_t len, bool whole, str_buf *out,
                    map_sources *ms)
{
    const char *r = charsmap_lookup(m, key, len);
    if (!r && whole)
        return 2;
    size_t rlen = r ? strlen(r) : len;
    map_sources_add(ms, utf8_chars(key, len), r ? utf8_chars(r, rlen) : utf8_chars(key, len));
    return str_append(out, r ? r : key, rlen);
}

/* The extended grapheme cluster of IN starting at byte AT: its end. */
static size_t grapheme_end(const str_buf *in, size_t at, utf8proc_int32_t *state)
{
    size_t i = at;
    int32_t c = text_cp_at(in->p, &i);
    while (i < in->n) {
        size_t j = i;
        int32_t next = text_cp_at(in->p, &j);
        if (utf8proc_grapheme_break_stateful(c, next, state))
            break;
        c = next;
        i = j;
    }
    return i;
}

/* HF's Precompiled normalizer: a grapheme of under 6 bytes is replaced
 * whole when a prefix of it is in the map, else each character is looked up
 * alone ("Yes, this is weird ... No, I don't know why Google did this"). */
static int precompiled(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    utf8proc_int32_t state = 0;
    map_sources ms = {sc, 0, false};
    for (size_t at = 0; at < in->n;) {
        size_t end = grapheme_end(in, at, &state);
        int r = end - at < 6 ? map_part(&st->map, in->p + at, end - at, true, out, &ms) : 2;
        for (size_t i = at, k; r == 2 && i < end; i = k) {
            k = i;
            text_cp_at(in->p, &k);
            int one = map_part(&st->map, in->p + i, k - i, false, out, &ms);
            if (one != 1)
                return one;
        }
        if (r == 0)
            return r;
        at = end;
    }
    return 1;
}

/* ------------------------------------------------------------ apply */

static int run_step(const nz_step *st, const str_buf *in, str_buf *out, start_count *sc)
{
    switch (st->kind) {
    case NZ_REPLACE_STRING: return replace_string(st, in, out, sc);
    case NZ_REPLACE_REGEX: return replace_regex(st, in, out, sc);
    case NZ_UNICODE: return unicode_form(st, in, out, sc);
    case NZ_STRIP_ACCENTS: return strip_accents(st, in, out, sc);
    case NZ_LOWERCASE: return lowercase(st, in, out, sc);
    case NZ_PRECOMPILED: return precompiled(st, in, out, sc);
    }
    return 0;
}

int normalizer_apply(const normalizer *nz, str_buf *s, str_buf *tmp, size_t *start_chars,
                     albert_error *err)
{
    for (size_t k = 0; k < nz->n; k++) {
        start_count sc = {start_chars && *start_chars > 0, start_chars ? *start_chars : 0, 0};
        tmp->n = 0;
        int r = run_step(&nz->steps[k], s, tmp, &sc);
        if (start_chars)
            *start_chars = sc.out_z;
        if (r == -2)
            return albert_fail(err, ALBERT_E_INPUT,
                               "tokenize: tokenizer.json's normalizer.normalizers[%zu] regex "
                               "failed on this text (a match limit)",
                               k);
        if (r == 0)
            return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory normalizing text");
        str_buf t = *s;
        *s = *tmp;
        *tmp = t;
    }
    return ALBERT_OK;
}

/* ------------------------------------------------------------ parse */

/* Oniguruma's encoding tables are process-wide: set up once; and onig_new
 * and onig_free are not safe to call from two threads at once (the onig
 * crate HF uses holds a lock around them too).  Searches need neither. */
static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t onig_lock = PTHREAD_MUTEX_INITIALIZER;
static int onig_init_rc;

static void onig_setup(void)
{
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_init_rc = onig_initialize(encodings, 1);
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int compile_regex(nz_step *st, const char *pattern, const json_at *at, albert_error *err)
{
    pthread_once(&onig_once, onig_setup);
    OnigErrorInfo info;
    int rc = onig_init_rc;
    if (rc == ONIG_NORMAL) {
        pthread_mutex_lock(&onig_lock);
        rc = onig_new(&st->regex, (const UChar *)pattern, (const UChar *)pattern + strlen(pattern),
                      ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
        pthread_mutex_unlock(&onig_lock);
    }
    if (rc == ONIGERR_MEMORY)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory compiling %s.pattern.Regex",
                           at->file, at->path);
    if (rc != ONIG_NORMAL) {
        UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, rc, &info);
        return albert_fail(err, ALBERT_E_FORMAT, "%s: %s.pattern.Regex \"%.64s\": %s", at->file,
                           at->path, pattern, (const char *)msg);
    }
    return ALBERT_OK;
}

/* Replace: {"pattern": {"String": s} | {"Regex": r}, "content": c}. */
static int parse_replace(const cJSON *j, const json_at *at, nz_step *st, albert_error *err)
{
    const cJSON *pattern;
    const char *content, *text;
    int rc = json_object(j, "pattern", at, &pattern, err);
    if (rc == ALBERT_OK)
        rc = json_string(j, "content", at, &content, err);
    if (rc != ALBERT_OK)
        return rc;
    char path[256];
    json_path(path, sizeof path, at->path, "pattern", 0);
    json_at in = {at->file, path};
    bool regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex") != NULL;
    rc = json_string(pattern, regex ? "Regex" : "String", &in, &text, err);
    if (rc == ALBERT_OK && !regex && !*text)
        return json_unsupported(&in, "String", "", "an empty pattern", err);
    albert_error bad;
    if (rc == ALBERT_OK && text_check_utf8("", text, strlen(text), 0, &bad) != ALBERT_OK)
        return json_type_error(&in, regex ? "Regex" : "String", "valid UTF-8", err);
    if (rc == ALBERT_OK && text_check_utf8("", content, strlen(content), 0, &bad) != ALBERT_OK)
        return json_type_error(at, "content", "valid UTF-8", err);
    st->kind = regex ? NZ_REPLACE_REGEX : NZ_REPLACE_STRING;
    st->pattern_len = rc == ALBERT_OK ? strlen(text) : 0;
    st->content_len = rc == ALBERT_OK ? strlen(content) : 0;
    if (rc == ALBERT_OK && (!(st->pattern = dup_bytes(text, st->pattern_len)) ||
                            !(st->content = dup_bytes(content, st->content_len))))
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory reading %s", at->file, at->path);
    return rc == ALBERT_OK && regex ? compile_regex(st, text, at, err) : rc;
}

/* Valid UTF-8 between the NULs of the replacements blob, as Rust's
 * String::from_utf8 requires of all of it. */
static bool replacements_valid(const char *p, size_t n)
{
    albert_error ignored;
    for (size_t at = 0; at < n;) {
        size_t len = strnlen(p + at, n - at);
        if (text_check_utf8("", p + at, len, 0, &ignored) != ALBERT_OK)
            return false;
        at += len + 1;
    }
    return true;
}

/* Precompiled: {"precompiled_charsmap": base64 of [u32 trie bytes][trie][replacements]}. */
static int parse_precompiled(const cJSON *j, const json_at *at, nz_step *st, albert_error *err)
{
    const char *b64;
    int rc = json_string(j, "precompiled_charsmap", at, &b64, err);
    if (rc != ALBERT_OK)
        return rc;
    size_t len = strlen(b64), n = 0;
    unsigned char *bin = malloc(len / 4 * 3 + 3);
    if (!bin)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory reading %s", at->file, at->path);
    uint32_t trie_bytes = 0;
    bool ok = sodium_base642bin(bin, len / 4 * 3 + 3, b64, len, NULL, &n, NULL,
                                sodium_base64_VARIANT_ORIGINAL) == 0 && n >= 4;
    if (ok) {
        trie_bytes = (uint32_t)bin[0] | (uint32_t)bin[1] << 8 | (uint32_t)bin[2] << 16 |
                     (uint32_t)bin[3] << 24;
        ok = trie_bytes >= 4 && trie_bytes % 4 == 0 && trie_bytes <= n - 4;
    }
    charsmap *m = &st->map;
    m->n_units = ok ? trie_bytes / 4 : 0;
    m->replacements_len = ok ? n - 4 - trie_bytes : 0;
    m->units = ok ? malloc(m->n_units * sizeof *m->units) : NULL;
    m->replacements =
        ok ? dup_bytes((const char *)bin + 4 + trie_bytes, m->replacements_len) : NULL;
    if (ok && (!m->units || !m->replacements))
        rc = albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory reading %s", at->file, at->path);
    for (size_t u = 0; rc == ALBERT_OK && ok && u < m->n_units; u++) {
        const unsigned char *b = bin + 4 + 4 * u;
        m->units[u] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 24;
    }
    free(bin);
    if (rc == ALBERT_OK && (!ok || !replacements_valid(m->replacements, m->replacements_len)))
        rc = json_type_error(at, "precompiled_charsmap",
                             "base64 of a sentencepiece character map", err);
    st->kind = NZ_PRECOMPILED;
    return rc;
}

/* ------------------------------------------------------------ cut safety */

/* Whether no character of S[0..N) is an ASCII space, letter or digit: a
 * Replace of such strings cannot reach across a cut (normalizer.h). */
static bool no_blank_or_alnum(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || text_ascii_alnum(s[i]))
            return false;
    return true;
}

/* Whether no character of S[0..N) is one a hard cut may sit between. */
static bool no_plain_char(const char *s, size_t n)
{
    for (size_t i = 0; i < n;)
        if (text_plain_char(text_cp_at(s, &i)))
            return false;
    return true;
}

/* Whether the map leaves a space a space and never gives an ASCII letter
 * or digit a space. */
static bool map_cut_safe(const charsmap *m)
{
    const char *r = charsmap_lookup(m, " ", 1);
    if (r && strcmp(r, " ") != 0)
        return false;
    for (int c = '0'; c <= 'z'; c++) {
        char key = (char)c;
        r = text_ascii_alnum(key) ? charsmap_lookup(m, &key, 1) : NULL;
        if (r && strchr(r, ' '))
            return false;
    }
    return true;
}

static bool step_cut_safe(const nz_step *st)
{
    switch (st->kind) {
    case NZ_REPLACE_STRING:
        return no_blank_or_alnum(st->pattern, st->pattern_len) &&
               no_blank_or_alnum(st->content, st->content_len);
    case NZ_REPLACE_REGEX:
        /* Runs of spaces made one: the run starts where the cut is. */
        return (strcmp(st->pattern, " {2,}") == 0 || strcmp(st->pattern, " +") == 0) &&
               strcmp(st->content, " ") == 0;
    case NZ_PRECOMPILED: return map_cut_safe(&st->map);
    default: return true;
    }
}

/* ------------------------------------------------------------ steps */

static const struct {
    const char *type;
    nz_kind kind;
    utf8proc_option_t unicode;
} SIMPLE[] = {
    {"NFD", NZ_UNICODE, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE},
    {"NFKD", NZ_UNICODE, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT},
    {"NFC", NZ_UNICODE, UTF8PROC_STABLE | UTF8PROC_COMPOSE},
    {"NFKC", NZ_UNICODE, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT},
    {"StripAccents", NZ_STRIP_ACCENTS, 0},
    {"Lowercase", NZ_LOWERCASE, 0},
};

#define SUPPORTED "Sequence, Replace, NFD, NFKD, NFC, NFKC, StripAccents, Lowercase, Precompiled"

static int parse_step(const cJSON *j, const json_at *at, nz_step *st, albert_error *err)
{
    const char *type;
    int rc = json_type_of(j, at, &type, err);
    if (rc != ALBERT_OK)
        return rc;
    for (size_t k = 0; k < sizeof SIMPLE / sizeof SIMPLE[0]; k++)
        if (strcmp(type, SIMPLE[k].type) == 0) {
            st->kind = SIMPLE[k].kind;
            st->unicode = SIMPLE[k].unicode;
            return ALBERT_OK;
        }
    if (strcmp(type, "Replace") == 0)
        return parse_replace(j, at, st, err);
    if (strcmp(type, "Precompiled") == 0)
        return parse_precompiled(j, at, st, err);
    return json_unsupported(at, "type", type, "albert-cl implements " SUPPORTED, err);
}

static void free_step(nz_step *st)
{
    free(st->pattern);
    free(st->content);
    if (st->regex) {
        pthread_mutex_lock(&onig_lock);
        onig_free(st->regex);
        pthread_mutex_unlock(&onig_lock);
    }
    free(st->map.units);
    free(st->map.replacements);
}

void normalizer_free(normalizer *nz)
{
    for (size_t k = 0; nz && k < nz->n; k++)
        free_step(&nz->steps[k]);
    if (nz) {
        free(nz->steps);
        memset(nz, 0, sizeof *nz);
    }
}

/* The steps J stands for: J itself, or the members of a Sequence (nested
 * Sequences are not). */
static int parse_steps(const cJSON *j, const json_at *at, normalizer *nz, albert_error *err)
{
    const char *type;
    const cJSON *list = NULL;
    int rc = json_type_of(j, at, &type, err);
    if (rc == ALBERT_OK && strcmp(type, "Sequence") == 0)
        rc = json_array(j, "normalizers", at, &list, err);
    if (rc != ALBERT_OK)
        return rc;
    size_t n = list ? (size_t)cJSON_GetArraySize(list) : 1;
    nz->steps = calloc(n ? n : 1, sizeof *nz->steps);
    if (!nz->steps)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory reading normalizer", at->file);
    if (!list) {
        nz->n = 1;
        return parse_step(j, at, &nz->steps[0], err);
    }
    int i = 0;
    for (const cJSON *item = list->child; rc == ALBERT_OK && item; item = item->next, i++) {
        char path[64];
        json_path(path, sizeof path, "normalizer.normalizers", NULL, i);
        json_at in = {at->file, path};
        nz->n = (size_t)i + 1;
        rc = parse_step(item, &in, &nz->steps[i], err);
    }
    return rc;
}

int normalizer_parse(const cJSON *j, const char *file, normalizer *nz, albert_error *err)
{
    memset(nz, 0, sizeof *nz);
    nz->cut_safe = nz->hard_cut_safe = true;
    if (!j || cJSON_IsNull(j))
        return ALBERT_OK;
    json_at at = {file, "normalizer"};
    int rc = parse_steps(j, &at, nz, err);
    for (size_t k = 0; rc == ALBERT_OK && k < nz->n; k++) {
        const nz_step *st = &nz->steps[k];
        nz->cut_safe = nz->cut_safe && step_cut_safe(st);
        nz->hard_cut_safe = nz->hard_cut_safe && (st->kind != NZ_REPLACE_STRING ||
                                                  no_plain_char(st->pattern, st->pattern_len));
    }
    return rc;
}
