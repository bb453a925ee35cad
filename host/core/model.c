/* HF model folder → albert_model: config.json plus model.safetensors (or
 * pytorch_model.bin), every tensor checked against the config and converted
 * once to float32. */
#include "core/common.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "core/torch_checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One tensor the model needs: its name (without the "albert." prefix), its
 * shape from the config, and where the float32 copy goes. */
typedef struct wanted {
    char name[320];
    int ndim;
    int64_t shape[2];
    const float **dst;
} wanted;

typedef struct wanted_list {
    wanted *items;
    int count, cap;
} wanted_list;

static int want(wanted_list *l, const char *name, int64_t d0, int64_t d1, const float **dst)
{
    if (l->count == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        wanted *grown = realloc(l->items, sizeof *grown * (size_t)cap);
        if (!grown)
            return 0;
        l->items = grown;
        l->cap = cap;
    }
    wanted *w = &l->items[l->count++];
    snprintf(w->name, sizeof w->name, "%s", name);
    w->ndim = d1 ? 2 : 1;
    w->shape[0] = d0;
    w->shape[1] = d1;
    w->dst = dst;
    return 1;
}

/* A Linear layer: NAME.weight [out, in] and NAME.bias [out]. */
static int want_linear(wanted_list *l, const char *name, int out, int in, const float **w,
                       const float **b)
{
    char n[320];
    snprintf(n, sizeof n, "%s.weight", name);
    int ok = want(l, n, out, in, w);
    snprintf(n, sizeof n, "%s.bias", name);
    return ok && want(l, n, out, 0, b);
}

static int want_layernorm(wanted_list *l, const char *name, int n, const float **g, const float **b)
{
    char w[320], bias[320];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(bias, sizeof bias, "%s.bias", name);
    return want(l, w, n, 0, g) && want(l, bias, n, 0, b);
}

static int want_layer(wanted_list *l, const albert_config *c, int g, int j, albert_layer_weights *lw)
{
    char p[128], n[256];
    int H = c->hidden_size, I = c->intermediate_size;
    snprintf(p, sizeof p, "encoder.albert_layer_groups.%d.albert_layers.%d", g, j);
#define NAME(s) (snprintf(n, sizeof n, "%s.%s", p, s), n)
    return want_linear(l, NAME("attention.query"), H, H, &lw->q_w, &lw->q_b) &&
           want_linear(l, NAME("attention.key"), H, H, &lw->k_w, &lw->k_b) &&
           want_linear(l, NAME("attention.value"), H, H, &lw->v_w, &lw->v_b) &&
           want_linear(l, NAME("attention.dense"), H, H, &lw->o_w, &lw->o_b) &&
           want_layernorm(l, NAME("attention.LayerNorm"), H, &lw->attn_ln_g, &lw->attn_ln_b) &&
           want_linear(l, NAME("ffn"), I, H, &lw->ffn_w, &lw->ffn_b) &&
           want_linear(l, NAME("ffn_output"), H, I, &lw->ffn_out_w, &lw->ffn_out_b) &&
           want_layernorm(l, NAME("full_layer_layer_norm"), H, &lw->ffn_ln_g, &lw->ffn_ln_b);
#undef NAME
}

