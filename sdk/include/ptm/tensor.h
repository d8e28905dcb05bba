/* SPDX-License-Identifier: Apache-2.0 */
/* tensor.h - dtypes, reference-counted buffers (heap or mmap'd file regions),
 * tensors, f16/bf16 conversion and the state dict (ordered name -> tensor). */
#ifndef PTM_TENSOR_H
#define PTM_TENSOR_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- dtypes */

/* Element types.  The F8 types are storage only (no compute).  The numeric
 * values are part of the ABI. */
typedef enum ptm_dtype {
    PTM_F64 = 0,
    PTM_F32 = 1,
    PTM_F16 = 2,
    PTM_BF16 = 3,
    PTM_I64 = 4,
    PTM_I32 = 5,
    PTM_I16 = 6,
    PTM_I8 = 7,
    PTM_U8 = 8,
    PTM_BOOL = 9,
    PTM_F8_E4M3 = 10, /* e4m3fn: no inf, NaN = S.1111.111, max 448 */
    PTM_F8_E5M2 = 11,
    PTM_DTYPE_COUNT = 12,
    PTM_DTYPE_AUTO = -1 /* in options: "take it from config / checkpoint" */
} ptm_dtype;

/* Bytes per element (1..8), or 0 for an invalid dtype. */
PTM_API size_t ptm_dtype_size(ptm_dtype dt);
/* The safetensors name ("F32", "BF16", "F8_E4M3", ...); "?" if invalid. */
PTM_API const char *ptm_dtype_name(ptm_dtype dt);
/* The torch name without "torch." ("float32", "bfloat16", "bool", ...). */
PTM_API const char *ptm_dtype_torch_name(ptm_dtype dt);
/* Parse a safetensors name (case-sensitive) or a torch name ("float16",
 * "torch.float16", "half", "bf16", "f32", ...).  PTM_ERR_NOT_FOUND if unknown. */
PTM_API ptm_status ptm_dtype_parse(const char *name, ptm_dtype *out);
/* 1 for F64/F32/F16/BF16/F8_*, else 0. */
PTM_API int ptm_dtype_is_float(ptm_dtype dt);

/* Scalar conversions.  f32 -> f16/bf16 round to nearest, ties to even; NaN
 * stays NaN (quiet), overflow goes to infinity. */
PTM_API float ptm_f16_to_f32(uint16_t h);
PTM_API uint16_t ptm_f32_to_f16(float f);
PTM_API float ptm_bf16_to_f32(uint16_t b);
PTM_API uint16_t ptm_f32_to_bf16(float f);
PTM_API float ptm_f8e4m3_to_f32(uint8_t v);
PTM_API uint8_t ptm_f32_to_f8e4m3(float f); /* beyond +-448 and NaN give NaN (0x7f/0xff), as torch */
PTM_API float ptm_f8e5m2_to_f32(uint8_t v);
PTM_API uint8_t ptm_f32_to_f8e5m2(float f);   /* beyond +-57344 gives infinity */

/* Convert `n` elements from `src` (type `sdt`) to `dst` (type `ddt`).
 * Any pair of dtypes; floats to integers truncate toward zero and saturate,
 * BOOL is written as 0/1.  src and dst must not overlap unless equal types. */
PTM_API ptm_status ptm_convert(const void *src, ptm_dtype sdt, void *dst, ptm_dtype ddt, size_t n);

/* --------------------------------------------------------------- buffers */

/* A reference-counted span of bytes: heap memory, a read-only mmap of a file,
 * a view into another buffer (which it keeps alive), or memory wrapped from
 * the caller.  Thread-safe reference counting. */
typedef struct ptm_buffer ptm_buffer;

/* Heap buffer of `nbytes` zeroed bytes (nbytes may be 0).  Refcount 1. */
PTM_API ptm_status ptm_buffer_alloc(size_t nbytes, ptm_buffer **out);
/* Map a whole file read-only (empty files give an empty buffer).  The file
 * may be replaced or deleted afterwards; the mapping stays valid. */
