/* Turning records into output: the input read on a thread of its own and
 * pushed into the library's scheduler (tokenizer threads, batches, one
 * thread per device), the results written in order as they come. */
#ifndef ALBERT_CLI_EMBED_H
#define ALBERT_CLI_EMBED_H

#include "cli/arrays.h"
#include "cli/input.h"
#include "cli/output.h"
#include "cli/stream.h"
#include "cli/timing_report.h"

typedef struct cli_runner {
    const cli_options *opt;
    const albert_config *cfg;     /* ranges of ids and types, hidden size */
    const albert_tokenizer *tok;  /* NULL when every record is pre-tokenized */
    albert_engine **engines;      /* one per device; none with --tokenize */
    int nengines;
    albert_engine *reference;     /* --validate: the CPU engine, else NULL */
    int max_length;               /* --max-length capped by the model */
    cli_phases *phases;           /* where the time goes, or NULL */
    const albert_head *head;      /* the folder's Dense modules, or NULL */
    albert_truncation truncation; /* --truncation-side, else the folder's */
} cli_runner;

/* The scheduler R's options ask for (a run's; serve's with its --max-wait-ms). */
void cli_scheduler_options(const cli_runner *r, albert_scheduler_options *so);

/* Where records go: STREAM for jsonl, ARRAYS (all or nothing) for npy and
 * safetensors. */
typedef struct cli_output {
    cli_stream *stream;
    cli_arrays *arrays;
    uint64_t skip;                /* --resume: records of the run already in the output */
    uint64_t skipped_before;      /* --resume: error records among them */
} cli_output;

/* What a run did, for the profile and the exit status. */
typedef struct cli_outcome {
    uint64_t records, skipped;
    albert_scheduler_stats stats;
    albert_scheduler_device_stats *devices; /* [nengines], malloc'd */
} cli_outcome;

/* The scheduler for R: before the output is opened, so that a run refused
 * (a batch that cannot fit a device) leaves -o FILE as it was. */
int cli_start(const cli_runner *r, albert_scheduler **s, albert_error *err);

/* Writes one record per input record of IN, in input order, through S
 * (which it frees).  With a reference engine, reports the differences on
 * stderr and fails with CLI_E_MISMATCH beyond opt->validate_tol. */
int cli_run(const cli_runner *r, albert_scheduler *s, cli_reader *in, const cli_output *out,
            cli_outcome *done, albert_error *err);

#endif
