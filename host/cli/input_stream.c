/* Input streams (see cli/input_stream.h): a stdio stream (fopencookie) over
 * the file's descriptor, so the readers' getline works unchanged.  Its first
 * bytes tell the format: gzip goes through zlib's inflate, other bytes pass
 * as they are.  Every read returns what one read(2) brought, inflated, so
 * records stream out of a pipe line by line (zlib's gzread would wait for
 * 128 KiB). */
#define _GNU_SOURCE /* fopencookie */
#include "cli/input_stream.h"
#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IN_BUFFER (64u * 1024u) /* read(2)'s buffer, held only while the file is read */

enum { SNIFF, PLAIN, GZIP, GZIP_END, FAILED }; /* a stream's states */

struct cli_input_stream {
    int fd;
    FILE *file;
    struct stat st;       /* st_mode 0 when fstat failed */
    int state;
    z_stream z;           /* next_in / avail_in: bytes read, not used yet (every state) */
    int inflating;        /* inflateInit2 done */
    unsigned char *in;    /* IN_BUFFER bytes, from the first read on */
    uint64_t used;        /* bytes of the file taken from z.next_in */
    char why[160];
};

/* Formats told by their first bytes: gzip is read; the others, which zlib
 * does not read and which are never UTF-8 text, get a clear error. */
static const struct {
    int state; /* GZIP, or FAILED with the message below */
    const char *name, *tool;
    unsigned char magic[6];
    unsigned n;
} formats[] = {
    {GZIP, "gzip", NULL, {0x1F, 0x8B}, 2},
    {FAILED, "zstd", "zstdcat", {0x28, 0xB5, 0x2F, 0xFD}, 4},
    {FAILED, "xz", "xzcat", {0xFD, '7', 'z', 'X', 'Z', 0x00}, 6},
};

static ssize_t fail(cli_input_stream *s, int code, const char *fmt, ...) ALBERT_PRINTF(3, 4);

/* Puts the stream in error: WHY for the reader, CODE in errno for stdio. */
static ssize_t fail(cli_input_stream *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->state = FAILED;
    errno = code;
    return -1;
}

/* One read(2) after the bytes not used yet (moved to the buffer's start):
 * its count, 0 at the end of the file, -1 on an error. */
static ssize_t more(cli_input_stream *s)
{
    if (!s->in && !(s->in = malloc(IN_BUFFER)))
        return fail(s, ENOMEM, "out of memory for its read buffer");
    if (s->z.avail_in && s->z.next_in != s->in)
        memmove(s->in, s->z.next_in, s->z.avail_in);
    s->z.next_in = s->in;
    ssize_t n;
    do
        n = read(s->fd, s->in + s->z.avail_in, IN_BUFFER - s->z.avail_in);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return fail(s, errno, "%s", strerror(errno));
    s->z.avail_in += (uInt)n;
    return n;
}

static void take(cli_input_stream *s, size_t n)
{
    s->z.next_in += n;
    s->z.avail_in -= (uInt)n;
    s->used += n;
}

#define UNDECIDED (-2) /* format_of: the bytes so far begin some magic, more may come */
#define NO_FORMAT (-1)

/* The index in formats[] of the format the bytes read so far begin, or
 * NO_FORMAT (plain bytes), or UNDECIDED while they are a proper prefix of
 * some magic and the file goes on. */
static int format_of(const cli_input_stream *s, int at_end)
{
    int open = 0;
    if (s->z.avail_in == 0) /* nothing read yet (next_in NULL), or an empty file */
        return at_end ? NO_FORMAT : UNDECIDED;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        const unsigned have = s->z.avail_in < formats[i].n ? s->z.avail_in : formats[i].n;
        if (memcmp(s->z.next_in, formats[i].magic, have) != 0)
            continue;
        if (have == formats[i].n)
            return (int)i;
        open = !at_end;
    }
    return open ? UNDECIDED : NO_FORMAT;
}

/* Reads until the first bytes tell the format, then enters its state. */
static int sniff(cli_input_stream *s)
{
    int f = UNDECIDED;
    for (int at_end = 0; (f = format_of(s, at_end)) == UNDECIDED;) {
        const ssize_t n = more(s);
        if (n < 0)
            return -1;
        at_end = n == 0;
    }
    if (f == NO_FORMAT) {
        s->state = PLAIN;
        return 0;
    }
    if (formats[f].state == FAILED)
        return (int)fail(s, EIO, "%s-compressed input, which albert-cl does not read: pipe it "
                                 "through %s", formats[f].name, formats[f].tool);
    if (inflateInit2(&s->z, 15 + 16) != Z_OK) /* 16: a gzip wrapper */
        return (int)fail(s, ENOMEM, "out of memory for zlib");
    s->inflating = 1;
    s->state = GZIP;
    return 0;
}

