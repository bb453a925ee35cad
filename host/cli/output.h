/* Output that is all or nothing (npy and safetensors through cli/arrays.h,
 * --profile-json, --benchmark; jsonl records stream through cli/stream.h): written to a temporary file, which
 * becomes the output (rename, or a copy to stdout or a non-regular file) only
 * when the whole run succeeded.  SIGINT, SIGTERM and SIGHUP end a run so:
 * the temporary files go, the outputs stay as they were (and a streamed
 * -o FILE is cut back to its whole records). */
#ifndef ALBERT_CLI_OUTPUT_H
#define ALBERT_CLI_OUTPUT_H

#include "cli/cli.h"

#include <stdint.h>
#include <stdio.h>

typedef struct cli_sink {
    FILE *f;            /* where records are written */
    const char *path;   /* the output as named; NULL for stdout */
    char *target;       /* the file PATH names (symbolic links resolved) that the
                         * temporary file replaces, or NULL: copied at commit */
    struct temp_slot *temp; /* the temporary file's entry for the signal handler,
                             * or NULL for an anonymous one */
} cli_sink;

/* From now on SIGINT, SIGTERM and SIGHUP (unless ignored on entry) remove the
 * temporary files, print one line on stderr and exit with 128 + the signal.
 * Call it on the main thread, the one that opens and commits sinks. */
void cli_signals_install(void);

/* PATH NULL or "-" is stdout.  A new file gets mode 0666 less the umask;
 * an existing one keeps its mode; a symbolic link stays and its target is
 * replaced. */
int cli_sink_open(cli_sink *s, const char *path, albert_error *err);
/* Fails, naming the output, once a write to the sink failed.  Clear errno
 * before writing so that the message tells the failed write's reason. */
int cli_sink_check(const cli_sink *s, albert_error *err);
/* Makes the written records the output; closes the sink. */
int cli_sink_commit(cli_sink *s, albert_error *err);
/* Drops what was written; closes the sink.  Safe after commit. */
void cli_sink_abort(cli_sink *s);

/* The errno of a failed write to F (flushed first), or 0: errno as the
 * caller left it after the writes, else EIO, when only F's error flag
 * tells. */
int cli_stream_error(FILE *f);
/* Flushes and closes stdout: fails ("<stdout>: ...") if anything written
 * to it was lost (the reason as cli_stream_error tells it). */
int cli_stdout_close(albert_error *err);

/* tmpfile() with the stop signals held, so that none comes while it has a
 * name: NULL and errno on failure. */
FILE *cli_tmpfile(void);

/* Appends all of FROM (rewound first) to TO and flushes it: 0 or the errno
 * of the failed read or write. */
int cli_copy_stream(FILE *from, FILE *to);

#endif
