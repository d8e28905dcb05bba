/* SPDX-License-Identifier: Apache-2.0 */
/* mp_read.c - the Flax msgpack reader (formats.md §3): probe, open (the
 * bytes are pre-scanned by mp_scan, then parsed zero-copy by msgpack-c from
 * the file mapping), the Flax -> PyTorch name and layout mapping of §3.6,
 * load (a view of the mapping when the bytes allow, else a copy), and the
 * plugin descriptor.  The writer is in mp_write.c. */
#include "mp_internal.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mp_chunk {
    size_t off, nbytes;
} mp_chunk;

typedef struct mp_entry {
    char *name;                    /* PyTorch name */
    char *key;                     /* the Flax key path, "/"-joined and quoted */
    ptm_dtype dt;
    int ndim, permuted;
    int64_t fshape[PTM_MAX_DIMS];  /* as stored */
    int64_t shape[PTM_MAX_DIMS];   /* as presented */
    int perm[PTM_MAX_DIMS];
    size_t nbytes;
    mp_chunk one;                  /* the data of a plain leaf */
    mp_chunk *chunks;              /* chunked arrays: nchunks pieces */
    size_t nchunks;
} mp_entry;

typedef struct mp_source {
    char *path;
    ptm_buffer *buf;
    const uint8_t *base;
    size_t len;
    mp_entry *e;
    size_t n, cap;
    /* walking */
    const char *comp[MP_MAX_DEPTH + 4];
    size_t comp_len[MP_MAX_DEPTH + 4];
    int drop_first; /* a {params, batch_stats} top level */
} mp_source;

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* The quoted "/"-joined key path of the first `depth` components. */
static void key_path(const mp_source *src, int depth, char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < depth; i++) {
        char q[200];
        mp_quote(src->comp[i], src->comp_len[i], 60, q, sizeof q);
        int w = snprintf(out + o, outsz - o, "%s%s", i ? "/" : "", q);
        if (w < 0 || (size_t)w >= outsz - o)
            break;
        o += (size_t)w;
    }
}

#define KEY_FAIL(st, ...)                                                                          \
    do {                                                                                           \
        char kp_[600], m_[600];                                                                    \
        key_path(src, depth, kp_, sizeof kp_);                                                     \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        return mp_fail(src->path, (st), "key \"%s\": %s", kp_, m_);                                \
    } while (0)

static const char *type_name(msgpack_object_type t)
{
    switch (t) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "a float";
    case MSGPACK_OBJECT_STR: return "a string";
    case MSGPACK_OBJECT_ARRAY: return "an array";
    case MSGPACK_OBJECT_MAP: return "a map";
    case MSGPACK_OBJECT_BIN: return "bytes";
    case MSGPACK_OBJECT_EXT: return "an ext object";
    default: return "an unknown object";
    }
}

static int str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

/* Where `p` (n bytes) lies in the mapping; -1 if outside (never, with
 * msgpack-c's zero-copy unpack of the mapping, but checked). */
static int span_of(const mp_source *src, const char *p, size_t n, size_t *off)
{
    const uint8_t *q = (const uint8_t *)p;
    if (n == 0) { /* msgpack-c gives empty bin/str a NULL pointer */
        *off = 0;
        return 0;
    }
    if (!q || q < src->base || (size_t)(q - src->base) > src->len || n > src->len - (size_t)(q - src->base))
        return -1;
    *off = (size_t)(q - src->base);
    return 0;
}

