/* The bounds albert_config_load holds config.json's values to.  They keep
 * every size the library derives from a config (tensor shapes, weight
 * counts, layer tables) far inside int64 and size_t, so a hostile or
 * mistyped config.json is refused with the key and the bound named, before
 * anything is allocated from it.
 *
 * Each bound is far above any real ALBERT: albert-xxlarge-v2 has hidden 4096,
 * intermediate 16384, 64 heads, embedding 128, vocab 30000, 512 positions,
 * 12 layers in 1 group of 1 inner layer, 2 token types. */
#ifndef ALBERT_CORE_CONFIG_H
#define ALBERT_CORE_CONFIG_H

#define ALBERT_MAX_VOCAB (1 << 24)        /* vocab_size */
#define ALBERT_MAX_EMBEDDING (1 << 16)    /* embedding_size */
#define ALBERT_MAX_HIDDEN (1 << 16)       /* hidden_size */
#define ALBERT_MAX_INTERMEDIATE (1 << 18) /* intermediate_size */
#define ALBERT_MAX_HEADS (1 << 12)        /* num_attention_heads (also divides hidden_size) */
#define ALBERT_MAX_POSITIONS (1 << 16)    /* max_position_embeddings */
#define ALBERT_MAX_TYPE_VOCAB (1 << 16)   /* type_vocab_size */
#define ALBERT_MAX_LAYERS 1024            /* num_hidden_layers, inner_group_num */

/* Products, checked after the keys one by one: the layers stored
 * (num_hidden_groups * inner_group_num) and the layers run per forward pass
 * (num_hidden_layers * inner_group_num). */
#define ALBERT_MAX_LAYER_PRODUCT 1024

/* layer_norm_eps must be a positive normal float below this: FLT_MIN and
 * smaller become 0 or lose precision as a float, and a variance floor of 1
 * or more is no LayerNorm. */
#define ALBERT_MAX_LAYER_NORM_EPS 1.0

#endif
