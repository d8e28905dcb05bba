/* SPDX-License-Identifier: Apache-2.0 */
/* ops.h - the op set (v1) that architecture plugins run their forward pass
 * with, and that backends implement.
 *
 * This ABI version names the ops; the dispatch functions (ptm_op_matmul,
 * ...) that check shapes, dtypes and devices and call the backend holding
 * the operands arrive with the CPU backend.  f32 compute is required for
 * every op; f16 and bf16 are required as storage. */
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
    PTM_OP_CONTIGUOUS,  /* contiguous copy of a strided view               */
    PTM_OP_CONCAT,
    PTM_OP_ARGMAX,
    PTM_OP_COUNT
} ptm_op;

/* The op's lower-case name ("matmul", "layer_norm", ...); "?" if invalid. */
PTM_API const char *ptm_op_name(ptm_op op);

#ifdef __cplusplus
}
#endif
#endif
