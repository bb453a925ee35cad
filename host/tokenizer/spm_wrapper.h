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
 * failure writes sentencepiece's reason into MSG. */
int spm_load(const void *data, size_t size, spm_model **out, char *msg, size_t msg_size);
void spm_free(spm_model *model);

/* Encodes LEN bytes of UTF-8 TEXT.  *PIECES gets COUNT NUL-terminated pieces
 * stored back to back in one malloc'd buffer the caller frees (NULL when
 * COUNT is 0). */
int spm_encode(const spm_model *model, const char *text, size_t len, char **pieces,
               size_t *count, char *msg, size_t msg_size);

/* The id of a piece, the unknown id when it is not in the vocabulary, or -1
 * on an internal error. */
int spm_piece_to_id(const spm_model *model, const char *piece, size_t len);

#ifdef __cplusplus
}
#endif

#endif
