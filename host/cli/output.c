/* Output files: all or nothing, and left as they were when interrupted. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli/output.h"

#include "cli/stream.h"
#include "core/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Records are small writes: a large buffer keeps fprintf from dominating. */
#define SINK_BUFFER (1 << 20)
/* Outputs that can have a temporary file at once: -o and --profile-json. */
#define TEMP_SLOTS 2
#define TEMP_SUFFIX ".tmp-XXXXXX"
#define TEMP_RANDOM 6 /* the X's */

/* ------------------------------------------------------------ interrupts */

/* The temporary files that exist, for the signal handler, which may only
 * read memory and make async-signal-safe calls.  Entries change only on
 * the main thread with the stop signals held there, and the handler acts
 * only on the main thread (other threads pass the signal on), so it never
 * sees one half made: an entry names a file that exists, or is empty.  This
 * is why the temporary file is created (and renamed, and removed) with the
 * signals held, rather than recorded before or after: a signal in between
 * would leave the file, or remove someone else's that happened to have the
 * candidate name.  (SIGKILL, or a crash, still leaves one: nothing of ours
 * runs then.) */
typedef struct temp_slot {
    char tmp[PATH_MAX + sizeof TEMP_SUFFIX]; /* "" when free */
    const char *shown;                       /* the output as the user named it */
} temp_slot;

static temp_slot temp_slots[TEMP_SLOTS];
static pthread_t main_thread;

/* The signals that end a run (a closed terminal too), with their names. */
static const struct {
    int sig;
    const char *name;
} stop_signals[] = {{SIGINT, "SIGINT"}, {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"}};
#define STOP_SIGNALS (sizeof stop_signals / sizeof stop_signals[0])

static void stop_signal_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < STOP_SIGNALS; i++)
        sigaddset(set, stop_signals[i].sig);
}

