/* SPDX-License-Identifier: Apache-2.0 */
/* h5_file.c - HDF5 low-level structures on a memory image: the superblock,
 * the checksum, object headers (v1 and v2 with continuation chunks), and
 * the messages the reader needs (datatype, dataspace, layout, attribute,
 * filter pipeline, external files).  Groups and heaps are in h5_group.c.
 * Format facts: HDF5 File Format Specification version 3.0. */
#include "h5_file_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t h5f_sig[8] = {0x89, 'H', 'D', 'F', 0x0d, 0x0a, 0x1a, 0x0a};

/* ------------------------------------------------------------- basics */

ptm_status h5f_fail(const h5f_file *f, const char *object, ptm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ptm_status s = h5f_vfail(f ? f->path : NULL, object, status, fmt, ap);
    va_end(ap);
    return s;
}

ptm_status h5f_vfail(const char *path, const char *object, ptm_status status, const char *fmt, va_list ap)
{
    char msg[700];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const char *p = path ? path : "h5";
    size_t pl = strlen(p);
    const char *dots = pl > 300 ? "..." : "";
    if (pl > 300)
        p += pl - 300;
    if (object)
        return ptm_error(status, "%s%s: \"%.300s\": %s", dots, p, object, msg);
    return ptm_error(status, "%s%s: %s", dots, p, msg);
}

void *h5f_grow(h5f_file *f, const char *obj, void *arr, size_t *cap, size_t n, size_t esize)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? 2 * *cap : 16;
    void *g = nc <= SIZE_MAX / esize ? realloc(arr, nc * esize) : NULL;
    if (!g) {
        h5f_fail(f, obj, PTM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *cap = nc;
    return g;
}

const uint8_t *h5f_at(const h5f_file *f, uint64_t addr, uint64_t len)
{
    if (addr == H5F_UNDEF || addr > f->size - f->base)
        return NULL;
    uint64_t a = f->base + addr;
    if (len > f->size - a)
        return NULL;
    return f->img + a;
}

int64_t h5f_abs(const h5f_file *f, uint64_t addr, uint64_t len)
{
    const uint8_t *p = h5f_at(f, addr, len);
    return p ? (int64_t)(p - f->img) : -1;
}

const uint8_t *h5f_image(const h5f_file *f) { return f->img; }
uint64_t h5f_root(const h5f_file *f) { return f->root; }
const char *h5f_path(const h5f_file *f) { return f->path; }

ptm_status h5f_spend(h5f_file *f, const char *obj, uint64_t units)
{
    if (units > f->work_cap - f->work) {
        f->work = f->work_cap;
        return h5f_fail(f, obj, PTM_ERR_FORMAT,
                        "the file's structure needs more work than its size allows (cycles or shared nodes?)");
    }
    f->work += units;
    return PTM_OK;
}

static uint32_t rot(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

/* Bob Jenkins' lookup3 "hashlittle", which HDF5 uses as its checksum. */
uint32_t h5f_checksum(const uint8_t *k, size_t n)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)n;
    while (n > 12) {
        a += k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
        b += k[4] | (uint32_t)k[5] << 8 | (uint32_t)k[6] << 16 | (uint32_t)k[7] << 24;
        c += k[8] | (uint32_t)k[9] << 8 | (uint32_t)k[10] << 16 | (uint32_t)k[11] << 24;
        a -= c; a ^= rot(c, 4); c += b;
        b -= a; b ^= rot(a, 6); a += c;
        c -= b; c ^= rot(b, 8); b += a;
        a -= c; a ^= rot(c, 16); c += b;
        b -= a; b ^= rot(a, 19); a += c;
        c -= b; c ^= rot(b, 4); b += a;
        n -= 12;
        k += 12;
    }
    if (n == 0)
        return c;
    uint8_t t[12] = {0};
    memcpy(t, k, n);
    a += t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    b += t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
    c += t[8] | (uint32_t)t[9] << 8 | (uint32_t)t[10] << 16 | (uint32_t)t[11] << 24;
    c ^= b; c -= rot(b, 14);
    a ^= c; a -= rot(c, 11);
    b ^= a; b -= rot(a, 25);
    c ^= b; c -= rot(b, 16);
    a ^= c; a -= rot(c, 4);
    b ^= a; b -= rot(a, 14);
    c ^= b; c -= rot(b, 24);
    return c;
}


