/* Fuzz target: tuning profiles (opencl/tuning.h).  tuning_load and
 * tuning_find take paths, so each input becomes the one profile of a scratch
 * folder; a profile that loads is matched against a few real devices' strings
 * and must be what tuning_find picks from that folder exactly when it
 * matches.  Nothing here touches an OpenCL device. */
#include "opencl/tuning.h"
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Platform, device, driver and type strings as real devices report them. */
static const char *const devices[][TUNING_MATCH_COUNT] = {
    {"Portable Computing Language", "cpu-x86-64-AMD EPYC 7B13", "6.0+debian", "CPU"},
    {"Intel(R) OpenCL", "AMD EPYC 7B13 64-Core Processor", "2026.22.10.0.01_160000", "CPU"},
    {"NVIDIA CUDA", "NVIDIA H200", "570.124.06", "GPU"},
    {"", "", "", "OTHER"},
};

static void check_string(const char *s, size_t size, const char *what)
{
    FUZZ_EXPECT(memchr(s, '\0', size) != NULL, "%s is not NUL-terminated", what);
}

/* What tuning_load promises of a profile it accepts. */
static void check_profile(const tuning_profile *p)
{
    check_string(p->name, sizeof p->name, "name");
    FUZZ_EXPECT(p->name[0], "a profile without a name");
    for (int i = 0; i < TUNING_MATCH_COUNT; i++) {
        FUZZ_EXPECT(p->n_match[i] >= 0 && p->n_match[i] <= TUNING_MATCH_ALTS, "%d match strings",
                    p->n_match[i]);
        for (int a = 0; a < p->n_match[i]; a++)
            check_string(p->match[i][a], sizeof p->match[i][a], "a match string");
    }
    for (int k = 0; k < CLBLAST_KERNELS; k++) {
        const clblast_kernel_spec *spec = &clblast_kernel_specs[k];
        for (size_t j = 0; p->has_clblast[k] && j < spec->n; j++)
            FUZZ_EXPECT(p->clblast[k][j] <= 1u << 24 && (p->clblast[k][j] || spec->zero_ok >> j & 1),
                        "%s %s = %zu", spec->kernel, spec->params[j], p->clblast[k][j]);
    }
}

static void check_choice(const tuning_profile *p, const char *dir)
{
    for (size_t d = 0; d < sizeof devices / sizeof devices[0]; d++) {
        size_t score;
        int matches = tuning_matches(p, devices[d], &score);
        static tuning_profile best;
        int found = -1;
        albert_error err;
        int rc = tuning_find(devices[d], dir, &best, &found, &err);
        fuzz_expect_status(rc, &err, "tuning_find");
        FUZZ_EXPECT(rc == ALBERT_OK, "the profile loads alone but not from its folder: %s", err.msg);
        FUZZ_EXPECT(found == matches, "device %zu: tuning_matches says %d, tuning_find %d", d,
                    matches, found);
        FUZZ_EXPECT(!found || strcmp(best.name, p->name) == 0, "picked '%s', not '%s'", best.name,
                    p->name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[4096], path[4096];
    if (!path[0]) {
        fuzz_scratch_path(path, sizeof path, "profiles/fuzz.json");
        fuzz_scratch_path(dir, sizeof dir, "profiles");
    }
    fuzz_write_file(path, data, size);
    static tuning_profile p; /* 40 KiB: off the stack */
    albert_error err;
    int rc = tuning_load(path, &p, &err);
    fuzz_expect_status(rc, &err, "tuning_load");
    if (rc == ALBERT_OK) {
        check_profile(&p);
        check_choice(&p, dir);
    }
    return 0;
}
