/* The endpoints: OpenAI's /v1/embeddings and /v1/models, TEI's /embed,
 * /tokenize, /health, /info, and Prometheus' /metrics. */
#include "server/api.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* base64 vectors are the float32 bytes as OpenAI sends them: little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "base64 embeddings assume a little-endian host"
#endif

/* In albert_pooling's order, as the CLI's --pooling names them. */
static const char *const pooling_names[] = {"none", "pooler", "cls", "mean", "max",
                                            "mean_sqrt_len", "weightedmean", "lasttoken"};

/* One request being answered. */
typedef struct call {
    srv_api *api;
    const char *path;
    srv_reply *reply;
} call;

typedef void (*handler_fn)(call *c, const char *body, size_t len);

/* ------------------------------------------------------------ replies */

static long invalid_utf8_at(const unsigned char *s, size_t len);

/* S as a JSON string; bytes that are not UTF-8 (a URL's, a piece cut short)
 * become '?': a reply is always valid JSON. */
static void put_json_string(cli_buf *b, const char *s)
{
    size_t len = strlen(s);
    char *clean = malloc(len + 1);
    if (!clean) {
        b->nomem = 1;
        return;
    }
    memcpy(clean, s, len + 1);
    for (size_t at = 0; at < len;) {
        long bad = invalid_utf8_at((const unsigned char *)clean + at, len - at);
        if (bad < 0)
            break;
        at += (size_t)bad;
        clean[at++] = '?';
    }
    cJSON *str = cJSON_CreateString(clean);
    free(clean);
    char *quoted = str ? cJSON_PrintUnformatted(str) : NULL;
    if (quoted)
        cli_buf_put(b, quoted, strlen(quoted));
    else
        b->nomem = 1;
    cJSON_free(quoted);
    cJSON_Delete(str);
}

/* Whether errors on PATH take OpenAI's shape ({"error": {"message": ...}}). */
static int openai_errors(const char *path)
{
    return strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/embeddings") == 0;
}

void srv_api_error(const char *path, int status, const char *type, const char *message,
                   srv_reply *reply)
{
    reply->status = status;
    reply->content_type = "application/json";
    reply->body.len = 0;
    reply->body.nomem = 0;
    cli_buf *b = &reply->body;
    if (openai_errors(path)) {
        cli_buf_printf(b, "{\"error\": {\"message\": ");
        put_json_string(b, message);
        /* OpenAI's error types; TEI's name the cause instead. */
        cli_buf_printf(b, ", \"type\": \"%s\", \"code\": %d}}",
                       status >= 500 ? "server_error" : "invalid_request_error", status);
    } else {
        cli_buf_printf(b, "{\"error\": ");
        put_json_string(b, message);
        cli_buf_printf(b, ", \"error_type\": \"%s\"}", type);
    }
}

static void fail(call *c, int status, const char *type, const char *fmt, ...) ALBERT_PRINTF(4, 5);

static void fail(call *c, int status, const char *type, const char *fmt, ...)
{
    char msg[ALBERT_ERRMSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_api_error(c->path, status, type, msg, c->reply);
}

/* Takes ownership of J. */
static void reply_json(call *c, cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        fail(c, 500, "Backend", "out of memory for the reply");
        return;
    }
    c->reply->status = 200;
    c->reply->content_type = "application/json";
    cli_buf_put(&c->reply->body, text, strlen(text));
    cJSON_free(text);
}

/* ------------------------------------------------------------ request bodies */

/* RFC 8259: JSON text is UTF-8.  The byte offset of the first invalid
 * sequence (overlong forms and surrogates included), or -1. */
static long invalid_utf8_at(const unsigned char *s, size_t len)
{
    static const unsigned least[4] = {0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 0;
        if (n == 0 || i + n >= len)
            return (long)i;
        unsigned cp = c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return (long)i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < least[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return (long)i;
        i += n + 1;
    }
    return -1;
}

/* cJSON decodes "\u0000" into a NUL that would end the text early without
 * a word: such a string is refused (as the CLI's jsonl input does). */
static int has_nul_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 5 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (strncmp(s + i + 1, "u0000", 5) == 0)
            return 1;
        i++; /* the escaped character: "\\u0000" is a backslash and text */
    }
    return 0;
}

