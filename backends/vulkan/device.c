/* SPDX-License-Identifier: Apache-2.0 */
/* device.c - device enumeration, the per-exec state (instance, device,
 * queue, command buffer, fence, descriptor pools, pipelines), recording,
 * submission and dispatch.
 *
 * Devices: the physical devices that have a queue family with compute,
 * in the order the loader lists them, enumerated once per process (with a
 * throw-away instance) for device_count and device_name.  init(device)
 * opens device `device`, or the one PTM_VULKAN_DEVICE names when device is
 * 0.  The instance has no layers unless PTM_VULKAN_VALIDATION=1 asks for
 * VK_LAYER_KHRONOS_validation (used when installed, else a warning is
 * logged). */
#include "vk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 16
#define SETS_PER_POOL 256

static const struct {
    const char *name;
    int nbind;
} shader_info[VK_SH_COUNT] = {
    [VK_SH_UNARY] = {"unary", 3},         [VK_SH_BINARY] = {"binary", 3},   [VK_SH_MATMUL] = {"matmul", 4},
    [VK_SH_MATVEC] = {"matvec", 4},       [VK_SH_NORM] = {"norm", 4},       [VK_SH_SOFTMAX] = {"softmax", 3},
    [VK_SH_ATTENTION] = {"attention", 5}, [VK_SH_ROPE] = {"rope", 4},       [VK_SH_EMBEDDING] = {"embedding", 3},
    [VK_SH_STRIDED] = {"strided", 2},     [VK_SH_CONVERT] = {"convert", 2}, [VK_SH_FILL] = {"fill", 1},
    [VK_SH_ARGMAX] = {"argmax", 2},
};

const char *vk_result_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    default: return "VkResult error";
    }
}

/* ------------------------------------------------------- enumeration */

static struct {
    pthread_once_t once;
    int count;
    char names[MAX_DEVICES][320];
    VkInstance inst; /* the enumeration instance, kept (see enumerate_once) */
} devs = {PTHREAD_ONCE_INIT, 0, {{0}}, VK_NULL_HANDLE};

static const char *type_str(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static ptm_status make_instance(int validation, VkInstance *out)
{
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "ptm",
                             .pEngineName = "ptm",
                             .apiVersion = VK_API_VERSION_1_0};
    const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
    uint32_t nlayers = 0;
    if (validation) {
        uint32_t n = 0;
        vkEnumerateInstanceLayerProperties(&n, NULL);
        VkLayerProperties *lp = n ? calloc(n, sizeof *lp) : NULL;
        if (lp && vkEnumerateInstanceLayerProperties(&n, lp) >= 0)
            for (uint32_t i = 0; i < n; i++)
                if (!strcmp(lp[i].layerName, layers[0]))
                    nlayers = 1;
        free(lp);
        if (!nlayers)
            ptm_log(PTM_LOG_WARN, "vulkan: PTM_VULKAN_VALIDATION is set but VK_LAYER_KHRONOS_validation is not "
                                  "installed; running without it");
    }
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = nlayers,
                               .ppEnabledLayerNames = nlayers ? layers : NULL};
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r != VK_SUCCESS)
        return ptm_error(PTM_ERR_BACKEND, "vulkan: vkCreateInstance failed (%s)", vk_result_str(r));
    return PTM_OK;
}

/* The compute queue family of a device, or -1. */
static int compute_family(VkPhysicalDevice pd)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *qf = n ? calloc(n, sizeof *qf) : NULL;
    int found = -1;
    if (qf) {
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, qf);
        for (uint32_t i = 0; i < n && found < 0; i++)
            if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && qf[i].queueCount > 0)
                found = (int)i;
    }
    free(qf);
    return found;
}

/* Physical devices with a compute queue, in loader order (at most max). */
static uint32_t compute_devices(VkInstance inst, VkPhysicalDevice *out, uint32_t max)
{
    uint32_t n = 0, k = 0;
    if (vkEnumeratePhysicalDevices(inst, &n, NULL) < 0 || n == 0)
        return 0;
    VkPhysicalDevice *pd = calloc(n, sizeof *pd);
    if (!pd)
        return 0;
    if (vkEnumeratePhysicalDevices(inst, &n, pd) >= 0)
        for (uint32_t i = 0; i < n && k < max; i++)
            if (compute_family(pd[i]) >= 0)
                out[k++] = pd[i];
    free(pd);
    return k;
}

