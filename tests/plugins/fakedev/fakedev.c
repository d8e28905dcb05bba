/* SPDX-License-Identifier: Apache-2.0 */
/* fakedev.c - a test backend with "device" memory: host allocations the
 * core can reach only through ptm_buffer_device handles.  It implements a
 * few ops (matmul with f32 weights, add, fill, copy) itself and leaves the
 * rest to the CPU fallback,
 * so the tests exercise the core's device path (resident parameters,
 * uploads of host operands, downloads of results, fallback staging) without
 * a GPU.  Every upload and download is logged at debug level with its size. */
#include <ptm/ptm.h>

#include <stdlib.h>
#include <string.h>

typedef struct devmem {
    unsigned char *mem;
    size_t n;
} devmem;

static const ptm_backend fakedev_backend;

static unsigned char *ptr(const ptm_tensor *t)
{
    devmem *d = ptm_buffer_handle(ptm_tensor_buffer(t));
    return d ? d->mem + ptm_tensor_device_offset(t) : NULL;
}

static void release(void *bs, void *handle)
{
    (void)bs;
    devmem *d = handle;
    free(d->mem);
    free(d);
}

static ptm_status fd_alloc(void *bs, size_t n, ptm_buffer **out)
{
    devmem *d = calloc(1, sizeof *d);
    if (!d || !(d->mem = calloc(1, n ? n : 1))) {
        free(d);
        return ptm_error(PTM_ERR_NOMEM, "fakedev: cannot allocate %zu bytes", n);
    }
    d->n = n;
    ptm_status s = ptm_buffer_device(&fakedev_backend, bs, d, n, release, out);
    if (s)
        release(bs, d);
    return s;
}

static ptm_status fd_upload(void *bs, const ptm_tensor *host, ptm_tensor *dev)
{
    (void)bs;
    if (ptm_tensor_backend(host) || ptm_tensor_backend(dev) != &fakedev_backend ||
        ptm_tensor_nbytes(host) != ptm_tensor_nbytes(dev))
        return ptm_error(PTM_ERR_INVALID_ARG, "fakedev upload: bad operands");
    memcpy(ptr(dev), ptm_tensor_data(host), ptm_tensor_nbytes(host));
    ptm_log(PTM_LOG_DEBUG, "fakedev upload %zu", ptm_tensor_nbytes(host));
    return PTM_OK;
}

static ptm_status fd_download(void *bs, const ptm_tensor *dev, ptm_tensor *host)
{
    (void)bs;
    if (!ptm_tensor_data_mut(host) || ptm_tensor_backend(dev) != &fakedev_backend ||
        ptm_tensor_nbytes(host) != ptm_tensor_nbytes(dev))
        return ptm_error(PTM_ERR_INVALID_ARG, "fakedev download: bad operands");
    memcpy(ptm_tensor_data_mut(host), ptr(dev), ptm_tensor_nbytes(host));
    ptm_log(PTM_LOG_DEBUG, "fakedev download %zu", ptm_tensor_nbytes(host));
    return PTM_OK;
}

static int on_device(const ptm_tensor *t) { return ptm_tensor_backend(t) == &fakedev_backend; }

static ptm_status fd_add(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    (void)bs;
    if (!on_device(a) || !on_device(b) || !on_device(out))
        return ptm_error(PTM_ERR_INVALID_ARG, "fakedev add: operands must be on the device");
    const float *x = (const float *)ptr(a), *y = (const float *)ptr(b);
    float *o = (float *)ptr(out);
    size_t n = (size_t)ptm_tensor_numel(a), m = (size_t)ptm_tensor_numel(b);
    for (size_t i = 0; i < n; i++)
        o[i] = x[i] + y[m ? i % m : 0];
    return PTM_OK;
}

/* Naive matmul for f32 operands: a [..., M, K] x b [K, N] or [N, K]
 * (shared, 2-D) + bias [N]. */
static ptm_status fd_matmul(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                            ptm_tensor *out)
{
    (void)bs;
    if (!on_device(a) || !on_device(b) || !on_device(out) || (bias && !on_device(bias)))
        return ptm_error(PTM_ERR_INVALID_ARG, "fakedev matmul: operands must be on the device");
    if (ptm_tensor_dtype(b) != PTM_F32 || (bias && ptm_tensor_dtype(bias) != PTM_F32) || ptm_tensor_ndim(b) != 2)
        return ptm_error(PTM_ERR_UNSUPPORTED, "fakedev matmul: only shared f32 weights");
    int64_t K = ptm_tensor_dim(a, -1), N = ptm_tensor_dim(out, -1), rows = ptm_tensor_numel(a) / (K ? K : 1);
    const float *x = (const float *)ptr(a), *w = (const float *)ptr(b), *bb = bias ? (const float *)ptr(bias) : NULL;
    float *o = (float *)ptr(out);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t n = 0; n < N; n++) {
            double acc = bb ? bb[n] : 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)x[r * K + k] * (trans_b ? w[n * K + k] : w[k * N + n]);
            o[r * N + n] = (float)acc;
        }
    return PTM_OK;
}

static ptm_status fd_fill(void *bs, ptm_tensor *out, float v)
{
    (void)bs;
    if (!on_device(out))
        return ptm_error(PTM_ERR_INVALID_ARG, "fakedev fill: output must be on the device");
    float *o = (float *)ptr(out);
    for (int64_t i = 0; i < ptm_tensor_numel(out); i++)
        o[i] = v;
    return PTM_OK;
}

static ptm_status fd_copy(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    (void)bs;
    if (!on_device(x) || !on_device(out))
        return ptm_error(PTM_ERR_INVALID_ARG, "fakedev copy: operands must be on the device");
    memmove(ptr(out), ptr(x), ptm_tensor_nbytes(x));
    return PTM_OK;
}

static const ptm_backend_ops fakedev_ops = {
    .struct_size = sizeof(ptm_backend_ops),
    .matmul = fd_matmul,
    .add = fd_add,
    .fill = fd_fill,
    .copy = fd_copy,
    .alloc = fd_alloc,
    .upload = fd_upload,
    .download = fd_download,
};

static int fd_count(void) { return 1; }

static const ptm_backend fakedev_backend = {
    .struct_size = sizeof(ptm_backend),
    .name = "fakedev",
    .description = "test backend with device-style memory",
    .device_count = fd_count,
    .ops = &fakedev_ops,
};

static ptm_status fd_register(ptm_registrar *reg) { return ptm_registrar_add_backend(reg, &fakedev_backend); }

static const ptm_plugin fakedev_plugin = {
    PTM_PLUGIN_HEADER, "fakedev", "0.1.0", "a device-memory test backend", "Apache-2.0", fd_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &fakedev_plugin; }
