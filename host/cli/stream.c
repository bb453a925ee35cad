/* Records streamed out in whole pieces, and what a stop signal leaves. */
#include "cli/stream.h"

#include "cli/dtype.h"
#include "core/fault.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Records go out in writes of about this much (and whenever the run waits). */
#define STREAM_CHUNK (1 << 20)
/* The most bytes of records one gzip member takes: zlib counts in 32 bits
 * (records are far smaller: a flush is about STREAM_CHUNK). */
#define GZIP_MEMBER_MAX (1u << 30)
/* Compressed bytes read at a time when --resume scans a gzip FILE. */
#define SCAN_CHUNK (1 << 16)

/* ------------------------------------------------------------ signals */

/* What the handler may read: set on the main thread (the writer) with the
 * stop signals held, so it never sees half an update. */
static volatile int signal_fd = -1;
static volatile off_t signal_keep;
static volatile uint64_t signal_records;
static const char *volatile signal_name;

static size_t append(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

size_t cli_stream_on_signal(char *msg, size_t n, size_t cap)
{
    if (signal_fd < 0)
        return n;
    if (ftruncate(signal_fd, signal_keep) != 0) {
        /* Nothing better to do in a handler: --resume cuts a torn line too. */
    }
    char digits[24];
    size_t d = sizeof digits;
    digits[--d] = '\0';
    uint64_t v = signal_records;
    do {
        digits[--d] = (char)('0' + v % 10);
        v /= 10;
    } while (v && d > 0);
    n = append(msg, n, cap, "; ");
    n = append(msg, n, cap, signal_name);
    n = append(msg, n, cap, " holds ");
    n = append(msg, n, cap, digits + d);
    return append(msg, n, cap, " whole records (--resume goes on from them)");
}

static void publish(const cli_stream *s, off_t keep)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal_keep = keep;
    signal_records = s->records;
    signal_name = s->path;
    signal_fd = s->regular ? s->fd : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------ resuming */

/* The index a record line starts with, or -1. */
static int64_t line_index(const char *line)
{
    static const char prefix[] = "{\"index\": ";
    if (strncmp(line, prefix, sizeof prefix - 1) != 0)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(line + sizeof prefix - 1, &end, 10);
    return errno || v < 0 || (*end != ',' && *end != '}') ? -1 : (int64_t)v;
}

/* Past the JSON string that starts at S (its closing quote), or NULL. */
static const char *past_string(const char *s)
{
    for (s++; *s && *s != '"'; s++)
        if (*s == '\\' && !*++s)
            return NULL;
    return *s ? s + 1 : NULL;
}

static const char id_member[] = ", \"id\": ";

/* Whether the record LINE carries an "id" (after its index). */
static int has_id(const char *line)
{
    const char *at = strchr(line, ',');
    return at && strncmp(at, id_member, sizeof id_member - 1) == 0;
}

/* {"index": I, "error": ...}, or with an "id" (a string or an integer)
 * between them: a record --on-error skip wrote. */
static int is_error_record(const char *line)
{
    const char *at = strchr(line, ',');
    if (has_id(line)) {
        at += sizeof id_member - 1;
        at = *at == '"' ? past_string(at) : at + strspn(at, "-0123456789");
    }
    return at && strncmp(at, ", \"error\": ", 11) == 0;
}

/* The --output-dtypes that cannot have written vector V, a bit per
 * cli_dtype: float32 prints 9 significant digits, float16 5, the binary
 * kinds integers (binary from -128, ubinary up to 255).  Only what two
 * values or more show is ruled out: a computed float32 prints in 5 digits
 * about once in 2^19 values. */
static unsigned dtypes_ruled_out(const cJSON *v)
{
    int values = 0, fractions = 0, beyond_one = 0, long_ones = 0, negative = 0, above_int8 = 0;
    for (const cJSON *e = v->child; e; e = e->next, values++) {
        const double x = e->valuedouble;
        char five[32];
        snprintf(five, sizeof five, "%.5g", x);
        fractions += x != floor(x);
        beyond_one += fabs(x) > 1;
        long_ones += strtod(five, NULL) != x;
        negative |= x < 0;
        above_int8 |= x > 127;
    }
    unsigned out = 0;
    if (fractions)
        out |= 1u << CLI_DTYPE_BINARY | 1u << CLI_DTYPE_UBINARY;
    /* Whole numbers beyond 1: a saturated tanh (the pooler) is exactly +-1. */
    if (!fractions && beyond_one >= 2)
        out |= 1u << CLI_DTYPE_FLOAT32 | 1u << CLI_DTYPE_FLOAT16;
    if (long_ones)
        out |= 1u << CLI_DTYPE_FLOAT16;
    if (!long_ones && fractions >= 2)
        out |= 1u << CLI_DTYPE_FLOAT32;
    if (negative)
        out |= 1u << CLI_DTYPE_UBINARY;
    if (above_int8)
        out |= 1u << CLI_DTYPE_BINARY;
    return values ? out : 0;
}

/* The values per vector of record LINE's "embedding" (its first vector
 * when NESTED): 0 without one, -1 when it is not what a run writes; *RULED
 * gets the dtypes its values rule out (dtypes_ruled_out). */
static int embedding_width(const char *line, int nested, unsigned *ruled)
{
    cJSON *rec = cJSON_Parse(line);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(rec, "embedding");
    const cJSON *v = e && nested ? cJSON_GetArrayItem(e, 0) : e;
    int width = !e ? 0 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    *ruled = width > 0 ? dtypes_ruled_out(v) : 0;
    cJSON_Delete(rec);
    return width;
}

/* Whether record LINE (the KEPT-th) is one this run writes there: its index,
 * an id where this run gives one (an error record may have none), and, for
 * the first vectors kept (CHECKED 0), their width. */
static int check_kept(const char *path, const char *line, const cli_resume *r, int *checked,
                      albert_error *err)
{
    int64_t want = (int64_t)(r->shard + r->kept * (uint64_t)r->shards);
    if (line_index(line) != want)
        return albert_fail(err, ALBERT_E_INPUT,
                           "%s:%" PRIu64 ": --resume: not the record of index %" PRId64
                           " that this run writes there (a different input, --shard or file?)",
                           path, r->kept + 1, want);
    if (has_id(line) != r->ids && (has_id(line) || !is_error_record(line)))
        return albert_fail(err, ALBERT_E_INPUT,
                           "%s:%" PRIu64 ": --resume: a record %s \"id\", and this run %s "
                           "--id-field", path, r->kept + 1, r->ids ? "without" : "with",
                           r->ids ? "has" : "has no");
    if (*checked || is_error_record(line))
        return ALBERT_OK;
    *checked = 1;
    unsigned ruled;
    int width = embedding_width(line, r->nested, &ruled);
    if (width != r->width)
        return albert_fail(err, ALBERT_E_INPUT,
                           "%s:%" PRIu64 ": --resume: its embedding has %d values, and this run "
                           "writes %d (another --pooling, --layer, --truncate-dim, "
                           "--output-dtype, --tokenize or model?)",
                           path, r->kept + 1, width, r->width);
    if (width > 0 && ruled >> r->dtype & 1)
        return albert_fail(err, ALBERT_E_INPUT,
                           "%s:%" PRIu64 ": --resume: its embedding's values are not what "
                           "--output-dtype %s writes (another --output-dtype?)",
                           path, r->kept + 1, cli_dtype_names[r->dtype]);
    return ALBERT_OK;
}

/* A scan of FILE's records for --resume. */
typedef struct scan {
    const char *path;
    cli_resume *r;
    int checked; /* the first vectors were checked (check_kept) */
} scan;

/* Counts record LINE (the next one) once it is checked to be this run's. */
static int take_line(scan *sc, const char *line, albert_error *err)
{
    int rc = check_kept(sc->path, line, sc->r, &sc->checked, err);
    if (rc == ALBERT_OK) {
        sc->r->kept++;
        sc->r->kept_errors += is_error_record(line);
    }
    return rc;
}

/* Counts PATH's whole records, checking they are this run's in order
 * (check_kept); *KEEP gets the bytes they take (a torn last line is left
 * out). */
static int scan_records(scan *sc, FILE *f, off_t *keep, albert_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = ALBERT_OK;
    while (rc == ALBERT_OK && (len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n') {
        rc = take_line(sc, line, err);
        *keep += rc == ALBERT_OK ? (off_t)len : 0;
    }
    free(line);
    return rc;
}

/* Takes the whole lines TEXT starts with; TEXT keeps what is left (a line
 * not yet whole). */
static int take_lines(scan *sc, cli_buf *text, albert_error *err)
{
    char *at = text->data, *end = text->data + text->len, *nl;
    int rc = ALBERT_OK;
    while (rc == ALBERT_OK && (nl = memchr(at, '\n', (size_t)(end - at))) != NULL) {
        *nl = '\0';
        rc = take_line(sc, at, err);
        at = nl + 1;
    }
    if (at != text->data) {
        text->len = (size_t)(end - at);
        memmove(text->data, at, text->len);
    }
    return rc;
}

/* One step of inflating *Z (its input set) into TEXT, taking each line as
 * it becomes whole.  At a member's end (Z_STREAM_END: its check passed) a
 * line left over is not a file albert-cl wrote: each member it writes holds
 * whole records. */
static int inflate_lines(scan *sc, z_stream *z, cli_buf *text, int *zrc, albert_error *err)
{
    char out[SCAN_CHUNK];
    z->next_out = (Bytef *)out;
    z->avail_out = sizeof out;
    *zrc = inflate(z, Z_NO_FLUSH);
    cli_buf_put(text, out, sizeof out - z->avail_out);
    if (text->nomem)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory to resume", sc->path);
    int rc = take_lines(sc, text, err);
    if (rc == ALBERT_OK && *zrc == Z_STREAM_END && text->len)
        return albert_fail(err, ALBERT_E_INPUT, "%s: --resume: a gzip member ends inside a "
                           "line: not a file albert-cl wrote", sc->path);
    return rc;
}

/* scan_records of a gzip FILE as the writer makes it: whole members of
 * whole records, the last one torn when the run was killed (its records are
 * given back).  Lines are checked as they come, so a file gzip made of one
 * member (an interrupted plain run, compressed) needs no more memory than
 * its longest line.  *KEEP gets the bytes of the whole members.  Bytes that
 * are not gzip refuse the file, unless whole members came first: then they
 * are a damaged tail (zeros a lost machine left), cut off like a torn one. */
static int scan_gzip_records(scan *sc, FILE *f, off_t *keep, albert_error *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    unsigned char *in = malloc(SCAN_CHUNK);
    cli_buf text = {0};
    if (!in || inflateInit2(&z, 15 + 16) != Z_OK) {
        free(in);
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory to resume", sc->path);
    }
    int rc = ALBERT_OK, zrc = Z_OK, damaged = 0;
    uint64_t kept = 0, kept_errors = 0; /* at the last whole member's end */
    off_t fed = 0;
    size_t n;
    while (rc == ALBERT_OK && !damaged && (n = fread(in, 1, SCAN_CHUNK, f)) > 0) {
        z.next_in = in;
        z.avail_in = (uInt)n;
        fed += (off_t)n;
        while (rc == ALBERT_OK && !damaged && z.avail_in > 0) {
            rc = inflate_lines(sc, &z, &text, &zrc, err);
            if (rc == ALBERT_OK && zrc == Z_STREAM_END) {
                *keep = fed - (off_t)z.avail_in;
                kept = sc->r->kept;
                kept_errors = sc->r->kept_errors;
                inflateReset(&z);
            } else if (rc == ALBERT_OK && zrc == Z_MEM_ERROR) {
                rc = albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory to resume", sc->path);
            } else if (rc == ALBERT_OK && zrc != Z_OK && zrc != Z_BUF_ERROR) {
                damaged = *keep > 0;
                if (!damaged)
                    rc = albert_fail(err, ALBERT_E_INPUT, "%s: --resume: not gzip data "
                                     "albert-cl wrote (byte %lld: %s)", sc->path,
                                     (long long)(fed - z.avail_in), z.msg ? z.msg : "bad data");
            }
        }
    }
    sc->r->kept = kept; /* a torn or damaged last member's records are given back */
    sc->r->kept_errors = kept_errors;
    inflateEnd(&z);
    free(in);
    free(text.data);
    return rc;
}

/* Whether -o PATH is written gzip-compressed: its name ends in .gz. */
int cli_stream_gzip_name(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n > 3 && strcasecmp(path + n - 3, ".gz") == 0;
}

/* Scans PATH (gzip with GZIP) for --resume: R's counts, *KEEP the bytes of
 * its whole records. */
static int scan_file(const char *path, int gzip, cli_resume *r, off_t *keep, albert_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot read it to resume: %s", path,
                           strerror(errno));
    scan sc = {path, r, 0};
    r->kept = r->kept_errors = 0;
    *keep = 0;
    int rc = gzip ? scan_gzip_records(&sc, f, keep, err) : scan_records(&sc, f, keep, err);
    if (rc == ALBERT_OK && ferror(f))
        rc = albert_fail(err, ALBERT_E_IO, "%s: cannot read it to resume: %s", path,
                         strerror(errno ? errno : EIO));
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------ the stream */

static int open_file(cli_stream *s, cli_resume *resume, albert_error *err)
{
    off_t keep = 0;
    int exists = access(s->path, F_OK) == 0;
    struct stat lsb;
    /* The shell's '>' would create the link's target: not ours to guess. */
    if (!exists && lstat(s->path, &lsb) == 0)
        return albert_fail(err, ALBERT_E_IO, "%s: a symbolic link to a missing file", s->path);
    if (resume && exists) {
        int rc = scan_file(s->path, s->gzip, resume, &keep, err);
        if (rc != ALBERT_OK)
            return rc;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC);
    s->fd = open(s->path, flags, 0666);
    if (s->fd < 0)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open the output: %s", s->path,
                           strerror(errno));
    struct stat sb;
    s->regular = fstat(s->fd, &sb) == 0 && S_ISREG(sb.st_mode);
    if (S_ISDIR(sb.st_mode))
        return albert_fail(err, ALBERT_E_IO, "%s: is a directory", s->path);
    if (s->regular && (ftruncate(s->fd, keep) != 0 || lseek(s->fd, keep, SEEK_SET) < 0))
        return albert_fail(err, ALBERT_E_IO, "%s: cannot cut it back to its whole records: %s",
                           s->path, strerror(errno));
    s->written = (uint64_t)keep;
    s->records = resume ? resume->kept : 0;
    publish(s, keep);
    return ALBERT_OK;
}

int cli_stream_open(cli_stream *s, const char *path, cli_resume *resume, albert_error *err)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (resume)
        resume->kept = 0;
    if (!path || strcmp(path, "-") == 0) {
        s->fd = STDOUT_FILENO;
        return ALBERT_OK;
    }
    s->path = path;
    s->gzip = cli_stream_gzip_name(path);
    int rc = open_file(s, resume, err);
    if (rc != ALBERT_OK && s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    return rc;
}

static const char *shown(const cli_stream *s)
{
    return s->path ? s->path : "<stdout>";
}

/* 0, or the errno of the failed write. */
static int write_all(int fd, const char *p, size_t n)
{
    if (albert_fault(ALBERT_FAULT_WRITE)) /* tests: as if the disk were full */
        return ENOSPC;
    return albert_write_all(fd, p, n);
}

/* The buffered records as one whole gzip member in s->zbuf: a file of such
 * members is one gzip stream, and a run stopped between them leaves whole
 * records.  0, or -1 out of memory. */
static int gzip_member(cli_stream *s, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (s->buf.len > GZIP_MEMBER_MAX)
        return -1;
    /* zlib's fastest level: on records of floats about 5x level 6's speed
     * for 15% more bytes, so that the writer keeps up with a GPU. */
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&z, (uLong)s->buf.len);
    if (bound > s->zcap) {
        unsigned char *p = realloc(s->zbuf, bound);
        if (!p) {
            deflateEnd(&z);
            return -1;
        }
        s->zbuf = p;
        s->zcap = bound;
    }
    z.next_in = (Bytef *)s->buf.data;
    z.avail_in = (uInt)s->buf.len;
    z.next_out = s->zbuf;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH); /* the bound fits it in one call */
    *len = z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

