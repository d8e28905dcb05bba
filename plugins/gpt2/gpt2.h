/* SPDX-License-Identifier: Apache-2.0 */
/* gpt2.h - the GPT-2 plugin's state, shared by its two source files. */
#ifndef PTM_PLUGIN_GPT2_H
#define PTM_PLUGIN_GPT2_H

#include <ptm/ptm.h>

/* The MLP activation (config "activation_function"). */
typedef enum gpt2_act {
    GPT2_ACT_GELU_TANH = 0, /* gelu_new, gelu_pytorch_tanh, gelu_fast */
    GPT2_ACT_GELU_ERF,      /* gelu */
    GPT2_ACT_RELU,
    GPT2_ACT_SILU           /* silu, swish */
} gpt2_act;

/* Borrowed pointers to one block's tensors (set by bind). */
typedef struct gpt2_layer {
    const ptm_tensor *ln1_w, *ln1_b;
    const ptm_tensor *attn_w, *attn_b; /* c_attn: [H, 3H] (Conv1D: [in, out]), [3H] */
    const ptm_tensor *proj_w, *proj_b; /* attn.c_proj: [H, H], [H] */
    const ptm_tensor *ln2_w, *ln2_b;
    const ptm_tensor *fc_w, *fc_b;     /* mlp.c_fc: [H, I], [I] */
    const ptm_tensor *out_w, *out_b;   /* mlp.c_proj: [I, H], [H] */
} gpt2_layer;

typedef struct gpt2 {
    int head; /* 1: GPT2LMHeadModel (names prefixed "transformer.") */
    int64_t vocab, positions, hidden, layers, heads, inner;
    gpt2_act act;
    double eps;
    int scale_attn_weights, scale_by_layer, tie;
    /* bound tensors (NULL until bind) */
    int bound;
    const ptm_tensor *wte, *wpe, *lnf_w, *lnf_b, *lm_head;
    gpt2_layer *layer; /* [layers] */
} gpt2;

/* The forward pass (gpt2_forward.c). */
ptm_status gpt2_forward(void *state, const ptm_model *model, ptm_exec *ex, const ptm_forward_args *args,
                        ptm_tensor **out);

#endif
