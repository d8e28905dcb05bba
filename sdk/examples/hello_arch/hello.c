/* SPDX-License-Identifier: Apache-2.0 */
/* hello.c - an example architecture plugin built outside the ptm tree.
 *
 * It serves config.json files with "model_type": "hello" and two classes:
 *
 *   HelloModel        the base model:
 *                       embeddings.word_embeddings.weight  [vocab_size, hidden_size]
 *                       dense.weight                        [hidden_size, hidden_size]
 *                       dense.bias                          [hidden_size]
 *                       LayerNorm.weight                    [hidden_size]
 *                       LayerNorm.bias                      [hidden_size]
 *   HelloForMaskedLM  the same under "hello." (its base_model_prefix), plus
 *                       lm_head.weight  [vocab_size, hidden_size]  tied to the
 *                                       word embedding unless
 *                                       "tie_word_embeddings": false
 *                       lm_head.bias    [vocab_size]
 *
 * The core loads checkpoints saved from either class into either class (it
 * adds or strips "hello."), so the plugin only declares what its class holds.
 * Like every plugin it never prints and never aborts: errors go back as a
 * ptm_status with a message set by ptm_error(). */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hello {
    int head;            /* 1 for HelloForMaskedLM */
    int tie;             /* tie_word_embeddings */
    int64_t vocab_size;
    int64_t hidden_size;
    double layer_norm_eps;
} hello;

static const char *const hello_classes[] = {"HelloModel", "HelloForMaskedLM", NULL};

static ptm_status hello_create(const ptm_config *cfg, const char *class_name, void **state)
{
    hello *h = calloc(1, sizeof *h);
    if (!h)
        return ptm_error(PTM_ERR_NOMEM, "hello: out of memory");
    ptm_status s;
    /* The strict getters fail with a message naming the key and the file. */
    if ((s = ptm_config_get_int(cfg, "vocab_size", &h->vocab_size)) ||
        (s = ptm_config_get_int(cfg, "hidden_size", &h->hidden_size))) {
        free(h);
        return s;
    }
    const char *origin = ptm_config_origin(cfg) ? ptm_config_origin(cfg) : "config";
    if (h->vocab_size <= 0 || h->hidden_size <= 0) {
        const char *key = h->vocab_size <= 0 ? "vocab_size" : "hidden_size";
        long long v = (long long)(h->vocab_size <= 0 ? h->vocab_size : h->hidden_size);
        free(h);
        return ptm_error(PTM_ERR_CONFIG, "%s: \"%s\" must be positive (got %lld)", origin, key, v);
    }
    /* Optional keys take transformers' defaults. */
    h->layer_norm_eps = ptm_config_float(cfg, "layer_norm_eps", 1e-12);
    h->tie = ptm_config_bool(cfg, "tie_word_embeddings", 1);
    h->head = strcmp(class_name, "HelloForMaskedLM") == 0;
    *state = h;
    return PTM_OK;
}

static void hello_destroy(void *state) { free(state); }

/* Declare `name` (prefixed with "hello." in the head class). */
static ptm_status decl(ptm_param_list *list, const hello *h, const char *name, ptm_param_role role, int ndim,
                       int64_t d0, int64_t d1)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", h->head ? "hello." : "", name);
    const int64_t shape[2] = {d0, d1};
    return ptm_param_list_add_simple(list, full, role, ndim, shape);
}

static ptm_status hello_declare(void *state, ptm_param_list *list)
{
    const hello *h = state;
    const int64_t V = h->vocab_size, H = h->hidden_size;
    ptm_status s;
    if ((s = decl(list, h, "embeddings.word_embeddings.weight", PTM_ROLE_EMBEDDING, 2, V, H)) ||
        (s = decl(list, h, "dense.weight", PTM_ROLE_WEIGHT, 2, H, H)) ||
        (s = decl(list, h, "dense.bias", PTM_ROLE_BIAS, 1, H, 0)) ||
        (s = decl(list, h, "LayerNorm.weight", PTM_ROLE_NORM_WEIGHT, 1, H, 0)) ||
        (s = decl(list, h, "LayerNorm.bias", PTM_ROLE_NORM_BIAS, 1, H, 0)))
        return s;
    if (!h->head)
        return PTM_OK;

    /* The LM head: a full declaration, to tie it to the word embedding. */
    ptm_param_decl d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.name = "lm_head.weight";
    d.dtype = PTM_DTYPE_AUTO; /* the model's floating dtype */
    d.ndim = 2;
    d.shape[0] = V;
    d.shape[1] = H;
    d.role = PTM_ROLE_OUTPUT_EMBEDDING;
    d.tied_to = h->tie ? "hello.embeddings.word_embeddings.weight" : NULL;
    if ((s = ptm_param_list_add(list, &d)))
        return s;
    const int64_t vshape[1] = {V};
    return ptm_param_list_add_simple(list, "lm_head.bias", PTM_ROLE_BIAS, 1, vshape);
}

static const ptm_arch hello_arch = {
    .struct_size = sizeof(ptm_arch),
    .model_type = "hello",
    .class_names = hello_classes,
    .base_model_prefix = "hello",
    .create = hello_create,
    .destroy = hello_destroy,
    .declare = hello_declare,
    /* Optional members left NULL: init_buffer (no buffers), bind (nothing to
     * cache), can_generate (not a generative model). */
};

static ptm_status hello_register(ptm_registrar *reg)
{
    return ptm_registrar_add_arch(reg, &hello_arch);
}

static const ptm_plugin hello_plugin = {
    PTM_PLUGIN_HEADER,
    "hello",
    "0.1.0",
    "hello: an example architecture built against the installed ptm SDK",
    "Apache-2.0",
    hello_register,
};

/* The one exported symbol. */
PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &hello_plugin; }
