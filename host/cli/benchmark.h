/* --benchmark: the forward pass on synthetic input, timed, as one JSON line. */
#ifndef ALBERT_CLI_BENCH_H
#define ALBERT_CLI_BENCH_H

#include "cli/output.h"
#include "cli/timing_report.h"

/* Defaults of the options --benchmark alone reads. */
#define CLI_BENCH_SEQ_LEN 128
#define CLI_BENCH_ITERATIONS 10
#define CLI_BENCH_WARMUP 2

/* Runs ENGINE on an opt->batch_size x opt->seq_len batch of seeded random
 * ids ([CLS] first, [SEP] last, full mask) opt->warmup times untimed, then
 * opt->iterations times timed, and writes {"device": ..., "batch_size": ...,
 * "tokens_per_s": ..., "ms_per_batch": ..., "gflops": ...} to SINK.  The
 * profile, when collected, covers the timed runs only. */
int cli_benchmark(const cli_options *o, albert_engine *engine, const albert_config *cfg,
                  cli_phases *ph, cli_sink *sink, albert_error *err);

#endif
