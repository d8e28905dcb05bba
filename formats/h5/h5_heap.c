/* SPDX-License-Identifier: Apache-2.0 */
/* h5_heap.c - HDF5 heaps on a memory image: dense storage of links and
 * attributes (a fractal heap "FRHP" with direct "FHDB" and indirect "FHIB"
 * blocks, indexed by name in a v2 B-tree "BTHD"/"BTIN"/"BTLF"; huge objects
 * through a second v2 B-tree; tiny objects inside their heap ids) and the
 * global heap ("GCOL") behind variable-length strings.  Objects are found
 * through the name index, so free or deleted space is never parsed.  Every
 * structure is bounds-checked and checksummed where HDF5 keeps a checksum,
 * B-tree depths strictly decrease, and each node and block is paid from the
 * file's work budget. */
#include "h5_file_int.h"

#include <stdlib.h>
#include <string.h>


static int log2u(uint64_t x, unsigned *out)
{
    unsigned k = 0;
    if (x == 0 || (x & (x - 1)))
        return 0;
    while ((x >> k) != 1)
        k++;
    *out = k;
    return 1;
}

/* Bytes HDF5 uses to encode values up to n: floor(log2(n)) / 8 + 1. */
static unsigned enc_size(uint64_t n)
{
    unsigned k = 0;
    while (n >> 1) {
        n >>= 1;
        k++;
    }
    return k / 8 + 1;
}

/* ------------------------------------------------------------ v2 B-tree */

#define BT2_PREFIX 10 /* signature, version, type, checksum */

typedef ptm_status (*bt2_fn)(h5f_file *f, const uint8_t *rec, const char *obj, void *ctx);

typedef struct bt2 {
    unsigned type, rsz, depth, nrec_size;
    uint64_t node_size;
    uint64_t cum[H5F_MAX_DEPTH + 1];
    unsigned cum_size[H5F_MAX_DEPTH + 1];
    bt2_fn fn;
    void *ctx;
} bt2;

static ptm_status bt2_node(h5f_file *f, const bt2 *t, uint64_t addr, unsigned depth, uint64_t nrec, const char *obj)
{
    if (nrec > t->node_size)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree node claims %llu records", (unsigned long long)nrec);
    ptm_status s = h5f_spend(f, obj, 1 + nrec);
    if (s)
        return s;
    unsigned psz = depth ? f->so + t->nrec_size + (depth > 1 ? t->cum_size[depth - 1] : 0) : 0;
    uint64_t body = 6 + nrec * t->rsz + (depth ? (nrec + 1) * psz : 0);
    const uint8_t *p = h5f_at(f, addr, body + 4);
    if (!p || body + 4 > t->node_size)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree node at %llu (%llu records) lies outside the file or its node",
                        (unsigned long long)addr, (unsigned long long)nrec);
    if (memcmp(p, depth ? "BTIN" : "BTLF", 4) || p[4] != 0 || p[5] != t->type)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "no v2 B-tree %s node at %llu", depth ? "internal" : "leaf",
                        (unsigned long long)addr);
    if (!h5f_sum_ok(p, (size_t)body))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree node checksum mismatch (damaged)");
    for (uint64_t i = 0; i < nrec && !s; i++)
        s = t->fn(f, p + 6 + i * t->rsz, obj, t->ctx);
    if (!depth || s)
        return s;
    h5f_rd r = h5f_rd_make(p + 6 + nrec * t->rsz, (size_t)((nrec + 1) * psz));
    for (uint64_t i = 0; i <= nrec && !s; i++) {
        uint64_t child = h5f_rd_addr(&r, f), cn = h5f_rd_uint(&r, t->nrec_size);
        if (depth > 1)
            h5f_rd_uint(&r, t->cum_size[depth - 1]);
        s = bt2_node(f, t, child, depth - 1, cn, obj);
    }
    return s;
}

/* Call fn on every record of the v2 B-tree at `addr` (of record type
 * `type`, records of `rsz` bytes). */
