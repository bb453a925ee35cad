/* tokenizer.json's "normalizer", as HF tokenizers applies it: Replace
 * (a string, or a regex run by Oniguruma as HF tokenizers does), NFD, NFKD,
 * NFC, NFKC (utf8proc), StripAccents, Lowercase, and Precompiled, the
 * sentencepiece character map that HF applies grapheme by grapheme; alone
 * or in a Sequence. */
#ifndef ALBERT_TOKENIZER_NORMALIZER_H
#define ALBERT_TOKENIZER_NORMALIZER_H

#include "tokenizer/text.h"

#include <cjson/cJSON.h>

typedef struct nz_step nz_step;

typedef struct normalizer {
    nz_step *steps;
    size_t n;
    /* Cutting a text before an ASCII space that follows an ASCII letter or
     * digit, or between two letters that are not linked (fast.c), normalizes
     * each side as it would be in the whole text. */
    bool cut_safe;
    /* No Replace pattern holds such a letter: a hard cut cannot split one. */
    bool hard_cut_safe;
} normalizer;

/* Reads J (tokenizer.json's "normalizer" in FILE; NULL or JSON null: none)
 * into *NZ. */
int normalizer_parse(const cJSON *j, const char *file, normalizer *nz, albert_error *err);
void normalizer_free(normalizer *nz);

/* Normalizes *S (valid UTF-8) in place; *TMP is scratch.  START_CHARS
 * (NULL: not wanted): how many leading characters of *S sit at the start of
 * the text, on return how many of the result do, as HF's alignments place
 * them (the Metaspace "first" scheme asks).  Fails only when out of memory,
 * or when a regex search gives up (Oniguruma's match limits). */
int normalizer_apply(const normalizer *nz, str_buf *s, str_buf *tmp, size_t *start_chars,
                     albert_error *err);

#endif
