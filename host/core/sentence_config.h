/* What core/sentence_config.c reads of a sentence-transformers folder beyond
 * the public albert_sentence_config: its Dense modules' configs, which
 * core/head.c loads the weights of. */
#ifndef ALBERT_CORE_SENTENCE_CONFIG_H
#define ALBERT_CORE_SENTENCE_CONFIG_H

#include "albert_cl.h"

/* Dense modules a folder may have (sentence-transformers' models have one or two). */
#define ST_MAX_DENSE 8

/* torch.nn activations a Dense module may name (activation_function) */
typedef enum st_activation {
    ST_ACT_IDENTITY, ST_ACT_TANH, ST_ACT_RELU, ST_ACT_SIGMOID, ST_ACT_GELU, ST_ACT_SILU
} st_activation;

/* One Dense module: activation(W x + b), W [out, in] */
typedef struct st_dense {
    char dir[4096]; /* its folder (the model folder joined with its path) */
    int in, out;    /* in_features, out_features */
    int bias;
    st_activation act;
} st_dense;

/* albert_sentence_config_read, and with DENSE not NULL the configs of the
 * OUT->dense_modules Dense modules, in order, into DENSE[0..ST_MAX_DENSE). */
int sentence_config_read(const char *dir, albert_sentence_config *out, st_dense *dense,
                         albert_error *err);

#endif
