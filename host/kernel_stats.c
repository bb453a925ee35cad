/* Per-name profiling totals and the one FLOP formula of the forward pass. */
#include "kernel_stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void kstat_add(kstat_table *t, const char *name, uint64_t ns, uint64_t flops, uint64_t bytes)
{
    kstat_entry *e = NULL;
    for (size_t i = 0; i < t->n && !e; i++)
        if (strcmp(t->entries[i].name, name) == 0)
            e = &t->entries[i];
    if (!e) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 16;
            kstat_entry *bigger = realloc(t->entries, cap * sizeof *bigger);
            if (!bigger)
                return;
            t->entries = bigger;
            t->cap = cap;
        }
        e = &t->entries[t->n++];
        memset(e, 0, sizeof *e);
        e->name = name;
    }
    e->calls++;
    e->ns += ns;
    e->flops += flops;
    e->bytes += bytes;
}

void kstat_reset(kstat_table *t)
{
    t->n = 0;
}

void kstat_free(kstat_table *t)
{
    free(t->entries);
    memset(t, 0, sizeof *t);
}

uint64_t kstat_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* GEMMs only, 2 FLOPs per multiply-add: per applied layer the fused QKV
 * projection (M x 3H x H), attention scores and context (B*NH blocks of
 * T x T x D each, so 2 * B*T*T*H apiece), the output projection (M x H x H)
 * and the FFN (M x I x H twice); once the embedding projection (M x H x E)
 * and, with the pooler, B x H x H. */
uint64_t albert_forward_flops(const albert_config *c, int batch_size, int seq_len,
                              albert_pooling pooling)
{
    const uint64_t B = (uint64_t)batch_size, T = (uint64_t)seq_len, M = B * T;
    const uint64_t E = (uint64_t)c->embedding_size, H = (uint64_t)c->hidden_size;
    const uint64_t I = (uint64_t)c->intermediate_size;
    const uint64_t layers = (uint64_t)c->num_hidden_layers * (uint64_t)c->inner_group_num;
    const uint64_t per_layer = 2 * M * 3 * H * H + 2 * (2 * B * T * T * H) + 2 * M * H * H +
                               2 * (2 * M * I * H);
    const uint64_t pooler = pooling == ALBERT_POOL_POOLER ? 2 * B * H * H : 0;
    return 2 * M * H * E + layers * per_layer + pooler;
}
