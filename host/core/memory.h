/* What a model and a batch take in memory, so that a shape that cannot fit a
 * device is refused up front, with numbers, rather than failing in an
 * allocation deep inside a run. */
#ifndef ALBERT_CORE_MEMORY_H
#define ALBERT_CORE_MEMORY_H

#include "albert_cl.h"

#include <stddef.h>
#include <stdint.h>

/* Floats of every weight of the model, once each (shared layers once). */
uint64_t albert_weight_floats(const albert_config *c);

/* "512 B", "1.5 KiB", "45.2 MiB", "3.0 GiB": for messages. */
void albert_format_bytes(uint64_t bytes, char *dst, size_t size);

#endif
