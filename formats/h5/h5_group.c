/* SPDX-License-Identifier: Apache-2.0 */
/* h5_group.c - HDF5 groups on a memory image: symbol tables (v1 B-tree of
 * type 0 "TREE", symbol nodes "SNOD", local heap "HEAP"), link messages,
 * dense links in a fractal heap ("FRHP", direct "FHDB" and indirect "FHIB"
 * blocks, managed objects), the global heap ("GCOL") behind variable-length
 * strings, and path lookup through hard links.  Every structure is bounds-
 * checked; B-tree levels must strictly decrease and every node visit is paid
 * from the file's work budget, so cycles and shared nodes cannot loop. */
#include "h5_file_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ checksums */

static int sum_ok(const uint8_t *p, size_t n)
{
    uint32_t want = p[n] | (uint32_t)p[n + 1] << 8 | (uint32_t)p[n + 2] << 16 | (uint32_t)p[n + 3] << 24;
    return h5f_checksum(p, n) == want;
}

/* --------------------------------------------------------- fractal heap */

typedef struct fheap {
    uint64_t addr;
    unsigned width, rows_root, max_dblock_rows, boff_size;
    uint64_t start, max_direct, root;
    int dchecksum;
    uint64_t nobj; /* managed objects parsed so far */
    h5f_heap_fn fn;
    void *ctx;
} fheap;

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
    size_t at = hdr, n = (size_t)size;
    while (at < n && p[at] != 0) {
        size_t used = 0;
        if ((s = h5f_spend(f, obj, 1)) || (s = h->fn(f, p + at, n - at, obj, h->ctx, &used)))
            return s;
        if (used == 0)
            break;
        at += used;
        h->nobj++;
    }
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
    if (!sum_ok(p, (size_t)size - 4))
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

/* Huge objects: stored outside the heap, found through a v2 B-tree whose
 * records (type 1: address, length, id; type 3: address, length) locate
 * them.  Only a tree that is a single leaf is read (a few huge objects). */
static ptm_status heap_huge(h5f_file *f, const fheap *h, uint64_t bt, const char *obj)
{
    size_t hl = 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + (size_t)f->so + 2 + f->sl;
    const uint8_t *p = h5f_at(f, bt, hl + 4);
    if (!p || memcmp(p, "BTHD", 4) || p[4] != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap objects: no v2 B-tree header at %llu",
                        (unsigned long long)bt);
    if (!sum_ok(p, hl))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap objects: B-tree header checksum mismatch (damaged)");
    h5f_rd r = h5f_rd_make(p + 5, hl - 5);
    unsigned type = (unsigned)h5f_rd_uint(&r, 1);
    h5f_rd_uint(&r, 4); /* node size */
    unsigned rsz = (unsigned)h5f_rd_uint(&r, 2), depth = (unsigned)h5f_rd_uint(&r, 2);
    h5f_rd_uint(&r, 2); /* split and merge percents */
    uint64_t root = h5f_rd_addr(&r, f);
    unsigned nrec = (unsigned)h5f_rd_uint(&r, 2);
    if (type != 1 && type != 3)
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "huge heap objects: filtered (B-tree type %u, not supported)",
                        type);
    unsigned want = f->so + f->sl + (type == 1 ? f->sl : 0);
    if (rsz != want)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap objects: B-tree records of %u bytes (expected %u)", rsz,
                        want);
    if (depth != 0)
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED,
                        "too many huge heap objects (a v2 B-tree of depth %u; only a single leaf is supported)", depth);
    if (root == H5F_UNDEF || nrec == 0)
        return PTM_OK;
    uint64_t ll = 6 + (uint64_t)nrec * rsz;
    const uint8_t *q = h5f_at(f, root, ll + 4);
    if (!q || memcmp(q, "BTLF", 4) || q[4] != 0 || q[5] != type)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap objects: no v2 B-tree leaf at %llu (truncated?)",
                        (unsigned long long)root);
    if (!sum_ok(q, (size_t)ll))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap objects: B-tree leaf checksum mismatch (damaged)");
    h5f_rd lr = h5f_rd_make(q + 6, (size_t)ll - 6);
    ptm_status s = PTM_OK;
    for (unsigned i = 0; i < nrec && !s; i++) {
        uint64_t addr = h5f_rd_addr(&lr, f), len = h5f_rd_len(&lr, f);
        if (type == 1)
            h5f_rd_len(&lr, f);
        const uint8_t *o = h5f_at(f, addr, len);
        if (!o || len == 0 || len > SIZE_MAX)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "huge heap object at %llu (%llu bytes) lies outside the file",
                            (unsigned long long)addr, (unsigned long long)len);
        size_t used = 0;
        if (!(s = h5f_spend(f, obj, 1)))
            s = h->fn(f, o, (size_t)len, obj, h->ctx, &used);
    }
    return s;
}

