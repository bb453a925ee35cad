/* config.json → albert_config, with AlbertConfig's defaults for missing keys. */
#include "core/common.h"
#include "core/config.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    albert_activation act;
} activations[] = {
    {"gelu", ALBERT_ACT_GELU},
    {"gelu_python", ALBERT_ACT_GELU},
    {"gelu_new", ALBERT_ACT_GELU_TANH},
    {"gelu_pytorch_tanh", ALBERT_ACT_GELU_TANH},
    {"gelu_fast", ALBERT_ACT_GELU_TANH},
    {"relu", ALBERT_ACT_RELU},
    {"silu", ALBERT_ACT_SILU},
    {"swish", ALBERT_ACT_SILU},
    {"tanh", ALBERT_ACT_TANH},
    {"quick_gelu", ALBERT_ACT_QUICK_GELU},
};
#define N_ACTIVATIONS (sizeof activations / sizeof activations[0])

const char *albert_activation_name(albert_activation act)
{
    for (size_t i = 0; i < N_ACTIVATIONS; i++)
        if (activations[i].act == act)
            return activations[i].name;
    return "?";
}

void albert_config_init(albert_config *cfg)
{
    cfg->vocab_size = 30000;
    cfg->embedding_size = 128;
    cfg->hidden_size = 4096;
    cfg->num_hidden_layers = 12;
    cfg->num_hidden_groups = 1;
    cfg->inner_group_num = 1;
    cfg->num_attention_heads = 64;
    cfg->intermediate_size = 16384;
    cfg->hidden_act = ALBERT_ACT_GELU_TANH;
    cfg->max_position_embeddings = 512;
    cfg->type_vocab_size = 2;
    cfg->layer_norm_eps = 1e-12f;
    cfg->pad_token_id = 0;
}

/* An integer key of config.json and its legal range (config.h). */
typedef struct int_key {
    const char *key;
    int *dst;
    int min, max;
} int_key;

/* Reads K->key into *K->dst when present and in [K->min, K->max]. */
static int read_int(const cJSON *root, const char *path, const int_key *k, albert_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k->key);
    if (!v || cJSON_IsNull(v))
        return ALBERT_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"%s\" must be an integer in [%d, %d]", path,
                           k->key, k->min, k->max);
    if (v->valuedouble < k->min || v->valuedouble > k->max)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"%s\" is %.15g, outside [%d, %d]", path,
                           k->key, v->valuedouble, k->min, k->max);
    *k->dst = (int)v->valuedouble;
    return ALBERT_OK;
}

/* layer_norm_eps as a float: a positive normal float below
 * ALBERT_MAX_LAYER_NORM_EPS (anything else would round to 0 or lose its
 * precision once stored). */
static int read_eps(const cJSON *root, const char *path, float *dst, albert_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (!v || cJSON_IsNull(v))
        return ALBERT_OK;
    if (cJSON_IsNumber(v) && v->valuedouble >= FLT_MIN &&
        v->valuedouble < ALBERT_MAX_LAYER_NORM_EPS) {
        *dst = (float)v->valuedouble;
        return ALBERT_OK;
    }
    char got[48] = "not a number";
    if (cJSON_IsNumber(v))
        snprintf(got, sizeof got, "%.9g", v->valuedouble);
    return albert_fail(err, ALBERT_E_FORMAT,
                       "%s: \"layer_norm_eps\" is %s; it must be a positive normal float in "
                       "[%.9g, %g)",
                       path, got, (double)FLT_MIN, ALBERT_MAX_LAYER_NORM_EPS);
}

static int read_activation(const cJSON *root, const char *path, albert_activation *dst,
                           albert_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (!v)
        return ALBERT_OK;
    if (!cJSON_IsString(v))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: \"hidden_act\" must be a string", path);
    for (size_t i = 0; i < N_ACTIVATIONS; i++) {
        if (strcmp(activations[i].name, v->valuestring) == 0) {
            *dst = activations[i].act;
            return ALBERT_OK;
        }
    }
    return albert_fail(err, ALBERT_E_UNSUPPORTED,
                       "%s: hidden_act \"%s\" is not supported (gelu, gelu_new, gelu_fast, "
                       "gelu_pytorch_tanh, relu, silu, tanh, quick_gelu)",
                       path, v->valuestring);
}

