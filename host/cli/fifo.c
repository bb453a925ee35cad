#include "cli/fifo.h"

#include <stdlib.h>
#include <string.h>

static int grow(cli_fifo *q)
{
    size_t cap = q->cap ? 2 * q->cap : 64;
    void **items = malloc(cap * sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < q->count; i++)
        items[i] = q->items[(q->head + i) % q->cap];
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int cli_fifo_push(cli_fifo *q, void *item)
{
    if (q->count == q->cap && grow(q) != 0)
        return -1;
    q->items[(q->head + q->count++) % q->cap] = item;
    return 0;
}

void *cli_fifo_pop(cli_fifo *q)
{
    if (!q->count)
        return NULL;
    void *item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return item;
}

void cli_fifo_free(cli_fifo *q, void (*free_item)(void *))
{
    while (q->count)
        free_item(cli_fifo_pop(q));
    free(q->items);
    memset(q, 0, sizeof *q);
}
