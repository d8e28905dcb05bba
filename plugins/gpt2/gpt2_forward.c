/* SPDX-License-Identifier: Apache-2.0 */
/* gpt2_forward.c - the GPT-2 forward pass on the ptm op set.
 *
 *   h = wte[ids] + wpe[pos]
 *   per block:  h += c_proj(attention(split(c_attn(ln_1(h)))))
 *               h += mlp.c_proj(act(mlp.c_fc(ln_2(h))))
 *   ln_f(h), then logits = h @ lm_head^T for GPT2LMHeadModel.
 *
 * Every activation lives in one workspace allocated from the exec's scratch
 * arena at the start of the pass and reused by every block, so the arena
 * needs the same few [B, T, *] buffers whatever the depth, and the reshaped
 * views of those buffers (ptm_exec_scratch_view: no malloc)
 * are made once per pass, not per block.
 *
 * Splitting heads: c_attn gives qkv [B, T, 3H] = [B, T, 3, nh, hd]; the
 * attention op wants q, k, v as [B, nh, T, hd].  Viewed as
 * [B, T, 3*nh, hd], one transpose of dims 1 and 2 gives [B, 3, nh, T, hd];
 * for B = 1 q, k and v are then contiguous slices (one copy).  For B > 1 a
 * second transpose, of [B, 3, nh*T*hd] dims 0 and 1, gives
 * [3, B, nh, T, hd] (two copies).  A transpose over a dimension of size 1
 * moves nothing and is skipped: decoding one token (T = 1) with B = 1 needs
 * no copy at all.  Merging heads back, [B, nh, T, hd] -> [B, T, nh, hd], is
 * one transpose, again skipped when T = 1 or nh = 1. */
#include "gpt2.h"

#include <float.h>
#include <math.h>
#include <string.h>


/* The per-pass buffers and views. */
typedef struct work {
    ptm_exec *ex;
    int64_t B, T, H, nh, hd, I;
    ptm_tensor *h;       /* [B, T, H] residual stream                    */
    ptm_tensor *x;       /* [B, T, H] norm output                        */
    ptm_tensor *qkv;     /* [B, T, 3H] c_attn output                     */
    ptm_tensor *qkv4;    /* view of qkv as [B, T, 3nh, hd]  (T > 1)      */
    ptm_tensor *qkvt;    /* [B, 3nh, T, hd] (T > 1) else NULL            */
    ptm_tensor *qkvt3;   /* view of qkvt (or qkv) as [B, 3, nh*T*hd] (B > 1) */
    ptm_tensor *q3;      /* [3, B, nh*T*hd] (B > 1) else NULL            */
    ptm_tensor *q, *k, *v; /* views [B, nh, T, hd]                       */
    ptm_tensor *ao;      /* [B, nh, T, hd] attention output              */
    ptm_tensor *merged;  /* [B, T, nh, hd] (T > 1 and nh > 1) else NULL  */
    ptm_tensor *attn_h;  /* [B, T, H] view of merged (or of ao)          */
    ptm_tensor *proj;    /* [B, T, H] projection output                  */
    ptm_tensor *f;       /* [B, T, I] c_fc output                        */
    ptm_tensor *fa;      /* [B, T, I] activation output (f for gelu)     */
    ptm_tensor *mask;    /* [B, past + T] f32 additive, or NULL          */
} work;

static ptm_status scratch(ptm_exec *ex, ptm_dtype dt, int nd, int64_t a, int64_t b, int64_t c, int64_t d,
                          ptm_tensor **out)
{
    int64_t shape[4] = {a, b, c, d};
    return ptm_exec_scratch(ex, dt, nd, shape, out);
}

/* A view of `base`'s bytes from `byte_off` with another shape (zero copy,
 * placed in the exec's arena). */
static ptm_status view(work *w, const ptm_tensor *base, size_t byte_off, int nd, int64_t a, int64_t b, int64_t c,
                       int64_t d, ptm_tensor **out)
{
    int64_t shape[4] = {a, b, c, d};
    return ptm_exec_scratch_view(w->ex, base, byte_off, nd, shape, out);
}

