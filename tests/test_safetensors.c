/* The safetensors reader on the golden files and on damaged copies. */
#include "core/common.h"
#include "core/safetensors.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_reads_golden(void)
{
    golden_case *cases;
    int n = golden_load("tiny-gelu", &cases);
    CHECK(n == 2, "tiny-gelu has %d cases, want 2", n);
    CHECK(strcmp(cases[0].name, "batch") == 0, "first case '%s'", cases[0].name);
    CHECK(cases[0].B == 6 && cases[0].T == 24 && cases[0].H == 32, "shape %dx%dx%d", cases[0].B,
          cases[0].T, cases[0].H);
    CHECK(cases[0].input_ids[0] == ALBERT_CLS_ID, "first id %d", cases[0].input_ids[0]);
    CHECK(cases[0].layers_plus_one == 4, "hidden_states layers %d", cases[0].layers_plus_one);
    golden_free(cases, n);
}

/* |F - the value of half H|, in double (infinity for a non-finite H). */
static double half_error(float f, uint32_t h)
{
    const float v = st_f16_to_f32((uint16_t)h);
    return isfinite(v) ? fabs((double)f - v) : INFINITY;
}

/* st_f32_to_f16: every half back to itself, and on a million seeded floats
 * the nearest half, ties to the even one; overflow, NaN, signed zero. */
static void test_f32_to_f16(void)
{
    int wrong = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float v = st_f16_to_f32((uint16_t)h);
        wrong += !isnan(v) && st_f32_to_f16(v) != h;
    }
    CHECK(wrong == 0, "%d halves do not round-trip", wrong);
    unsigned long long seed = 99;
    for (int i = 0; i < 1000000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        /* exponents around half's range, every mantissa */
        uint32_t bits = (uint32_t)(seed >> 32) & 0x807fffffu;
        bits |= (uint32_t)(98 + (seed >> 20) % 48) << 23;
        float f;
        memcpy(&f, &bits, sizeof f);
        const uint32_t h = st_f32_to_f16(f), mag = h & 0x7fff;
        const double d = half_error(f, h);
        const int worse_down = mag == 0 || d < half_error(f, h - 1) ||
                               (d == half_error(f, h - 1) && !(h & 1));
        const int worse_up = mag >= 0x7c00 || d < half_error(f, h + 1) ||
                             (d == half_error(f, h + 1) && !(h & 1));
        wrong += !(fabs(f) < 65520.0f ? worse_down && worse_up : mag == 0x7c00);
    }
    CHECK(wrong == 0, "%d floats not rounded to the nearest half, ties to even", wrong);
    CHECK(st_f32_to_f16(65519.0f) == 0x7bff && st_f32_to_f16(65520.0f) == 0x7c00, "overflow");
    CHECK(st_f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3c00, "tie to even, down");
    CHECK(st_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)) == 0x3c02, "tie to even, up");
    CHECK(st_f32_to_f16(ldexpf(1.0f, -25)) == 0 && st_f32_to_f16(ldexpf(3.0f, -26)) == 1,
          "subnormal rounding");
    CHECK(st_f32_to_f16(-0.0f) == 0x8000 && (st_f32_to_f16(NAN) & 0x7fff) > 0x7c00, "-0, NaN");
}

static void test_f16(void)
{
    CHECK(st_f16_to_f32(0x3c00) == 1.0f, "1.0");
    CHECK(st_f16_to_f32(0xc000) == -2.0f, "-2.0");
    CHECK(st_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest subnormal");
    CHECK(isinf(st_f16_to_f32(0x7c00)), "inf");
    CHECK(st_bf16_to_f32(0x3f80) == 1.0f, "bf16 1.0");
    test_f32_to_f16();
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void expect_reject(const char *what, const void *data, size_t n, const char *needle)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/albert-test-st-%d.safetensors", (int)getpid());
    write_file(path, data, n);
    st_file *f = NULL;
    albert_error err;
    int rc = st_open(path, &f, &err);
    CHECK(rc == ALBERT_E_FORMAT, "%s: rc %d (%s)", what, rc, rc ? err.msg : "accepted");
    CHECK(rc == ALBERT_OK || strstr(err.msg, needle), "%s: message '%s' lacks '%s'", what, err.msg,
          needle);
    st_close(f);
    remove(path);
}

static void test_rejects(void)
{
    const char hdr[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    unsigned char buf[256] = {0};
    size_t hl = strlen(hdr);
    buf[0] = (unsigned char)hl;
    memcpy(buf + 8, hdr, hl);
    expect_reject("tiny", buf, 4, "truncated");
    expect_reject("data cut", buf, 8 + hl + 4, "truncated");
    buf[0] = 0xff;
    buf[5] = 0x7f;
    expect_reject("huge header", buf, 8 + hl + 8, "header length");
    buf[0] = (unsigned char)hl;
    buf[5] = 0;
    memcpy(buf + 8, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", hl);
    expect_reject("shape mismatch", buf, 8 + hl + 8, "elements");
    memcpy(buf + 8, "{\"a\":{\"dtype\":\"Q4\" ,\"shape\":[2],\"data_offsets\":[0,8]}}", hl);
    expect_reject("dtype", buf, 8 + hl + 8, "dtype");
    memcpy(buf + 8, "{\"a\":{garbage\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", hl);
    expect_reject("json", buf, 8 + hl + 8, "JSON");
}

/* A file of HEADER (the JSON) and NDATA zero data bytes, tried by st_open. */
static void expect_header_reject(const char *what, const char *header, size_t ndata,
                                 const char *needle)
{
    size_t hl = strlen(header), n = 8 + hl + ndata;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    expect_reject(what, buf, n, needle);
    free(buf);
}

/* Issue 14's fuzz find and its kin: every product and offset is checked,
 * none may wrap into a count that matches the bytes present. */
static void test_overflow(void)
{
    expect_header_reject("shape wraps to 0",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                         "\"data_offsets\":[0,0]}}",
                         0, "overflows");
    expect_header_reject("shape wraps past a zero dimension",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],"
                         "\"data_offsets\":[0,0]}}",
                         0, "overflows");
    expect_header_reject("bytes wrap to 0",
                         "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,536870912],"
                         "\"data_offsets\":[0,0]}}",
                         0, "byte count");
    expect_header_reject("dimension past 2^53",
                         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,0]}}", 0,
                         "dimension 0");
    expect_header_reject("fractional dimension",
                         "{\"a\":{\"dtype\":\"U8\",\"shape\":[2.5],\"data_offsets\":[0,2]}}", 8,
                         "dimension 0");
    expect_header_reject("fractional offset",
                         "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0.5,2.5]}}", 8,
                         "data_offsets");
    expect_header_reject("offset past the file",
                         "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],"
                         "\"data_offsets\":[18446744073709551616,18446744073709551616]}}",
                         8, "data_offsets");
    expect_header_reject("end past the data",
                         "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}}", 8,
                         "truncated");
}

int main(void)
{
    test_reads_golden();
    test_f16();
    test_rejects();
    test_overflow();
    return test_finish();
}
