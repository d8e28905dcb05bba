/* SPDX-License-Identifier: Apache-2.0 */
/* h5_file.h - a bounds-checked reader of the HDF5 subset that h5py, Keras
 * and transformers write (HDF5 File Format Specification 3.0), working on a
 * memory image of the file (a read-only mapping, or a caller's buffer).
 *
 * Every address and length read from the file is checked against the image
 * before use, sizes are computed with 64-bit overflow checks, and the work
 * spent on one file is capped (a budget proportional to its size), so a
 * damaged or hostile file gives an error, never a crash or a hang.  Nothing
 * here allocates memory that outlives h5f_close except through the file.
 *
 * Supported: superblock v0..v3 (also after a user block), 4- or 8-byte
 * offsets and lengths; object headers v1 and v2 (checksums verified) with
 * continuation chunks; groups as symbol tables (v1 B-tree + local heap),
 * compact link messages or dense links in a fractal heap (through its v2
 * B-tree name index); attributes v1..v3, compact or dense; dataspaces v1/v2; numeric, string, h5py-bool and
 * variable-length string datatypes (global heap); contiguous and compact
 * layouts.  Chunked layouts, filters, external storage, virtual datasets,
 * shared (committed) messages, soft and external links are reported to the
 * caller, which refuses them. */
#ifndef PTM_H5_FILE_H
#define PTM_H5_FILE_H

#include <ptm/ptm.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define H5F_UNDEF UINT64_MAX /* the undefined address (all bits set) */
#define H5F_MAX_RANK 32      /* HDF5's own limit on dataspace ranks */

/* Datatype classes the reader tells apart. */
enum {
    H5F_T_OTHER = 0, /* compound, reference, array, opaque, ... */
    H5F_T_NUMERIC,   /* integer / float / h5py bool: `dt` says which */
    H5F_T_NUMERIC_UNSUPPORTED, /* a number ptm cannot hold (odd size or layout) */
    H5F_T_STRING,    /* fixed-length string of `size` bytes */
    H5F_T_VSTRING,   /* variable-length string (global heap references) */
};

typedef struct h5f_type {
    int cls;
    uint32_t size;  /* bytes per element as stored */
    int be;         /* big-endian numbers */
    int strpad;     /* strings: 0 NUL-terminated, 1 NUL-padded, 2 space-padded */
    int hclass;     /* the HDF5 class number (for messages) */
    ptm_dtype dt;   /* H5F_T_NUMERIC: the element type */
} h5f_type;

enum { H5F_S_SCALAR = 0, H5F_S_SIMPLE = 1, H5F_S_NULL = 2 };

typedef struct h5f_space {
    int kind;
    int ndim;
    uint64_t dims[H5F_MAX_RANK];
    uint64_t numel; /* product of dims (1 for a scalar, 0 for null) */
} h5f_space;

typedef struct h5f_attr {
    const char *name; /* not NUL-terminated: namelen bytes */
    size_t namelen;
    h5f_type type;
    h5f_space space;
    const uint8_t *data; /* numel * type.size bytes inside the image */
} h5f_attr;

/* Link kinds (HDF5's numbers). */
enum { H5F_L_HARD = 0, H5F_L_SOFT = 1, H5F_L_EXTERNAL = 64 };

typedef struct h5f_link {
    const char *name; /* not NUL-terminated: namelen bytes */
    size_t namelen;
    int type;
    uint64_t addr; /* hard links: the object header */
} h5f_link;

enum { H5F_O_OTHER = 0, H5F_O_GROUP = 1, H5F_O_DATASET = 2 };

/* Data layouts (classes of the layout message). */
enum { H5F_LAY_COMPACT = 0, H5F_LAY_CONTIGUOUS = 1, H5F_LAY_CHUNKED = 2, H5F_LAY_VIRTUAL = 3, H5F_LAY_NONE = -1 };

typedef struct h5f_dataset {
    h5f_type type;
    h5f_space space;
    int layout;
    int has_type, has_space;
    int filters;  /* a filter pipeline message is present */
    int external; /* an external data files message is present */
    uint64_t addr;       /* contiguous: data address (relative), or H5F_UNDEF */
    uint64_t size;       /* contiguous/compact: stored bytes */
    const uint8_t *compact; /* compact: the data inside the header */
} h5f_dataset;

typedef struct h5f_file h5f_file;

/* Parse the superblock of `img` (`size` bytes, kept by the caller until
 * h5f_close).  `path` names the file in messages (copied). */
ptm_status h5f_open(const char *path, const uint8_t *img, uint64_t size, h5f_file **out);
void h5f_close(h5f_file *f);

uint64_t h5f_root(const h5f_file *f);
const char *h5f_path(const h5f_file *f);
/* Absolute image offset of relative address `addr` with `len` bytes, or -1
 * when [addr, addr+len) is not inside the image. */
int64_t h5f_abs(const h5f_file *f, uint64_t addr, uint64_t len);
const uint8_t *h5f_image(const h5f_file *f);

/* Fail with "<path>: \"<object>\": <what>" (object may be NULL). */
/* The array `arr` of *cap elements of esize bytes with room for element n
 * (doubled, 16 at first, when full): arr or its moved copy; NULL (arr
 * untouched, a PTM_ERR_NOMEM message set) when memory runs out. */
void *h5f_grow(h5f_file *f, const char *obj, void *arr, size_t *cap, size_t n, size_t esize);
/* h5f_fail with a va_list and the file's path (NULL: "h5"). */
ptm_status h5f_vfail(const char *path, const char *object, ptm_status status, const char *fmt, va_list ap);
ptm_status h5f_fail(const h5f_file *f, const char *object, ptm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The kind of the object whose header is at `addr` (`obj` names it). */
ptm_status h5f_object_kind(h5f_file *f, uint64_t addr, const char *obj, int *kind);

/* The links of group `addr` (cached by the file; do not free), sorted by
 * name.  An object that is not a group is an error. */
ptm_status h5f_links(h5f_file *f, uint64_t addr, const char *obj, const h5f_link **links, size_t *n);

/* The attributes of object `addr` (malloc'd array; free() it). */
ptm_status h5f_attrs(h5f_file *f, uint64_t addr, const char *obj, h5f_attr **attrs, size_t *n);

/* The dataset whose header is at `addr`. */
ptm_status h5f_dataset_read(h5f_file *f, uint64_t addr, const char *obj, h5f_dataset *ds);

/* The bytes of variable-length string element `elem` (type.size bytes of
 * attribute or dataset data): *s points into the image (*len bytes). */
ptm_status h5f_vstring(h5f_file *f, const uint8_t *elem, const char *obj, const uint8_t **s, size_t *len);

/* Resolve `path` ("a/b/c", relative to group `start`) through hard links
 * only.  PTM_ERR_NOT_FOUND-like failures say "does not exist"; soft and
 * external links are refused (PTM_ERR_UNSUPPORTED).  `named_in` completes
 * the "does not exist" message. */
ptm_status h5f_lookup(h5f_file *f, uint64_t start, const char *path, const char *named_in, uint64_t *addr);

/* Jenkins' lookup3 hash (hashlittle) with initial value 0, HDF5's checksum. */
uint32_t h5f_checksum(const uint8_t *p, size_t n);

#endif
