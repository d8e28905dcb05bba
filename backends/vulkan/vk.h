/* SPDX-License-Identifier: Apache-2.0 */
/* vk.h - internal header of the Vulkan backend plugin: the per-exec state
 * (instance, device, queue, one command buffer, descriptor pools, staging
 * ring, pipelines), device buffers, and the helpers the op kernels use to
 * bind tensors and record dispatches.
 *
 * Execution model.  Commands are recorded into one command buffer; a
 * global memory barrier (compute/transfer writes -> compute/transfer
 * reads and writes) precedes every recorded command, so each op sees the
 * results of the ones before it.  Inside a pass (begin_pass .. end_pass)
 * the buffer is submitted at end_pass, or earlier when a download needs
 * the results, the staging ring is full or an op needs a host round trip;
 * outside a pass every op is submitted at once.  Each submission waits on
 * a fence; after it the descriptor pools, the staging ring and the buffers
 * released meanwhile are recycled.
 *
 * Tensors are bound as whole buffers (or, for buffers beyond
 * maxStorageBufferRange, as a window starting at an aligned offset), and
 * the element offset of each tensor goes in push constants, so any offset
 * the core hands out works whatever minStorageBufferOffsetAlignment is. */
#ifndef PTM_VK_H
#define PTM_VK_H

#include <ptm/ptm.h>

#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

/* shaders (names of shaders/<name>.comp), in vk_shader_info order */
enum vk_shader {
    VK_SH_UNARY,
    VK_SH_BINARY,
    VK_SH_MATMUL,
    VK_SH_MATVEC,
    VK_SH_NORM,
    VK_SH_SOFTMAX,
    VK_SH_ATTENTION,
    VK_SH_ROPE,
    VK_SH_EMBEDDING,
    VK_SH_STRIDED,
    VK_SH_CONVERT,
    VK_SH_FILL,
    VK_SH_ARGMAX,
    VK_SH_COUNT
};

#define VK_MAX_BINDINGS 5
#define VK_PUSH_MAX 128 /* the minimum maxPushConstantsSize */

/* dtype codes of the shaders (common.glsl) */
enum { VK_DT_F32 = 0, VK_DT_F16 = 1, VK_DT_BF16 = 2, VK_DT_NONE = 3 };

/* the SPIR-V modules embedded by embed_spirv.cmake */
extern const struct vk_spirv {
    const char *name;
    const uint32_t *code;
    size_t size;
} vk_spirv_table[];

struct vk_state;

/* A device (or staging) buffer: the handle of a ptm_buffer_device. */
typedef struct vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map;             /* host mapping (staging buffers only) */
    struct vk_state *st;
} vk_buf;

/* A tensor resolved for a shader: the descriptor range and the tensor's
 * byte offset inside it. */
typedef struct vk_bind {
    VkBuffer buf;
    VkDeviceSize off, range;
    size_t rel; /* bytes from the start of the range to the tensor */
} vk_bind;

typedef struct vk_state {
    /* device */
    VkInstance inst;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    int index;           /* device index among those with a compute queue */
    char name[320];      /* for messages */
    /* recording */
    VkCommandPool cpool;
    VkCommandBuffer cb;
    VkFence fence;
    int recording, in_pass, ncmds;
    /* failure state: a lost device refuses further work */
    int lost;
    ptm_status lost_status;
    /* pipelines (created on first use) */
    VkDescriptorSetLayout dsl[VK_MAX_BINDINGS + 1];
    VkPipelineLayout layout[VK_MAX_BINDINGS + 1];
    VkPipeline pipe[VK_SH_COUNT];
    /* descriptor pools: [0, npools) created, [0, cur] in use this submission */
    VkDescriptorPool *pools;
    int npools, cur_pool;
    /* staging ring (host visible, coherent), reset after each submission */
    vk_buf *stage;
    size_t stage_cap, stage_used;
    /* buffers released while commands using them may be pending */
    vk_buf **dead;
    size_t ndead, capdead;
    /* a 16-byte buffer bound for absent optional operands */
    vk_buf *dummy;
    /* rope: inv_freq table for (theta, rot_dim) */
    vk_buf *rope_inv;
    float rope_theta;
    int rope_dim;
    /* lifetime: 1 (the exec) + live device buffers; shutdown sets closing
     * and the last release destroys the device */
    long refs;
    int closing;
    /* PTM_VULKAN_FAIL_ALLOC_AFTER: allocations allowed before an injected
     * PTM_ERR_NOMEM (-1: never) */
    long fail_after, allocs;
    /* PTM_VULKAN_LOSE_DEVICE_AFTER: submissions before a simulated
     * VK_ERROR_DEVICE_LOST (-1: never) */
    long lose_after, submits;
} vk_state;

