/* Tuning profiles: loading, checking and picking (see tuning.h and
 * profiles/README.md).  Every problem is reported as "FILE: KEY: what", so a
 * user can fix a hand-edited profile from the message alone. */
#define _GNU_SOURCE /* dladdr */
#include "opencl/tuning.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ALBERT_TUNING_FROM_LIBDIR
#define ALBERT_TUNING_FROM_LIBDIR ""
#endif
#ifndef ALBERT_TUNING_INSTALL_DIR
#define ALBERT_TUNING_INSTALL_DIR ""
#endif
#ifndef ALBERT_TUNING_SOURCE_DIR
#define ALBERT_TUNING_SOURCE_DIR ""
#endif

static const char *const match_keys[TUNING_MATCH_COUNT] = {"platform", "device", "driver",
                                                            "type"};

/* Largest value any numeric field may take: far beyond any real work-group
 * or tile size, small enough that no product of a few of them overflows. */
#define TUNING_MAX_VALUE (1u << 24)

/* ---------------------------------------------------------------- loading */

typedef struct loader {
    const char *path;
    tuning_profile *p;
    albert_error *err;
} loader;

static int bad(const loader *l, const char *key, const char *fmt, ...) ALBERT_PRINTF(3, 4);

/* "PATH: KEY: problem", ALBERT_E_FORMAT. */
static int bad(const loader *l, const char *key, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return albert_fail(l->err, ALBERT_E_FORMAT, "%s: %s: %s", l->path, key, what);
}

/* "PARENT.NAME", names cut short: a key in a message needs only to be
 * recognisable. */
static void key_path(char *dst, size_t size, const char *parent, const char *name)
{
    snprintf(dst, size, "%.100s.%.100s", parent, name);
}

/* An object's member ITEM may appear once only: cJSON keeps duplicates and
 * would silently use the first. */
static int check_unique(const loader *l, const cJSON *parent, const cJSON *item, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(parent, item->string) == item
               ? ALBERT_OK
               : bad(l, key, "duplicate key");
}

static int expect_object(const loader *l, const cJSON *item, const char *key)
{
    return cJSON_IsObject(item) ? ALBERT_OK : bad(l, key, "expected an object");
}

static int get_uint(const loader *l, const cJSON *item, const char *key, size_t *out)
{
    const double v = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
    if (v < 0 || v != floor(v) || v > TUNING_MAX_VALUE)
        return bad(l, key, "expected a non-negative integer (at most %u)", TUNING_MAX_VALUE);
    *out = (size_t)v;
    return ALBERT_OK;
}

static int get_string(const loader *l, const cJSON *item, const char *key, char *dst, size_t size)
{
    if (!cJSON_IsString(item))
        return bad(l, key, "expected a string");
    if (strlen(item->valuestring) >= size)
        return bad(l, key, "longer than %zu bytes", size - 1);
    snprintf(dst, size, "%s", item->valuestring);
    return ALBERT_OK;
}

/* "clblast.Xgemm": every parameter of the kernel, nothing else. */
static int load_clblast_kernel(const loader *l, const cJSON *obj, int kernel, const char *key)
{
    const clblast_kernel_spec *spec = &clblast_kernel_specs[kernel];
    int seen[CLBLAST_MAX_PARAMS] = {0};
    int rc = expect_object(l, obj, key);
    const cJSON *item;
    char sub[256];
    cJSON_ArrayForEach(item, obj)
    {
        if (rc != ALBERT_OK)
            break;
        key_path(sub, sizeof sub, key, item->string);
        size_t j = 0;
        while (j < spec->n && strcmp(spec->params[j], item->string) != 0)
            j++;
        rc = j < spec->n ? check_unique(l, obj, item, sub)
                         : bad(l, sub, "not a parameter of CLBlast's %s kernel", spec->kernel);
        if (rc == ALBERT_OK)
            rc = get_uint(l, item, sub, &l->p->clblast[kernel][j]);
        if (rc == ALBERT_OK && l->p->clblast[kernel][j] == 0 && !(spec->zero_ok >> j & 1u))
            rc = bad(l, sub, "must be positive (a tile or vector size)");
        if (rc == ALBERT_OK)
            seen[j] = 1;
    }
    for (size_t j = 0; rc == ALBERT_OK && j < spec->n; j++)
        if (!seen[j])
            rc = bad(l, key, "missing parameter %s (CLBlast needs the complete set)",
                     spec->params[j]);
    l->p->has_clblast[kernel] = rc == ALBERT_OK;
    return rc;
}

/* Every member of object OBJ at SECTION, each by FN with its "SECTION.NAME"
 * key; stops at the first problem. */