ptm_status h5f_heap_walk(h5f_file *f, uint64_t addr, const char *obj, h5f_heap_fn fn, void *ctx)
{
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    fheap h;
    memset(&h, 0, sizeof h);
    h.addr = addr;
    h.fn = fn;
    h.ctx = ctx;
    const uint8_t *p = h5f_at(f, addr, 4);
    if (!p || memcmp(p, "FRHP", 4))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "no fractal heap at %llu (FRHP signature missing or truncated)",
                        (unsigned long long)addr);
    h5f_rd r = h5f_rd_make(p, (size_t)(f->size - (uint64_t)(p - f->img)));
    h5f_rd_bytes(&r, 4);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1);
    h5f_rd_uint(&r, 2); /* heap id length */
    unsigned filt = (unsigned)h5f_rd_uint(&r, 2), flags = (unsigned)h5f_rd_uint(&r, 1);
    h5f_rd_uint(&r, 4); /* max managed object size */
    h5f_rd_len(&r, f);  /* next huge id */
    uint64_t huge_bt = h5f_rd_addr(&r, f);
    h5f_rd_len(&r, f);  /* free space */
    h5f_rd_addr(&r, f); /* free space manager */
    h5f_rd_len(&r, f);  /* managed space */
    h5f_rd_len(&r, f);  /* allocated managed space */
    h5f_rd_len(&r, f);  /* direct block allocation iterator */
    uint64_t nman = h5f_rd_len(&r, f);
    h5f_rd_len(&r, f);  /* huge objects size */
    uint64_t nhuge = h5f_rd_len(&r, f);
    h5f_rd_len(&r, f); /* tiny objects size */
    uint64_t ntiny = h5f_rd_len(&r, f);
    h.width = (unsigned)h5f_rd_uint(&r, 2);
    h.start = h5f_rd_len(&r, f);
    h.max_direct = h5f_rd_len(&r, f);
    unsigned maxbits = (unsigned)h5f_rd_uint(&r, 2);
    h5f_rd_uint(&r, 2); /* starting rows */
    h.root = h5f_rd_addr(&r, f);
    h.rows_root = (unsigned)h5f_rd_uint(&r, 2);
    size_t hlen = r.i;
    if (r.bad || h5f_rd_left(&r) < 4)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap header runs past the end of the file (truncated?)");
    if (ver != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap version %u is not supported", ver);
    if (filt)
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "a filtered fractal heap (not supported)");
    if (!sum_ok(p, hlen))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap header checksum mismatch (damaged)");
    if (ntiny)
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "dense storage holds %llu tiny heap objects (not supported)",
                        (unsigned long long)ntiny);
    unsigned ls, lm;
    if (h.width == 0 || h.width > 65536 || !log2u(h.start, &ls) || !log2u(h.max_direct, &lm) || lm < ls ||
        maxbits == 0 || maxbits > 64 || lm >= 63)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap header has an impossible doubling table");
    h.max_dblock_rows = lm - ls + 2;
    h.boff_size = (maxbits + 7) / 8;
    h.dchecksum = (flags & 2) != 0;
    if (nhuge && (s = heap_huge(f, &h, huge_bt, obj)))
        return s;
    if (h.root != H5F_UNDEF) {
        if (h.rows_root == 0)
            s = heap_direct(f, &h, h.root, h.start, obj);
        else if (h.rows_root > 64)
            s = h5f_fail(f, obj, PTM_ERR_FORMAT, "fractal heap root has %u rows", h.rows_root);
        else
            s = heap_indirect(f, &h, h.root, h.rows_root, obj, 0);
    }
    /* objects are found by parsing the blocks, not through the name index:
     * the count must agree (a deleted object would still be parsed) */
    if (!s && h.nobj != nman)
        s = h5f_fail(f, obj, PTM_ERR_UNSUPPORTED,
                     "dense storage lists %llu objects but its heap blocks hold %llu (deleted entries are not "
                     "supported)",
                     (unsigned long long)nman, (unsigned long long)h.nobj);
    return s;
}

