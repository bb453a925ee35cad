#include "tokenizer/trie.h"

#include <stdlib.h>
#include <string.h>

struct trie_edge {
    uint64_t key; /* node << 8 | byte, + 1 (0: empty slot) */
    uint32_t child;
};

static uint64_t edge_key(uint32_t node, unsigned char byte)
{
    return ((uint64_t)node << 8 | byte) + 1;
}

static size_t edge_slot(const byte_trie *t, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 20) & t->edge_mask;
    while (t->edges[i].key && t->edges[i].key != key)
        i = (i + 1) & t->edge_mask;
    return i;
}

bool byte_trie_init(byte_trie *t, size_t bytes)
{
    size_t slots = 64;
    while (slots < 2 * bytes)
        slots *= 2;
    memset(t, 0, sizeof *t);
    t->edges = calloc(slots, sizeof *t->edges);
    t->values = malloc((bytes + 1) * sizeof *t->values);
    if (!t->edges || !t->values)
        return false;
    t->edge_mask = slots - 1;
    t->max_nodes = bytes + 1;
    t->values[0] = -1;
    t->n_nodes = 1;
    return true;
}

void byte_trie_free(byte_trie *t)
{
    free(t->edges);
    free(t->values);
    memset(t, 0, sizeof *t);
}

void byte_trie_add(byte_trie *t, const char *s, size_t len, int32_t value)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint64_t key = edge_key(node, (unsigned char)s[i]);
        trie_edge *e = &t->edges[edge_slot(t, key)];
        if (!e->key) {
            e->key = key;
            e->child = (uint32_t)t->n_nodes;
            t->values[t->n_nodes++] = -1;
        }
        node = e->child;
    }
    if (len > 0)
        t->values[node] = value;
}

uint32_t byte_trie_step(const byte_trie *t, uint32_t node, unsigned char byte)
{
    const trie_edge *e = &t->edges[edge_slot(t, edge_key(node, byte))];
    return e->key ? e->child : 0;
}

int32_t byte_trie_find(const byte_trie *t, const char *s, size_t len)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len && (node = byte_trie_step(t, node, (unsigned char)s[i])) != 0; i++)
        ;
    return len > 0 && node ? t->values[node] : -1;
}
