/* activation.cl - the bias + activation the GEMM of a Linear leaves out.
 * Codes match albert_activation; ACT_NONE is bias only. */
#define ACT_NONE (-1)
#define ACT_GELU 0
#define ACT_GELU_TANH 1
#define ACT_RELU 2
#define ACT_SILU 3
#define ACT_TANH 4
#define ACT_QUICK_GELU 5

/* HF's ACT2FN formulas (gelu_new in an equivalent form), as NAME on type T:
 * activate on floats for the bias kernels, activate16 on float16 for
 * linear.cl's epilogue. */
#define DEFINE_ACTIVATE(NAME, SIGMOID, T)                                                  \
    T SIGMOID(T x)                                                                         \
    {                                                                                      \
        return 1.0f / (1.0f + exp(-x));                                                    \
    }                                                                                      \
    T NAME(int act, T x)                                                                   \
    {                                                                                      \
        switch (act) {                                                                     \
        case ACT_GELU:                                                                     \
            return 0.5f * x * (1.0f + erf(x / M_SQRT2_F));                                 \
        case ACT_GELU_TANH: /* 0.5 (1 + tanh(u)) == sigmoid(2u): one exp, cheaper */       \
            return x / (1.0f + exp(-1.5957691216057308f * (x + 0.044715f * (x * x * x)))); \
        case ACT_RELU:                                                                     \
            return fmax(x, 0.0f);                                                          \
        case ACT_SILU:                                                                     \
            return x * SIGMOID(x);                                                         \
        case ACT_TANH:                                                                     \
            return tanh(x);                                                                \
        case ACT_QUICK_GELU:                                                               \
            return x * SIGMOID(1.702f * x);                                                \
        default:                                                                           \
            return x;                                                                      \
        }                                                                                  \
    }

DEFINE_ACTIVATE(activate, sigmoid, float)
DEFINE_ACTIVATE(activate16, sigmoid16, float16)

/* x[r, j] = ACT(x[r, j] + bias[j]) for one row r = get_global_id(1) of N
 * columns, ALBERT_VW consecutive ones per work-item.  One kernel per
 * activation: with ACT a constant the switch folds away and the compiler
 * can vectorise across work-items (2.5x faster on PoCL than a run-time act).
 * A 2-D grid keeps a flat index's i % n out of every element; the row's
 * global size is rounded up, hence the bound check. */
#define BIAS_ACT_KERNEL(NAME, ACT)                                                   \
    __kernel void NAME(__global float *x, __global const float *bias, int n)         \
    {                                                                                \
        const int first = (int)get_global_id(0) * ALBERT_VW;                         \
        __global float *row = x + get_global_id(1) * (size_t)n;                      \
        for (int v = 0; v < ALBERT_VW; v++) {                                        \
            const int j = first + v;                                                 \
            if (j < n)                                                               \
                row[j] = activate(ACT, row[j] + bias[j]);                            \
        }                                                                            \
    }

/* In the order of the host's OCL_ACT_NONE + 1 + albert_activation. */
BIAS_ACT_KERNEL(bias_none, ACT_NONE)
BIAS_ACT_KERNEL(bias_gelu, ACT_GELU)
BIAS_ACT_KERNEL(bias_gelu_tanh, ACT_GELU_TANH)
BIAS_ACT_KERNEL(bias_relu, ACT_RELU)
BIAS_ACT_KERNEL(bias_silu, ACT_SILU)
BIAS_ACT_KERNEL(bias_tanh, ACT_TANH)
BIAS_ACT_KERNEL(bias_quick_gelu, ACT_QUICK_GELU)