typedef int (*member_loader)(const loader *l, const cJSON *obj, const cJSON *item,
                             const char *key);

static int load_section(const loader *l, const cJSON *obj, const char *section, member_loader fn)
{
    int rc = expect_object(l, obj, section);
    const cJSON *item;
    char key[256];
    cJSON_ArrayForEach(item, obj)
    {
        if (rc != ALBERT_OK)
            break;
        key_path(key, sizeof key, section, item->string);
        rc = fn(l, obj, item, key);
    }
    return rc;
}

static int load_clblast_member(const loader *l, const cJSON *obj, const cJSON *item,
                               const char *key)
{
    int kernel = clblast_kernel_index(item->string);
    int rc = kernel >= 0 ? check_unique(l, obj, item, key)
                         : bad(l, key, "not a CLBlast kernel a profile can set");
    return rc == ALBERT_OK ? load_clblast_kernel(l, item, kernel, key) : rc;
}

/* "kernels": our launch shapes: work-group sizes and vector widths, each a
 * power of two (the row kernels' reductions halve the work-group), and the
 * Linear GEMM's tile (kernels/linear.cl reads its panels as float16);
 * attention 1 picks kernels/attention.cl, 2 kernels/attention_tiled.cl
 * (attn_bq queries per work-group, key tiles of attn_bk); subgroups 1 lets
 * the row kernels reduce with sub-group built-ins. */
static const struct {
    const char *name;
    size_t offset;
    size_t min, max, step; /* step 0: a power of two up to max */
} kernel_fields[] = {
    {"wg_row", offsetof(tuning_profile, wg_row), 1, 4096, 0},
    {"wg_elem", offsetof(tuning_profile, wg_elem), 1, 4096, 0},
    {"vec", offsetof(tuning_profile, vec), 1, 16, 0},
    {"gemm_mr", offsetof(tuning_profile, gemm_mr), 1, 16, 1},
    {"gemm_nr", offsetof(tuning_profile, gemm_nr), 16, 64, 16},
    {"attention", offsetof(tuning_profile, attention), 0, 2, 1},
    {"attn_bq", offsetof(tuning_profile, attn_bq), 1, 1024, 0},
    {"attn_bk", offsetof(tuning_profile, attn_bk), 1, 64, 1},
    {"subgroups", offsetof(tuning_profile, subgroups), 0, 1, 1},
};
#define N_KERNEL_FIELDS (sizeof kernel_fields / sizeof kernel_fields[0])

static int load_kernels_member(const loader *l, const cJSON *obj, const cJSON *item,
                               const char *key)
{
    size_t i = 0, v = 0;
    while (i < N_KERNEL_FIELDS && strcmp(kernel_fields[i].name, item->string) != 0)
        i++;
    if (i == N_KERNEL_FIELDS)
        return bad(l, key,
                   "unknown key (expected wg_row, wg_elem, vec, gemm_mr, gemm_nr, attention, "
                   "attn_bq, attn_bk or subgroups)");
    int rc = check_unique(l, obj, item, key);
    if (rc == ALBERT_OK)
        rc = get_uint(l, item, key, &v);
    const size_t min = kernel_fields[i].min, max = kernel_fields[i].max;
    const size_t step = kernel_fields[i].step;
    if (rc == ALBERT_OK && step == 0 && (v == 0 || (v & (v - 1)) != 0 || v > max))
        rc = bad(l, key, "%zu is not a power of two from 1 to %zu", v, max);
    if (rc == ALBERT_OK && step && (v < min || v % step || v > max))
        rc = step == 1 ? bad(l, key, "%zu is not from %zu to %zu", v, min, max)
                       : bad(l, key, "%zu is not a multiple of %zu up to %zu", v, step, max);
    if (rc == ALBERT_OK)
        *(int *)((char *)l->p + kernel_fields[i].offset) = (int)v;
    return rc;
}

/* A string, or an array of 1 to TUNING_MATCH_ALTS strings: any one of them
 * may occur in the device's string. */
static int load_match_value(const loader *l, const cJSON *item, const char *key, int i)
{
    char (*alt)[128] = l->p->match[i];
    if (!cJSON_IsArray(item)) {
        l->p->n_match[i] = 1;
        return get_string(l, item, key, alt[0], sizeof alt[0]);
    }
    const int n = cJSON_GetArraySize(item);
    if (n < 1 || n > TUNING_MATCH_ALTS)
        return bad(l, key, "expected a string or 1 to %d strings", TUNING_MATCH_ALTS);
    int rc = ALBERT_OK;
    for (int a = 0; a < n && rc == ALBERT_OK; a++)
        rc = get_string(l, cJSON_GetArrayItem(item, a), key, alt[a], sizeof alt[a]);
    l->p->n_match[i] = n;
    return rc;
}