static ptm_status bt2_walk(h5f_file *f, uint64_t addr, unsigned type, unsigned rsz, const char *obj, bt2_fn fn,
                           void *ctx)
{
    size_t hl = 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + (size_t)f->so + 2 + f->sl;
    const uint8_t *p = h5f_at(f, addr, hl + 4);
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    if (!p || memcmp(p, "BTHD", 4) || p[4] != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "no v2 B-tree header at %llu", (unsigned long long)addr);
    if (!h5f_sum_ok(p, hl))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree header checksum mismatch (damaged)");
    bt2 t;
    memset(&t, 0, sizeof t);
    t.fn = fn;
    t.ctx = ctx;
    h5f_rd r = h5f_rd_make(p + 5, hl - 5);
    t.type = (unsigned)h5f_rd_uint(&r, 1);
    t.node_size = h5f_rd_uint(&r, 4);
    t.rsz = (unsigned)h5f_rd_uint(&r, 2);
    t.depth = (unsigned)h5f_rd_uint(&r, 2);
    h5f_rd_uint(&r, 2); /* split and merge percents */
    uint64_t root = h5f_rd_addr(&r, f);
    uint64_t nroot = h5f_rd_uint(&r, 2);
    if (t.type != type || t.rsz != rsz)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree of type %u with %u-byte records (expected type %u, %u bytes)",
                        t.type, t.rsz, type, rsz);
    if (t.depth > H5F_MAX_DEPTH || t.node_size <= BT2_PREFIX + (uint64_t)t.rsz || t.node_size > ((uint64_t)1 << 24))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree with impossible geometry (depth %u, nodes of %llu bytes)",
                        t.depth, (unsigned long long)t.node_size);
    /* the widths of the record counts in internal nodes (HDF5's node info) */
    t.cum[0] = (t.node_size - BT2_PREFIX) / t.rsz;
    t.cum_size[0] = enc_size(t.cum[0]);
    t.nrec_size = t.cum_size[0];
    for (unsigned u = 1; u <= t.depth; u++) {
        uint64_t psz = f->so + t.nrec_size + (u > 1 ? t.cum_size[u - 1] : 0);
        if (t.node_size < BT2_PREFIX + psz + t.rsz + psz)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree nodes too small for depth %u", t.depth);
        uint64_t maxn = (t.node_size - (BT2_PREFIX + psz)) / (t.rsz + psz);
        if (t.cum[u - 1] > (UINT64_MAX / 4) / (maxn + 1))
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "v2 B-tree too deep");
        t.cum[u] = (maxn + 1) * t.cum[u - 1] + maxn;
        t.cum_size[u] = enc_size(t.cum[u]);
    }
    if (root == H5F_UNDEF || nroot == 0)
        return PTM_OK;
    return bt2_node(f, &t, root, t.depth, nroot, obj);
}

/* --------------------------------------------------------- fractal heap */

typedef struct dblock {
    uint64_t off; /* heap offset of the block */
    uint64_t size;
    const uint8_t *p;
} dblock;

typedef struct huge_rec {
    uint64_t id, addr, len;
} huge_rec;

typedef struct fheap {
    unsigned width, max_dblock_rows, boff_size, id_len, len_size;
    uint64_t start;
    int dchecksum;
    dblock *blocks;
    size_t nblocks, capblocks;
    huge_rec *huge;
    size_t nhuge, caphuge;
    unsigned huge_type;
    int huge_direct;
    int attrs;
    h5f_heap_fn fn;
    void *ctx;
} fheap;

static uint64_t row_size(const fheap *h, unsigned row) { return row == 0 ? h->start : h->start << (row - 1); }