/* The body as a JSON object, or NULL after replying 400. */
static cJSON *parse_body(call *c, const char *body, size_t len)
{
    long bad = invalid_utf8_at((const unsigned char *)body, len);
    if (bad >= 0) {
        fail(c, 400, "Validation", "the request body is not valid UTF-8 (byte %ld)", bad);
        return NULL;
    }
    if (memchr(body, '\0', len) || has_nul_escape(body, len)) {
        fail(c, 400, "Validation", "a string holds a NUL character (\\u0000, not allowed in text)");
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    /* One value and nothing after it but blanks: cJSON stops after the first. */
    while (j && end && end < body + len && strchr(" \t\r\n", *end) && *end)
        end++;
    int trailing = j && end && end < body + len;
    if (!j || trailing)
        fail(c, 400, "Validation", "the request body is not valid JSON (at byte %ld)",
             end ? (long)(end - body) : 0L);
    else if (!cJSON_IsObject(j))
        fail(c, 400, "Validation", "the request body is not a JSON object");
    if (j && (trailing || !cJSON_IsObject(j))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* An optional boolean member: *OUT keeps its default when KEY is absent. */
static int get_bool(call *c, const cJSON *j, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        fail(c, 400, "Validation", "\"%s\" must be true or false", key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* ------------------------------------------------------------ inputs */

typedef struct embed_req {
    srv_input *inputs;
    size_t count;
    int32_t *ids;     /* the token-id inputs' storage */
    int truncate;
    int normalize;    /* L2-normalise the vectors (TEI's "normalize") */
    int dimensions;   /* 0: all; else the first N values (normalised after the cut
                         with NORMALIZE: OpenAI always, TEI when asked) */
    int base64;
    const char *prompt; /* before each text: the server's, or NAMED */
    char *named;        /* the prompt a request's prompt_name names */
    int similarity;     /* input 0 is /similarity's source_sentence, K its sentences[K-1] */
    albert_truncation truncation; /* which end of a long text goes */
    srv_job job;
} embed_req;

/* How messages name input K: as the request named it. */
static const char *input_name(const embed_req *q, size_t k, char *buf, size_t size)
{
    if (!q->similarity)
        snprintf(buf, size, "input %zu", k);
    else if (k == 0)
        snprintf(buf, size, "inputs.source_sentence");
    else
        snprintf(buf, size, "inputs.sentences[%zu]", k - 1);
    return buf;
}

static void embed_req_free(embed_req *q)
{
    free(q->named);
    free(q->inputs);
    free(q->ids);
    free(q->job.vectors);
    free(q->job.n_ids);
    free(q->job.n_full);
    for (size_t k = 0; q->job.tokens && k < q->count; k++)
        free(q->job.tokens[k]);
    free(q->job.tokens);
    free(q->job.rows);
}

static int alloc_inputs(call *c, embed_req *q, size_t count, size_t ids)
{
    q->count = count;
    q->inputs = calloc(count, sizeof *q->inputs);
    q->ids = ids ? malloc(ids * sizeof *q->ids) : NULL;
    if (!q->inputs || (ids && !q->ids)) {
        fail(c, 500, "Backend", "out of memory for %zu inputs", count);
        return -1;
    }
    return 0;
}

static int all_of(const cJSON *array, cJSON_bool (*is)(const cJSON *))
{
    for (const cJSON *e = array->child; e; e = e->next)
        if (!is(e))
            return 0;
    return 1;
}

/* A list of token ids into q->ids at *AT, as input K. */
static int take_ids(call *c, const cJSON *list, size_t k, embed_req *q, size_t *at)
{
    const srv_settings *set = c->api->set;
    int n = cJSON_GetArraySize(list);
    if (n == 0) {
        fail(c, 400, "Validation", "input %zu: an empty list of token ids", k);
        return -1;
    }
    if (n > set->max_length) {
        fail(c, 413, "Validation", "input %zu: %d token ids, more than the maximum length %d", k,
             n, set->max_length);
        return -1;
    }
    int32_t *ids = q->ids + *at;
    int i = 0;
    for (const cJSON *e = list->child; e; e = e->next, i++) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v != floor(v) || v < 0 || v >= set->config->vocab_size) {
            fail(c, 400, "Validation",
                 "input %zu: token %d is not an integer id from 0 to %d (the vocabulary)", k, i,
                 set->config->vocab_size - 1);
            return -1;
        }
        ids[i] = (int32_t)v;
    }
    q->inputs[k].ids = ids;
    q->inputs[k].n_ids = n;
    *at += (size_t)n;
    return 0;
}

static int take_text(const cJSON *v, size_t k, embed_req *q)
{
    q->inputs[k].text = v->valuestring;
    q->inputs[k].len = strlen(v->valuestring);
    return 0;
}

static size_t count_ids(const cJSON *input)
{
    size_t n = 0;
    for (const cJSON *e = input->child; e; e = e->next)
        n += cJSON_IsArray(e) ? (size_t)cJSON_GetArraySize(e) : 1;
    return n;
}

/* INPUT: a string or a list of strings; ALLOW_IDS: also a list of token
 * ids or a list of such lists (OpenAI's forms). */
static int parse_inputs(call *c, const cJSON *input, const char *key, int allow_ids,
                        embed_req *q)
{
    if (!input) {
        fail(c, 400, "Validation", "\"%s\" is missing", key);
        return -1;
    }
    if (cJSON_IsString(input))
        return alloc_inputs(c, q, 1, 0) ? -1 : take_text(input, 0, q);
    const char *forms = allow_ids ? "a string, a list of strings, a list of token ids or a list "
                                    "of lists of token ids"
                                  : "a string or a list of strings";
    if (!cJSON_IsArray(input)) {
        fail(c, 400, "Validation", "\"%s\" must be %s", key, forms);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(input);
    if (n == 0) {
        fail(c, 400, "Validation", "\"%s\" is an empty list", key);
        return -1;
    }
    int strings = all_of(input, cJSON_IsString);
    int ids = allow_ids && all_of(input, cJSON_IsNumber);
    int lists = allow_ids && all_of(input, cJSON_IsArray);
    if (!strings && !ids && !lists) {
        fail(c, 400, "Validation", "\"%s\" must be %s", key, forms);
        return -1;
    }
    /* One list of ids is one input. */
    if (!ids && n > (size_t)c->api->set->max_client_batch) {
        fail(c, 413, "Validation", "%zu inputs, more than the %d one request may hold", n,
             c->api->set->max_client_batch);
        return -1;
    }
    if (alloc_inputs(c, q, ids ? 1 : n, strings ? 0 : count_ids(input)))
        return -1;
    size_t at = 0, k = 0;
    if (ids)
        return take_ids(c, input, 0, q, &at);
    for (const cJSON *e = input->child; e; e = e->next, k++)
        if ((strings ? take_text(e, k, q) : take_ids(c, e, k, q, &at)) != 0)
            return -1;
    return 0;
}

/* TEI's "prompt_name" (string or null): the prompt of that name in the
 * model folder's config_sentence_transformers.json replaces the server's
 * for this request.  TEI answers an unknown name with 422 Validation
 * (core/src/tokenization.rs, prepare_pre_prompt), as here.  Sets
 * Q->prompt; 0, or -1 after replying. */
static int take_prompt(call *c, const cJSON *j, embed_req *q)
{
    const srv_settings *set = c->api->set;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "prompt_name");
    q->prompt = set->prompt;
    if (!name || cJSON_IsNull(name))
        return 0;
    if (!cJSON_IsString(name)) {
        fail(c, 400, "Validation", "\"prompt_name\" must be a string or null");
        return -1;
    }
    if (!set->sentence_transformers) {
        fail(c, 422, "Validation", "\"prompt_name\": no prompt \"%s\": the model is not run "
             "as a sentence-transformers folder, so it has none", name->valuestring);
        return -1;
    }
    q->named = malloc(set->prompt_max);
    if (!q->named) {
        fail(c, 500, "Backend", "out of memory for the prompt");
        return -1;
    }
    /* Read from the folder per request: the library looks a name up in the
     * file, and a request that names a prompt is worth one small read. */
    albert_error err;
    int rc = albert_sentence_prompt(set->model_dir, name->valuestring, q->named, set->prompt_max,
                                    &err);
    if (rc != ALBERT_OK) {
        /* ALBERT_E_ARG: no such name (the message lists the folder's). */
        fail(c, rc == ALBERT_E_ARG ? 422 : 500, rc == ALBERT_E_ARG ? "Validation" : "Backend",
             "\"prompt_name\": %s", err.msg);
        return -1;
    }
    long bad = invalid_utf8_at((const unsigned char *)q->named, strlen(q->named));
    if (bad >= 0) {
        fail(c, 500, "Backend", "\"prompt_name\": the model's prompt \"%s\" is not valid UTF-8 "
             "(byte %ld)", name->valuestring, bad);
        return -1;
    }
    q->prompt = q->named;
    return 0;
}

/* TEI's "truncation_direction" in J: "right" (or "Right", TEI's default)
 * cuts a long text's end, "left" (or "Left") its start; absent or null: the
 * server's --truncation-side.  Sets Q->truncation; 0, or -1 after replying. */
static int take_truncation(call *c, const cJSON *j, embed_req *q)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "truncation_direction");
    if (!v || cJSON_IsNull(v))
        return 0;
    const char *d = cJSON_IsString(v) ? v->valuestring : "";
    if (strcmp(d, "right") == 0 || strcmp(d, "Right") == 0)
        q->truncation = ALBERT_TRUNCATE_RIGHT;
    else if (strcmp(d, "left") == 0 || strcmp(d, "Left") == 0)
        q->truncation = ALBERT_TRUNCATE_LEFT;
    else {
        fail(c, 400, "Validation", "\"truncation_direction\" must be \"right\" or \"left\"");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ embedding */

static void l2_normalize(float *v, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)v[i] * v[i];
    if (sum <= 0)
        return;
    double inv = 1.0 / sqrt(sum);
    for (int i = 0; i < n; i++)
        v[i] = (float)(v[i] * inv);
}

/* Runs q's inputs (with their token vectors too when WITH_TOKENS) and
 * checks their outcome; 0, or -1 after replying. */
static int embed(call *c, embed_req *q, int with_tokens)
{
    const srv_settings *set = c->api->set;
    size_t h = (size_t)set->width;
    q->job.count = q->count;
    q->job.prompt = q->prompt;
    q->job.truncation = q->truncation;
    q->job.vectors = malloc(q->count * h * sizeof(float));
    q->job.n_ids = malloc(q->count * sizeof(int));
    q->job.n_full = malloc(q->count * sizeof(int));
    q->job.tokens = with_tokens ? calloc(q->count, sizeof *q->job.tokens) : NULL;
    q->job.rows = with_tokens ? calloc(q->count, sizeof *q->job.rows) : NULL;
    if (!q->job.vectors || !q->job.n_ids || !q->job.n_full ||
        (with_tokens && (!q->job.tokens || !q->job.rows))) {
        fail(c, 500, "Backend", "out of memory for %zu vectors", q->count);
        return -1;
    }
    albert_error err;
    if (srv_dispatch_run(c->api->dispatch, q->inputs, &q->job, &err) != ALBERT_OK) {
        fail(c, 503, "Unhealthy", "%s", err.msg);
        return -1;
    }
    char name[48];
    if (q->job.status != ALBERT_OK) {
        fail(c, q->job.status == ALBERT_E_INPUT ? 400 : 500,
             q->job.status == ALBERT_E_INPUT ? "Validation" : "Backend", "%s: %s",
             input_name(q, q->job.failed, name, sizeof name), q->job.message);
        return -1;
    }
    uint64_t tokens = 0;
    for (size_t k = 0; k < q->count; k++) {
        if (!q->truncate && q->job.n_full[k] > q->job.n_ids[k]) {
            fail(c, 413, "Validation",
                 "%s: %d tokens, more than the maximum length %d (\"truncate\": true, or "
                 "--auto-truncate, cuts it)",
                 input_name(q, k, name, sizeof name), q->job.n_full[k], set->max_length);
            return -1;
        }
        tokens += (uint64_t)q->job.n_ids[k];
    }
    int dims = q->dimensions ? q->dimensions : (int)h;
    /* Without a cut the server's --normalize may have done it already. */
    int norm = q->normalize && (q->dimensions || !set->normalize);
    for (size_t k = 0; k < q->count && norm; k++)
        l2_normalize(q->job.vectors + k * h, dims);
    srv_metrics_inputs(c->api->metrics, q->count, tokens);
    return 0;
}

static uint64_t tokens_of(const embed_req *q)
{
    uint64_t n = 0;
    for (size_t k = 0; k < q->count; k++)
        n += (uint64_t)q->job.n_ids[k];
    return n;
}

static void put_base64(cli_buf *b, const float *v, int n)
{
    size_t len = sodium_base64_ENCODED_LEN((size_t)n * sizeof(float),
                                           sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(len);
    if (!text) {
        b->nomem = 1;
        return;
    }
    sodium_bin2base64(text, len, (const unsigned char *)v, (size_t)n * sizeof(float),
                      sodium_base64_VARIANT_ORIGINAL);
    cli_buf_printf(b, "\"%s\"", text);
    free(text);
}

static void openai_reply(call *c, const embed_req *q, const char *model)
{
    size_t h = (size_t)c->api->set->width;
    int dims = q->dimensions ? q->dimensions : (int)h;
    cli_buf *b = &c->reply->body;
    cli_buf_printf(b, "{\"object\": \"list\", \"data\": [");
    for (size_t k = 0; k < q->count; k++) {
        cli_buf_printf(b, "%s{\"object\": \"embedding\", \"index\": %zu, \"embedding\": ",
                       k ? ", " : "", k);
        if (q->base64)
            put_base64(b, q->job.vectors + k * h, dims);
        else
            cli_buf_floats(b, q->job.vectors + k * h, dims);
        cli_buf_put(b, "}", 1);
    }
    cli_buf_printf(b, "], \"model\": ");
    put_json_string(b, model);
    uint64_t tokens = tokens_of(q);
    cli_buf_printf(b, ", \"usage\": {\"prompt_tokens\": %llu, \"total_tokens\": %llu}}",
                   (unsigned long long)tokens, (unsigned long long)tokens);
    c->reply->status = 200;
    c->reply->content_type = "application/json";
}

/* "dimensions" (OpenAI's, and TEI's for Matryoshka models): the first N
 * values of each vector. */
static int take_dimensions(call *c, const cJSON *j, embed_req *q)
{
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(j, "dimensions");
    int h = c->api->set->width;
    if (dims && !cJSON_IsNull(dims)) {
        double v = cJSON_IsNumber(dims) ? dims->valuedouble : 0;
        if (v != floor(v) || v < 1 || v > h) {
            fail(c, 400, "Validation", "\"dimensions\" must be an integer from 1 to %d", h);
            return -1;
        }
        q->dimensions = (int)v;
    }
    return 0;
}

/* "encoding_format" and "dimensions" (cut, then normalised, as OpenAI's). */
static int openai_options(call *c, const cJSON *j, embed_req *q)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "encoding_format");
    if (fmt && !cJSON_IsNull(fmt)) {
        if (!cJSON_IsString(fmt) ||
            (strcmp(fmt->valuestring, "float") != 0 && strcmp(fmt->valuestring, "base64") != 0)) {
            fail(c, 400, "Validation", "\"encoding_format\" must be \"float\" or \"base64\"");
            return -1;
        }
        q->base64 = strcmp(fmt->valuestring, "base64") == 0;
    }
    if (take_dimensions(c, j, q) != 0)
        return -1;
    q->normalize = q->dimensions > 0;
    return 0;
}

/* The body of an embedding request, Q set to the defaults; NULL after
 * replying 400. */
static cJSON *begin_embed(call *c, const char *body, size_t len, embed_req *q)
{
    memset(q, 0, sizeof *q);
    q->truncate = c->api->set->auto_truncate;
    q->truncation = c->api->set->truncation;
    q->prompt = c->api->set->prompt; /* TEI's /v1/embeddings too: no prompt_name there */
    return parse_body(c, body, len);
}

static void openai_embeddings(call *c, const char *body, size_t len)
{
    embed_req q;
    cJSON *j = begin_embed(c, body, len, &q);
    if (!j)
        return;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model))
        fail(c, 400, "Validation", "\"model\" must be a string");
    else if (openai_options(c, j, &q) == 0 &&
             parse_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "input"), "input", 1, &q) == 0 &&
             embed(c, &q, 0) == 0)
        openai_reply(c, &q, cJSON_IsString(model) ? model->valuestring : c->api->set->model_name);
    embed_req_free(&q);
    cJSON_Delete(j);
}

