/* Fuzz target: what --resume reads (cli/stream.h).  The input's first two
 * bytes choose the run (a .gz name or not, --output-dtype, --pooling none,
 * --id-field, --shard, the vectors' width); the rest is the -o FILE a run
 * left.  cli_stream_open must refuse it with a message, or keep a prefix
 * of whole records and say how many: a plain FILE cut after a newline, a
 * gzip one after a whole member, the kept bytes holding exactly that many
 * lines. */
#include "cli/stream.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The lines of DATA's SIZE bytes, all of them whole (gzip members inflated
 * when GZIP); -1 when that is not so. */
static long whole_lines(const uint8_t *data, size_t size, int gzip)
{
    long lines = 0;
    int last = '\n';
    z_stream z;
    memset(&z, 0, sizeof z);
    if (gzip && inflateInit2(&z, 15 + 16) != Z_OK)
        fuzz_die("inflateInit2 failed");
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    while (gzip ? z.avail_in > 0 : size > 0) {
        unsigned char out[4096];
        size_t n;
        if (gzip) {
            z.next_out = out;
            z.avail_out = sizeof out;
            int rc = inflate(&z, Z_NO_FLUSH);
            if (rc == Z_STREAM_END)
                inflateReset(&z);
            else if (rc != Z_OK) {
                inflateEnd(&z);
                return -1;
            }
            n = sizeof out - z.avail_out;
        } else {
            n = size < sizeof out ? size : sizeof out;
            memcpy(out, data, n);
            data += n;
            size -= n;
        }
        for (size_t i = 0; i < n; i++)
            lines += out[i] == '\n';
        last = n ? out[n - 1] : last;
    }
    int torn = gzip && z.total_in > 0; /* inflateReset zeroes it at each member's end */
    if (gzip)
        inflateEnd(&z);
    return last == '\n' && !torn ? lines : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const int flags = data[0], width = data[1];
    const int gzip = flags & 1;
    char path[512];
    fuzz_scratch_path(path, sizeof path, gzip ? "out.jsonl.gz" : "out.jsonl");
    fuzz_write_file(path, data + 2, size - 2);
    const int shards = flags & 32 ? 3 : 1;
    cli_resume r = {.shard = shards > 1 ? (flags >> 6) % 3 : 0,
                    .shards = shards,
                    .ids = flags >> 4 & 1,
                    .width = width,
                    .nested = flags >> 3 & 1,
                    .dtype = flags >> 1 & 3};
    cli_stream s;
    albert_error err;
    int rc = cli_stream_open(&s, path, &r, &err);
    fuzz_expect_status(rc, &err, "cli_stream_open");
    if (rc == ALBERT_OK) {
        struct stat sb;
        FUZZ_EXPECT(stat(path, &sb) == 0 && (uint64_t)sb.st_size == s.written,
                    "FILE holds %lld bytes, the stream says %llu", (long long)sb.st_size,
                    (unsigned long long)s.written);
        FUZZ_EXPECT(s.written <= size - 2, "kept %llu bytes of %zu",
                    (unsigned long long)s.written, size - 2);
        long lines = whole_lines(data + 2, (size_t)s.written, gzip);
        FUZZ_EXPECT(lines >= 0 && (uint64_t)lines == r.kept,
                    "kept %llu bytes: %ld whole lines, %llu records said",
                    (unsigned long long)s.written, lines, (unsigned long long)r.kept);
        FUZZ_EXPECT(r.kept_errors <= r.kept, "%llu error records of %llu",
                    (unsigned long long)r.kept_errors, (unsigned long long)r.kept);
    }
    if (s.fd >= 0 || rc == ALBERT_OK)
        cli_stream_close(&s, &err);
    return 0;
}
