/* SPDX-License-Identifier: Apache-2.0 */
/* format.h - the vtable of a checkpoint format plugin.
 *
 * A format opens a weights file as a "tensor source": a list of tensors with
 * names, dtypes and shapes whose data can be loaded (zero copy from a file
 * mapping where possible), and optionally writes a state dict to a file.
 * Sources of non-PyTorch formats present canonical PyTorch names and
 * layouts. */
#ifndef PTM_FORMAT_H
#define PTM_FORMAT_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ptm_tensor_info {
    const char *name; /* borrowed from the source; valid until close */
    ptm_dtype dtype;
    int ndim;
    int64_t shape[PTM_MAX_DIMS];
} ptm_tensor_info;

/* What save_model is told about the model being saved. */
typedef struct ptm_save_info {
    size_t struct_size;
    const char *const *metadata;   /* as for save */
    const char *model_type;        /* "gpt2" */
    const char *class_name;        /* "GPT2LMHeadModel" */
    const char *base_model_prefix; /* "transformer" ("" if none) */
    /* The ptm_param_role (arch.h) of each state-dict entry, in order: tells a
     * writer which tensors are embeddings (Flax "embedding", TF
     * "embeddings"), norm scales ("scale", "gamma") or weights ("kernel"). */
    const int *roles;
    /* The declaration flags (PTM_PARAM_*, arch.h) of each entry, in order:
     * architecture hints for writers, e.g. PTM_PARAM_TF_CONV1D. */
    const unsigned *flags;
} ptm_save_info;

typedef struct ptm_format {
    size_t struct_size; /* sizeof(ptm_format) as compiled by the plugin */
    const char *name;   /* registry name, e.g. "safetensors" */
    /* File names transformers gives this format, NULL-terminated, single file
     * first (e.g. "model.safetensors", "model.safetensors.index.json").
     * May be NULL. */
    const char *const *weight_names;
    const char *extension; /* e.g. ".safetensors" (may be NULL) */

    /* How sure the format is that `path` is its own, from its name and its
     * first `head_len` bytes (head_len may be less than the file's size, and
     * 0 for an empty file): 0 = not mine, 100 = certain.  Required. */
    int (*probe)(const char *path, const uint8_t *head, size_t head_len);

    /* Open and fully validate a file.  On failure: a status and a message
     * that names the file and the problem; *source untouched.  Required. */
    ptm_status (*open)(const char *path, void **source);
    /* Close a source.  Tensors already loaded stay valid.  Required. */
    void (*close)(void *source);
    /* Number of tensors.  Required. */
    size_t (*count)(void *source);
    /* Describe tensor i (0 <= i < count).  Required. */
    ptm_status (*info)(void *source, size_t i, ptm_tensor_info *out);
    /* Load tensor i as a new reference: a view of the file mapping when the
     * bytes allow (zero copy), else a heap copy.  Required. */
    ptm_status (*load)(void *source, size_t i, ptm_tensor **out);
    /* A metadata value of the file (safetensors __metadata__, ...) or NULL.
     * Borrowed; valid until close.  Optional (NULL: no metadata). */
    const char *(*metadata)(void *source, const char *key);

    /* Write `sd` to `path` (a temporary name chosen by the core, which
     * renames it after success; the format just writes the file).  The state
     * dict holds no two names sharing memory.  `metadata` is NULL or a
     * NULL-terminated list of key, value, key, value ... strings.  On failure
     * the format may leave a partial file at `path`; the core removes it.
     * Optional (NULL: read-only format). */
    ptm_status (*save)(const char *path, const ptm_state_dict *sd, const char *const *metadata);

    /* Like save, with what a format that renames tensors needs to know about
     * the model (TF layer names, Flax module paths).  When present the core
     * calls it instead of save.  Optional. */
    ptm_status (*save_model)(const char *path, const ptm_state_dict *sd, const struct ptm_save_info *info);

    /* save_pretrained's max_shard_size when the caller gives none, in bytes:
     * transformers' default for this framework (TF and Flax "10GB").  0 =
     * PyTorch's "5GB".  Optional (ABI 1.1). */
    uint64_t default_max_shard_size;
} ptm_format;

#ifdef __cplusplus
}
#endif
#endif
