/* SPDX-License-Identifier: Apache-2.0 */
/* exec_internal.h - the ptm_exec struct (exec.c, ops.c, forward.c).
 * Core-private. */
#ifndef PTM_EXEC_INTERNAL_H
#define PTM_EXEC_INTERNAL_H

#include "internal.h"

#include <stddef.h>

/* One block of an arena: host memory, or a device buffer. */
typedef struct arena_chunk {
    char *mem;       /* host arenas */
    ptm_buffer *dev; /* device arenas */
    size_t cap, used;
} arena_chunk;

typedef struct arena {
    arena_chunk *chunks;
    size_t nchunks;
    int device;
} arena;

typedef struct kv_layer {
    ptm_tensor *k, *v;
    int64_t dims[4];
} kv_layer;

/* Open-addressing map from a host tensor to its resident device copy. */
typedef struct resident_entry {
    const ptm_tensor *host; /* retained */
    ptm_tensor *dev;
} resident_entry;

struct ptm_exec {
    ptm_context *ctx;
    const ptm_backend *be;
    void *bs;
    int threads;
    int device;                 /* the backend keeps tensors in device memory */
    const ptm_backend_ops *ops; /* be->ops when present */
    /* CPU fallback for ops the backend lacks (lazily created) */
    const ptm_backend *cpu;
    void *cpu_state;
    unsigned long long fallback_logged[(PTM_OP_COUNT + 63) / 64];
    arena host;                 /* structs, host scratch */
    arena dev;                  /* device scratch (device backends) */
    kv_layer *kv;
    size_t nkv;
    int64_t kv_len;
    /* device backends: the model parameters (uploaded once) */
    const void *pinned_model;
    const ptm_tensor **pinned; /* sorted pointers */
    size_t npinned;
    resident_entry *res;
    size_t nres, res_slots;
};

/* Device copy of a model parameter, uploaded on first use. */
ptm_status ptm__exec_resident(ptm_exec *ex, const ptm_tensor *host, ptm_tensor **dev);
/* 1 if `t` is a parameter of the model bound with ptm__exec_bind_model. */
int ptm__exec_is_pinned(const ptm_exec *ex, const ptm_tensor *t);
/* Record the tensors of `sd` as the parameters of `model` (device execs). */
ptm_status ptm__exec_bind_model(ptm_exec *ex, const void *model, const ptm_state_dict *sd);

#endif
