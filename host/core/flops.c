/* The one FLOP formula of the forward pass, what every GFLOP/s figure
 * divides by. */
#include "albert_cl.h"
#include "core/backend.h"

#include <stdint.h>

/* GEMMs only, 2 FLOPs per multiply-add: per applied layer the fused QKV
 * projection (M x 3H x H), attention scores and context (B*NH blocks of
 * T x T x D each, so 2 * B*T*T*H apiece), the output projection (M x H x H)
 * and the FFN (M x I x H twice); once the embedding projection (M x H x E)
 * and, with the pooler, B x H x H.  With only [CLS] vectors asked for
 * (albert_cls_rows_only) the last layer's output projection and FFN take B
 * rows instead of M; layers skipped (skip_last_layers) count nothing. */
uint64_t albert_forward_flops(const albert_config *c, int batch_size, int seq_len,
                              const albert_outputs *out)
{
    const uint64_t B = (uint64_t)batch_size, T = (uint64_t)seq_len, M = B * T;
    const uint64_t E = (uint64_t)c->embedding_size, H = (uint64_t)c->hidden_size;
    const uint64_t I = (uint64_t)c->intermediate_size;
    /* Unchecked here (albert_engine_run refuses it): clamped to 0..L. */
    const int L = c->num_hidden_layers, run = out ? albert_layers_run(c, out) : L;
    const uint64_t layers = (uint64_t)(run < 0 ? 0 : run > L ? L : run) * (uint64_t)c->inner_group_num;
    const uint64_t attention = 2 * M * 3 * H * H + 2 * (2 * B * T * T * H);
    const uint64_t rest_per_row = 2 * H * H + 2 * (2 * I * H);
    uint64_t rest_rows = layers * M;
    if (layers && out && albert_cls_rows_only(c, out))
        rest_rows -= M - B;
    const uint64_t pooler =
        out && out->pooled && out->pooling == ALBERT_POOL_POOLER ? 2 * B * H * H : 0;
    return 2 * M * H * E + layers * attention + rest_rows * rest_per_row + pooler;
}
