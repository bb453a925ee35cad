/* albert-cl serve: OpenAI- and TEI-compatible HTTP over the library's
 * scheduler (server/api.h has the endpoints). */
#ifndef ALBERT_SERVER_SERVER_H
#define ALBERT_SERVER_SERVER_H

#include "server/api.h"

typedef struct srv_launch {
    const srv_settings *settings;
    const albert_scheduler_options *scheduler; /* max_wait_ms > 0 */
    const char *host;  /* a name or address to listen on */
    int port;          /* 0: any free port (the one taken is printed) */
    int quiet;         /* no libmicrohttpd messages */
} srv_launch;

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every
 * thread it starts from now on, for srv_serve to take them with sigwait;
 * ignores SIGPIPE (a client that hangs up is the connection's problem).
 * Call it before anything starts threads (OpenCL drivers, OpenMP). */
void srv_block_signals(void);

/* Listens, prints "albert-cl serve: listening on http://HOST:PORT (...)" on
 * stderr, answers until SIGINT, SIGTERM or SIGHUP, then stops taking
 * connections, finishes the requests in flight (their answers sent) and
 * returns ALBERT_OK.  Fails before listening (the address, the scheduler)
 * with ERR saying what. */
int srv_serve(const srv_launch *launch, albert_error *err);

#endif