/* Allocate the workspace and make its views. */
static ptm_status work_init(work *w, const gpt2 *g)
{
    ptm_exec *ex = w->ex;
    const int64_t B = w->B, T = w->T, H = w->H, nh = w->nh, hd = w->hd, I = w->I;
    ptm_status s;
    if ((s = scratch(ex, PTM_F32, 3, B, T, H, 0, &w->h)) || (s = scratch(ex, PTM_F32, 3, B, T, H, 0, &w->x)) ||
        (s = scratch(ex, PTM_F32, 3, B, T, 3 * H, 0, &w->qkv)) ||
        (s = scratch(ex, PTM_F32, 4, B, nh, T, hd, &w->ao)) || (s = scratch(ex, PTM_F32, 3, B, T, H, 0, &w->proj)) ||
        (s = scratch(ex, PTM_F32, 3, B, T, I, 0, &w->f)))
        return s;
    w->fa = w->f; /* gelu may run in place; relu and silu may not */
    if ((g->act == GPT2_ACT_RELU || g->act == GPT2_ACT_SILU) && (s = scratch(ex, PTM_F32, 3, B, T, I, 0, &w->fa)))
        return s;
    /* split heads: [B, T, 3nh, hd] -> [B, 3nh, T, hd] -> [3, B, nh, T, hd] */
    const ptm_tensor *split = w->qkv;
    if (T > 1) {
        if ((s = view(w, w->qkv, 0, 4, B, T, 3 * nh, hd, &w->qkv4)) ||
            (s = scratch(ex, PTM_F32, 4, B, 3 * nh, T, hd, &w->qkvt)))
            return s;
        split = w->qkvt;
    }
    if (B > 1) {
        if ((s = view(w, split, 0, 3, B, 3, nh * T * hd, 0, &w->qkvt3)) ||
            (s = scratch(ex, PTM_F32, 3, 3, B, nh * T * hd, 0, &w->q3)))
            return s;
        split = w->q3;
    }
    size_t part = (size_t)(B * H * T) * sizeof(float);
    if ((s = view(w, split, 0, 4, B, nh, T, hd, &w->q)) || (s = view(w, split, part, 4, B, nh, T, hd, &w->k)) ||
        (s = view(w, split, 2 * part, 4, B, nh, T, hd, &w->v)))
        return s;
    /* merge heads: [B, nh, T, hd] -> [B, T, nh, hd] = [B, T, H] */
    const ptm_tensor *merged = w->ao;
    if (T > 1 && nh > 1) {
        if ((s = scratch(ex, PTM_F32, 4, B, T, nh, hd, &w->merged)))
            return s;
        merged = w->merged;
    }
    return view(w, merged, 0, 3, B, T, H, 0, &w->attn_h);
}

/* The F32 additive mask [B, past + T]: 0 where the caller's mask is
 * nonzero, the most negative float (torch.finfo(float32).min) elsewhere. */
static ptm_status build_mask(work *w, const ptm_tensor *am)
{
    int64_t n = ptm_tensor_numel(am);
    ptm_dtype dt = ptm_tensor_dtype(am);
    if (dt != PTM_I64 && dt != PTM_I32 && dt != PTM_BOOL && dt != PTM_F32)
        return ptm_error(PTM_ERR_DTYPE, "attention_mask must be I64, I32, BOOL or F32, not %s", ptm_dtype_name(dt));
    int64_t mshape[2] = {ptm_tensor_dim(am, 0), ptm_tensor_dim(am, 1)};
    ptm_status s = ptm_exec_scratch_host(w->ex, PTM_F32, 2, mshape, &w->mask); /* filled on the host */
    if (s)
        return s;
    float *m = ptm_tensor_data_mut(w->mask);
    if ((s = ptm_convert(ptm_tensor_data(am), dt, m, PTM_F32, (size_t)n)))
        return s;
    for (int64_t i = 0; i < n; i++)
        m[i] = m[i] != 0.0f ? 0.0f : -FLT_MAX;
    return PTM_OK;
}

