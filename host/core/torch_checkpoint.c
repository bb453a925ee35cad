#include "core/torch_checkpoint.h"

#include "core/common.h"
#include "core/pickle.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

/* One tensor of the state dict and how the pickle rebuilds it. */
typedef struct entry {
    st_tensor *t;
    const pk_tensor *pt;
    bool placed; /* its data found */
} entry;

typedef struct reader {
    st_file *f;
    pk_arena *arena;
    entry *entries; /* f->count of them, sorted by storage key */
    albert_error *err;
} reader;

static const char *storage_key(const entry *e) { return e->pt->storage->s; }

static int cmp_entries(const void *a, const void *b)
{
    return strcmp(storage_key(a), storage_key(b));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* T's name, dtype, shape and sizes from the pickled tensor V. */
static int fill_tensor(reader *r, const char *name, const pk_value *v, st_tensor *t)
{
    const char *p = r->f->path;
    const pk_tensor *pt = v->tensor;
    t->dtype = v->dtype;
    t->ndim = pt->ndim;
    uint64_t numel = 1;
    for (int i = 0; i < pt->ndim; i++) {
        t->shape[i] = pt->shape[i];
        if (__builtin_mul_overflow(numel, (uint64_t)pt->shape[i], &numel) || numel > INT64_MAX)
            return albert_fail(r->err, ALBERT_E_FORMAT,
                               "%s: tensor '%s': the element count of its shape overflows", p,
                               name);
    }
    size_t nbytes;
    if (__builtin_mul_overflow((size_t)numel, (size_t)st_dtype_size(v->dtype), &nbytes))
        return albert_fail(r->err, ALBERT_E_FORMAT, "%s: tensor '%s': too large", p, name);
    t->numel = (int64_t)numel;
    t->nbytes = nbytes;
    t->name = strdup(name);
    return t->name ? ALBERT_OK : albert_fail(r->err, ALBERT_E_NOMEM, "%s: out of memory", p);
}

static int check_unique_names(reader *r)
{
    st_file *f = r->f;
    char **names = malloc(sizeof *names * (size_t)(f->count ? f->count : 1));
    if (!names)
        return albert_fail(r->err, ALBERT_E_NOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < f->count; i++)
        names[i] = f->tensors[i].name;
    qsort(names, (size_t)f->count, sizeof *names, cmp_names);
    int rc = ALBERT_OK;
    for (int i = 1; i < f->count && rc == ALBERT_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = albert_fail(r->err, ALBERT_E_FORMAT, "%s: key '%s' appears twice", f->path,
                             names[i]);
    free(names);
    return rc;
}

/* The state dict ROOT's tensors into r->f, their entries sorted by storage. */
static int tensors_from_dict(reader *r, const pk_value *root)
{
    st_file *f = r->f;
    if (root->kind != PK_DICT)
        return albert_fail(r->err, ALBERT_E_FORMAT,
                           "%s: holds a Python %s, not a state dict (a dict of tensors)", f->path,
                           pk_kind_name(root->kind));
    size_t n = root->n / 2;
    if (n > INT32_MAX)
        return albert_fail(r->err, ALBERT_E_FORMAT, "%s: too many tensors", f->path);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    r->entries = calloc(n ? n : 1, sizeof *r->entries);
    if (!f->tensors || !r->entries)
        return albert_fail(r->err, ALBERT_E_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < n; i++) {
        const pk_value *key = root->items[2 * i], *val = root->items[2 * i + 1];
        if (key->kind != PK_STR)
            return albert_fail(r->err, ALBERT_E_FORMAT,
                               "%s: a key of its dict is a Python %s, not a str", f->path,
                               pk_kind_name(key->kind));
        if (val->kind != PK_TENSOR)
            return albert_fail(r->err, ALBERT_E_FORMAT,
                               "%s: '%s' is a Python %s, not a tensor (a state dict holds only tensors)",
                               f->path, key->s, pk_kind_name(val->kind));
        int rc = fill_tensor(r, key->s, val, &f->tensors[i]);
        if (rc != ALBERT_OK)
            return rc;
        r->entries[f->count++] = (entry){&f->tensors[i], val->tensor, false};
    }
    qsort(r->entries, (size_t)f->count, sizeof *r->entries, cmp_entries);
    return check_unique_names(r);
}

static int add_block(reader *r, uint8_t *block)
{
    st_file *f = r->f;
    uint8_t **grown = realloc(f->blocks, sizeof *grown * (size_t)(f->n_blocks + 1));
    if (!grown) {
        free(block);
        return albert_fail(r->err, ALBERT_E_NOMEM, "%s: out of memory", f->path);
    }
    f->blocks = grown;
    f->blocks[f->n_blocks++] = block;
    return ALBERT_OK;
}

static bool contiguous(const pk_tensor *pt)
{
    int64_t expect = 1;
    for (int d = pt->ndim - 1; d >= 0; d--) {
        if (pt->shape[d] != 1 && pt->stride[d] != expect)
            return false;
        expect *= pt->shape[d];
    }
    return true;
}

/* Copies the NUMEL elements of ES bytes that PT's strides pick from SRC
 * (its first element) into DST, in row-major order. */
static void gather(uint8_t *dst, const uint8_t *src, const pk_tensor *pt, size_t es, int64_t numel)
{
    int64_t idx[PK_MAX_DIMS] = {0};
    size_t at = 0; /* elements from SRC */
    for (int64_t i = 0; i < numel; i++) {
        memcpy(dst + (size_t)i * es, src + at * es, es);
        for (int d = pt->ndim - 1; d >= 0; d--) {
            if (++idx[d] < pt->shape[d]) {
                at += (size_t)pt->stride[d];
                break;
            }
            at -= (size_t)((pt->shape[d] - 1) * pt->stride[d]);
            idx[d] = 0;
        }
    }
}

/* E's data: its storage holds NBYTES at BASE, and the tensor's elements,
 * wherever its offset and strides put them, must lie inside.  A
 * contiguous tensor points into the storage; any other (a transposed
 * weight, as transformers' TensorFlow conversion leaves them; an expanded
 * one) is copied out in row-major order, as tensor.contiguous() would. */
static int place(reader *r, entry *e, const uint8_t *base, size_t nbytes)
{
    st_tensor *t = e->t;
    const pk_tensor *pt = e->pt;
    const size_t es = (size_t)st_dtype_size(t->dtype), elems = nbytes / es;
    uint64_t last = (uint64_t)pt->offset, step;
    bool inside = true;
    for (int d = 0; d < pt->ndim && t->numel > 0; d++)
        inside = inside && !__builtin_mul_overflow((uint64_t)(pt->shape[d] - 1),
                                                   (uint64_t)pt->stride[d], &step) &&
                 !__builtin_add_overflow(last, step, &last);
    if (t->numel > 0 && (!inside || last >= elems))
        return albert_fail(r->err, ALBERT_E_FORMAT,
                           "%s: tensor '%s' (%lld elements from offset %lld) runs past its "
                           "storage '%s' of %zu elements (truncated file?)",
                           r->f->path, t->name, (long long)t->numel, (long long)pt->offset,
                           storage_key(e), elems);
    e->placed = true;
    const uint8_t *first = t->numel > 0 ? base + (size_t)pt->offset * es : base;
    t->data = first;
    if (contiguous(pt) || t->numel == 0)
        return ALBERT_OK;
    uint8_t *copy = malloc(t->nbytes);
    if (!copy)
        return albert_fail(r->err, ALBERT_E_NOMEM, "%s: out of memory for tensor '%s'",
                           r->f->path, t->name);
    gather(copy, first, pt, es, t->numel);
    int rc = add_block(r, copy);
    t->data = rc == ALBERT_OK ? copy : NULL;
    return rc;
}

/* Places every entry from *I on that uses the same storage as entry *I;
 * *I moves past them. */
static int place_group(reader *r, int *i, const uint8_t *base, size_t nbytes)
{
    const char *key = storage_key(&r->entries[*i]);
    int rc = ALBERT_OK;
    for (; rc == ALBERT_OK && *i < r->f->count && strcmp(storage_key(&r->entries[*i]), key) == 0;
         (*i)++)
        rc = place(r, &r->entries[*i], base, nbytes);
    return rc;
}

/* ---- the zip format ---- */

typedef struct zip_reader {
    reader *r;
    zip_t *za;
    char *prefix;      /* the archive's folder: "archive", "pytorch_model", ... */
    uint64_t file_size;
} zip_reader;

static int zip_fail(zip_reader *z, const char *what, const char *why)
{
    return albert_fail(z->r->err, ALBERT_E_FORMAT, "%s: %s: %s", z->r->f->path, what, why);
}

/* Reads the stored entry NAME into a malloc'd *BUF of *SIZE bytes; libzip
 * checks its CRC at the end, where there is one. */
static int read_entry(zip_reader *z, const char *name, uint8_t **buf, size_t *size)
{
    zip_stat_t st;
    zip_stat_init(&st);
    *buf = NULL;
    if (zip_stat(z->za, name, 0, &st) != 0)
        return zip_fail(z, name, "not in the archive");
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD) || st.size > z->file_size)
        return zip_fail(z, name, "its size is missing or larger than the file");
    if (st.comp_method != ZIP_CM_STORE)
        return zip_fail(z, name, "compressed (torch.save stores every entry as it is)");
    *size = (size_t)st.size;
    *buf = malloc(*size ? *size : 1);
    zip_file_t *zf = *buf ? zip_fopen(z->za, name, 0) : NULL;
    if (!zf) {
        int rc = *buf ? zip_fail(z, name, zip_strerror(z->za))
                      : albert_fail(z->r->err, ALBERT_E_NOMEM, "%s: out of memory for %s",
                                    z->r->f->path, name);
        free(*buf);
        *buf = NULL;
        return rc;
    }
    size_t done = 0;
    uint8_t extra;
    zip_int64_t got = 1;
    while (got > 0 && done < *size)
        if ((got = zip_fread(zf, *buf + done, *size - done)) > 0)
            done += (size_t)got;
    /* One more read meets the end, where the CRC is checked.  torch.load
     * checks none, and torch 2.5's set_crc32_options(False) writes 0: a
     * mismatch with 0 is no error. */
    if (got >= 0 && done == *size)
        got = zip_fread(zf, &extra, 1);
    if (got < 0 && done == *size && (st.valid & ZIP_STAT_CRC) && st.crc == 0 &&
        zip_error_code_zip(zip_file_get_error(zf)) == ZIP_ER_CRC)
        got = 0;
    int rc = got == 0 && done == *size ? ALBERT_OK
             : got < 0                 ? zip_fail(z, name, zip_file_strerror(zf))
                                       : zip_fail(z, name, "its size does not match its data");
    zip_fclose(zf);
    if (rc != ALBERT_OK) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* The folder holding data.pkl: torch names it after the file, or "archive". */
static int find_prefix(zip_reader *z)
{
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        const char *slash = name ? strchr(name, '/') : NULL;
        if (slash && strcmp(slash, "/data.pkl") == 0) {
            z->prefix = strndup(name, (size_t)(slash - name));
            return z->prefix ? ALBERT_OK
                             : albert_fail(z->r->err, ALBERT_E_NOMEM, "%s: out of memory",
                                           z->r->f->path);
        }
    }
    return albert_fail(z->r->err, ALBERT_E_FORMAT,
                       "%s: a zip archive without FOLDER/data.pkl: not written by torch.save",
                       z->r->f->path);
}

