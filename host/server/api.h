/* The server's endpoints: a request's method, path and body in, a status,
 * a content type and a body out.  No HTTP here (server.c has that). */
#ifndef ALBERT_SERVER_API_H
#define ALBERT_SERVER_API_H

#include "cli/buf.h"
#include "server/dispatch.h"
#include "server/metrics.h"

/* What the server was started with (albert-cl serve's options). */
typedef struct srv_settings {
    const char *model_name;   /* --served-model-name: echoed as "model", /info's model_id */
    const char *model_dir;
    const albert_config *config;
    const albert_tokenizer *tok;
    const char *const *devices; /* albert_engine_device_name of each engine */
    int ndevices;
    int max_length;
    int pooling;              /* albert_pooling, not NONE */
    unsigned pooling_modes;   /* several at once (bits 1u << albert_pooling), or 0 */
    int layer;                /* the hidden_states index the vectors come from, */
    const int *layers;        /* or these N_LAYERS ones combined (n_layers > 0), */
    int n_layers;
    int layer_concat;         /* concatenated rather than averaged */
    int width;                /* values per vector: hidden_size, or times the layers concatenated */
    int normalize;
    int strip_text;            /* /tokenize strips texts as the scheduler does */
    /* Put before every text input unless a request's prompt_name names
     * another (--prompt, --prompt-name, the folder's default_prompt_name),
     * or NULL; exclude_prompt: its tokens are left out of the pooling (the
     * scheduler's option, said by /info). */
    const char *prompt;
    int exclude_prompt;
    int sentence_transformers; /* the folder's prompts count (else prompt_name: 422) */
    size_t prompt_max;         /* bytes of a prompt, its NUL included */
    int precision;
    int tokenizer_kind;
    int max_batch_tokens;     /* the largest engine's */
    int max_client_batch;
    size_t payload_limit;
    int max_concurrent;
    int max_wait_ms;
    int auto_truncate;
    albert_truncation truncation; /* where texts are cut unless a request says (--truncation-side) */
    const char *api_key;      /* NULL: no authentication (--api-key) */
} srv_settings;

typedef struct srv_reply {
    int status;
    const char *content_type;
    cli_buf body;             /* malloc'd; the caller frees body.data */
} srv_reply;

typedef struct srv_api {
    const srv_settings *set;
    srv_dispatch *dispatch;
    srv_metrics *metrics;
    const volatile int *stopping; /* 1 once SIGTERM came: /health says 503 */
} srv_api;

/* The endpoint METHOD PATH names ("/embed", ... or "other"): a string literal
 * for the metrics. */
const char *srv_api_endpoint(const char *path);
/* Whether PATH's endpoint embeds or tokenizes (counted against
 * --max-concurrent-requests; refused while stopping). */
int srv_api_is_work(const char *path);
/* Whether PATH is a health probe (/health, /ping): open without the API key. */
int srv_api_is_probe(const char *path);

/* Answers one request whose whole BODY (LEN bytes) arrived. */
void srv_api_answer(srv_api *api, const char *method, const char *path, const char *body,
                    size_t len, srv_reply *reply);
/* An error reply: JSON in the shape PATH's clients expect. */
void srv_api_error(const char *path, int status, const char *type, const char *message,
                   srv_reply *reply);

#endif
