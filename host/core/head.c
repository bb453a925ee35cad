/* albert_head: a sentence-transformers folder's Dense modules, loaded
 * (core/sentence_config.c reads their configs) and run on the host. */
#include "core/common.h"
#include "core/model.h"
#include "core/sentence_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct head_layer {
    int in, out;
    st_activation act;
    float *w; /* [out, in] */
    float *b; /* [out], or NULL */
} head_layer;

struct albert_head {
    int n;
    head_layer layers[ST_MAX_DENSE];
    int widest; /* the most values any layer takes or gives */
};

/* F's linear.weight and linear.bias, once their shapes agree with D. */
static int load_tensors(const st_dense *d, const st_file *f, head_layer *l, albert_error *err)
{
    const st_tensor *w, *b = NULL;
    int rc = albert_weights_find(f, "linear.weight", d->out, d->in, &w, err);
    if (rc == ALBERT_OK && d->bias)
        rc = albert_weights_find(f, "linear.bias", d->out, 0, &b, err);
    if (rc != ALBERT_OK)
        return rc;
    l->w = malloc((size_t)d->out * (size_t)d->in * sizeof *l->w);
    l->b = d->bias ? malloc((size_t)d->out * sizeof *l->b) : NULL;
    if (!l->w || (d->bias && !l->b))
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for a %d x %d Dense module",
                           d->dir, d->out, d->in);
    rc = albert_weights_load(f, w, l->w, err);
    return rc == ALBERT_OK && b ? albert_weights_load(f, b, l->b, err) : rc;
}

/* The module D's weights file into L. */
static int load_layer(const st_dense *d, head_layer *l, albert_error *err)
{
    l->in = d->in;
    l->out = d->out;
    l->act = d->act;
    st_file *f = NULL;
    int rc = albert_weights_file_open(d->dir, &f, err);
    if (rc == ALBERT_OK)
        rc = load_tensors(d, f, l, err);
    st_close(f);
    return rc;
}

int albert_head_open(const char *dir, albert_head **out, albert_error *err)
{
    if (out)
        *out = NULL;
    if (!dir || !out)
        return albert_fail(err, ALBERT_E_ARG, "albert_head_open: NULL argument");
    st_dense *dense = calloc(ST_MAX_DENSE, sizeof *dense);
    albert_head *h = calloc(1, sizeof *h);
    if (!dense || !h) {
        free(dense);
        free(h);
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory for its Dense modules", dir);
    }
    albert_sentence_config st;
    int rc = sentence_config_read(dir, &st, dense, err);
    for (int i = 0; rc == ALBERT_OK && i < st.dense_modules; i++, h->n++) {
        rc = load_layer(&dense[i], &h->layers[i], err);
        h->widest = dense[i].in > h->widest ? dense[i].in : h->widest;
        h->widest = dense[i].out > h->widest ? dense[i].out : h->widest;
    }
    free(dense);
    if (rc != ALBERT_OK || h->n == 0) {
        albert_head_close(h);
        return rc == ALBERT_OK ? albert_ok(err) : rc;
    }
    *out = h;
    return albert_ok(err);
}

void albert_head_close(albert_head *head)
{
    if (!head)
        return;
    for (int i = 0; i < head->n; i++) {
        free(head->layers[i].w);
        free(head->layers[i].b);
    }
    free(head);
}

int albert_head_width_in(const albert_head *head) { return head ? head->layers[0].in : 0; }

int albert_head_width_out(const albert_head *head)
{
    return head ? head->layers[head->n - 1].out : 0;
}

static float activate(st_activation act, double x)
{
    switch (act) {
    case ST_ACT_TANH:
        return (float)tanh(x);
    case ST_ACT_RELU: /* NaN stays NaN, as in torch */
        return x < 0 ? 0.0f : (float)x;
    case ST_ACT_SIGMOID:
        return (float)(1.0 / (1.0 + exp(-x)));
    case ST_ACT_GELU:
        return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    case ST_ACT_SILU:
        return (float)(x / (1.0 + exp(-x)));
    case ST_ACT_IDENTITY:
        break;
    }
    return (float)x;
}

/* One vector X through L into Y, summed in double (closer to the exact
 * result than any float32 GEMM's order). */
static void layer_apply(const head_layer *l, const float *x, float *y)
{
    for (int o = 0; o < l->out; o++) {
        const float *w = l->w + (size_t)o * (size_t)l->in;
        double sum = l->b ? l->b[o] : 0.0;
        for (int i = 0; i < l->in; i++)
            sum += (double)w[i] * x[i];
        y[o] = activate(l->act, sum);
    }
}

int albert_head_apply(const albert_head *head, const float *in, int rows, float *out,
                      albert_error *err)
{
    if (!head || (!in && rows) || (!out && rows) || rows < 0)
        return albert_fail(err, ALBERT_E_ARG, "albert_head_apply: NULL argument or rows < 0");
    float *scratch = malloc(2 * (size_t)head->widest * sizeof *scratch);
    if (!scratch)
        return albert_fail(err, ALBERT_E_NOMEM, "albert_head_apply: out of memory");
    const int w_in = albert_head_width_in(head), w_out = albert_head_width_out(head);
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * (size_t)w_in;
        for (int i = 0; i < head->n; i++) {
            float *y = i == head->n - 1 ? out + (size_t)r * (size_t)w_out
                                        : scratch + (size_t)(i % 2) * (size_t)head->widest;
            layer_apply(&head->layers[i], x, y);
            x = y;
        }
    }
    free(scratch);
    return albert_ok(err);
}