/* ----------------------------------------------------------- superblock */

ptm_status h5f_open(const char *path, const uint8_t *img, uint64_t size, h5f_file **out)
{
    *out = NULL;
    h5f_file *f = calloc(1, sizeof *f);
    if (!f)
        return ptm_error(PTM_ERR_NOMEM, "%s: out of memory", path);
    size_t pl = strlen(path) + 1;
    if (!(f->path = malloc(pl))) {
        free(f);
        return ptm_error(PTM_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(f->path, path, pl);
    f->img = img;
    f->size = size;
    f->gcol_addr = H5F_UNDEF;
    f->work_cap = ((uint64_t)1 << 20) + size / 2;
    ptm_status s = PTM_OK;
    /* the signature: at 0, 512, 1024, 2048, ... (after a user block) */
    uint64_t at = 0;
    for (;;) {
        if (at > size || size - at < 8) {
            s = h5f_fail(f, NULL, PTM_ERR_FORMAT, "not an HDF5 file (no HDF5 signature)");
            goto done;
        }
        if (!memcmp(img + at, h5f_sig, 8))
            break;
        at = at ? at * 2 : 512;
    }
    f->base = at;
    h5f_rd r = h5f_rd_make(img + at, (size_t)(size - at < 4096 ? size - at : 4096));
    h5f_rd_bytes(&r, 8);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1);
    if (ver <= 1) {
        h5f_rd_bytes(&r, 4); /* free-space, root symbol table, reserved, shared header versions */
        f->so = (unsigned)h5f_rd_uint(&r, 1);
        f->sl = (unsigned)h5f_rd_uint(&r, 1);
        h5f_rd_bytes(&r, 1 + 2 + 2 + 4 + (ver == 1 ? 4 : 0));
    } else if (ver <= 3) {
        f->so = (unsigned)h5f_rd_uint(&r, 1);
        f->sl = (unsigned)h5f_rd_uint(&r, 1);
        h5f_rd_bytes(&r, 1);
    } else {
        s = h5f_fail(f, NULL, PTM_ERR_UNSUPPORTED, "HDF5 superblock version %u is not supported", ver);
        goto done;
    }
    if (r.bad) {
        s = h5f_fail(f, NULL, PTM_ERR_FORMAT, "truncated HDF5 superblock");
        goto done;
    }
    if ((f->so != 4 && f->so != 8) || (f->sl != 4 && f->sl != 8)) {
        s = h5f_fail(f, NULL, PTM_ERR_UNSUPPORTED,
                     "HDF5 superblock says %u-byte offsets and %u-byte lengths (4 or 8 are supported)", f->so, f->sl);
        goto done;
    }
    h5f_rd_addr(&r, f); /* base address: the superblock's position is used instead */
    if (ver <= 1) {
        h5f_rd_addr(&r, f); /* free-space info */
        h5f_rd_addr(&r, f); /* end of file */
        h5f_rd_addr(&r, f); /* driver info */
        h5f_rd_addr(&r, f); /* root entry: link name offset */
        f->root = h5f_rd_addr(&r, f);
        h5f_rd_bytes(&r, 4 + 4 + 16);
    } else {
        h5f_rd_addr(&r, f); /* superblock extension */
        h5f_rd_addr(&r, f); /* end of file */
        f->root = h5f_rd_addr(&r, f);
        if (!r.bad && h5f_rd_left(&r) >= 4 && !h5f_sum_ok(r.p, r.i)) {
            s = h5f_fail(f, NULL, PTM_ERR_FORMAT, "HDF5 superblock checksum mismatch (damaged file)");
            goto done;
        }
        h5f_rd_bytes(&r, 4);
    }
    if (r.bad)
        s = h5f_fail(f, NULL, PTM_ERR_FORMAT, "truncated HDF5 superblock");
    else if (!h5f_at(f, f->root, 1))
        s = h5f_fail(f, NULL, PTM_ERR_FORMAT, "the root group's address %llu is outside the file (truncated?)",
                     (unsigned long long)f->root);
done:
    if (s) {
        h5f_close(f);
        return s;
    }
    *out = f;
    return PTM_OK;
}

void h5f_close(h5f_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ngroups; i++)
        free(f->groups[i].links);
    free(f->groups);
    free(f->gcol_off);
    free(f->gcol_len);
    free(f->path);
    free(f);
}

