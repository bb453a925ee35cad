/* jsonl records written as they complete: to stdout, or in place to -o
 * FILE, whole records only.  An interrupted run (a stop signal) leaves FILE
 * holding the records written so far, no torn one; --resume goes on from
 * them. */
#ifndef ALBERT_CLI_STREAM_H
#define ALBERT_CLI_STREAM_H

#include "cli/buf.h"
#include "cli/cli.h"

#include <stdint.h>

typedef struct cli_stream {
    int fd;
    const char *path;    /* NULL: stdout */
    int regular;         /* a regular file: truncated to whole records when interrupted */
    cli_buf buf;         /* whole records not yet written */
    uint64_t buffered;   /* records in buf */
    uint64_t records;    /* records written out */
    uint64_t written;    /* bytes written out (after what --resume kept) */
    int gzip;            /* -o FILE.gz: each write is one whole gzip member */
    unsigned char *zbuf; /* its compressed bytes */
    size_t zcap;
} cli_stream;

/* Whether -o PATH is written gzip-compressed: its name ends in .gz (any
 * case).  jsonl only. */
int cli_stream_gzip_name(const char *path);

/* Where --resume goes on: the records of shard SHARD of SHARDS (0 of 1: all)
 * come with indices SHARD, SHARD + SHARDS, ...  */
typedef struct cli_resume {
    int shard, shards;
    uint64_t kept;       /* records FILE already held, in order */
    uint64_t kept_errors;/* of which error records (--on-error skip) */
    int ids;             /* --id-field: records carry "id" (FILE's must too) */
    /* The "embedding" this run writes: WIDTH values (0: none, --tokenize),
     * one vector or, NESTED, a list of them; FILE's first one must match */
    int width, nested;
    int dtype; /* the cli_dtype of its values (--output-dtype): FILE's must not rule it out */
} cli_resume;

/* PATH NULL or "-": stdout.  Otherwise PATH is created or emptied, or with
 * RESUME not NULL kept: its whole records are checked to be this run's
 * first ones (resume->kept of them), a torn last line is cut off, and new
 * records follow.  A missing PATH with RESUME starts from nothing. */
int cli_stream_open(cli_stream *s, const char *path, cli_resume *resume, albert_error *err);
/* Ends a record put into s->buf; writes the buffer out once it is large. */
int cli_stream_record_done(cli_stream *s, albert_error *err);
/* Writes out the buffered records (whole). */
int cli_stream_flush(cli_stream *s, albert_error *err);
/* Flushes and closes (stdout stays open: main closes it). */
int cli_stream_close(cli_stream *s, albert_error *err);

/* A record's "embedding": ROWS vectors of WIDTH values, FLOATS printed with
 * DIGITS significant digits (9: float32 round-trips), or INTS when not NULL;
 * one vector (NESTED 0) or a list of them (NESTED 1). */
typedef struct cli_embedding {
    const float *floats;
    const int32_t *ints;
    int rows, width, digits, nested;
} cli_embedding;

/* {"index": I, "input_ids": [...]} plus, when TYPES is not NULL,
 * "token_type_ids" (N_IDS of them) and, when EMB is not NULL, "embedding";
 * with ID (JSON text, --id-field's) "id": ID after the index. */
void cli_format_record(cli_buf *b, uint64_t index, const char *id, const int32_t *ids,
                       const int32_t *types, int n_ids, const cli_embedding *emb);
/* {"index": I, "error": "MESSAGE"}: a record skipped by --on-error skip
 * ("id" after the index as above). */
void cli_format_error_record(cli_buf *b, uint64_t index, const char *id, const char *message);

/* For the stop-signal handler (async-signal-safe): cuts -o FILE back to its
 * whole records and appends "; FILE holds N records" to MSG (at N of CAP
 * bytes); returns the new length. */
size_t cli_stream_on_signal(char *msg, size_t n, size_t cap);

#endif