/* h = wte[ids] + wpe[positions]. */
static ptm_status embed(work *w, const gpt2 *g, const ptm_forward_args *args, int64_t past)
{
    ptm_exec *ex = w->ex;
    const ptm_tensor *pos = args->position_ids;
    ptm_status s;
    if (!pos) {
        ptm_tensor *p;
        int64_t pshape[2] = {w->B, w->T};
        if ((s = ptm_exec_scratch_host(ex, PTM_I64, 2, pshape, &p))) /* filled on the host */
            return s;
        int64_t *d = ptm_tensor_data_mut(p);
        for (int64_t b = 0; b < w->B; b++)
            for (int64_t t = 0; t < w->T; t++)
                d[b * w->T + t] = past + t;
        pos = p;
    } else {
        const int64_t *d = ptm_tensor_data(pos);
        for (int64_t i = 0; i < w->B * w->T; i++)
            if (d[i] < 0 || d[i] >= g->positions)
                return ptm_error(PTM_ERR_INVALID_ARG, "position id %lld at [%lld, %lld] is outside [0, %lld)",
                                 (long long)d[i], (long long)(i / w->T), (long long)(i % w->T),
                                 (long long)g->positions);
    }
    if ((s = ptm_op_embedding(ex, g->wte, args->input_ids, w->h)) || (s = ptm_op_embedding(ex, g->wpe, pos, w->proj)) ||
        (s = ptm_op_add(ex, w->h, w->proj, w->h)))
        return s;
    return PTM_OK;
}

static ptm_status attention_block(work *w, const gpt2 *g, const gpt2_layer *L, int layer, const ptm_forward_args *args,
                                  int64_t past, int64_t cap)
{
    ptm_exec *ex = w->ex;
    ptm_status s;
    if ((s = ptm_op_layer_norm(ex, w->h, L->ln1_w, L->ln1_b, (float)g->eps, w->x)) ||
        (s = ptm_op_matmul(ex, w->x, L->attn_w, L->attn_b, 0, w->qkv)))
        return s;
    if (w->qkvt && (s = ptm_op_transpose(ex, w->qkv4, 1, 2, w->qkvt)))
        return s;
    if (w->q3 && (s = ptm_op_transpose(ex, w->qkvt3, 0, 1, w->q3)))
        return s;
    float scale = g->scale_attn_weights ? (float)(1.0 / sqrt((double)w->hd)) : 1.0f;
    if (g->scale_by_layer)
        scale /= (float)(layer + 1);
    if (args->use_cache) {
        ptm_tensor *K, *V;
        if ((s = ptm_exec_kv(ex, layer, w->B, w->nh, cap, w->hd, &K, &V)) || (s = ptm_op_kv_append(ex, K, past, w->k)) ||
            (s = ptm_op_kv_append(ex, V, past, w->v)) ||
            (s = ptm_op_attention(ex, w->q, K, V, past + w->T, w->mask, 1, scale, w->ao)))
            return s;
    } else if ((s = ptm_op_attention(ex, w->q, w->k, w->v, w->T, w->mask, 1, scale, w->ao))) {
        return s;
    }
    if (w->merged && (s = ptm_op_transpose(ex, w->ao, 1, 2, w->merged)))
        return s;
    if ((s = ptm_op_matmul(ex, w->attn_h, L->proj_w, L->proj_b, 0, w->proj)) || (s = ptm_op_add(ex, w->h, w->proj, w->h)))
        return s;
    return PTM_OK;
}

static ptm_status mlp_block(work *w, const gpt2 *g, const gpt2_layer *L)
{
    ptm_exec *ex = w->ex;
    ptm_status s;
    if ((s = ptm_op_layer_norm(ex, w->h, L->ln2_w, L->ln2_b, (float)g->eps, w->x)) ||
        (s = ptm_op_matmul(ex, w->x, L->fc_w, L->fc_b, 0, w->f)))
        return s;
    switch (g->act) {
    case GPT2_ACT_GELU_TANH: s = ptm_op_gelu(ex, w->f, 1, w->fa); break;
    case GPT2_ACT_GELU_ERF: s = ptm_op_gelu(ex, w->f, 0, w->fa); break;
    case GPT2_ACT_RELU: s = ptm_op_relu(ex, w->f, w->fa); break;
    case GPT2_ACT_SILU: s = ptm_op_silu(ex, w->f, w->fa); break;
    }
    if (s || (s = ptm_op_matmul(ex, w->fa, L->out_w, L->out_b, 0, w->proj)) || (s = ptm_op_add(ex, w->h, w->proj, w->h)))
        return s;
    return PTM_OK;
}