/* ---------------------------------------------------------------- links */

ptm_status h5f_parse_link(h5f_file *f, const uint8_t *p, size_t n, const char *obj, h5f_link *l, size_t *used)
{
    memset(l, 0, sizeof *l);
    h5f_rd r = h5f_rd_make(p, n);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1), fl = (unsigned)h5f_rd_uint(&r, 1);
    if (ver != 1)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged link message (version %u)", ver);
    l->type = (fl & 0x08) ? (int)h5f_rd_uint(&r, 1) : H5F_L_HARD;
    if (fl & 0x04)
        h5f_rd_uint(&r, 8);
    if (fl & 0x10)
        h5f_rd_uint(&r, 1);
    uint64_t nl = h5f_rd_uint(&r, 1u << (fl & 3));
    const uint8_t *name = nl <= h5f_rd_left(&r) ? h5f_rd_bytes(&r, (size_t)nl) : NULL;
    if (!name || nl == 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged link message (name)");
    l->name = (const char *)name;
    l->namelen = (size_t)nl;
    if (l->type == H5F_L_HARD) {
        l->addr = h5f_rd_addr(&r, f);
    } else {
        size_t vl = (size_t)h5f_rd_uint(&r, 2);
        h5f_rd_bytes(&r, vl);
        l->addr = H5F_UNDEF;
    }
    if (r.bad)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged link message \"%.*s\" (truncated)",
                        (int)(l->namelen > 200 ? 200 : l->namelen), l->name);
    *used = r.i;
    return PTM_OK;
}

typedef struct link_list {
    h5f_link *l;
    size_t n, cap;
} link_list;

static ptm_status push_link(h5f_file *f, const char *obj, link_list *ll, const h5f_link *l)
{
    if (ll->n >= H5F_MAX_LINKS)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group has more than %u links", H5F_MAX_LINKS);
    if (ll->n == ll->cap) {
        size_t nc = ll->cap ? 2 * ll->cap : 16;
        h5f_link *g = realloc(ll->l, nc * sizeof *g);
        if (!g)
            return h5f_fail(f, obj, PTM_ERR_NOMEM, "out of memory");
        ll->l = g;
        ll->cap = nc;
    }
    ll->l[ll->n++] = *l;
    return PTM_OK;
}

static ptm_status dense_link(h5f_file *f, const uint8_t *p, size_t n, const char *obj, void *ctx, size_t *used)
{
    h5f_link l;
    ptm_status s = h5f_parse_link(f, p, n, obj, &l, used);
    return s ? s : push_link(f, obj, ctx, &l);
}

/* Symbol table: the local heap's data segment and the v1 B-tree. */
typedef struct symtab {
    const uint8_t *heap;
    size_t heap_len;
} symtab;

static ptm_status snod(h5f_file *f, const symtab *st, uint64_t addr, const char *obj, link_list *ll)
{
    ptm_status s = h5f_spend(f, obj, 1);
    const uint8_t *p = h5f_at(f, addr, 8);
    if (s)
        return s;
    if (!p || memcmp(p, "SNOD", 4))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "symbol table node at %llu is missing or truncated",
                        (unsigned long long)addr);
    unsigned nsym = p[6] | (unsigned)p[7] << 8;
    size_t esz = 2 * (size_t)f->so + 24;
    const uint8_t *e = h5f_at(f, addr + 8, (uint64_t)nsym * esz);
    if (!e)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "symbol table node at %llu runs past the end of the file",
                        (unsigned long long)addr);
    h5f_rd r = h5f_rd_make(e, nsym * esz);
    for (unsigned i = 0; i < nsym && !s; i++) {
        uint64_t noff = h5f_rd_addr(&r, f);
        h5f_link l;
        memset(&l, 0, sizeof l);
        l.addr = h5f_rd_addr(&r, f);
        uint32_t cache = (uint32_t)h5f_rd_uint(&r, 4);
        h5f_rd_bytes(&r, 4 + 16);
        if (noff >= st->heap_len)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "symbol table entry names heap offset %llu (heap of %zu bytes)",
                            (unsigned long long)noff, st->heap_len);
        const uint8_t *nm = st->heap + noff;
        const uint8_t *z = memchr(nm, 0, st->heap_len - (size_t)noff);
        if (!z || z == nm)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "symbol table entry has a damaged name");
        l.name = (const char *)nm;
        l.namelen = (size_t)(z - nm);
        l.type = cache == 2 ? H5F_L_SOFT : H5F_L_HARD;
        s = push_link(f, obj, ll, &l);
    }
    return s;
}

