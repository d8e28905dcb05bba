/* SPDX-License-Identifier: Apache-2.0 */
/* tiny.c - a small test architecture ("ptm-tiny") that exercises what the
 * core does for every architecture: config parsing, base and head classes,
 * base_model_prefix, embedding roles, a tied LM head, persistent and
 * non-persistent buffers.  It has no forward pass.
 *
 * Classes: TinyModel (base; names "embed.weight", ...) and TinyForCausalLM
 * (names "model.embed.weight", ..., "lm_head.weight"). */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tiny {
    int head;
    int64_t vocab, hidden, layers, positions;
    int tie;
} tiny;

static const char *const tiny_classes[] = {"TinyModel", "TinyForCausalLM", NULL};

static ptm_status tiny_create(const ptm_config *cfg, const char *cls, void **state)
{
    tiny *t = calloc(1, sizeof *t);
    if (!t)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_status s;
    if ((s = ptm_config_get_int(cfg, "vocab_size", &t->vocab)) ||
        (s = ptm_config_get_int(cfg, "hidden_size", &t->hidden)) ||
        (s = ptm_config_get_int(cfg, "num_layers", &t->layers))) {
        free(t);
        return s;
    }
    t->positions = ptm_config_int(cfg, "max_position_embeddings", 16);
    t->tie = ptm_config_bool(cfg, "tie_word_embeddings", 1);
    t->head = strcmp(cls, "TinyForCausalLM") == 0;
    if (t->vocab <= 0 || t->hidden <= 0 || t->layers < 0 || t->layers > 1000 || t->positions <= 0) {
        free(t);
        return ptm_error(PTM_ERR_CONFIG, "%s: vocab_size, hidden_size, max_position_embeddings must be positive",
                         ptm_config_origin(cfg) ? ptm_config_origin(cfg) : "config");
    }
    *state = t;
    return PTM_OK;
}

static void tiny_destroy(void *state) { free(state); }

static ptm_status add(ptm_param_list *l, const tiny *t, const char *name, ptm_param_role role, int ndim,
                      int64_t d0, int64_t d1)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", t->head ? "model." : "", name);
    int64_t shape[2] = {d0, d1};
    return ptm_param_list_add_simple(l, full, role, ndim, shape);
}

static ptm_status add_buffer(ptm_param_list *l, const tiny *t, const char *name, ptm_dtype dt, unsigned flags,
                             int64_t d0, int64_t d1)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", t->head ? "model." : "", name);
    ptm_param_decl d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.name = full;
    d.dtype = dt;
    d.ndim = 2;
    d.shape[0] = d0;
    d.shape[1] = d1;
    d.role = PTM_ROLE_OTHER;
    d.flags = PTM_PARAM_BUFFER | flags;
    return ptm_param_list_add(l, &d);
}

static ptm_status tiny_declare(void *state, ptm_param_list *l)
{
    const tiny *t = state;
    int64_t H = t->hidden;
    ptm_status s;
    if ((s = add(l, t, "embed.weight", PTM_ROLE_EMBEDDING, 2, t->vocab, H)) ||
        (s = add(l, t, "pos.weight", PTM_ROLE_EMBEDDING, 2, t->positions, H)))
        return s;
    for (int64_t i = 0; i < t->layers; i++) {
        char n[64];
        snprintf(n, sizeof n, "layers.%lld.norm.weight", (long long)i);
        if ((s = add(l, t, n, PTM_ROLE_NORM_WEIGHT, 1, H, 0)))
            return s;
        snprintf(n, sizeof n, "layers.%lld.norm.bias", (long long)i);
        if ((s = add(l, t, n, PTM_ROLE_NORM_BIAS, 1, H, 0)))
            return s;
        snprintf(n, sizeof n, "layers.%lld.proj.weight", (long long)i);
        if ((s = add(l, t, n, PTM_ROLE_WEIGHT, 2, H, H)))
            return s;
        snprintf(n, sizeof n, "layers.%lld.proj.bias", (long long)i);
        if ((s = add(l, t, n, PTM_ROLE_BIAS, 1, H, 0)))
            return s;
    }
    if ((s = add(l, t, "final_norm.weight", PTM_ROLE_NORM_WEIGHT, 1, H, 0)) ||
        (s = add(l, t, "final_norm.bias", PTM_ROLE_NORM_BIAS, 1, H, 0)) ||
        (s = add_buffer(l, t, "position_ids", PTM_I64, 0, 1, t->positions)) ||
        (s = add_buffer(l, t, "causal_mask", PTM_BOOL, PTM_PARAM_NON_PERSISTENT, t->positions, t->positions)))
        return s;
    if (t->head) {
        ptm_param_decl d;
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        d.name = "lm_head.weight";
        d.dtype = PTM_DTYPE_AUTO;
        d.ndim = 2;
        d.shape[0] = t->vocab;
        d.shape[1] = H;
        d.role = PTM_ROLE_OUTPUT_EMBEDDING;
        d.tied_to = t->tie ? "model.embed.weight" : NULL;
        if ((s = ptm_param_list_add(l, &d)))
            return s;
    }
    return PTM_OK;
}

static ptm_status tiny_init_buffer(void *state, const char *name, ptm_tensor *t)
{
    const tiny *m = state;
    int64_t P = m->positions;
    if (strstr(name, "causal_mask")) {
        unsigned char *p = ptm_tensor_data_mut(t);
        for (int64_t i = 0; i < P; i++)
            for (int64_t j = 0; j < P; j++)
                p[i * P + j] = j <= i;
    } else if (strstr(name, "position_ids")) {
        int64_t *p = ptm_tensor_data_mut(t);
        for (int64_t i = 0; i < P; i++)
            p[i] = i;
    }
    return PTM_OK;
}

static int tiny_can_generate(void *state) { return ((const tiny *)state)->head; }

static const ptm_arch tiny_arch = {
    .struct_size = sizeof(ptm_arch),
    .model_type = "ptm-tiny",
    .class_names = tiny_classes,
    .base_model_prefix = "model",
    .create = tiny_create,
    .destroy = tiny_destroy,
    .declare = tiny_declare,
    .init_buffer = tiny_init_buffer,
    .can_generate = tiny_can_generate,
};

static ptm_status tiny_register(ptm_registrar *reg) { return ptm_registrar_add_arch(reg, &tiny_arch); }

static const ptm_plugin tiny_plugin = {
    PTM_PLUGIN_HEADER, "tiny", "0.1.0", "ptm-tiny: a test architecture without compute", "Apache-2.0",
    tiny_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &tiny_plugin; }