static void tei_embed(call *c, const char *body, size_t len)
{
    embed_req q;
    cJSON *j = begin_embed(c, body, len, &q);
    if (!j)
        return;
    q.normalize = 1; /* TEI's default */
    if (get_bool(c, j, "normalize", &q.normalize) == 0 &&
        get_bool(c, j, "truncate", &q.truncate) == 0 && take_truncation(c, j, &q) == 0 &&
        take_dimensions(c, j, &q) == 0 && take_prompt(c, j, &q) == 0 &&
        parse_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "inputs"), "inputs", 1, &q) == 0 &&
        embed(c, &q, 0) == 0) {
        size_t h = (size_t)c->api->set->width;
        cli_buf *b = &c->reply->body;
        cli_buf_put(b, "[", 1);
        for (size_t k = 0; k < q.count; k++) {
            cli_buf_put(b, ", ", k ? 2 : 0);
            cli_buf_floats(b, q.job.vectors + k * h, q.dimensions ? q.dimensions : (int)h);
        }
        cli_buf_put(b, "]", 1);
        c->reply->status = 200;
        c->reply->content_type = "application/json";
    }
    embed_req_free(&q);
    cJSON_Delete(j);
}

/* Token vectors one /embed_all answer may hold: about 10 bytes of JSON a
 * value, 250 MB for albert-base's 768 values at the cap. */