/* ------------------------------------------------------- object headers */

typedef struct msg_list {
    h5f_msg *m;
    size_t n, cap;
    uint64_t chunks[H5F_MAX_CHUNKS];
    size_t nchunks;
} msg_list;

static ptm_status push_msg(h5f_file *f, const char *obj, msg_list *l, unsigned type, unsigned flags,
                           const uint8_t *data, size_t len)
{
    if (l->n >= H5F_MAX_MSGS)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header has more than %d messages", H5F_MAX_MSGS);
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    h5f_msg *g = h5f_grow(f, obj, l->m, &l->cap, l->n, sizeof *g);
    if (!g)
        return PTM_ERR_NOMEM;
    l->m = g;
    h5f_msg m = {type, flags, data, len};
    l->m[l->n++] = m;
    return PTM_OK;
}

/* A new continuation chunk at `addr`: refuse repeats and too many. */
static ptm_status new_chunk(h5f_file *f, const char *obj, msg_list *l, uint64_t addr)
{
    for (size_t i = 0; i < l->nchunks; i++)
        if (l->chunks[i] == addr)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header continuation chunks form a cycle");
    if (l->nchunks >= H5F_MAX_CHUNKS)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header has more than %d continuation chunks",
                        H5F_MAX_CHUNKS);
    l->chunks[l->nchunks++] = addr;
    return PTM_OK;
}

/* Messages of one chunk [p, p+n); v2: `crt` creation-order fields.  The
 * continuation messages found are followed after the chunk (recursion
 * depth is bounded by H5F_MAX_CHUNKS through new_chunk). */
static ptm_status chunk_msgs(h5f_file *f, const char *obj, msg_list *l, const uint8_t *p, size_t n, int v2, int crt)
{
    h5f_rd r = h5f_rd_make(p, n);
    size_t hsz = v2 ? 4u + (crt ? 2u : 0u) : 8u;
    size_t first = l->n;
    while (h5f_rd_left(&r) >= hsz) {
        unsigned type, flags;
        size_t len;
        if (v2) {
            type = (unsigned)h5f_rd_uint(&r, 1);
            len = (size_t)h5f_rd_uint(&r, 2);
            flags = (unsigned)h5f_rd_uint(&r, 1);
            if (crt)
                h5f_rd_uint(&r, 2);
        } else {
            type = (unsigned)h5f_rd_uint(&r, 2);
            len = (size_t)h5f_rd_uint(&r, 2);
            flags = (unsigned)h5f_rd_uint(&r, 1);
            h5f_rd_bytes(&r, 3);
        }
        const uint8_t *d = h5f_rd_bytes(&r, len);
        if (!d)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header message (type %u, %zu bytes) runs past its chunk",
                            type, len);
        ptm_status s = push_msg(f, obj, l, type, flags, d, len);
        if (s)
            return s;
    }
    size_t last = l->n;
    for (size_t i = first; i < last; i++) {
        if (l->m[i].type != 0x0010)
            continue;
        h5f_rd c = h5f_rd_make(l->m[i].data, l->m[i].len);
        uint64_t addr = h5f_rd_addr(&c, f), len = h5f_rd_len(&c, f);
        if (c.bad)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged continuation message");
        const uint8_t *q = h5f_at(f, addr, len);
        if (!q || len > SIZE_MAX)
            return h5f_fail(f, obj, PTM_ERR_FORMAT,
                            "object header continuation at %llu (+%llu bytes) lies outside the file (truncated?)",
                            (unsigned long long)addr, (unsigned long long)len);
        ptm_status s = new_chunk(f, obj, l, addr);
        if (s)
            return s;
        if (v2) {
            if (len < 8 || memcmp(q, "OCHK", 4))
                return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header continuation has no OCHK signature");
            if (!h5f_sum_ok(q, (size_t)len - 4))
                return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header continuation checksum mismatch (damaged)");
            s = chunk_msgs(f, obj, l, q + 4, (size_t)len - 8, 1, crt);
        } else {
            s = chunk_msgs(f, obj, l, q, (size_t)len, 0, 0);
        }
        if (s)
            return s;
    }
    return PTM_OK;
}

