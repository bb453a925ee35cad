/* A first-in first-out queue of pointers that grows as it needs (no lock:
 * its users hold their own). */
#ifndef ALBERT_CLI_FIFO_H
#define ALBERT_CLI_FIFO_H

#include <stddef.h>

typedef struct cli_fifo {
    void **items;       /* a ring of CAP */
    size_t cap, head, count;
} cli_fifo;

/* Appends ITEM (NULL too); 0, or -1 out of memory (the queue unchanged). */
int cli_fifo_push(cli_fifo *q, void *item);
/* The oldest item, removed; NULL when the queue is empty. */
void *cli_fifo_pop(cli_fifo *q);
/* Every item left through FREE_ITEM, then the queue's own memory. */
void cli_fifo_free(cli_fifo *q, void (*free_item)(void *));

#endif
