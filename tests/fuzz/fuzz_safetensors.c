/* Fuzz target: the safetensors reader (core/safetensors.h).  st_open maps a
 * path, so each input is written to a file in the scratch folder; every
 * tensor it accepts is then checked against st_open's promises (element
 * counts that match the byte ranges, fuzz_check_tensor; ranges inside the
 * file) and converted. */
#include "core/safetensors.h"
#include "fuzz_util.h"

static void check_inside(const st_file *f, const st_tensor *t)
{
    const uint8_t *map = f->map;
    FUZZ_EXPECT(t->data >= map + 8 && t->data <= map + f->map_size &&
                    t->nbytes <= (size_t)(map + f->map_size - t->data),
                "'%s': data outside the file", t->name);
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
        check_inside(f, &f->tensors[i]);
        fuzz_check_tensor(f, &f->tensors[i]);
    }
    st_close(f);
    return 0;
}