ptm_status h5f_header(h5f_file *f, uint64_t addr, const char *obj, h5f_msg **msgs, size_t *n)
{
    *msgs = NULL;
    *n = 0;
    msg_list l;
    memset(&l, 0, sizeof l);
    ptm_status s = h5f_spend(f, obj, 1);
    if (s)
        return s;
    const uint8_t *p = h5f_at(f, addr, 16);
    if (!p)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header at %llu lies outside the file (truncated?)",
                        (unsigned long long)addr);
    new_chunk(f, obj, &l, addr);
    if (!memcmp(p, "OHDR", 4)) {
        h5f_rd r = h5f_rd_make(p, (size_t)(f->size - (uint64_t)(p - f->img)));
        h5f_rd_bytes(&r, 4);
        unsigned ver = (unsigned)h5f_rd_uint(&r, 1), fl = (unsigned)h5f_rd_uint(&r, 1);
        if (ver != 2)
            return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "object header version %u is not supported", ver);
        if (fl & 0x20)
            h5f_rd_bytes(&r, 16);
        if (fl & 0x10)
            h5f_rd_bytes(&r, 4);
        uint64_t csz = h5f_rd_uint(&r, 1u << (fl & 3));
        size_t start = r.i;
        if (r.bad || csz > h5f_rd_left(&r) || h5f_rd_left(&r) - csz < 4)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header runs past the end of the file (truncated?)");
        if (!h5f_sum_ok(p, start + (size_t)csz))
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header checksum mismatch (damaged file)");
        s = chunk_msgs(f, obj, &l, p + start, (size_t)csz, 1, (fl & 0x04) != 0);
    } else if (p[0] == 1) {
        uint64_t hsz = (uint64_t)p[8] | (uint64_t)p[9] << 8 | (uint64_t)p[10] << 16 | (uint64_t)p[11] << 24;
        const uint8_t *q = h5f_at(f, addr, 16 + hsz);
        if (!q)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "object header runs past the end of the file (truncated?)");
        s = chunk_msgs(f, obj, &l, q + 16, (size_t)hsz, 0, 0);
    } else {
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "no object header at %llu (version byte %u)",
                        (unsigned long long)addr, p[0]);
    }
    if (s) {
        free(l.m);
        return s;
    }
    *msgs = l.m;
    *n = l.n;
    return PTM_OK;
}

/* ------------------------------------------------------------ datatypes */

static ptm_dtype int_dtype(uint32_t size, int sign)
{
    if (sign)
        return size == 1 ? PTM_I8 : size == 2 ? PTM_I16 : size == 4 ? PTM_I32 : size == 8 ? PTM_I64 : PTM_DTYPE_AUTO;
    return size == 1 ? PTM_U8 : PTM_DTYPE_AUTO;
}

