/* A restricted unpickler for PyTorch checkpoints (core/torch_checkpoint.h):
 * the part of Python's pickle, protocols 2 to 5, that torch.save writes for
 * a state dict, read without running anything.  As with
 * torch.load(weights_only=True), GLOBAL may name only the few callables a
 * state dict's pickle uses (OrderedDict, the tensor and parameter rebuilders,
 * the storage types), REDUCE applies only those, and BINPERSID only turns
 * torch's ('storage', type, key, location, numel[, None]) tuple into a
 * storage reference; any other opcode or name is a format error naming the
 * byte where it stands. */
#ifndef ALBERT_CORE_PICKLE_H
#define ALBERT_CORE_PICKLE_H

#include "albert_cl.h"
#include "core/safetensors.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PK_NONE, PK_BOOL, PK_INT, PK_LONG, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL, PK_STORAGE, PK_TENSOR
} pk_kind;

/* The names GLOBAL may resolve to. */
typedef enum {
    PKG_ORDERED_DICT,         /* collections.OrderedDict */
    PKG_REBUILD_TENSOR_V2,    /* torch._utils._rebuild_tensor_v2 */
    PKG_REBUILD_PARAMETER,    /* torch._utils._rebuild_parameter */
    PKG_REBUILD_PARAMETER_ST, /* torch._utils._rebuild_parameter_with_state */
    PKG_REBUILD_FROM_TYPE_V2, /* torch._tensor._rebuild_from_type_v2 */
    PKG_TENSOR_TYPE,          /* torch.Tensor, torch.nn.parameter.Parameter */
    PKG_STORAGE_TYPE          /* torch.FloatStorage, ...: dtype says which */
} pk_global;

#define PK_MAX_DIMS ST_MAX_DIMS

/* A pickle runs at most this many opcodes, which bounds the memory it
 * takes (a state dict's pickle runs a few dozen per tensor). */
#define PK_MAX_OPS (1u << 21)

typedef struct pk_value pk_value;

/* torch._utils._rebuild_tensor_v2's arguments. */
typedef struct pk_tensor {
    const pk_value *storage;
    int64_t offset; /* in elements */
    int ndim;
    int64_t shape[PK_MAX_DIMS], stride[PK_MAX_DIMS];
} pk_tensor;

struct pk_value {
    pk_kind kind;
    int64_t i;         /* BOOL, INT; GLOBAL: its pk_global; STORAGE: numel */
    double f;          /* FLOAT */
    const char *s;     /* STR: NUL-terminated, no NUL inside; LONG: its bytes; STORAGE: key */
    size_t len;        /* of s */
    pk_value **items;  /* TUPLE, LIST; DICT: key, value, key, value, ... */
    size_t n, cap;     /* items used, allocated */
    st_dtype dtype;    /* GLOBAL of a storage type, STORAGE, TENSOR */
    pk_tensor *tensor; /* TENSOR */
};

/* Owns every value of the pickles loaded into it. */
typedef struct pk_arena pk_arena;

pk_arena *pk_arena_new(void);
void pk_arena_free(pk_arena *a);

/* Reads the pickle at BUF (at most LEN bytes) into *OUT, owned by A; *USED
 * gets its length up to and including its STOP.  Errors are ALBERT_E_FORMAT
 * naming WHAT and the byte (BASE is BUF's offset in WHAT), or ALBERT_E_NOMEM. */
int pk_load(pk_arena *a, const uint8_t *buf, size_t len, const char *what, size_t base,
            pk_value **out, size_t *used, albert_error *err);

/* "int", "str", "tensor", ...: for messages. */
const char *pk_kind_name(pk_kind k);

#endif
