/* tokenizer.json's Unigram model as HF tokenizers runs it: the Viterbi
 * segmentation of each pre-tokenized word over the vocabulary's pieces and
 * their scores (in double precision), an unknown character scored as the
 * lowest piece less 10, runs of unknown pieces fused into one, and byte
 * fallback to "<0xXX>" pieces when the model declares it. */
#ifndef ALBERT_TOKENIZER_UNIGRAM_H
#define ALBERT_TOKENIZER_UNIGRAM_H

#include "tokenizer/text.h"

#include <cjson/cJSON.h>

typedef struct unigram unigram;

/* Per-call working memory of unigram_encode: any number of threads may
 * encode with one model, each with its own scratch (zeroed at first). */
typedef struct unigram_scratch {
    void *lattice, *segments;
    size_t lattice_cap, segments_cap;
} unigram_scratch;

/* Reads the "model" object J of FILE. */
int unigram_parse(const cJSON *j, const char *file, unigram **out, albert_error *err);
void unigram_free(unigram *u);

/* The id of piece S[0..LEN) (the last one when the vocabulary repeats it),
 * or -1. */
int32_t unigram_piece_id(const unigram *u, const char *s, size_t len);

/* The piece of ID, or NULL when ID is outside the vocabulary. */
const char *unigram_piece(const unigram *u, int32_t id);

/* The unknown id, or -1. */
int32_t unigram_unk_id(const unigram *u);
size_t unigram_vocab_size(const unigram *u);

/* Appends the ids of WORD[0..LEN) (valid UTF-8) to IDS.  WHAT names the
 * text in errors. */
int unigram_encode(const unigram *u, const char *what, const char *word, size_t len,
                   unigram_scratch *scratch, id_sink *ids, albert_error *err);
void unigram_scratch_free(unigram_scratch *scratch);

#endif
