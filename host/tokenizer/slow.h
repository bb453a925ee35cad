/* The slow kind: HF's sentencepiece-based AlbertTokenizer (slow.c). */
#ifndef ALBERT_TOKENIZER_SLOW_H
#define ALBERT_TOKENIZER_SLOW_H

#include "tokenizer/text.h"

typedef struct slow_tokenizer slow_tokenizer;

/* DIR/spiece.model, and DIR/tokenizer_config.json when present. */
int slow_open(const char *dir, slow_tokenizer **out, albert_error *err);
void slow_close(slow_tokenizer *tok);
/* The piece of ID ("\xe2\x96\x81hello", "[CLS]") into DST; -1 outside the vocabulary. */
int slow_piece(const slow_tokenizer *tok, int32_t id, char *dst, size_t size);

/* Appends the ids of TEXT (WHAT names it in errors), without special
 * tokens, to IDS. */
int slow_encode(const slow_tokenizer *tok, const char *what, const char *text, size_t len,
                id_sink *ids, albert_error *err);

/* tokenizer.h: albert_tokenizer_set_chunking, albert_tokenizer_chunks. */
void slow_set_chunking(slow_tokenizer *tok, size_t chunk_bytes, size_t run_max_bytes);
bool slow_chunks(const slow_tokenizer *tok);

#endif
