/* A sentence-transformers folder's modules.json, 1_Pooling/config.json (or
 * wherever modules.json puts the Pooling module) and
 * sentence_bert_config.json → albert_sentence_config, and Python's
 * str.strip() for the texts sentence-transformers strips. */
#include "core/backend.h"
#include "core/common.h"
#include "core/sentence_config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_PREFIX "sentence_transformers.models."

/* The pooling modes Pooling's config may turn on, by flag and by its
 * "pooling_mode" string (the flags' order is Pooling's). */
static const struct {
    const char *key, *name;
    albert_pooling pooling;
} pooling_modes[] = {
    {"pooling_mode_cls_token", "cls", ALBERT_POOL_CLS},
    {"pooling_mode_mean_tokens", "mean", ALBERT_POOL_MEAN},
    {"pooling_mode_max_tokens", "max", ALBERT_POOL_MAX},
    {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens", ALBERT_POOL_MEAN_SQRT_LEN},
    {"pooling_mode_weightedmean_tokens", "weightedmean", ALBERT_POOL_WEIGHTED_MEAN},
    {"pooling_mode_lasttoken", "lasttoken", ALBERT_POOL_LAST_TOKEN},
};
#define N_POOLING_MODES (sizeof pooling_modes / sizeof pooling_modes[0])

/* The JSON value in the file DIR/NAME into *ROOT; a missing file is *ROOT
 * NULL and ALBERT_OK when OPTIONAL. */
static int load_json(const char *dir, const char *name, int optional, cJSON **root,
                     albert_error *err)
{
    char path[4096];
    albert_path_join(path, sizeof path, dir, name);
    *root = NULL;
    if (optional && access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR))
        return albert_ok(err); /* no such file, or DIR is none: the loaders say so */
    return albert_json_load_value(path, root, err);
}

/* A boolean key of OBJ: absent is DEF, null false (Python's truth);
 * anything but true, false or null fails. */
static int read_bool(const cJSON *obj, const char *key, int def, const char *path, int *dst,
                     albert_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *dst = v ? 0 : def;
    if (!v || cJSON_IsNull(v))
        return ALBERT_OK;
    if (!cJSON_IsBool(v))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"%s\" is not true or false", path, key);
    *dst = cJSON_IsTrue(v);
    return ALBERT_OK;
}

/* Pooling's "pooling_mode" string, which overrides its flags when given. */
static int read_pooling_mode(const cJSON *mode, const char *path, albert_sentence_config *out,
                             albert_error *err)
{
    if (!cJSON_IsString(mode))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"pooling_mode\" is not a string", path);
    char lower[32] = "";
    for (size_t i = 0; mode->valuestring[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)mode->valuestring[i]);
    for (size_t i = 0; i < N_POOLING_MODES; i++)
        if (strlen(mode->valuestring) < sizeof lower && strcmp(lower, pooling_modes[i].name) == 0) {
            out->pooling = pooling_modes[i].pooling;
            out->pooling_modes = 1u << out->pooling;
            return ALBERT_OK;
        }
    return albert_fail(err, ALBERT_E_UNSUPPORTED,
                       "%s: \"pooling_mode\": \"%s\" is not one of sentence-transformers' (cls, "
                       "mean, max, mean_sqrt_len_tokens, weightedmean, lasttoken)",
                       path, mode->valuestring);
}

/* The Pooling module's config: one mode or several. */
static int read_pooling(const char *dir, const char *module_path, albert_sentence_config *out,
                        albert_error *err)
{
    char sub[4096], path[4096];
    albert_path_join(sub, sizeof sub, dir, module_path);
    albert_path_join(path, sizeof path, sub, "config.json");
    cJSON *root;
    int rc = load_json(sub, "config.json", 0, &root, err);
    if (rc == ALBERT_OK && !cJSON_IsObject(root))
        rc = albert_fail(err, ALBERT_E_FORMAT, "%s: not a JSON object", path);
    if (rc == ALBERT_OK)
        rc = read_bool(root, "include_prompt", 1, path, &out->include_prompt, err);
    const cJSON *mode = rc == ALBERT_OK ? cJSON_GetObjectItemCaseSensitive(root, "pooling_mode")
                                        : NULL;
    if (mode && !cJSON_IsNull(mode)) {
        rc = read_pooling_mode(mode, path, out, err);
        cJSON_Delete(root);
        return rc;
    }
    /* Pooling's own defaults: mean unless the config says otherwise. */
    for (size_t i = 0; rc == ALBERT_OK && i < N_POOLING_MODES; i++) {
        int set;
        rc = read_bool(root, pooling_modes[i].key, i == 1, path, &set, err);
        if (rc == ALBERT_OK && set)
            out->pooling_modes |= 1u << pooling_modes[i].pooling;
    }
    if (rc == ALBERT_OK && !out->pooling_modes)
        rc = albert_fail(err, ALBERT_E_UNSUPPORTED, "%s: no pooling mode is on", path);
    out->pooling = albert_pooling_first(out->pooling_modes);
    cJSON_Delete(root);
    return rc;
}