/* ------------------------------------------------------------ device.c */

/* Devices with a compute queue, enumerated once per process. */
int vk_device_count(void);
ptm_status vk_device_name(int index, char *buf, size_t buflen);
ptm_status vk_init(int device, int num_threads, void **state);
void vk_shutdown(void *state);

/* PTM_ERR_BACKEND (or the lost state's status) if the device was lost. */
ptm_status vk_check_alive(vk_state *st, const char *what);
/* Map a failed VkResult to a status (marks the state lost on
 * VK_ERROR_DEVICE_LOST). */
ptm_status vk_fail(vk_state *st, VkResult r, const char *what);
/* Begin recording if not recording yet. */
ptm_status vk_record(vk_state *st);
/* Record the global barrier that orders the next command after the others. */
void vk_barrier(vk_state *st);
/* Submit what is recorded and wait; then recycle pools, staging, dead
 * buffers.  A no-op when nothing is recorded. */
ptm_status vk_flush(vk_state *st);
/* After an op: submit at once unless inside a pass. */
ptm_status vk_op_done(vk_state *st);
/* Record a dispatch of `shader` with its bindings and push constants over
 * a gx x gy x gz grid (barrier first). */
ptm_status vk_dispatch(vk_state *st, int shader, const vk_bind *binds, int nbind, const void *push, size_t push_size,
                       uint32_t gx, uint32_t gy, uint32_t gz);
/* An op of one dispatch: vk_dispatch, then vk_op_done. */
ptm_status vk_dispatch_op(vk_state *st, int shader, const vk_bind *binds, int nbind, const void *push,
                          size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);
/* A 2-d grid for `groups` workgroups (x at most 65535); the shaders
 * recover the flat index with flat_group(). */
void vk_grid(uint64_t groups, uint32_t *gx, uint32_t *gy);
/* The grid for n elements, 256 per workgroup, capped at
 * VK_ELEM_GROUPS_MAX groups; the shaders grid-stride beyond it. */
#define VK_ELEM_GROUPS_MAX (1u << 20)
void vk_elem_grid(uint64_t n, uint32_t *gx, uint32_t *gy);
const char *vk_result_str(VkResult r);

/* ------------------------------------------------------------ memory.c */

/* A device-local buffer of nbytes (rounded up to 16). */
ptm_status vk_buf_new(vk_state *st, size_t nbytes, int host_visible, vk_buf **out);
/* Destroy now (nothing pending may use it). */
void vk_buf_destroy(vk_state *st, vk_buf *b);
/* Release: destroyed at once when idle, else after the next submission. */
void vk_buf_release(vk_state *st, vk_buf *b);
/* Free every deferred buffer (after a submission completed). */
void vk_free_dead(vk_state *st);
/* The tensor's bytes as a binding; PTM_ERR_INVALID_ARG if the tensor is not
 * in this state's device memory.  `align` is the byte alignment the shader
 * needs of the tensor's offset (4 for f32 / words, 2 for halves). */
ptm_status vk_bind_tensor(vk_state *st, const char *op, const char *what, const ptm_tensor *t, size_t align,
                          vk_bind *b);
