/* activation.cl - the bias + activation the GEMM of a Linear leaves out.
 * Codes match albert_activation; ACT_NONE is bias only. */
#define ACT_NONE (-1)
#define ACT_GELU 0
#define ACT_GELU_TANH 1
#define ACT_RELU 2
#define ACT_SILU 3
#define ACT_TANH 4
#define ACT_QUICK_GELU 5

float sigmoid(float x)
{
    return 1.0f / (1.0f + exp(-x));
}

/* Exactly HF's ACT2FN formulas. */
float activate(int act, float x)
{
    switch (act) {
    case ACT_GELU:
        return 0.5f * x * (1.0f + erf(x / M_SQRT2_F));
    case ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanh(0.7978845608028654f * (x + 0.044715f * (x * x * x))));
    case ACT_RELU:
        return fmax(x, 0.0f);
    case ACT_SILU:
        return x * sigmoid(x);
    case ACT_TANH:
        return tanh(x);
    case ACT_QUICK_GELU:
        return x * sigmoid(1.702f * x);
    default:
        return x;
    }
}

/* x[i] = act(x[i] + bias[i % n]) over TOTAL elements, ALBERT_VW consecutive
 * ones per work-item; the global size is rounded up, hence the bound check. */
__kernel void bias_act(__global float *x, __global const float *bias, ulong total, int n,
                       int act)
{
    const ulong first = (ulong)get_global_id(0) * ALBERT_VW;
    for (int v = 0; v < ALBERT_VW; v++) {
        const ulong i = first + (ulong)v;
        if (i < total)
            x[i] = activate(act, x[i] + bias[i % (ulong)n]);
    }
}
