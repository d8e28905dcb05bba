/* SPDX-License-Identifier: Apache-2.0 */
/* exec_internal.h - the ptm_exec struct (exec.c, ops.c).  Core-private. */
#ifndef PTM_EXEC_INTERNAL_H
#define PTM_EXEC_INTERNAL_H

#include "internal.h"

#include <stddef.h>

typedef struct arena_chunk {
    char *mem;
    size_t cap, used;
} arena_chunk;

typedef struct kv_layer {
    ptm_tensor *k, *v;
    int64_t dims[4];
} kv_layer;

struct ptm_exec {
    ptm_context *ctx;
    const ptm_backend *be;
    void *bs;
    int threads;
    /* CPU fallback for ops the backend lacks (lazily created) */
    const ptm_backend *cpu;
    void *cpu_state;
    unsigned long long fallback_logged[(PTM_OP_COUNT + 63) / 64];
    arena_chunk *chunks;
    size_t nchunks;
    kv_layer *kv;
    size_t nkv;
    int64_t kv_len;
};

#endif
