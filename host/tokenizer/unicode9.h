/* The code points assigned after Unicode 9.0 (unicode9.c, generated).  HF
 * tokenizers normalizes (NFD, NFKD, NFC, NFKC) and strips accents with
 * Unicode 9.0 tables, so to it these have no decomposition, compose with
 * nothing and are no combining marks. */
#ifndef ALBERT_TOKENIZER_UNICODE9_H
#define ALBERT_TOKENIZER_UNICODE9_H

#include "tokenizer/text.h"

/* Sorted ranges, up to the generating data's version (utf8proc's). */
extern const cp_range UNICODE9_LATER[];
extern const size_t UNICODE9_LATER_COUNT;

#endif
