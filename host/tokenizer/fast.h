/* The fast kind: what HF tokenizers does with tokenizer.json (fast.c). */
#ifndef ALBERT_TOKENIZER_FAST_H
#define ALBERT_TOKENIZER_FAST_H

#include "tokenizer/template.h"
#include "tokenizer/text.h"

typedef struct fast_tokenizer fast_tokenizer;

/* DIR/tokenizer.json. */
int fast_open(const char *dir, fast_tokenizer **out, albert_error *err);
void fast_close(fast_tokenizer *tok);
/* The token of ID (an added token's content, else its piece) into DST; -1
 * when no token has ID. */
int fast_piece(const fast_tokenizer *tok, int32_t id, char *dst, size_t size);

/* Appends the ids of TEXT (WHAT names it in errors), without special
 * tokens, to IDS. */
int fast_encode(const fast_tokenizer *tok, const char *what, const char *text, size_t len,
                id_sink *ids, albert_error *err);

/* Whether the file's truncation.direction is "Left". */
bool fast_truncates_left(const fast_tokenizer *tok);

/* The file's special-token layout (its post_processor). */
const tok_template *fast_template(const fast_tokenizer *tok);

/* tokenizer.h: albert_tokenizer_set_chunking, albert_tokenizer_chunks. */
void fast_set_chunking(fast_tokenizer *tok, size_t chunk_bytes, size_t run_max_bytes);
bool fast_chunks(const fast_tokenizer *tok);

#endif
