/* The device registry (see registry.h) and the public device calls. */
#include "engine/registry.h"

#include "cpu/backend.h"
#include "opencl/backend.h"

#include <stdio.h>
#include <string.h>

/* In registry order: a backend's devices take the next indices.  OpenCL
 * first, so that an OpenCL device's index is its place in the ICD loader's
 * order, as --device N has always meant. */
static const albert_backend_reg *const backends[] = {&albert_opencl_backend_reg,
                                                     &albert_cpu_backend_reg};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

/* Devices per backend.  One whose enumeration fails lists none and leaves
 * its reason in NOTE (when not NULL): the others stay usable. */
static void count_devices(int counts[N_BACKENDS], albert_error *note)
{
    if (note)
        albert_ok(note);
    for (size_t b = 0; b < N_BACKENDS; b++) {
        albert_error why;
        albert_ok(&why);
        if (backends[b]->device_count(&counts[b], &why) != ALBERT_OK)
            counts[b] = 0;
        if (note && counts[b] == 0 && why.msg[0] && !note->msg[0])
            snprintf(note->msg, sizeof note->msg, "%s", why.msg);
    }
}

/* The backend and its own device number of registry device INDEX; 0 when
 * there is none, *TOTAL getting the number of devices. */
static int locate(int index, const albert_backend_reg **reg, int *local, int *total)
{
    int counts[N_BACKENDS];
    count_devices(counts, NULL);
    int first = 0, found = 0;
    for (size_t b = 0; b < N_BACKENDS; b++) {
        if (!found && index >= first && index < first + counts[b]) {
            *reg = backends[b];
            *local = index - first;
            found = 1;
        }
        first += counts[b];
    }
    *total = first;
    return found;
}

/* Device info without the tuning-profile search: what picking needs. */
static int plain_info(int index, albert_device_info *info, albert_error *err)
{
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.no_tuning = 1;
    return albert_device_info_get(index, &opt, info, err);
}

/* Adds ", ID (NAME)" (the CPU's without a name) to the list in DST. */
static void append_id(char *dst, size_t size, size_t *len, const albert_device_info *info)
{
    if (*len >= size)
        return;
    const char *sep = *len ? ", " : "";
    int n = strcmp(info->backend, "cpu") == 0
                ? snprintf(dst + *len, size - *len, "%s%s", sep, info->id)
                : snprintf(dst + *len, size - *len, "%s%s (%s)", sep, info->id, info->name);
    *len += n > 0 ? (size_t)n : 0;
}

/* 1 when ID is the decimal index I, as the registry spells it. */
static int index_is(const char *id, int i)
{
    char s[16];
    snprintf(s, sizeof s, "%d", i);
    return strcmp(id, s) == 0;
}

/* Walks the registry once: the index of the device whose id is WANT (-1
 * for none, or when WANT is NULL) in *FOUND, and the ids a user can pick
 * from in IDS, "0 (NAME), 1 (NAME), cpu", then why a backend lists none
 * when one does (no OpenCL platform, say).  One walk, so the answer and the
 * list cannot disagree.  A device that cannot be described is left out, or
 * is the error when it is the one asked for. */
static int scan_devices(const char *want, int *found, char *ids, size_t size, albert_error *err)
{
    albert_error note;
    int total = 0;
    albert_device_count(&total, &note);
    size_t len = 0;
    ids[0] = '\0';
    *found = -1;
    for (int i = 0; i < total; i++) {
        albert_device_info info;
        int rc = plain_info(i, &info, err);
        if (rc != ALBERT_OK && want && index_is(want, i))
            return rc; /* the device asked for: why it cannot be used */
        if (rc != ALBERT_OK)
            continue; /* another device's trouble stays its own */
        if (want && *found < 0 && strcmp(info.id, want) == 0)
            *found = i;
        append_id(ids, size, &len, &info);
    }
    if (note.msg[0] && len < size)
        snprintf(ids + len, size - len, " (%.*s)", ALBERT_ERRMSG_MAX / 4, note.msg);
    return ALBERT_OK;
}

static int no_such_device(const char *what, const char *ids, albert_error *err)
{
    return albert_fail(err, ALBERT_E_ARG, "device %.64s does not exist; there are: %s", what,
                       ids);
}