PTM_API ptm_status ptm_buffer_map_file(const char *path, ptm_buffer **out);
/* A view of [offset, offset+nbytes) of `parent`; retains parent.  Read-only
 * if the parent is.  PTM_ERR_INVALID_ARG if the range is out of bounds. */
PTM_API ptm_status ptm_buffer_view(ptm_buffer *parent, size_t offset, size_t nbytes, ptm_buffer **out);
/* Wrap caller memory; `release(data, user)` runs when the last ref goes
 * (may be NULL).  `readonly` forbids ptm_buffer_data_mut. */
PTM_API ptm_status ptm_buffer_wrap(void *data, size_t nbytes, int readonly,
                                   void (*release)(void *data, void *user), void *user,
                                   ptm_buffer **out);
struct ptm_backend;
/* Device memory owned by a backend (a GPU allocation the host cannot read
 * directly).  `handle` is the backend's own description of the allocation;
 * `release(backend_state, handle)` frees it when the last reference goes.
 * For such buffers (and views of them) ptm_buffer_data and
 * ptm_buffer_data_mut return NULL; ptm_buffer_backend, ptm_buffer_handle
 * and ptm_buffer_device_offset locate the bytes.  Since ABI 1.0. */
PTM_API ptm_status ptm_buffer_device(const struct ptm_backend *be, void *backend_state, void *handle, size_t nbytes,
                                     void (*release)(void *backend_state, void *handle), ptm_buffer **out);
/* The backend holding the bytes, or NULL for host memory. */
PTM_API const struct ptm_backend *ptm_buffer_backend(const ptm_buffer *b);
/* The device allocation's handle (of the root buffer for views), or NULL. */
PTM_API void *ptm_buffer_handle(const ptm_buffer *b);
/* Where the buffer starts inside its device allocation (0 for the root). */
PTM_API size_t ptm_buffer_device_offset(const ptm_buffer *b);
PTM_API ptm_buffer *ptm_buffer_retain(ptm_buffer *b); /* returns b */
PTM_API void ptm_buffer_release(ptm_buffer *b);       /* NULL is fine */
PTM_API const void *ptm_buffer_data(const ptm_buffer *b);
/* Writable pointer, or NULL for read-only buffers (mmaps). */
PTM_API void *ptm_buffer_data_mut(ptm_buffer *b);
PTM_API size_t ptm_buffer_size(const ptm_buffer *b);
PTM_API int ptm_buffer_is_readonly(const ptm_buffer *b);
/* 1 if the bytes come from a file mapping (directly or through views). */
PTM_API int ptm_buffer_is_mapped(const ptm_buffer *b);

/* --------------------------------------------------------------- tensors */

#define PTM_MAX_DIMS 8

/* A dense, row-major (C order) n-dimensional array over a buffer region.
 * Reference counted; a tensor keeps its buffer alive. */
typedef struct ptm_tensor ptm_tensor;

/* New zero-filled heap tensor.  ndim 0 is a scalar (1 element).  Shapes with
 * negative dims or whose byte size overflows give PTM_ERR_OVERFLOW/INVALID_ARG. */
PTM_API ptm_status ptm_tensor_new(ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out);
/* A tensor viewing `buf` at `offset`; the region must fit in the buffer.
 * Retains `buf` (zero copy).  Read-only if the buffer is. */
PTM_API ptm_status ptm_tensor_from_buffer(ptm_buffer *buf, size_t offset, ptm_dtype dt, int ndim,
                                          const int64_t *shape, ptm_tensor **out);
/* A new heap tensor holding a copy of `nbytes` bytes of `data`; nbytes must
 * equal numel * dtype size. */
PTM_API ptm_status ptm_tensor_from_data(ptm_dtype dt, int ndim, const int64_t *shape, const void *data,
                                        size_t nbytes, ptm_tensor **out);
