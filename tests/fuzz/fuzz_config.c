/* Fuzz target: config.json and the model loader over it (core/config.c,
 * core/model.c).  Both take a folder, so each input becomes config.json in
 * a scratch folder whose model.safetensors links to the micro model of the
 * safetensors corpus (a whole ALBERT a few KiB big: a config that matches
 * it loads to the end).  What albert_config_load accepts must keep the
 * rules its header promises. */
#include "core/model.h"
#include "fuzz_util.h"

#include <string.h>

static char model_dir[4096], config_path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char weights[4096];
    fuzz_scratch_path(config_path, sizeof config_path, "model/config.json");
    fuzz_scratch_path(weights, sizeof weights, "model/model.safetensors");
    fuzz_scratch_path(model_dir, sizeof model_dir, "model");
    fuzz_symlink(ALBERT_FUZZ_MICRO_MODEL, weights);
    return 0;
}

static void check_config(const albert_config *c)
{
    const int sizes[] = {c->vocab_size, c->embedding_size, c->hidden_size,
                         c->num_hidden_layers, c->num_hidden_groups, c->inner_group_num,
                         c->num_attention_heads, c->intermediate_size,
                         c->max_position_embeddings, c->type_vocab_size};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        FUZZ_EXPECT(sizes[i] > 0, "size %zu of the config is %d", i, sizes[i]);
    FUZZ_EXPECT(c->hidden_size % c->num_attention_heads == 0, "hidden_size %d, %d heads",
                c->hidden_size, c->num_attention_heads);
    FUZZ_EXPECT(c->pad_token_id >= 0 && c->pad_token_id < c->vocab_size, "pad_token_id %d",
                c->pad_token_id);
    FUZZ_EXPECT(c->layer_norm_eps > 0, "layer_norm_eps %g", (double)c->layer_norm_eps);
    FUZZ_EXPECT(c->num_hidden_groups <= c->num_hidden_layers, "%d groups, %d layers",
                c->num_hidden_groups, c->num_hidden_layers);
    FUZZ_EXPECT(strcmp(albert_activation_name(c->hidden_act), "?") != 0, "hidden_act %d",
                (int)c->hidden_act);
}

/* Every layer the forward pass will ask for has its weights. */
static void check_model(const albert_model *m)
{
    const albert_config *c = albert_model_config(m);
    check_config(c);
    for (int layer = 0; layer < c->num_hidden_layers; layer++)
        for (int inner = 0; inner < c->inner_group_num; inner++) {
            const albert_layer_weights *w = albert_model_layer(m, layer, inner);
            FUZZ_EXPECT(w && w->q_w && w->ffn_ln_b, "layer %d inner %d has no weights", layer,
                        inner);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(config_path, data, size);
    albert_config cfg;
    albert_error err;
    int rc = albert_config_load(model_dir, &cfg, &err);
    fuzz_expect_status(rc, &err, "albert_config_load");
    if (rc != ALBERT_OK)
        return 0;
    check_config(&cfg);
    albert_model *m = NULL;
    rc = albert_model_open(model_dir, &m, &err);
    fuzz_expect_status(rc, &err, "albert_model_open");
    if (rc == ALBERT_OK)
        check_model(m);
    albert_model_close(m);
    return 0;
}
