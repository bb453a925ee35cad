/* The progress line. */
#include "cli/progress.h"

#include <stdio.h>
#include <unistd.h>

#define TTY_EVERY_NS 250000000u     /* a terminal's line changes 4 times a second */
#define LOG_EVERY_NS 5000000000u    /* a log file gets a line every 5 s */

void cli_progress_init(cli_progress *p, int mode, uint64_t bytes_total)
{
    p->tty = isatty(STDERR_FILENO);
    p->on = mode == CLI_PROGRESS_ON || (mode == CLI_PROGRESS_AUTO && p->tty);
    p->start = p->last = albert_now_ns();
    p->bytes_total = bytes_total;
}

static void show(cli_progress *p, uint64_t now, uint64_t records, uint64_t tokens,
                 uint64_t bytes_read, const char *end)
{
    double s = (double)(now - p->start) / 1e9;
    double rate = s > 0 ? (double)tokens / s : 0;
    fprintf(stderr, "%salbert-cl: %llu records, %.0f tokens/s", p->tty ? "\r" : "",
            (unsigned long long)records, rate);
    if (p->bytes_total && bytes_read) {
        double done = (double)bytes_read / (double)p->bytes_total;
        double left = done > 0 ? s * (1 - done) / done : 0;
        fprintf(stderr, ", %.1f%%, ETA %dm%02ds", 100 * done, (int)(left / 60),
                (int)left % 60);
    }
    fputs(p->tty ? "\033[K" : "", stderr);
    fputs(end, stderr);
    fflush(stderr);
}

int cli_progress_due(const cli_progress *p)
{
    return p->on && albert_now_ns() - p->last >= (p->tty ? TTY_EVERY_NS : LOG_EVERY_NS);
}

void cli_progress_update(cli_progress *p, uint64_t records, uint64_t tokens, uint64_t bytes_read)
{
    if (!cli_progress_due(p))
        return;
    uint64_t now = albert_now_ns();
    p->last = now;
    show(p, now, records, tokens, bytes_read, p->tty ? "" : "\n");
}

void cli_progress_end(cli_progress *p, uint64_t records, uint64_t tokens, uint64_t bytes_read)
{
    if (p->on)
        show(p, albert_now_ns(), records, tokens, bytes_read, "\n");
}