#define EMBED_ALL_MAX_TOKENS 32768

/* 0, or -1 after replying 413: Q's inputs hold more tokens together than
 * one /embed_all answer may carry. */
static int embed_all_size(call *c, const embed_req *q)
{
    uint64_t n = tokens_of(q);
    if (n <= EMBED_ALL_MAX_TOKENS)
        return 0;
    fail(c, 413, "Validation", "the inputs hold %llu tokens together, more token vectors than "
         "the %d one /embed_all answer may carry: split the request",
         (unsigned long long)n, EMBED_ALL_MAX_TOKENS);
    return -1;
}

/* TEI's /embed_all: every token's vector of each input ([CLS], a prompt's
 * tokens and [SEP] included) as the model (the layers --layer names) gives
 * it, neither pooled nor normalised: [[[floats], ...], ...]. */
static void tei_embed_all(call *c, const char *body, size_t len)
{
    embed_req q;
    cJSON *j = begin_embed(c, body, len, &q);
    if (!j)
        return;
    if (get_bool(c, j, "truncate", &q.truncate) == 0 && take_truncation(c, j, &q) == 0 &&
        take_prompt(c, j, &q) == 0 &&
        parse_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "inputs"), "inputs", 1, &q) == 0 &&
        embed(c, &q, 1) == 0 && embed_all_size(c, &q) == 0) {
        const int w = albert_scheduler_width(srv_dispatch_scheduler(c->api->dispatch));
        cli_buf *b = &c->reply->body;
        cli_buf_put(b, "[", 1);
        for (size_t k = 0; k < q.count; k++) {
            cli_buf_put(b, k ? ", [" : "[", k ? 3 : 1);
            for (int r = 0; r < q.job.rows[k]; r++) {
                cli_buf_put(b, ", ", r ? 2 : 0);
                cli_buf_floats(b, q.job.tokens[k] + (size_t)r * (size_t)w, w);
            }
            cli_buf_put(b, "]", 1);
        }
        cli_buf_put(b, "]", 1);
        c->reply->status = 200;
        c->reply->content_type = "application/json";
    }
    embed_req_free(&q);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------ similarity */

