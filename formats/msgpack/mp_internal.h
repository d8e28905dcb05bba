/* SPDX-License-Identifier: Apache-2.0 */
/* mp_internal.h - shared between the reader (mp_read.c), the writer
 * (mp_write.c) and the helpers (mp_common.c) of the Flax msgpack plugin. */
#ifndef PTM_MP_INTERNAL_H
#define PTM_MP_INTERNAL_H

#include <ptm/arch.h>
#include <ptm/format.h>
#include <ptm/plugin.h>

#include <stddef.h>
#include <stdint.h>

/* Limits of the reader.  Containers nested deeper than MP_MAX_DEPTH are
 * refused (msgpack-c's own stack holds 32); a file may hold at most
 * MP_MAX_OBJECTS msgpack objects outside ndarray payloads, which bounds the
 * memory msgpack-c's zone allocates for it. */
#define MP_MAX_DEPTH 24
#define MP_MAX_OBJECTS ((size_t)1 << 22)
/* flax.serialization.MAX_CHUNK_SIZE: leaves over this many bytes are
 * written as chunked dicts of 1-D slices. */
#define MP_MAX_CHUNK_SIZE ((uint64_t)1 << 30)
#define MP_CHUNK_MARKER "__msgpack_chunked_array__"

/* numpy dtype names (dtype.name) and the ptm dtype, -1 when ptm has none. */
typedef struct mp_dtype {
    const char *name;
    int ptm;
} mp_dtype;
const mp_dtype *mp_dtype_lookup(const char *s, size_t n);
/* The numpy name of a ptm dtype, or NULL. */
const char *mp_dtype_name(ptm_dtype dt);

/* Record an error "<path>: <message>" (long paths shortened from the left). */
ptm_status mp_fail(const char *path, ptm_status status, const char *fmt, ...) PTM_PRINTF(3, 4);

/* Quote n bytes of a key for a message: printable ASCII as is, the rest as
 * \xNN, cut to at most `max` input bytes. */
void mp_quote(const char *s, size_t n, size_t max, char *out, size_t outsz);

/* Copy `src` (shape in_shape, ndim dims, esize-byte elements, C order) to
 * `dst` transposed: dst dim k is src dim perm[k] (numpy.transpose). */
void mp_permute(const uint8_t *src, uint8_t *dst, size_t esize, int ndim, const int64_t *in_shape, const int *perm);

/* Structural check of one msgpack object at p[*off, len): every length
 * inside the buffer, every container count within the bytes left, nesting
 * at most max_depth, at most *budget objects (decremented).  On success
 * *off is just past the object.  On failure returns a negative MP_SCAN_*
 * code, *off is where the problem is and `key`/`klen` (when not NULL) hold
 * the "/"-joined map keys leading there (best effort, NUL-terminated). */
enum { MP_SCAN_OK = 0, MP_SCAN_TRUNCATED = -1, MP_SCAN_DEEP = -2, MP_SCAN_BAD_BYTE = -3, MP_SCAN_TOO_MANY = -4 };
int mp_scan(const uint8_t *p, size_t len, size_t *off, int max_depth, size_t *budget, char *key, size_t keysz);
const char *mp_scan_str(int code);

/* save / save_model (mp_write.c) */
ptm_status mp_save(const char *path, const ptm_state_dict *sd, const char *const *metadata);
ptm_status mp_save_model(const char *path, const ptm_state_dict *sd, const ptm_save_info *info);

#endif
