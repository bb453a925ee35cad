#include "tokenizer/json_fields.h"
#include "core/common.h"

#include <math.h>
#include <stdio.h>

void json_path(char *dst, size_t size, const char *path, const char *key, int index)
{
    if (key)
        snprintf(dst, size, "%s%s%s", path, *path ? "." : "", key);
    else
        snprintf(dst, size, "%s[%d]", path, index);
}

/* PATH.KEY, or PATH itself when KEY is NULL. */
static void field_path(char *dst, size_t size, const json_at *at, const char *key)
{
    if (key)
        json_path(dst, size, at->path, key, 0);
    else
        snprintf(dst, size, "%s", at->path);
}

int json_type_error(const json_at *at, const char *key, const char *what, albert_error *err)
{
    char p[256];
    field_path(p, sizeof p, at, key);
    return albert_fail(err, ALBERT_E_FORMAT, "%s: %s must be %s", at->file, p, what);
}

int json_unsupported(const json_at *at, const char *key, const char *value, const char *why,
                     albert_error *err)
{
    char p[256];
    field_path(p, sizeof p, at, key);
    return albert_fail(err, ALBERT_E_UNSUPPORTED, "%s: %s \"%.64s\" is not supported (%s)",
                       at->file, p, value, why);
}

/* OBJ.KEY when it passes IS, else the error "must be WHAT". */
static int typed(const cJSON *obj, const char *key, cJSON_bool (*is)(const cJSON *),
                 const char *what, const json_at *at, const cJSON **out, albert_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item || !is(item))
        return json_type_error(at, key, what, err);
    *out = item;
    return ALBERT_OK;
}

int json_string(const cJSON *obj, const char *key, const json_at *at, const char **out,
                albert_error *err)
{
    const cJSON *item = NULL;
    int rc = typed(obj, key, cJSON_IsString, "a string", at, &item, err);
    if (rc == ALBERT_OK)
        *out = item->valuestring;
    return rc;
}

int json_object(const cJSON *obj, const char *key, const json_at *at, const cJSON **out,
                albert_error *err)
{
    return typed(obj, key, cJSON_IsObject, "an object", at, out, err);
}

int json_array(const cJSON *obj, const char *key, const json_at *at, const cJSON **out,
               albert_error *err)
{
    return typed(obj, key, cJSON_IsArray, "an array", at, out, err);
}

int json_int(const cJSON *obj, const char *key, const json_at *at, long min, long max, long *out,
             albert_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (!(v >= (double)min && v <= (double)max && v == floor(v))) {
        char what[96];
        snprintf(what, sizeof what, "an integer in [%ld, %ld]", min, max);
        return json_type_error(at, key, what, err);
    }
    *out = (long)v;
    return ALBERT_OK;
}

int json_bool(const cJSON *obj, const char *key, const json_at *at, bool *out, albert_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item || cJSON_IsNull(item))
        return ALBERT_OK;
    if (!cJSON_IsBool(item))
        return json_type_error(at, key, "true or false", err);
    *out = cJSON_IsTrue(item);
    return ALBERT_OK;
}

int json_type_of(const cJSON *obj, const json_at *at, const char **type, albert_error *err)
{
    if (!cJSON_IsObject(obj))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: %s must be an object", at->file,
                           *at->path ? at->path : "the top level");
    return json_string(obj, "type", at, type, err);
}
