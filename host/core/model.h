/* The loaded model as every backend sees it: the config and float32 host
 * copies of the weights, in HuggingFace's layouts (a Linear weight is
 * [out_features, in_features], row-major). */
#ifndef ALBERT_MODEL_H
#define ALBERT_MODEL_H

#include "albert_cl.h"
#include "core/safetensors.h"

typedef struct albert_layer_weights {
    const float *q_w, *q_b;             /* attention.query  [H,H] [H] */
    const float *k_w, *k_b;             /* attention.key    [H,H] [H] */
    const float *v_w, *v_b;             /* attention.value  [H,H] [H] */
    const float *o_w, *o_b;             /* attention.dense  [H,H] [H] */
    const float *attn_ln_g, *attn_ln_b; /* attention.LayerNorm [H] */
    const float *ffn_w, *ffn_b;         /* ffn        [I,H] [I] */
    const float *ffn_out_w, *ffn_out_b; /* ffn_output [H,I] [H] */
    const float *ffn_ln_g, *ffn_ln_b;   /* full_layer_layer_norm [H] */
} albert_layer_weights;

typedef struct albert_weights {
    const float *word_emb;              /* [V,E] */
    const float *pos_emb;               /* [P,E] */
    const float *type_emb;              /* [TV,E] */
    const float *emb_ln_g, *emb_ln_b;   /* [E] */
    const float *map_in_w, *map_in_b;   /* embedding_hidden_mapping_in [H,E] [H] */
    const float *pool_w, *pool_b;       /* pooler [H,H] [H] */
    /* num_hidden_groups * inner_group_num layers; group g's inner layer j is
     * layers[g * inner_group_num + j]. */
    albert_layer_weights *layers;
} albert_weights;

struct albert_model {
    albert_config config;
    albert_weights weights;
    char *dir;
    void *storage; /* owner of the float32 copies the weights point into */
};

/* The layer group transformer pass LAYER (0..num_hidden_layers-1) runs, as
 * HF's AlbertTransformer picks it: int(LAYER / (L / G)) in floating point
 * (integer division differs where G does not divide L). */
int albert_layer_group(const albert_config *c, int layer);

/* The group-local layer that transformer pass LAYER (0..num_hidden_layers-1),
 * inner step INNER runs, as HF's AlbertTransformer picks it. */
const albert_layer_weights *albert_model_layer(const albert_model *m, int layer, int inner);

/* DIR's weights file as from_pretrained (and a sentence-transformers module)
 * picks it, model.safetensors, else pytorch_model.bin, opened into *F (free
 * with st_close). */
int albert_weights_file_open(const char *dir, st_file **f, albert_error *err);

/* Tensor NAME of F into *T once it has shape [D0] (D1 0) or [D0, D1] and
 * dtype F32, F16 or BF16: nothing need be sized from a config before its
 * tensor confirms it.  Errors name the file and the tensor. */
int albert_weights_find(const st_file *f, const char *name, int64_t d0, int64_t d1,
                        const st_tensor **t, albert_error *err);

/* T (of F) into DST as float32, every value finite. */
int albert_weights_load(const st_file *f, const st_tensor *t, float *dst, albert_error *err);

#endif
