/* embeddings.cl - AlbertEmbeddings: word + token type + position, then
 * LayerNorm.  One work-group per token. */
__kernel void embed_layernorm(__global const int *ids, __global const int *types,
                              __global const float *word, __global const float *pos,
                              __global const float *type_emb, __global const float *gamma,
                              __global const float *beta, int T, int E, float eps,
                              __global float *out)
{
    __local float scratch[ALBERT_WG_ROW];
    const size_t r = get_group_id(0);
    const int t = (int)(r % (size_t)T);
    __global const float *w = word + (size_t)ids[r] * (size_t)E;
    __global const float *ty = type_emb + (size_t)types[r] * (size_t)E;
    __global const float *p = pos + (size_t)t * (size_t)E;
    __global float *row = out + r * (size_t)E;
    /* HF adds word + type first, then position. */
    for (int j = (int)get_local_id(0); j < E; j += ALBERT_WG_ROW)
        row[j] = (w[j] + ty[j]) + p[j];
    layernorm_row(row, E, gamma, beta, eps, scratch);
}