static size_t append(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

static void on_signal(int sig)
{
    /* The main thread may hold the signal (it stays pending there) or be
     * anywhere: a library thread only passes it on. */
    if (!pthread_equal(pthread_self(), main_thread)) {
        pthread_kill(main_thread, sig);
        return;
    }
    char msg[1024];
    const size_t cap = sizeof msg - 1; /* room for the '\n' */
    size_t n = append(msg, 0, cap, "albert-cl: interrupted (");
    for (size_t i = 0; i < STOP_SIGNALS; i++)
        if (stop_signals[i].sig == sig)
            n = append(msg, n, cap, stop_signals[i].name);
    n = append(msg, n, cap, ")");
    for (int i = 0; i < TEMP_SLOTS; i++) {
        if (!temp_slots[i].tmp[0])
            continue;
        unlink(temp_slots[i].tmp);
        n = append(msg, n, cap, "; ");
        n = append(msg, n, cap, temp_slots[i].shown);
        n = append(msg, n, cap, " left as it was");
    }
    n = cli_stream_on_signal(msg, n, cap);
    msg[n++] = '\n';
    if (write(STDERR_FILENO, msg, n) < 0) {
        /* Nothing left to tell it with. */
    }
    _exit(128 + sig);
}

void cli_signals_install(void)
{
    main_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* library threads go on after passing it on */
    stop_signal_set(&sa.sa_mask);
    for (size_t i = 0; i < STOP_SIGNALS; i++) {
        struct sigaction was;
        /* Ignored on entry (nohup, a background job of a script): stays so. */
        if (sigaction(stop_signals[i].sig, NULL, &was) == 0 && was.sa_handler != SIG_IGN)
            sigaction(stop_signals[i].sig, &sa, NULL);
    }
}

static void hold_signals(sigset_t *old)
{
    sigset_t set;
    stop_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

/* Restores the mask and errno as they were before it. */
static void release_signals(const sigset_t *old)
{
    int e = errno;
    pthread_sigmask(SIG_SETMASK, old, NULL);
    errno = e;
}

/* Creates a new file PATH.tmp-XXXXXX in TMP (of SIZE bytes).  Mode 0666
 * less the umask, as the shell's '>' gives a new file: mkstemp's 0600
 * would stay on the output.  Returns the descriptor, or -1 with errno. */
static int open_unique(char *tmp, size_t size, const char *path)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t len = strlen(path);
    if (len + sizeof TEMP_SUFFIX > size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Names need only be unlikely to be taken: O_EXCL settles the rest. */
    uint64_t x = albert_now_ns() ^ (uint64_t)getpid() << 32;
    for (int attempt = 0; attempt < 100; attempt++) {
        memcpy(tmp, path, len);
        memcpy(tmp + len, TEMP_SUFFIX, sizeof TEMP_SUFFIX);
        char *r = tmp + len + sizeof TEMP_SUFFIX - 1 - TEMP_RANDOM;
        for (int i = 0; i < TEMP_RANDOM; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            r[i] = chars[(x >> 33) % (sizeof chars - 1)];
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* A temporary file beside TARGET, entered in a free slot; -1 with errno. */
static int create_temp(cli_sink *s)
{
    sigset_t old;
    hold_signals(&old);
    int fd = -1;
    errno = EMFILE;
    for (int i = 0; i < TEMP_SLOTS && !s->temp; i++) {
        if (temp_slots[i].tmp[0])
            continue;
        fd = open_unique(temp_slots[i].tmp, sizeof temp_slots[i].tmp, s->target);
        if (fd < 0) {
            temp_slots[i].tmp[0] = '\0';
            break;
        }
        temp_slots[i].shown = s->path;
        s->temp = &temp_slots[i];
    }
    release_signals(&old);
    return fd;
}

/* Renames the temporary file over TARGET (RENAME 1) or removes it, and
 * frees its slot; -1 with errno when the rename failed (the file is then
 * removed). */
static int finish_temp(cli_sink *s, int rename_it)
{
    if (!s->temp)
        return 0;
    sigset_t old;
    hold_signals(&old);
    char *tmp = s->temp->tmp;
    int rc = rename_it ? rename(tmp, s->target) : -1;
    int e = errno;
    if (rc != 0)
        unlink(tmp);
    tmp[0] = '\0';
    errno = e; /* the rename's */
    s->temp = NULL;
    release_signals(&old);
    return rename_it ? rc : 0;
}

/* ------------------------------------------------------------ the sink */

/* How the output is called in messages. */
static const char *shown(const cli_sink *s)
{
    return s->path ? s->path : "<stdout>";
}

/* Writes go to a temporary file beside TARGET, which the commit renames
 * over it; MODE (unless -1) is the mode of the file that replaces. */
static int open_beside(cli_sink *s, long mode, albert_error *err)
{
    int fd = create_temp(s);
    if (fd < 0)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot create the output: %s", s->path,
                           strerror(errno));
    if (mode >= 0 && fchmod(fd, (mode_t)mode) != 0) {
        int e = errno;
        close(fd);
        return albert_fail(err, ALBERT_E_IO,
                           "%s: cannot give the new output the old one's mode: %s", s->path,
                           strerror(e));
    }
    s->f = fdopen(fd, "wb");
    if (!s->f) {
        int e = errno;
        close(fd);
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open the output: %s", s->path,
                           strerror(e));
    }
    return ALBERT_OK;
}

FILE *cli_tmpfile(void)
{
    sigset_t old;
    /* Held: tmpfile may name its file for a moment before removing it. */
    hold_signals(&old);
    FILE *f = tmpfile();
    int e = errno;
    release_signals(&old);
    errno = e;
    return f;
}

/* stdout, or a device or pipe (say /dev/null) that a rename would replace:
 * an anonymous temporary file, copied at commit. */
static int open_anonymous(cli_sink *s, albert_error *err)
{
    s->f = cli_tmpfile();
    if (!s->f)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot create a temporary file: %s", shown(s),
                           strerror(errno));
    return ALBERT_OK;
}

/* PATH does not exist: a new file.  A link to a missing file fails: the
 * shell's '>' would create the target, which realpath cannot name for us. */
static int open_new(cli_sink *s, albert_error *err)
{
    struct stat sb;
    if (lstat(s->path, &sb) == 0)
        return albert_fail(err, ALBERT_E_IO, "%s: a symbolic link to a missing file", s->path);
    s->target = strdup(s->path);
    if (!s->target)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", s->path);
    return open_beside(s, -1, err);
}

/* The file PATH names, through any links, is replaced and keeps its mode. */
static int open_existing(cli_sink *s, mode_t mode, albert_error *err)
{
    s->target = realpath(s->path, NULL);
    if (!s->target)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot resolve the path: %s", s->path,
                           strerror(errno));
    return open_beside(s, (long)(mode & 07777), err);
}

int cli_sink_open(cli_sink *s, const char *path, albert_error *err)
{
    memset(s, 0, sizeof *s);
    s->path = path && strcmp(path, "-") != 0 ? path : NULL;
    struct stat sb;
    int rc;
    if (!s->path)
        rc = open_anonymous(s, err);
    else if (stat(s->path, &sb) != 0)
        rc = errno == ENOENT ? open_new(s, err)
                             : albert_fail(err, ALBERT_E_IO, "%s: %s", s->path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        rc = albert_fail(err, ALBERT_E_IO, "%s: is a directory", s->path);
    else
        rc = S_ISREG(sb.st_mode) ? open_existing(s, sb.st_mode, err) : open_anonymous(s, err);
    if (rc == ALBERT_OK)
        setvbuf(s->f, NULL, _IOFBF, SINK_BUFFER);
    else
        cli_sink_abort(s);
    return rc;
}

int cli_stream_error(FILE *f)
{
    if (albert_fault(ALBERT_FAULT_WRITE)) /* tests: as if the disk were full */
        return ENOSPC;
    int e = errno;
    if (fflush(f) != 0)
        return errno ? errno : EIO;
    return ferror(f) ? (e ? e : EIO) : 0;
}

int cli_sink_check(const cli_sink *s, albert_error *err)
{
    int e = cli_stream_error(s->f);
    if (!e)
        return ALBERT_OK;
    return albert_fail(err, ALBERT_E_IO, "%s: cannot write the output%s: %s", shown(s),
                       s->target ? "" : " to a temporary file", strerror(e));
}

int cli_copy_stream(FILE *from, FILE *to)
{
    static const size_t chunk = 1 << 16;
    char *buf = malloc(chunk);
    if (!buf)
        return ENOMEM;
    rewind(from);
    size_t n;
    int e = 0;
    errno = 0;
    while (!e && (n = fread(buf, 1, chunk, from)) > 0)
        if (fwrite(buf, 1, n, to) != n)
            e = errno ? errno : EIO;
    if (!e && ferror(from))
        e = errno ? errno : EIO;
    free(buf);
    return e ? e : cli_stream_error(to);
}

static int commit_copy(cli_sink *s, albert_error *err)
{
    FILE *to = s->path ? fopen(s->path, "wb") : stdout;
    if (!to)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot open: %s", shown(s), strerror(errno));
    int e = cli_copy_stream(s->f, to);
    if (to != stdout && fclose(to) != 0 && !e)
        e = errno;
    return e ? albert_fail(err, ALBERT_E_IO, "%s: write error: %s", shown(s), strerror(e))
             : ALBERT_OK;
}

static int commit_rename(cli_sink *s, albert_error *err)
{
    int closed = fclose(s->f);
    s->f = NULL;
    if (closed != 0)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot write the output: %s", s->path,
                           strerror(errno));
    if (finish_temp(s, 1) != 0)
        return albert_fail(err, ALBERT_E_IO, "%s: cannot replace it with the output: %s",
                           s->path, strerror(errno));
    return ALBERT_OK;
}

int cli_sink_commit(cli_sink *s, albert_error *err)
{
    int rc = cli_sink_check(s, err);
    if (rc == ALBERT_OK)
        rc = s->target ? commit_rename(s, err) : commit_copy(s, err);
    cli_sink_abort(s);
    return rc;
}

void cli_sink_abort(cli_sink *s)
{
    if (s->f)
        fclose(s->f);
    s->f = NULL;
    finish_temp(s, 0);
    free(s->target);
    s->target = NULL;
}

int cli_stdout_close(albert_error *err)
{
    int e = cli_stream_error(stdout);
    if (fclose(stdout) != 0 && !e)
        e = errno ? errno : EIO;
    return e ? albert_fail(err, ALBERT_E_IO, "<stdout>: write error: %s", strerror(e)) : ALBERT_OK;
}