static ptm_status heap_direct(h5f_file *f, fheap *h, uint64_t addr, uint64_t size, const char *obj)
{
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    const uint8_t *p = h5f_at(f, addr, size);
    size_t hdr = 4 + 1 + f->so + h->boff_size + (h->dchecksum ? 4 : 0);
    if (!p || size < hdr || size > SIZE_MAX)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap direct block at %llu lies outside the file (truncated?)",
                        (unsigned long long)addr);
    if (memcmp(p, "FHDB", 4) || p[4] != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap direct block at %llu has no FHDB signature",
                        (unsigned long long)addr);
    h5f_rd r = h5f_rd_make(p + 5 + f->so, h->boff_size);
    uint64_t off = h5f_rd_uint(&r, h->boff_size);
    dblock *g = h5f_grow(f, obj, h->blocks, &h->capblocks, h->nblocks, sizeof *g);
    if (!g)
        return PTM_ERR_NOMEM;
    h->blocks = g;
    dblock b = {off, size, p};
    h->blocks[h->nblocks++] = b;
    return PTM_OK;
}

static ptm_status heap_indirect(h5f_file *f, fheap *h, uint64_t addr, unsigned nrows, const char *obj, int depth)
{
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    if (depth > H5F_MAX_DEPTH)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap nested too deeply");
    unsigned drows = nrows < h->max_dblock_rows ? nrows : h->max_dblock_rows;
    uint64_t nd = (uint64_t)drows * h->width, ni = (uint64_t)(nrows - drows) * h->width;
    uint64_t size = 4 + 1 + f->so + h->boff_size + (nd + ni) * f->so + 4;
    const uint8_t *p = h5f_at(f, addr, size);
    if (!p)
        return h5f_fail(f, obj, PTM_ERR_FORMAT,
                        "fractal heap indirect block at %llu lies outside the file (truncated?)",
                        (unsigned long long)addr);
    if (memcmp(p, "FHIB", 4) || p[4] != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap indirect block at %llu has no FHIB signature",
                        (unsigned long long)addr);
    if (!h5f_sum_ok(p, (size_t)size - 4))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap indirect block checksum mismatch (damaged)");
    h5f_rd r = h5f_rd_make(p + 5 + f->so + h->boff_size, (size_t)(nd + ni) * f->so);
    for (uint64_t k = 0; k < nd + ni && !s; k++) {
        uint64_t child = h5f_rd_addr(&r, f);
        unsigned row = (unsigned)(k / h->width);
        if (child == H5F_UNDEF)
            continue;
        if (k < nd) {
            s = heap_direct(f, h, child, row_size(h, row), obj);
        } else {
            /* a child indirect block of row `row` spans width*start*2^(rows-1) bytes */
            unsigned lr, lws, cr;
            if (!log2u(row_size(h, row), &lr) || !log2u(h->start * h->width, &lws) || lr < lws)
                return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap has an irregular doubling table");
            cr = lr - lws + 1;
            if (cr >= nrows)
                return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap indirect blocks do not shrink");
            s = heap_indirect(f, h, child, cr, obj, depth + 1);
        }
    }
    return s;
}

