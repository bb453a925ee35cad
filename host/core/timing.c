/* Per-name timing totals (see timing.h). */
#include "core/timing.h"

#include <stdlib.h>
#include <string.h>

void timing_add(timing_table *t, const char *name, uint64_t ns, uint64_t flops, uint64_t bytes)
{
    timing_entry *e = NULL;
    for (size_t i = 0; i < t->n && !e; i++)
        if (strcmp(t->entries[i].name, name) == 0)
            e = &t->entries[i];
    if (!e) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 16;
            timing_entry *bigger = realloc(t->entries, cap * sizeof *bigger);
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

void timing_reset(timing_table *t)
{
    t->n = 0;
}

void timing_free(timing_table *t)
{
    free(t->entries);
    memset(t, 0, sizeof *t);
}
