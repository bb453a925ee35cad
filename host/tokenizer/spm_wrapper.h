/* A thin C interface to the sentencepiece C++ library: load a model, encode
 * text to pieces, map a piece to its id.  No C++ exception crosses it. */
#ifndef ALBERT_SPM_WRAPPER_H
#define ALBERT_SPM_WRAPPER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SPM_OK = 0, SPM_E_FORMAT = 1, SPM_E_NOMEM = 2, SPM_E_FAIL = 3 };

typedef struct spm_model spm_model;

/* Parses a serialized ModelProto (the bytes of a spiece.model file).  On
 * failure writes sentencepiece's reason into MSG.  The model encodes in two
 * ways: from the start of a word (sentencepiece's usual leading "\u2581"), or
 * continuing a word (no leading "\u2581"). */
int spm_load(const void *data, size_t size, spm_model **out, char *msg, size_t msg_size);
void spm_free(spm_model *model);

/* Encodes LEN bytes of UTF-8 TEXT, as continuing a word when MID_WORD.
 * *PIECES gets COUNT NUL-terminated pieces stored back to back in one
 * malloc'd buffer the caller frees (NULL when COUNT is 0). */
int spm_encode(const spm_model *model, const char *text, size_t len, int mid_word, char **pieces,
               size_t *count, char *msg, size_t msg_size);

/* The unknown piece's id (sentencepiece merges a run of unknown characters
 * into one such piece). */
int spm_unk_id(const spm_model *model);

/* Copies the piece of ID into DST (SIZE bytes, NUL-terminated, truncated);
 * -1 when ID is outside the vocabulary. */
int spm_id_to_piece(const spm_model *model, int id, char *dst, size_t size);

/* The id of a piece, the unknown id when it is not in the vocabulary, or -1
 * on an internal error. */
int spm_piece_to_id(const spm_model *model, const char *piece, size_t len);

/* 1 when the parts of a text between ASCII blanks (space, tab, CR, LF)
 * encode independently: no piece holds "\u2581" past its first character, a
 * lone word gets the leading "\u2581", and blank runs vanish as separators
 * and at either end.  Then encoding A, then B, gives the pieces of "A B" (and
 * of A and B joined by any blank run).  Also that encoding as continuing a
 * word adds no "\u2581".  0 when any of that fails, -1 on an internal error
 * (out of memory). */
int spm_splits_at_blanks(const spm_model *model);

#ifdef __cplusplus
}
#endif

#endif