ptm_status h5f_parse_type(h5f_file *f, h5f_rd *r, const char *obj, h5f_type *t, int depth)
{
    memset(t, 0, sizeof *t);
    t->dt = PTM_DTYPE_AUTO;
    if (depth > 4)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "datatype nested too deeply");
    unsigned b0 = (unsigned)h5f_rd_uint(r, 1);
    uint32_t bits = (uint32_t)h5f_rd_uint(r, 3);
    t->size = (uint32_t)h5f_rd_uint(r, 4);
    unsigned cls = b0 & 0x0f, ver = b0 >> 4;
    t->hclass = (int)cls;
    if (r->bad || ver < 1 || ver > 4)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged datatype (version %u)", ver);
    t->be = bits & 1;
    switch (cls) {
    case 0: { /* fixed-point */
        unsigned off = (unsigned)h5f_rd_uint(r, 2), prec = (unsigned)h5f_rd_uint(r, 2);
        t->cls = H5F_T_NUMERIC_UNSUPPORTED;
        if (off == 0 && prec == 8 * t->size && (t->dt = int_dtype(t->size, (bits >> 3) & 1)) != PTM_DTYPE_AUTO)
            t->cls = H5F_T_NUMERIC;
        break;
    }
    case 1: { /* floating point: IEEE binary16/32/64 and bfloat16 layouts */
        unsigned off = (unsigned)h5f_rd_uint(r, 2), prec = (unsigned)h5f_rd_uint(r, 2);
        unsigned eloc = (unsigned)h5f_rd_uint(r, 1), esz = (unsigned)h5f_rd_uint(r, 1);
        unsigned mloc = (unsigned)h5f_rd_uint(r, 1), msz = (unsigned)h5f_rd_uint(r, 1);
        uint32_t bias = (uint32_t)h5f_rd_uint(r, 4);
        unsigned sign = (bits >> 8) & 0xff;
        t->cls = H5F_T_NUMERIC_UNSUPPORTED;
        if ((bits & 0x40) || off != 0 || prec != 8 * t->size || mloc != 0 || sign != prec - 1 || eloc != msz ||
            esz + msz + 1 != prec)
            break;
        if (t->size == 2 && esz == 5 && bias == 15)
            t->dt = PTM_F16;
        else if (t->size == 2 && esz == 8 && bias == 127)
            t->dt = PTM_BF16;
        else if (t->size == 4 && esz == 8 && bias == 127)
            t->dt = PTM_F32;
        else if (t->size == 8 && esz == 11 && bias == 1023)
            t->dt = PTM_F64;
        if (t->dt != PTM_DTYPE_AUTO)
            t->cls = H5F_T_NUMERIC;
        break;
    }
    case 3: /* fixed-length string */
        t->cls = H5F_T_STRING;
        t->strpad = (int)(bits & 0x0f);
        break;
    case 8: { /* enumeration: h5py's bool is an int8 enum of two members */
        h5f_type base;
        ptm_status s = h5f_parse_type(f, r, obj, &base, depth + 1);
        if (s)
            return s;
        unsigned nm = bits & 0xffff;
        t->cls = H5F_T_NUMERIC_UNSUPPORTED;
        if (base.cls == H5F_T_NUMERIC && base.size == 1 && t->size == 1 && nm == 2 &&
            (base.dt == PTM_I8 || base.dt == PTM_U8)) {
            t->cls = H5F_T_NUMERIC;
            t->dt = PTM_BOOL;
        }
        r->i = r->n; /* names and values are not needed: the type is the last thing in its span */
        break;
    }
    case 9: { /* variable-length: strings (type 1) only */
        h5f_type base;
        ptm_status s = h5f_parse_type(f, r, obj, &base, depth + 1);
        if (s)
            return s;
        t->cls = (bits & 0x0f) == 1 ? H5F_T_VSTRING : H5F_T_OTHER;
        if (t->cls == H5F_T_VSTRING && t->size != 4 + f->so + 4)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "variable-length string type of %u bytes (expected %u)", t->size,
                            4 + f->so + 4);
        break;
    }
    default:
        t->cls = H5F_T_OTHER; /* properties unknown here: the caller refuses the type */
        r->i = r->n;
        break;
    }
    if (r->bad)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged datatype (class %u)", cls);
    if (t->size == 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "datatype of size 0");
    return PTM_OK;
}