/* Decode the payload of an ext type 1 leaf: [shape, dtype name, bytes]. */
static ptm_status decode_ndarray(mp_source *src, int depth, const msgpack_object_ext *x, ptm_dtype *dt, int *ndim,
                                 int64_t *shape, mp_chunk *data)
{
    const uint8_t *p = (const uint8_t *)x->ptr;
    size_t off = 0, budget = 64;
    int rc = x->size ? mp_scan(p, x->size, &off, 2, &budget, NULL, 0) : MP_SCAN_TRUNCATED;
    if (rc == MP_SCAN_TOO_MANY)
        KEY_FAIL(PTM_ERR_FORMAT, "ndarray payload holds too many objects (a shape of more than %d dimensions?)",
                 PTM_MAX_DIMS);
    if (rc)
        KEY_FAIL(PTM_ERR_FORMAT, "ndarray payload (%" PRIu32 " bytes): %s at payload offset %zu", x->size,
                 rc == MP_SCAN_DEEP ? "not [shape, dtype, data]" : mp_scan_str(rc), off);
    if (off != x->size)
        KEY_FAIL(PTM_ERR_FORMAT, "ndarray payload has %zu trailing bytes after [shape, dtype, data]",
                 (size_t)x->size - off);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, x->ptr, x->size, &off);
    ptm_status s = PTM_OK;
    char m[400] = "";
    const msgpack_object *o = &u.data;
    if (r != MSGPACK_UNPACK_SUCCESS) {
        s = r == MSGPACK_UNPACK_NOMEM_ERROR ? PTM_ERR_NOMEM : PTM_ERR_FORMAT;
        snprintf(m, sizeof m, "msgpack-c cannot parse the ndarray payload (%d)", (int)r);
    } else if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3) {
        s = PTM_ERR_FORMAT;
        snprintf(m, sizeof m, "ndarray payload is %s, not [shape, dtype, data]",
                 o->type == MSGPACK_OBJECT_ARRAY ? "an array of the wrong length" : type_name(o->type));
    } else {
        const msgpack_object *sh = &o->via.array.ptr[0], *dn = &o->via.array.ptr[1], *db = &o->via.array.ptr[2];
        const mp_dtype *md = NULL;
        if (dn->type == MSGPACK_OBJECT_STR || dn->type == MSGPACK_OBJECT_BIN)
            md = mp_dtype_lookup(dn->via.str.ptr, dn->via.str.size);
        if (sh->type != MSGPACK_OBJECT_ARRAY) {
            s = PTM_ERR_FORMAT;
            snprintf(m, sizeof m, "ndarray shape is %s, not an array of sizes", type_name(sh->type));
        } else if (sh->via.array.size > PTM_MAX_DIMS) {
            s = PTM_ERR_UNSUPPORTED;
            snprintf(m, sizeof m, "ndarray has %" PRIu32 " dimensions; ptm supports at most %d",
                     sh->via.array.size, PTM_MAX_DIMS);
        } else if (dn->type != MSGPACK_OBJECT_STR && dn->type != MSGPACK_OBJECT_BIN) {
            s = PTM_ERR_FORMAT;
            snprintf(m, sizeof m, "ndarray dtype is %s, not a dtype name", type_name(dn->type));
        } else if (!md || md->ptm < 0) {
            char q[80];
            mp_quote(dn->via.str.ptr, dn->via.str.size, 40, q, sizeof q);
            s = md ? PTM_ERR_UNSUPPORTED : PTM_ERR_FORMAT;
            snprintf(m, sizeof m, md ? "dtype \"%s\" has no ptm equivalent" : "unknown dtype \"%s\"", q);
        } else if (db->type != MSGPACK_OBJECT_BIN) {
            s = PTM_ERR_FORMAT;
            snprintf(m, sizeof m, "ndarray data is %s, not bytes", type_name(db->type));
        } else {
            uint64_t numel = 1;
            *ndim = (int)sh->via.array.size;
            *dt = (ptm_dtype)md->ptm;
            for (int i = 0; i < *ndim && !s; i++) {
                const msgpack_object *v = &sh->via.array.ptr[i];
                if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > (uint64_t)INT64_MAX) {
                    s = PTM_ERR_FORMAT;
                    snprintf(m, sizeof m, "ndarray dimension %d is %s, not a size", i,
                             v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "negative" : type_name(v->type));
                } else {
                    shape[i] = (int64_t)v->via.u64;
                    if (numel && v->via.u64 > UINT64_MAX / numel) {
                        s = PTM_ERR_FORMAT;
                        snprintf(m, sizeof m, "ndarray shape overflows");
                    } else {
                        numel *= v->via.u64;
                    }
                }
            }
            size_t es = ptm_dtype_size(*dt);
            if (!s && numel > UINT64_MAX / es) {
                s = PTM_ERR_FORMAT;
                snprintf(m, sizeof m, "ndarray shape overflows");
            } else if (!s && numel * es != db->via.bin.size) {
                char shs[160];
                ptm_shape_str(*ndim, shape, shs, sizeof shs);
                s = PTM_ERR_FORMAT;
                snprintf(m, sizeof m, "ndarray of shape %s and dtype %s needs %" PRIu64 " bytes, the data has %" PRIu32,
                         shs, md->name, numel * es, db->via.bin.size);
            } else if (!s && span_of(src, db->via.bin.ptr, db->via.bin.size, &data->off)) {
                s = PTM_ERR_FORMAT;
                snprintf(m, sizeof m, "ndarray data outside the file");
            }
            data->nbytes = db->via.bin.size;
        }
    }
    msgpack_unpacked_destroy(&u);
    if (s)
        KEY_FAIL(s, "%s", m);
    return PTM_OK;
}