static int dblock_cmp(const void *a, const void *b)
{
    const dblock *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

static ptm_status huge_record(h5f_file *f, const uint8_t *rec, const char *obj, void *ctx)
{
    fheap *h = ctx;
    h5f_rd r = h5f_rd_make(rec, f->so + (size_t)f->sl * (h->huge_type == 1 ? 2 : 1));
    huge_rec hr;
    hr.addr = h5f_rd_addr(&r, f);
    hr.len = h5f_rd_len(&r, f);
    hr.id = h->huge_type == 1 ? h5f_rd_len(&r, f) : hr.addr;
    huge_rec *g = h5f_grow(f, obj, h->huge, &h->caphuge, h->nhuge, sizeof *g);
    if (!g)
        return PTM_ERR_NOMEM;
    h->huge = g;
    h->huge[h->nhuge++] = hr;
    return PTM_OK;
}

/* The bytes of the object with heap id `id`. */
static ptm_status heap_object(h5f_file *f, const fheap *h, const uint8_t *id, const char *obj, const uint8_t **p,
                              size_t *n)
{
    unsigned b0 = id[0], kind = (b0 >> 4) & 3;
    if (b0 >> 6)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "heap id of version %u", b0 >> 6);
    h5f_rd r = h5f_rd_make(id + 1, h->id_len - 1);
    if (kind == 0) { /* managed: offset and length inside the heap's blocks */
        uint64_t off = h5f_rd_uint(&r, h->boff_size), len = h5f_rd_uint(&r, h->len_size);
        size_t lo = 0, hi = h->nblocks;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (h->blocks[mid].off <= off)
                lo = mid;
            else
                hi = mid;
        }
        const dblock *b = h->nblocks ? &h->blocks[lo] : NULL;
        uint64_t hdr = 5 + (uint64_t)f->so + h->boff_size + (h->dchecksum ? 4 : 0);
        if (r.bad || !b || off < b->off || off - b->off < hdr || off - b->off >= b->size || len == 0 ||
            len > b->size - (off - b->off))
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "heap object at heap offset %llu (+%llu bytes) is in no heap block",
                            (unsigned long long)off, (unsigned long long)len);
        *p = b->p + (off - b->off);
        *n = (size_t)len;
        return PTM_OK;
    }
    if (kind == 1) { /* huge: stored on its own, found through the huge-object B-tree */
        uint64_t addr, len;
        if (h->huge_direct) {
            addr = h5f_rd_addr(&r, f);
            len = h5f_rd_len(&r, f);
        } else {
            uint64_t hid = h5f_rd_uint(&r, h->id_len - 1 < f->sl ? h->id_len - 1 : f->sl);
            size_t k = 0;
            while (k < h->nhuge && h->huge[k].id != hid)
                k++;
            if (k == h->nhuge)
                return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap object %llu is not in its B-tree",
                                (unsigned long long)hid);
            addr = h->huge[k].addr;
            len = h->huge[k].len;
        }
        *p = h5f_at(f, addr, len);
        if (r.bad || !*p || len == 0 || len > SIZE_MAX)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap object at %llu (%llu bytes) lies outside the file",
                            (unsigned long long)addr, (unsigned long long)len);
        *n = (size_t)len;
        return PTM_OK;
    }
    if (kind == 2) { /* tiny: inside the id itself */
        size_t len, at;
        if (h->id_len <= 18) {
            len = (b0 & 0x0f) + 1u;
            at = 1;
        } else {
            len = (((size_t)b0 & 0x0f) << 8 | id[1]) + 1u;
            at = 2;
        }
        if (at + len > h->id_len)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "tiny heap object of %zu bytes in a %u-byte id", len, h->id_len);
        *p = id + at;
        *n = len;
        return PTM_OK;
    }
    return h5f_fail(f, obj, PTM_ERR_FORMAT, "heap id of unknown type %u", kind);
}

typedef struct index_ctx {
    fheap *h;
    unsigned id_at;
} index_ctx;

static ptm_status index_record(h5f_file *f, const uint8_t *rec, const char *obj, void *ctx)
{
    index_ctx *c = ctx;
    fheap *h = c->h;
    if (h->attrs && (rec[h->id_len] & 2))
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "a shared attribute message (not supported)");
    const uint8_t *p = NULL;
    size_t n = 0, used = 0;
    ptm_status s = h5f_spend(f, obj, 1);
    if (!s)
        s = heap_object(f, h, rec + c->id_at, obj, &p, &n);
    if (!s)
        s = h->fn(f, p, n, obj, h->ctx, &used);
    if (!s && used > n)
        s = h5f_fail(f, obj, PTM_ERR_FORMAT, "heap object of %zu bytes holds a message of %zu", n, used);
    return s;
}