/* /similarity's "inputs": {"source_sentence": S, "sentences": [...]}, S
 * first in Q.  0, or -1 after replying. */
static int similarity_inputs(call *c, const cJSON *in, embed_req *q)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "source_sentence");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(in, "sentences");
    if (!cJSON_IsObject(in) || !cJSON_IsString(src) || !cJSON_IsArray(list) ||
        !all_of(list, cJSON_IsString)) {
        fail(c, 400, "Validation", "\"inputs\" must be {\"source_sentence\": a string, "
             "\"sentences\": a list of strings}");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n == 0) {
        fail(c, 400, "Empty", "\"inputs.sentences\" is an empty list");
        return -1;
    }
    if (n + 1 > (size_t)c->api->set->max_client_batch) {
        fail(c, 413, "Validation", "%zu sentences and the source sentence, more than the %d "
             "inputs one request may hold", n, c->api->set->max_client_batch);
        return -1;
    }
    if (alloc_inputs(c, q, n + 1, 0))
        return -1;
    q->similarity = 1;
    take_text(src, 0, q);
    size_t k = 1;
    for (const cJSON *e = list->child; e; e = e->next)
        take_text(e, k++, q);
    return 0;
}

/* The dot product of two vectors, in double. */
static double dot(const float *a, const float *b, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)a[i] * b[i];
    return sum;
}