static ptm_status ext_leaf(mp_source *src, int depth, const msgpack_object *v, ptm_dtype *dt, int *ndim,
                           int64_t *shape, mp_chunk *data)
{
    if (v->type != MSGPACK_OBJECT_EXT)
        KEY_FAIL(PTM_ERR_FORMAT, "%s, not an ndarray (msgpack ext type 1)", type_name(v->type));
    if (v->via.ext.type == 2)
        KEY_FAIL(PTM_ERR_UNSUPPORTED, "ext type 2 (a Python complex number) is not a parameter array; "
                 "only ext type 1 (ndarray) is supported");
    if (v->via.ext.type == 3)
        KEY_FAIL(PTM_ERR_UNSUPPORTED, "ext type 3 (a numpy scalar) is not a parameter array; "
                 "only ext type 1 (ndarray) is supported");
    if (v->via.ext.type != 1)
        KEY_FAIL(PTM_ERR_UNSUPPORTED, "unknown msgpack ext type %d; only ext type 1 (ndarray) is supported",
                 (int)v->via.ext.type);
    return decode_ndarray(src, depth, &v->via.ext, dt, ndim, shape, data);
}

/* flax's _unchunk: {"__msgpack_chunked_array__": true, "shape": {"0": d0,
 * ...}, "chunks": {"0": ndarray, ...}}, 1-D chunks of the flat C-order array. */