static ssize_t read_plain(cli_input_stream *s, char *buf, size_t size)
{
    if (s->z.avail_in) {
        const size_t n = size < s->z.avail_in ? size : s->z.avail_in;
        memcpy(buf, s->z.next_in, n);
        take(s, n);
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = read(s->fd, buf, size);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return fail(s, errno, "%s", strerror(errno));
    s->used += (uint64_t)n;
    return n;
}

/* After a member: another member (gzip's magic), zero bytes to the end (as
 * gzip, padding), the end of the file, or bytes that are none of these.
 * 1: a member begins, 0: the end, -1: an error. */
static ssize_t after_member(cli_input_stream *s)
{
    for (;;) {
        ssize_t n = 1;
        if (s->z.avail_in < 2 && (n = more(s)) < 0)
            return -1;
        const unsigned char *b = s->z.next_in;
        if (s->z.avail_in == 0)
            return 0; /* more() read nothing: the end */
        if (s->z.avail_in >= 2 && b[0] == 0x1F && b[1] == 0x8B) {
            inflateReset(&s->z);
            s->state = GZIP;
            return 1;
        }
        if (s->z.avail_in == 1 && b[0] == 0x1F && n > 0)
            continue; /* the magic's second byte may come */
        size_t zeros = 0;
        while (zeros < s->z.avail_in && b[zeros] == 0)
            zeros++;
        take(s, zeros);
        if (s->z.avail_in)
            return fail(s, EIO, "bytes after the gzip data that are not gzip (at byte %llu of "
                                "the file)", (unsigned long long)s->used + 1);
    }
}

/* Inflates into BUF until some output came (or the stream ended). */
static ssize_t read_gzip(cli_input_stream *s, char *buf, size_t size)
{
    const uInt room = size > UINT_MAX ? UINT_MAX : (uInt)size;
    s->z.next_out = (Bytef *)buf;
    s->z.avail_out = room;
    for (;;) {
        if (s->state == GZIP_END) {
            const ssize_t next = after_member(s);
            if (next <= 0)
                return next;
        }
        if (s->z.avail_in == 0) {
            const ssize_t n = more(s);
            if (n < 0)
                return -1;
            if (n == 0)
                return fail(s, EIO, "truncated gzip data (the file ends inside a member)");
        }
        const uInt before = s->z.avail_in;
        const int rc = inflate(&s->z, Z_NO_FLUSH);
        s->used += before - s->z.avail_in;
        if (rc == Z_MEM_ERROR)
            return fail(s, ENOMEM, "out of memory inflating gzip data");
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return fail(s, EIO, "corrupt gzip data (%s)", s->z.msg ? s->z.msg : "zlib error");
        if (rc == Z_STREAM_END)
            s->state = GZIP_END;
        if (s->z.avail_out < room)
            return (ssize_t)(room - s->z.avail_out);
    }
}

static ssize_t stream_read(void *cookie, char *buf, size_t size)
{
    cli_input_stream *s = cookie;
    if (s->state == SNIFF && sniff(s) < 0)
        return -1;
    switch (s->state) {
    case PLAIN:
        return read_plain(s, buf, size);
    case GZIP:
    case GZIP_END:
        return read_gzip(s, buf, size);
    default:
        errno = EIO;
        return -1;
    }
}

static int stream_close(void *cookie)
{
    cli_input_stream *s = cookie;
    if (s->inflating)
        inflateEnd(&s->z);
    free(s->in);
    return close(s->fd) == 0 ? 0 : EOF;
}

/* A descriptor for PATH ("-": a duplicate of stdin's, so that closing the
 * stream leaves fd 0 open). */
static int open_fd(const char *path, albert_error *err)
{
    const int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        albert_fail(err, ALBERT_E_IO, "%s: cannot open: %s", is_stdin ? "<stdin>" : path,
                    strerror(errno));
    return fd;
}

int cli_input_stream_open(const char *path, cli_input_stream **out, albert_error *err)
{
    static const cookie_io_functions_t io = {.read = stream_read, .close = stream_close};
    *out = NULL;
    int fd = open_fd(path, err);
    if (fd < 0)
        return err->code;
    cli_input_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->fd = fd;
        if (fstat(fd, &s->st) != 0)
            s->st.st_mode = 0;
        s->file = fopencookie(s, "r", io);
    }
    if (!s || !s->file) {
        close(fd);
        free(s);
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for its reader",
                           strcmp(path, "-") == 0 ? "<stdin>" : path);
    }
    *out = s;
    return ALBERT_OK;
}

FILE *cli_input_stream_file(const cli_input_stream *s)
{
    return s->file;
}

int cli_input_stream_size(const cli_input_stream *s, uint64_t *size)
{
    *size = S_ISREG(s->st.st_mode) ? (uint64_t)s->st.st_size : 0;
    return S_ISREG(s->st.st_mode);
}

int cli_input_stream_is(const cli_input_stream *s, const struct stat *st)
{
    return S_ISREG(s->st.st_mode) && s->st.st_dev == st->st_dev && s->st.st_ino == st->st_ino;
}

int cli_input_stream_compressed(const cli_input_stream *s)
{
    return s->inflating;
}

uint64_t cli_input_stream_used(const cli_input_stream *s)
{
    return s->used;
}

const char *cli_input_stream_error(const cli_input_stream *s)
{
    return s->why[0] ? s->why : "read error";
}

void cli_input_stream_close(cli_input_stream *s)
{
    if (!s)
        return;
    /* close(2) is a cancellation point: the reader thread may be cancelled
     * (cli/embed.c) while it closes a file it has read. */
    int was;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &was);
    fclose(s->file);
    free(s);
    pthread_setcancelstate(was, NULL);
}
