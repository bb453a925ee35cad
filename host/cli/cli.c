#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>

static int quiet;

void cli_set_quiet(int on)
{
    quiet = on;
}

void cli_warn(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("albert-cl: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
