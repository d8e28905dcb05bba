/* SPDX-License-Identifier: Apache-2.0 */
/* arch.h - the vtable of an architecture plugin.
 *
 * An architecture parses config.json into its own state, declares the
 * parameters and buffers the chosen model class holds (names as PyTorch's
 * state_dict() spells them for that class), and later runs the forward pass.
 * The core loads, converts, ties and saves the tensors. */
#ifndef PTM_ARCH_H
#define PTM_ARCH_H

#include "config.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ptm_model ptm_model;
typedef struct ptm_exec ptm_exec;

/* Inputs of one forward pass. */
typedef struct ptm_forward_args {
    size_t struct_size;
    /* [B, T] I64 token ids (required). */
    const ptm_tensor *input_ids;
    /* NULL, or [B, past + T] (I64, I32, BOOL or F32; nonzero = attend) over
     * the cached and the new positions: padding is masked out. */
    const ptm_tensor *attention_mask;
    /* NULL, or [B, T] I64 positions; NULL means past + 0 .. T-1. */
    const ptm_tensor *position_ids;
    /* 1: attend to the exec's KV cache (past = ptm_exec_kv_length) and append
     * the new keys/values at rows [past, past + T); the core then sets the
     * cache length to past + T.  0: no cache, past = 0. */
    int use_cache;
    /* 1: return the last hidden state even for a head class. */
    int output_hidden_states;
    /* With use_cache: positions to reserve in the cache when it is first
     * allocated (prompt + new tokens); 0 = the model's maximum. */
    int64_t cache_capacity;
    /* transformers' logits_to_keep: 0 = logits for every position; N > 0 =
     * only for the last N positions of each row (*out is then [B, min(N, T),
     * vocab]).  generate passes 1: the prompt's other logits are never
     * needed, which saves the LM head's matmul over them and its memory.
     * Ignored when the hidden state is returned. */
    int64_t logits_to_keep;
} ptm_forward_args;

/* What a parameter is for. */
typedef enum ptm_param_role {
    PTM_ROLE_WEIGHT = 0,         /* a linear/conv weight                      */
    PTM_ROLE_BIAS = 1,
    PTM_ROLE_EMBEDDING = 2,      /* an nn.Embedding weight (input side)       */
    PTM_ROLE_OUTPUT_EMBEDDING = 3, /* the LM head projecting to the vocab     */
    PTM_ROLE_NORM_WEIGHT = 4,    /* layer/rms norm scale (initialised to 1)   */
    PTM_ROLE_NORM_BIAS = 5,
    PTM_ROLE_OTHER = 6
} ptm_param_role;

/* Flags of a declaration. */
#define PTM_PARAM_BUFFER 0x1u         /* a buffer, not a parameter              */
#define PTM_PARAM_NON_PERSISTENT 0x2u /* neither loaded nor saved (buffers)     */
#define PTM_PARAM_FROZEN 0x4u         /* requires_grad = False                  */
/* A weight stored [in, out] by a GPT-2 style Conv1D module, or that
 * module's bias: TensorFlow's TFConv1D names the weight "weight" (not
 * "kernel", so no transpose) and keeps the bias as [1, out].  The name
 * mapping of TF writers cannot tell this from the name; readers need no
 * hint (a TF "weight" is never transposed, [1, n] biases are squeezed). */
#define PTM_PARAM_TF_CONV1D 0x8u

typedef struct ptm_param_decl {
    size_t struct_size; /* sizeof(ptm_param_decl) */
    const char *name;   /* full state-dict name for this class (copied)        */
    /* PTM_DTYPE_AUTO: the model's floating dtype (the load dtype); any other
     * value is kept as is (integer or bool buffers, say). */
    ptm_dtype dtype;
    int ndim;
    int64_t shape[PTM_MAX_DIMS];
    ptm_param_role role;
    unsigned flags;
    /* NULL, or the name of an earlier declaration whose data this one shares
     * (tie_word_embeddings): the tied name is never saved and, on load, is
     * given the target's tensor.  Copied. */
    const char *tied_to;
} ptm_param_decl;

/* Collects declarations; see ptm_param_list_add. */
typedef struct ptm_param_list ptm_param_list;

/* Append a declaration (copied).  PTM_ERR_EXISTS for a duplicate name,
 * PTM_ERR_NOT_FOUND if tied_to names no earlier declaration,
 * PTM_ERR_INVALID_ARG for a bad shape. */
PTM_API ptm_status ptm_param_list_add(ptm_param_list *list, const ptm_param_decl *decl);
/* Convenience: declare a parameter with role, flags 0, no tie. */
PTM_API ptm_status ptm_param_list_add_simple(ptm_param_list *list, const char *name, ptm_param_role role,
                                             int ndim, const int64_t *shape);

typedef struct ptm_arch {
    size_t struct_size;              /* sizeof(ptm_arch) as compiled by the plugin */
    const char *model_type;          /* config.json "model_type", e.g. "gpt2" */
    /* Class names served (config.json "architectures" entries), NULL
     * terminated; the first is the base model class used when config.json
     * names no class (AutoModel behaviour). */
    const char *const *class_names;
    /* transformers' base_model_prefix ("transformer" for GPT-2); "" if the
     * architecture has no head classes. */
    const char *base_model_prefix;

    /* Parse `cfg` for model class `class_name` (one of class_names) into a
     * new state.  Errors name the config key.  Required. */
    ptm_status (*create)(const ptm_config *cfg, const char *class_name, void **state);
    /* Free the state.  Required. */
    void (*destroy)(void *state);
    /* Declare the parameters and buffers of the model class in state-dict
     * order.  Required. */
    ptm_status (*declare)(void *state, ptm_param_list *params);
    /* Fill buffer `name` (declared with PTM_PARAM_BUFFER) whose tensor `t`
     * the core allocated zeroed.  Optional (NULL: buffers stay zero). */
    ptm_status (*init_buffer)(void *state, const char *name, ptm_tensor *t);
    /* Called once the model's tensors are in place (to cache pointers
     * through ptm_model_param).  Optional. */
    ptm_status (*bind)(void *state, ptm_model *model);
    /* 1 if the class has a generation head (an LM head).  Optional (NULL: 0). */
    int (*can_generate)(void *state);
    /* Run the model: *out receives logits [B, T, vocab] (f32) for a head
     * class, or the last hidden state [B, T, hidden] for a base class (or
     * when args->output_hidden_states), as a scratch tensor of `ex` (valid
     * until the next ptm_exec_reset).  Must not modify the model.  Optional
     * (NULL: the architecture cannot run). */
    ptm_status (*forward)(void *state, const ptm_model *model, ptm_exec *ex, const ptm_forward_args *args,
                          ptm_tensor **out);
    /* Largest number of positions (max_position_embeddings); 0 = unbounded.
     * Optional. */
    int64_t (*max_positions)(void *state);
    /* 1 if an unexpected checkpoint key is known and dropped silently
     * (transformers' _keys_to_ignore_on_load_unexpected, e.g. GPT-2's legacy
     * attn.bias buffers).  Optional (NULL: every unexpected key is reported). */
    int (*ignore_key)(void *state, const char *key);
} ptm_arch;

#ifdef __cplusplus
}
#endif
#endif