/* The Transformer module's config, the first of the names
 * sentence-transformers tries that is there: max_seq_length, and
 * do_lower_case false (true would lowercase with Python's str.lower before
 * the tokenizer, which albert-cl does not do). */
static int read_bert_config(const char *dir, albert_sentence_config *out, albert_error *err)
{
    static const char *const names[] = {
        "sentence_bert_config.json",      "sentence_roberta_config.json",
        "sentence_distilbert_config.json", "sentence_camembert_config.json",
        "sentence_albert_config.json",    "sentence_xlm-roberta_config.json",
        "sentence_xlnet_config.json"};
    char path[4096];
    cJSON *root = NULL;
    int rc = ALBERT_OK;
    for (size_t i = 0; rc == ALBERT_OK && !root && i < sizeof names / sizeof names[0]; i++) {
        albert_path_join(path, sizeof path, dir, names[i]);
        rc = load_json(dir, names[i], 1, &root, err);
    }
    if (rc != ALBERT_OK || !root)
        return rc;
    if (!cJSON_IsObject(root))
        rc = albert_fail(err, ALBERT_E_FORMAT, "%s: not a JSON object", path);
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(root, "max_seq_length");
    if (rc == ALBERT_OK && len && !cJSON_IsNull(len)) {
        double v = cJSON_IsNumber(len) ? len->valuedouble : -1;
        if (v < 2 || v > (1 << 20) || v != (int)v)
            rc = albert_fail(err, ALBERT_E_FORMAT,
                             "%s: \"max_seq_length\" is not an integer from 2 to %d", path, 1 << 20);
        else
            out->max_length = (int)v;
    }
    int lower = 0;
    if (rc == ALBERT_OK)
        rc = read_bool(root, "do_lower_case", 0, path, &lower, err);
    if (rc == ALBERT_OK && lower)
        rc = albert_fail(err, ALBERT_E_UNSUPPORTED, "%s: \"do_lower_case\": true is not supported",
                         path);
    cJSON_Delete(root);
    return rc;
}

/* Dense's activation_function, torch.nn's class by its full name
 * (sentence-transformers' fullname(): "torch.nn.modules.activation.Tanh") or
 * torch.nn's short one. */
static int read_activation(const cJSON *v, const char *path, st_activation *act,
                           albert_error *err)
{
    static const struct {
        const char *name;
        st_activation act;
    } acts[] = {{"Identity", ST_ACT_IDENTITY}, {"Tanh", ST_ACT_TANH}, {"ReLU", ST_ACT_RELU},
                {"Sigmoid", ST_ACT_SIGMOID},   {"GELU", ST_ACT_GELU}, {"SiLU", ST_ACT_SILU}};
    static const char *const prefixes[] = {"torch.nn.modules.activation.",
                                           "torch.nn.modules.linear.", "torch.nn."};
    *act = ST_ACT_TANH; /* Dense's default */
    if (!v || cJSON_IsNull(v))
        return ALBERT_OK;
    if (!cJSON_IsString(v))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"activation_function\" is not a string",
                           path);
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
        size_t n = strlen(prefixes[p]);
        if (strncmp(v->valuestring, prefixes[p], n) != 0)
            continue;
        for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
            if (strcmp(v->valuestring + n, acts[i].name) == 0) {
                *act = acts[i].act;
                return ALBERT_OK;
            }
    }
    return albert_fail(err, ALBERT_E_UNSUPPORTED,
                       "%s: \"activation_function\": \"%s\" is not one albert-cl runs (torch.nn's "
                       "Identity, Tanh, ReLU, Sigmoid, GELU, SiLU)",
                       path, v->valuestring);
}

