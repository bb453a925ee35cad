/* Typed reads of tokenizer.json's fields, each failure naming the file and
 * the field's JSON path ("normalizer.normalizers[2].type"). */
#ifndef ALBERT_TOKENIZER_JSON_FIELDS_H
#define ALBERT_TOKENIZER_JSON_FIELDS_H

#include "albert_cl.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Where a field is: the file, and the JSON path of the object holding it. */
typedef struct json_at {
    const char *file;
    const char *path;
} json_at;

/* PATH.KEY (or PATH[INDEX] when KEY is NULL) into DST. */
void json_path(char *dst, size_t size, const char *path, const char *key, int index);

/* ALBERT_E_FORMAT: "FILE: PATH.KEY must be WHAT" (KEY NULL: PATH). */
int json_type_error(const json_at *at, const char *key, const char *what, albert_error *err);

/* ALBERT_E_UNSUPPORTED: "FILE: PATH.KEY VALUE is not supported (WHY)". */
int json_unsupported(const json_at *at, const char *key, const char *value, const char *why,
                     albert_error *err);

/* Required fields of OBJ. */
int json_string(const cJSON *obj, const char *key, const json_at *at, const char **out,
                albert_error *err);
int json_object(const cJSON *obj, const char *key, const json_at *at, const cJSON **out,
                albert_error *err);
int json_array(const cJSON *obj, const char *key, const json_at *at, const cJSON **out,
               albert_error *err);
/* An integer in [MIN, MAX]. */
int json_int(const cJSON *obj, const char *key, const json_at *at, long min, long max, long *out,
             albert_error *err);
/* Optional: *OUT keeps its value when KEY is absent or null. */
int json_bool(const cJSON *obj, const char *key, const json_at *at, bool *out, albert_error *err);

/* The "type" of OBJ, which must be an object. */
int json_type_of(const cJSON *obj, const json_at *at, const char **type, albert_error *err);

#endif