/* "type" takes whole type names only: a typo would never match. */
static int check_types(const loader *l, const char *key)
{
    static const char *const types[] = {"CPU", "GPU", "ACCELERATOR", "OTHER"};
    for (int a = 0; a < l->p->n_match[TUNING_MATCH_TYPE]; a++) {
        const char *t = l->p->match[TUNING_MATCH_TYPE][a];
        size_t k = 0;
        while (k < 4 && strcmp(t, types[k]) != 0)
            k++;
        if (k == 4)
            return bad(l, key, "'%s' is not a device type (CPU, GPU, ACCELERATOR, OTHER)", t);
    }
    return ALBERT_OK;
}

static int load_match_member(const loader *l, const cJSON *obj, const cJSON *item,
                             const char *key)
{
    int i = 0;
    while (i < TUNING_MATCH_COUNT && strcmp(match_keys[i], item->string) != 0)
        i++;
    if (i == TUNING_MATCH_COUNT)
        return bad(l, key, "unknown key (expected platform, device, driver or type)");
    int rc = check_unique(l, obj, item, key);
    if (rc == ALBERT_OK)
        rc = load_match_value(l, item, key, i);
    return rc == ALBERT_OK && i == TUNING_MATCH_TYPE ? check_types(l, key) : rc;
}

static int load_version(const loader *l, const cJSON *item)
{
    size_t v = 0;
    int rc = get_uint(l, item, "albert_cl_profile", &v);
    if (rc == ALBERT_OK && v != 1)
        rc = bad(l, "albert_cl_profile", "format version %zu is not supported (expected 1)", v);
    return rc;
}

static int load_member(const loader *l, const cJSON *item)
{
    const char *k = item->string;
    if (strcmp(k, "albert_cl_profile") == 0)
        return load_version(l, item);
    if (strcmp(k, "name") == 0)
        return get_string(l, item, k, l->p->name, sizeof l->p->name);
    if (strcmp(k, "description") == 0)
        return cJSON_IsString(item) ? ALBERT_OK : bad(l, k, "expected a string");
    if (strcmp(k, "match") == 0)
        return load_section(l, item, "match", load_match_member);
    if (strcmp(k, "clblast") == 0)
        return load_section(l, item, "clblast", load_clblast_member);
    if (strcmp(k, "kernels") == 0)
        return load_section(l, item, "kernels", load_kernels_member);
    if (strcmp(k, "tuned") == 0)
        return expect_object(l, item, k);
    return bad(l, k, "unknown key (expected albert_cl_profile, name, description, match, "
                     "clblast, kernels or tuned)");
}

/* 1-based line of POS in TEXT, for JSON syntax errors. */
static int line_of(const char *text, const char *pos)
{
    int line = 1;
    for (const char *c = text; pos && c < pos && *c; c++)
        line += *c == '\n';
    return line;
}

static int load_root(const loader *l, const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return albert_fail(l->err, ALBERT_E_FORMAT, "%s: expected a JSON object at the top",
                           l->path);
    int rc = ALBERT_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        rc = check_unique(l, root, item, item->string);
        if (rc == ALBERT_OK)
            rc = load_member(l, item);
        if (rc != ALBERT_OK)
            return rc;
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "albert_cl_profile"))
        return bad(l, "albert_cl_profile",
                   "missing (a profile starts with \"albert_cl_profile\": 1)");
    if (!l->p->name[0])
        return bad(l, "name", "missing or empty");
    return ALBERT_OK;
}

