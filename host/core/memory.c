/* Memory sizes of models and their messages (see memory.h). */
#include "core/memory.h"

#include <stdio.h>

/* Every tensor HF's AlbertModel holds: embeddings (word, position, type,
 * LayerNorm), the projection to the hidden size, the pooler, and per stored
 * layer the attention (Q, K, V, output, LayerNorm) and the FFN (two Linears,
 * LayerNorm).  In 64 bits: the config's bounds keep every term far below. */
uint64_t albert_weight_floats(const albert_config *c)
{
    const uint64_t E = (uint64_t)c->embedding_size, H = (uint64_t)c->hidden_size;
    const uint64_t I = (uint64_t)c->intermediate_size;
    const uint64_t rows = (uint64_t)c->vocab_size + (uint64_t)c->max_position_embeddings +
                          (uint64_t)c->type_vocab_size;
    const uint64_t embeddings = rows * E + 2 * E + H * E + H;
    const uint64_t pooler = H * H + H;
    const uint64_t layer = 4 * (H * H + H) + 2 * H + (I * H + I) + (H * I + H) + 2 * H;
    const uint64_t layers = (uint64_t)c->num_hidden_groups * (uint64_t)c->inner_group_num;
    return embeddings + pooler + layers * layer;
}

void albert_format_bytes(uint64_t bytes, char *dst, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(dst, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(dst, size, "%.1f %s", v, units[u]);
}
