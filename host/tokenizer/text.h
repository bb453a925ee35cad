/* What both tokenizer kinds share: strict UTF-8 decoding, growable arrays
 * and the sink that collects a text's ids. */
#ifndef ALBERT_TOKENIZER_TEXT_H
#define ALBERT_TOKENIZER_TEXT_H

#include "albert_cl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Grows *V (elements of SIZE bytes) to hold at least NEED; false when out of
 * memory. */
bool text_grow(void **v, size_t *cap, size_t need, size_t size);

/* Decodes one strictly valid UTF-8 sequence at S[0..LEN) into *CP; returns
 * its byte length, or 0 with *WHY set (overlong forms, surrogates, values
 * past U+10FFFF and NUL are all rejected, as Python's decoder would, NUL
 * because the C API cannot carry it through the tokenizers). */
size_t text_utf8_next(const unsigned char *s, size_t len, int32_t *cp, const char **why);

/* ALBERT_E_INPUT naming WHAT and the byte (counted from BASE) where S[0..LEN)
 * is not strictly valid UTF-8. */
int text_check_utf8(const char *what, const char *s, size_t len, size_t base, albert_error *err);

/* albert_tokenizer_set_chunking's rules (tokenizer.h): the run limit at
 * least ALBERT_TOK_RUN_MIN_BYTES and CHUNK_BYTES, the chunk at least 1. */
void text_chunk_limits(size_t chunk_bytes, size_t run_max_bytes, size_t *chunk, size_t *run_max);

/* A growable UTF-8 string (not NUL-terminated). */
typedef struct str_buf {
    char *p;
    size_t n, cap;
} str_buf;

bool str_append(str_buf *s, const char *p, size_t n);
bool str_push_cp(str_buf *s, int32_t c);

/* The code point at S[*I] of valid UTF-8, *I moved past it. */
static inline int32_t text_cp_at(const char *s, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    if (u[0] < 0x80) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xe0) {
        *i += 2;
        return ((u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    }
    if (u[0] < 0xf0) {
        *i += 3;
        return ((u[0] & 0x0f) << 12) | ((u[1] & 0x3f) << 6) | (u[2] & 0x3f);
    }
    *i += 4;
    return ((u[0] & 0x07) << 18) | ((u[1] & 0x3f) << 12) | ((u[2] & 0x3f) << 6) | (u[3] & 0x3f);
}

/* The code point ending at byte B of S (B > 0, valid UTF-8); *START gets
 * where it starts. */
static inline int32_t text_cp_before(const char *s, size_t b, size_t *start)
{
    size_t i = b - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
        i--;
    *start = i;
    return text_cp_at(s, &i);
}

static inline bool text_ascii_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether a chunk may start at byte I of S[0..LEN); *STEP gets how far the
 * scan moves on from I. */
typedef bool (*text_cut_point_fn)(const void *ctx, const char *s, size_t len, size_t i,
                                  size_t *step);

/* The end of the chunk of S[0..LEN) that starts at AT (tokenizer.h): all
 * of it within CHUNK_BYTES, else the last cut point within CHUNK_BYTES,
 * else the first within RUN_MAX; 0 when the run up to AT + RUN_MAX has
 * none (the caller cuts it hard). */
size_t text_chunk_end(const char *s, size_t len, size_t at, size_t chunk_bytes, size_t run_max,
                      text_cut_point_fn cut_point, const void *ctx);

typedef struct cp_range {
    int32_t lo, hi;
} cp_range;

bool text_in_ranges(int32_t c, const cp_range *r, size_t n);

#define IN_RANGES(c, table) text_in_ranges((c), (table), sizeof(table) / sizeof((table)[0]))

/* Letters and digits a hard cut (tokenizer.h) may sit between without
 * changing how either is normalized: no modifier letter (the final-sigma
 * rule looks through those), no capital sigma, no Hangul jamo (NFKC
 * composes them).  -1 (no character) is not one. */
bool text_plain_char(int32_t c);

/* The ids of one text: the first CAP kept (all that truncation can use),
 * or with KEEP_LAST the last CAP (truncation at the start), every one
 * counted, so memory is bounded by max_length, not the text. */
typedef struct id_sink {
    int32_t *v;
    size_t n, alloc, cap; /* kept, allocated, most kept */
    size_t total;         /* counted */
    int32_t last;         /* the last id counted, -1 before the first */
    bool keep_last;       /* V is a ring once full: the oldest kept id at HEAD */
    size_t head;
} id_sink;

int id_sink_push(id_sink *ids, int32_t id, albert_error *err);
/* The I-th of the ids kept, oldest first (I < n). */
int32_t id_sink_at(const id_sink *ids, size_t i);

#endif
