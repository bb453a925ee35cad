/* npy and safetensors files of the records' vectors. */
#include "cli/arrays.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* ------------------------------------------------------------ npy */

#define NPY_DICT "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRIu64 ", %d), }"

static void npy_header(FILE *f, const char *descr, uint64_t rows, int cols)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict, NPY_DICT, descr, rows, cols);
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n'
     * is a multiple of 64, as NumPy writes it; sized for the largest row
     * count, so the header written before the rows are counted and the one
     * written after take the same room. */
    int most = snprintf(NULL, 0, NPY_DICT, descr, UINT64_MAX, cols);
    int total = (10 + most + 1 + 63) / 64 * 64;
    int header_len = total - 10;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(header_len & 0xFF, f);
    fputc(header_len >> 8, f);
    fputs(dict, f);
    for (int i = len; i < header_len - 1; i++)
        fputc(' ', f);
    fputc('\n', f);
}

/* ------------------------------------------------------------ safetensors */

#define ST_EMBEDDINGS \
    "\"embeddings\":{\"dtype\":\"%s\",\"shape\":[%" PRIu64 ",%d],\"data_offsets\":[0,%" PRIu64 "]}"
#define ST_LENGTHS \
    "\"lengths\":{\"dtype\":\"I32\",\"shape\":[%" PRIu64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}"

/* The header's JSON for these counts (the byte offsets follow from them). */
static int st_json(char *buf, size_t size, const cli_arrays *a, uint64_t rows, uint64_t records,
                   uint64_t emb_end, uint64_t lengths_end)
{
    const char *dtype = cli_dtype_safetensors(a->dtype);
    if (!a->tokens)
        return snprintf(buf, size, "{" ST_EMBEDDINGS "}", dtype, rows, a->elements, emb_end);
    return snprintf(buf, size, "{" ST_EMBEDDINGS "," ST_LENGTHS "}", dtype, rows, a->elements,
                    emb_end, records, emb_end, lengths_end);
}

/* The 8-byte little-endian size, then the JSON padded with spaces (as the
 * format allows) to the room the largest counts need, so that the data
 * starts at the same place before and after they are known: a multiple of
 * 64 bytes into the file, aligned for any reader (the lengths after rows of
 * an odd number of bytes are not: the format leaves no room for padding). */
static void st_header(FILE *f, const cli_arrays *a)
{
    char json[512];
    const uint64_t emb_end = a->rows * (uint64_t)a->elements * (uint64_t)cli_dtype_size(a->dtype);
    int len = st_json(json, sizeof json, a, a->rows, a->records, emb_end, emb_end + a->records * 4);
    int most = st_json(NULL, 0, a, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX);
    uint64_t room = (uint64_t)(8 + most + 63) / 64 * 64 - 8;
    for (int i = 0; i < 8; i++)
        fputc((int)((room >> (8 * i)) & 0xFF), f);
    fputs(json, f);
    for (uint64_t i = (uint64_t)len; i < room; i++)
        fputc(' ', f);
}

/* ------------------------------------------------------------ both */

/* Little-endian bytes whatever the host's order.  V may be NULL when N is
 * 0 (a record with no token vectors). */
static void put_le32(FILE *f, const void *v, size_t n)
{
    if (n == 0)
        return;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    fwrite(v, 4, n, f);
#else
    const unsigned char *p = v;
    for (size_t i = 0; i < n; i++, p += 4) {
        uint32_t bits;
        memcpy(&bits, p, sizeof bits);
        unsigned char b[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                              (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
        fwrite(b, 1, 4, f);
    }
#endif
}

static void write_header(cli_arrays *a)
{
    if (a->format == CLI_OUT_NPY)
        npy_header(a->sink->f, cli_dtype_npy(a->dtype), a->records, a->elements);
    else
        st_header(a->sink->f, a);
}

int cli_arrays_begin(cli_arrays *a, cli_sink *sink, int format, cli_dtype dtype, int width,
                     int tokens, albert_error *err)
{
    *a = (cli_arrays){.sink = sink, .format = format, .dtype = dtype,
                      .elements = cli_dtype_elements(dtype, width),
                      .tokens = format == CLI_OUT_SAFETENSORS && tokens};
    if (a->tokens && !(a->lengths = cli_tmpfile()))
        return albert_fail(err, ALBERT_E_IO, "cannot create a temporary file for the lengths: %s",
                           strerror(errno));
    errno = 0;
    write_header(a);
    return cli_sink_check(sink, err);
}

void cli_arrays_put(cli_arrays *a, const uint8_t *bytes, int rows)
{
    if (rows > 0)
        fwrite(bytes, (size_t)cli_dtype_size(a->dtype) * (size_t)a->elements, (size_t)rows,
               a->sink->f);
    if (a->lengths) {
        int32_t n = rows;
        put_le32(a->lengths, &n, 1);
    }
    a->rows += (uint64_t)rows;
    a->records++;
}

int cli_arrays_end(cli_arrays *a, albert_error *err)
{
    /* The rows' writes are checked before anything else: going back to the
     * header clears the sink's error flag. */
    errno = 0;
    int rc = cli_sink_check(a->sink, err);
    if (rc != ALBERT_OK)
        return rc;
    if (a->lengths) {
        /* Checked before the copy rewinds it, which clears its error flag. */
        int e = cli_stream_error(a->lengths);
        if (!e)
            e = cli_copy_stream(a->lengths, a->sink->f);
        if (e)
            return albert_fail(err, ALBERT_E_IO, "%s: cannot write the lengths: %s",
                               a->sink->path ? a->sink->path : "<stdout>", strerror(e));
    }
    if (fseek(a->sink->f, 0, SEEK_SET) != 0)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot go back to the header: %s",
                           a->sink->path ? a->sink->path : "<stdout>", strerror(errno));
    write_header(a);
    return cli_sink_check(a->sink, err);
}

void cli_arrays_close(cli_arrays *a)
{
    if (a->lengths)
        fclose(a->lengths);
    a->lengths = NULL;
}
