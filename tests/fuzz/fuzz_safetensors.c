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
    fuzz_check_tensor_file("fuzz.safetensors", data, size, st_open, "st_open", check_inside);
    return 0;
}