PTM_API ptm_tensor *ptm_tensor_retain(ptm_tensor *t); /* returns t */
PTM_API void ptm_tensor_release(ptm_tensor *t);       /* NULL is fine */

PTM_API ptm_dtype ptm_tensor_dtype(const ptm_tensor *t);
PTM_API int ptm_tensor_ndim(const ptm_tensor *t);
/* Dimension i (negative i counts from the end); 0 if out of range. */
PTM_API int64_t ptm_tensor_dim(const ptm_tensor *t, int i);
/* Pointer to ndim dims, valid while t lives. */
PTM_API const int64_t *ptm_tensor_shape(const ptm_tensor *t);
PTM_API int64_t ptm_tensor_numel(const ptm_tensor *t);
PTM_API size_t ptm_tensor_nbytes(const ptm_tensor *t);
/* Host pointer to the first element; NULL for device tensors. */
PTM_API const void *ptm_tensor_data(const ptm_tensor *t);
/* NULL if the tensor is read-only (e.g. views an mmap'd file) or on a device. */
PTM_API void *ptm_tensor_data_mut(ptm_tensor *t);
/* The backend whose device memory holds the tensor, NULL for host memory. */
PTM_API const struct ptm_backend *ptm_tensor_backend(const ptm_tensor *t);
/* Byte offset of the first element inside the device allocation
 * (ptm_buffer_device_offset of its buffer + the tensor's offset). */
PTM_API size_t ptm_tensor_device_offset(const ptm_tensor *t);
/* The buffer and byte offset the tensor views (borrowed). */
PTM_API ptm_buffer *ptm_tensor_buffer(const ptm_tensor *t);
PTM_API size_t ptm_tensor_offset(const ptm_tensor *t);
/* 1 if both tensors view overlapping bytes of the same memory. */
PTM_API int ptm_tensor_shares_memory(const ptm_tensor *a, const ptm_tensor *b);

/* A new heap tensor with the elements converted to `dt` (a copy even when
 * dt is the same type). */
PTM_API ptm_status ptm_tensor_convert(const ptm_tensor *t, ptm_dtype dt, ptm_tensor **out);
/* Make `t` writable: returns t retained if it is already writable, else a
 * heap copy.  Useful before modifying a tensor that may view a file. */
PTM_API ptm_status ptm_tensor_writable(ptm_tensor *t, ptm_tensor **out);
/* Format "[2, 3]" into buf (always NUL-terminated); returns buf. */
PTM_API char *ptm_shape_str(int ndim, const int64_t *shape, char *buf, size_t buflen);

/* ------------------------------------------------------------ state dict */

/* An ordered map name -> tensor (insertion order kept, O(1) lookup).  The
 * same tensor may appear under several names (tied weights). */
typedef struct ptm_state_dict ptm_state_dict;

PTM_API ptm_status ptm_state_dict_new(ptm_state_dict **out);
PTM_API void ptm_state_dict_free(ptm_state_dict *sd); /* releases its tensors */
/* Insert or replace (a replaced entry keeps its position).  Retains `t`;
 * copies `name`. */
PTM_API ptm_status ptm_state_dict_set(ptm_state_dict *sd, const char *name, ptm_tensor *t);
/* Borrowed tensor or NULL. */
PTM_API ptm_tensor *ptm_state_dict_get(const ptm_state_dict *sd, const char *name);
/* PTM_ERR_NOT_FOUND if absent.  Later entries move up one position. */
PTM_API ptm_status ptm_state_dict_remove(ptm_state_dict *sd, const char *name);
PTM_API size_t ptm_state_dict_size(const ptm_state_dict *sd);
/* Entry i in order (borrowed), NULL if out of range. */
PTM_API const char *ptm_state_dict_name(const ptm_state_dict *sd, size_t i);
PTM_API ptm_tensor *ptm_state_dict_tensor(const ptm_state_dict *sd, size_t i);

#ifdef __cplusplus
}
#endif
#endif
