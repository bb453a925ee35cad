/* Fault injection for tests (see fault.h); compiled only with ALBERT_FAULTS.
 * Process-wide on purpose: the Nth event of a whole run is what a test
 * sweeps. */
#include "core/fault.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[ALBERT_FAULT_KINDS] = {"alloc", "opencl", "write"};

static atomic_ulong counts[ALBERT_FAULT_KINDS];
static int fail_kind = -1;     /* the kind that fails, -1 for none */
static unsigned long fail_at;  /* its event number */
static int report_counts;      /* ALBERT_CL_FAULT=count */
static atomic_int fired;       /* the fault was injected */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void print_counts(void)
{
    fprintf(stderr, "albert-cl faults:");
    for (int k = 0; k < ALBERT_FAULT_KINDS; k++)
        fprintf(stderr, " %s %lu", kind_names[k], (unsigned long)atomic_load(&counts[k]));
    fprintf(stderr, "\n");
}

/* Tests tell a fault the run survived from one that never came. */
static void print_fired(void)
{
    if (atomic_load(&fired))
        fprintf(stderr, "albert-cl faults: injected %s %lu\n", kind_names[fail_kind], fail_at);
}

static void read_setting(void)
{
    const char *v = getenv("ALBERT_CL_FAULT");
    if (!v)
        return;
    if (strcmp(v, "count") == 0) {
        report_counts = 1;
        atexit(print_counts);
        return;
    }
    for (int k = 0; k < ALBERT_FAULT_KINDS; k++) {
        size_t n = strlen(kind_names[k]);
        if (strncmp(v, kind_names[k], n) == 0 && v[n] == ':') {
            fail_kind = k;
            fail_at = strtoul(v + n + 1, NULL, 10);
            atexit(print_fired);
        }
    }
}

int albert_fault(albert_fault_kind kind)
{
    pthread_once(&once, read_setting);
    unsigned long n = atomic_fetch_add(&counts[kind], 1) + 1;
    if ((int)kind != fail_kind || n != fail_at)
        return 0;
    atomic_store(&fired, 1);
    return 1;
}

/* ---------------------------------------------------------------- allocation */

/* The linker sends every allocation of the program's own objects here
 * (-Wl,--wrap=malloc,...: CMakeLists.txt); the shared libraries below keep
 * theirs, except cJSON's, routed through its hooks. */
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);

void *__wrap_malloc(size_t n)
{
    return albert_fault(ALBERT_FAULT_ALLOC) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t count, size_t n)
{
    return albert_fault(ALBERT_FAULT_ALLOC) ? NULL : __real_calloc(count, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return albert_fault(ALBERT_FAULT_ALLOC) ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return albert_fault(ALBERT_FAULT_ALLOC) ? NULL : __real_aligned_alloc(align, n);
}

char *__wrap_strdup(const char *s)
{
    return albert_fault(ALBERT_FAULT_ALLOC) ? NULL : __real_strdup(s);
}

__attribute__((constructor)) static void hook_cjson(void)
{
    cJSON_Hooks hooks = {__wrap_malloc, free};
    cJSON_InitHooks(&hooks);
}
