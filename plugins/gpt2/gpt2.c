/* SPDX-License-Identifier: Apache-2.0 */
/* gpt2.c - the GPT-2 architecture as transformers 4.37 defines it
 * (modeling_gpt2.py): config parsing, the parameter list of GPT2Model and
 * GPT2LMHeadModel in state_dict() order, binding, plugin registration.
 * The forward pass is in gpt2_forward.c.
 *
 * GPT-2's linear layers are Conv1D modules: their weights are stored
 * [in_features, out_features], the transpose of nn.Linear's. */
#include "gpt2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gpt2_classes[] = {"GPT2Model", "GPT2LMHeadModel", NULL};

static const char *origin(const ptm_config *cfg)
{
    const char *o = ptm_config_origin(cfg);
    return o ? o : "config";
}

/* n_inner: an integer, or null/absent for 4 * n_embd. */
static ptm_status parse_inner(const ptm_config *cfg, gpt2 *g)
{
    if (ptm_config_get_int(cfg, "n_inner", &g->inner) == PTM_OK)
        return PTM_OK;
    g->inner = 4 * g->hidden;
    if (!ptm_config_has(cfg, "n_inner"))
        return PTM_OK;
    /* present but not an integer: null is fine, anything else is not */
    int is_null = ptm_config_string(cfg, "n_inner", NULL) == NULL && ptm_config_bool(cfg, "n_inner", -1) == -1 &&
                  ptm_config_float(cfg, "n_inner", -1.5) == -1.5 && ptm_config_array_size(cfg, "n_inner") == 0;
    if (!is_null)
        return ptm_error(PTM_ERR_CONFIG, "%s: key \"n_inner\" must be an integer or null", origin(cfg));
    return PTM_OK;
}

static ptm_status parse_activation(const ptm_config *cfg, gpt2 *g)
{
    if (ptm_config_has(cfg, "activation_function") && !ptm_config_string(cfg, "activation_function", NULL))
        return ptm_error(PTM_ERR_CONFIG, "%s: key \"activation_function\" must be a string", origin(cfg));
    const char *a = ptm_config_string(cfg, "activation_function", "gelu_new");
    if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast"))
        g->act = GPT2_ACT_GELU_TANH;
    else if (!strcmp(a, "gelu"))
        g->act = GPT2_ACT_GELU_ERF;
    else if (!strcmp(a, "relu"))
        g->act = GPT2_ACT_RELU;
    else if (!strcmp(a, "silu") || !strcmp(a, "swish"))
        g->act = GPT2_ACT_SILU;
    else
        return ptm_error(PTM_ERR_UNSUPPORTED,
                         "%s: activation_function \"%s\" is not supported (gelu_new, gelu_pytorch_tanh, gelu_fast, "
                         "gelu, relu, silu, swish are)",
                         origin(cfg), a);
    return PTM_OK;
}

static ptm_status gpt2_create(const ptm_config *cfg, const char *cls, void **state)
{
    gpt2 *g = calloc(1, sizeof *g);
    if (!g)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_status s;
    if ((s = ptm_config_get_int(cfg, "vocab_size", &g->vocab)) ||
        (s = ptm_config_get_int(cfg, "n_positions", &g->positions)) ||
        (s = ptm_config_get_int(cfg, "n_embd", &g->hidden)) || (s = ptm_config_get_int(cfg, "n_layer", &g->layers)) ||
        (s = ptm_config_get_int(cfg, "n_head", &g->heads)))
        goto fail;
    const struct {
        const char *key;
        int64_t v, max;
    } lim[] = {{"vocab_size", g->vocab, (int64_t)1 << 32},
               {"n_positions", g->positions, (int64_t)1 << 24},
               {"n_embd", g->hidden, (int64_t)1 << 20},
               {"n_layer", g->layers, 100000},
               {"n_head", g->heads, (int64_t)1 << 20}};
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].v <= 0 || lim[i].v > lim[i].max) {
            s = ptm_error(PTM_ERR_CONFIG, "%s: key \"%s\" is %lld; it must be in [1, %lld]", origin(cfg), lim[i].key,
                          (long long)lim[i].v, (long long)lim[i].max);
            goto fail;
        }
    if (g->hidden % g->heads != 0) {
        s = ptm_error(PTM_ERR_CONFIG, "%s: n_embd (%lld) must be a multiple of n_head (%lld)", origin(cfg),
                      (long long)g->hidden, (long long)g->heads);
        goto fail;
    }
    if ((s = parse_inner(cfg, g)))
        goto fail;
    if (g->inner <= 0 || g->inner > ((int64_t)1 << 24)) {
        s = ptm_error(PTM_ERR_CONFIG, "%s: key \"n_inner\" is %lld; it must be in [1, %lld]", origin(cfg),
                      (long long)g->inner, (long long)1 << 24);
        goto fail;
    }
    if ((s = parse_activation(cfg, g)))
        goto fail;
    if (ptm_config_bool(cfg, "add_cross_attention", 0)) {
        s = ptm_error(PTM_ERR_UNSUPPORTED, "%s: add_cross_attention (GPT-2 as a decoder with cross-attention) is "
                                           "not supported", origin(cfg));
        goto fail;
    }
    g->eps = ptm_config_float(cfg, "layer_norm_epsilon", 1e-5);
    if (!(g->eps >= 0)) {
        s = ptm_error(PTM_ERR_CONFIG, "%s: key \"layer_norm_epsilon\" must be >= 0", origin(cfg));
        goto fail;
    }
    g->scale_attn_weights = ptm_config_bool(cfg, "scale_attn_weights", 1);
    g->scale_by_layer = ptm_config_bool(cfg, "scale_attn_by_inverse_layer_idx", 0);
    g->tie = ptm_config_bool(cfg, "tie_word_embeddings", 1);
    /* reorder_and_upcast_attn only changes the precision of torch's half
     * compute; ptm computes attention in f32 in any case. */
    g->head = cls && !strcmp(cls, "GPT2LMHeadModel");
    *state = g;
    return PTM_OK;
