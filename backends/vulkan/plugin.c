/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - the "vulkan" backend plugin: descriptor, supports() and the
 * op table.  Every slot of ptm_backend_ops is filled; see vk.h for the
 * execution model and device.c for device selection.
 *
 * Environment:
 *   PTM_VULKAN_DEVICE=N          device used when an exec asks for device 0
 *   PTM_VULKAN_VALIDATION=1      enable VK_LAYER_KHRONOS_validation
 *   PTM_VULKAN_STAGING_MB=N      staging ring size (default 32)
 *   PTM_VULKAN_FAIL_ALLOC_AFTER=N  testing: the (N+1)th alloc of an exec
 *                                fails with PTM_ERR_NOMEM
 *   PTM_VULKAN_LOSE_DEVICE_AFTER=N testing: the (N+1)th submission of an
 *                                exec reports VK_ERROR_DEVICE_LOST */
#include "vk.h"

static int vk_supports(ptm_op op, ptm_dtype dt)
{
    if ((int)op < 0 || op >= PTM_OP_COUNT)
        return 0;
    switch (op) {
    case PTM_OP_ALLOC:
    case PTM_OP_FREE:
    case PTM_OP_UPLOAD:
    case PTM_OP_DOWNLOAD:
    case PTM_OP_COPY:
    case PTM_OP_CONTIGUOUS:
    case PTM_OP_CONCAT:
    case PTM_OP_KV_APPEND:
    case PTM_OP_CONVERT: /* f32/f16/bf16 on the device, other pairs on the host */
        return ptm_dtype_size(dt) != 0;
    case PTM_OP_FILL:
        return ptm_dtype_size(dt) == 4;
    default:
        return dt == PTM_F32 || dt == PTM_F16 || dt == PTM_BF16;
    }
}

int vk_dt_code(ptm_dtype dt)
{
    switch (dt) {
    case PTM_F32: return VK_DT_F32;
    case PTM_F16: return VK_DT_F16;
    case PTM_BF16: return VK_DT_BF16;
    default: return -1;
    }
}

static const ptm_backend_ops vk_ops = {
    .struct_size = sizeof(ptm_backend_ops),
    .matmul = vk_matmul,
    .add = vk_add,
    .mul = vk_mul,
    .scale = vk_scale,
    .gelu = vk_gelu,
    .silu = vk_silu,
    .relu = vk_relu,
    .swiglu = vk_swiglu,
    .layer_norm = vk_layer_norm,
    .rms_norm = vk_rms_norm,
    .softmax = vk_softmax,
    .embedding = vk_embedding,
    .rope = vk_rope,
    .attention = vk_attention,
    .kv_append = vk_kv_append,
    .convert = vk_convert,
    .copy = vk_copy,
    .fill = vk_fill,
    .transpose = vk_transpose,
    .concat = vk_concat,
    .argmax = vk_argmax,
    .alloc = vk_alloc,
    .upload = vk_upload,
    .download = vk_download,
    .begin_pass = vk_begin_pass,
    .end_pass = vk_end_pass,
};

const ptm_backend vk_backend = {
    .struct_size = sizeof(ptm_backend),
    .name = "vulkan",
    .description = "Vulkan compute (GLSL shaders compiled to SPIR-V; f32 compute, f16/bf16 weights)",
    .device_count = vk_device_count,
    .device_name = vk_device_name,
    .supports = vk_supports,
    .init = vk_init,
    .shutdown = vk_shutdown,
    .ops = &vk_ops,
};

static ptm_status vk_register(ptm_registrar *reg) { return ptm_registrar_add_backend(reg, &vk_backend); }

static const ptm_plugin vk_plugin = {
    PTM_PLUGIN_HEADER, "vulkan", "0.1.0", "Vulkan compute backend", "Apache-2.0", vk_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &vk_plugin; }