static ptm_status chunked_leaf(mp_source *src, int depth, const msgpack_object_map *m, mp_entry *e)
{
    const msgpack_object *mark = NULL, *shp = NULL, *chk = NULL;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (str_is(k, MP_CHUNK_MARKER))
            mark = &m->ptr[i].val;
        else if (str_is(k, "shape"))
            shp = &m->ptr[i].val;
        else if (str_is(k, "chunks"))
            chk = &m->ptr[i].val;
        else
            KEY_FAIL(PTM_ERR_FORMAT, "chunked array has an unexpected key (only " MP_CHUNK_MARKER
                     ", shape and chunks)");
    }
    if (m->size != 3 || !mark || !shp || !chk)
        KEY_FAIL(PTM_ERR_FORMAT, "chunked array needs exactly the keys " MP_CHUNK_MARKER ", shape and chunks");
    if (mark->type != MSGPACK_OBJECT_BOOLEAN || !mark->via.boolean)
        KEY_FAIL(PTM_ERR_FORMAT, MP_CHUNK_MARKER " is %s, not true", type_name(mark->type));
    if (shp->type != MSGPACK_OBJECT_MAP || chk->type != MSGPACK_OBJECT_MAP)
        KEY_FAIL(PTM_ERR_FORMAT, "chunked array: shape and chunks must be maps");
    if (shp->via.map.size > PTM_MAX_DIMS)
        KEY_FAIL(PTM_ERR_UNSUPPORTED, "chunked array has %" PRIu32 " dimensions; ptm supports at most %d",
                 shp->via.map.size, PTM_MAX_DIMS);
    uint64_t numel = 1;
    e->ndim = (int)shp->via.map.size;
    for (int i = 0; i < e->ndim; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        const msgpack_object *v = &shp->via.map.ptr[i].val;
        if (!str_is(&shp->via.map.ptr[i].key, want))
            KEY_FAIL(PTM_ERR_FORMAT, "chunked array: shape key %d is not \"%s\"", i, want);
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > (uint64_t)INT64_MAX)
            KEY_FAIL(PTM_ERR_FORMAT, "chunked array: shape[%d] is not a size", i);
        if (numel && v->via.u64 > UINT64_MAX / numel)
            KEY_FAIL(PTM_ERR_FORMAT, "chunked array: shape overflows");
        e->fshape[i] = (int64_t)v->via.u64;
        numel *= v->via.u64;
    }
    uint32_t nc = chk->via.map.size;
    if (nc == 0 && numel != 0)
        KEY_FAIL(PTM_ERR_FORMAT, "chunked array has no chunks");
    e->chunks = calloc(nc ? nc : 1, sizeof *e->chunks);
    if (!e->chunks)
        return mp_fail(src->path, PTM_ERR_NOMEM, "out of memory");
    e->nchunks = nc;
    uint64_t got = 0;
    for (uint32_t i = 0; i < nc; i++) {
        char want[16];
        snprintf(want, sizeof want, "%" PRIu32, i);
        if (!str_is(&chk->via.map.ptr[i].key, want))
            KEY_FAIL(PTM_ERR_FORMAT, "chunked array: chunk key %" PRIu32 " is not \"%s\"", i, want);
        ptm_dtype dt;
        int nd;
        int64_t sh[PTM_MAX_DIMS];
        src->comp[depth] = "chunks";
        src->comp_len[depth] = 6;
        src->comp[depth + 1] = want;
        src->comp_len[depth + 1] = strlen(want);
        ptm_status s = ext_leaf(src, depth + 2, &chk->via.map.ptr[i].val, &dt, &nd, sh, &e->chunks[i]);
        if (s)
            return s;
        if (i == 0)
            e->dt = dt;
        if (dt != e->dt || nd != 1)
            KEY_FAIL(PTM_ERR_FORMAT, "chunked array: chunk %" PRIu32 " is not a 1-D %s array", i,
                     mp_dtype_name(e->dt));
        got += (uint64_t)sh[0];
    }
    if (got != numel)
        KEY_FAIL(PTM_ERR_FORMAT, "chunked array: the chunks hold %" PRIu64 " elements, the shape needs %" PRIu64, got,
                 numel);
    e->nbytes = (size_t)(numel * ptm_dtype_size(e->dt));
    return PTM_OK;
}

static int contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k))
            return 1;
    return 0;
}

/* Name and layout per formats.md §3.6 (load_flax_weights_in_pytorch_model). */
static ptm_status add_entry(mp_source *src, int depth, mp_entry *e)
{
    int first = src->drop_first ? 1 : 0;
    const char *last = src->comp[depth - 1];
    size_t ll = src->comp_len[depth - 1], total = 0;
    const char *rename = NULL;
    e->permuted = 0;
    for (int i = 0; i < e->ndim; i++)
        e->perm[i] = i;
    if (ll == 6 && !memcmp(last, "kernel", 6)) {
        rename = "weight";
        if (e->ndim == 4) {
            static const int conv[4] = {3, 2, 0, 1}; /* HWIO -> OIHW */
            memcpy(e->perm, conv, sizeof conv);
        } else {
            for (int i = 0; i < e->ndim; i++)
                e->perm[i] = e->ndim - 1 - i; /* .T */
        }
        e->permuted = e->ndim >= 2;
    } else if ((ll == 5 && !memcmp(last, "scale", 5)) || (ll == 9 && !memcmp(last, "embedding", 9))) {
        rename = "weight";
    } else if (contains(last, ll, "mean")) {
        rename = "running_mean";
    } else if (contains(last, ll, "var")) {
        rename = "running_var";
    }
    for (int i = 0; i < e->ndim; i++)
        e->shape[i] = e->fshape[e->perm[i]];
    if (depth - first < 1)
        KEY_FAIL(PTM_ERR_FORMAT, "an array directly under the collection has no parameter name");
    for (int i = first; i < depth; i++)
        total += (i == depth - 1 && rename ? strlen(rename) : src->comp_len[i]) + 1;
    char kp[600];
    key_path(src, depth, kp, sizeof kp);
    if (src->n == src->cap) {
        size_t nc = src->cap ? 2 * src->cap : 64;
        mp_entry *ne = realloc(src->e, nc * sizeof *ne);
        if (!ne)
            return mp_fail(src->path, PTM_ERR_NOMEM, "out of memory");
        src->e = ne;
        src->cap = nc;
    }
    e->name = malloc(total);
    e->key = dupn(kp, strlen(kp));
    if (!e->name || !e->key) {
        free(e->name);
        free(e->key);
        return mp_fail(src->path, PTM_ERR_NOMEM, "out of memory");
    }
    size_t o = 0;
    for (int i = first; i < depth; i++) {
        const char *c = i == depth - 1 && rename ? rename : src->comp[i];
        size_t cl = i == depth - 1 && rename ? strlen(rename) : src->comp_len[i];
        if (i > first)
            e->name[o++] = '.';
        if (cl)
            memcpy(e->name + o, c, cl);
        o += cl;
    }
    e->name[o] = '\0';
    src->e[src->n++] = *e;
    return PTM_OK;
}