/* ID as the registry spells it: a decimal index without leading zeros
 * ("00" is "0"); any other id as it is.  0 when it does not fit DST (then no
 * device has it). */
static int canonical_id(const char *id, char *dst, size_t size)
{
    size_t digits = strspn(id, "0123456789");
    while (digits > 1 && id[digits] == '\0' && *id == '0') {
        id++;
        digits--;
    }
    return strlen(id) < size && snprintf(dst, size, "%s", id) >= 0;
}

int albert_device_count(int *count, albert_error *err)
{
    if (!count)
        return albert_fail(err, ALBERT_E_ARG, "albert_device_count: NULL count");
    int counts[N_BACKENDS];
    count_devices(counts, err);
    *count = 0;
    for (size_t b = 0; b < N_BACKENDS; b++)
        *count += counts[b];
    return ALBERT_OK;
}

int albert_device_info_get(int index, const albert_engine_options *opt, albert_device_info *info,
                           albert_error *err)
{
    if (!info)
        return albert_fail(err, ALBERT_E_ARG, "albert_device_info_get: NULL info");
    albert_engine_options defaults;
    albert_engine_options_init(&defaults);
    const albert_backend_reg *reg;
    int local, total;
    if (index == ALBERT_DEVICE_AUTO)
        index = registry_auto_device();
    if (!locate(index, &reg, &local, &total))
        return albert_fail(err, ALBERT_E_ARG, "no device %d: %d device%s", index, total,
                           total == 1 ? "" : "s");
    int rc = reg->device_info(local, opt ? opt : &defaults, info, err);
    info->index = index;
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

int albert_device_find(const char *id, int *index, albert_error *err)
{
    if (!id || !index)
        return albert_fail(err, ALBERT_E_ARG, "albert_device_find: NULL id or index");
    char want[sizeof ((albert_device_info *)0)->id], ids[ALBERT_ERRMSG_MAX / 2];
    const int spelled = canonical_id(id, want, sizeof want);
    int found = -1;
    int rc = scan_devices(spelled ? want : NULL, &found, ids, sizeof ids, err);
    if (rc != ALBERT_OK)
        return rc;
    if (found < 0)
        return no_such_device(id, ids, err);
    *index = found;
    return albert_ok(err);
}

int registry_auto_device(void)
{
    int total = 0;
    albert_device_count(&total, NULL);
    for (int i = 0; i < total; i++) {
        albert_device_info info;
        if (plain_info(i, &info, NULL) == ALBERT_OK && strcmp(info.type, "GPU") == 0)
            return i;
    }
    return 0;
}

int albert_device_runs(const albert_device_info *info, int precision)
{
    const char *name = albert_precision_name(precision), *list = info ? info->precisions : "";
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

/* A device runs the precisions its info lists; asking for another is never
 * silently answered in fp32. */
static int check_precision(const albert_backend_reg *reg, int local,
                           const albert_engine_options *opt, albert_error *err)
{
    if (opt->precision < 0 || opt->precision >= ALBERT_PRECISION_COUNT)
        return albert_fail(err, ALBERT_E_ARG, "albert_engine_create: unknown precision %d",
                           opt->precision);
    albert_device_info info;
    int rc = reg->device_info(local, opt, &info, err);
    if (rc == ALBERT_OK && !albert_device_runs(&info, opt->precision))
        rc = albert_fail(err, ALBERT_E_UNSUPPORTED, "device %s (%s) runs %s, not %s", info.id,
                         info.name, info.precisions, albert_precision_name(opt->precision));
    return rc;
}

int registry_create_backend(const albert_model *model, int index,
                            const albert_engine_options *opt, albert_backend **out,
                            albert_error *err)
{
    *out = NULL;
    const albert_backend_reg *reg;
    int local, total;
    if (!locate(index, &reg, &local, &total)) {
        char what[32], ids[ALBERT_ERRMSG_MAX / 2];
        int found;
        snprintf(what, sizeof what, "%d", index);
        int rc = scan_devices(NULL, &found, ids, sizeof ids, err);
        return rc != ALBERT_OK ? rc : no_such_device(what, ids, err);
    }
    int rc = check_precision(reg, local, opt, err);
    return rc == ALBERT_OK ? reg->create(model, local, opt, out, err) : rc;
}