static void describe(VkPhysicalDevice pd, char *buf, size_t n)
{
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    snprintf(buf, n, "%s (%s, Vulkan %u.%u.%u)", p.deviceName, type_str(p.deviceType),
             VK_VERSION_MAJOR(p.apiVersion), VK_VERSION_MINOR(p.apiVersion), VK_VERSION_PATCH(p.apiVersion));
}

static void enumerate_once(void)
{
    VkInstance inst;
    ptm_status s = make_instance(0, &inst);
    if (s) {
        ptm_clear_error();
        return;
    }
    VkPhysicalDevice pd[MAX_DEVICES];
    uint32_t n = compute_devices(inst, pd, MAX_DEVICES);
    for (uint32_t i = 0; i < n; i++)
        describe(pd[i], devs.names[i], sizeof devs.names[i]);
    devs.count = (int)n;
    /* Kept for the life of the process (the plugin stays loaded): destroying
     * the last instance makes the loader unload the driver, and some drivers
     * (lavapipe) leave allocations behind when they are unloaded. */
    devs.inst = inst;
}

int vk_device_count(void)
{
    pthread_once(&devs.once, enumerate_once);
    return devs.count;
}

ptm_status vk_device_name(int index, char *buf, size_t buflen)
{
    int n = vk_device_count();
    if (index < 0 || index >= n)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan: no device %d (there are %d)", index, n);
    if (!buf || !buflen)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan: empty name buffer");
    snprintf(buf, buflen, "%s", devs.names[index]);
    return PTM_OK;
}

/* ---------------------------------------------------------- state */

ptm_status vk_check_alive(vk_state *st, const char *what)
{
    if (!st)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: no backend state", what);
    if (st->lost)
        return ptm_error(st->lost_status, "vulkan %s: device %d (%s) failed earlier (device lost or a failed "
                                          "submission); this exec cannot run more work on it",
                         what, st->index, st->name);
    return PTM_OK;
}

ptm_status vk_fail(vk_state *st, VkResult r, const char *what)
{
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return ptm_error(PTM_ERR_NOMEM, "vulkan: %s on device %d (%s): out of %s memory (%s)", what, st->index,
                         st->name, r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host", vk_result_str(r));
    if (r == VK_ERROR_DEVICE_LOST) {
        st->lost = 1;
        st->lost_status = PTM_ERR_BACKEND;
        return ptm_error(PTM_ERR_BACKEND, "vulkan: device %d (%s) was lost during %s (VK_ERROR_DEVICE_LOST); "
                                          "the exec refuses further work", st->index, st->name, what);
    }
    return ptm_error(PTM_ERR_BACKEND, "vulkan: %s on device %d (%s) failed: %s (%d)", what, st->index, st->name,
                     vk_result_str(r), (int)r);
}

static long env_long(const char *name, long dflt)
{
    const char *e = getenv(name);
    if (!e || !*e)
        return dflt;
    char *end;
    long v = strtol(e, &end, 10);
    return *end ? dflt : v;
}

static ptm_status make_layouts(vk_state *st)
{
    VkResult r;
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
        for (int i = 0; i < n; i++)
            b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                  .descriptorCount = 1,
                                                  .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                               .bindingCount = (uint32_t)n,
                                               .pBindings = b};
        if ((r = vkCreateDescriptorSetLayout(st->dev, &dci, NULL, &st->dsl[n])) != VK_SUCCESS)
            return vk_fail(st, r, "creating a descriptor set layout");
        VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_PUSH_MAX};
        VkPipelineLayoutCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                          .setLayoutCount = 1,
                                          .pSetLayouts = &st->dsl[n],
                                          .pushConstantRangeCount = 1,
                                          .pPushConstantRanges = &pc};
        if ((r = vkCreatePipelineLayout(st->dev, &pci, NULL, &st->layout[n])) != VK_SUCCESS)
            return vk_fail(st, r, "creating a pipeline layout");
    }
    return PTM_OK;
}