static int list_wanted(wanted_list *l, const albert_config *c, albert_weights *w)
{
    int E = c->embedding_size, H = c->hidden_size;
    int ok = want(l, "embeddings.word_embeddings.weight", c->vocab_size, E, &w->word_emb) &&
             want(l, "embeddings.position_embeddings.weight", c->max_position_embeddings, E,
                  &w->pos_emb) &&
             want(l, "embeddings.token_type_embeddings.weight", c->type_vocab_size, E,
                  &w->type_emb) &&
             want_layernorm(l, "embeddings.LayerNorm", E, &w->emb_ln_g, &w->emb_ln_b) &&
             want_linear(l, "encoder.embedding_hidden_mapping_in", H, E, &w->map_in_w,
                         &w->map_in_b) &&
             want_linear(l, "pooler", H, H, &w->pool_w, &w->pool_b);
    for (int g = 0; ok && g < c->num_hidden_groups; g++)
        for (int j = 0; ok && j < c->inner_group_num; j++)
            ok = want_layer(l, c, g, j, &w->layers[g * c->inner_group_num + j]);
    return ok;
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static int check_shape(const st_file *f, const st_tensor *t, const wanted *w, albert_error *err)
{
    int same = t->ndim == w->ndim;
    for (int i = 0; same && i < w->ndim; i++)
        same = t->shape[i] == w->shape[i];
    if (same)
        return ALBERT_OK;
    char got[96], expect[96];
    format_shape(got, sizeof got, t->ndim, t->shape);
    format_shape(expect, sizeof expect, w->ndim, w->shape);
    return albert_fail(err, ALBERT_E_FORMAT,
                       "%s: tensor '%s' has shape %s but config.json implies %s", f->path, t->name,
                       got, expect);
}

/* The tensor behind W in F, once its dtype and shape agree with the config:
 * nothing is sized from the config before its tensor confirms it. */
static int find_tensor(const st_file *f, const char *prefix, const wanted *w,
                       const st_tensor **out, albert_error *err)
{
    char name[400];
    snprintf(name, sizeof name, "%s%s", prefix, w->name);
    const st_tensor *t = st_find(f, name);
    if (!t)
        return albert_fail(err, ALBERT_E_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: tensor '%s' has dtype %s (F32, F16 or BF16 expected)", f->path,
                           name, st_dtype_name(t->dtype));
    *out = t;
    return check_shape(f, t, w, err);
}

/* T as float32 in DST, every value finite. */
static int load_tensor(const st_file *f, const st_tensor *t, float *dst, albert_error *err)
{
    int rc = st_to_f32(f, t, dst, err);
    for (int64_t i = 0; rc == ALBERT_OK && i < t->numel; i++)
        if (!isfinite(dst[i]))
            rc = albert_fail(err, ALBERT_E_FORMAT,
                             "%s: tensor '%s' holds a non-finite value at element %lld", f->path,
                             t->name, (long long)i);
    return rc;
}

/* The decimal index at *S (digits only), moving *S past it; -1 when there
 * are no digits, INT_MAX when the number does not fit an int. */
static long parse_index(const char **s)
{
    const char *p = *s;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v > (INT_MAX - 9) / 10 ? INT_MAX : v * 10 + (*p - '0');
    v = p == *s ? -1 : v;
    *s = p;
    return v;
}

/* A layer group or inner layer the config does not have means the file and
 * config.json disagree: loading it silently would drop weights. */
static int check_no_extra_layers(const st_file *f, const char *prefix, const albert_config *c,
                                 albert_error *err)
{
    char pat[96];
    snprintf(pat, sizeof pat, "%sencoder.albert_layer_groups.", prefix);
    const char *inner = ".albert_layers.";
    size_t plen = strlen(pat), ilen = strlen(inner);
    for (int i = 0; i < f->count; i++) {
        const char *name = f->tensors[i].name, *p = name + plen;
        if (strncmp(name, pat, plen) != 0)
            continue;
        long g = parse_index(&p), j = -1;
        if (g >= 0 && strncmp(p, inner, ilen) == 0) {
            p += ilen;
            j = parse_index(&p);
        }
        if (j < 0 || *p != '.')
            continue;
        if (g >= c->num_hidden_groups || j >= c->inner_group_num)
            return albert_fail(err, ALBERT_E_FORMAT,
                               "%s: tensor '%s' is not used by config.json (num_hidden_groups %d, "
                               "inner_group_num %d)",
                               f->path, name, c->num_hidden_groups, c->inner_group_num);
    }
    return ALBERT_OK;
}

/* Finds every wanted tensor (FOUND[i] for L->items[i]) and sums their
 * element counts into *TOTAL, overflow-checked. */
static int find_all(const st_file *f, const char *prefix, const wanted_list *l,
                    const st_tensor **found, size_t *total, albert_error *err)
{
    *total = 0;
    for (int i = 0; i < l->count; i++) {
        int rc = find_tensor(f, prefix, &l->items[i], &found[i], err);
        if (rc != ALBERT_OK)
            return rc;
        size_t n = (size_t)found[i]->numel;
        if (n > SIZE_MAX / sizeof(float) - *total)
            return albert_fail(err, ALBERT_E_NOMEM, "%s: the weights do not fit in memory",
                               f->path);
        *total += n;
    }
    return ALBERT_OK;
}

/* Converts FOUND[i] into consecutive slices of one float32 block that
 * m->storage owns. */
static int load_all(albert_model *m, const st_file *f, const wanted_list *l,
                    const st_tensor **found, size_t total, albert_error *err)
{
    float *at = malloc((total ? total : 1) * sizeof *at);
    m->storage = at;
    if (!at)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for %zu weights", f->path,
                           total);
    int rc = ALBERT_OK;
    for (int i = 0; rc == ALBERT_OK && i < l->count; i++) {
        rc = load_tensor(f, found[i], at, err);
        *l->items[i].dst = at;
        at += found[i]->numel;
    }
    return rc;
}

