/* pytorch_model.bin, read without Python: what torch.save writes for a state
 * dict (save_pretrained(safe_serialization=False), torch.save(model.state_dict())),
 * in both of its formats:
 *   - zip (torch 1.6 and later): ARCHIVE/data.pkl, the pickle, beside one
 *     stored entry ARCHIVE/data/KEY per storage (libzip reads it; CRCs checked);
 *   - legacy (torch before 1.6, or _use_new_zipfile_serialization=False): five
 *     pickles in a row (magic number, protocol version, system info, the
 *     object, the storage keys), then each storage as an int64 count and its
 *     bytes.
 * The pickle is read by core/pickle.h, which runs nothing.  The result is an
 * st_file of the dict's tensors, named by their keys, each inside its
 * storage; contiguous ones point into it (tied weights share its bytes),
 * others are copied out in row-major order, as tensor.contiguous(). */
#ifndef ALBERT_CORE_TORCH_CHECKPOINT_H
#define ALBERT_CORE_TORCH_CHECKPOINT_H

#include "albert_cl.h"
#include "core/safetensors.h"

/* Opens PATH into *OUT (free with st_close).  Errors name PATH and what is
 * wrong: ALBERT_E_IO, ALBERT_E_FORMAT (not a torch.save file, a pickle it
 * will not read, a top-level object that is not a dict of tensors, a dtype
 * it does not read, a storage too short, a big-endian file, a CRC mismatch
 * where the CRC is not 0), ALBERT_E_NOMEM. */
int torch_checkpoint_open(const char *path, st_file **out, albert_error *err);

#endif
