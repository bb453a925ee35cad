/* Fuzz target: the pytorch_model.bin reader (core/torch_checkpoint.h) and,
 * through it, the restricted unpickler (core/pickle.h).  Each input is
 * written to a file in the scratch folder and opened; every tensor it
 * accepts is checked against the reader's promises and converted
 * (fuzz_check_tensor), which reads each of its bytes: ASan sees a read past
 * a storage read out of a zip archive, and a legacy file's tensors must lie
 * inside its mapping. */
#include "core/torch_checkpoint.h"
#include "fuzz_util.h"

static void check_inside(const st_file *f, const st_tensor *t)
{
    const uint8_t *map = f->map;
    FUZZ_EXPECT(!map || t->numel == 0 ||
                    (t->data >= map && t->nbytes <= (size_t)(map + f->map_size - t->data)),
                "'%s': data outside the file", t->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_tensor_file("pytorch_model.bin", data, size, torch_checkpoint_open, "torch_checkpoint_open", check_inside);
    return 0;
}