static ptm_status walk(mp_source *src, const msgpack_object_map *m, int depth)
{
    if (depth >= MP_MAX_DEPTH)
        KEY_FAIL(PTM_ERR_FORMAT, "maps nested more than %d deep", MP_MAX_DEPTH);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            KEY_FAIL(PTM_ERR_FORMAT, "map key %" PRIu32 " is %s, not a string", i, type_name(k->type));
        /* msgpack-c gives empty strings a NULL pointer */
        src->comp[depth] = k->via.str.size ? k->via.str.ptr : "";
        src->comp_len[depth] = k->via.str.size;
        if (k->via.str.size && memchr(k->via.str.ptr, '\0', k->via.str.size)) {
            depth++;
            KEY_FAIL(PTM_ERR_FORMAT, "a key holds a NUL byte");
        }
        ptm_status s;
        if (v->type == MSGPACK_OBJECT_MAP) {
            int chunked = 0;
            for (uint32_t j = 0; j < v->via.map.size && !chunked; j++)
                chunked = str_is(&v->via.map.ptr[j].key, MP_CHUNK_MARKER);
            mp_entry e;
            memset(&e, 0, sizeof e);
            if (!chunked)
                s = walk(src, &v->via.map, depth + 1);
            else if ((s = chunked_leaf(src, depth + 1, &v->via.map, &e)) == PTM_OK)
                s = add_entry(src, depth + 1, &e);
            if (s)
                free(e.chunks);
        } else {
            mp_entry e;
            memset(&e, 0, sizeof e);
            s = ext_leaf(src, depth + 1, v, &e.dt, &e.ndim, e.fshape, &e.one);
            e.nbytes = e.one.nbytes;
            if (!s)
                s = add_entry(src, depth + 1, &e);
        }
        if (s)
            return s;
    }
    return PTM_OK;
}

static void mp_close(void *source)
{
    mp_source *src = source;
    if (!src)
        return;
    for (size_t i = 0; i < src->n; i++) {
        free(src->e[i].name);
        free(src->e[i].key);
        free(src->e[i].chunks);
    }
    free(src->e);
    ptm_buffer_release(src->buf);
    free(src->path);
    free(src);
}

static int by_name(const void *a, const void *b)
{
    const mp_entry *x = *(const mp_entry *const *)a, *y = *(const mp_entry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x < y ? -1 : x > y); /* file order among equals */
}