static void similarity_reply(call *c, embed_req *q)
{
    const size_t h = (size_t)c->api->set->width;
    float *sims = malloc((q->count - 1) * sizeof *sims);
    if (!sims) {
        fail(c, 500, "Backend", "out of memory for %zu similarities", q->count - 1);
        return;
    }
    /* Unit vectors (a zero one stays zero: its similarity is 0). */
    for (size_t k = 0; k < q->count; k++)
        l2_normalize(q->job.vectors + k * h, (int)h);
    for (size_t k = 1; k < q->count; k++)
        sims[k - 1] = (float)dot(q->job.vectors, q->job.vectors + k * h, (int)h);
    cli_buf_floats(&c->reply->body, sims, (int)(q->count - 1));
    free(sims);
    c->reply->status = 200;
    c->reply->content_type = "application/json";
}

/* TEI's /similarity (the Inference API's sentence-similarity task): the
 * cosine similarity of the source sentence's vector to each sentence's, in
 * order; "parameters" (optional) holds "truncate", "truncation_direction"
 * and "prompt_name", as /embed takes them. */
static void tei_similarity(call *c, const char *body, size_t len)
{
    embed_req q;
    cJSON *j = begin_embed(c, body, len, &q);
    if (!j)
        return;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "parameters");
    if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params))
        fail(c, 400, "Validation", "\"parameters\" must be an object or null");
    else if (get_bool(c, params, "truncate", &q.truncate) == 0 &&
             take_truncation(c, params, &q) == 0 && take_prompt(c, params, &q) == 0 &&
             similarity_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "inputs"), &q) == 0 &&
             embed(c, &q, 0) == 0)
        similarity_reply(c, &q);
    embed_req_free(&q);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------ tokenize */

/* [{"id": .., "text": .., "special": .., "start": null, "stop": null}, ...];
 * the template's tokens (BEFORE and AFTER the text: TEI's special tokens)
 * only with SPECIALS. */
static void put_tokens(call *c, const int32_t *ids, int n, int before, int after, int specials)
{
    cli_buf *b = &c->reply->body;
    char piece[256];
    albert_error err;
    cli_buf_put(b, "[", 1);
    int first = 1;
    for (int i = 0; i < n; i++) {
        int special = i < before || i >= n - after;
        if (special && !specials)
            continue;
        if (albert_tokenizer_piece(c->api->set->tok, ids[i], piece, sizeof piece, &err) != ALBERT_OK)
            piece[0] = '\0';
        cli_buf_printf(b, "%s{\"id\": %d, \"text\": ", first ? "" : ", ", (int)ids[i]);
        put_json_string(b, piece);
        cli_buf_printf(b, ", \"special\": %s, \"start\": null, \"stop\": null}",
                       special ? "true" : "false");
        first = 0;
    }
    cli_buf_put(b, "]", 1);
}

/* Input K of Q as the scheduler encodes it: Q's prompt before it (in
 * *JOINED, for the caller to free), stripped as the folder's texts are.
 * 0, or -1 out of memory. */