/* A Dense config's in_features or out_features. */
static int read_features(const cJSON *root, const char *key, const char *path, int *dst,
                         albert_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (d < 1 || d > 65536 || d != (int)d)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"%s\" is not an integer from 1 to 65536",
                           path, key);
    *dst = (int)d;
    return ALBERT_OK;
}

/* A Dense module's config.json into *D; its in_features must be the
 * previous Dense module's out_features (PREV_OUT, 0 for the first). */
static int read_dense(const char *dir, const char *module_path, int prev_out, st_dense *d,
                      albert_error *err)
{
    char path[4096];
    albert_path_join(d->dir, sizeof d->dir, dir, module_path);
    albert_path_join(path, sizeof path, d->dir, "config.json");
    cJSON *root;
    int rc = load_json(d->dir, "config.json", 0, &root, err);
    if (rc == ALBERT_OK && !cJSON_IsObject(root))
        rc = albert_fail(err, ALBERT_E_FORMAT, "%s: not a JSON object", path);
    if (rc == ALBERT_OK)
        rc = read_features(root, "in_features", path, &d->in, err);
    if (rc == ALBERT_OK)
        rc = read_features(root, "out_features", path, &d->out, err);
    if (rc == ALBERT_OK)
        rc = read_bool(root, "bias", 1, path, &d->bias, err);
    if (rc == ALBERT_OK)
        rc = read_activation(cJSON_GetObjectItemCaseSensitive(root, "activation_function"), path,
                             &d->act, err);
    if (rc == ALBERT_OK && prev_out && d->in != prev_out)
        rc = albert_fail(err, ALBERT_E_FORMAT,
                         "%s: \"in_features\" is %d, but the Dense module before gives %d values",
                         path, d->in, prev_out);
    cJSON_Delete(root);
    return rc;
}

/* Module I of modules.json: its type's last name ("Pooling") into KIND and
 * its path into *PATH (borrowed from the JSON). */
static int read_module(const cJSON *m, int i, const char *path, char *kind, size_t kind_size,
                       const char **module_path, albert_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    const cJSON *where = cJSON_GetObjectItemCaseSensitive(m, "path");
    if (!cJSON_IsObject(m) || !cJSON_IsString(type) || !cJSON_IsString(where))
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: module %d is not an object with string \"type\" and \"path\"", path,
                           i);
    if (strncmp(type->valuestring, ST_PREFIX, strlen(ST_PREFIX)) != 0 ||
        strlen(type->valuestring) - strlen(ST_PREFIX) >= kind_size)
        return albert_fail(err, ALBERT_E_UNSUPPORTED,
                           "%s: module %d has type \"%s\", not one of sentence-transformers' own",
                           path, i, type->valuestring);
    snprintf(kind, kind_size, "%s", type->valuestring + strlen(ST_PREFIX));
    *module_path = where->valuestring;
    return ALBERT_OK;
}

/* Whether module I of kind KIND may come after module I - 1 of kind PREV:
 * Transformer, Pooling, any Dense modules, an optional Normalize. */
static int kind_in_order(int i, const char *prev, const char *kind)
{
    if (i == 0)
        return strcmp(kind, "Transformer") == 0;
    if (i == 1)
        return strcmp(kind, "Pooling") == 0;
    return strcmp(prev, "Normalize") != 0 &&
           (strcmp(kind, "Dense") == 0 || strcmp(kind, "Normalize") == 0);
}

/* Module I at MODULE_PATH, of kind KIND, into OUT (and a Dense one's
 * config into DENSE[OUT->dense_modules]). */
static int read_module_config(const char *dir, int i, const char *kind, const char *module_path,
                              const char *path, albert_sentence_config *out, st_dense *dense,
                              albert_error *err)
{
    if (i == 0 && module_path[0])
        return albert_fail(err, ALBERT_E_UNSUPPORTED,
                           "%s: the Transformer is in \"%s\"; give that folder as the model "
                           "(with modules.json at the model's own folder, path \"\")",
                           path, module_path);
    if (i > 0 && (strstr(module_path, "..") || module_path[0] == '/'))
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: module %d's path \"%s\" leaves the model folder", path, i,
                           module_path);
    if (i == 1)
        return read_pooling(dir, module_path, out, err);
    if (strcmp(kind, "Normalize") == 0) {
        out->normalize = 1;
    } else if (strcmp(kind, "Dense") == 0) {
        if (out->dense_modules == ST_MAX_DENSE)
            return albert_fail(err, ALBERT_E_UNSUPPORTED, "%s: more than %d Dense modules", path,
                               ST_MAX_DENSE);
        st_dense one, *d = dense ? &dense[out->dense_modules] : &one;
        int rc = read_dense(dir, module_path, out->dense_width, d, err);
        if (rc != ALBERT_OK)
            return rc;
        out->dense_modules++;
        out->dense_width = d->out;
    }
    return ALBERT_OK;
}