ptm_status h5f_parse_space(h5f_file *f, const uint8_t *p, size_t n, const char *obj, h5f_space *s)
{
    memset(s, 0, sizeof *s);
    h5f_rd r = h5f_rd_make(p, n);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1), nd = (unsigned)h5f_rd_uint(&r, 1);
    unsigned fl = (unsigned)h5f_rd_uint(&r, 1);
    if (ver == 1) {
        h5f_rd_bytes(&r, 5);
        s->kind = nd ? H5F_S_SIMPLE : H5F_S_SCALAR;
    } else if (ver == 2) {
        unsigned ty = (unsigned)h5f_rd_uint(&r, 1);
        if (ty > 2)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged dataspace (type %u)", ty);
        s->kind = (int)ty;
    } else {
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged dataspace (version %u)", ver);
    }
    if (nd > H5F_MAX_RANK)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "dataspace of %u dimensions (HDF5 allows %d)", nd, H5F_MAX_RANK);
    if (s->kind != H5F_S_SIMPLE && nd != 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged dataspace (scalar or null with %u dimensions)", nd);
    s->ndim = (int)nd;
    s->numel = s->kind == H5F_S_NULL ? 0 : 1;
    int over = 0;
    for (unsigned i = 0; i < nd; i++) {
        s->dims[i] = h5f_rd_len(&r, f);
        if (s->dims[i] && s->numel > UINT64_MAX / s->dims[i])
            over = 1;
        s->numel *= s->dims[i];
    }
    (void)fl; /* maximum dimensions may follow: not needed */
    if (r.bad)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged dataspace (truncated)");
    if (over || s->numel > (uint64_t)INT64_MAX)
        return h5f_fail(f, obj, PTM_ERR_OVERFLOW, "dataspace has more elements than 2^63");
    for (unsigned i = 0; i < nd && !over; i++)
        if (s->dims[i] > (uint64_t)INT64_MAX)
            return h5f_fail(f, obj, PTM_ERR_OVERFLOW, "dataspace dimension %u is too large", i);
    return PTM_OK;
}

/* ---------------------------------------------------------- attributes */

static size_t pad8(size_t x) { return (x + 7) & ~(size_t)7; }

ptm_status h5f_parse_attr(h5f_file *f, const uint8_t *p, size_t n, const char *obj, h5f_attr *a, size_t *used)
{
    memset(a, 0, sizeof *a);
    h5f_rd r = h5f_rd_make(p, n);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1), fl = (unsigned)h5f_rd_uint(&r, 1);
    size_t nsz = (size_t)h5f_rd_uint(&r, 2), tsz = (size_t)h5f_rd_uint(&r, 2), ssz = (size_t)h5f_rd_uint(&r, 2);
    if (ver == 3)
        h5f_rd_uint(&r, 1); /* name character set */
    if (r.bad || ver < 1 || ver > 3)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged attribute message (version %u)", ver);
    if (ver >= 2 && (fl & 3))
        return h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "an attribute with a shared datatype or dataspace (not supported)");
    int pad = ver == 1;
    const uint8_t *nm = h5f_rd_bytes(&r, pad ? pad8(nsz) : nsz);
    const uint8_t *tp = h5f_rd_bytes(&r, pad ? pad8(tsz) : tsz);
    const uint8_t *sp = h5f_rd_bytes(&r, pad ? pad8(ssz) : ssz);
    if (!nm || !tp || !sp || nsz == 0)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged attribute message (truncated)");
    a->name = (const char *)nm;
    a->namelen = nsz;
    const void *z = memchr(nm, 0, nsz);
    if (z)
        a->namelen = (size_t)((const uint8_t *)z - nm);
    h5f_rd tr = h5f_rd_make(tp, tsz);
    ptm_status s = h5f_parse_type(f, &tr, obj, &a->type, 0);
    if (!s)
        s = h5f_parse_space(f, sp, ssz, obj, &a->space);
    if (s)
        return s;
    if (a->space.numel > SIZE_MAX / a->type.size)
        return h5f_fail(f, obj, PTM_ERR_OVERFLOW, "attribute \"%.*s\" is too large", (int)(a->namelen > 200 ? 200 : a->namelen),
                        a->name);
    size_t dsz = (size_t)a->space.numel * a->type.size;
    if (!(a->data = h5f_rd_bytes(&r, dsz)))
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "attribute \"%.*s\" holds %zu bytes but its message has room for %zu",
                        (int)(a->namelen > 200 ? 200 : a->namelen), a->name, dsz, h5f_rd_left(&r));
    *used = r.i;
    return PTM_OK;
}