static ptm_status btree(h5f_file *f, const symtab *st, uint64_t addr, int level, const char *obj, link_list *ll)
{
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    size_t hsz = 8 + 2 * (size_t)f->so;
    const uint8_t *p = h5f_at(f, addr, hsz);
    if (!p || memcmp(p, "TREE", 4))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group B-tree node at %llu is missing or truncated",
                        (unsigned long long)addr);
    unsigned type = p[4], lv = p[5], used = p[6] | (unsigned)p[7] << 8;
    if (type != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group B-tree node of type %u", type);
    if (level >= 0 && (int)lv != level)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group B-tree levels are inconsistent (cycle?)");
    uint64_t body = (uint64_t)used * (f->sl + f->so) + f->sl;
    const uint8_t *b = h5f_at(f, addr + hsz, body);
    if (!b)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group B-tree node at %llu runs past the end of the file",
                        (unsigned long long)addr);
    h5f_rd r = h5f_rd_make(b, (size_t)body);
    for (unsigned i = 0; i < used && !s; i++) {
        h5f_rd_len(&r, f); /* key */
        uint64_t child = h5f_rd_addr(&r, f);
        s = lv == 0 ? snod(f, st, child, obj, ll) : btree(f, st, child, (int)lv - 1, obj, ll);
    }
    return s;
}

static ptm_status symbol_table(h5f_file *f, const h5f_msg *m, const char *obj, link_list *ll)
{
    h5f_rd r = h5f_rd_make(m->data, m->len);
    uint64_t bt = h5f_rd_addr(&r, f), lh = h5f_rd_addr(&r, f);
    if (r.bad)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged symbol table message");
    const uint8_t *h = h5f_at(f, lh, 8 + 2 * (size_t)f->sl + f->so);
    if (!h || memcmp(h, "HEAP", 4) || h[4] != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group's local heap at %llu is missing or truncated",
                        (unsigned long long)lh);
    h5f_rd hr = h5f_rd_make(h + 8, 2 * (size_t)f->sl + f->so);
    uint64_t dlen = h5f_rd_len(&hr, f);
    h5f_rd_len(&hr, f);
    uint64_t daddr = h5f_rd_addr(&hr, f);
    symtab st;
    st.heap = h5f_at(f, daddr, dlen);
    if (!st.heap || dlen > SIZE_MAX)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "group's local heap data lies outside the file (truncated?)");
    st.heap_len = (size_t)dlen;
    return btree(f, &st, bt, -1, obj, ll);
}

static int link_cmp(const void *a, const void *b)
{
    const h5f_link *x = a, *y = b;
    size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->namelen > y->namelen) - (x->namelen < y->namelen);
}

