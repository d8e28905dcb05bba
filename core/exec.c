/* SPDX-License-Identifier: Apache-2.0 */
/* exec.c - the execution context: backend state, scratch arenas (host and,
 * for device backends, device memory), KV cache, resident parameters. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "exec_internal.h"

#include <sched.h>

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
    cpu_set_t set; /* the cores this process may run on (cpusets, containers) */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
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
    ex->ops = PTM__HAS(be, ptm_backend, ops) ? be->ops : NULL;
    if (ex->ops && PTM__HAS(ex->ops, ptm_backend_ops, download) && ex->ops->alloc) {
        if (!ex->ops->upload || !ex->ops->download) {
            free(ex);
            return ptm_error(PTM_ERR_BACKEND, "backend \"%s\" allocates device memory but lacks upload/download", name);
        }
        ex->device = 1;
        ex->dev.device = 1;
    }
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

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->nchunks; i++) {
        free(a->chunks[i].mem);
        ptm_buffer_release(a->chunks[i].dev);
    }
    free(a->chunks);
    a->chunks = NULL;
    a->nchunks = 0;
}

static void resident_clear(ptm_exec *ex)
{
    for (size_t i = 0; i < ex->res_slots; i++)
        if (ex->res[i].host) {
            ptm_tensor_release((ptm_tensor *)ex->res[i].host);
            ptm_tensor_release(ex->res[i].dev);
        }
    free(ex->res);
    ex->res = NULL;
    ex->nres = ex->res_slots = 0;
}

void ptm_exec_free(ptm_exec *ex)
{
    if (!ex)
        return;
    ptm_exec_kv_clear(ex);
    resident_clear(ex);
    free(ex->pinned);
    arena_free(&ex->dev); /* device buffers go back before the backend shuts down */
    arena_free(&ex->host);
    if (ex->bs && PTM__HAS(ex->be, ptm_backend, shutdown) && ex->be->shutdown)
        ex->be->shutdown(ex->bs);
    if (ex->cpu_state && ex->cpu && PTM__HAS(ex->cpu, ptm_backend, shutdown) && ex->cpu->shutdown)
        ex->cpu->shutdown(ex->cpu_state);
    free(ex);
}

const ptm_backend *ptm_exec_backend(const ptm_exec *ex) { return ex ? ex->be : NULL; }
void *ptm_exec_backend_state(const ptm_exec *ex) { return ex ? ex->bs : NULL; }
int ptm_exec_num_threads(const ptm_exec *ex) { return ex ? ex->threads : 0; }
int ptm_exec_is_device(const ptm_exec *ex) { return ex ? ex->device : 0; }

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

static ptm_status chunk_new(ptm_exec *ex, arena *a, size_t cap, arena_chunk *c)
{
    memset(c, 0, sizeof *c);
    c->cap = cap;
    if (a->device) {
        ptm_status s = ex->ops->alloc(ex->bs, cap, &c->dev);
        return s ? ptm_error_prefix(s, "scratch memory on backend \"%s\"", ex->be->name) : PTM_OK;
    }
    c->mem = aligned_alloc(ARENA_ALIGN, cap);
    return c->mem ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "cannot allocate %zu bytes of scratch memory", cap);
}

/* Bump allocation of n bytes; returns the chunk and the offset in it. */
static ptm_status arena_alloc(ptm_exec *ex, arena *a, size_t n, arena_chunk **chunk, size_t *off)
{
    n = align_up(n ? n : 1);
    if (a->nchunks) {
        arena_chunk *c = &a->chunks[a->nchunks - 1];
        if (c->cap - c->used >= n) {
            *chunk = c;
            *off = c->used;
            c->used += n;
            return PTM_OK;
        }
    }
    size_t last = a->nchunks ? a->chunks[a->nchunks - 1].cap : 0;
    size_t cap = last * 2 > n ? last * 2 : n;
    if (cap < (1u << 20))
        cap = 1u << 20;
    arena_chunk *cs = realloc(a->chunks, (a->nchunks + 1) * sizeof *cs);
    if (!cs)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    a->chunks = cs;
    ptm_status s = chunk_new(ex, a, cap, &cs[a->nchunks]);
    if (s)
        return s;
    cs[a->nchunks].used = n;
    *chunk = &cs[a->nchunks];
    *off = 0;
    a->nchunks++;
    return PTM_OK;
}

