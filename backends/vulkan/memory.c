/* SPDX-License-Identifier: Apache-2.0 */
/* memory.c - device buffers, tensor bindings, the staging ring, and the
 * backend's memory ops: alloc, upload, download, begin_pass, end_pass.
 *
 * Every device buffer is one VkBuffer with its own VkDeviceMemory
 * (device-local when the device has such memory).  Uploads go through a
 * host-visible, coherent staging ring (PTM_VULKAN_STAGING_MB, default 32):
 * the host bytes are copied into the ring at once (so the caller may free
 * them) and a vkCmdCopyBuffer is recorded; the ring's bytes stay untouched
 * until the submission that reads them has finished, because the ring is
 * only rewound after a submission completes and a full ring submits first.
 * Larger transfers are cut into ring-sized chunks. */
#include "vk.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

extern const ptm_backend vk_backend;

/* ---------------------------------------------------------- buffers */

static int pick_memory(const vk_state *st, uint32_t bits, int host_visible)
{
    const VkPhysicalDeviceMemoryProperties *mp = &st->memprops;
    VkMemoryPropertyFlags want = host_visible ? (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                 VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
                                              : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    VkMemoryPropertyFlags nice = host_visible ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT : 0;
    int found = -1;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & want) != want)
            continue;
        if ((f & nice) == nice)
            return (int)i;
        if (found < 0)
            found = (int)i;
    }
    if (found < 0 && !host_visible) /* no device-local type: any allowed */
        for (uint32_t i = 0; i < mp->memoryTypeCount && found < 0; i++)
            if (bits & (1u << i))
                found = (int)i;
    return found;
}

ptm_status vk_buf_new(vk_state *st, size_t nbytes, int host_visible, vk_buf **out)
{
    *out = NULL;
    size_t size = nbytes < 16 ? 16 : nbytes;
    if (size > SIZE_MAX - 15)
        return ptm_error(PTM_ERR_NOMEM, "vulkan: cannot allocate %zu bytes on device %d (%s)", nbytes, st->index,
                         st->name);
    size = (size + 15) & ~(size_t)15;
    vk_buf *b = calloc(1, sizeof *b);
    if (!b)
        return ptm_error(PTM_ERR_NOMEM, "vulkan: out of memory");
    b->st = st;
    b->size = size;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(st->dev, &bci, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        free(b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return ptm_error(PTM_ERR_NOMEM, "vulkan: cannot create a buffer of %zu bytes on device %d (%s): %s",
                             nbytes, st->index, st->name, vk_result_str(r));
        return vk_fail(st, r, "creating a buffer");
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(st->dev, b->buf, &req);
    int type = pick_memory(st, req.memoryTypeBits, host_visible);
    if (type < 0) {
        vkDestroyBuffer(st->dev, b->buf, NULL);
        free(b);
        return ptm_error(PTM_ERR_BACKEND, "vulkan: device %d (%s) has no %s memory type for buffers", st->index,
                         st->name, host_visible ? "host-visible coherent" : "usable");
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    r = vkAllocateMemory(st->dev, &ai, NULL, &b->mem);
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(st->dev, b->buf, b->mem, 0);
    if (r == VK_SUCCESS && host_visible)
        r = vkMapMemory(st->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        if (b->mem)
            vkFreeMemory(st->dev, b->mem, NULL);
        vkDestroyBuffer(st->dev, b->buf, NULL);
        free(b);
        if (r == VK_ERROR_DEVICE_LOST)
            return vk_fail(st, r, "allocating memory");
        return ptm_error(PTM_ERR_NOMEM, "vulkan: cannot allocate %zu bytes of %s memory on device %d (%s): %s",
                         nbytes, host_visible ? "staging" : "device", st->index, st->name, vk_result_str(r));
    }
    *out = b;
    return PTM_OK;
}

void vk_buf_destroy(vk_state *st, vk_buf *b)
{
    if (!b)
        return;
    if (b->map)
        vkUnmapMemory(st->dev, b->mem);
    vkDestroyBuffer(st->dev, b->buf, NULL);
    vkFreeMemory(st->dev, b->mem, NULL);
    free(b);
}

void vk_free_dead(vk_state *st)
{
    for (size_t i = 0; i < st->ndead; i++)
        vk_buf_destroy(st, st->dead[i]);
    st->ndead = 0;
}

void vk_buf_release(vk_state *st, vk_buf *b)
{
    if (!b)
        return;
    if (!st->recording) {
        vk_buf_destroy(st, b);
        return;
    }
    if (st->ndead == st->capdead) {
        size_t cap = st->capdead ? 2 * st->capdead : 64;
        vk_buf **nd = realloc(st->dead, cap * sizeof *nd);
        if (!nd) { /* cannot defer: finish the pending work first */
            if (vk_flush(st) && !st->lost)
                vkDeviceWaitIdle(st->dev);
            vk_buf_destroy(st, b);
            return;
        }
        st->dead = nd;
        st->capdead = cap;
    }
    st->dead[st->ndead++] = b;
}

/* release callback of ptm_buffer_device */
static void release_cb(void *bs, void *handle)
{
    vk_state *st = bs;
    vk_buf *b = handle;
    if (!st || !b)
        return;
    if (st->closing) {
        vk_buf_destroy(st, b);
        if (--st->refs == 0)
            vk_destroy_state(st);
        return;
    }
    vk_buf_release(st, b);
    st->refs--;
}

/* ---------------------------------------------------------- binding */

ptm_status vk_locate(vk_state *st, const char *op, const char *what, const ptm_tensor *t, vk_buf **buf,
                     size_t *off)
{
    if (!t)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: %s is NULL", op, what);
    if (ptm_tensor_backend(t) != &vk_backend)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: %s is not in Vulkan device memory (%s)", op, what,
                         ptm_tensor_backend(t) ? "another backend's device" : "host memory");
    vk_buf *vb = ptm_buffer_handle(ptm_tensor_buffer(t));
    if (!vb || vb->st != st)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: %s belongs to another Vulkan exec", op, what);
    size_t o = ptm_tensor_device_offset(t), n = ptm_tensor_nbytes(t);
    if (o > vb->size || n > vb->size - o)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: %s (%zu bytes at %zu) lies outside its buffer of %zu "
                         "bytes", op, what, n, o, (size_t)vb->size);
    *buf = vb;
    *off = o;
    return PTM_OK;
}

ptm_status vk_bind_range(vk_state *st, const char *op, const char *what, const ptm_tensor *t, size_t sub_off,
                         size_t sub_bytes, size_t align, vk_bind *b)
{
    memset(b, 0, sizeof *b);
    vk_buf *vb;
    size_t base;
    ptm_status s = vk_locate(st, op, what, t, &vb, &base);
    if (s)
        return s;
    size_t off = base + sub_off, n = sub_bytes;
    if (align > 1 && off % align)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan %s: %s starts at byte %zu, not a multiple of %zu", op, what,
                         off, align);
    VkDeviceSize maxr = st->props.limits.maxStorageBufferRange & ~(VkDeviceSize)3;
    b->buf = vb->buf;
    if (vb->size <= maxr) {
        b->off = 0;
        b->range = VK_WHOLE_SIZE;
        b->rel = off;
        return PTM_OK;
    }
    /* a window of the buffer, starting at an aligned offset below the range */
    VkDeviceSize al = st->props.limits.minStorageBufferOffsetAlignment;
    VkDeviceSize bo = al ? off - off % al : off;
    VkDeviceSize range = vb->size - bo < maxr ? vb->size - bo : maxr;
    if (off + n > bo + range)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan %s: %s spans %zu bytes; device %d (%s) binds at most %" PRIu64
                         " bytes to a shader", op, what, n, st->index, st->name, (uint64_t)maxr);
    b->off = bo;
    b->range = range;
    b->rel = off - bo;
    return PTM_OK;
}