int cli_stream_flush(cli_stream *s, albert_error *err)
{
    if (s->buf.nomem)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for records", shown(s));
    if (s->buf.len == 0)
        return ALBERT_OK;
    const char *out = s->buf.data;
    size_t len = s->buf.len;
    if (s->gzip) {
        if (gzip_member(s, &len) != 0)
            return albert_fail(err, ALBERT_E_NOMEM, "%s: cannot compress %zu bytes of records "
                               "(out of memory, or more than one gzip member takes)",
                               shown(s), s->buf.len);
        out = (const char *)s->zbuf;
    }
    int e = write_all(s->fd, out, len);
    if (e) {
        /* A short write leaves part of a record: cut back to the whole ones. */
        if (s->regular && ftruncate(s->fd, (off_t)s->written) != 0) {
            /* --resume cuts a torn last line too. */
        }
        return albert_fail(err, ALBERT_E_IO, "%s: write error: %s", shown(s), strerror(e));
    }
    s->written += len;
    s->records += s->buffered;
    s->buf.len = 0;
    s->buffered = 0;
    if (s->path)
        publish(s, (off_t)s->written);
    return ALBERT_OK;
}

int cli_stream_record_done(cli_stream *s, albert_error *err)
{
    s->buffered++;
    return s->buf.len >= STREAM_CHUNK || s->buf.nomem ? cli_stream_flush(s, err) : ALBERT_OK;
}

