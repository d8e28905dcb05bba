/* SPDX-License-Identifier: Apache-2.0 */
/* exec.c - the execution context: backend state, scratch arena, KV cache. */
#include "exec_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_ALIGN 64

void ptm_exec_options_init(ptm_exec_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

static int default_threads(void)
{
    const char *env = getenv("PTM_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n > 0 && n <= 1024)
            return (int)n;
        ptm_log(PTM_LOG_WARN, "PTM_NUM_THREADS=\"%s\" is not a thread count; using the cores available", env);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

ptm_status ptm_exec_new(ptm_context *ctx, const ptm_exec_options *opts, ptm_exec **out)
{
    ptm_exec_options o;
    ptm_exec_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    if (!ctx || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_exec_new: NULL argument");
    const char *name = o.backend ? o.backend : "cpu";
    const ptm_backend *be = ptm_context_find_backend(ctx, name);
    if (!be)
        return PTM_ERR_NOT_FOUND;
    int ndev = be->device_count ? be->device_count() : 0;
    if (ndev <= 0)
        return ptm_error(PTM_ERR_BACKEND, "backend \"%s\" found no usable device", name);
    if (o.device < 0 || o.device >= ndev)
        return ptm_error(PTM_ERR_BACKEND, "backend \"%s\" has %d device(s); device %d does not exist", name, ndev,
                         o.device);
    ptm_exec *ex = calloc(1, sizeof *ex);
    if (!ex)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ex->ctx = ctx;
    ex->be = be;
    ex->threads = o.num_threads > 0 ? o.num_threads : default_threads();
    if (PTM__HAS(be, ptm_backend, init) && be->init) {
        ptm_status s = be->init(o.device, ex->threads, &ex->bs);
        if (s) {
            free(ex);
            return ptm_error_prefix(s, "backend \"%s\" device %d", name, o.device);
        }
    }
    *out = ex;
    return PTM_OK;
}

static void arena_free(ptm_exec *ex)
{
    for (size_t i = 0; i < ex->nchunks; i++)
        free(ex->chunks[i].mem);
    free(ex->chunks);
    ex->chunks = NULL;
    ex->nchunks = 0;
}

void ptm_exec_free(ptm_exec *ex)
{
    if (!ex)
        return;
    ptm_exec_kv_clear(ex);
    if (ex->bs && PTM__HAS(ex->be, ptm_backend, shutdown) && ex->be->shutdown)
        ex->be->shutdown(ex->bs);
    if (ex->cpu_state && ex->cpu && PTM__HAS(ex->cpu, ptm_backend, shutdown) && ex->cpu->shutdown)
        ex->cpu->shutdown(ex->cpu_state);
    arena_free(ex);
    free(ex);
}

const ptm_backend *ptm_exec_backend(const ptm_exec *ex) { return ex ? ex->be : NULL; }
void *ptm_exec_backend_state(const ptm_exec *ex) { return ex ? ex->bs : NULL; }
int ptm_exec_num_threads(const ptm_exec *ex) { return ex ? ex->threads : 0; }

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* Bump allocation; a new chunk (twice the last) when the current is full. */
static void *arena_alloc(ptm_exec *ex, size_t n)
{
    n = align_up(n);
    if (ex->nchunks) {
        arena_chunk *c = &ex->chunks[ex->nchunks - 1];
        if (c->cap - c->used >= n) {
            void *p = c->mem + c->used;
            c->used += n;
            return p;
        }
    }
    size_t last = ex->nchunks ? ex->chunks[ex->nchunks - 1].cap : 0;
    size_t cap = last * 2 > n ? last * 2 : n;
    if (cap < (1u << 20))
        cap = 1u << 20;
    arena_chunk *cs = realloc(ex->chunks, (ex->nchunks + 1) * sizeof *cs);
    if (!cs)
        return NULL;
    ex->chunks = cs;
    void *mem = aligned_alloc(ARENA_ALIGN, cap);
    if (!mem)
        return NULL;
    cs[ex->nchunks].mem = mem;
    cs[ex->nchunks].cap = cap;
    cs[ex->nchunks].used = n;
    ex->nchunks++;
    return mem;
}

ptm_status ptm_exec_scratch(ptm_exec *ex, ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out)
{
    size_t nbytes;
    if (!ex || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_exec_scratch: NULL argument");
    ptm_status s = ptm__shape_bytes(dt, ndim, shape, &nbytes);
    if (s)
        return s;
    size_t ts = align_up(ptm__tensor_struct_size()), bs = align_up(ptm__buffer_struct_size()), total;
    if (ptm__add_ovf(ts + bs, align_up(nbytes ? nbytes : 1), &total))
        return ptm_error(PTM_ERR_OVERFLOW, "scratch tensor too large");
    char *mem = arena_alloc(ex, total);
    if (!mem) {
        char sh[128];
        return ptm_error(PTM_ERR_NOMEM, "cannot allocate a scratch tensor %s of %zu bytes",
                         ptm_shape_str(ndim, shape, sh, sizeof sh), nbytes);
    }
    ptm_buffer *buf = ptm__buffer_place(mem + ts, mem + ts + bs, nbytes);
    return ptm__tensor_place(mem, buf, 0, dt, ndim, shape, out);
}

ptm_status ptm_exec_scratch_view(ptm_exec *ex, const ptm_tensor *base, size_t byte_offset, int ndim,
                                 const int64_t *shape, ptm_tensor **out)
{
    size_t off;
    if (!ex || !base || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_exec_scratch_view: NULL argument");
    if (ptm__add_ovf(ptm_tensor_offset(base), byte_offset, &off))
        return ptm_error(PTM_ERR_OVERFLOW, "scratch view offset overflows");
    void *mem = arena_alloc(ex, ptm__tensor_struct_size());
    if (!mem)
        return ptm_error(PTM_ERR_NOMEM, "cannot allocate a scratch view");
    return ptm__tensor_place(mem, ptm_tensor_buffer(base), off, ptm_tensor_dtype(base), ndim, shape, out);
}

void ptm_exec_reset(ptm_exec *ex)
{
    if (!ex || !ex->nchunks)
        return;
    if (ex->nchunks > 1) { /* coalesce: the next pass fits in one chunk */
        size_t total = 0;
        for (size_t i = 0; i < ex->nchunks; i++)
            total += ex->chunks[i].cap;
        arena_free(ex);
        ex->chunks = calloc(1, sizeof *ex->chunks);
        void *mem = ex->chunks ? aligned_alloc(ARENA_ALIGN, align_up(total)) : NULL;
        if (!mem) {
            free(ex->chunks);
            ex->chunks = NULL;
            return; /* the next alloc starts over */
        }
        ex->chunks[0].mem = mem;
        ex->chunks[0].cap = align_up(total);
        ex->nchunks = 1;
    }
    ex->chunks[0].used = 0;
}

size_t ptm_exec_scratch_capacity(const ptm_exec *ex)
{
    size_t total = 0;
    for (size_t i = 0; ex && i < ex->nchunks; i++)
        total += ex->chunks[i].cap;
    return total;
}

ptm_status ptm_exec_kv(ptm_exec *ex, int layer, int64_t batch, int64_t heads, int64_t max_len, int64_t head_dim,
                       ptm_tensor **k, ptm_tensor **v)
{
    if (!ex || layer < 0 || layer > 100000 || !k || !v)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_exec_kv: bad argument (layer %d)", layer);
    int64_t dims[4] = {batch, heads, max_len, head_dim};
    if ((size_t)layer >= ex->nkv) {
        kv_layer *nk = realloc(ex->kv, (size_t)(layer + 1) * sizeof *nk);
        if (!nk)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        memset(nk + ex->nkv, 0, ((size_t)layer + 1 - ex->nkv) * sizeof *nk);
        ex->kv = nk;
        ex->nkv = (size_t)layer + 1;
    }
    kv_layer *L = &ex->kv[layer];
    if (L->k && memcmp(L->dims, dims, sizeof dims) != 0 && ex->kv_len > 0)
        return ptm_error(PTM_ERR_STATE,
                         "KV cache for layer %d holds %lld positions for batch %lld x %lld heads x %lld rows; a request "
                         "for batch %lld x %lld heads x %lld rows would drop them (clear the cache first)",
                         layer, (long long)ex->kv_len, (long long)L->dims[0], (long long)L->dims[1],
                         (long long)L->dims[2], (long long)batch, (long long)heads, (long long)max_len);
    if (!L->k || memcmp(L->dims, dims, sizeof dims) != 0) {
        ptm_tensor_release(L->k);
        ptm_tensor_release(L->v);
        L->k = L->v = NULL;
        ptm_status s = ptm_tensor_new(PTM_F32, 4, dims, &L->k);
        if (!s)
            s = ptm_tensor_new(PTM_F32, 4, dims, &L->v);
        if (s)
            return ptm_error_prefix(s, "KV cache for layer %d", layer);
        memcpy(L->dims, dims, sizeof dims);
    }
    *k = L->k;
    *v = L->v;
    return PTM_OK;
}

int64_t ptm_exec_kv_length(const ptm_exec *ex) { return ex ? ex->kv_len : 0; }
void ptm_exec_kv_set_length(ptm_exec *ex, int64_t len)
{
    if (ex)
        ex->kv_len = len < 0 ? 0 : len;
}

void ptm_exec_kv_clear(ptm_exec *ex)
{
    if (!ex)
        return;
    for (size_t i = 0; i < ex->nkv; i++) {
        ptm_tensor_release(ex->kv[i].k);
        ptm_tensor_release(ex->kv[i].v);
    }
    free(ex->kv);
    ex->kv = NULL;
    ex->nkv = 0;
    ex->kv_len = 0;
}
