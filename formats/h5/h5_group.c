/* SPDX-License-Identifier: Apache-2.0 */
/* h5_group.c - HDF5 groups on a memory image: symbol tables (v1 B-tree of
 * type 0 "TREE", symbol nodes "SNOD", local heap "HEAP"), link messages,
 * dense links (through h5_heap.c), the per-file cache of parsed groups, and
 * path lookup through hard links.  Every structure is bounds-checked;
 * B-tree levels must strictly decrease and every node visit is paid from
 * the file's work budget, so cycles and shared nodes cannot loop. */
#include "h5_file_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    h5f_link *g = h5f_grow(f, obj, ll->l, &ll->cap, ll->n, sizeof *g);
    if (!g)
        return PTM_ERR_NOMEM;
    ll->l = g;
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
            uint64_t heap = h5f_rd_addr(&r, f), index = h5f_rd_addr(&r, f);
            if (r.bad || ver != 0)
                s = h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged link info message");
            else if (heap != H5F_UNDEF)
                s = h5f_dense_walk(f, heap, index, 0, obj, dense_link, &ll);
        } else if (m[i].type == 0x000A) {
            group = 1;
        } else if (m[i].type == 0x0008) {
            s = h5f_fail(f, obj, PTM_ERR_FORMAT, "is a dataset, not a group");
        }
    }
    free(m);
    if (!s && !group)
        s = h5f_fail(f, obj, PTM_ERR_FORMAT, "is not a group");
    h5f_group *grown = s ? NULL : h5f_grow(f, obj, f->groups, &f->capgroups, f->ngroups, sizeof *grown);
    if (grown)
        f->groups = grown;
    else if (!s)
        s = PTM_ERR_NOMEM;
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
