/* SPDX-License-Identifier: Apache-2.0 */
/* h5_internal.h - shared declarations of the TF/Keras h5 format plugin:
 * error messages, the TF <-> PyTorch name mapping (formats.md §4.3) and the
 * reader/writer entry points.  The reader is our own (h5_file.h); libhdf5
 * is used by the writer only (h5_write.c). */
#ifndef PTM_H5_INTERNAL_H
#define PTM_H5_INTERNAL_H

#include <ptm/ptm.h>

#include <stddef.h>
#include <stdint.h>

/* The longest names (of a variable, dataset path or layer) we accept. */
#define H5P_MAX_NAME 4096
/* Limits on the name attributes (layer_names, weight_names, chunked too). */
#define H5P_MAX_ATTR_BYTES ((size_t)64 << 20)
#define H5P_MAX_NAMES ((size_t)1 << 22)
/* Keras' HDF5_OBJECT_HEADER_LIMIT: bigger name attributes are chunked. */
#define H5P_HEADER_LIMIT 64512

/* Transpose kinds of §4.3 step 7. */
enum { H5P_T_NO = 0, H5P_T_SIMPLE = 1, H5P_T_CONV2D = 2 };

/* Fail with `status`: "<path>: \"<object>\": <what>".  `object` may be
 * NULL. */
ptm_status h5p_fail(const char *path, const char *object, ptm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* TF variable name -> PyTorch name (§4.3 steps 2..9).  `drop_first`: drop
 * the first component (the Keras model name) when there is more than one.
 * Writes the new name (malloc'd) to *out and the transpose kind to *kind
 * given the rank.  PTM_ERR_FORMAT (no message) for a name that maps to
 * nothing. */
ptm_status h5p_tf_to_pt(const char *tf, int drop_first, int rank, char **out, int *kind);

/* Keras' to_snake_case("TF" + class_name): "GPT2LMHeadModel" ->
 * "tfgp_t2lm_head_model".  malloc'd, NULL on OOM. */
char *h5p_keras_model_name(const char *class_name);

/* PyTorch name -> TF layer and full variable name ("<model>/<...>:0") given
 * the tensor's role (ptm_param_role) and rank.  `first_embedding`: this is
 * the first embedding of the state dict (word embeddings; TF names them
 * "weight").  `conv1d`: a GPT-2 style Conv1D weight kept as "weight".
 * *layer and *var are malloc'd; *kind is the transpose to apply. */
ptm_status h5p_pt_to_tf(const char *model, const char *pt, int role, int rank, int first_embedding, int conv1d,
                        char **layer, char **var, int *kind);

/* Permute `src` (row-major, `shape` of rank `nd`, `esize`-byte elements)
 * into `dst`: reverse all axes (SIMPLE), or TF (kh,kw,in,out) <-> PT
 * (out,in,kh,kw) for CONV2D (`to_pt` picks the direction).  The output
 * shape goes to `oshape`. */
void h5p_transpose(const void *src, void *dst, size_t esize, int nd, const int64_t *shape, int kind, int to_pt,
                   int64_t *oshape);

/* Only the shape of h5p_transpose. */
void h5p_perm_shape(int nd, const int64_t *shape, int kind, int to_pt, int64_t *oshape);

/* The reader (h5_read.c). */
ptm_status h5p_open(const char *path, void **source);
/* Open a memory image of an h5 file (`path` names it in messages); the
 * source retains `image` (zero-copy tensors keep it alive). */
ptm_status h5p_open_buffer(const char *path, ptm_buffer *image, void **source);
void h5p_close(void *source);
size_t h5p_count(void *source);
ptm_status h5p_info(void *source, size_t i, ptm_tensor_info *out);
ptm_status h5p_load(void *source, size_t i, ptm_tensor **out);
const char *h5p_metadata(void *source, const char *key);

void h5p_free_names(char **names, size_t n);

/* The writer (h5_write.c). */
ptm_status h5p_save_model(const char *path, const ptm_state_dict *sd, const struct ptm_save_info *info);
ptm_status h5p_save(const char *path, const ptm_state_dict *sd, const char *const *metadata);

#endif
