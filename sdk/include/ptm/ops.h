/* SPDX-License-Identifier: Apache-2.0 */
/* ops.h - the op set (v1) that architecture plugins run their forward pass
 * with, the execution context that carries a forward pass (backend, scratch
 * arena, KV cache), and the backend op table.
 *
 * Every ptm_op_* function checks shapes and dtypes (PTM_ERR_SHAPE /
 * PTM_ERR_DTYPE with a message naming the op and the shapes), then calls the
 * kernel of the exec's backend.  A backend whose op slot is NULL, or whose
 * supports() says no, gets the CPU backend's kernel instead (logged once per
 * backend and op).  Compute is f32; weights (matmul's b, embedding tables,
 * norm scales and biases) may be stored as f32, f16 or bf16.  Outputs are
 * preallocated by the caller (usually with ptm_exec_scratch) and must not
 * alias inputs unless the op says so.  All tensors are dense, row-major.
 *
 * Device backends (those with ops->alloc): ptm_exec_scratch returns device
 * tensors; host operands are uploaded by the dispatcher — the model's
 * parameters once per exec (they stay resident), any other host tensor on
 * each use; a host output receives a download.  An op the device backend
 * lacks runs on the CPU with downloads and uploads around it.  Tensors an
 * architecture fills on the host (positions, masks) come from
 * ptm_exec_scratch_host. */
#ifndef PTM_OPS_H
#define PTM_OPS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ptm_op {
    /* buffers */
    PTM_OP_ALLOC = 0,
    PTM_OP_FREE,
    PTM_OP_UPLOAD,
    PTM_OP_DOWNLOAD,
    PTM_OP_COPY,
    PTM_OP_FILL,
    /* compute */
    PTM_OP_MATMUL,      /* batched, optional transposed operand and bias   */
    PTM_OP_ADD,
    PTM_OP_MUL,
    PTM_OP_SCALE,
    PTM_OP_GELU,        /* erf and tanh forms                              */
    PTM_OP_SILU,
    PTM_OP_RELU,
    PTM_OP_SWIGLU,
    PTM_OP_LAYER_NORM,
    PTM_OP_RMS_NORM,
    PTM_OP_SOFTMAX,     /* scale, additive mask, causal                    */
    PTM_OP_EMBEDDING,   /* gather rows                                     */
    PTM_OP_ROPE,
    PTM_OP_ATTENTION,   /* fused scaled dot product; mask, causal, groups  */
    PTM_OP_KV_APPEND,
    PTM_OP_CONVERT,     /* dtype conversion                                */
    PTM_OP_CONTIGUOUS,  /* contiguous copy of a strided view (transpose)   */
    PTM_OP_CONCAT,
    PTM_OP_ARGMAX,
    PTM_OP_COUNT
} ptm_op;

/* The op's lower-case name ("matmul", "layer_norm", ...); "?" if invalid. */
PTM_API const char *ptm_op_name(ptm_op op);

/* ------------------------------------------------------ execution context */

struct ptm_context;
struct ptm_backend;

/* Carries one forward pass / generation: the backend state, a scratch arena
 * for activations, the KV cache.  Owned by the caller; one exec per thread. */
typedef struct ptm_exec ptm_exec;

typedef struct ptm_exec_options {
    size_t struct_size;
    const char *backend; /* registered backend name; NULL = "cpu"          */
    int device;          /* device index of that backend (default 0)       */
    int num_threads;     /* CPU threads; 0 = PTM_NUM_THREADS, else the cores */
} ptm_exec_options;

PTM_API void ptm_exec_options_init(ptm_exec_options *opts);
/* New exec on a backend of `ctx` (which must outlive it).  PTM_ERR_NOT_FOUND
 * (listing the registered backends) if the backend is absent,
 * PTM_ERR_BACKEND if it has no usable device. */
PTM_API ptm_status ptm_exec_new(struct ptm_context *ctx, const ptm_exec_options *opts, ptm_exec **out);
PTM_API void ptm_exec_free(ptm_exec *ex);
PTM_API const struct ptm_backend *ptm_exec_backend(const ptm_exec *ex);
/* The backend's per-exec state (what its init returned). */
PTM_API void *ptm_exec_backend_state(const ptm_exec *ex);
PTM_API int ptm_exec_num_threads(const ptm_exec *ex);

/* A zero-initialised-or-not (unspecified contents) scratch tensor from the
 * arena: no malloc once the arena has grown to a pass's needs.  Valid until
 * ptm_exec_reset; releasing it is allowed and cheap but does not free. */
PTM_API ptm_status ptm_exec_scratch(ptm_exec *ex, ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out);
/* Like ptm_exec_scratch, but always host memory (for tensors filled on the
 * CPU, such as position ids and masks, whatever the backend). */
PTM_API ptm_status ptm_exec_scratch_host(ptm_exec *ex, ptm_dtype dt, int ndim, const int64_t *shape,
                                         ptm_tensor **out);
