/* Turning records into output: tokenize, batch, run the engine(s), write. */
#ifndef ALBERT_CLI_EMBED_H
#define ALBERT_CLI_EMBED_H

#include "cli/input.h"
#include "cli/output.h"
#include "cli/timing_report.h"

typedef struct cli_runner {
    const cli_options *opt;
    const albert_config *cfg;     /* ranges of ids and types, hidden size */
    const albert_tokenizer *tok;  /* NULL when every record is pre-tokenized */
    albert_engine *engine;        /* NULL with --tokenize */
    albert_engine *reference;     /* --validate: the CPU engine, else NULL */
    int max_length;               /* --max-length capped by the model */
    cli_phases *phases;           /* where the time goes, or NULL */
} cli_runner;

/* Writes one record per input record, in input order, to SINK.  With a
 * reference engine, reports the differences on stderr and fails with
 * CLI_E_MISMATCH beyond opt->validate_tol. */
int cli_run(const cli_runner *r, const cli_input *in, cli_sink *sink, albert_error *err);

#endif
