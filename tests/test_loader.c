/* Model loading: every shared model, and one broken folder per failure kind,
 * each of which must fail with a message naming the file (and tensor). */
#include "core/common.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "test_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[256];

static void model_dir(char *dst, size_t size, const char *model)
{
    char rel[128];
    snprintf(rel, sizeof rel, "models/%s", model);
    test_shared_path(dst, size, rel);
}

static void test_good_models(void)
{
    const struct {
        const char *model;
        int H, L, G, inner;
        albert_activation act;
    } cases[] = {
        {"albert-base-v2-random", 768, 12, 1, 1, ALBERT_ACT_GELU_TANH},
        {"tiny-gelu", 32, 3, 1, 1, ALBERT_ACT_GELU},
        {"tiny-groups", 48, 4, 2, 2, ALBERT_ACT_RELU},
        {"tiny-f16", 32, 3, 1, 1, ALBERT_ACT_GELU_TANH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[1024];
        model_dir(dir, sizeof dir, cases[i].model);
        albert_model *m = NULL;
        albert_error err;
        int rc = albert_model_open(dir, &m, &err);
        CHECK(rc == ALBERT_OK, "%s: %s", cases[i].model, err.msg);
        if (rc != ALBERT_OK)
            continue;
        const albert_config *c = albert_model_config(m);
        CHECK(c->hidden_size == cases[i].H && c->num_hidden_layers == cases[i].L &&
                  c->num_hidden_groups == cases[i].G && c->inner_group_num == cases[i].inner &&
                  c->hidden_act == cases[i].act,
              "%s: config H=%d L=%d G=%d inner=%d act=%d", cases[i].model, c->hidden_size,
              c->num_hidden_layers, c->num_hidden_groups, c->inner_group_num, c->hidden_act);
        CHECK(m->weights.word_emb && m->weights.pool_b && albert_model_layer(m, 0, 0)->ffn_ln_b,
              "%s: weights not all set", cases[i].model);
        albert_model_close(m);
    }
}

/* HF's group for each layer: int(i / (L / G)). */
static void test_layer_groups(void)
{
    char dir[1024];
    model_dir(dir, sizeof dir, "tiny-groups");
    albert_model *m;
    albert_error err;
    if (albert_model_open(dir, &m, &err) != ALBERT_OK) {
        CHECK(0, "tiny-groups: %s", err.msg);
        return;
    }
    CHECK(albert_model_layer(m, 1, 1) == &m->weights.layers[1], "layer 1 inner 1 -> group 0");
    CHECK(albert_model_layer(m, 2, 0) == &m->weights.layers[2], "layer 2 inner 0 -> group 1");
    CHECK(albert_model_layer(m, 3, 1) == &m->weights.layers[3], "layer 3 inner 1 -> group 1");
    albert_model_close(m);
}

/* F16 weights are converted exactly once, bit for bit. */
static void test_f16_values(void)
{
    char dir[1024], path[1100];
    model_dir(dir, sizeof dir, "tiny-f16");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    albert_model *m;
    st_file *f;
    albert_error err;
    if (albert_model_open(dir, &m, &err) != ALBERT_OK || st_open(path, &f, &err) != ALBERT_OK) {
        CHECK(0, "tiny-f16: %s", err.msg);
        return;
    }
    const st_tensor *t = st_find(f, "albert.pooler.weight");
    uint16_t raw;
    memcpy(&raw, t->data + 2 * 5, 2);
    CHECK(m->weights.pool_w[5] == st_f16_to_f32(raw), "pooler.weight[5] %g vs %g",
          m->weights.pool_w[5], st_f16_to_f32(raw));
    st_close(f);
    albert_model_close(m);
}

/* ---- broken folders ---------------------------------------------------- */

typedef struct mutation {
    const char *tensor;    /* which tensor to change; NULL = none */
    const char *dtype;     /* new dtype name (same byte size) or NULL */
    int64_t shape[2];      /* new 2-d shape (same element count) or {0} */
    int drop;              /* leave the tensor out */
    int poison;            /* write a NaN into it */
    const char *rename;    /* new name */
} mutation;

static cJSON *header_entry(const st_tensor *t, const mutation *mu, size_t begin)
{
    int hit = mu->tensor && strcmp(mu->tensor, t->name) == 0;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", hit && mu->dtype ? mu->dtype : st_dtype_name(t->dtype));
    cJSON *shape = cJSON_AddArrayToObject(e, "shape");
    int ndim = hit && mu->shape[0] ? 2 : t->ndim;
    for (int i = 0; i < ndim; i++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)(hit && mu->shape[0]
                                                                    ? mu->shape[i]
                                                                    : t->shape[i])));
    cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(begin + t->nbytes)));
    return e;
}