fail:
    free(g);
    return s;
}

static void gpt2_destroy(void *state)
{
    gpt2 *g = state;
    if (!g)
        return;
    free(g->layer);
    free(g);
}

/* "transformer." for the head class. */
static const char *pfx(const gpt2 *g) { return g->head ? "transformer." : ""; }

static ptm_status add_flags(ptm_param_list *l, const gpt2 *g, const char *name, ptm_param_role role, unsigned flags,
                            int ndim, int64_t d0, int64_t d1)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", pfx(g), name);
    ptm_param_decl d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.name = full;
    d.dtype = PTM_DTYPE_AUTO;
    d.ndim = ndim;
    d.shape[0] = d0;
    d.shape[1] = d1;
    d.role = role;
    d.flags = flags;
    return ptm_param_list_add(l, &d);
}

static ptm_status add(ptm_param_list *l, const gpt2 *g, const char *name, ptm_param_role role, int ndim, int64_t d0,
                      int64_t d1)
{
    return add_flags(l, g, name, role, 0, ndim, d0, d1);
}

/* One block, in the order of GPT2Block's state_dict. */
static ptm_status declare_layer(ptm_param_list *l, const gpt2 *g, int64_t i)
{
    const int64_t H = g->hidden, I = g->inner;
    const struct {
        const char *name;
        ptm_param_role role;
        int ndim;
        int64_t d0, d1;
    } p[] = {
        {"ln_1.weight", PTM_ROLE_NORM_WEIGHT, 1, H, 0},
        {"ln_1.bias", PTM_ROLE_NORM_BIAS, 1, H, 0},
        {"attn.c_attn.weight", PTM_ROLE_WEIGHT, 2, H, 3 * H},
        {"attn.c_attn.bias", PTM_ROLE_BIAS, 1, 3 * H, 0},
        {"attn.c_proj.weight", PTM_ROLE_WEIGHT, 2, H, H},
        {"attn.c_proj.bias", PTM_ROLE_BIAS, 1, H, 0},
        {"ln_2.weight", PTM_ROLE_NORM_WEIGHT, 1, H, 0},
        {"ln_2.bias", PTM_ROLE_NORM_BIAS, 1, H, 0},
        {"mlp.c_fc.weight", PTM_ROLE_WEIGHT, 2, H, I},
        {"mlp.c_fc.bias", PTM_ROLE_BIAS, 1, I, 0},
        {"mlp.c_proj.weight", PTM_ROLE_WEIGHT, 2, I, H},
        {"mlp.c_proj.bias", PTM_ROLE_BIAS, 1, H, 0},
    };
    for (size_t j = 0; j < sizeof p / sizeof p[0]; j++) {
        char n[96];
        snprintf(n, sizeof n, "h.%lld.%s", (long long)i, p[j].name);
        /* c_attn, c_proj, c_fc are Conv1D modules (weights [in, out]) */
        unsigned flags = strstr(p[j].name, ".c_") ? PTM_PARAM_TF_CONV1D : 0;
        ptm_status s = add_flags(l, g, n, p[j].role, flags, p[j].ndim, p[j].d0, p[j].d1);
        if (s)
            return s;
    }
    return PTM_OK;
}