static int text_to_encode(const call *c, const embed_req *q, size_t k, const char **text,
                          size_t *len, char **joined)
{
    *text = q->inputs[k].text;
    *len = q->inputs[k].len;
    *joined = NULL;
    if (q->prompt) {
        size_t p = strlen(q->prompt);
        if (!(*joined = malloc(p + *len + 1)))
            return -1;
        memcpy(*joined, q->prompt, p);
        memcpy(*joined + p, *text, *len);
        *text = *joined;
        *len += p;
    }
    if (c->api->set->strip_text)
        albert_text_strip(text, len);
    return 0;
}

/* The tokenizer's template: its tokens before and after a text (TEI's
 * special tokens), and whether /tokenize lists them. */
typedef struct specials {
    int before, after, listed;
} specials;

/* Appends input K's tokens (IDS and TYPES: MAX ints each, scratch); 0, or
 * -1 after replying. */
static int tokenize_one(call *c, const embed_req *q, size_t k, int32_t *ids, int32_t *types,
                        int max, const specials *sp)
{
    const char *text;
    size_t text_len;
    char *joined;
    if (text_to_encode(c, q, k, &text, &text_len, &joined) != 0) {
        fail(c, 500, "Backend", "out of memory for input %zu", k);
        return -1;
    }
    albert_error err;
    int n, n_full;
    int rc = albert_tokenize_side(c->api->set->tok, text, text_len, NULL, 0, max,
                                  c->api->set->truncation, ids, types, &n, &n_full, &err);
    free(joined);
    if (rc != ALBERT_OK) {
        fail(c, 400, "Tokenizer", "input %zu: %s", k, err.msg);
        return -1;
    }
    cli_buf_put(&c->reply->body, ", ", k ? 2 : 0);
    put_tokens(c, ids, n, sp->before, sp->after, sp->listed);
    return 0;
}

static void tei_tokenize(call *c, const char *body, size_t len)
{
    cJSON *j = parse_body(c, body, len);
    if (!j)
        return;
    embed_req q;
    memset(&q, 0, sizeof q);
    specials sp = {0, 0, 1};
    int max = c->api->set->max_length;
    int32_t *ids = malloc((size_t)max * sizeof *ids), *types = malloc((size_t)max * sizeof *types);
    albert_error e;
    if (!ids || !types)
        fail(c, 500, "Backend", "out of memory for %d ids", max);
    else if (albert_tokenizer_specials(c->api->set->tok, &sp.before, &sp.after, &e) != ALBERT_OK)
        fail(c, 500, "Backend", "%s", e.msg);
    else if (get_bool(c, j, "add_special_tokens", &sp.listed) == 0 &&
             take_prompt(c, j, &q) == 0 &&
             parse_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "inputs"), "inputs", 0, &q) == 0) {
        cli_buf_put(&c->reply->body, "[", 1);
        size_t k = 0;
        while (k < q.count && tokenize_one(c, &q, k, ids, types, max, &sp) == 0)
            k++;
        if (k == q.count) {
            cli_buf_put(&c->reply->body, "]", 1);
            c->reply->status = 200;
            c->reply->content_type = "application/json";
        }
    }
    free(ids);
    free(types);
    embed_req_free(&q);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------ the rest */

static void health(call *c, const char *body, size_t len)
{
    (void)body;
    (void)len;
    const char *failure = srv_dispatch_failure(c->api->dispatch);
    if (failure)
        fail(c, 503, "Unhealthy", "the device failed: %s", failure);
    else if (*c->api->stopping)
        fail(c, 503, "Unhealthy", "the server is stopping");
    else
        reply_json(c, cJSON_Parse("{\"status\": \"ok\"}"));
}