ptm_status h5f_links(h5f_file *f, uint64_t addr, const char *obj, const h5f_link **links, size_t *n)
{
    for (size_t i = 0; i < f->ngroups; i++)
        if (f->groups[i].addr == addr) {
            *links = f->groups[i].links;
            *n = f->groups[i].n;
            return PTM_OK;
        }
    h5f_msg *m;
    size_t nm;
    ptm_status s = h5f_header(f, addr, obj, &m, &nm);
    if (s)
        return s;
    link_list ll = {NULL, 0, 0};
    int group = 0;
    for (size_t i = 0; i < nm && !s; i++) {
        if (m[i].type == 0x0011) {
            group = 1;
            s = symbol_table(f, &m[i], obj, &ll);
        } else if (m[i].type == 0x0006) {
            group = 1;
            h5f_link l;
            size_t used;
            s = h5f_parse_link(f, m[i].data, m[i].len, obj, &l, &used);
            if (!s)
                s = push_link(f, obj, &ll, &l);
        } else if (m[i].type == 0x0002) {
            group = 1;
            h5f_rd r = h5f_rd_make(m[i].data, m[i].len);
            unsigned ver = (unsigned)h5f_rd_uint(&r, 1), fl = (unsigned)h5f_rd_uint(&r, 1);
            if (fl & 1)
                h5f_rd_uint(&r, 8);
            uint64_t heap = h5f_rd_addr(&r, f);
            if (r.bad || ver != 0)
                s = h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged link info message");
            else if (heap != H5F_UNDEF)
                s = h5f_heap_walk(f, heap, obj, dense_link, &ll);
        } else if (m[i].type == 0x000A) {
            group = 1;
        } else if (m[i].type == 0x0008) {
            s = h5f_fail(f, obj, PTM_ERR_FORMAT, "is a dataset, not a group");
        }
    }
    free(m);
    if (!s && !group)
        s = h5f_fail(f, obj, PTM_ERR_FORMAT, "is not a group");
    if (!s && f->ngroups == f->capgroups) {
        size_t nc = f->capgroups ? 2 * f->capgroups : 16;
        h5f_group *g = realloc(f->groups, nc * sizeof *g);
        if (!g)
            s = h5f_fail(f, obj, PTM_ERR_NOMEM, "out of memory");
        else {
            f->groups = g;
            f->capgroups = nc;
        }
    }
    if (s) {
        free(ll.l);
        return s;
    }
    if (ll.n > 1)
        qsort(ll.l, ll.n, sizeof *ll.l, link_cmp);
    for (size_t i = 1; i < ll.n; i++)
        if (!link_cmp(&ll.l[i - 1], &ll.l[i])) {
            s = h5f_fail(f, obj, PTM_ERR_FORMAT, "group has two links named \"%.*s\"",
                         (int)(ll.l[i].namelen > 200 ? 200 : ll.l[i].namelen), ll.l[i].name);
            free(ll.l);
            return s;
        }
    h5f_group g = {addr, ll.l, ll.n};
    f->groups[f->ngroups++] = g;
    *links = ll.l;
    *n = ll.n;
    return PTM_OK;
}

/* ---------------------------------------------------------- path lookup */

ptm_status h5f_lookup(h5f_file *f, uint64_t start, const char *path, const char *named_in, uint64_t *addr)
{
    size_t len = strlen(path);
    if (!len || path[0] == '/' || path[len - 1] == '/' || strstr(path, "//"))
        return h5f_fail(f, path, PTM_ERR_FORMAT, "is not a valid object name (empty component)");
    uint64_t cur = start;
    for (size_t at = 0; at < len;) {
        const char *c = path + at;
        const char *e = strchr(c, '/');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        char sofar[512];
        snprintf(sofar, sizeof sofar, "%.*s", (int)(at + cl > 500 ? 500 : at + cl), path);
        const h5f_link *ls;
        size_t n;
        ptm_status s = h5f_spend(f, path, 1);
        if (!s)
            s = h5f_links(f, cur, at ? sofar : "/", &ls, &n);
        if (s)
            return s;
        h5f_link key;
        memset(&key, 0, sizeof key);
        key.name = c;
        key.namelen = cl;
        const h5f_link *l = n ? bsearch(&key, ls, n, sizeof *ls, link_cmp) : NULL;
        if (!l)
            return h5f_fail(f, path, PTM_ERR_FORMAT, "does not exist (named in %s)", named_in);
        if (l->type == H5F_L_EXTERNAL)
            return h5f_fail(f, sofar, PTM_ERR_UNSUPPORTED, "is an external link (refused: it reads another file)");
        if (l->type == H5F_L_SOFT)
            return h5f_fail(f, sofar, PTM_ERR_UNSUPPORTED, "is a soft link (only hard links are followed)");
        if (l->type != H5F_L_HARD)
            return h5f_fail(f, sofar, PTM_ERR_UNSUPPORTED, "is a user-defined link (only hard links are followed)");
        cur = l->addr;
        at += cl + (e ? 1 : 0);
    }
    *addr = cur;
    return PTM_OK;
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
