/* Tuning profiles: JSON files (profiles/README.md describes the format) that
 * hold CLBlast parameter overrides and our kernels' launch shapes for one
 * class of device, matched by platform, device name and driver version.
 * (The CLI's --profile is something else: timings, see core/timing.h.) */
#ifndef ALBERT_OPENCL_TUNING_H
#define ALBERT_OPENCL_TUNING_H

#include "opencl/clblast_params.h"
#include "core/common.h"

/* What the device must report for a profile to apply: for each key, one of
 * up to TUNING_MATCH_ALTS substrings ("" matches anything).  TYPE is the
 * device type as albert_device_info spells it: "CPU", "GPU", ... */
enum {
    TUNING_MATCH_PLATFORM,
    TUNING_MATCH_DEVICE,
    TUNING_MATCH_DRIVER,
    TUNING_MATCH_TYPE,
    TUNING_MATCH_COUNT
};
#define TUNING_MATCH_ALTS 16

typedef struct tuning_profile {
    char path[1024];
    char name[128];
    char match[TUNING_MATCH_COUNT][TUNING_MATCH_ALTS][128];
    int n_match[TUNING_MATCH_COUNT]; /* 0 = the key is absent: anything */
    int has_clblast[CLBLAST_KERNELS];
    size_t clblast[CLBLAST_KERNELS][CLBLAST_MAX_PARAMS]; /* in the spec's order */
    int wg_row, wg_elem, vec, gemm_mr, gemm_nr; /* ocl_tunables fields; 0 = not given */
    int attention; /* 1: kernels/attention.cl, 2: kernels/attention_tiled.cl, where
                      the model allows */
    int attn_bq, attn_bk; /* the tiled attention's shape; 0 = not given */
    int subgroups;        /* 1: sub-group reductions where the device has them */
} tuning_profile;

/* Loads and checks PATH: ALBERT_E_IO when unreadable, ALBERT_E_FORMAT with
 * "PATH: KEY: problem" for bad JSON, a missing or mistyped field, an unknown
 * key, an unknown CLBlast kernel or an incomplete parameter set. */
int tuning_load(const char *path, tuning_profile *p, albert_error *err);

/* 1 when, for every key, one of P's match strings occurs in the device's
 * string (the TUNING_MATCH_* order); *SCORE gets the total length of the
 * longest that occur. */
int tuning_matches(const tuning_profile *p, const char *const device[TUNING_MATCH_COUNT],
                   size_t *score);

/* Picks the best profile for DEVICE among the *.json files of DIR, or when
 * DIR is NULL of the built-in folders: the installed one (next to the
 * library, then at the configured prefix) and the source tree's profiles/.
 * Most specific match wins, ties go to the smaller file name.  *FOUND is 0
 * when none matches.  Every file is loaded and checked: a malformed one is
 * an error naming it. */
int tuning_find(const char *const device[TUNING_MATCH_COUNT], const char *dir,
                tuning_profile *best, int *found, albert_error *err);

#endif