static int entry_path(zip_reader *z, const char *rest, char *name, size_t size)
{
    if ((size_t)snprintf(name, size, "%s/%s", z->prefix, rest) >= size)
        return zip_fail(z, rest, "entry name too long");
    return ALBERT_OK;
}

/* torch 2.1 and later write "byteorder"; earlier files are little-endian. */
static int check_byteorder(zip_reader *z)
{
    char name[600];
    int rc = entry_path(z, "byteorder", name, sizeof name);
    if (rc != ALBERT_OK || zip_name_locate(z->za, name, 0) < 0)
        return rc;
    uint8_t *buf;
    size_t size;
    rc = read_entry(z, name, &buf, &size);
    if (rc == ALBERT_OK && !(size == 6 && memcmp(buf, "little", 6) == 0))
        rc = zip_fail(z, name, "not \"little\": big-endian checkpoints are not supported");
    free(buf);
    return rc;
}

static int load_zip_pickle(zip_reader *z)
{
    char name[600], what[4700];
    int rc = entry_path(z, "data.pkl", name, sizeof name);
    uint8_t *buf = NULL;
    size_t size = 0, used;
    if (rc == ALBERT_OK)
        rc = read_entry(z, name, &buf, &size);
    if (rc != ALBERT_OK)
        return rc;
    snprintf(what, sizeof what, "%s: %s", z->r->f->path, name);
    pk_value *root;
    rc = pk_load(z->r->arena, buf, size, what, 0, &root, &used, z->r->err);
    free(buf);
    return rc == ALBERT_OK ? tensors_from_dict(z->r, root) : rc;
}