ptm_status vk_init(int device, int num_threads, void **state)
{
    (void)num_threads;
    if (!state)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan: init without a state pointer");
    *state = NULL;
    int count = vk_device_count();
    int idx = device;
    const char *env = getenv("PTM_VULKAN_DEVICE");
    if (device == 0 && env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0)
            return ptm_error(PTM_ERR_INVALID_ARG, "vulkan: PTM_VULKAN_DEVICE=\"%s\" is not a device index", env);
        idx = (int)v;
    }
    if (idx < 0 || idx >= count)
        return ptm_error(PTM_ERR_BACKEND, "vulkan: no device %d (%d with a compute queue found)", idx, count);
    vk_state *st = calloc(1, sizeof *st);
    if (!st)
        return ptm_error(PTM_ERR_NOMEM, "vulkan: out of memory");
    st->refs = 1;
    st->index = idx;
    st->fail_after = env_long("PTM_VULKAN_FAIL_ALLOC_AFTER", -1);
    st->lose_after = env_long("PTM_VULKAN_LOSE_DEVICE_AFTER", -1);
    long mb = env_long("PTM_VULKAN_STAGING_MB", 32);
    st->stage_cap = (size_t)(mb >= 1 && mb <= 4096 ? mb : 32) << 20;
    snprintf(st->name, sizeof st->name, "%s", devs.names[idx]);
    ptm_status s = make_instance(env_long("PTM_VULKAN_VALIDATION", 0) > 0, &st->inst);
    VkResult r = VK_SUCCESS;
    VkPhysicalDevice pd[MAX_DEVICES];
    if (!s && compute_devices(st->inst, pd, MAX_DEVICES) <= (uint32_t)idx)
        s = ptm_error(PTM_ERR_BACKEND, "vulkan: device %d disappeared", idx);
    if (s)
        goto fail;
    st->phys = pd[idx];
    st->qfam = (uint32_t)compute_family(st->phys);
    vkGetPhysicalDeviceProperties(st->phys, &st->props);
    vkGetPhysicalDeviceMemoryProperties(st->phys, &st->memprops);
    const VkPhysicalDeviceLimits *lim = &st->props.limits;
    if (lim->maxComputeWorkGroupInvocations < 256 || lim->maxComputeWorkGroupSize[0] < 256) {
        s = ptm_error(PTM_ERR_BACKEND, "vulkan: device %d (%s) runs %u invocations per workgroup (x up to %u); the "
                                       "backend's shaders need 256", idx, st->name,
                      lim->maxComputeWorkGroupInvocations, lim->maxComputeWorkGroupSize[0]);
        goto fail;
    }

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = st->qfam,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    if ((r = vkCreateDevice(st->phys, &dci, NULL, &st->dev)) != VK_SUCCESS) {
        s = vk_fail(st, r, "creating the logical device");
        goto fail;
    }
    vkGetDeviceQueue(st->dev, st->qfam, 0, &st->queue);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = st->qfam};
    if ((r = vkCreateCommandPool(st->dev, &pci, NULL, &st->cpool)) != VK_SUCCESS) {
        s = vk_fail(st, r, "creating a command pool");
        goto fail;
    }
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = st->cpool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkAllocateCommandBuffers(st->dev, &cai, &st->cb)) != VK_SUCCESS ||
        (r = vkCreateFence(st->dev, &fci, NULL, &st->fence)) != VK_SUCCESS) {
        s = vk_fail(st, r, "creating the command buffer and fence");
        goto fail;
    }
    if ((s = make_layouts(st)) || (s = vk_buf_new(st, 16, 0, &st->dummy)))
        goto fail;
    *state = st;
    return PTM_OK;
fail:
    vk_destroy_state(st);
    return s;
}

void vk_destroy_state(vk_state *st)
{
    if (!st)
        return;
    if (st->dev) {
        vkDeviceWaitIdle(st->dev);
        vk_free_dead(st);
        vk_buf_destroy(st, st->dummy);
        vk_buf_destroy(st, st->rope_inv);
        vk_buf_destroy(st, st->stage);
        for (int i = 0; i < VK_SH_COUNT; i++)
            if (st->pipe[i])
                vkDestroyPipeline(st->dev, st->pipe[i], NULL);
        for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
            if (st->layout[n])
                vkDestroyPipelineLayout(st->dev, st->layout[n], NULL);
            if (st->dsl[n])
                vkDestroyDescriptorSetLayout(st->dev, st->dsl[n], NULL);
        }
        for (int i = 0; i < st->npools; i++)
            vkDestroyDescriptorPool(st->dev, st->pools[i], NULL);
        if (st->fence)
            vkDestroyFence(st->dev, st->fence, NULL);
        if (st->cpool)
            vkDestroyCommandPool(st->dev, st->cpool, NULL);
        vkDestroyDevice(st->dev, NULL);
    }
    if (st->inst)
        vkDestroyInstance(st->inst, NULL);
    free(st->pools);
    free(st->dead);
    free(st);
}

