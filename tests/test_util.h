/* A minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken case; test_finish prints the closing line ctest logs. */
#ifndef ALBERT_TEST_UTIL_H
#define ALBERT_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int test_checks, test_failures;

#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        test_checks++;                                                             \
        if (!(cond)) {                                                             \
            test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
        }                                                                          \
    } while (0)

/* The shared data folder: $ALBERT_CL_SHARED, else the one CMake was given.
 * Exits with a loud message when it does not exist: tests never skip. */
const char *test_shared_dir(void);

/* DST = shared_dir/REL. */
void test_shared_path(char *dst, size_t size, const char *rel);

struct albert_model;
struct albert_engine;

/* Opens shared_dir/models/NAME; exits loudly when it cannot: every test
 * that needs a model needs it. */
struct albert_model *test_open_model(const char *name);

/* An engine for M on registry device DEVICE (TIMING: collect kernel
 * timings); exits loudly when it cannot be created. */
struct albert_engine *test_open_engine(const struct albert_model *m, int device, int timing);

/* The same with tuning profile TUNING_FILE forced (OpenCL devices). */
struct albert_engine *test_open_engine_profile(const struct albert_model *m, int device,
                                               const char *tuning_file);

/* Number of devices the registry lists (the CPU last). */
int test_device_count(void);

/* Number of OpenCL devices, which are registry devices 0 .. n-1 and OpenCL
 * devices 0 .. n-1 alike.  Exits loudly when there is none: OpenCL tests
 * never skip. */
int test_opencl_device_count(void);

/* The OpenCL devices (0 .. n-1) that tests whose time goes to the drivers'
 * kernel builds run on: every one, but the first alone under the sanitizers
 * ($ALBERT_TEST_SANITIZED, tests/CMakeLists.txt), where the host code they
 * run is the same on each device and ASan's allocator slows the drivers'
 * compilers; the release run covers every device. */
int test_opencl_devices_checked(void);

/* The CPU's registry index. */
int test_cpu_device(void);

/* "0 (DEVICE NAME)" or "cpu": a device's label for messages, into DST. */
void test_device_label(int device, char *dst, size_t size);

/* calloc of N (at least 1) items of SIZE; exits loudly when out of memory. */
void *test_calloc(size_t n, size_t size);

/* rm -rf DIR (a test's temporary folder), counted as a check. */
void test_remove_tree(const char *dir);

/* Prints "N passed, M failed" and returns the process exit status. */
int test_finish(void);

/* max |a - b| over positions whose MASK[b*T + t] is 1 (NULL: all), for
 * tensors laid out [..., B, T, H] with OUTER leading blocks of B*T*H
 * (hidden_states); NaN counts as infinite.  *COMPARED (when not NULL) grows
 * by the number of values compared, so a caller can tell a pass from
 * having compared nothing. */
double test_max_abs_masked(const float *a, const float *b, int outer, int B, int T, int H,
                           const int32_t *mask, size_t *compared);

/* One golden case of ../shared/golden/<model>.safetensors. */
typedef struct golden_case {
    char name[64];
    int B, T, H, layers_plus_one; /* layers_plus_one 0 when no hidden_states */
    int has_pairs;
    int32_t *input_ids, *token_type_ids, *attention_mask; /* [B*T] */
    float *last_hidden_state;                             /* [B*T*H] */
    float *pooler_output;                                 /* [B*H] */
    float *hidden_states;                                 /* [(L+1)*B*T*H] or NULL */
} golden_case;

/* Loads every case of golden/<MODEL>.json (exits loudly if unreadable);
 * returns the count. */
int golden_load(const char *model, golden_case **cases);
void golden_free(golden_case *cases, int count);

/* The golden models, NULL-terminated. */
extern const char *const golden_models[];

#endif