ptm_status h5f_dense_walk(h5f_file *f, uint64_t addr, uint64_t index, int attrs, const char *obj, h5f_heap_fn fn,
                          void *ctx)
{
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    fheap h;
    memset(&h, 0, sizeof h);
    h.fn = fn;
    h.ctx = ctx;
    h.attrs = attrs;
    const uint8_t *p = h5f_at(f, addr, 4);
    if (!p || memcmp(p, "FRHP", 4))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "no fractal heap at %llu (FRHP signature missing or truncated)",
                        (unsigned long long)addr);
    h5f_rd r = h5f_rd_make(p, (size_t)(f->size - (uint64_t)(p - f->img)));
    h5f_rd_bytes(&r, 4);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1);
    h.id_len = (unsigned)h5f_rd_uint(&r, 2);
    unsigned filt = (unsigned)h5f_rd_uint(&r, 2), flags = (unsigned)h5f_rd_uint(&r, 1);
    uint64_t max_man = h5f_rd_uint(&r, 4);
    h5f_rd_len(&r, f); /* next huge id */
    uint64_t huge_bt = h5f_rd_addr(&r, f);
    for (int k = 0; k < 7; k++) /* free space, its manager, managed / allocated space, iterator, counts */
        k == 1 ? h5f_rd_addr(&r, f) : h5f_rd_len(&r, f);
    uint64_t nhuge = h5f_rd_len(&r, f);
    h5f_rd_len(&r, f); /* tiny objects size */
    h5f_rd_len(&r, f); /* tiny objects */
    h.width = (unsigned)h5f_rd_uint(&r, 2);
    h.start = h5f_rd_len(&r, f);
    uint64_t max_direct = h5f_rd_len(&r, f);
    unsigned maxbits = (unsigned)h5f_rd_uint(&r, 2);
    h5f_rd_uint(&r, 2); /* starting rows */
    uint64_t root = h5f_rd_addr(&r, f);
    unsigned rows_root = (unsigned)h5f_rd_uint(&r, 2);
    size_t hlen = r.i;
    if (r.bad || h5f_rd_left(&r) < 4)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap header runs past the end of the file (truncated?)");
    if (ver != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap version %u is not supported", ver);
    if (filt)
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "a filtered fractal heap (not supported)");
    if (!h5f_sum_ok(p, hlen))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap header checksum mismatch (damaged)");
    unsigned ls, lm;
    if (h.width == 0 || h.width > 65536 || !log2u(h.start, &ls) || !log2u(max_direct, &lm) || lm < ls ||
        maxbits == 0 || maxbits > 64 || lm >= 63 || max_man == 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap header has an impossible doubling table");
    h.max_dblock_rows = lm - ls + 2;
    h.boff_size = (maxbits + 7) / 8;
    {
        unsigned a = (lm + 7) / 8, b = enc_size(max_man);
        h.len_size = a < b ? a : b;
    }
    h.dchecksum = (flags & 2) != 0;
    unsigned idmin = attrs ? 8 : 7;
    if (h.id_len < 1 + h.boff_size + h.len_size || h.id_len > 64 || h.id_len != idmin)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap ids of %u bytes (expected %u)", h.id_len, idmin);
    h.huge_direct = h.id_len >= 1 + f->so + f->sl;
    if (root != H5F_UNDEF) {
        if (rows_root == 0)
            s = heap_direct(f, &h, root, h.start, obj);
        else if (rows_root > 64)
            s = h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap root has %u rows", rows_root);
        else
            s = heap_indirect(f, &h, root, rows_root, obj, 0);
    }
    if (!s && h.nblocks > 1)
        qsort(h.blocks, h.nblocks, sizeof *h.blocks, dblock_cmp);
    if (!s && nhuge && huge_bt != H5F_UNDEF) {
        /* records: type 1 (address, length, id) or 3 (address, length) */
        const uint8_t *b = h5f_at(f, huge_bt, 6);
        h.huge_type = b ? b[5] : 0;
        if (h.huge_type != 1 && h.huge_type != 3)
            s = h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "huge heap objects of B-tree type %u (filtered: not supported)",
                         h.huge_type);
        else
            s = bt2_walk(f, huge_bt, h.huge_type, f->so + f->sl + (h.huge_type == 1 ? f->sl : 0), obj, huge_record,
                         &h);
    }
    if (!s && index != H5F_UNDEF) {
        index_ctx c = {&h, attrs ? 0u : 4u};
        /* name index records: links (type 5) hash + id; attributes (type 8)
         * id, message flags, creation order, hash */
        s = bt2_walk(f, index, attrs ? 8 : 5, attrs ? h.id_len + 9 : h.id_len + 4, obj, index_record, &c);
    }
    free(h.blocks);
    free(h.huge);
    return s;
}

/* ---------------------------------------------------------- global heap */

