/* Fuzz target: the safetensors reader (core/safetensors.h).  st_open maps a
 * path, so each input is written to a file in the scratch folder; every
 * tensor it accepts is then looked up and converted, and checked against
 * st_open's promises: element counts that match the byte ranges, ranges
 * inside the file. */
#include "core/safetensors.h"
#include "fuzz_util.h"

#include <stdlib.h>

/* Bytes per element, in st_dtype's order: the harness's own copy, so a
 * wrong size in the reader shows as a broken promise. */
static const int64_t elem_size[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};

static int64_t shape_product(const st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(n, t->shape[i], &n))
            return -1;
    return n;
}

static void check_tensor(const st_file *f, const st_tensor *t)
{
    const uint8_t *map = f->map;
    FUZZ_EXPECT(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "'%s': %d dimensions", t->name, t->ndim);
    FUZZ_EXPECT((unsigned)t->dtype < sizeof elem_size / sizeof elem_size[0], "'%s': dtype %d",
                t->name, (int)t->dtype);
    FUZZ_EXPECT(shape_product(t) == t->numel, "'%s': numel %lld is not the shape's product",
                t->name, (long long)t->numel);
    FUZZ_EXPECT((uint64_t)t->numel * (uint64_t)elem_size[t->dtype] == t->nbytes,
                "'%s': %lld elements in %zu bytes", t->name, (long long)t->numel, t->nbytes);
    FUZZ_EXPECT(t->data >= map + 8 && t->data <= map + f->map_size &&
                    t->nbytes <= (size_t)(map + f->map_size - t->data),
                "'%s': data outside the file", t->name);
    FUZZ_EXPECT(st_find(f, t->name) != NULL, "'%s' not found by name", t->name);
}

/* Converts T the way the loader does; the library picks which dtypes each
 * conversion takes and must refuse the others with an error. */
static void convert(const st_file *f, const st_tensor *t)
{
    albert_error err;
    void *dst = malloc((size_t)t->numel * 4 + 1);
    if (!dst)
        fuzz_die("out of memory for %lld elements", (long long)t->numel);
    fuzz_expect_status(st_to_f32(f, t, dst, &err), &err, "st_to_f32");
    fuzz_expect_status(st_to_i32(f, t, dst, &err), &err, "st_to_i32");
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[4096];
    if (!path[0])
        fuzz_scratch_path(path, sizeof path, "fuzz.safetensors");
    fuzz_write_file(path, data, size);
    st_file *f = NULL;
    albert_error err;
    int rc = st_open(path, &f, &err);
    fuzz_expect_status(rc, &err, "st_open");
    if (rc != ALBERT_OK)
        return 0;
    FUZZ_EXPECT(f->count >= 0, "%d tensors", f->count);
    for (int i = 0; i < f->count; i++) {
        check_tensor(f, &f->tensors[i]);
        convert(f, &f->tensors[i]);
    }
    st_close(f);
    return 0;
}