/* The bytes [sub_off, sub_off + sub_bytes) of a tensor as a binding. */
ptm_status vk_bind_range(vk_state *st, const char *op, const char *what, const ptm_tensor *t, size_t sub_off,
                         size_t sub_bytes, size_t align, vk_bind *b);
/* The buffer and byte offset of a tensor in this state's device memory
 * (for transfers, which have no range limit). */
ptm_status vk_locate(vk_state *st, const char *op, const char *what, const ptm_tensor *t, vk_buf **buf,
                     size_t *off);
/* Bytes a binding can always cover (maxStorageBufferRange less the offset
 * alignment): ops split larger operands into pieces of at most this. */
size_t vk_max_range(const vk_state *st);
/* The binding for an absent optional operand. */
vk_bind vk_bind_dummy(vk_state *st);
/* Element offset of a bound tensor in units of `unit` bytes. */
static inline uint32_t vk_off(const vk_bind *b, size_t unit) { return (uint32_t)(b->rel / unit); }
/* Record a copy of host bytes into a device buffer through the staging
 * ring (may submit when the ring is full). */
ptm_status vk_upload_bytes(vk_state *st, const void *src, size_t n, VkBuffer dst, VkDeviceSize dst_off);
/* Copy device bytes to host memory: records the copies, submits, waits. */
ptm_status vk_download_bytes(vk_state *st, VkBuffer src, VkDeviceSize src_off, size_t n, void *dst);
/* Backend ops: alloc, upload, download, begin_pass, end_pass. */
ptm_status vk_alloc(void *bs, size_t nbytes, ptm_buffer **out);
ptm_status vk_upload(void *bs, const ptm_tensor *host, ptm_tensor *dev);
ptm_status vk_download(void *bs, const ptm_tensor *dev, ptm_tensor *host);
ptm_status vk_begin_pass(void *bs);
ptm_status vk_end_pass(void *bs);
/* Tear the device down (refs reached 0). */
void vk_destroy_state(vk_state *st);

/* ----------------------------------------------------------- kernels */

/* shader dtype code of a weight dtype, -1 if unsupported */
int vk_dt_code(ptm_dtype dt);

ptm_status vk_matmul(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                     ptm_tensor *out);
ptm_status vk_add(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
ptm_status vk_mul(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
ptm_status vk_scale(void *bs, const ptm_tensor *a, float s, ptm_tensor *out);
ptm_status vk_gelu(void *bs, const ptm_tensor *a, int tanh_approx, ptm_tensor *out);
ptm_status vk_silu(void *bs, const ptm_tensor *a, ptm_tensor *out);
ptm_status vk_relu(void *bs, const ptm_tensor *a, ptm_tensor *out);
ptm_status vk_swiglu(void *bs, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out);
ptm_status vk_layer_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                         ptm_tensor *out);
ptm_status vk_rms_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out);
ptm_status vk_softmax(void *bs, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                      ptm_tensor *out);
ptm_status vk_embedding(void *bs, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out);
ptm_status vk_rope(void *bs, const ptm_tensor *x, const ptm_tensor *positions, float theta, int rot_dim,
                   ptm_tensor *out);
ptm_status vk_attention(void *bs, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v, int64_t kv_len,
                        const ptm_tensor *mask, int causal, float scale, ptm_tensor *out);
ptm_status vk_kv_append(void *bs, ptm_tensor *cache, int64_t pos, const ptm_tensor *x);
ptm_status vk_convert(void *bs, const ptm_tensor *x, ptm_tensor *out);
ptm_status vk_copy(void *bs, const ptm_tensor *x, ptm_tensor *out);
ptm_status vk_fill(void *bs, ptm_tensor *out, float v);
ptm_status vk_transpose(void *bs, const ptm_tensor *x, int d0, int d1, ptm_tensor *out);
ptm_status vk_concat(void *bs, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out);
ptm_status vk_argmax(void *bs, const ptm_tensor *x, ptm_tensor *out);

#endif
