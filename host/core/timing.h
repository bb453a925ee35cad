/* Per-name timing totals (calls, time, FLOPs, bytes) that a backend
 * accumulates across runs and albert_engine_timing_get hands out. */
#ifndef ALBERT_CORE_TIMING_H
#define ALBERT_CORE_TIMING_H

#include "core/common.h"

#include <stdint.h>

typedef struct timing_entry {
    const char *name; /* a string literal of the backend's: compared, not copied */
    uint64_t calls, ns, flops, bytes;
} timing_entry;

/* In order of first appearance, which is the forward pass's order. */
typedef struct timing_table {
    timing_entry *entries;
    size_t n, cap;
} timing_table;

/* Adds one call of NAME taking NS with FLOPS and BYTES to its totals.  When
 * the table cannot grow the call is dropped: profiling must not fail a run. */
void timing_add(timing_table *t, const char *name, uint64_t ns, uint64_t flops, uint64_t bytes);

void timing_reset(timing_table *t);
void timing_free(timing_table *t);

#endif
