#include "core/safetensors.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Headers are small (a few KiB); anything past this is garbage, not a model. */
#define ST_MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    st_dtype dtype;
    int size;
} dtypes[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8},
    {"I64", ST_I64, 8}, {"I32", ST_I32, 4}, {"I16", ST_I16, 2}, {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1},
};

static int dtype_lookup(const char *name, st_dtype *d, int *size)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (strcmp(dtypes[i].name, name) == 0) {
            *d = dtypes[i].dtype;
            *size = dtypes[i].size;
            return 1;
        }
    }
    return 0;
}

int st_dtype_size(st_dtype d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == d)
            return dtypes[i].size;
    return 0;
}

const char *st_dtype_name(st_dtype d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == d)
            return dtypes[i].name;
    return "?";
}

int st_map(st_file *f, albert_error *err)
{
    int fd = open(f->path, O_RDONLY);
    if (fd < 0)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
        close(fd);
        return albert_fail(err, sb.st_size == 0 ? ALBERT_E_FORMAT : ALBERT_E_IO,
                           "%s: %s", f->path, sb.st_size == 0 ? "empty file" : "not a regular file");
    }
    f->map_size = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return albert_fail(err, ALBERT_E_IO, "%s: mmap failed: %s", f->path, strerror(errno));
    }
    return ALBERT_OK;
}

/* Shapes and offsets are JSON numbers, read as doubles: only whole numbers
 * below 2^53 are exact, and nothing real comes near. */
#define ST_MAX_EXACT 9007199254740992.0

/* *OUT = V when V is a whole number in [0, 2^53). */
static bool whole_number(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < ST_MAX_EXACT) ||
        v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (uint64_t)v->valuedouble;
    return true;
}

/* *A *= B unless the product exceeds MAX. */
static bool mul_within(uint64_t *a, uint64_t b, uint64_t max)
{
    if (b != 0 && *a > max / b)
        return false;
    *a *= b;
    return true;
}

/* T's shape, numel and byte size (ESIZE bytes an element), every product
 * overflow-checked: a wrapped count could otherwise "match" a short range. */
static int parse_shape(const st_file *f, const char *n, const cJSON *shape, int esize,
                       st_tensor *t, albert_error *err)
{
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > ST_MAX_DIMS)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)",
                           f->path, n, t->ndim, ST_MAX_DIMS);
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (!whole_number(cJSON_GetArrayItem(shape, i), &d))
            return albert_fail(err, ALBERT_E_FORMAT,
                               "%s: tensor '%s': shape dimension %d is not a whole number in "
                               "[0, 2^53)",
                               f->path, n, i);
        t->shape[i] = (int64_t)d;
        if (!mul_within(&numel, d, INT64_MAX))
            return albert_fail(err, ALBERT_E_FORMAT,
                               "%s: tensor '%s': the element count of its shape overflows 64 bits",
                               f->path, n);
    }
    nbytes = numel;
    if (!mul_within(&nbytes, (uint64_t)esize, SIZE_MAX))
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: tensor '%s': %llu elements overflow a byte count", f->path, n,
                           (unsigned long long)numel);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    return ALBERT_OK;
}

/* T's data range: whole byte offsets, in order, inside the DATA_SIZE data
 * bytes and exactly as long as the shape needs. */
static int parse_offsets(const st_file *f, const char *n, const cJSON *offs, const char *dtype,
                         const uint8_t *data, size_t data_size, st_tensor *t, albert_error *err)
{
    uint64_t begin, end;
    if (!whole_number(cJSON_GetArrayItem(offs, 0), &begin) ||
        !whole_number(cJSON_GetArrayItem(offs, 1), &end) || end < begin)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: tensor '%s': bad data_offsets", f->path, n);
    if (end > data_size)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: tensor '%s': data ends at byte %llu but the file holds %zu data "
                           "bytes (truncated file?)",
                           f->path, n, (unsigned long long)end, data_size);
    if (end - begin != t->nbytes)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: tensor '%s': %lld elements of %s need %zu bytes, data_offsets "
                           "give %llu",
                           f->path, n, (long long)t->numel, dtype, t->nbytes,
                           (unsigned long long)(end - begin));
    t->data = data + begin;
    return ALBERT_OK;
}

static int parse_tensor(st_file *f, const cJSON *item, const uint8_t *data, size_t data_size,
                        st_tensor *t, albert_error *err)
{
    const char *p = f->path, *n = item->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: tensor '%s': header entry needs dtype, shape and data_offsets", p, n);
    int esize;
    if (!dtype_lookup(dt->valuestring, &t->dtype, &esize))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: tensor '%s': unsupported dtype '%s'", p, n,
                           dt->valuestring);
    int rc = parse_shape(f, n, shape, esize, t, err);
    if (rc == ALBERT_OK)
        rc = parse_offsets(f, n, offs, dt->valuestring, data, data_size, t, err);
    if (rc != ALBERT_OK)
        return rc;
    t->name = strdup(n);
    if (!t->name)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", p);
    return ALBERT_OK;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static int check_overlaps(const st_file *f, albert_error *err)
{
    st_tensor *sorted = malloc(sizeof *sorted * (size_t)(f->count ? f->count : 1));
    if (!sorted)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", f->path);
    memcpy(sorted, f->tensors, sizeof *sorted * (size_t)f->count);
    qsort(sorted, (size_t)f->count, sizeof *sorted, cmp_by_offset);
    int rc = ALBERT_OK;
    for (int i = 1; i < f->count && rc == ALBERT_OK; i++) {
        if (sorted[i].data < sorted[i - 1].data + sorted[i - 1].nbytes)
            rc = albert_fail(err, ALBERT_E_FORMAT, "%s: tensors '%s' and '%s' overlap", f->path,
                             sorted[i - 1].name, sorted[i].name);
    }
    free(sorted);
    return rc;
}