int cli_stream_close(cli_stream *s, albert_error *err)
{
    int rc = s->fd >= 0 ? cli_stream_flush(s, err) : ALBERT_OK;
    if (s->path && s->fd >= 0) {
        signal_fd = -1;
        if (close(s->fd) != 0 && rc == ALBERT_OK)
            rc = albert_fail(err, ALBERT_E_IO, "%s: write error: %s", s->path, strerror(errno));
    }
    s->fd = -1;
    free(s->buf.data);
    memset(&s->buf, 0, sizeof s->buf);
    free(s->zbuf);
    s->zbuf = NULL;
    s->zcap = 0;
    return rc;
}

/* ------------------------------------------------------------ records */

static void put_vector(cli_buf *b, const cli_embedding *e, int row)
{
    const size_t at = (size_t)row * (size_t)e->width;
    if (e->ints)
        cli_buf_ints(b, e->ints + at, e->width);
    else
        cli_buf_floats_digits(b, e->floats + at, e->width, e->digits);
}

static void put_index(cli_buf *b, uint64_t index, const char *id)
{
    cli_buf_printf(b, "{\"index\": %" PRIu64, index);
    if (id)
        cli_buf_printf(b, ", \"id\": %s", id);
}

void cli_format_record(cli_buf *b, uint64_t index, const char *id, const int32_t *ids,
                       const int32_t *types, int n_ids, const cli_embedding *emb)
{
    put_index(b, index, id);
    cli_buf_printf(b, ", \"input_ids\": ");
    cli_buf_ints(b, ids, n_ids);
    if (types) {
        cli_buf_printf(b, ", \"token_type_ids\": ");
        cli_buf_ints(b, types, n_ids);
    }
    if (emb) {
        cli_buf_printf(b, ", \"embedding\": ");
        if (!emb->nested) {
            put_vector(b, emb, 0);
        } else {
            cli_buf_put(b, "[", 1);
            for (int r = 0; r < emb->rows; r++) {
                cli_buf_put(b, ", ", r ? 2 : 0);
                put_vector(b, emb, r);
            }
            cli_buf_put(b, "]", 1);
        }
    }
    cli_buf_put(b, "}\n", 2);
}

void cli_format_error_record(cli_buf *b, uint64_t index, const char *id, const char *message)
{
    cJSON *text = cJSON_CreateString(message);
    char *quoted = text ? cJSON_PrintUnformatted(text) : NULL;
    if (quoted) {
        put_index(b, index, id);
        cli_buf_printf(b, ", \"error\": %s}\n", quoted);
    } else
        b->nomem = 1;
    cJSON_free(quoted);
    cJSON_Delete(text);
}