void vk_shutdown(void *state)
{
    vk_state *st = state;
    if (!st)
        return;
    if (!st->lost)
        (void)vk_flush(st);
    st->in_pass = 0;
    if (st->dev)
        vkDeviceWaitIdle(st->dev);
    vk_free_dead(st);
    st->closing = 1;
    if (--st->refs == 0)
        vk_destroy_state(st);
    /* else the last device buffer's release destroys it */
}

/* ------------------------------------------------------- recording */

ptm_status vk_record(vk_state *st)
{
    if (st->recording)
        return PTM_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = vkBeginCommandBuffer(st->cb, &bi);
    if (r != VK_SUCCESS)
        return vk_fail(st, r, "beginning a command buffer");
    st->recording = 1;
    st->ncmds = 0;
    return PTM_OK;
}

void vk_barrier(vk_state *st)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(st->cb, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

ptm_status vk_flush(vk_state *st)
{
    if (!st->recording)
        return PTM_OK;
    st->recording = 0;
    VkResult r = vkEndCommandBuffer(st->cb);
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &st->cb};
        if (st->lose_after >= 0 && st->submits >= st->lose_after)
            r = VK_ERROR_DEVICE_LOST; /* simulated (testing), nothing submitted */
        else
            r = vkQueueSubmit(st->queue, 1, &si, st->fence);
        st->submits++;
        if (r == VK_SUCCESS) {
            r = vkWaitForFences(st->dev, 1, &st->fence, VK_TRUE, UINT64_MAX);
            VkResult r2 = vkResetFences(st->dev, 1, &st->fence);
            if (r == VK_SUCCESS)
                r = r2;
        }
    }
    vkResetCommandBuffer(st->cb, 0);
    for (int i = 0; i <= st->cur_pool && i < st->npools; i++)
        vkResetDescriptorPool(st->dev, st->pools[i], 0);
    st->cur_pool = 0;
    st->stage_used = 0;
    st->ncmds = 0;
    if (r != VK_SUCCESS) {
        /* recorded work was lost: later results would be wrong, so the
         * state refuses further work */
        vkDeviceWaitIdle(st->dev);
        vk_free_dead(st);
        ptm_status s = vk_fail(st, r, "submitting recorded work");
        st->lost = 1;
        st->lost_status = r == VK_ERROR_DEVICE_LOST ? PTM_ERR_BACKEND : s;
        return s;
    }
    vk_free_dead(st);
    return PTM_OK;
}

ptm_status vk_op_done(vk_state *st) { return st->in_pass ? PTM_OK : vk_flush(st); }

static ptm_status pipeline(vk_state *st, int shader)
{
    if (st->pipe[shader])
        return PTM_OK;
    const struct vk_spirv *sp = NULL;
    for (const struct vk_spirv *e = vk_spirv_table; e->name; e++)
        if (!strcmp(e->name, shader_info[shader].name))
            sp = e;
    if (!sp)
        return ptm_error(PTM_ERR_BACKEND, "vulkan: shader %s is not embedded in the plugin",
                         shader_info[shader].name);
    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = sp->size,
                                    .pCode = sp->code};
    VkShaderModule mod;
    VkResult r = vkCreateShaderModule(st->dev, &mci, NULL, &mod);
    if (r != VK_SUCCESS)
        return vk_fail(st, r, "creating a shader module");
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main"},
        .layout = st->layout[shader_info[shader].nbind],
    };
    r = vkCreateComputePipelines(st->dev, VK_NULL_HANDLE, 1, &ci, NULL, &st->pipe[shader]);
    vkDestroyShaderModule(st->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        st->pipe[shader] = VK_NULL_HANDLE;
        return vk_fail(st, r, "creating a compute pipeline");
    }
    return PTM_OK;
}

