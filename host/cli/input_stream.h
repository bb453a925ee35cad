/* An input file or stdin as a stdio stream: gzip data (concatenated
 * members too) comes out inflated by zlib, any other bytes as they are, so
 * `albert-cl corpus.jsonl.gz` needs no flag and a pipe may carry either.
 * zstd and xz data is refused with a message. */
#ifndef ALBERT_CLI_INPUT_STREAM_H
#define ALBERT_CLI_INPUT_STREAM_H

#include "albert_cl.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

typedef struct cli_input_stream cli_input_stream;

/* Opens PATH ("-": stdin, which it reads through a duplicate of fd 0). */
int cli_input_stream_open(const char *path, cli_input_stream **out, albert_error *err);

/* 1 with the file's size in *SIZE when it is a regular file, else 0. */
int cli_input_stream_size(const cli_input_stream *s, uint64_t *size);

/* The stream getline reads. */
FILE *cli_input_stream_file(const cli_input_stream *s);

/* 1 when the file is gzip (read inflated). */
int cli_input_stream_compressed(const cli_input_stream *s);

/* Bytes of the file taken in so far (of a gzip file, the compressed ones
 * inflated; of a plain one, those handed to stdio's buffer). */
uint64_t cli_input_stream_used(const cli_input_stream *s);

/* 1 when the stream reads the regular file ST describes. */
int cli_input_stream_is(const cli_input_stream *s, const struct stat *st);

/* Why the last read failed, when the stream is in error: a corrupt or
 * truncated gzip stream, or the system's message. */
const char *cli_input_stream_error(const cli_input_stream *s);

void cli_input_stream_close(cli_input_stream *s);

#endif