ptm_status vk_bind_tensor(vk_state *st, const char *op, const char *what, const ptm_tensor *t, size_t align,
                          vk_bind *b)
{
    return vk_bind_range(st, op, what, t, 0, t ? ptm_tensor_nbytes(t) : 0, align, b);
}

size_t vk_max_range(const vk_state *st)
{
    VkDeviceSize maxr = st->props.limits.maxStorageBufferRange & ~(VkDeviceSize)3;
    VkDeviceSize al = st->props.limits.minStorageBufferOffsetAlignment;
    /* what a window can always hold, wherever the range starts */
    return (size_t)(maxr > al ? maxr - al : 0);
}

vk_bind vk_bind_dummy(vk_state *st)
{
    vk_bind b = {st->dummy->buf, 0, VK_WHOLE_SIZE, 0};
    return b;
}

/* ----------------------------------------------------------- staging */

/* Room for n (<= stage_cap) bytes in the ring; may submit pending work. */
static ptm_status stage_reserve(vk_state *st, size_t n, size_t *off)
{
    ptm_status s;
    if (!st->stage && (s = vk_buf_new(st, st->stage_cap, 1, &st->stage)))
        return s;
    size_t at = (st->stage_used + 15) & ~(size_t)15;
    if (at > st->stage_cap || n > st->stage_cap - at) {
        if ((s = vk_flush(st)))
            return s;
        at = 0;
    }
    st->stage_used = at + n;
    *off = at;
    return PTM_OK;
}

ptm_status vk_upload_bytes(vk_state *st, const void *src, size_t n, VkBuffer dst, VkDeviceSize dst_off)
{
    ptm_status s;
    const char *p = src;
    while (n > 0) {
        size_t chunk = n < st->stage_cap ? n : st->stage_cap, at;
        if ((s = stage_reserve(st, chunk, &at)) || (s = vk_record(st)))
            return s;
        memcpy((char *)st->stage->map + at, p, chunk);
        vk_barrier(st);
        VkBufferCopy c = {.srcOffset = at, .dstOffset = dst_off, .size = chunk};
        vkCmdCopyBuffer(st->cb, st->stage->buf, dst, 1, &c);
        st->ncmds++;
        p += chunk;
        dst_off += chunk;
        n -= chunk;
    }
    return PTM_OK;
}