static int parse_header(st_file *f, albert_error *err)
{
    const uint8_t *base = f->map;
    if (f->map_size < 8)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: truncated safetensors file (%zu bytes, no header)", f->path,
                           f->map_size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | base[i];
    if (hlen > ST_MAX_HEADER || hlen > f->map_size - 8)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: not a safetensors file or truncated (header length %llu, file "
                           "size %zu)",
                           f->path, (unsigned long long)hlen, f->map_size);
    albert_json_failure why;
    cJSON *root = albert_json_parse((const char *)base + 8, (size_t)hlen, 0, &why);
    if (!root && why.nomem)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory while parsing its header",
                           f->path);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return albert_fail(err, ALBERT_E_FORMAT, "%s: safetensors header is not valid JSON",
                           f->path);
    }
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)(n ? n : 1), sizeof *f->tensors);
    if (!f->tensors) {
        cJSON_Delete(root);
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", f->path);
    }
    const uint8_t *data = base + 8 + hlen;
    size_t data_size = f->map_size - 8 - (size_t)hlen;
    int rc = ALBERT_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0)
            continue;
        rc = parse_tensor(f, item, data, data_size, &f->tensors[f->count], err);
        if (rc != ALBERT_OK)
            break;
        f->count++;
    }
    cJSON_Delete(root);
    return rc != ALBERT_OK ? rc : check_overlaps(f, err);
}

int st_open(const char *path, st_file **out, albert_error *err)
{
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", path);
    }
    int rc = st_map(f, err);
    if (rc == ALBERT_OK)
        rc = parse_header(f, err);
    if (rc != ALBERT_OK) {
        st_close(f);
        return rc;
    }
    *out = f;
    return albert_ok(err);
}

void st_close(st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->count; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_blocks; i++)
        free(f->blocks[i]);
    free(f->blocks);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: renormalise */
        exp = 113;
        while (!(man & 0x400)) {
            man <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* The top bits of MAN >> SHIFT, rounded to nearest even on the bits shifted
 * out (a carry into the exponent is the right result). */
static uint32_t round_shift(uint32_t man, int shift)
{
    const uint32_t kept = man >> shift, rest = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    return kept + (rest > half || (rest == half && (kept & 1)));
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000, man = x & 0x7fffff;
    const int exp = (int)((x >> 23) & 0xff) - 127 + 15;
    if (exp == 0xff - 127 + 15) /* infinity, NaN (kept quiet) */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) /* a subnormal half, or zero: units of 2^-24 */
        return (uint16_t)(sign | (exp < -10 ? 0 : round_shift(man | 0x800000, 14 - exp)));
    return (uint16_t)(sign | round_shift(((uint32_t)exp << 23) | man, 13));
}

float st_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* Little-endian loads that do not care about alignment. */
static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p) { return load_u32(p) | (uint64_t)load_u32(p + 4) << 32; }

int st_to_f32(const st_file *f, const st_tensor *t, float *dst, albert_error *err)
{
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case ST_F32: {
            uint32_t u = load_u32(p + 4 * i);
            memcpy(&dst[i], &u, 4);
            break;
        }
        case ST_F16: dst[i] = st_f16_to_f32(load_u16(p + 2 * i)); break;
        case ST_BF16: dst[i] = st_bf16_to_f32(load_u16(p + 2 * i)); break;
        case ST_F64: {
            uint64_t u = load_u64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
            break;
        }
        default:
            return albert_fail(err, ALBERT_E_FORMAT,
                               "%s: tensor '%s': dtype %s where a float tensor is needed", f->path,
                               t->name, st_dtype_name(t->dtype));
        }
    }
    return albert_ok(err);
}

int st_to_i32(const st_file *f, const st_tensor *t, int32_t *dst, albert_error *err)
{
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == ST_I32)
            dst[i] = (int32_t)load_u32(t->data + 4 * i);
        else if (t->dtype == ST_I64)
            dst[i] = (int32_t)(int64_t)load_u64(t->data + 8 * i);
        else
            return albert_fail(err, ALBERT_E_FORMAT,
                               "%s: tensor '%s': dtype %s where an integer tensor is needed",
                               f->path, t->name, st_dtype_name(t->dtype));
    }
    return albert_ok(err);
}