/* Reads each storage the tensors use, once. */
static int load_zip_storages(zip_reader *z)
{
    reader *r = z->r;
    int rc = ALBERT_OK;
    for (int i = 0; rc == ALBERT_OK && i < r->f->count;) {
        char rest[400], name[600];
        uint8_t *block;
        size_t size;
        if ((size_t)snprintf(rest, sizeof rest, "data/%s", storage_key(&r->entries[i])) >=
            sizeof rest)
            return zip_fail(z, storage_key(&r->entries[i]), "storage key too long");
        rc = entry_path(z, rest, name, sizeof name);
        if (rc == ALBERT_OK)
            rc = read_entry(z, name, &block, &size);
        if (rc == ALBERT_OK)
            rc = add_block(r, block);
        if (rc == ALBERT_OK)
            rc = place_group(r, &i, block, size);
    }
    return rc;
}

static int open_zip(reader *r)
{
    zip_reader z = {.r = r};
    struct stat sb;
    if (stat(r->f->path, &sb) != 0)
        return albert_fail(r->err, ALBERT_E_IO, "%s: cannot stat", r->f->path);
    z.file_size = (uint64_t)sb.st_size;
    int code = 0;
    z.za = zip_open(r->f->path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!z.za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        int rc = albert_fail(r->err, ALBERT_E_FORMAT, "%s: not a readable zip archive: %s",
                             r->f->path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    int rc = find_prefix(&z);
    if (rc == ALBERT_OK)
        rc = check_byteorder(&z);
    if (rc == ALBERT_OK)
        rc = load_zip_pickle(&z);
    if (rc == ALBERT_OK)
        rc = load_zip_storages(&z);
    zip_discard(z.za);
    free(z.prefix);
    return rc;
}

/* ---- the legacy format ---- */

/* torch/serialization.py's MAGIC_NUMBER, 0x1950a86a20f9469cfc6c, as LONG1 bytes. */
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
#define LEGACY_PROTOCOL_VERSION 1001

/* The first two of the five pickles: the magic number, then the protocol
 * version.  (The third, system info, says the byte order, but torch writes
 * and reads storages little-endian whatever it says.) */
static int check_legacy_header(reader *r, int i, const pk_value *v)
{
    if (i == 0 && (v->kind != PK_LONG || v->len != sizeof legacy_magic ||
                   memcmp(v->s, legacy_magic, sizeof legacy_magic) != 0))
        return albert_fail(r->err, ALBERT_E_FORMAT,
                           "%s: no torch.save magic number: not a PyTorch checkpoint",
                           r->f->path);
    if (i == 1 && (v->kind != PK_INT || v->i != LEGACY_PROTOCOL_VERSION))
        return albert_fail(r->err, ALBERT_E_FORMAT,
                           "%s: legacy format protocol version is not %d", r->f->path,
                           LEGACY_PROTOCOL_VERSION);
    return ALBERT_OK;
}

/* The first entry using storage KEY, or -1. */
static int find_group(const reader *r, const char *key)
{
    int lo = 0, hi = r->f->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(storage_key(&r->entries[mid]), key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->f->count && strcmp(storage_key(&r->entries[lo]), key) == 0 ? lo : -1;
}

/* After the pickles, each storage of KEYS in turn: an int64 element count,
 * then its bytes. */
static int place_legacy_storages(reader *r, const pk_value *keys, size_t at)
{
    const st_file *f = r->f;
    const uint8_t *map = f->map;
    if (keys->kind != PK_LIST)
        return albert_fail(r->err, ALBERT_E_FORMAT, "%s: its storage keys are a %s, not a list",
                           f->path, pk_kind_name(keys->kind));
    for (size_t k = 0; k < keys->n; k++) {
        const pk_value *key = keys->items[k];
        int i = key->kind == PK_STR ? find_group(r, key->s) : -1;
        if (i < 0)
            return albert_fail(r->err, ALBERT_E_FORMAT,
                               "%s: storage %zu of its list is no tensor's", f->path, k);
        uint64_t count = 0, nbytes = UINT64_MAX;
        const int es = st_dtype_size(r->entries[i].pt->storage->dtype);
        for (int b = 0; b < 8 && f->map_size - at >= 8; b++)
            count |= (uint64_t)map[at + b] << (8 * b);
        if (f->map_size - at < 8 || __builtin_mul_overflow(count, (uint64_t)es, &nbytes) ||
            nbytes > f->map_size - at - 8)
            return albert_fail(r->err, ALBERT_E_FORMAT,
                               "%s: storage '%s' runs past the end of the file (truncated?)",
                               f->path, key->s);
        int rc = place_group(r, &i, map + at + 8, (size_t)nbytes);
        if (rc != ALBERT_OK)
            return rc;
        at += 8 + (size_t)nbytes;
    }
    return ALBERT_OK;
}

static int open_legacy(reader *r)
{
    st_file *f = r->f;
    int rc = st_map(f, r->err);
    pk_value *v[5]; /* magic, protocol version, system info, the state dict, storage keys */
    size_t at = 0, used;
    for (int i = 0; rc == ALBERT_OK && i < 5; i++) {
        rc = pk_load(r->arena, (const uint8_t *)f->map + at, f->map_size - at, f->path, at, &v[i],
                     &used, r->err);
        at += used;
        if (rc == ALBERT_OK)
            rc = check_legacy_header(r, i, v[i]);
    }
    if (rc == ALBERT_OK)
        rc = tensors_from_dict(r, v[3]);
    if (rc == ALBERT_OK)
        rc = place_legacy_storages(r, v[4], at);
    for (int i = 0; rc == ALBERT_OK && i < f->count; i++)
        if (!r->entries[i].placed)
            rc = albert_fail(r->err, ALBERT_E_FORMAT,
                             "%s: tensor '%s': its storage is not in the file", f->path,
                             r->entries[i].t->name);
    return rc;
}

/* ---- both ---- */

static int read_magic(const char *path, uint8_t magic[4], albert_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open", path);
    size_t got = fread(magic, 1, 4, fp);
    fclose(fp);
    if (got < 4)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: truncated (%zu bytes)", path, got);
    return ALBERT_OK;
}

static int open_either(reader *r)
{
    uint8_t magic[4];
    int rc = read_magic(r->f->path, magic, r->err);
    if (rc != ALBERT_OK)
        return rc;
    if (memcmp(magic, "PK\x03\x04", 4) == 0)
        return open_zip(r);
    if (magic[0] == 0x80)
        return open_legacy(r);
    return albert_fail(r->err, ALBERT_E_FORMAT,
                       "%s: not a PyTorch checkpoint (neither torch.save's zip format nor its "
                       "legacy one)",
                       r->f->path);
}

int torch_checkpoint_open(const char *path, st_file **out, albert_error *err)
{
    *out = NULL;
    reader r = {.f = calloc(1, sizeof(st_file)), .arena = pk_arena_new(), .err = err};
    int rc = r.f && r.arena && (r.f->path = strdup(path))
                 ? open_either(&r)
                 : albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", path);
    free(r.entries);
    pk_arena_free(r.arena);
    if (rc != ALBERT_OK) {
        st_close(r.f);
        return rc;
    }
    *out = r.f;
    return albert_ok(err);
}
