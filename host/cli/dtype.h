/* --output-dtype: what the vectors become in the output, as
 * sentence-transformers' quantize_embeddings makes them ("binary",
 * "ubinary") or numpy's float16.  Values are converted row by row. */
#ifndef ALBERT_CLI_DTYPE_H
#define ALBERT_CLI_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum cli_dtype {
    CLI_DTYPE_FLOAT32, /* as computed */
    CLI_DTYPE_FLOAT16, /* IEEE half, rounded to nearest even */
    CLI_DTYPE_BINARY,  /* a bit per value (> 0), 8 to a byte, high bit first, each byte
                          minus 128 as int8: sentence-transformers' "binary" */
    CLI_DTYPE_UBINARY  /* the same bytes as uint8: "ubinary", numpy.packbits */
} cli_dtype;

/* The --output-dtype names, in cli_dtype order, NULL-terminated. */
extern const char *const cli_dtype_names[];

/* Elements per row of WIDTH values: WIDTH, or for the binary kinds a byte
 * per 8 values (the last one padded with 0 bits, as numpy.packbits(axis=-1)). */
int cli_dtype_elements(cli_dtype d, int width);
/* Bytes per element: 4, 2, 1, 1. */
int cli_dtype_size(cli_dtype d);
/* numpy's descr ("<f4", "<f2", "|i1", "|u1") and safetensors' dtype ("F32",
 * "F16", "I8", "U8"). */
const char *cli_dtype_npy(cli_dtype d);
const char *cli_dtype_safetensors(cli_dtype d);

/* ROWS rows of WIDTH floats at V into DST (rows * cli_dtype_elements *
 * cli_dtype_size bytes, little-endian).  Returns -1, or for float16 the
 * index of the first value that would become infinity (65520 in magnitude
 * and beyond) or is NaN. */
long cli_dtype_convert(cli_dtype d, const float *v, int rows, int width, uint8_t *dst);

/* float16 bits as the float they stand for (for printing them). */
float cli_dtype_half_value(uint16_t h);

/* A record's vectors converted, in buffers grown as records need them. */
typedef struct cli_converter {
    cli_dtype dtype;
    uint8_t *bytes; /* little-endian, for the array formats */
    float *halves;  /* float16's values, for jsonl */
    int32_t *ints;  /* the binary kinds' bytes as numbers, for jsonl */
    size_t cap;     /* values the bytes hold */
    size_t print_cap; /* values halves or ints hold */
} cli_converter;

/* ROWS rows of WIDTH floats at V into C's buffers (with FOR_JSONL, the
 * halves or ints to print too).  -1 on success, -2 when memory runs out,
 * or cli_dtype_convert's index of a value float16 cannot hold. */
long cli_converter_run(cli_converter *c, const float *v, int rows, int width, int for_jsonl);
void cli_converter_free(cli_converter *c);

#endif
