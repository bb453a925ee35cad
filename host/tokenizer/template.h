/* How a text's ids (and a pair's) become the model's input: the special
 * tokens around them, their type ids, and the truncation that makes room
 * for them.  The slow kind has ALBERT's fixed layout; the fast kind reads
 * its own from tokenizer.json's TemplateProcessing. */
#ifndef ALBERT_TOKENIZER_TEMPLATE_H
#define ALBERT_TOKENIZER_TEMPLATE_H

#include "tokenizer/text.h"

#include <cjson/cJSON.h>

/* One entry of a layout: a special token's ids, or sequence A or B. */
typedef struct tmpl_piece {
    const int32_t *ids; /* NULL for a sequence */
    size_t n_ids;
    int seq; /* 0: A, 1: B (sequences only) */
    int32_t type_id;
} tmpl_piece;

/* Who loses tokens when a pair is too long. */
typedef enum tmpl_truncation {
    /* transformers' Python truncate_sequences: one token at a time from the
     * longer part, from B on ties (the slow tokenizer). */
    TMPL_TRUNCATE_ONE_AT_A_TIME,
    /* HF tokenizers' truncate_encodings: the shorter part keeps what it can
     * of half the budget, the longer one gets the rest. */
    TMPL_TRUNCATE_SPLIT
} tmpl_truncation;

typedef struct tok_template {
    const tmpl_piece *single, *pair;
    size_t n_single, n_pair;
    int32_t *id_store; /* the special ids the pieces point to; NULL when static */
    tmpl_truncation truncation;
} tok_template;

/* AlbertTokenizer's [CLS] A [SEP] and [CLS] A [SEP] B [SEP]. */
extern const tok_template TMPL_ALBERT;

/* Reads a TemplateProcessing post_processor (POST, at JSON path JPATH of
 * FILE) into *T, or ALBERT's layout without special tokens when POST is
 * JSON null. */
int template_parse(const cJSON *post, const char *file, const char *jpath, tok_template *t,
                   albert_error *err);
void template_free(tok_template *t);

/* The special ids a single text (PAIR false) or a pair gets. */
size_t template_specials(const tok_template *t, bool pair);

/* Lays A (and B when PAIR) out as T says into IDS and TYPE_IDS (NULL: not
 * wanted), truncated to MAX_LENGTH, which must hold the special tokens (a
 * part whose sink keeps its last ids loses its first ones).
 * *N_FULL (when not NULL) gets the untruncated length. */
void template_assemble(const tok_template *t, const id_sink *a, const id_sink *b, bool pair,
                       size_t max_length, int32_t *ids, int32_t *type_ids, int *n, int *n_full);

#endif