/* Writes DIR/model.safetensors: tiny-gelu's tensors with MU applied. */
static void write_mutated(const char *dir, const mutation *mu)
{
    char src[1024], path[1100];
    model_dir(src, sizeof src, "tiny-gelu");
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    st_file *f;
    albert_error err;
    if (st_open(path, &f, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: %s\n", err.msg);
        exit(1);
    }
    cJSON *hdr = cJSON_CreateObject();
    size_t off = 0;
    for (int i = 0; i < f->count; i++) {
        const st_tensor *t = &f->tensors[i];
        int hit = mu->tensor && strcmp(mu->tensor, t->name) == 0;
        if (hit && mu->drop)
            continue;
        const char *name = hit && mu->rename ? mu->rename : t->name;
        cJSON_AddItemToObject(hdr, name, header_entry(t, mu, off));
        off += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(hdr);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *out = fopen(path, "wb");
    uint64_t n = strlen(json);
    fwrite(&n, 8, 1, out);
    fwrite(json, 1, n, out);
    for (int i = 0; i < f->count; i++) {
        const st_tensor *t = &f->tensors[i];
        int hit = mu->tensor && strcmp(mu->tensor, t->name) == 0;
        if (hit && mu->drop)
            continue;
        if (hit && mu->poison) {
            float nan = NAN;
            fwrite(&nan, 4, 1, out);
            fwrite(t->data + 4, 1, t->nbytes - 4, out);
        } else {
            fwrite(t->data, 1, t->nbytes, out);
        }
    }
    fclose(out);
    free(json);
    cJSON_Delete(hdr);
    st_close(f);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

/* A fresh folder holding tiny-gelu's config.json (with EXTRA JSON keys
 * merged in when not NULL) and no model file yet. */
static void make_folder(char *dir, size_t size, const char *label, const char *extra)
{
    snprintf(dir, size, "%s/%s", tmp_root, label);
    mkdir(dir, 0755);
    char src[1024], path[1100], *text;
    model_dir(src, sizeof src, "tiny-gelu");
    snprintf(path, sizeof path, "%s/config.json", src);
    albert_error err;
    albert_read_file(path, &text, NULL, &err);
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    cJSON *add = extra ? cJSON_Parse(extra) : NULL, *item;
    cJSON_ArrayForEach(item, add) {
        cJSON_DeleteItemFromObject(cfg, item->string);
        cJSON_AddItemToObject(cfg, item->string, cJSON_Duplicate(item, 1));
    }
    char *json = cJSON_Print(cfg);
    write_text(dir, "config.json", json);
    free(json);
    cJSON_Delete(cfg);
    cJSON_Delete(add);
}

/* Opening DIR must give CODE and, on failure, a message holding every
 * string of NEEDLES (NULL-terminated). */
static void expect_fail_all(const char *dir, int code, const char *const *needles)
{
    albert_model *m = NULL;
    albert_error err;
    int rc = albert_model_open(dir, &m, &err);
    CHECK(rc == code, "%s: rc %s, want %s (%s)", dir, albert_status_name(rc),
          albert_status_name(code), rc ? err.msg : "loaded");
    CHECK((m == NULL) == (code != ALBERT_OK), "%s: model handle does not match the status", dir);
    for (int i = 0; rc != ALBERT_OK && needles[i]; i++)
        CHECK(strstr(err.msg, needles[i]), "%s: message '%s' lacks '%s'", dir, err.msg, needles[i]);
    albert_model_close(m);
}

static void expect_fail(const char *dir, int code, const char *needle1, const char *needle2)
{
    expect_fail_all(dir, code, (const char *const[]){needle1, needle2, NULL});
}

static void expect_mutation_fails(const char *label, const mutation *mu, const char *needle)
{
    char dir[512];
    make_folder(dir, sizeof dir, label, NULL);
    write_mutated(dir, mu);
    expect_fail(dir, ALBERT_E_FORMAT, "model.safetensors", needle);
}

static void test_bad_tensors(void)
{
    const char *pw = "albert.pooler.weight";
    mutation ok = {0};
    char dir[512];
    make_folder(dir, sizeof dir, "rewritten", NULL);
    write_mutated(dir, &ok);
    expect_fail(dir, ALBERT_OK, "", NULL); /* the rewriter itself is sound */

    expect_mutation_fails("wrong-dtype", &(mutation){.tensor = pw, .dtype = "I32"}, pw);
    expect_mutation_fails("wrong-shape", &(mutation){.tensor = pw, .shape = {16, 64}}, "[16, 64]");
    expect_mutation_fails("missing", &(mutation){.tensor = pw, .drop = 1}, pw);
    expect_mutation_fails("nan", &(mutation){.tensor = pw, .poison = 1}, "non-finite");
    expect_mutation_fails(
        "extra-group",
        &(mutation){.tensor = pw,
                    .rename = "albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.weight",
                    .shape = {32, 32}},
        "albert_layer_groups.1");
    /* An index past int must not wrap into a group the config has. */
    expect_mutation_fails(
        "huge-group-index",
        &(mutation){.tensor = pw,
                    .rename = "albert.encoder.albert_layer_groups.4294967296.albert_layers.0."
                              "ffn.weight",
                    .shape = {32, 32}},
        "albert_layer_groups.4294967296");
}

static void copy_prefix(const char *dir, long keep)
{
    char src[1024], path[1100], *data;
    size_t size;
    model_dir(src, sizeof src, "tiny-gelu");
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    albert_error err;
    albert_read_file(path, &data, &size, &err);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, keep < 0 ? size + (size_t)keep : (size_t)keep, f);
    fclose(f);
    free(data);
}

static void test_bad_files(void)
{
    char dir[512];
    make_folder(dir, sizeof dir, "truncated", NULL);
    copy_prefix(dir, -1000);
    expect_fail(dir, ALBERT_E_FORMAT, "model.safetensors", "truncated");

    make_folder(dir, sizeof dir, "garbage", NULL);
    write_text(dir, "model.safetensors", "this is not a safetensors file at all, just text\n");
    expect_fail(dir, ALBERT_E_FORMAT, "model.safetensors", NULL);

    make_folder(dir, sizeof dir, "empty", NULL);
    write_text(dir, "model.safetensors", "");
    expect_fail(dir, ALBERT_E_FORMAT, "model.safetensors", NULL);

    make_folder(dir, sizeof dir, "no-weights", NULL);
    expect_fail(dir, ALBERT_E_IO, "neither model.safetensors nor pytorch_model.bin", "found");

    /* A pytorch_model.bin is read (test_torch_checkpoint); a cut one fails. */
    make_folder(dir, sizeof dir, "pytorch-cut", NULL);
    write_text(dir, "pytorch_model.bin", "PK");
    expect_fail(dir, ALBERT_E_FORMAT, "pytorch_model.bin", "truncated");

    make_folder(dir, sizeof dir, "tf-only", NULL);
    write_text(dir, "tf_model.h5", "HDF");
    expect_fail(dir, ALBERT_E_UNSUPPORTED, "tf_model.h5", "safe_serialization");

    expect_fail("/nonexistent/albert-model", ALBERT_E_IO, "/nonexistent/albert-model/config.json",
                NULL);
}

static void test_bad_configs(void)
{
    const struct {
        const char *label, *json;
        int code;
        const char *needle, *needle2;
    } cases[] = {
        {"heads", "{\"num_attention_heads\": 5}", ALBERT_E_FORMAT, "num_attention_heads", NULL},
        {"act", "{\"hidden_act\": \"gelu_10\"}", ALBERT_E_UNSUPPORTED, "gelu_10", NULL},
        {"relpos", "{\"position_embedding_type\": \"relative_key\"}", ALBERT_E_UNSUPPORTED,
         "relative_key", NULL},
        {"negative", "{\"hidden_size\": -32}", ALBERT_E_FORMAT, "hidden_size", NULL},
        {"type", "{\"vocab_size\": \"many\"}", ALBERT_E_FORMAT, "vocab_size", NULL},
        {"eps", "{\"layer_norm_eps\": 0}", ALBERT_E_FORMAT, "layer_norm_eps", NULL},
        {"groups", "{\"num_hidden_groups\": 9}", ALBERT_E_FORMAT, "num_hidden_groups", NULL},
        {"shape", "{\"embedding_size\": 8}", ALBERT_E_FORMAT, "[30000, 8]", NULL},
        /* Issue 14's fuzz finds: sizes whose products wrapped, then crashed or
         * were blamed on model.safetensors. */
        {"fuzz-hidden",
         "{\"hidden_size\": 781019750, \"intermediate_size\": 999799779, "
         "\"num_attention_heads\": 1}",
         ALBERT_E_FORMAT, "\"hidden_size\" is 781019750", "[1, 65536]"},
        {"fuzz-groups",
         "{\"num_hidden_layers\": 65536, \"num_hidden_groups\": 65536, "
         "\"inner_group_num\": 65536}",
         ALBERT_E_FORMAT, "\"num_hidden_layers\" is 65536", "[1, 1024]"},
        {"fuzz-hidden-1e9", "{\"hidden_size\": 1000000000, \"num_attention_heads\": 1}",
         ALBERT_E_FORMAT, "\"hidden_size\" is 1000000000", "65536"},
        /* In bounds but not what the file holds: the first tensor that
         * disagrees is named, before anything is sized from the config. */
        {"hidden-mismatch",
         "{\"hidden_size\": 65536, \"intermediate_size\": 262144, \"num_attention_heads\": 1}",
         ALBERT_E_FORMAT, "embedding_hidden_mapping_in.weight' has shape [32, 16]", "[65536, 16]"},
        {"stored-layers",
         "{\"num_hidden_layers\": 1000, \"num_hidden_groups\": 1000, \"inner_group_num\": 1000}",
         ALBERT_E_FORMAT, "num_hidden_groups * inner_group_num", "more than 1024"},
        {"passes", "{\"num_hidden_layers\": 512, \"inner_group_num\": 4}", ALBERT_E_FORMAT,
         "num_hidden_layers * inner_group_num", "2048"},
        {"vocab-huge", "{\"vocab_size\": 16777217}", ALBERT_E_FORMAT, "vocab_size", "16777216"},
        {"positions-huge", "{\"max_position_embeddings\": 65537}", ALBERT_E_FORMAT,
         "max_position_embeddings", "65536"},
        {"zero", "{\"intermediate_size\": 0}", ALBERT_E_FORMAT, "intermediate_size", "[1, "},
        {"fraction", "{\"type_vocab_size\": 2.5}", ALBERT_E_FORMAT, "type_vocab_size",
         "integer"},
        {"eps-underflow", "{\"layer_norm_eps\": 1e-85}", ALBERT_E_FORMAT, "layer_norm_eps",
         "positive normal float"},
        {"eps-subnormal", "{\"layer_norm_eps\": 1e-39}", ALBERT_E_FORMAT, "layer_norm_eps",
         "1.17549435e-38"},
        {"eps-overflow", "{\"layer_norm_eps\": 1e39}", ALBERT_E_FORMAT, "layer_norm_eps",
         "1e+39"},
        {"eps-string", "{\"layer_norm_eps\": \"tiny\"}", ALBERT_E_FORMAT, "layer_norm_eps",
         "not a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[512];
        make_folder(dir, sizeof dir, cases[i].label, cases[i].json);
        write_mutated(dir, &(mutation){0});
        expect_fail_all(dir, cases[i].code,
                        (const char *const[]){"config.json", cases[i].needle, cases[i].needle2,
                                              NULL});
    }
    char dir[512];
    make_folder(dir, sizeof dir, "badjson", NULL);
    write_text(dir, "config.json", "{\"hidden_size\": 32,,}");
    expect_fail(dir, ALBERT_E_FORMAT, "config.json", "JSON");
    /* cJSON reads an out-of-range number as infinity. */
    write_text(dir, "config.json", "{\"intermediate_size\": 1e999}");
    expect_fail(dir, ALBERT_E_FORMAT, "\"intermediate_size\" is inf", "config.json");
}

/* The bounds leave room for any real ALBERT: albert-xxlarge's sizes, and
 * the smallest normal float as layer_norm_eps. */
static void test_config_bounds_accept(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/xxlarge", tmp_root);
    mkdir(dir, 0755);
    write_text(dir, "config.json",
               "{\"hidden_size\": 4096, \"intermediate_size\": 16384, "
               "\"num_attention_heads\": 64, \"vocab_size\": 30000, "
               "\"max_position_embeddings\": 512, \"num_hidden_layers\": 12, "
               "\"layer_norm_eps\": 1.2e-38}");
    albert_config c;
    albert_error err;
    int rc = albert_config_load(dir, &c, &err);
    CHECK(rc == ALBERT_OK, "xxlarge sizes: %s", err.msg);
    CHECK(rc != ALBERT_OK || (c.hidden_size == 4096 && c.layer_norm_eps > 0 &&
                              c.layer_norm_eps == 1.2e-38f),
          "xxlarge sizes: hidden %d eps %g", c.hidden_size, (double)c.layer_norm_eps);
}

/* Missing keys take AlbertConfig's defaults. */
static void test_config_defaults(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/defaults", tmp_root);
    mkdir(dir, 0755);
    write_text(dir, "config.json", "{\"hidden_size\": 64, \"num_attention_heads\": 4}");
    albert_config c;
    albert_error err;
    int rc = albert_config_load(dir, &c, &err);
    CHECK(rc == ALBERT_OK, "%s", err.msg);
    CHECK(c.hidden_size == 64 && c.vocab_size == 30000 && c.embedding_size == 128 &&
              c.intermediate_size == 16384 && c.hidden_act == ALBERT_ACT_GELU_TANH &&
              c.layer_norm_eps == 1e-12f && c.max_position_embeddings == 512,
          "defaults not applied");
}

/* ---- albert_model_locate: folders and the Hugging Face hub cache */

#define COMMIT_A "0123456789abcdef0123456789abcdef01234567"
#define COMMIT_B "89abcdef0123456789abcdef0123456789abcdef"

/* CACHE/models--REPO/snapshots/COMMIT, and refs/REF holding REF_TEXT
 * (REF NULL: none). */
static void make_snapshot(const char *cache, const char *repo, const char *commit,
                          const char *ref, const char *ref_text)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models--%s", cache, repo);
    mkdir(cache, 0755);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/models--%s/snapshots", cache, repo);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/models--%s/snapshots/%s", cache, repo, commit);
    mkdir(dir, 0755);
    if (!ref)
        return;
    snprintf(dir, sizeof dir, "%s/models--%s/refs", cache, repo);
    mkdir(dir, 0755);
    write_text(dir, ref, ref_text);
}

/* NAME located in CACHE must be CODE, and DIR end with WANT (OK) or the
 * message hold WANT (a failure). */
static void expect_locate(const char *cache, const char *name, int code, const char *want)
{
    char dir[2048];
    albert_error err;
    int rc = albert_model_locate(name, cache, dir, sizeof dir, &err);
    CHECK(rc == code, "locate %s: rc %s, want %s (%s)", name, albert_status_name(rc),
          albert_status_name(code), rc ? err.msg : dir);
    if (rc != code)
        return;
    if (code == ALBERT_OK) {
        size_t n = strlen(dir), w = strlen(want);
        CHECK(n >= w && strcmp(dir + n - w, want) == 0, "locate %s: %s, want ...%s", name, dir,
              want);
    } else {
        CHECK(strstr(err.msg, want) != NULL, "locate %s: message '%s' lacks '%s'", name, err.msg,
              want);
        CHECK(dir[0] == '\0', "locate %s: failed but DIR is '%s'", name, dir);
    }
}

static void test_locate_hub_names(const char *cache)
{
    make_snapshot(cache, "albert-base-v2", COMMIT_A, "main", COMMIT_A "\n");
    make_snapshot(cache, "org--st-model", COMMIT_A, "main", COMMIT_A);
    make_snapshot(cache, "org--st-model", COMMIT_B, "v2.0", COMMIT_B);
    make_snapshot(cache, "org--bad-ref", COMMIT_A, "main", "not a commit");
    make_snapshot(cache, "org--lost", COMMIT_A, "main", COMMIT_B); /* refs/main's commit absent */
    expect_locate(cache, "albert-base-v2", ALBERT_OK, "/models--albert-base-v2/snapshots/" COMMIT_A);
    expect_locate(cache, "org/st-model", ALBERT_OK, "/models--org--st-model/snapshots/" COMMIT_A);
    expect_locate(cache, "org/st-model@v2.0", ALBERT_OK, "/snapshots/" COMMIT_B);
    expect_locate(cache, "org/st-model@" COMMIT_B, ALBERT_OK, "/snapshots/" COMMIT_B);
    expect_locate(cache, "org/st-model@dev", ALBERT_E_IO, "no revision dev");
    expect_locate(cache, "org/st-model@89ABCDEF0123456789ABCDEF0123456789ABCDEF", ALBERT_E_IO,
                  "no revision"); /* commits are lower-case hex, as huggingface_hub writes them */
    expect_locate(cache, "a-very-long-organisation-name-of-more-than-ninety-six-characters-"
                         "is-fine-for-huggingface-hub-rules/absent",
                  ALBERT_E_IO, "models--a-very-long");
    expect_locate(cache, "org/bad-ref", ALBERT_E_FORMAT, "refs/main: not a commit hash");
    expect_locate(cache, "org/lost", ALBERT_E_FORMAT, "snapshots/" COMMIT_B ": no such folder");
    expect_locate(cache, "org/absent", ALBERT_E_IO, "models--org--absent");
    /* Not repo ids (huggingface_hub's rules), so not looked up */
    const char *not_ids[] = {"a/b/c", "org/-x", "org/x.", "a--b", "a..b", "org/x@../main",
                             "org/x@", "/no/such/dir", "org/x.git"};
    for (size_t i = 0; i < sizeof not_ids / sizeof not_ids[0]; i++)
        expect_locate(cache, not_ids[i], ALBERT_E_IO, "no such folder (nor a Hugging Face");
}

/* With HUB_CACHE NULL, huggingface_hub's variables in its order. */
static void test_locate_default_cache(const char *cache)
{
    const char *vars[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"};
    char saved[4][1024];
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(vars[i]);
        snprintf(saved[i], sizeof saved[i], "%s", v ? v : "");
        unsetenv(vars[i]);
    }
    char home[1024], dir[2048];
    snprintf(home, sizeof home, "%s/home", tmp_root); /* HF_HOME: HOME/hub */
    mkdir(home, 0755);
    make_snapshot(home, "x", COMMIT_A, "main", COMMIT_A);
    albert_error err;
    setenv("HF_HOME", home, 1);
    int rc = albert_model_locate("x", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_E_IO && strstr(err.msg, "home/hub/models--x"), "HF_HOME: %s", err.msg);
    setenv("HF_HUB_CACHE", home, 1); /* wins over HF_HOME */
    rc = albert_model_locate("x", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_OK && strstr(dir, "home/models--x/snapshots/" COMMIT_A), "HF_HUB_CACHE: %s",
          rc ? err.msg : dir);
    setenv("HF_HUB_CACHE", "", 1); /* empty: not set */
    setenv("HUGGINGFACE_HUB_CACHE", cache, 1);
    rc = albert_model_locate("albert-base-v2", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_OK, "HUGGINGFACE_HUB_CACHE: %s", err.msg);
    unsetenv("HUGGINGFACE_HUB_CACHE");
    setenv("XDG_CACHE_HOME", "/nonexistent-xdg", 1); /* HF_HOME wins over it */
    rc = albert_model_locate("x", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_E_IO && strstr(err.msg, "home/hub/models--x"), "HF_HOME and XDG: %s",
          err.msg);
    unsetenv("HF_HOME");
    setenv("XDG_CACHE_HOME", tmp_root, 1);
    rc = albert_model_locate("x", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_E_IO && strstr(err.msg, "/huggingface/hub/models--x"), "XDG_CACHE_HOME: %s",
          err.msg);
    unsetenv("XDG_CACHE_HOME"); /* then ~/.cache/huggingface/hub, ~ being $HOME */
    const char *old_home = getenv("HOME");
    char saved_home[1024];
    snprintf(saved_home, sizeof saved_home, "%s", old_home ? old_home : "");
    char home_cache[1100];
    snprintf(home_cache, sizeof home_cache, "%s/.cache", home);
    mkdir(home_cache, 0755);
    snprintf(home_cache, sizeof home_cache, "%s/.cache/huggingface", home);
    mkdir(home_cache, 0755);
    snprintf(home_cache, sizeof home_cache, "%s/.cache/huggingface/hub", home);
    make_snapshot(home_cache, "x", COMMIT_A, "main", COMMIT_A);
    setenv("HOME", home, 1);
    rc = albert_model_locate("x", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_OK && strstr(dir, "home/.cache/huggingface/hub/models--x/snapshots/"),
          "~/.cache/huggingface/hub: %s", rc ? err.msg : dir);
    unsetenv("HOME");
    rc = albert_model_locate("x", NULL, dir, sizeof dir, &err);
    CHECK(rc == ALBERT_E_IO && strstr(err.msg, "HOME"), "no HOME: %s", err.msg);
    if (saved_home[0])
        setenv("HOME", saved_home, 1);
    for (int i = 0; i < 4; i++) {
        if (saved[i][0])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
    }
}

static void test_locate(void)
{
    char cache[512], dir[2048], small[8];
    snprintf(cache, sizeof cache, "%s/hub", tmp_root);
    albert_error err;
    model_dir(dir, sizeof dir, "tiny-gelu");
    expect_locate(cache, dir, ALBERT_OK, "models/tiny-gelu"); /* a folder is itself */
    char file[2100];
    snprintf(file, sizeof file, "%s/config.json", dir);
    expect_locate(cache, file, ALBERT_E_IO, "not a folder");
    test_locate_hub_names(cache);
    test_locate_default_cache(cache);
    CHECK(albert_model_locate(NULL, cache, dir, sizeof dir, &err) == ALBERT_E_ARG, "NULL name");
    CHECK(albert_model_locate("x", cache, NULL, 10, &err) == ALBERT_E_ARG, "NULL dir");
    int rc = albert_model_locate("albert-base-v2", cache, small, sizeof small, &err);
    CHECK(rc == ALBERT_E_ARG && small[0] == '\0', "DIR too small: %s", albert_status_name(rc));
}

/* ---- albert_head: a sentence-transformers folder's Dense modules */

static double gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double silu(double x) { return x / (1 + exp(-x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double relu(double x) { return x < 0 ? 0 : x; }
static double identity(double x) { return x; }

/* One Dense module of dense-chain-bin, alone (modules.json rewritten to hold
 * it only), against activation(W x + b) computed here from its weights. */
static void check_one_dense(const char *copy, int k, double (*act)(double), const char *what)
{
    char text[512], dir[700];
    snprintf(text, sizeof text,
             "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
             " {\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
             " {\"path\": \"%d_Dense\", \"type\": \"sentence_transformers.models.Dense\"}]",
             k);
    write_text(copy, "modules.json", text);
    albert_head *h = NULL;
    albert_error err;
    CHECK(albert_head_open(copy, &h, &err) == ALBERT_OK && h, "%s: %s", what, err.msg);
    if (!h)
        return;
    const int in = albert_head_width_in(h), out = albert_head_width_out(h);
    float x[64], y[64], w[64 * 64], b[64] = {0};
    for (int i = 0; i < in; i++)
        x[i] = (float)((i * 7) % 11 - 5) / 3.0f;
    snprintf(dir, sizeof dir, "%s/%d_Dense", copy, k);
    st_file *f = NULL;
    const st_tensor *t;
    CHECK(albert_weights_file_open(dir, &f, &err) == ALBERT_OK &&
              albert_weights_find(f, "linear.weight", out, in, &t, &err) == ALBERT_OK &&
              albert_weights_load(f, t, w, &err) == ALBERT_OK,
          "%s weights: %s", what, err.msg);
    if (albert_weights_find(f, "linear.bias", out, 0, &t, &err) == ALBERT_OK)
        albert_weights_load(f, t, b, &err);
    st_close(f);
    CHECK(albert_head_apply(h, x, 1, y, &err) == ALBERT_OK, "%s: %s", what, err.msg);
    double worst = 0;
    for (int o = 0; o < out; o++) {
        double sum = b[o];
        for (int i = 0; i < in; i++)
            sum += (double)w[o * in + i] * x[i];
        worst = fmax(worst, fabs(act(sum) - y[o]));
    }
    CHECK(worst < 1e-6, "%s: %g from activation(W x + b)", what, worst);
    if (act == relu) { /* NaN stays NaN, as torch's ReLU keeps it */
        x[0] = NAN;
        albert_head_apply(h, x, 1, y, &err);
        CHECK(isnan(y[0]), "%s: relu(NaN) is %g", what, y[0]);
    }
    albert_head_close(h);
}

static void test_head(void)
{
    const char *chain = ALBERT_TEST_DATA_DIR "/sentence-transformers/dense-chain-bin";
    albert_head *h = NULL;
    albert_error err;
    int rc = albert_head_open(chain, &h, &err);
    CHECK(rc == ALBERT_OK && h, "dense-chain-bin: %s", err.msg);
    CHECK(albert_head_width_in(h) == 32 && albert_head_width_out(h) == 8, "widths %d -> %d",
          albert_head_width_in(h), albert_head_width_out(h));
    float in[2 * 32], out[2 * 8], one[8];
    for (int i = 0; i < 2 * 32; i++)
        in[i] = (float)((i * 37) % 23 - 11) / 7.0f;
    rc = albert_head_apply(h, in, 2, out, &err);
    CHECK(rc == ALBERT_OK, "apply: %s", err.msg);
    rc = albert_head_apply(h, in + 32, 1, one, &err); /* a row alone: the same values */
    CHECK(rc == ALBERT_OK && memcmp(one, out + 8, sizeof one) == 0, "row 1 alone differs");
    CHECK(albert_head_apply(h, in, 0, NULL, &err) == ALBERT_OK, "0 rows: %s", err.msg);
    CHECK(albert_head_apply(h, in, -1, out, &err) == ALBERT_E_ARG, "rows -1");
    CHECK(albert_head_apply(NULL, in, 1, out, &err) == ALBERT_E_ARG, "NULL head");
    albert_head_close(h);
    albert_head_close(NULL);

    char dir[1024]; /* no modules.json: no head, and no failure */
    model_dir(dir, sizeof dir, "tiny-gelu");
    h = (albert_head *)dir;
    CHECK(albert_head_open(dir, &h, &err) == ALBERT_OK && h == NULL, "tiny-gelu: %s", err.msg);
    h = (albert_head *)dir;
    CHECK(albert_head_open(NULL, &h, &err) == ALBERT_E_ARG && h == NULL, "NULL dir");
    CHECK(albert_head_width_in(NULL) == 0 && albert_head_width_out(NULL) == 0, "NULL widths");

    /* 3_Dense's weights swapped for 2_Dense's: the shape is named */
    char copy[512], cmd[2400];
    snprintf(copy, sizeof copy, "%s/chain", tmp_root);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && cp '%s/2_Dense/pytorch_model.bin' '%s/3_Dense/'",
             chain, copy, copy, copy);
    CHECK(system(cmd) == 0, "%s", cmd);
    h = (albert_head *)dir;
    rc = albert_head_open(copy, &h, &err);
    CHECK(rc == ALBERT_E_FORMAT && h == NULL && strstr(err.msg, "3_Dense/pytorch_model.bin") &&
              strstr(err.msg, "linear.weight"),
          "swapped weights: %s %s", albert_status_name(rc), err.msg);
    snprintf(cmd, sizeof cmd, "cp '%s/3_Dense/pytorch_model.bin' '%s/3_Dense/'", chain, copy);
    CHECK(system(cmd) == 0, "%s", cmd);
    check_one_dense(copy, 2, gelu, "2_Dense (GELU)");
    check_one_dense(copy, 3, silu, "3_Dense (SiLU, no bias)");
    check_one_dense(copy, 4, sigmoid, "4_Dense (Sigmoid)");
    check_one_dense(copy, 5, relu, "5_Dense (ReLU)");
    check_one_dense(copy, 6, identity, "6_Dense (Identity)");
}

/* ---- prompts: config_sentence_transformers.json and Pooling's include_prompt */

/* A copy of the golden folder CASE in tmp_root/NAME, its prompts file FILE
 * (NULL: none). */
static void prompt_folder(char *dir, size_t size, const char *name, const char *file)
{
    char cmd[2400];
    snprintf(dir, size, "%s/%s", tmp_root, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && rm -f '%s/%s'", dir,
             ALBERT_TEST_DATA_DIR "/sentence-transformers/prompt-excluded-mean", dir, dir,
             "config_sentence_transformers.json");
    CHECK(system(cmd) == 0, "%s", cmd);
    if (file)
        write_text(dir, "config_sentence_transformers.json", file);
}

/* albert_sentence_config_read of DIR fails with CODE, its message naming
 * the prompts file and WHAT. */
static void check_bad_prompts(const char *file, const char *what)
{
    char dir[1100];
    prompt_folder(dir, sizeof dir, "bad-prompts", file);
    albert_sentence_config c;
    albert_error err;
    int rc = albert_sentence_config_read(dir, &c, &err);
    CHECK(rc == ALBERT_E_FORMAT && !c.present &&
              strstr(err.msg, "config_sentence_transformers.json") && strstr(err.msg, what),
          "%s: %s %s", file, albert_status_name(rc), err.msg);
}

static void test_prompts(void)
{
    const char *golden = ALBERT_TEST_DATA_DIR "/sentence-transformers/prompt-excluded-mean";
    albert_sentence_config c;
    albert_error err;
    CHECK(albert_sentence_config_read(golden, &c, &err) == ALBERT_OK && c.present &&
              !c.include_prompt && c.prompts == 2 && c.default_prompt,
          "prompt-excluded-mean: %s include %d prompts %d default %d", err.msg, c.include_prompt,
          c.prompts, c.default_prompt);
    char p[64] = "junk";
    CHECK(albert_sentence_prompt(golden, NULL, p, sizeof p, &err) == ALBERT_OK &&
              strcmp(p, "query: ") == 0, "the default prompt: '%s' %s", p, err.msg);
    CHECK(albert_sentence_prompt(golden, "passage", p, sizeof p, &err) == ALBERT_OK &&
              strcmp(p, "passage: ") == 0, "passage: '%s' %s", p, err.msg);
    strcpy(p, "junk");
    int rc = albert_sentence_prompt(golden, "nope", p, sizeof p, &err);
    CHECK(rc == ALBERT_E_ARG && !p[0] && strstr(err.msg, "\"nope\"") &&
              strstr(err.msg, "query, passage"),
          "an unknown name: %s", err.msg);
    rc = albert_sentence_prompt(golden, "passage", p, 9, &err); /* 9 bytes and the NUL */
    CHECK(rc == ALBERT_E_ARG && !p[0], "a buffer too small: %s", err.msg);
    CHECK(albert_sentence_prompt(golden, "passage", p, 10, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(albert_sentence_prompt(NULL, "passage", p, sizeof p, &err) == ALBERT_E_ARG && !p[0],
          "NULL dir");

    const char *five = ALBERT_TEST_DATA_DIR "/sentence-transformers/five-modes-prompt-excluded";
    const unsigned want = 1u << ALBERT_POOL_MAX | 1u << ALBERT_POOL_MEAN |
                          1u << ALBERT_POOL_MEAN_SQRT_LEN | 1u << ALBERT_POOL_WEIGHTED_MEAN |
                          1u << ALBERT_POOL_LAST_TOKEN;
    CHECK(albert_sentence_config_read(five, &c, &err) == ALBERT_OK && c.pooling_modes == want &&
              c.pooling == ALBERT_POOL_MAX && !c.include_prompt,
          "five modes: %s, modes 0x%x, first %d", err.msg, c.pooling_modes, (int)c.pooling);

    /* Pooling's default is include_prompt true; no file, no prompts */
    const char *mean = ALBERT_TEST_DATA_DIR "/sentence-transformers/mean-normalize";
    CHECK(albert_sentence_config_read(mean, &c, &err) == ALBERT_OK && c.include_prompt &&
              !c.prompts && !c.default_prompt && c.pooling_modes == 1u << ALBERT_POOL_MEAN,
          "mean-normalize: %s", err.msg);
    rc = albert_sentence_prompt(mean, NULL, p, sizeof p, &err);
    CHECK(rc == ALBERT_E_ARG && strstr(err.msg, "default_prompt_name"), "no default: %s",
          err.msg);
    rc = albert_sentence_prompt(mean, "query", p, sizeof p, &err);
    CHECK(rc == ALBERT_E_ARG && strstr(err.msg, "has none"), "no prompts: %s", err.msg);

    char dir[1100];
    prompt_folder(dir, sizeof dir, "null-prompts", "{\"prompts\": null, \"default_prompt_name\": null}");
    CHECK(albert_sentence_config_read(dir, &c, &err) == ALBERT_OK && !c.prompts &&
              !c.default_prompt, "null prompts: %s", err.msg);
    check_bad_prompts("[]", "not a JSON object");
    check_bad_prompts("{\"prompts\": [\"a\"]}", "\"prompts\" is not an object");
    check_bad_prompts("{\"prompts\": {\"q\": 1}}", "prompt \"q\" is not a string");
    check_bad_prompts("{\"prompts\": {\"q\": \"q: \"}, \"default_prompt_name\": \"p\"}",
                      "\"p\" is not one of its prompts");
    check_bad_prompts("{\"default_prompt_name\": \"p\"}", "not one of its prompts");
    check_bad_prompts("{\"default_prompt_name\": 3}", "is not a string");
    check_bad_prompts("{\"prompts\": ", "config_sentence_transformers.json");
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/albert-test-loader-%d", (int)getpid());
    mkdir(tmp_root, 0755);
    test_good_models();
    test_layer_groups();
    test_f16_values();
    test_bad_tensors();
    test_bad_files();
    test_bad_configs();
    test_config_bounds_accept();
    test_config_defaults();
    test_locate();
    test_head();
    test_prompts();
    test_remove_tree(tmp_root);
    return test_finish();
}