typedef struct attr_list {
    h5f_attr *a;
    size_t n, cap;
} attr_list;

static ptm_status push_attr(h5f_file *f, const char *obj, attr_list *l, const h5f_attr *a)
{
    if (l->n >= H5F_MAX_ATTRS)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "more than %d attributes", H5F_MAX_ATTRS);
    h5f_attr *g = h5f_grow(f, obj, l->a, &l->cap, l->n, sizeof *g);
    if (!g)
        return PTM_ERR_NOMEM;
    l->a = g;
    l->a[l->n++] = *a;
    return PTM_OK;
}

static ptm_status dense_attr(h5f_file *f, const uint8_t *p, size_t n, const char *obj, void *ctx, size_t *used)
{
    h5f_attr a;
    ptm_status s = h5f_parse_attr(f, p, n, obj, &a, used);
    return s ? s : push_attr(f, obj, ctx, &a);
}

ptm_status h5f_attrs(h5f_file *f, uint64_t addr, const char *obj, h5f_attr **attrs, size_t *n)
{
    *attrs = NULL;
    *n = 0;
    h5f_msg *m;
    size_t nm;
    ptm_status s = h5f_header(f, addr, obj, &m, &nm);
    if (s)
        return s;
    attr_list l = {NULL, 0, 0};
    for (size_t i = 0; i < nm && !s; i++) {
        if (m[i].type == 0x000C) {
            if (m[i].flags & 2) {
                s = h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "a shared attribute message (not supported)");
                break;
            }
            h5f_attr a;
            size_t used;
            s = h5f_parse_attr(f, m[i].data, m[i].len, obj, &a, &used);
            if (!s)
                s = push_attr(f, obj, &l, &a);
        } else if (m[i].type == 0x0015) { /* attribute info: dense storage */
            h5f_rd r = h5f_rd_make(m[i].data, m[i].len);
            unsigned ver = (unsigned)h5f_rd_uint(&r, 1), fl = (unsigned)h5f_rd_uint(&r, 1);
            if (fl & 1)
                h5f_rd_uint(&r, 2);
            uint64_t heap = h5f_rd_addr(&r, f), index = h5f_rd_addr(&r, f);
            if (r.bad || ver != 0)
                s = h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged attribute info message");
            else if (heap != H5F_UNDEF)
                s = h5f_dense_walk(f, heap, index, 1, obj, dense_attr, &l);
        }
    }
    free(m);
    if (s) {
        free(l.a);
        return s;
    }
    *attrs = l.a;
    *n = l.n;
    return PTM_OK;
}

/* ------------------------------------------------------------- datasets */

