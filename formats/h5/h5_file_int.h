/* SPDX-License-Identifier: Apache-2.0 */
/* h5_file_int.h - internals shared by h5_file.c (superblock, object headers,
 * messages, attributes, datasets), h5_group.c (groups, path lookup) and
 * h5_heap.c (fractal heaps, v2 B-trees, the global heap): the file
 * structure, a bounds-checked byte cursor and the parsed object header. */
#ifndef PTM_H5_FILE_INT_H
#define PTM_H5_FILE_INT_H

#include "h5_file.h"

/* Caps on what one file may make us do. */
#define H5F_MAX_MSGS 65536     /* messages in one object header */
#define H5F_MAX_CHUNKS 256     /* continuation chunks of one object header */
#define H5F_MAX_LINKS (1u << 20) /* links in one group */
#define H5F_MAX_ATTRS 65536    /* attributes of one object */
#define H5F_MAX_DEPTH 32       /* nesting of B-trees, indirect blocks, types */

typedef struct h5f_group {
    uint64_t addr;
    h5f_link *links;
    size_t n;
} h5f_group;

struct h5f_file {
    char *path;
    const uint8_t *img;
    uint64_t size;
    uint64_t base; /* image offset of the superblock: addresses are relative to it */
    unsigned so, sl; /* size of offsets, of lengths */
    uint64_t root;
    uint64_t work, work_cap; /* the budget */
    h5f_group *groups;
    size_t ngroups, capgroups;
    /* the last global heap collection indexed */
    uint64_t gcol_addr;
    uint64_t *gcol_off, *gcol_len; /* by object index: image offset and size (len UINT64_MAX: absent) */
    size_t gcol_n;
};

/* A cursor over [p, p+n): reads past the end set `bad` and return 0. */
typedef struct h5f_rd {
    const uint8_t *p;
    size_t n, i;
    int bad;
} h5f_rd;

static inline h5f_rd h5f_rd_make(const uint8_t *p, size_t n)
{
    h5f_rd r = {p, n, 0, 0};
    return r;
}

static inline uint64_t h5f_rd_uint(h5f_rd *r, unsigned k)
{
    if (r->bad || k > r->n - r->i) {
        r->bad = 1;
        r->i = r->n;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned j = 0; j < k; j++)
        v |= (uint64_t)r->p[r->i + j] << (8 * j);
    r->i += k;
    return v;
}

static inline const uint8_t *h5f_rd_bytes(h5f_rd *r, size_t k)
{
    if (r->bad || k > r->n - r->i) {
        r->bad = 1;
        r->i = r->n;
        return NULL;
    }
    const uint8_t *q = r->p + r->i;
    r->i += k;
    return q;
}

static inline size_t h5f_rd_left(const h5f_rd *r) { return r->bad ? 0 : r->n - r->i; }

/* An address (size of offsets bytes; all ones is H5F_UNDEF). */
static inline uint64_t h5f_rd_addr(h5f_rd *r, const h5f_file *f)
{
    uint64_t v = h5f_rd_uint(r, f->so);
    if (f->so < 8 && v == (((uint64_t)1 << (8 * f->so)) - 1))
        return H5F_UNDEF;
    return v;
}

static inline uint64_t h5f_rd_len(h5f_rd *r, const h5f_file *f) { return h5f_rd_uint(r, f->sl); }

/* Whether the 4 bytes after p[0..n) hold the checksum of p[0..n).  The fuzz
 * target is built with H5F_FUZZ_SKIP_CHECKSUMS so that mutations reach the
 * structures behind checksums (the fuzzer cannot forge lookup3 sums). */
static inline int h5f_sum_ok(const uint8_t *p, size_t n)
{
#ifdef H5F_FUZZ_SKIP_CHECKSUMS
    (void)p;
    (void)n;
    return 1;
#else
    uint32_t want = p[n] | (uint32_t)p[n + 1] << 8 | (uint32_t)p[n + 2] << 16 | (uint32_t)p[n + 3] << 24;
    return h5f_checksum(p, n) == want;
#endif
}

/* The image bytes [addr, addr+len) (relative address), or NULL. */
const uint8_t *h5f_at(const h5f_file *f, uint64_t addr, uint64_t len);

/* Spend `units` of the file's budget; fails when it is spent. */
ptm_status h5f_spend(h5f_file *f, const char *obj, uint64_t units);

/* One header message. */
typedef struct h5f_msg {
    unsigned type, flags;
    const uint8_t *data;
    size_t len;
} h5f_msg;

/* All messages of the object header at `addr` (malloc'd; free() it). */
ptm_status h5f_header(h5f_file *f, uint64_t addr, const char *obj, h5f_msg **msgs, size_t *n);

/* Parse a datatype from `r` (advancing it past the type). */
ptm_status h5f_parse_type(h5f_file *f, h5f_rd *r, const char *obj, h5f_type *t, int depth);
ptm_status h5f_parse_space(h5f_file *f, const uint8_t *p, size_t n, const char *obj, h5f_space *s);
/* Parse an attribute message at p (n bytes available); *used: its length. */
ptm_status h5f_parse_attr(h5f_file *f, const uint8_t *p, size_t n, const char *obj, h5f_attr *a, size_t *used);
/* Parse a link message; *used: its length. */
ptm_status h5f_parse_link(h5f_file *f, const uint8_t *p, size_t n, const char *obj, h5f_link *l, size_t *used);

/* Call `fn` on each object (link or attribute message, `attrs`) of the
 * dense storage whose fractal heap header is at `heap` and whose name index
 * (a v2 B-tree) is at `index`, stopping at the first error.  `fn` gets the
 * object's exact bytes and reports the length it parsed. */
typedef ptm_status (*h5f_heap_fn)(h5f_file *f, const uint8_t *p, size_t n, const char *obj, void *ctx, size_t *used);
ptm_status h5f_dense_walk(h5f_file *f, uint64_t heap, uint64_t index, int attrs, const char *obj, h5f_heap_fn fn,
                          void *ctx);

#endif