static int load_weights(albert_model *m, const st_file *f, albert_error *err)
{
    const albert_config *c = &m->config;
    const char *prefix = st_find(f, "albert.embeddings.word_embeddings.weight") ? "albert." : "";
    /* config.h bounds this product to ALBERT_MAX_LAYER_PRODUCT. */
    size_t n_layers = (size_t)c->num_hidden_groups * (size_t)c->inner_group_num;
    m->weights.layers = calloc(n_layers, sizeof *m->weights.layers);
    wanted_list l = {0};
    const st_tensor **found = NULL;
    int rc = ALBERT_OK;
    if (!m->weights.layers || !list_wanted(&l, c, &m->weights) ||
        !(found = calloc((size_t)l.count, sizeof *found)))
        rc = albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", f->path);
    size_t total = 0;
    if (rc == ALBERT_OK)
        rc = check_no_extra_layers(f, prefix, c, err);
    if (rc == ALBERT_OK)
        rc = find_all(f, prefix, &l, found, &total, err);
    if (rc == ALBERT_OK)
        rc = load_all(m, f, &l, found, total, err);
    free(found);
    free(l.items);
    return rc;
}

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat sb;
    albert_path_join(path, sizeof path, dir, name);
    return stat(path, &sb) == 0;
}

/* The weights file of DIR into PATH, as from_pretrained picks it:
 * model.safetensors, else pytorch_model.bin; users with other formats get
 * pointed at the one-line conversion. */
static int find_weights(const char *dir, char *path, size_t size, albert_error *err)
{
    static const char *const loadable[] = {"model.safetensors", "pytorch_model.bin"};
    for (size_t i = 0; i < sizeof loadable / sizeof loadable[0]; i++) {
        if (file_exists(dir, loadable[i])) {
            albert_path_join(path, size, dir, loadable[i]);
            return ALBERT_OK;
        }
    }
    const char *other = file_exists(dir, "model.safetensors.index.json")     ? "a sharded checkpoint"
                        : file_exists(dir, "pytorch_model.bin.index.json") ? "a sharded checkpoint"
                        : file_exists(dir, "tf_model.h5")                  ? "tf_model.h5"
                                                                           : NULL;
    if (!other)
        return albert_fail(err, ALBERT_E_IO,
                           "%s: neither model.safetensors nor pytorch_model.bin found (is '%s' a "
                           "HF model folder?)",
                           dir, dir);
    return albert_fail(err, ALBERT_E_UNSUPPORTED,
                       "%s: has %s but no model.safetensors or pytorch_model.bin; convert it with: "
                       "python3 -c \"from transformers import AlbertModel; "
                       "AlbertModel.from_pretrained('%s').save_pretrained('%s', "
                       "safe_serialization=True)\"",
                       dir, other, dir, dir);
}

static int open_weights(const char *path, st_file **f, albert_error *err)
{
    size_t n = strlen(path), suffix = strlen(".safetensors");
    if (n >= suffix && strcmp(path + n - suffix, ".safetensors") == 0)
        return st_open(path, f, err);
    return torch_checkpoint_open(path, f, err);
}

int albert_weights_file_open(const char *dir, st_file **f, albert_error *err)
{
    char path[4096];
    *f = NULL;
    int rc = find_weights(dir, path, sizeof path, err);
    return rc == ALBERT_OK ? open_weights(path, f, err) : rc;
}

int albert_weights_find(const st_file *f, const char *name, int64_t d0, int64_t d1,
                        const st_tensor **t, albert_error *err)
{
    wanted w = {.ndim = d1 ? 2 : 1, .shape = {d0, d1}};
    snprintf(w.name, sizeof w.name, "%s", name);
    return find_tensor(f, "", &w, t, err);
}

int albert_weights_load(const st_file *f, const st_tensor *t, float *dst, albert_error *err)
{
    return load_tensor(f, t, dst, err);
}

int albert_model_open(const char *dir, albert_model **out, albert_error *err)
{
    *out = NULL;
    albert_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", dir);
    }
    int rc = albert_config_load(dir, &m->config, err);
    st_file *f = NULL;
    if (rc == ALBERT_OK)
        rc = albert_weights_file_open(dir, &f, err);
    if (rc == ALBERT_OK) {
        rc = load_weights(m, f, err);
        st_close(f);
    }
    if (rc != ALBERT_OK) {
        albert_model_close(m);
        return rc;
    }
    *out = m;
    return albert_ok(err);
}

void albert_model_close(albert_model *m)
{
    if (!m)
        return;
    free(m->weights.layers);
    free(m->storage);
    free(m->dir);
    free(m);
}

const albert_config *albert_model_config(const albert_model *m) { return &m->config; }

int albert_layer_group(const albert_config *c, int layer)
{
    /* HF: int(layer / (num_hidden_layers / num_hidden_groups)), in floating point. */
    return (int)(layer / ((double)c->num_hidden_layers / c->num_hidden_groups));
}

const albert_layer_weights *albert_model_layer(const albert_model *m, int layer, int inner)
{
    const albert_config *c = &m->config;
    return &m->weights.layers[albert_layer_group(c, layer) * c->inner_group_num + inner];
}