int tuning_load(const char *path, tuning_profile *p, albert_error *err)
{
    memset(p, 0, sizeof *p);
    if (strlen(path) >= sizeof p->path)
        return albert_fail(err, ALBERT_E_IO, "%.200s...: profile path too long", path);
    snprintf(p->path, sizeof p->path, "%s", path);
    char *text = NULL;
    int rc = albert_read_file(path, &text, NULL, err);
    if (rc != ALBERT_OK)
        return rc;
    albert_json_failure why;
    cJSON *root = albert_json_parse(text, strlen(text), 1, &why);
    loader l = {path, p, err};
    if (!root && why.nomem)
        rc = albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory while parsing it", path);
    else if (!root)
        rc = albert_fail(err, ALBERT_E_FORMAT, "%s: invalid JSON at line %d", path,
                         line_of(text, text + why.offset));
    else
        rc = load_root(&l, root);
    cJSON_Delete(root);
    free(text);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

/* ---------------------------------------------------------------- picking */

int tuning_matches(const tuning_profile *p, const char *const device[TUNING_MATCH_COUNT],
                    size_t *score)
{
    *score = 0;
    for (int i = 0; i < TUNING_MATCH_COUNT; i++) {
        size_t best = 0;
        int hit = p->n_match[i] == 0;
        for (int a = 0; a < p->n_match[i]; a++)
            if (strstr(device[i], p->match[i][a])) {
                hit = 1;
                best = strlen(p->match[i][a]) > best ? strlen(p->match[i][a]) : best;
            }
        if (!hit)
            return 0;
        *score += best;
    }
    return 1;
}

static int has_json_suffix(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The *.json names in DIR, sorted.  A missing or unreadable folder has none unless
 * REQUIRED (the user named it). */
static int list_profiles(const char *dir, int required, char ***out, size_t *count,
                         albert_error *err)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (!required) /* a built-in folder we cannot read has nothing for us */
            return ALBERT_OK;
        return albert_fail(err, ALBERT_E_IO, "profile folder %s: %s", dir, strerror(errno));
    }
    size_t cap = 0;
    char **names = NULL;
    int rc = ALBERT_OK;
    for (struct dirent *e = readdir(d); e && rc == ALBERT_OK; e = readdir(d)) {
        if (!has_json_suffix(e->d_name))
            continue;
        char **bigger = *count < cap ? names : realloc(names, (cap = 2 * cap + 16) * sizeof *names);
        char *name = bigger ? strdup(e->d_name) : NULL;
        if (bigger)
            names = bigger;
        if (name)
            names[(*count)++] = name;
        else
            rc = albert_fail(err, ALBERT_E_NOMEM, "profile folder %s: out of memory", dir);
    }
    closedir(d);
    if (names)
        qsort(names, *count, sizeof *names, compare_names);
    *out = names;
    return rc;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Loads every profile of DIR and keeps in *BEST the one that beats it. */
static int search_dir(const char *dir, int required, const char *const device[], int *found,
                      size_t *best_score, tuning_profile *best, albert_error *err)
{
    char **names;
    size_t n;
    int rc = list_profiles(dir, required, &names, &n, err);
    tuning_profile *cand = malloc(sizeof *cand);
    if (rc == ALBERT_OK && !cand)
        rc = albert_fail(err, ALBERT_E_NOMEM, "profile search: out of memory");
    for (size_t i = 0; rc == ALBERT_OK && i < n; i++) {
        char path[1024];
        albert_path_join(path, sizeof path, dir, names[i]);
        size_t score;
        rc = tuning_load(path, cand, err);
        if (rc != ALBERT_OK || !tuning_matches(cand, device, &score))
            continue;
        if (!*found || score > *best_score ||
            (score == *best_score && strcmp(names[i], base_name(best->path)) < 0)) {
            *best = *cand;
            *best_score = score;
            *found = 1;
        }
    }
    free(cand);
    free_names(names, n);
    return rc;
}

/* The installed profile folder as seen from the file this code was loaded
 * from (the shared library); "" when unknown.  In a static link it points
 * next to the executable, where there is usually no such folder. */
static void relocated_dir(char *dst, size_t size)
{
    Dl_info info;
    dst[0] = '\0';
    if (!ALBERT_TUNING_FROM_LIBDIR[0] || !dladdr((void *)relocated_dir, &info) ||
        !info.dli_fname)
        return;
    /* "prefix/bin/../lib/libalbertcl.so" when found through the CLI's RPATH. */
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash || (size_t)(slash - info.dli_fname) >= sizeof dir / 2)
        return;
    snprintf(dir, sizeof dir, "%.*s/%.*s", (int)(slash - info.dli_fname), info.dli_fname,
             PATH_MAX / 2 - 2, ALBERT_TUNING_FROM_LIBDIR);
    if (realpath(dir, real) && strlen(real) < size) /* a missing folder has none */
        snprintf(dst, size, "%s", real);
}

int tuning_find(const char *const device[TUNING_MATCH_COUNT], const char *dir,
                tuning_profile *best, int *found, albert_error *err)
{
    *found = 0;
    size_t best_score = 0;
    if (dir && *dir)
        return search_dir(dir, 1, device, found, &best_score, best, err);
    char relocated[1024];
    relocated_dir(relocated, sizeof relocated);
    const char *const dirs[] = {relocated, ALBERT_TUNING_INSTALL_DIR, ALBERT_TUNING_SOURCE_DIR};
    int rc = ALBERT_OK;
    for (size_t i = 0; rc == ALBERT_OK && i < sizeof dirs / sizeof dirs[0]; i++)
        if (dirs[i][0])
            rc = search_dir(dirs[i], 0, device, found, &best_score, best, err);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