static ptm_status parse_layout(h5f_file *f, const h5f_msg *m, const char *obj, h5f_dataset *ds)
{
    h5f_rd r = h5f_rd_make(m->data, m->len);
    unsigned ver = (unsigned)h5f_rd_uint(&r, 1);
    if (ver == 1 || ver == 2) {
        unsigned nd = (unsigned)h5f_rd_uint(&r, 1), cls = (unsigned)h5f_rd_uint(&r, 1);
        h5f_rd_bytes(&r, 5);
        if (cls > 2)
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged data layout (class %u)", cls);
        ds->layout = (int)cls;
        if (cls != 0)
            ds->addr = h5f_rd_addr(&r, f);
        h5f_rd_bytes(&r, 4 * (size_t)nd);
        if (cls == 0) {
            ds->size = h5f_rd_uint(&r, 4);
            ds->compact = h5f_rd_bytes(&r, (size_t)ds->size);
        } else {
            ds->size = H5F_UNDEF; /* not stored: the dataspace and type decide */
        }
    } else if (ver == 3 || ver == 4) {
        unsigned cls = (unsigned)h5f_rd_uint(&r, 1);
        if (cls > 3 || (cls == 3 && ver == 3))
            return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged data layout (class %u)", cls);
        ds->layout = (int)cls;
        if (cls == 0) {
            ds->size = h5f_rd_uint(&r, 2);
            ds->compact = h5f_rd_bytes(&r, (size_t)ds->size);
        } else if (cls == 1) {
            ds->addr = h5f_rd_addr(&r, f);
            ds->size = h5f_rd_len(&r, f);
        }
    } else {
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged data layout (version %u)", ver);
    }
    if (r.bad)
        return h5f_fail(f, obj, PTM_ERR_FORMAT, "damaged data layout (truncated)");
    return PTM_OK;
}

ptm_status h5f_dataset_read(h5f_file *f, uint64_t addr, const char *obj, h5f_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->layout = H5F_LAY_NONE;
    ds->addr = H5F_UNDEF;
    h5f_msg *m;
    size_t nm;
    ptm_status s = h5f_header(f, addr, obj, &m, &nm);
    if (s)
        return s;
    int seen_layout = 0;
    for (size_t i = 0; i < nm && !s; i++) {
        unsigned t = m[i].type;
        if ((m[i].flags & 2) && (t == 0x0001 || t == 0x0003 || t == 0x0008 || t == 0x000B))
            s = h5f_fail(f, obj, PTM_ERR_UNSUPPORTED,
                         "uses a shared (committed) %s message (not supported)",
                         t == 0x0003 ? "datatype" : t == 0x0001 ? "dataspace" : "header");
        else if (t == 0x0001 && !ds->has_space) {
            s = h5f_parse_space(f, m[i].data, m[i].len, obj, &ds->space);
            ds->has_space = 1;
        } else if (t == 0x0003 && !ds->has_type) {
            h5f_rd r = h5f_rd_make(m[i].data, m[i].len);
            s = h5f_parse_type(f, &r, obj, &ds->type, 0);
            ds->has_type = 1;
        } else if (t == 0x0008 && !seen_layout) {
            s = parse_layout(f, &m[i], obj, ds);
            seen_layout = 1;
        } else if (t == 0x000B) {
            ds->filters = 1;
        } else if (t == 0x0007) {
            ds->external = 1;
        } else if (t > 0x0018 && (m[i].flags & 0x80)) {
            s = h5f_fail(f, obj, PTM_ERR_UNSUPPORTED, "has header message type %u, which must be understood", t);
        }
    }
    free(m);
    if (!s && (!seen_layout || !ds->has_type || !ds->has_space))
        s = h5f_fail(f, obj, PTM_ERR_FORMAT, "dataset header lacks its %s message",
                     !seen_layout ? "layout" : !ds->has_type ? "datatype" : "dataspace");
    return s;
}

ptm_status h5f_object_kind(h5f_file *f, uint64_t addr, const char *obj, int *kind)
{
    h5f_msg *m;
    size_t nm;
    ptm_status s = h5f_header(f, addr, obj, &m, &nm);
    if (s)
        return s;
    *kind = H5F_O_OTHER;
    for (size_t i = 0; i < nm; i++) {
        unsigned t = m[i].type;
        if (t == 0x0008) {
            *kind = H5F_O_DATASET;
            break;
        }
        if (t == 0x0011 || t == 0x0002 || t == 0x0006 || t == 0x000A)
            *kind = H5F_O_GROUP;
    }
    free(m);
    return PTM_OK;
}
