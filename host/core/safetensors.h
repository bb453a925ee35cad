/* A read-only, mmap-backed reader for the safetensors format: an 8-byte
 * little-endian header length, a JSON header mapping tensor names to
 * {dtype, shape, data_offsets}, then the raw little-endian data. */
#ifndef ALBERT_SAFETENSORS_H
#define ALBERT_SAFETENSORS_H

#include "albert_cl.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* points into the mapping; maybe unaligned */
    size_t nbytes;
} st_tensor;

/* Also what core/torch_checkpoint.h reads pytorch_model.bin into: its
 * tensors then point into the mapping (the legacy format) or into BLOCKS,
 * the storages read out of the zip archive, which st_close frees. */
typedef struct st_file {
    char *path;
    void *map;
    size_t map_size;
    int count;
    st_tensor *tensors;
    uint8_t **blocks;
    int n_blocks;
} st_file;

/* Maps PATH and validates the header: JSON syntax, known dtypes, shapes and
 * offsets of whole numbers whose element and byte counts (each product
 * overflow-checked) match the byte range, ranges inside the file and not
 * overlapping.  Errors name the file (and the tensor). */
int st_open(const char *path, st_file **out, albert_error *err);
void st_close(st_file *f);

/* Maps F->path read-only into F->map and F->map_size; an empty file is an
 * ALBERT_E_FORMAT error. */
int st_map(st_file *f, albert_error *err);

/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);

const char *st_dtype_name(st_dtype d);

/* Bytes per element of D. */
int st_dtype_size(st_dtype d);

/* Converts T (F32, F16, BF16, F64) to float32 in DST (numel entries). */
int st_to_f32(const st_file *f, const st_tensor *t, float *dst, albert_error *err);

/* Converts T (I32, I64) to int32 in DST (numel entries). */
int st_to_i32(const st_file *f, const st_tensor *t, int32_t *dst, albert_error *err);

float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

/* F to IEEE half, rounded to nearest even (beyond 65504: infinity), as
 * OpenCL's vstore_half_rte; NaN stays NaN. */
uint16_t st_f32_to_f16(float f);

#endif