/* The modules in order: Transformer at DIR itself, Pooling, any Dense
 * modules, then Normalize or nothing. */
static int read_modules(const char *dir, const cJSON *modules, const char *path,
                        albert_sentence_config *out, st_dense *dense, albert_error *err)
{
    const int n = cJSON_GetArraySize(modules);
    if (n < 2)
        return albert_fail(err, ALBERT_E_UNSUPPORTED,
                           "%s: %d modules; albert-cl runs Transformer, Pooling, Dense ones and "
                           "an optional Normalize",
                           path, n);
    char prev[64] = "";
    for (int i = 0; i < n; i++) {
        char kind[64];
        const char *module_path = "";
        int rc = read_module(cJSON_GetArrayItem(modules, i), i, path, kind, sizeof kind,
                             &module_path, err);
        if (rc != ALBERT_OK)
            return rc;
        if (!kind_in_order(i, prev, kind))
            return albert_fail(err, ALBERT_E_UNSUPPORTED,
                               "%s: module %d is %s; albert-cl runs Transformer, Pooling, Dense "
                               "ones and an optional Normalize, in that order",
                               path, i, kind);
        rc = read_module_config(dir, i, kind, module_path, path, out, dense, err);
        if (rc != ALBERT_OK)
            return rc;
        snprintf(prev, sizeof prev, "%s", kind);
    }
    return ALBERT_OK;
}

/* ------------------------------------------------------------ prompts */

#define PROMPTS_FILE "config_sentence_transformers.json"

/* DIR's config_sentence_transformers.json into *ROOT (NULL without one) and
 * its "prompts" into *PROMPTS (NULL when absent or null): an object of
 * strings, and a default_prompt_name that is null or one of its keys, as
 * SentenceTransformer's constructor insists. */
static int load_prompts(const char *dir, cJSON **root, const cJSON **prompts, albert_error *err)
{
    char path[4096];
    albert_path_join(path, sizeof path, dir, PROMPTS_FILE);
    *prompts = NULL;
    int rc = load_json(dir, PROMPTS_FILE, 1, root, err);
    if (rc != ALBERT_OK || !*root)
        return rc;
    if (!cJSON_IsObject(*root))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: not a JSON object", path);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(*root, "prompts");
    if (p && !cJSON_IsNull(p) && !cJSON_IsObject(p))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"prompts\" is not an object", path);
    *prompts = cJSON_IsObject(p) ? p : NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, *prompts)
        if (!cJSON_IsString(item))
            return albert_fail(err, ALBERT_E_FORMAT, "%s: prompt \"%s\" is not a string", path,
                               item->string);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(*root, "default_prompt_name");
    if (!name || cJSON_IsNull(name))
        return ALBERT_OK;
    if (!cJSON_IsString(name))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"default_prompt_name\" is not a string",
                           path);
    if (!cJSON_GetObjectItemCaseSensitive(*prompts, name->valuestring))
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: \"default_prompt_name\": \"%s\" is not one of its prompts", path,
                           name->valuestring);
    return ALBERT_OK;
}

static int read_prompts(const char *dir, albert_sentence_config *out, albert_error *err)
{
    cJSON *root;
    const cJSON *prompts;
    int rc = load_prompts(dir, &root, &prompts, err);
    const cJSON *name = root ? cJSON_GetObjectItemCaseSensitive(root, "default_prompt_name") : NULL;
    out->prompts = prompts ? cJSON_GetArraySize(prompts) : 0;
    out->default_prompt = rc == ALBERT_OK && cJSON_IsString(name);
    cJSON_Delete(root);
    return rc;
}