/* 1 if the exec's backend keeps tensors in device memory (has ops->alloc). */
PTM_API int ptm_exec_is_device(const ptm_exec *ex);
/* A tensor of base's dtype viewing base's bytes from `byte_offset` with
 * another shape (zero copy, no malloc: the struct lives in the arena).  The
 * region must lie inside base's buffer.  Valid until ptm_exec_reset and
 * while base lives; releasing it is allowed and does nothing. */
PTM_API ptm_status ptm_exec_scratch_view(ptm_exec *ex, const ptm_tensor *base, size_t byte_offset, int ndim,
                                         const int64_t *shape, ptm_tensor **out);
/* Forget every scratch tensor (start of a forward pass).  The arena keeps
 * its memory. */
PTM_API void ptm_exec_reset(ptm_exec *ex);
/* Bytes the arena holds (for memory reports). */
PTM_API size_t ptm_exec_scratch_capacity(const ptm_exec *ex);

/* KV cache: per layer a K and a V tensor [batch, heads, max_len, head_dim]
 * (f32), allocated on first request with these dims and reused while they
 * match.  Asking for other dims while the cache holds positions
 * (ptm_exec_kv_length > 0) is PTM_ERR_STATE.  Borrowed; valid until
 * ptm_exec_kv_clear or free. */
PTM_API ptm_status ptm_exec_kv(ptm_exec *ex, int layer, int64_t batch, int64_t heads, int64_t max_len,
                               int64_t head_dim, ptm_tensor **k, ptm_tensor **v);
/* Number of positions already in the cache (0 after clear). */
PTM_API int64_t ptm_exec_kv_length(const ptm_exec *ex);
PTM_API void ptm_exec_kv_set_length(ptm_exec *ex, int64_t len);
/* Drop the cache (its memory is freed). */
PTM_API void ptm_exec_kv_clear(ptm_exec *ex);

/* ------------------------------------------------------------------ ops */

/* out[..., M, N] = a[..., M, K] @ b + bias.  b is [K, N] (trans_b = 0) or
 * [N, K] (trans_b = 1), shared by every batch, or [..., K, N] / [..., N, K]
 * with the same leading dims as a.  bias [N] or NULL.  b and bias may be
 * f16/bf16. */
PTM_API ptm_status ptm_op_matmul(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias,
                                 int trans_b, ptm_tensor *out);
/* out = a + b; b has a's shape or a's trailing shape (broadcast over the
 * leading dims).  out may alias a. */
