/* Internals of the tokenizer that tests reach: how albert_tokenize bounds
 * its memory.
 *
 * sentencepiece needs about 70-120 bytes per input byte (a 50 MB line took
 * 3.5 to 6 GB), so albert_tokenize never hands it a whole long text.  It
 * cuts the text into chunks at blanks, each ending at the last blank before
 * ALBERT_TOK_CHUNK_BYTES (or, in a longer run without one, at the first
 * blank after), and tokenizes each chunk on its own; the ids are stored up
 * to max_length and all of them counted for n_full.  Memory is then bounded
 * by ALBERT_TOK_RUN_MAX_BYTES and max_length, whatever the text's length.
 *
 * A blank is an ASCII space, tab, CR or LF, and with remove_space (the
 * default) any Python whitespace.  A cut there changes no id: preprocessing
 * turns every run of whitespace into one space (without remove_space,
 * sentencepiece does the same with these four); "``"/"''" and final-sigma
 * lowercasing cannot see past it; added tokens hold none ([MASK]'s lstrip
 * only eats blanks that vanish anyway); and no sentencepiece piece spans the
 * word boundary a space becomes.  Opening checks that last part on the
 * model (spm_splits_at_blanks); a model that fails it is tokenized whole, as
 * HuggingFace does, with memory growing with the text.
 *
 * A run of more than ALBERT_TOK_RUN_MAX_BYTES without a blank (no real word;
 * unspaced scripts such as Chinese can have such lines) is cut near that
 * limit: between two letters or digits that no preprocessing step links
 * where it can (never inside an added token), and the next chunk is
 * encoded as continuing the word, without a new word boundary, a run of
 * unknown characters across the cut staying one unknown piece.  The ids are
 * then the same as for the whole run except where sentencepiece would have
 * put a piece across the cut.
 *
 * Tokenizing in chunks can differ from HuggingFace on one more account:
 * sentencepiece sums piece scores along a line in float32, so far into a
 * long line (measured: after about 1 MB) rounding starts to flip its choices
 * where two segmentations score nearly alike.  Chunks keep the sums small,
 * so each part of a long text gets the ids it gets as a short text; before
 * that point the ids are HuggingFace's, which covers the ids kept at any
 * max_length ALBERT allows (512) in all but contrived texts, and n_full
 * counts every part as HuggingFace counts it in a short text. */
#ifndef ALBERT_TOKENIZER_TOKENIZER_H
#define ALBERT_TOKENIZER_TOKENIZER_H

#include "albert_cl.h"

#include <stdbool.h>
#include <stddef.h>

#define ALBERT_TOK_CHUNK_BYTES ((size_t)32 << 10)
/* Not larger: sentencepiece's time grows with the square of a run of
 * unknown characters (a 2 MB CJK line took 51 s whole, 1 s in 64 KiB runs). */
#define ALBERT_TOK_RUN_MAX_BYTES ((size_t)64 << 10)
/* The smallest run limit: room to back a cut off a 4-byte character and a
 * 6-byte added token. */
#define ALBERT_TOK_RUN_MIN_BYTES ((size_t)16)

/* Sets TOK's chunk size and run limit (raised to ALBERT_TOK_RUN_MIN_BYTES
 * and to CHUNK_BYTES), for tests that put many cuts into short texts.  Not
 * while another thread tokenizes with TOK; no effect on a tokenizer that
 * does not chunk. */
void albert_tokenizer_set_chunking(albert_tokenizer *tok, size_t chunk_bytes,
                                   size_t run_max_bytes);

/* Whether TOK cuts long texts into chunks (see above). */
bool albert_tokenizer_chunks(const albert_tokenizer *tok);

#endif
