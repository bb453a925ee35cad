/* A byte trie for the Unigram pieces and the added tokens: node 0 is the
 * root; an edge (node, byte) -> child lives in an open-addressing hash
 * table, which keeps 30,000 pieces in a few MB and a step at one probe or
 * two.  Read-only once built, so any number of threads may walk it. */
#ifndef ALBERT_TOKENIZER_TRIE_H
#define ALBERT_TOKENIZER_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct trie_edge trie_edge;

typedef struct byte_trie {
    trie_edge *edges;
    size_t edge_mask; /* table size - 1 */
    int32_t *values;  /* per node: what ends there, or -1 */
    size_t n_nodes, max_nodes;
} byte_trie;

/* Room for keys of BYTES bytes in all; false when out of memory (free it
 * with byte_trie_free all the same). */
bool byte_trie_init(byte_trie *t, size_t bytes);
void byte_trie_free(byte_trie *t);

/* Adds key S[0..LEN) (within the room) with VALUE, replacing an earlier
 * value of the same key; the empty key is never found. */
void byte_trie_add(byte_trie *t, const char *s, size_t len, int32_t value);

/* The child of NODE by BYTE, or 0: none (the root is nobody's child). */
uint32_t byte_trie_step(const byte_trie *t, uint32_t node, unsigned char byte);

static inline int32_t byte_trie_value(const byte_trie *t, uint32_t node) { return t->values[node]; }

/* The value of key S[0..LEN), or -1. */
int32_t byte_trie_find(const byte_trie *t, const char *s, size_t len);

#endif