static ptm_status gpt2_declare(void *state, ptm_param_list *l)
{
    const gpt2 *g = state;
    ptm_status s;
    if ((s = add(l, g, "wte.weight", PTM_ROLE_EMBEDDING, 2, g->vocab, g->hidden)) ||
        (s = add(l, g, "wpe.weight", PTM_ROLE_EMBEDDING, 2, g->positions, g->hidden)))
        return s;
    for (int64_t i = 0; i < g->layers; i++)
        if ((s = declare_layer(l, g, i)))
            return s;
    if ((s = add(l, g, "ln_f.weight", PTM_ROLE_NORM_WEIGHT, 1, g->hidden, 0)) ||
        (s = add(l, g, "ln_f.bias", PTM_ROLE_NORM_BIAS, 1, g->hidden, 0)))
        return s;
    if (!g->head)
        return PTM_OK;
    ptm_param_decl d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.name = "lm_head.weight";
    d.dtype = PTM_DTYPE_AUTO;
    d.ndim = 2;
    d.shape[0] = g->vocab;
    d.shape[1] = g->hidden;
    d.role = PTM_ROLE_OUTPUT_EMBEDDING;
    d.tied_to = g->tie ? "transformer.wte.weight" : NULL;
    return ptm_param_list_add(l, &d);
}

static ptm_status get(const ptm_model *m, const gpt2 *g, const char *name, const ptm_tensor **out)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", pfx(g), name);
    *out = ptm_model_param(m, full);
    return *out ? PTM_OK : ptm_error(PTM_ERR_NOT_FOUND, "gpt2: the model has no tensor \"%s\"", full);
}

static ptm_status gpt2_bind(void *state, ptm_model *m)
{
    gpt2 *g = state;
    g->bound = 0;
    gpt2_layer *L = calloc((size_t)g->layers, sizeof *L);
    if (!L)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    free(g->layer);
    g->layer = L;
    ptm_status s;
    if ((s = get(m, g, "wte.weight", &g->wte)) || (s = get(m, g, "wpe.weight", &g->wpe)) ||
        (s = get(m, g, "ln_f.weight", &g->lnf_w)) || (s = get(m, g, "ln_f.bias", &g->lnf_b)))
        return s;
    g->lm_head = NULL;
    if (g->head && !(g->lm_head = ptm_model_param(m, "lm_head.weight")))
        return ptm_error(PTM_ERR_NOT_FOUND, "gpt2: the model has no tensor \"lm_head.weight\"");
    for (int64_t i = 0; i < g->layers; i++) {
        const struct {
            const char *name;
            const ptm_tensor **dst;
        } p[] = {
            {"ln_1.weight", &L[i].ln1_w},      {"ln_1.bias", &L[i].ln1_b},
            {"attn.c_attn.weight", &L[i].attn_w}, {"attn.c_attn.bias", &L[i].attn_b},
            {"attn.c_proj.weight", &L[i].proj_w}, {"attn.c_proj.bias", &L[i].proj_b},
            {"ln_2.weight", &L[i].ln2_w},      {"ln_2.bias", &L[i].ln2_b},
            {"mlp.c_fc.weight", &L[i].fc_w},   {"mlp.c_fc.bias", &L[i].fc_b},
            {"mlp.c_proj.weight", &L[i].out_w}, {"mlp.c_proj.bias", &L[i].out_b},
        };
        for (size_t j = 0; j < sizeof p / sizeof p[0]; j++) {
            char n[96];
            snprintf(n, sizeof n, "h.%lld.%s", (long long)i, p[j].name);
            if ((s = get(m, g, n, p[j].dst)))
                return s;
        }
    }
    g->bound = 1;
    return PTM_OK;
}

static int gpt2_can_generate(void *state) { return ((const gpt2 *)state)->head; }

static int64_t gpt2_max_positions(void *state) { return ((const gpt2 *)state)->positions; }

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* transformers' _keys_to_ignore_on_load_unexpected: the causal-mask buffers
 * that checkpoints written before they became non-persistent still hold. */
static int gpt2_ignore_key(void *state, const char *key)
{
    (void)state;
    return ends_with(key, ".attn.bias") || ends_with(key, ".attn.masked_bias");
}

static const ptm_arch gpt2_arch = {
    .struct_size = sizeof(ptm_arch),
    .model_type = "gpt2",
    .class_names = gpt2_classes,
    .base_model_prefix = "transformer",
    .create = gpt2_create,
    .destroy = gpt2_destroy,
    .declare = gpt2_declare,
    .bind = gpt2_bind,
    .can_generate = gpt2_can_generate,
    .forward = gpt2_forward,
    .max_positions = gpt2_max_positions,
    .ignore_key = gpt2_ignore_key,
};

static ptm_status gpt2_register(ptm_registrar *reg) { return ptm_registrar_add_arch(reg, &gpt2_arch); }

static const ptm_plugin gpt2_plugin = {
    PTM_PLUGIN_HEADER, "gpt2", "0.1.0", "GPT-2 (GPT2Model, GPT2LMHeadModel) as in transformers 4.37", "Apache-2.0",
    gpt2_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &gpt2_plugin; }