/* Keys that must hold a given string when present. */
static int expect_string(const cJSON *root, const char *path, const char *key, const char *want,
                         albert_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return ALBERT_OK;
    if (cJSON_IsString(v) && strcmp(v->valuestring, want) == 0)
        return ALBERT_OK;
    return albert_fail(err, ALBERT_E_UNSUPPORTED, "%s: %s %s%s%s is not supported (only \"%s\")",
                       path, key, cJSON_IsString(v) ? "\"" : "",
                       cJSON_IsString(v) ? v->valuestring : "(not a string)",
                       cJSON_IsString(v) ? "\"" : "", want);
}

static int read_fields(const cJSON *root, const char *path, albert_config *c, albert_error *err)
{
    const int_key ints[] = {
        {"vocab_size", &c->vocab_size, 1, ALBERT_MAX_VOCAB},
        {"embedding_size", &c->embedding_size, 1, ALBERT_MAX_EMBEDDING},
        {"hidden_size", &c->hidden_size, 1, ALBERT_MAX_HIDDEN},
        {"num_hidden_layers", &c->num_hidden_layers, 1, ALBERT_MAX_LAYERS},
        {"num_hidden_groups", &c->num_hidden_groups, 1, ALBERT_MAX_LAYERS},
        {"inner_group_num", &c->inner_group_num, 1, ALBERT_MAX_LAYERS},
        {"num_attention_heads", &c->num_attention_heads, 1, ALBERT_MAX_HEADS},
        {"intermediate_size", &c->intermediate_size, 1, ALBERT_MAX_INTERMEDIATE},
        {"max_position_embeddings", &c->max_position_embeddings, 1, ALBERT_MAX_POSITIONS},
        {"type_vocab_size", &c->type_vocab_size, 1, ALBERT_MAX_TYPE_VOCAB},
        {"pad_token_id", &c->pad_token_id, 0, ALBERT_MAX_VOCAB - 1},
    };
    int rc = ALBERT_OK;
    for (size_t i = 0; rc == ALBERT_OK && i < sizeof ints / sizeof ints[0]; i++)
        rc = read_int(root, path, &ints[i], err);
    if (rc == ALBERT_OK)
        rc = read_eps(root, path, &c->layer_norm_eps, err);
    if (rc == ALBERT_OK)
        rc = read_activation(root, path, &c->hidden_act, err);
    if (rc == ALBERT_OK)
        rc = expect_string(root, path, "position_embedding_type", "absolute", err);
    if (rc == ALBERT_OK)
        rc = expect_string(root, path, "model_type", "albert", err);
    return rc;
}

/* A product of two keys that must stay within ALBERT_MAX_LAYER_PRODUCT. */
static int check_product(const char *path, const char *what, int a, int b, albert_error *err)
{
    long long p = (long long)a * b;
    if (p <= ALBERT_MAX_LAYER_PRODUCT)
        return ALBERT_OK;
    return albert_fail(err, ALBERT_E_FORMAT, "%s: %s is %d * %d = %lld, more than %d", path, what,
                       a, b, p, ALBERT_MAX_LAYER_PRODUCT);
}

static int check_consistent(const albert_config *c, const char *path, albert_error *err)
{
    if (c->hidden_size % c->num_attention_heads != 0)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: hidden_size %d is not a multiple of num_attention_heads %d", path,
                           c->hidden_size, c->num_attention_heads);
    if (c->num_hidden_groups > c->num_hidden_layers)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: num_hidden_groups %d exceeds num_hidden_layers %d", path,
                           c->num_hidden_groups, c->num_hidden_layers);
    if (c->pad_token_id >= c->vocab_size)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: pad_token_id %d outside vocab_size %d", path,
                           c->pad_token_id, c->vocab_size);
    int rc = check_product(path, "num_hidden_groups * inner_group_num (layers stored)",
                           c->num_hidden_groups, c->inner_group_num, err);
    if (rc == ALBERT_OK)
        rc = check_product(path, "num_hidden_layers * inner_group_num (layers run)",
                           c->num_hidden_layers, c->inner_group_num, err);
    return rc;
}

int albert_config_load(const char *dir, albert_config *cfg, albert_error *err)
{
    char path[4096], *text;
    albert_path_join(path, sizeof path, dir, "config.json");
    albert_config_init(cfg);
    int rc = albert_read_file(path, &text, NULL, err);
    if (rc != ALBERT_OK)
        return rc;
    albert_json_failure why;
    cJSON *root = albert_json_parse(text, strlen(text), 0, &why);
    free(text);
    if (!root && why.nomem)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory while parsing it", path);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return albert_fail(err, ALBERT_E_FORMAT, "%s: not a valid JSON object", path);
    }
    rc = read_fields(root, path, cfg, err);
    cJSON_Delete(root);
    if (rc == ALBERT_OK)
        rc = check_consistent(cfg, path, err);
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
