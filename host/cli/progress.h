/* The progress line on stderr: records, tokens/s and, when the input's size
 * is known, how far and the time left. */
#ifndef ALBERT_CLI_PROGRESS_H
#define ALBERT_CLI_PROGRESS_H

#include "cli/cli.h"

#include <stdint.h>

typedef struct cli_progress {
    int on;             /* shown at all */
    int tty;            /* rewritten in place; else a line every few seconds */
    uint64_t start, last;
    uint64_t bytes_total;
} cli_progress;

/* MODE: CLI_PROGRESS_AUTO (on when stderr is a terminal), _ON or _OFF. */
void cli_progress_init(cli_progress *p, int mode, uint64_t bytes_total);
/* Whether cli_progress_update would show a line now (on, and its time has
 * come): the caller's figures need not be gathered otherwise. */
int cli_progress_due(const cli_progress *p);
/* At most a few times a second: RECORDS written, TOKENS tokenized,
 * BYTES_READ of the input. */
void cli_progress_update(cli_progress *p, uint64_t records, uint64_t tokens, uint64_t bytes_read);
/* The last figures, on a line of their own. */
void cli_progress_end(cli_progress *p, uint64_t records, uint64_t tokens, uint64_t bytes_read);

#endif
