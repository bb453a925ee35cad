/* The boundary every compute backend implements, and how a backend shows
 * its devices to the registry (engine/registry.c).  The engine checks a
 * batch (albert_batch_check) before it reaches a backend, so backends may
 * assume well-formed input. */
#ifndef ALBERT_CORE_BACKEND_H
#define ALBERT_CORE_BACKEND_H

#include "core/model.h"
#include "core/timing.h"

#include <stdbool.h>

typedef struct albert_backend albert_backend;

/* The layers a forward for OUT applies: up to the highest of OUT->layers
 * when it combines several, else OUT->skip_last_layers fewer than the
 * config's (the engine has checked both). */
static inline int albert_layers_run(const albert_config *c, const albert_outputs *out)
{
    int highest = 0;
    for (int i = 0; out->layers && i < out->n_layers; i++)
        highest = out->layers[i] > highest ? out->layers[i] : highest;
    return out->layers && out->n_layers > 0 ? highest
                                            : c->num_hidden_layers - out->skip_last_layers;
}

/* Where hidden_states[INDEX] goes in OUT's combination of layers: its
 * position in OUT->layers, or -1 when it is not one of them. */
static inline int albert_layer_slot(const albert_outputs *out, int index)
{
    for (int i = 0; out->layers && i < out->n_layers; i++)
        if (out->layers[i] == index)
            return i;
    return -1;
}

/* The checks albert_engine_run and albert_scheduler_create make of the
 * layers asked for (core/outputs.c): skip_last_layers in 0..L; N_LAYERS
 * distinct LAYERS in 0..L; not both; neither with the pooler.  CALL starts
 * the message. */
int albert_outputs_check_layers(const albert_config *c, const int *layers, int n_layers,
                                int skip_last_layers, albert_pooling pooling, const char *call,
                                albert_error *err);

/* Each of ROWS rows of N values scaled to unit L2 norm, as
 * torch.nn.functional.normalize (zero rows stay zero): the CPU backend's
 * pooled vectors, and the scheduler's after a head (core/outputs.c). */
void albert_l2_normalize(int rows, int n, float *x);

/* sentence-transformers' Pooling puts several modes' vectors end to end in
 * this order (its forward's). */
extern const albert_pooling albert_pooling_order[6];
/* The modes of MODES (bits 1u << albert_pooling) in that order: how many,
 * and the first (ALBERT_POOL_NONE when none). */
int albert_pooling_count(unsigned modes);
albert_pooling albert_pooling_first(unsigned modes);

/* MODE's pooled vector of each of B rows of HIDDEN [B, T, H] into POOLED
 * [B, H], over the positions t >= FIRST[b] (FIRST NULL: all) whose MASK is
 * 1 (MASK NULL: all): CLS hidden[b, 0] whatever FIRST says; MEAN their mean;
 * MAX per value their max (a NaN wins, as in torch.max); MEAN_SQRT_LEN their
 * sum / sqrt(count); WEIGHTED_MEAN their mean weighted by t + 1; LAST_TOKEN
 * the last one's vector.  A row with no such position gives zeros.  The CPU
 * backend's pooling, and the scheduler's when it leaves prompts out. */
void albert_pool(int B, int T, int H, const float *hidden, const int32_t *mask, const int *first,
                 albert_pooling mode, float *pooled);

/* Whether OUT asks for nothing but each sequence's [CLS] vector (the
 * pooler's or CLS pooling, no token vectors).  Then the last layer applied
 * runs its attention over every token as usual but its output Linear, FFN
 * and LayerNorms on the [CLS] rows only: nothing else of it reaches an
 * output.  albert_forward_flops counts the same.  (Not when no layer runs.) */
static inline bool albert_cls_rows_only(const albert_config *c, const albert_outputs *out)
{
    return out->pooled && !out->last_hidden_state && !out->hidden_states && !out->n_layers &&
           (out->pooling == ALBERT_POOL_POOLER || out->pooling == ALBERT_POOL_CLS) &&
           albert_layers_run(c, out) > 0;
}

/* Whether inner layer J of layer L is the last one a forward for OUT applies. */
static inline bool albert_last_layer(const albert_config *c, const albert_outputs *out, int l,
                                     int j)
{
    return l == albert_layers_run(c, out) - 1 && j == c->inner_group_num - 1;
}

/* Bytes a backend's device holds for a model and one batch shape, and what
 * the device offers: the engine refuses a shape that cannot fit. */
typedef struct albert_memory_plan {
    uint64_t weights;           /* the weights in the device's memory */
    uint64_t activations;       /* every buffer a B x T batch needs */
    uint64_t largest_buffer;    /* the biggest single one of those */
    uint64_t device_total;      /* the device's memory */
    uint64_t device_max_buffer; /* the largest single allocation it allows */
} albert_memory_plan;

typedef struct albert_backend_ops {
    /* Fills every non-NULL buffer of OUT for BATCH.  A backend with a WAIT
     * may return once the batch is queued (up to ALBERT_ENGINE_MAX_IN_FLIGHT
     * of them, the engine counts), and must leave nothing of BATCH queued
     * when it fails. */
    int (*run)(albert_backend *be, const albert_batch *batch, const albert_outputs *out,
               albert_error *err);
    /* What a B x T batch takes (B, T >= 1) for OUT's vectors (their width,
     * layers combined; NULL: one layer's). */
    void (*plan)(const albert_backend *be, int B, int T, const albert_outputs *out,
                 albert_memory_plan *plan);
    /* Frees BE after waiting for what it has queued. */
    void (*destroy)(albert_backend *be);
    /* Waits for the oldest batch RUN queued and returns its status; NULL
     * when RUN finishes every batch before it returns. */
    int (*wait)(albert_backend *be, albert_error *err);
} albert_backend_ops;

struct albert_backend {
    const albert_backend_ops *ops;
    char name[256];     /* human-readable device description */
    int timing;         /* 1: each run adds its ops' totals to STATS */
    timing_table stats; /* owned by the engine, which frees it */
};

/* One kind of backend as the registry lists it: its devices, numbered 0 to
 * count - 1 within the backend, and one constructor for all of them. */
typedef struct albert_backend_reg {
    const char *name; /* "opencl", "cpu": albert_device_info.backend */
    /* How many devices there are; none at all is 0 with the reason in
     * ERR->msg and code ALBERT_OK. */
    int (*device_count)(int *count, albert_error *err);
    /* Fills INFO for device I, all but INFO->index (the registry's). */
    int (*device_info)(int i, const albert_engine_options *opt, albert_device_info *info,
                       albert_error *err);
    /* A backend for MODEL on device I with OPT (never NULL). */
    int (*create)(const albert_model *model, int i, const albert_engine_options *opt,
                  albert_backend **out, albert_error *err);
} albert_backend_reg;

#endif
