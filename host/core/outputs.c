/* What an albert_outputs asks of a forward beyond its buffers: the layers it
 * combines (albert_outputs.layers) and the width of its vectors.  The engine
 * and the scheduler check a request with the same function; the pooled
 * vectors' normalisation. */
#include "core/backend.h"
#include "core/common.h"

#include <math.h>
#include <string.h>

int albert_output_width(const albert_config *config, const albert_outputs *out)
{
    if (!config)
        return 0;
    const int n = out && out->layers_concat && out->n_layers > 0 ? out->n_layers : 1;
    return n <= config->num_hidden_layers + 1 ? n * config->hidden_size : 0;
}

int albert_outputs_check_layers(const albert_config *c, const int *layers, int n_layers,
                                int skip_last_layers, albert_pooling pooling, const char *call,
                                albert_error *err)
{
    const int L = c->num_hidden_layers;
    if (skip_last_layers < 0 || skip_last_layers > L)
        return albert_fail(err, ALBERT_E_ARG, "%s: skip_last_layers %d is not in 0..%d", call,
                           skip_last_layers, L);
    if (n_layers < 0 || n_layers > L + 1 || (n_layers && !layers))
        return albert_fail(err, ALBERT_E_ARG, "%s: n_layers %d with layers %s (0..%d indices)",
                           call, n_layers, layers ? "given" : "NULL", L + 1);
    for (int i = 0; i < n_layers; i++) {
        if (layers[i] < 0 || layers[i] > L)
            return albert_fail(err, ALBERT_E_ARG, "%s: layers[%d] = %d is not in 0..%d", call, i,
                               layers[i], L);
        for (int j = 0; j < i; j++)
            if (layers[j] == layers[i])
                return albert_fail(err, ALBERT_E_ARG, "%s: layer %d is given twice", call,
                                   layers[i]);
    }
    if (n_layers && skip_last_layers)
        return albert_fail(err, ALBERT_E_ARG,
                           "%s: layers to combine and skip_last_layers %d: give one or the other",
                           call, skip_last_layers);
    if ((n_layers || skip_last_layers) && pooling == ALBERT_POOL_POOLER)
        return albert_fail(err, ALBERT_E_ARG,
                           "%s: the pooler (HF pooler_output) reads the last layer; with %s "
                           "pool by CLS, mean or max",
                           call, n_layers ? "layers combined" : "skip_last_layers");
    return ALBERT_OK;
}

void albert_l2_normalize(int rows, int n, float *x)
{
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        double sq = 0;
        for (int i = 0; i < n; i++)
            sq += (double)row[i] * row[i];
        /* torch.nn.functional.normalize: x / max(||x||, 1e-12). */
        float inv = (float)(1.0 / fmax(sqrt(sq), 1e-12));
        for (int i = 0; i < n; i++)
            row[i] *= inv;
    }
}

/* pooled[0..H) over the rows t >= FIRST of HIDDEN (one batch row) with
 * mask 1, as MODE says (albert_pooling): their mean, per value their max (a
 * NaN wins, as in torch.max), their sum / sqrt(count), their mean weighted
 * by t + 1, or the last one; zeros where no row has mask 1. */
static void pool_row(int T, int H, const float *hidden, const int32_t *mask, int first,
                     albert_pooling mode, float *pooled)
{
    memset(pooled, 0, (size_t)H * sizeof *pooled);
    const int max = mode == ALBERT_POOL_MAX;
    int count = 0, last = -1;
    float weights = 0;
    for (int t = first; t < T; t++) {
        if (mask && !mask[t])
            continue;
        last = t;
        const float *h = hidden + (size_t)t * H;
        const float w = mode == ALBERT_POOL_WEIGHTED_MEAN ? (float)(t + 1) : 1.0f;
        for (int i = 0; i < H && mode != ALBERT_POOL_LAST_TOKEN; i++)
            pooled[i] = !max                                          ? pooled[i] + w * h[i]
                        : !count || h[i] > pooled[i] || h[i] != h[i] ? h[i]
                                                                     : pooled[i];
        count++;
        weights += w;
    }
    if (mode == ALBERT_POOL_LAST_TOKEN && last >= 0)
        memcpy(pooled, hidden + (size_t)last * H, (size_t)H * sizeof *pooled);
    if (max || mode == ALBERT_POOL_LAST_TOKEN || !count)
        return;
    const float inv = mode == ALBERT_POOL_MEAN_SQRT_LEN ? 1.0f / sqrtf((float)count) : 1.0f / weights;
    for (int i = 0; i < H; i++)
        pooled[i] *= inv;
}

const albert_pooling albert_pooling_order[6] = {ALBERT_POOL_CLS, ALBERT_POOL_MAX, ALBERT_POOL_MEAN,
                                                ALBERT_POOL_MEAN_SQRT_LEN, ALBERT_POOL_WEIGHTED_MEAN,
                                                ALBERT_POOL_LAST_TOKEN};

int albert_pooling_count(unsigned modes)
{
    int n = 0;
    for (int i = 0; i < 6; i++)
        n += (modes >> albert_pooling_order[i]) & 1;
    return n;
}

albert_pooling albert_pooling_first(unsigned modes)
{
    for (int i = 0; i < 6; i++)
        if (modes >> albert_pooling_order[i] & 1)
            return albert_pooling_order[i];
    return ALBERT_POOL_NONE;
}

void albert_pool(int B, int T, int H, const float *hidden, const int32_t *mask, const int *first,
                 albert_pooling mode, float *pooled)
{
    for (int b = 0; b < B; b++) {
        const float *rows = hidden + (size_t)b * T * H;
        const int32_t *m = mask ? mask + (size_t)b * T : NULL;
        float *p = pooled + (size_t)b * H;
        if (mode == ALBERT_POOL_CLS)
            memcpy(p, rows, (size_t)H * sizeof *p);
        else
            pool_row(T, H, rows, m, first ? first[b] : 0, mode, p);
    }
}
