#include "cli/output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Records are small writes: a large buffer keeps fprintf from dominating. */
#define SINK_BUFFER (1 << 20)

/* A temporary file beside PATH, so the final rename stays on one file system. */
static int open_beside(cli_sink *s, const char *path, albert_error *err)
{
    size_t n = strlen(path) + sizeof ".tmp-XXXXXX";
    s->tmp_path = malloc(n);
    if (!s->tmp_path)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory");
    snprintf(s->tmp_path, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(s->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(s->tmp_path);
        s->tmp_path = NULL;
        return albert_fail(err, ALBERT_E_IO, "%s: cannot create the output: %s", path, strerror(e));
    }
    s->f = fdopen(fd, "wb");
    if (!s->f) {
        close(fd);
        cli_sink_abort(s);
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open the output", path);
    }
    return ALBERT_OK;
}

int cli_sink_open(cli_sink *s, const char *path, albert_error *err)
{
    memset(s, 0, sizeof *s);
    s->path = path && strcmp(path, "-") != 0 ? path : NULL;
    struct stat sb;
    /* Renaming over a device or pipe (say /dev/null) would replace it: those,
     * like stdout, get a copy of an anonymous temporary file instead. */
    int exists = s->path && stat(s->path, &sb) == 0;
    if (exists && S_ISDIR(sb.st_mode))
        return albert_fail(err, ALBERT_E_IO, "%s: is a directory", s->path);
    int regular = s->path && (!exists || S_ISREG(sb.st_mode));
    int rc = ALBERT_OK;
    if (regular) {
        rc = open_beside(s, s->path, err);
    } else if (!(s->f = tmpfile())) {
        rc = albert_fail(err, ALBERT_E_IO, "cannot create a temporary file: %s", strerror(errno));
    }
    if (rc == ALBERT_OK)
        setvbuf(s->f, NULL, _IOFBF, SINK_BUFFER);
    return rc;
}

static int copy_stream(FILE *from, FILE *to)
{
    static const size_t chunk = 1 << 16;
    char *buf = malloc(chunk);
    if (!buf)
        return -1;
    rewind(from);
    size_t n;
    while ((n = fread(buf, 1, chunk, from)) > 0)
        if (fwrite(buf, 1, n, to) != n)
            break;
    int failed = ferror(from) || ferror(to) || fflush(to) != 0;
    free(buf);
    return failed ? -1 : 0;
}

static int commit_copy(cli_sink *s, albert_error *err)
{
    const char *name = s->path ? s->path : "<stdout>";
    FILE *to = s->path ? fopen(s->path, "wb") : stdout;
    if (!to)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open: %s", name, strerror(errno));
    int failed = copy_stream(s->f, to);
    if (to != stdout && fclose(to) != 0)
        failed = -1;
    return failed ? albert_fail(err, ALBERT_E_IO, "%s: write error", name) : ALBERT_OK;
}

int cli_sink_commit(cli_sink *s, albert_error *err)
{
    int rc = fflush(s->f) != 0 || ferror(s->f)
                 ? albert_fail(err, ALBERT_E_IO, "writing the output: %s", strerror(errno))
                 : ALBERT_OK;
    if (rc == ALBERT_OK && !s->tmp_path)
        rc = commit_copy(s, err);
    if (rc == ALBERT_OK && s->tmp_path) {
        int closed = fclose(s->f);
        s->f = NULL;
        if (closed != 0 || rename(s->tmp_path, s->path) != 0)
            rc = albert_fail(err, ALBERT_E_IO, "%s: cannot write the output: %s", s->path,
                          strerror(errno));
        else {
            free(s->tmp_path);
            s->tmp_path = NULL;
        }
    }
    cli_sink_abort(s);
    return rc;
}

void cli_sink_abort(cli_sink *s)
{
    if (s->f)
        fclose(s->f);
    s->f = NULL;
    if (s->tmp_path) {
        unlink(s->tmp_path);
        free(s->tmp_path);
        s->tmp_path = NULL;
    }
}

void cli_write_npy_header(FILE *f, size_t rows, int cols)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows,
                       cols);
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n'
     * is a multiple of 64, as NumPy writes it. */
    int total = (10 + len + 1 + 63) / 64 * 64;
    int header_len = total - 10;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(header_len & 0xFF, f);
    fputc(header_len >> 8, f);
    fputs(dict, f);
    for (int i = len; i < header_len - 1; i++)
        fputc(' ', f);
    fputc('\n', f);
}

/* Little-endian bytes whatever the host's order. */
void cli_write_npy_row(FILE *f, const float *v, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        unsigned char b[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                              (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
        fwrite(b, 1, 4, f);
    }
}

static void write_floats(FILE *f, const float *v, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++)
        fprintf(f, i ? ", %.9g" : "%.9g", (double)v[i]);
    fputc(']', f);
}

void cli_write_jsonl_record(FILE *f, size_t index, const int32_t *ids, int n_ids,
                            const float *emb, int rows, int h, int nested)
{
    fprintf(f, "{\"index\": %zu, \"input_ids\": [", index);
    for (int i = 0; i < n_ids; i++)
        fprintf(f, i ? ", %d" : "%d", (int)ids[i]);
    fputc(']', f);
    if (emb) {
        fputs(", \"embedding\": ", f);
        if (!nested) {
            write_floats(f, emb, h);
        } else {
            fputc('[', f);
            for (int r = 0; r < rows; r++) {
                fputs(r ? ", " : "", f);
                write_floats(f, emb + (size_t)r * (size_t)h, h);
            }
            fputc(']', f);
        }
    }
    fputs("}\n", f);
}