static ptm_status check_unique(mp_source *src)
{
    if (src->n < 2)
        return PTM_OK;
    const mp_entry **ix = malloc(src->n * sizeof *ix);
    if (!ix)
        return mp_fail(src->path, PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < src->n; i++)
        ix[i] = &src->e[i];
    qsort(ix, src->n, sizeof *ix, by_name);
    ptm_status s = PTM_OK;
    for (size_t i = 1; i < src->n && !s; i++) {
        const mp_entry *a = ix[i - 1], *b = ix[i];
        if (!strcmp(a->name, b->name))
            s = mp_fail(src->path, PTM_ERR_FORMAT, "keys \"%s\" and \"%s\" both map to the PyTorch name \"%s\"",
                        a->key, b->key, a->name);
    }
    free(ix);
    return s;
}

static ptm_status parse(mp_source *src)
{
    const uint8_t *p = src->base;
    size_t len = src->len, off = 0, budget = MP_MAX_OBJECTS;
    if (len == 0)
        return mp_fail(src->path, PTM_ERR_FORMAT, "empty file, not a Flax msgpack checkpoint");
    if (len >= 7 && !memcmp(p, "version", 7))
        return mp_fail(src->path, PTM_ERR_FORMAT, "a Git LFS pointer, not the weights (run git lfs pull)");
    char key[600];
    int rc = mp_scan(p, len, &off, MP_MAX_DEPTH, &budget, key, sizeof key);
    if (rc)
        return mp_fail(src->path, rc == MP_SCAN_TOO_MANY ? PTM_ERR_UNSUPPORTED : PTM_ERR_FORMAT,
                       "key \"%s\": %s at offset %zu%s", key, mp_scan_str(rc), off,
                       rc == MP_SCAN_TOO_MANY ? " (more than 4194304 outside arrays)" : "");
    if (off != len)
        return mp_fail(src->path, PTM_ERR_FORMAT, "%zu bytes of extra data after the top-level map (offset %zu)",
                       len - off, off);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)p, len, &off);
    ptm_status s = PTM_OK;
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        s = mp_fail(src->path, r == MSGPACK_UNPACK_NOMEM_ERROR ? PTM_ERR_NOMEM : PTM_ERR_FORMAT,
                    "msgpack-c cannot parse the file (%d)", (int)r);
    } else if (u.data.type != MSGPACK_OBJECT_MAP) {
        s = mp_fail(src->path, PTM_ERR_FORMAT, "the top-level object is %s, not a map of parameters",
                    type_name(u.data.type));
    } else {
        /* {"params": ..., "batch_stats": ...}: drop the collection level */
        const msgpack_object_map *m = &u.data.via.map;
        int coll = m->size > 0;
        for (uint32_t i = 0; i < m->size && coll; i++)
            coll = (str_is(&m->ptr[i].key, "params") || str_is(&m->ptr[i].key, "batch_stats")) &&
                   m->ptr[i].val.type == MSGPACK_OBJECT_MAP;
        src->drop_first = coll;
        s = walk(src, m, 0);
    }
    msgpack_unpacked_destroy(&u);
    return s ? s : check_unique(src);
}