ptm_status vk_download_bytes(vk_state *st, VkBuffer src, VkDeviceSize src_off, size_t n, void *dst)
{
    ptm_status s;
    char *p = dst;
    while (n > 0) {
        size_t chunk = n < st->stage_cap ? n : st->stage_cap, at;
        if ((s = stage_reserve(st, chunk, &at)) || (s = vk_record(st)))
            return s;
        vk_barrier(st);
        VkBufferCopy c = {.srcOffset = src_off, .dstOffset = at, .size = chunk};
        vkCmdCopyBuffer(st->cb, src, st->stage->buf, 1, &c);
        VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        vkCmdPipelineBarrier(st->cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL,
                             0, NULL);
        st->ncmds++;
        if ((s = vk_flush(st)))
            return s;
        memcpy(p, (const char *)st->stage->map + at, chunk);
        p += chunk;
        src_off += chunk;
        n -= chunk;
    }
    return PTM_OK;
}

/* -------------------------------------------------------- memory ops */

ptm_status vk_alloc(void *bs, size_t nbytes, ptm_buffer **out)
{
    vk_state *st = bs;
    ptm_status s = vk_check_alive(st, "alloc");
    if (s)
        return s;
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan alloc: NULL out");
    *out = NULL;
    if (st->fail_after >= 0 && st->allocs >= st->fail_after)
        return ptm_error(PTM_ERR_NOMEM, "vulkan: cannot allocate %zu bytes of device memory on device %d (%s): "
                                        "injected failure after %ld allocations (PTM_VULKAN_FAIL_ALLOC_AFTER)",
                         nbytes, st->index, st->name, st->allocs);
    vk_buf *b;
    if ((s = vk_buf_new(st, nbytes, 0, &b)))
        return s;
    if ((s = ptm_buffer_device(&vk_backend, st, b, nbytes, release_cb, out))) {
        vk_buf_destroy(st, b);
        return s;
    }
    st->allocs++;
    st->refs++;
    return PTM_OK;
}

static ptm_status same_layout(const char *op, const ptm_tensor *a, const ptm_tensor *b)
{
    if (!a || !b)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: NULL tensor", op);
    if (ptm_tensor_dtype(a) != ptm_tensor_dtype(b) || ptm_tensor_nbytes(a) != ptm_tensor_nbytes(b)) {
        char s1[128], s2[128];
        return ptm_error(PTM_ERR_SHAPE, "vulkan %s: %s %s and %s %s differ", op,
                         ptm_dtype_name(ptm_tensor_dtype(a)),
                         ptm_shape_str(ptm_tensor_ndim(a), ptm_tensor_shape(a), s1, sizeof s1),
                         ptm_dtype_name(ptm_tensor_dtype(b)),
                         ptm_shape_str(ptm_tensor_ndim(b), ptm_tensor_shape(b), s2, sizeof s2));
    }
    return PTM_OK;
}

ptm_status vk_upload(void *bs, const ptm_tensor *host, ptm_tensor *dev)
{
    vk_state *st = bs;
    vk_buf *b;
    size_t off;
    ptm_status s = vk_check_alive(st, "upload");
    if (s || (s = same_layout("upload", host, dev)) || (s = vk_locate(st, "upload", "destination", dev, &b, &off)))
        return s;
    size_t n = ptm_tensor_nbytes(host);
    if (n == 0)
        return PTM_OK;
    const void *src = ptm_tensor_data(host);
    if (!src)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan upload: the source is not host memory");
    if ((s = vk_upload_bytes(st, src, n, b->buf, off)))
        return s;
    return vk_op_done(st);
}

ptm_status vk_download(void *bs, const ptm_tensor *dev, ptm_tensor *host)
{
    vk_state *st = bs;
    vk_buf *b;
    size_t off;
    ptm_status s = vk_check_alive(st, "download");
    if (s || (s = same_layout("download", dev, host)) || (s = vk_locate(st, "download", "source", dev, &b, &off)))
        return s;
    size_t n = ptm_tensor_nbytes(dev);
    if (n == 0)
        return PTM_OK;
    void *dst = ptm_tensor_data_mut(host);
    if (!dst)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan download: the destination is not writable host memory");
    return vk_download_bytes(st, b->buf, off, n, dst);
}

ptm_status vk_begin_pass(void *bs)
{
    vk_state *st = bs;
    ptm_status s = vk_check_alive(st, "begin_pass");
    if (s)
        return s;
    if ((s = vk_flush(st))) /* anything left from before runs first */
        return s;
    st->in_pass = 1;
    return PTM_OK;
}

ptm_status vk_end_pass(void *bs)
{
    vk_state *st = bs;
    if (!st)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan end_pass: no backend state");
    st->in_pass = 0;
    ptm_status s = vk_check_alive(st, "end_pass");
    if (s)
        return s;
    return vk_flush(st);
}