static void *host_alloc(ptm_exec *ex, size_t n)
{
    arena_chunk *c;
    size_t off;
    return arena_alloc(ex, &ex->host, n, &c, &off) ? NULL : c->mem + off;
}

static void arena_reset(ptm_exec *ex, arena *a)
{
    if (!a->nchunks)
        return;
    if (a->nchunks > 1) { /* coalesce: the next pass fits in one chunk */
        size_t total = 0;
        for (size_t i = 0; i < a->nchunks; i++)
            total += a->chunks[i].cap;
        arena_free(a);
        arena_chunk c;
        a->chunks = calloc(1, sizeof *a->chunks);
        if (!a->chunks || chunk_new(ex, a, align_up(total), &c) != PTM_OK) {
            free(a->chunks);
            a->chunks = NULL;
            ptm_clear_error();
            return; /* the next allocation starts over */
        }
        a->chunks[0] = c;
        a->nchunks = 1;
    }
    a->chunks[0].used = 0;
}

static ptm_status scratch_in(ptm_exec *ex, arena *a, ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out)
{
    size_t nbytes;
    if (!ex || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_exec_scratch: NULL argument");
    ptm_status s = ptm__shape_bytes(dt, ndim, shape, &nbytes);
    if (s)
        return s;
    size_t ts = align_up(ptm__tensor_struct_size()), bs = align_up(ptm__buffer_struct_size());
    if (nbytes > SIZE_MAX / 2)
        return ptm_error(PTM_ERR_OVERFLOW, "scratch tensor too large");
    if (!a->device) { /* structs and data in one host block */
        char *mem = host_alloc(ex, ts + bs + align_up(nbytes ? nbytes : 1));
        if (!mem) {
            char sh[128];
            return ptm_error(PTM_ERR_NOMEM, "cannot allocate a scratch tensor %s of %zu bytes",
                             ptm_shape_str(ndim, shape, sh, sizeof sh), nbytes);
        }
        ptm_buffer *buf = ptm__buffer_place(mem + ts, mem + ts + bs, nbytes);
        return ptm__tensor_place(mem, buf, 0, dt, ndim, shape, out);
    }
    char *mem = host_alloc(ex, ts + bs);
    arena_chunk *c;
    size_t off;
    if (!mem)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    if ((s = arena_alloc(ex, a, nbytes, &c, &off)))
        return s;
    ptm_buffer *buf = ptm__buffer_place_view(mem + ts, c->dev, off, nbytes);
    return ptm__tensor_place(mem, buf, 0, dt, ndim, shape, out);
}

ptm_status ptm_exec_scratch(ptm_exec *ex, ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out)
{
    return scratch_in(ex, ex && ex->device ? &ex->dev : ex ? &ex->host : NULL, dt, ndim, shape, out);
}

ptm_status ptm_exec_scratch_host(ptm_exec *ex, ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out)
{
    return scratch_in(ex, ex ? &ex->host : NULL, dt, ndim, shape, out);
}

ptm_status ptm_exec_scratch_view(ptm_exec *ex, const ptm_tensor *base, size_t byte_offset, int ndim,
                                 const int64_t *shape, ptm_tensor **out)
{
    size_t off;
    if (!ex || !base || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_exec_scratch_view: NULL argument");
    if (ptm__add_ovf(ptm_tensor_offset(base), byte_offset, &off))
        return ptm_error(PTM_ERR_OVERFLOW, "scratch view offset overflows");
    void *mem = host_alloc(ex, ptm__tensor_struct_size());
    if (!mem)
        return ptm_error(PTM_ERR_NOMEM, "cannot allocate a scratch view");
    return ptm__tensor_place(mem, ptm_tensor_buffer(base), off, ptm_tensor_dtype(base), ndim, shape, out);
}

void ptm_exec_reset(ptm_exec *ex)
{
    if (!ex)
        return;
    arena_reset(ex, &ex->host);
    arena_reset(ex, &ex->dev);
}

size_t ptm_exec_scratch_capacity(const ptm_exec *ex)
{
    size_t total = 0;
    for (size_t i = 0; ex && i < ex->host.nchunks; i++)
        total += ex->host.chunks[i].cap;
    for (size_t i = 0; ex && i < ex->dev.nchunks; i++)
        total += ex->dev.chunks[i].cap;
    return total;
}

/* ------------------------------------------------------------ KV cache */

/* A persistent tensor in the exec's memory kind (device or host). */
static ptm_status persistent_tensor(ptm_exec *ex, ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out)
{
    if (!ex->device)
        return ptm_tensor_new(dt, ndim, shape, out);
    size_t nbytes;
    ptm_status s = ptm__shape_bytes(dt, ndim, shape, &nbytes);
    ptm_buffer *b = NULL;
    if (!s)
        s = ex->ops->alloc(ex->bs, nbytes ? nbytes : 1, &b);
    if (!s)
        s = ptm_tensor_from_buffer(b, 0, dt, ndim, shape, out);
    ptm_buffer_release(b);
    return s;
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
        ptm_status s = persistent_tensor(ex, PTM_F32, 4, dims, &L->k);
        if (!s)
            s = persistent_tensor(ex, PTM_F32, 4, dims, &L->v);
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

/* ------------------------------------------------- resident parameters */

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;
    return (x > y) - (x < y);
}

ptm_status ptm__exec_bind_model(ptm_exec *ex, const void *model, const ptm_state_dict *sd)
{
    if (ex->pinned_model == model)
        return PTM_OK;
    size_t n = ptm_state_dict_size(sd);
    const ptm_tensor **p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        p[i] = ptm_state_dict_tensor(sd, i);
    qsort(p, n, sizeof *p, ptr_cmp);
    free(ex->pinned);
    ex->pinned = p;
    ex->npinned = n;
    ex->pinned_model = model;
    return PTM_OK;
}

int ptm__exec_is_pinned(const ptm_exec *ex, const ptm_tensor *t)
{
    return ex->npinned && bsearch(&t, ex->pinned, ex->npinned, sizeof *ex->pinned, ptr_cmp) != NULL;
}

static size_t res_hash(const ptm_tensor *t, size_t slots) { return (size_t)(((uintptr_t)t >> 4) * 0x9e3779b97f4a7c15ull) & (slots - 1); }

ptm_status ptm__exec_resident(ptm_exec *ex, const ptm_tensor *host, ptm_tensor **dev)
{
    if (ex->res_slots) {
        for (size_t h = res_hash(host, ex->res_slots); ex->res[h].host; h = (h + 1) & (ex->res_slots - 1))
            if (ex->res[h].host == host) {
                *dev = ex->res[h].dev;
                return PTM_OK;
            }
    }
    if ((ex->nres + 1) * 2 > ex->res_slots) {
        size_t slots = ex->res_slots ? ex->res_slots * 2 : 256;
        resident_entry *r = calloc(slots, sizeof *r);
        if (!r)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ex->res_slots; i++)
            if (ex->res[i].host) {
                size_t h = res_hash(ex->res[i].host, slots);
                while (r[h].host)
                    h = (h + 1) & (slots - 1);
                r[h] = ex->res[i];
            }
        free(ex->res);
        ex->res = r;
        ex->res_slots = slots;
    }
    ptm_tensor *d;
    ptm_status s = persistent_tensor(ex, ptm_tensor_dtype(host), ptm_tensor_ndim(host), ptm_tensor_shape(host), &d);
    if (!s && (s = ex->ops->upload(ex->bs, host, d)))
        ptm_tensor_release(d);
    if (s)
        return ptm_error_prefix(s, "uploading a parameter to backend \"%s\"", ex->be->name);
    size_t h = res_hash(host, ex->res_slots);
    while (ex->res[h].host)
        h = (h + 1) & (ex->res_slots - 1);
    ex->res[h].host = ptm_tensor_retain((ptm_tensor *)host);
    ex->res[h].dev = d;
    ex->nres++;
    *dev = d;
    return PTM_OK;
}
