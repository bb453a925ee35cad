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

/* "0 (NAME), 1 (NAME), cpu": the ids a user can pick from. */
static void list_ids(char *dst, size_t size)
{
    int total = 0;
    albert_device_count(&total, NULL);
    size_t len = 0;
    dst[0] = '\0';
    for (int i = 0; i < total && len < size; i++) {
        albert_device_info info;
        if (plain_info(i, &info, NULL) != ALBERT_OK)
            continue;
        int n = strcmp(info.backend, "cpu") == 0
                    ? snprintf(dst + len, size - len, "%s%s", i ? ", " : "", info.id)
                    : snprintf(dst + len, size - len, "%s%s (%s)", i ? ", " : "", info.id,
                               info.name);
        len += n > 0 ? (size_t)n : 0;
    }
}

/* "device WHAT does not exist; there are: ...", with the reason a backend
 * listed no devices when one did (no OpenCL platform, say). */
static int no_such_device(const char *what, albert_error *err)
{
    char ids[ALBERT_ERRMSG_MAX / 2];
    list_ids(ids, sizeof ids);
    albert_error note;
    int total = 0;
    albert_device_count(&total, &note);
    const int has_note = note.msg[0] != '\0';
    return albert_fail(err, ALBERT_E_ARG, "device %.64s does not exist; there are: %s%s%.*s%s",
                       what, ids, has_note ? " (" : "", ALBERT_ERRMSG_MAX / 4, note.msg,
                       has_note ? ")" : "");
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
    char want[sizeof ((albert_device_info *)0)->id];
    if (!canonical_id(id, want, sizeof want))
        return no_such_device(id, err);
    int total = 0;
    albert_device_count(&total, NULL);
    for (int i = 0; i < total; i++) {
        albert_device_info info;
        if (plain_info(i, &info, NULL) == ALBERT_OK && strcmp(info.id, want) == 0) {
            *index = i;
            return albert_ok(err);
        }
    }
    return no_such_device(id, err);
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

int registry_create_backend(const albert_model *model, int index,
                            const albert_engine_options *opt, albert_backend **out,
                            albert_error *err)
{
    *out = NULL;
    const albert_backend_reg *reg;
    int local, total;
    if (!locate(index, &reg, &local, &total)) {
        char what[32];
        snprintf(what, sizeof what, "%d", index);
        return no_such_device(what, err);
    }
    return reg->create(model, local, opt, out, err);
}
