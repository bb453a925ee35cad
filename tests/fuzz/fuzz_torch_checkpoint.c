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
    static char path[4096];
    if (!path[0])
        fuzz_scratch_path(path, sizeof path, "pytorch_model.bin");
    fuzz_write_file(path, data, size);
    st_file *f = NULL;
    albert_error err;
    int rc = torch_checkpoint_open(path, &f, &err);
    fuzz_expect_status(rc, &err, "torch_checkpoint_open");
    FUZZ_EXPECT((rc == ALBERT_OK) == (f != NULL), "rc %d with file %p", rc, (void *)f);
    for (int i = 0; f && i < f->count; i++) {
        check_inside(f, &f->tensors[i]);
        fuzz_check_tensor(f, &f->tensors[i]);
    }
    st_close(f);
    return 0;
}
