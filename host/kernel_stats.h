/* Per-name profiling totals (calls, time, FLOPs, bytes) that a backend
 * accumulates across runs and albert_engine_profile_get hands out. */
#ifndef ALBERT_KERNEL_STATS_H
#define ALBERT_KERNEL_STATS_H

#include "common.h"

#include <stdint.h>

typedef struct kstat_entry {
    const char *name; /* a string literal of the backend's: compared, not copied */
    uint64_t calls, ns, flops, bytes;
} kstat_entry;

/* In order of first appearance, which is the forward pass's order. */
typedef struct kstat_table {
    kstat_entry *entries;
    size_t n, cap;
} kstat_table;

/* Adds one call of NAME taking NS with FLOPS and BYTES to its totals.  When
 * the table cannot grow the call is dropped: profiling must not fail a run. */
void kstat_add(kstat_table *t, const char *name, uint64_t ns, uint64_t flops, uint64_t bytes);

void kstat_reset(kstat_table *t);
void kstat_free(kstat_table *t);

/* Monotonic clock in nanoseconds, for host-side timers. */
uint64_t kstat_now_ns(void);

#endif
