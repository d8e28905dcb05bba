/* SPDX-License-Identifier: Apache-2.0 */
/* model_internal.h - the ptm_model struct and helpers shared by model.c,
 * checkpoint.c and save.c.  Core-private. */
#ifndef PTM_MODEL_INTERNAL_H
#define PTM_MODEL_INTERNAL_H

#include "internal.h"

struct ptm_param_list {
    ptm_param_decl *items; /* name and tied_to point into owned copies */
    size_t n, cap;
};

struct ptm_model {
    ptm_context *ctx;
    ptm_config *config;
    const ptm_arch *arch;
    void *state;
    char *class_name;
    ptm_dtype dtype;
    struct ptm_param_list *decls;
    ptm_state_dict *sd; /* every declared name, tied names share tensors */
    char **files;
    size_t nfiles;
    char **keys[2]; /* PTM_KEYS_MISSING, PTM_KEYS_UNEXPECTED */
    size_t nkeys[2];
    ptm_config *gen_config; /* models that can generate: generation_config.json or derived; else NULL */
    int64_t *gen_eos;       /* its eos_token_id as a list (n_gen_eos == 0: none) */
    size_t n_gen_eos;
};

/* A checkpoint: the opened sources of all weight files of a model. */
typedef struct ckpt_entry {
    const char *name; /* borrowed from the source */
    size_t source;    /* index into sources */
    size_t index;     /* tensor index inside the source */
    int used;
} ckpt_entry;

typedef struct ptm__checkpoint {
    const ptm_format **formats;
    void **sources;
    char **paths;
    size_t nsources;
    ckpt_entry *entries; /* sorted by name */
    size_t nentries;
} ptm__checkpoint;

/* Find the weight files for `path` (a folder or a weights file) and open
 * them.  `dir_out` receives the folder holding config.json (malloc'd). */
ptm_status ptm__checkpoint_open(ptm_context *ctx, const char *path, int from_tf, int from_flax, ptm__checkpoint *ck,
                                char **dir_out);
void ptm__checkpoint_close(ptm__checkpoint *ck);
/* Entry by checkpoint key, or NULL. */
ckpt_entry *ptm__checkpoint_find(ptm__checkpoint *ck, const char *name);

/* The weight file names a folder is searched for, in transformers'
 * priority order (shared by local loading and the Hub client). */
typedef struct ptm__weight_candidate {
    const char *name;
    int is_index; /* a sharded checkpoint's index (.index.json)  */
    int needs;    /* 0: always; 1: only with from_tf; 2: only with from_flax */
} ptm__weight_candidate;
const ptm__weight_candidate *ptm__weight_candidates(size_t *n);
/* The shards an index file names: paths next to the index, sorted, unique
 * (each a plain file name; checked). */
ptm_status ptm__checkpoint_read_index(const char *index_path, char ***shards, size_t *nshards);

/* The generation config (gencfg.c).  Load: `dir`/generation_config.json
 * when it exists, else (also when it cannot be read or parsed: a warning
 * naming it) derived from the model config like
 * GenerationConfig.from_model_config. */
ptm_status ptm__gencfg_load(const char *dir, const ptm_config *model_cfg, ptm_config **out);
ptm_status ptm__gencfg_derive(const ptm_config *model_cfg, ptm_config **out);
/* generation_config.json text as to_json_file(use_diff=True) writes it. */
ptm_status ptm__gencfg_to_json(const ptm_config *g, char **out);
/* eos_token_id (int or list) as a malloc'd list; *n = 0 when absent. */
ptm_status ptm__gencfg_eos(const ptm_config *g, int64_t **ids, size_t *n);

/* Append a copy of `s` to a string vector. */
ptm_status ptm__strv_push(char ***v, size_t *n, const char *s);

#endif