static ptm_status mp_open(const char *path, void **source)
{
    if (!path || !source)
        return ptm_error(PTM_ERR_INVALID_ARG, "msgpack open: NULL argument");
    mp_source *src = calloc(1, sizeof *src);
    if (!src || !(src->path = dupn(path, strlen(path)))) {
        free(src);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    ptm_status s = ptm_buffer_map_file(path, &src->buf);
    if (s) {
        mp_close(src);
        return s;
    }
    src->base = ptm_buffer_data(src->buf);
    src->len = ptm_buffer_size(src->buf);
    if ((s = parse(src))) {
        mp_close(src);
        return s;
    }
    *source = src;
    return PTM_OK;
}

static size_t mp_count(void *source) { return source ? ((mp_source *)source)->n : 0; }

static ptm_status mp_info(void *source, size_t i, ptm_tensor_info *out)
{
    mp_source *src = source;
    if (!src || !out || i >= src->n)
        return ptm_error(PTM_ERR_INVALID_ARG, "msgpack info: bad argument");
    const mp_entry *e = &src->e[i];
    out->name = e->name;
    out->dtype = e->dt;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    return PTM_OK;
}

static ptm_status mp_load(void *source, size_t i, ptm_tensor **out)
{
    mp_source *src = source;
    if (!src || !out || i >= src->n)
        return ptm_error(PTM_ERR_INVALID_ARG, "msgpack load: bad argument");
    const mp_entry *e = &src->e[i];
    size_t es = ptm_dtype_size(e->dt);
    if (!e->chunks && !e->permuted && e->nbytes && e->one.off % es == 0)
        return ptm_tensor_from_buffer(src->buf, e->one.off, e->dt, e->ndim, e->shape, out);
    ptm_tensor *t = NULL;
    ptm_status s = ptm_tensor_new(e->dt, e->ndim, e->shape, &t);
    if (s)
        return ptm_error_prefix(s, "%s: key \"%s\"", src->path, e->key);
    uint8_t *dst = ptm_tensor_data_mut(t), *tmp = NULL;
    const uint8_t *from = src->base + e->one.off;
    if (e->chunks && e->nchunks != 1) {
        uint8_t *g = e->permuted ? (tmp = malloc(e->nbytes ? e->nbytes : 1)) : dst;
        if (!g) {
            ptm_tensor_release(t);
            return mp_fail(src->path, PTM_ERR_NOMEM, "key \"%s\": out of memory", e->key);
        }
        for (size_t c = 0, o = 0; c < e->nchunks; o += e->chunks[c].nbytes, c++)
            if (e->chunks[c].nbytes)
                memcpy(g + o, src->base + e->chunks[c].off, e->chunks[c].nbytes);
        from = g;
    } else if (e->chunks) {
        from = src->base + e->chunks[0].off;
    }
    if (e->permuted)
        mp_permute(from, dst, es, e->ndim, e->fshape, e->perm);
    else if (from != dst && e->nbytes)
        memcpy(dst, from, e->nbytes);
    free(tmp);
    *out = t;
    return PTM_OK;
}

/* ------------------------------------------------------------------- probe */

static int mp_probe(const char *path, const uint8_t *head, size_t head_len)
{
    static const char ext[] = ".msgpack";
    size_t pl = path ? strlen(path) : 0, el = sizeof ext - 1;
    int name_ok = pl >= el && memcmp(path + pl - el, ext, el) == 0;
    int bytes_ok = 0;
    if (head && head_len >= 1) {
        uint8_t c = head[0];
        int is_map = (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
        size_t k = c == 0xde ? 3 : c == 0xdf ? 5 : 1; /* where the first key starts */
        if (is_map && c == 0x80)
            bytes_ok = head_len == 1;
        else if (is_map && head_len > k)
            bytes_ok = (head[k] >= 0xa0 && head[k] <= 0xbf) || head[k] == 0xd9 || head[k] == 0xda || head[k] == 0xdb;
        else if (is_map)
            bytes_ok = 1;
    }
    if (name_ok && bytes_ok)
        return 100;
    if (bytes_ok)
        return 40;
    if (name_ok)
        return 10; /* ours by name: open says what is wrong with the bytes */
    return 0;
}

/* ------------------------------------------------------------------ plugin */

static const char *const mp_weight_names[] = {"flax_model.msgpack", "flax_model.msgpack.index.json", NULL};

static const ptm_format mp_format = {
    .struct_size = sizeof(ptm_format),
    .name = "msgpack",
    .weight_names = mp_weight_names,
    .extension = ".msgpack",
    .probe = mp_probe,
    .open = mp_open,
    .close = mp_close,
    .count = mp_count,
    .info = mp_info,
    .load = mp_load,
    .metadata = NULL,
    .save = mp_save,
    .save_model = mp_save_model,
    .default_max_shard_size = 10000000000ull, /* transformers' TF / Flax "10GB" */
};

static ptm_status mp_register(ptm_registrar *reg) { return ptm_registrar_add_format(reg, &mp_format); }

static const ptm_plugin mp_plugin = {
    PTM_PLUGIN_HEADER,
    "msgpack",
    "0.1.0",
    "Flax msgpack (flax_model.msgpack) reader with PyTorch names and layouts, and writer",
    "Apache-2.0",
    mp_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &mp_plugin; }