/* "a, b, c" (cut short to SIZE) */
static void list_names(const cJSON *prompts, char *list, size_t size)
{
    list[0] = '\0';
    const cJSON *item;
    size_t used = 0;
    cJSON_ArrayForEach(item, prompts) {
        int n = snprintf(list + used, size - used, "%s%s", used ? ", " : "", item->string);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

int albert_sentence_prompt(const char *dir, const char *name, char *prompt, size_t size,
                           albert_error *err)
{
    if (prompt && size)
        prompt[0] = '\0';
    if (!dir || !prompt || !size)
        return albert_fail(err, ALBERT_E_ARG, "albert_sentence_prompt: NULL argument");
    char path[4096];
    albert_path_join(path, sizeof path, dir, PROMPTS_FILE);
    cJSON *root;
    const cJSON *prompts;
    int rc = load_prompts(dir, &root, &prompts, err);
    if (rc == ALBERT_OK && !name) {
        const cJSON *def = root ? cJSON_GetObjectItemCaseSensitive(root, "default_prompt_name")
                                : NULL;
        name = cJSON_IsString(def) ? def->valuestring : NULL;
        if (!name)
            rc = albert_fail(err, ALBERT_E_ARG, "%s: no \"default_prompt_name\"", path);
    }
    const cJSON *text = rc == ALBERT_OK ? cJSON_GetObjectItemCaseSensitive(prompts, name) : NULL;
    if (rc == ALBERT_OK && !text) {
        char names[512];
        list_names(prompts, names, sizeof names);
        rc = albert_fail(err, ALBERT_E_ARG, "%s: no prompt named \"%s\" (%s%s)", path, name,
                         names[0] ? "its prompts: " : "it has none", names);
    }
    if (rc == ALBERT_OK && strlen(text->valuestring) >= size)
        rc = albert_fail(err, ALBERT_E_ARG, "%s: prompt \"%s\" has %zu bytes, more than %zu",
                         path, name, strlen(text->valuestring), size - 1);
    if (rc == ALBERT_OK)
        memcpy(prompt, text->valuestring, strlen(text->valuestring) + 1);
    cJSON_Delete(root);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

int albert_sentence_config_read(const char *dir, albert_sentence_config *out, albert_error *err)
{
    return sentence_config_read(dir, out, NULL, err);
}

int sentence_config_read(const char *dir, albert_sentence_config *out, st_dense *dense,
                         albert_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!dir || !out)
        return albert_fail(err, ALBERT_E_ARG, "albert_sentence_config_read: NULL argument");
    char path[4096];
    albert_path_join(path, sizeof path, dir, "modules.json");
    cJSON *modules;
    int rc = load_json(dir, "modules.json", 1, &modules, err);
    if (rc != ALBERT_OK || !modules)
        return rc;
    if (!cJSON_IsArray(modules))
        rc = albert_fail(err, ALBERT_E_FORMAT, "%s: not a JSON array of modules", path);
    if (rc == ALBERT_OK)
        rc = read_modules(dir, modules, path, out, dense, err);
    cJSON_Delete(modules);
    if (rc == ALBERT_OK)
        rc = read_bert_config(dir, out, err);
    if (rc == ALBERT_OK)
        rc = read_prompts(dir, out, err);
    char tokenizer_json[4096];
    albert_path_join(tokenizer_json, sizeof tokenizer_json, dir, "tokenizer.json");
    out->fast_tokenizer = rc == ALBERT_OK && access(tokenizer_json, F_OK) == 0;
    out->present = rc == ALBERT_OK;
    if (rc != ALBERT_OK)
        memset(out, 0, sizeof *out);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}

/* ------------------------------------------------------------ str.strip */

/* The length of the UTF-8 character at S (N bytes left) when it is one of
 * the characters Python's str.isspace() is true of, else 0. */
static size_t space_at(const unsigned char *s, size_t n)
{
    if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n < 3)
        return 0;
    unsigned cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    if ((s[0] & 0xf0) != 0xe0 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
        return 0;
    int space = cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
                cp == 0x202f || cp == 0x205f || cp == 0x3000;
    return space ? 3 : 0;
}

/* Whether the N bytes ending at END are one whitespace character (N 1..3). */
static size_t space_before(const unsigned char *start, const unsigned char *end)
{
    for (size_t n = 1; n <= 3 && (size_t)(end - start) >= n; n++)
        if (space_at(end - n, n) == n)
            return n;
    return 0;
}

void albert_text_strip(const char **text, size_t *len)
{
    if (!text || !*text || !len)
        return;
    const unsigned char *s = (const unsigned char *)*text, *end = s + *len;
    for (size_t n; s < end && (n = space_at(s, (size_t)(end - s))) > 0;)
        s += n;
    for (size_t n; end > s && (n = space_before(s, end)) > 0;)
        end -= n;
    *text = (const char *)s;
    *len = (size_t)(end - s);
}
