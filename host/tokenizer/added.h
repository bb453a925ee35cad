/* tokenizer.json's added_tokens, as HF tokenizers' AddedVocabulary finds
 * them: tokens with normalized=false are matched on the raw text, those
 * with normalized=true (their content normalized first) on each normalized
 * piece; leftmost-longest, non-overlapping; lstrip/rstrip take the
 * whitespace beside a match into it, single_word drops a match inside a
 * word. */
#ifndef ALBERT_TOKENIZER_ADDED_H
#define ALBERT_TOKENIZER_ADDED_H

#include "tokenizer/normalizer.h"
#include "tokenizer/text.h"
#include "tokenizer/trie.h"
#include "tokenizer/unigram.h"

#include <cjson/cJSON.h>

typedef struct added_token {
    char *content; /* as matched: normalized for the normalized set */
    size_t len;
    int32_t id;
    bool lstrip, rstrip, single_word;
} added_token;

/* The tokens matched at one stage, in a trie of their contents. */
typedef struct added_set {
    added_token *tokens;
    size_t n, longest;
    byte_trie trie; /* content -> index in tokens */
} added_set;

/* Reads the "added_tokens" array J of FILE into RAW (normalized=false) and
 * NORMALIZED (their contents normalized by NZ), with ids as HF gives them:
 * the model's own id for a piece it has, else the next id past the
 * vocabulary, in file order; a repeated content is ignored. */
int added_parse(const cJSON *j, const char *file, const unigram *model, size_t vocab_size,
                const normalizer *nz, added_set *raw, added_set *normalized, albert_error *err);
void added_free(added_set *set);

/* One match: the span it takes (lstrip/rstrip applied), where the search
 * goes on (its own end: HF's matcher does not see the stripped blanks). */
typedef struct added_match {
    size_t start, end, resume;
    const added_token *tok;
} added_match;

/* The next match in S[SEARCH..LEN) whose lstrip stops at FLOOR (the end
 * of the previous match's span).  False when there is none.  A single_word
 * token inside a word is skipped, its span consumed. */
bool added_next(const added_set *set, const char *s, size_t len, size_t search, size_t floor,
                added_match *m);

/* Whether a cut at byte B of S[0..LEN) would split, or touch, a match of
 * some token of SET. */
bool added_near(const added_set *set, const char *s, size_t len, size_t b);

/* Whether any token holds whitespace or has rstrip (fast.c: cutting long
 * texts needs neither). */
bool added_blocks_cuts(const added_set *set);

#endif