/* Index the collection at `addr` (object index -> image offset, size). */
static ptm_status gcol_index(h5f_file *f, uint64_t addr, const char *obj)
{
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    const uint8_t *p = h5f_at(f, addr, 8 + (uint64_t)f->sl);
    if (!p || memcmp(p, "GCOL", 4) || p[4] != 1)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "global heap collection at %llu is missing or truncated",
                        (unsigned long long)addr);
    h5f_rd hr = h5f_rd_make(p + 8, f->sl);
    uint64_t csz = h5f_rd_len(&hr, f);
    const uint8_t *c = h5f_at(f, addr, csz);
    if (!c || csz < 8 + (uint64_t)f->sl || csz > SIZE_MAX)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "global heap collection at %llu (%llu bytes) runs past the end of the file",
                        (unsigned long long)addr, (unsigned long long)csz);
    free(f->gcol_off);
    free(f->gcol_len);
    f->gcol_off = f->gcol_len = NULL;
    f->gcol_n = 0;
    f->gcol_addr = H5F_UNDEF;
    h5f_rd r = h5f_rd_make(c, (size_t)csz);
    h5f_rd_bytes(&r, 8 + f->sl);
    size_t cap = 0;
    while (h5f_rd_left(&r) >= 8 + (size_t)f->sl) {
        unsigned idx = (unsigned)h5f_rd_uint(&r, 2);
        h5f_rd_bytes(&r, 6);
        uint64_t osz = h5f_rd_len(&r, f);
        if (idx == 0)
            break; /* free space: the rest of the collection */
        if (osz > h5f_rd_left(&r))
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "global heap object %u (%llu bytes) runs past its collection", idx,
                            (unsigned long long)osz);
        size_t off = (size_t)(c - f->img) + r.i;
        size_t adv = (size_t)osz + ((8 - (size_t)osz % 8) % 8);
        h5f_rd_bytes(&r, adv <= h5f_rd_left(&r) ? adv : h5f_rd_left(&r));
        if ((s = h5f_spend(f, obj, 1)))
            return s;
        if (idx >= cap) {
            size_t nc = idx + 1 > 2 * cap ? (size_t)idx + 1 : 2 * cap;
            uint64_t *o = realloc(f->gcol_off, nc * sizeof *o);
            if (o)
                f->gcol_off = o;
            uint64_t *l = o ? realloc(f->gcol_len, nc * sizeof *l) : NULL;
            if (!o || !l)
                return h5f_fail(f, obj, PTM_ERR_NOMEM, "out of memory");
            f->gcol_len = l;
            for (size_t k = cap; k < nc; k++)
                f->gcol_len[k] = UINT64_MAX;
            cap = nc;
        }
        f->gcol_off[idx] = off;
        f->gcol_len[idx] = osz;
        if (idx + 1 > f->gcol_n)
            f->gcol_n = idx + 1;
    }
    f->gcol_addr = addr;
    return PTM_OK;
}

ptm_status h5f_vstring(h5f_file *f, const uint8_t *elem, const char *obj, const uint8_t **s, size_t *len)
{
    h5f_rd r = h5f_rd_make(elem, 8 + f->so);
    uint32_t n = (uint32_t)h5f_rd_uint(&r, 4);
    uint64_t addr = h5f_rd_addr(&r, f);
    uint32_t idx = (uint32_t)h5f_rd_uint(&r, 4);
    *s = (const uint8_t *)"";
    *len = 0;
    if (n == 0)
        return PTM_OK;
    ptm_status st = PTM_OK;
    if (addr != f->gcol_addr && (st = gcol_index(f, addr, obj)))
        return st;
    if (idx == 0 || idx >= f->gcol_n || f->gcol_len[idx] == UINT64_MAX)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "variable-length string refers to missing global heap object %u",
                        (unsigned)idx);
    if (n > f->gcol_len[idx])
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "variable-length string of %u bytes in a heap object of %llu bytes",
                        (unsigned)n, (unsigned long long)f->gcol_len[idx]);
    *s = f->img + f->gcol_off[idx];
    *len = n;
    return PTM_OK;
}
