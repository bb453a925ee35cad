/* Fuzz target: the pytorch_model.bin reader (core/torch_checkpoint.h) and,
 * through it, the restricted unpickler (core/pickle.h).  Each input is
 * written to a file in the scratch folder and opened; every tensor it
 * accepts is checked against the reader's promises and converted
 * (fuzz_check_tensor), which reads each of its bytes: ASan sees a read past
 * a storage read out of a zip archive, and a legacy file's tensors must lie
 * inside its mapping or be gathered into blocks of their own. */
#include "core/torch_checkpoint.h"
#include "fuzz_util.h"

#include <stdbool.h>

/* A tensor's data lies in the file's mapping, or is a block of its own: a
 * tensor that is not contiguous is copied out (gathered) into one. */
static void check_inside(const st_file *f, const st_tensor *t)
{
    const uint8_t *map = f->map;
    bool own_block = false;
    for (int i = 0; i < f->n_blocks; i++)
        own_block = own_block || t->data == f->blocks[i];
    FUZZ_EXPECT(!map || t->numel == 0 || own_block ||
                    (t->data >= map && t->nbytes <= (size_t)(map + f->map_size - t->data)),
                "'%s': data outside the file", t->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_tensor_file("pytorch_model.bin", data, size, torch_checkpoint_open, "torch_checkpoint_open", check_inside);
    return 0;
}
