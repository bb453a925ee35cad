/* --output-dtype's conversions (cli/dtype.h). */
#include "cli/dtype.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const cli_dtype_names[] = {"float32", "float16", "binary", "ubinary", NULL};

int cli_dtype_elements(cli_dtype d, int width)
{
    return d == CLI_DTYPE_BINARY || d == CLI_DTYPE_UBINARY ? (width + 7) / 8 : width;
}

int cli_dtype_size(cli_dtype d)
{
    static const int sizes[] = {4, 2, 1, 1};
    return sizes[d];
}

const char *cli_dtype_npy(cli_dtype d)
{
    static const char *const descr[] = {"<f4", "<f2", "|i1", "|u1"};
    return descr[d];
}

const char *cli_dtype_safetensors(cli_dtype d)
{
    static const char *const names[] = {"F32", "F16", "I8", "U8"};
    return names[d];
}

static void put_le(uint8_t *dst, uint32_t bits, int bytes)
{
    for (int i = 0; i < bytes; i++)
        dst[i] = (uint8_t)(bits >> (8 * i));
}

/* Round to nearest even, as numpy's astype(float16); V within range. */
static uint16_t to_half(float v)
{
    uint32_t x;
    memcpy(&x, &v, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000, mag = x & 0x7fffffff;
    if (mag < 0x33000001) /* below half the smallest subnormal: a signed zero */
        return (uint16_t)sign;
    if (mag < 0x38800000) { /* a subnormal half: the value in units of 2^-24 */
        uint32_t m = (mag & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(mag >> 23);
        uint32_t half = m >> shift, rest = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        half += rest > mid || (rest == mid && (half & 1));
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((mag - 0x38000000) >> 13), rest = mag & 0x1fff;
    half += rest > 0x1000 || (rest == 0x1000 && (half & 1));
    return (uint16_t)(sign | half);
}

float cli_dtype_half_value(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v = exp ? ldexpf((float)(mant | 0x400), exp - 25) : ldexpf((float)mant, -24);
    return h & 0x8000 ? -v : v;
}

/* One row of WIDTH values as bits, high bit first. */
static void pack_bits(const float *v, int width, int offset, uint8_t *dst)
{
    for (int b = 0; b < (width + 7) / 8; b++) {
        unsigned byte = 0;
        for (int i = 0; i < 8; i++)
            byte |= (unsigned)(b * 8 + i < width && v[b * 8 + i] > 0) << (7 - i);
        dst[b] = (uint8_t)(byte - (unsigned)offset);
    }
}

long cli_dtype_convert(cli_dtype d, const float *v, int rows, int width, uint8_t *dst)
{
    const size_t n = (size_t)rows * (size_t)width;
    if (d == CLI_DTYPE_FLOAT32) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(dst, v, n * sizeof *v); /* already the bytes the formats want */
        return -1;
#endif
        for (size_t i = 0; i < n; i++) {
            uint32_t bits;
            memcpy(&bits, &v[i], sizeof bits);
            put_le(dst + 4 * i, bits, 4);
        }
    } else if (d == CLI_DTYPE_FLOAT16) {
        for (size_t i = 0; i < n; i++) {
            if (!(fabsf(v[i]) < 65520.0f)) /* from 65520 up, numpy's half is infinity */
                return (long)i;
            put_le(dst + 2 * i, to_half(v[i]), 2);
        }
    } else {
        const int bytes = (width + 7) / 8, offset = d == CLI_DTYPE_BINARY ? 128 : 0;
        for (int r = 0; r < rows; r++)
            pack_bits(v + (size_t)r * (size_t)width, width, offset, dst + (size_t)r * bytes);
    }
    return -1;
}

/* Room for N values in the bytes, and with FOR_JSONL in the buffer of
 * numbers to print (halves or ints, by the dtype). */
static int grow(cli_converter *c, size_t n, int for_jsonl)
{
    if (n > c->cap) {
        uint8_t *bytes = realloc(c->bytes, n * 4);
        if (!bytes)
            return 0;
        c->bytes = bytes;
        c->cap = n;
    }
    if (!for_jsonl || n <= c->print_cap)
        return 1;
    void *print = c->dtype == CLI_DTYPE_FLOAT16 ? realloc(c->halves, n * sizeof *c->halves)
                                                : realloc(c->ints, n * sizeof *c->ints);
    if (!print)
        return 0;
    if (c->dtype == CLI_DTYPE_FLOAT16)
        c->halves = print;
    else
        c->ints = print;
    c->print_cap = n;
    return 1;
}

long cli_converter_run(cli_converter *c, const float *v, int rows, int width, int for_jsonl)
{
    const size_t n = (size_t)rows * (size_t)width;
    if (!grow(c, n ? n : 1, for_jsonl))
        return -2;
    long bad = cli_dtype_convert(c->dtype, v, rows, width, c->bytes);
    if (bad >= 0 || !for_jsonl)
        return bad;
    const size_t m = (size_t)rows * (size_t)cli_dtype_elements(c->dtype, width);
    for (size_t i = 0; i < m; i++) {
        if (c->dtype == CLI_DTYPE_FLOAT16)
            c->halves[i] = cli_dtype_half_value((uint16_t)(c->bytes[2 * i] | c->bytes[2 * i + 1] << 8));
        else
            c->ints[i] = c->dtype == CLI_DTYPE_BINARY ? (int8_t)c->bytes[i] : c->bytes[i];
    }
    return -1;
}

void cli_converter_free(cli_converter *c)
{
    free(c->bytes);
    free(c->halves);
    free(c->ints);
    memset(c, 0, sizeof *c);
}
