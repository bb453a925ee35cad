/* --profile and --profile-json: the engine's per-kernel totals (from the
 * albert_engine_timing_get API) beside the CLI's own host phases. */
#ifndef ALBERT_CLI_TIMING_REPORT_H
#define ALBERT_CLI_TIMING_REPORT_H

#include "cli/cli.h"

#include <stdint.h>

/* Where the CLI's wall time goes, in pipeline order. */
typedef enum cli_phase {
    CLI_PHASE_READ,     /* reading and parsing input files */
    CLI_PHASE_LOAD,     /* model, tokenizer, engine (device setup, kernel builds) */
    CLI_PHASE_TOKENIZE,
    CLI_PHASE_BATCH,    /* sorting, padding, copying vectors out of batches */
    CLI_PHASE_WARMUP,   /* --benchmark's untimed runs */
    CLI_PHASE_FORWARD,  /* the device threads in albert_engine_submit and _wait
                         * (--benchmark: albert_engine_run) */
    CLI_PHASE_VALIDATE, /* --validate's CPU runs and comparisons */
    CLI_PHASE_WRITE,    /* formatting and writing records */
    CLI_PHASE_COUNT
} cli_phase;

/* A lap timer: each cli_lap charges the time since the previous one (or
 * since cli_phases_start) to a phase. */
typedef struct cli_phases {
    uint64_t ns[CLI_PHASE_COUNT];
    uint64_t last, start;
} cli_phases;

void cli_phases_start(cli_phases *ph);
/* PH may be NULL (nothing timed). */
void cli_lap(cli_phases *ph, cli_phase phase);
/* Ends the wall clock without charging a phase: a run's stages overlap and
 * are charged their own busy times instead. */
void cli_phases_stop(cli_phases *ph);

/* A run's share per device (NULL for --benchmark). */
struct cli_outcome;

/* Prints the tables on stderr with --profile and writes --profile-json:
 * per engine its kernels, then the host phases (busy time of each stage:
 * stages overlap, so the shares can add up past 100%) and, for a run, per
 * device its batches, tokens, busy time and share of the work.  No engines
 * (--tokenize): host phases only. */
int cli_profile_report(const cli_options *o, albert_engine *const *engines, int nengines,
                       const struct cli_outcome *done, const cli_phases *ph, albert_error *err);

#endif
