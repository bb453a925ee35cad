#include "tokenizer/text.h"
#include "core/common.h"
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Grows *V (elements of SIZE bytes) to hold at least NEED; false when out of
 * memory. */
bool text_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *bigger = realloc(*v, cap2 * size);
    if (!bigger)
        return false;
    *v = bigger;
    *cap = cap2;
    return true;
}

size_t text_utf8_next(const unsigned char *s, size_t len, int32_t *cp, const char **why)
{
    unsigned char b = s[0];
    size_t need;
    int32_t c, min;
    if (b == 0) {
        *why = "NUL byte";
        return 0;
    }
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b < 0xc0) {
        *why = "unexpected continuation byte";
        return 0;
    } else if (b < 0xe0) {
        need = 2, c = b & 0x1f, min = 0x80;
    } else if (b < 0xf0) {
        need = 3, c = b & 0x0f, min = 0x800;
    } else if (b < 0xf8) {
        need = 4, c = b & 0x07, min = 0x10000;
    } else {
        *why = "invalid lead byte";
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= len || (s[i] & 0xc0) != 0x80) {
            *why = "truncated sequence";
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min)
        *why = "overlong encoding";
    else if (c >= 0xd800 && c <= 0xdfff)
        *why = "surrogate code point";
    else if (c > 0x10ffff)
        *why = "code point above U+10FFFF";
    else {
        *cp = c;
        return need;
    }
    return 0;
}

int text_check_utf8(const char *what, const char *s, size_t len, size_t base, albert_error *err)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        int32_t c = 0;
        const char *why = "";
        size_t k = u[i] < 0x80 && u[i] ? 1 : text_utf8_next(u + i, len - i, &c, &why);
        if (k == 0)
            return albert_fail(err, ALBERT_E_INPUT, "tokenize: %s: invalid UTF-8 at byte %zu: %s",
                               what, base + i, why);
        i += k;
    }
    return ALBERT_OK;
}

bool text_in_ranges(int32_t c, const cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return true;
    return false;
}

int id_sink_push(id_sink *ids, int32_t id, albert_error *err)
{
    if (ids->n < ids->cap) {
        if (!text_grow((void **)&ids->v, &ids->alloc, ids->n + 1, sizeof *ids->v))
            return albert_fail(err, ALBERT_E_NOMEM, "tokenize: out of memory storing ids");
        ids->v[ids->n++] = id;
    } else if (ids->keep_last && ids->cap) {
        ids->v[ids->head] = id; /* over the oldest */
        ids->head = (ids->head + 1) % ids->cap;
    }
    ids->total++;
    ids->last = id;
    return ALBERT_OK;
}

int32_t id_sink_at(const id_sink *ids, size_t i)
{
    return ids->v[(ids->head + i) % ids->n];
}

void text_chunk_limits(size_t chunk_bytes, size_t run_max_bytes, size_t *chunk, size_t *run_max)
{
    *chunk = chunk_bytes ? chunk_bytes : 1;
    *run_max = run_max_bytes < ALBERT_TOK_RUN_MIN_BYTES ? ALBERT_TOK_RUN_MIN_BYTES : run_max_bytes;
    if (*run_max < *chunk)
        *run_max = *chunk;
}

bool str_append(str_buf *s, const char *p, size_t n)
{
    if (n == 0)
        return true; /* S may have no buffer yet */
    if (!text_grow((void **)&s->p, &s->cap, s->n + n, 1))
        return false;
    memcpy(s->p + s->n, p, n);
    s->n += n;
    return true;
}

bool str_push_cp(str_buf *s, int32_t c)
{
    if (!text_grow((void **)&s->p, &s->cap, s->n + 4, 1))
        return false;
    s->n += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)s->p + s->n);
    return true;
}

/* Letters and digits a hard cut may sit between without changing how
 * either is preprocessed: no modifier letter (the final-sigma rule looks
 * through those), no capital sigma, no Hangul jamo (NFKC composes them). */
bool text_plain_char(int32_t c)
{
    static const cp_range jamo[] = {
        {0x1100, 0x11ff}, {0x3130, 0x318f}, {0xa960, 0xa97f}, {0xd7b0, 0xd7ff}, {0xffa0, 0xffdc}};
    if (c < 0 || c == 0x3a3 || IN_RANGES(c, jamo))
        return false;
    switch (utf8proc_get_property(c)->category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return true;
    default: return false;
    }
}


size_t text_chunk_end(const char *s, size_t len, size_t at, size_t chunk_bytes, size_t run_max,
                      text_cut_point_fn cut_point, const void *ctx)
{
    if (len - at <= chunk_bytes)
        return len;
    size_t soft = at + chunk_bytes, limit = len - at <= run_max ? len : at + run_max;
    size_t last = 0, k;
    for (size_t i = at + 1; i < limit; i += k) {
        if (i > soft && last)
            return last;
        if (cut_point(ctx, s, len, i, &k)) {
            if (i > soft)
                return i;
            last = i;
        }
    }
    return last ? last : limit == len ? len : 0;
}