/* The last K positions of every row of the final hidden state w->x
 * [B, T, H], as [B, K, H]: a view when B is 1, else each row's tail copied
 * into a new scratch tensor. */
static ptm_status keep_last(work *w, int64_t K, ptm_tensor **out)
{
    size_t row = (size_t)w->H * sizeof(float);
    if (w->B == 1)
        return view(w, w->x, (size_t)(w->T - K) * row, 3, 1, K, w->H, 0, out);
    ptm_tensor *dst;
    ptm_status s = scratch(w->ex, PTM_F32, 3, w->B, K, w->H, 0, &dst);
    for (int64_t b = 0; !s && b < w->B; b++) {
        ptm_tensor *from, *to;
        if (!(s = view(w, w->x, (size_t)(b * w->T + w->T - K) * row, 3, 1, K, w->H, 0, &from)) &&
            !(s = view(w, dst, (size_t)(b * K) * row, 3, 1, K, w->H, 0, &to)))
            s = ptm_op_copy(w->ex, from, to);
    }
    if (!s)
        *out = dst;
    return s;
}

ptm_status gpt2_forward(void *state, const ptm_model *model, ptm_exec *ex, const ptm_forward_args *args,
                        ptm_tensor **out)
{
    const gpt2 *g = state;
    (void)model;
    if (!g->bound)
        return ptm_error(PTM_ERR_STATE, "gpt2: the model's tensors are not bound");
    const ptm_tensor *ids = args->input_ids;
    work w;
    memset(&w, 0, sizeof w);
    w.ex = ex;
    w.B = ptm_tensor_dim(ids, 0);
    w.T = ptm_tensor_dim(ids, 1);
    w.H = g->hidden;
    w.nh = g->heads;
    w.hd = g->hidden / g->heads;
    w.I = g->inner;
    if (w.B < 1 || w.T < 1)
        return ptm_error(PTM_ERR_INVALID_ARG, "gpt2: input_ids must have batch >= 1 and seq >= 1");
    int64_t past = args->use_cache ? ptm_exec_kv_length(ex) : 0, cap = 0;
    if (args->use_cache) {
        cap = args->cache_capacity > 0 && args->cache_capacity < g->positions ? args->cache_capacity : g->positions;
        if (past + w.T > cap)
            return ptm_error(PTM_ERR_INVALID_ARG, "gpt2: %lld cached + %lld new positions exceed the cache capacity "
                                                  "of %lld", (long long)past, (long long)w.T, (long long)cap);
    }
    ptm_status s = work_init(&w, g);
    if (!s && args->attention_mask)
        s = build_mask(&w, args->attention_mask);
    if (!s)
        s = embed(&w, g, args, past);
    for (int64_t i = 0; !s && i < g->layers; i++) {
        s = attention_block(&w, g, &g->layer[i], (int)i, args, past, cap);
        if (!s)
            s = mlp_block(&w, g, &g->layer[i]);
        if (s)
            s = ptm_error_prefix(s, "block %lld", (long long)i);
    }
    if (!s)
        s = ptm_op_layer_norm(ex, w.h, g->lnf_w, g->lnf_b, (float)g->eps, w.x);
    if (!s && g->head && !args->output_hidden_states) {
        ptm_tensor *logits, *x = w.x;
        int64_t K = args->logits_to_keep > 0 && args->logits_to_keep < w.T ? args->logits_to_keep : w.T;
        if (K < w.T)
            s = keep_last(&w, K, &x);
        if (!s && !(s = scratch(ex, PTM_F32, 3, w.B, K, g->vocab, 0, &logits)) &&
            !(s = ptm_op_matmul(ex, x, g->lm_head, NULL, 1, logits)))
            *out = logits;
    } else if (!s) {
        *out = w.x;
    }
    return s;
}
