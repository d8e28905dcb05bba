/* SPDX-License-Identifier: Apache-2.0 */
/* shard.h - sharded save_pretrained pieces (shard.c), core-private. */
#ifndef PTM_SHARD_H
#define PTM_SHARD_H

#include "internal.h"

#include <stdint.h>

typedef struct {
    size_t *shard_of;     /* shard index of each state-dict entry */
    size_t nshards;       /* >= 1 */
    uint64_t total_size8; /* sum of tensor sizes in eighths of a byte */
    int total_is_float;   /* a bool tensor made Python's total a float */
} ptm__shard_plan_t;

/* transformers 4.37 shard_checkpoint: entries in order, a new shard when
 * the next tensor would push the current (non-empty) one past max_bytes. */
ptm_status ptm__shard_plan(const ptm_state_dict *sd, uint64_t max_bytes, ptm__shard_plan_t *plan);
void ptm__shard_plan_free(ptm__shard_plan_t *plan);
/* "model.safetensors" (ext ".safetensors"), k = 0, n = 3 ->
 * "model-00001-of-00003.safetensors".  malloc'd, NULL on OOM. */
char *ptm__shard_file_name(const char *weights_name, const char *ext, size_t k, size_t n);
/* The index JSON (metadata.total_size, weight_map) byte for byte as
 * json.dumps(index, indent=2, sort_keys=True) + "\n". */
ptm_status ptm__shard_index_json(const ptm_state_dict *sd, const ptm__shard_plan_t *plan, char *const *shard_names,
                                 char **out);
/* Remove from `dir` the files a previous save left that the new one does
 * not overwrite: transformers' rule (names starting with the weights stem
 * that end in -DDDDD-of-DDDDD and are not in `keep`), plus the single
 * weights file when `sharded`, else the index (`index_name`, may be NULL). */
ptm_status ptm__remove_stale_weights(const char *dir, const char *weights_name, const char *index_name,
                                     char *const *keep, size_t nkeep, int sharded);

#endif