PTM_API ptm_status ptm_op_add(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
/* out = a * b elementwise, broadcast like add.  out may alias a. */
PTM_API ptm_status ptm_op_mul(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
/* out = a * s.  out may alias a. */
PTM_API ptm_status ptm_op_scale(ptm_exec *ex, const ptm_tensor *a, float s, ptm_tensor *out);
/* GELU: exact (erf) when tanh_approx = 0, else the tanh form (gelu_new,
 * gelu_pytorch_tanh).  out may alias a. */
PTM_API ptm_status ptm_op_gelu(ptm_exec *ex, const ptm_tensor *a, int tanh_approx, ptm_tensor *out);
PTM_API ptm_status ptm_op_silu(ptm_exec *ex, const ptm_tensor *a, ptm_tensor *out);
PTM_API ptm_status ptm_op_relu(ptm_exec *ex, const ptm_tensor *a, ptm_tensor *out);
/* out = silu(gate) * up (same shapes). */
PTM_API ptm_status ptm_op_swiglu(ptm_exec *ex, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out);
/* Over the last dim: (x - mean) / sqrt(var + eps) * w + b (w, b [D] or NULL). */
PTM_API ptm_status ptm_op_layer_norm(ptm_exec *ex, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b,
                                     float eps, ptm_tensor *out);
/* Over the last dim: x / sqrt(mean(x^2) + eps) * w (w [D] or NULL). */
PTM_API ptm_status ptm_op_rms_norm(ptm_exec *ex, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out);
/* Softmax over the last dim of x [..., Tq, Tk] * scale + mask, where mask is
 * NULL or f32 broadcastable as [..., Tq, Tk] / [Tk]-trailing (additive), and
 * causal hides key j > (Tk - Tq) + i.  out may alias x. */
PTM_API ptm_status ptm_op_softmax(ptm_exec *ex, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                                  ptm_tensor *out);
/* out[..., :] = weight[ids[...], :]; weight [V, H], ids I64 or I32 [...],
 * out [..., H] f32.  An id outside [0, V) is PTM_ERR_INVALID_ARG naming it. */
PTM_API ptm_status ptm_op_embedding(ptm_exec *ex, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out);
/* Rotary embedding (neox/llama style: rotate halves of the first rot_dim
 * dims) of x [B, heads, T, head_dim] at positions [B, T] (I64). */
PTM_API ptm_status ptm_op_rope(ptm_exec *ex, const ptm_tensor *x, const ptm_tensor *positions, float theta,
                               int rot_dim, ptm_tensor *out);
/* out [B, Hq, Tq, D] = softmax(q k^T * scale + mask) v with q [B, Hq, Tq, D],
 * k, v [B, Hkv, Tk, D] where only the first `kv_len` of the Tk rows are used
 * (kv_len <= Tk; pass Tk for all), Hq a multiple of Hkv (grouped heads).
 * mask: NULL or f32 [B, kv_len] additive (0 = attend, large negative =
 * masked).  causal: query i sees keys j <= (kv_len - Tq) + i. */
PTM_API ptm_status ptm_op_attention(ptm_exec *ex, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v,
                                    int64_t kv_len, const ptm_tensor *mask, int causal, float scale, ptm_tensor *out);
/* Copy x [B, H, T, D] into cache [B, H, Tmax, D] at rows [pos, pos + T). */
PTM_API ptm_status ptm_op_kv_append(ptm_exec *ex, ptm_tensor *cache, int64_t pos, const ptm_tensor *x);
/* out = x converted to out's dtype (same shape). */
PTM_API ptm_status ptm_op_convert(ptm_exec *ex, const ptm_tensor *x, ptm_tensor *out);
/* out = x (same shape and dtype). */
PTM_API ptm_status ptm_op_copy(ptm_exec *ex, const ptm_tensor *x, ptm_tensor *out);
/* Fill out (f32) with v. */
PTM_API ptm_status ptm_op_fill(ptm_exec *ex, ptm_tensor *out, float v);
/* out = x with dims d0 and d1 swapped, made contiguous (same numel). */
PTM_API ptm_status ptm_op_transpose(ptm_exec *ex, const ptm_tensor *x, int d0, int d1, ptm_tensor *out);
/* out = [a, b] joined along dim (other dims equal). */
PTM_API ptm_status ptm_op_concat(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out);
/* out[...] (I64) = index of the maximum of x[..., :] (first on ties). */
PTM_API ptm_status ptm_op_argmax(ptm_exec *ex, const ptm_tensor *x, ptm_tensor *out);

/* ------------------------------------------------------- backend op table */

/* What a backend implements.  Each entry receives the backend state from
 * init and tensors already checked by the dispatcher (shapes consistent,
 * dtypes as documented above).  A NULL entry falls back to the CPU backend.
 * Grows only at the end. */
typedef struct ptm_backend_ops {
    size_t struct_size;
    ptm_status (*matmul)(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                         ptm_tensor *out);
    ptm_status (*add)(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
    ptm_status (*mul)(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
    ptm_status (*scale)(void *bs, const ptm_tensor *a, float s, ptm_tensor *out);
    ptm_status (*gelu)(void *bs, const ptm_tensor *a, int tanh_approx, ptm_tensor *out);
    ptm_status (*silu)(void *bs, const ptm_tensor *a, ptm_tensor *out);
    ptm_status (*relu)(void *bs, const ptm_tensor *a, ptm_tensor *out);
    ptm_status (*swiglu)(void *bs, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out);
    ptm_status (*layer_norm)(void *bs, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                             ptm_tensor *out);
    ptm_status (*rms_norm)(void *bs, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out);
    ptm_status (*softmax)(void *bs, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                          ptm_tensor *out);
    ptm_status (*embedding)(void *bs, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out);
    ptm_status (*rope)(void *bs, const ptm_tensor *x, const ptm_tensor *positions, float theta, int rot_dim,
                       ptm_tensor *out);
    ptm_status (*attention)(void *bs, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v, int64_t kv_len,
                            const ptm_tensor *mask, int causal, float scale, ptm_tensor *out);
    ptm_status (*kv_append)(void *bs, ptm_tensor *cache, int64_t pos, const ptm_tensor *x);
    ptm_status (*convert)(void *bs, const ptm_tensor *x, ptm_tensor *out);
    ptm_status (*copy)(void *bs, const ptm_tensor *x, ptm_tensor *out);
    ptm_status (*fill)(void *bs, ptm_tensor *out, float v);
    ptm_status (*transpose)(void *bs, const ptm_tensor *x, int d0, int d1, ptm_tensor *out);
    ptm_status (*concat)(void *bs, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out);
    ptm_status (*argmax)(void *bs, const ptm_tensor *x, ptm_tensor *out);

    /* Device memory: NULL for backends that compute on host memory.  A
     * device backend must provide alloc, upload and download. */
    /* A new device buffer of nbytes (made with ptm_buffer_device).  Failure:
     * PTM_ERR_NOMEM naming the size and the device. */
    ptm_status (*alloc)(void *bs, size_t nbytes, ptm_buffer **out);
    /* Copy a host tensor into a device tensor (same dtype and shape).  May
     * be queued; a later download or end_pass orders it. */
    ptm_status (*upload)(void *bs, const ptm_tensor *host, ptm_tensor *dev);
    /* Copy a device tensor into a host tensor (same dtype and shape); runs
     * every queued op first and waits. */
    ptm_status (*download)(void *bs, const ptm_tensor *dev, ptm_tensor *host);
    /* Bracket one forward pass: ops between them may be recorded into one
     * command buffer and submitted at end_pass (which waits).  Optional. */
    ptm_status (*begin_pass)(void *bs);
    ptm_status (*end_pass)(void *bs);
} ptm_backend_ops;

#ifdef __cplusplus
}
#endif
#endif