static void info(call *c, const char *body, size_t len)
{
    (void)body;
    (void)len;
    const srv_settings *s = c->api->set;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model_id", s->model_name);
    cJSON_AddStringToObject(j, "model_dir", s->model_dir);
    cJSON_AddStringToObject(j, "model_type", "embedding");
    cJSON_AddStringToObject(j, "version", ALBERT_CL_VERSION);
    cJSON_AddNumberToObject(j, "hidden_size", s->config->hidden_size);
    cJSON_AddNumberToObject(j, "max_input_length", s->max_length);
    char pooling[128] = "";
    for (int i = 0; i < (int)(sizeof pooling_names / sizeof *pooling_names); i++)
        if (s->pooling_modes ? s->pooling_modes >> i & 1 : i == s->pooling)
            snprintf(pooling + strlen(pooling), sizeof pooling - strlen(pooling), "%s%s",
                     pooling[0] ? "+" : "", pooling_names[i]);
    cJSON_AddStringToObject(j, "pooling", pooling);
    if (s->n_layers) {
        cJSON *layers = cJSON_AddArrayToObject(j, "layers");
        for (int i = 0; layers && i < s->n_layers; i++)
            cJSON_AddItemToArray(layers, cJSON_CreateNumber(s->layers[i]));
        cJSON_AddStringToObject(j, "layer_combine", s->layer_concat ? "concat" : "mean");
    } else {
        cJSON_AddNumberToObject(j, "layer", s->layer);
    }
    cJSON_AddNumberToObject(j, "dimensions", s->width);
    cJSON_AddBoolToObject(j, "normalize", s->normalize);
    cJSON_AddItemToObject(j, "prompt",
                          s->prompt ? cJSON_CreateString(s->prompt) : cJSON_CreateNull());
    cJSON_AddBoolToObject(j, "include_prompt", !s->exclude_prompt);
    cJSON_AddStringToObject(j, "precision", albert_precision_name(s->precision));
    cJSON_AddStringToObject(j, "tokenizer", s->tokenizer_kind == ALBERT_TOKENIZER_FAST ? "fast" : "slow");
    cJSON *devices = cJSON_AddArrayToObject(j, "devices");
    for (int i = 0; devices && i < s->ndevices; i++)
        cJSON_AddItemToArray(devices, cJSON_CreateString(s->devices[i]));
    cJSON_AddNumberToObject(j, "max_batch_tokens", s->max_batch_tokens);
    cJSON_AddNumberToObject(j, "max_client_batch_size", s->max_client_batch);
    cJSON_AddNumberToObject(j, "max_concurrent_requests", s->max_concurrent);
    cJSON_AddNumberToObject(j, "payload_limit", (double)s->payload_limit);
    cJSON_AddNumberToObject(j, "max_wait_ms", s->max_wait_ms);
    cJSON_AddBoolToObject(j, "auto_truncate", s->auto_truncate);
    cJSON_AddStringToObject(j, "truncation_side",
                            s->truncation == ALBERT_TRUNCATE_LEFT ? "left" : "right");
    reply_json(c, j);
}

static void models(call *c, const char *body, size_t len)
{
    (void)body;
    (void)len;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(j, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", c->api->set->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddStringToObject(m, "owned_by", "albert-cl");
    cJSON_AddItemToArray(data, m);
    reply_json(c, j);
}

static void metrics(call *c, const char *body, size_t len)
{
    (void)body;
    (void)len;
    srv_metrics_write(c->api->metrics, c->api->dispatch, &c->reply->body);
    c->reply->status = 200;
    c->reply->content_type = "text/plain; version=0.0.4";
}

static const struct route {
    const char *path, *method;
    handler_fn fn;
    int work;
} routes[] = {
    {"/v1/embeddings", "POST", openai_embeddings, 1},
    {"/embeddings", "POST", openai_embeddings, 1}, /* TEI's alias of it */
    {"/embed", "POST", tei_embed, 1},
    {"/embed_all", "POST", tei_embed_all, 1},
    {"/similarity", "POST", tei_similarity, 1},
    {"/tokenize", "POST", tei_tokenize, 1},
    {"/health", "GET", health, 0},
    {"/ping", "GET", health, 0}, /* TEI's (and SageMaker's) name for it */
    {"/info", "GET", info, 0},
    {"/metrics", "GET", metrics, 0},
    {"/v1/models", "GET", models, 0},
};

#define NROUTES (sizeof routes / sizeof routes[0])
/* The statuses an answer can have (200, 400, 401, 404, 405, 413, 422, 429,
 * 500, 503), for each route and "other": the metrics table holds them all. */
_Static_assert((NROUTES + 1) * 10 <= SRV_STATUS_ROWS, "SRV_STATUS_ROWS is too small");

static const struct route *route_of(const char *path)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (strcmp(path, routes[i].path) == 0)
            return &routes[i];
    return NULL;
}

const char *srv_api_endpoint(const char *path)
{
    const struct route *r = route_of(path);
    return r ? r->path : "other";
}

int srv_api_is_probe(const char *path)
{
    const struct route *r = route_of(path);
    return r && r->fn == health;
}

int srv_api_is_work(const char *path)
{
    const struct route *r = route_of(path);
    return r && r->work;
}

void srv_api_answer(srv_api *api, const char *method, const char *path, const char *body,
                    size_t len, srv_reply *reply)
{
    call c = {api, path, reply};
    const struct route *r = route_of(path);
    if (!r)
        fail(&c, 404, "NotFound", "no endpoint %s (see GET /info; POST /v1/embeddings, /embed, "
                                  "/embed_all, /similarity, /tokenize)", path);
    else if (strcmp(method, r->method) != 0)
        fail(&c, 405, "MethodNotAllowed", "%s takes %s, not %s", path, r->method, method);
    else
        r->fn(&c, body, len);
    if (reply->body.nomem)
        fail(&c, 500, "Backend", "out of memory for the reply");
}
