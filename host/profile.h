/* Device profiles: JSON files (profiles/README.md describes the format) that
 * hold CLBlast parameter overrides and our kernels' launch shapes for one
 * class of device, matched by platform, device name and driver version. */
#ifndef ALBERT_PROFILE_H
#define ALBERT_PROFILE_H

#include "common.h"

#include <stddef.h>

/* The CLBlast 1.5.3 kernels a profile may override: the ones an ALBERT
 * forward runs through CLBlastSgemm / CLBlastSgemmStridedBatched. */
#define PROFILE_CLBLAST_KERNELS 7
#define PROFILE_MAX_PARAMS 16

typedef struct profile_clblast_spec {
    const char *kernel;                   /* "Xgemm", as CLBlastOverrideParameters takes it */
    size_t n;                             /* parameters it has, all required */
    const char *params[PROFILE_MAX_PARAMS];
} profile_clblast_spec;

extern const profile_clblast_spec profile_clblast_specs[PROFILE_CLBLAST_KERNELS];

/* What the device must report for a profile to apply: for each key, one of
 * up to PROFILE_MATCH_ALTS substrings ("" matches anything). */
enum { PROFILE_MATCH_PLATFORM, PROFILE_MATCH_DEVICE, PROFILE_MATCH_DRIVER, PROFILE_MATCH_COUNT };
#define PROFILE_MATCH_ALTS 16

typedef struct albert_profile {
    char path[1024];
    char name[128];
    char match[PROFILE_MATCH_COUNT][PROFILE_MATCH_ALTS][128];
    int n_match[PROFILE_MATCH_COUNT]; /* 0 = the key is absent: anything */
    int has_clblast[PROFILE_CLBLAST_KERNELS];
    size_t clblast[PROFILE_CLBLAST_KERNELS][PROFILE_MAX_PARAMS]; /* in the spec's order */
    int wg_row, wg_elem, vec, gemm_mr, gemm_nr; /* ocl_tunables fields; 0 = not given */
    int attention; /* 1: attention by kernels/attention.cl where the model allows */
} albert_profile;

/* Loads and checks PATH: ALBERT_E_IO when unreadable, ALBERT_E_FORMAT with
 * "PATH: KEY: problem" for bad JSON, a missing or mistyped field, an unknown
 * key, an unknown CLBlast kernel or an incomplete parameter set. */
int profile_load(const char *path, albert_profile *p, albert_error *err);

/* 1 when, for every key, one of P's match strings occurs in the device's
 * string (the PROFILE_MATCH_* order); *SCORE gets the total length of the
 * longest that occur. */
int profile_matches(const albert_profile *p, const char *const device[PROFILE_MATCH_COUNT],
                    size_t *score);

/* Picks the best profile for DEVICE among the *.json files of the profile
 * search path: $ALBERT_CL_PROFILE_DIR when set, else the installed folder
 * (next to the library, then at the configured prefix) and the source tree's
 * profiles/.  Most specific match wins, ties go to the
 * smaller file name.  *FOUND is 0 when none matches.  Every file is loaded
 * and checked: a malformed one is an error naming it. */
int profile_find(const char *const device[PROFILE_MATCH_COUNT], albert_profile *best, int *found,
                 albert_error *err);

/* Index of KERNEL in profile_clblast_specs, or -1. */
int profile_clblast_index(const char *kernel);

#endif