static ptm_status new_pool(vk_state *st)
{
    VkDescriptorPool *np = realloc(st->pools, (size_t)(st->npools + 1) * sizeof *np);
    if (!np)
        return ptm_error(PTM_ERR_NOMEM, "vulkan: out of memory");
    st->pools = np;
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = SETS_PER_POOL * VK_MAX_BINDINGS};
    VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = SETS_PER_POOL,
                                     .poolSizeCount = 1,
                                     .pPoolSizes = &ps};
    VkResult r = vkCreateDescriptorPool(st->dev, &ci, NULL, &st->pools[st->npools]);
    if (r != VK_SUCCESS)
        return vk_fail(st, r, "creating a descriptor pool");
    st->npools++;
    return PTM_OK;
}

/* A descriptor set of layout dsl[nbind] from the pools in use. */
static ptm_status alloc_set(vk_state *st, int nbind, VkDescriptorSet *set)
{
    for (;;) {
        ptm_status s;
        int fresh = st->cur_pool >= st->npools;
        if (fresh && (s = new_pool(st)))
            return s;
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = st->pools[st->cur_pool],
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &st->dsl[nbind]};
        VkResult r = vkAllocateDescriptorSets(st->dev, &ai, set);
        if (r == VK_SUCCESS)
            return PTM_OK;
        if (r == VK_ERROR_DEVICE_LOST)
            return vk_fail(st, r, "allocating a descriptor set");
        if (fresh) /* even an empty pool cannot serve it */
            return vk_fail(st, r, "allocating a descriptor set");
        st->cur_pool++; /* pool exhausted (VK_ERROR_OUT_OF_POOL_MEMORY): the next */
    }
}

void vk_grid(uint64_t groups, uint32_t *gx, uint32_t *gy)
{
    if (groups == 0)
        groups = 1;
    uint64_t x = groups < 65535 ? groups : 65535;
    *gx = (uint32_t)x;
    *gy = (uint32_t)((groups + x - 1) / x);
}

void vk_elem_grid(uint64_t n, uint32_t *gx, uint32_t *gy)
{
    uint64_t groups = (n + 255) / 256;
    vk_grid(groups < VK_ELEM_GROUPS_MAX ? groups : VK_ELEM_GROUPS_MAX, gx, gy);
}

ptm_status vk_dispatch(vk_state *st, int shader, const vk_bind *binds, int nbind, const void *push, size_t push_size,
                       uint32_t gx, uint32_t gy, uint32_t gz)
{
    ptm_status s;
    if (nbind != shader_info[shader].nbind || push_size > VK_PUSH_MAX)
        return ptm_error(PTM_ERR_BACKEND, "vulkan: shader %s dispatched with %d bindings / %zu push bytes",
                         shader_info[shader].name, nbind, push_size);
    const uint32_t *lim = st->props.limits.maxComputeWorkGroupCount;
    if (gx > lim[0] || gy > lim[1] || gz > lim[2])
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan: shader %s needs a %u x %u x %u grid; device %s allows %u x "
                                              "%u x %u", shader_info[shader].name, gx, gy, gz, st->name, lim[0],
                         lim[1], lim[2]);
    if ((s = pipeline(st, shader)) || (s = vk_record(st)))
        return s;
    VkDescriptorSet set;
    if ((s = alloc_set(st, nbind, &set)))
        return s;
    VkDescriptorBufferInfo bi[VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (int i = 0; i < nbind; i++) {
        bi[i] = (VkDescriptorBufferInfo){.buffer = binds[i].buf, .offset = binds[i].off, .range = binds[i].range};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    vkUpdateDescriptorSets(st->dev, (uint32_t)nbind, w, 0, NULL);
    vk_barrier(st);
    vkCmdBindPipeline(st->cb, VK_PIPELINE_BIND_POINT_COMPUTE, st->pipe[shader]);
    vkCmdBindDescriptorSets(st->cb, VK_PIPELINE_BIND_POINT_COMPUTE, st->layout[nbind], 0, 1, &set, 0, NULL);
    uint8_t pc[VK_PUSH_MAX] = {0};
    memcpy(pc, push, push_size);
    vkCmdPushConstants(st->cb, st->layout[nbind], VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_MAX, pc);
    vkCmdDispatch(st->cb, gx, gy, gz);
    st->ncmds++;
    return PTM_OK;
}

ptm_status vk_dispatch_op(vk_state *st, int shader, const vk_bind *binds, int nbind, const void *push,
                          size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz)
{
    ptm_status s = vk_dispatch(st, shader, binds, nbind, push, push_size, gx, gy, gz);
    return s ? s : vk_op_done(st);
}
