/* SPDX-License-Identifier: Apache-2.0 */
/* tensor.c - dense tensors over reference-counted buffers. */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ptm_tensor {
    atomic_long refs;
    ptm_dtype dtype;
    int ndim;
    int64_t shape[PTM_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    ptm_buffer *buf;
    size_t offset;
    int placed; /* lives in caller memory (exec arena): never freed */
};

/* numel and nbytes of a shape, overflow-checked. */
static ptm_status shape_size(ptm_dtype dt, int ndim, const int64_t *shape, int64_t *numel, size_t *nbytes)
{
    if (ptm_dtype_size(dt) == 0)
        return ptm_error(PTM_ERR_DTYPE, "invalid dtype %d", (int)dt);
    if (ndim < 0 || ndim > PTM_MAX_DIMS || (ndim && !shape))
        return ptm_error(PTM_ERR_INVALID_ARG, "tensor rank %d outside 0..%d", ndim, PTM_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ptm_error(PTM_ERR_INVALID_ARG, "negative dimension %lld", (long long)shape[i]);
        if (ptm__mul_ovf(n, (size_t)shape[i], &n) || n > (size_t)INT64_MAX)
            return ptm_error(PTM_ERR_OVERFLOW, "tensor shape overflows 64-bit element count");
    }
    size_t bytes;
    if (ptm__mul_ovf(n, ptm_dtype_size(dt), &bytes))
        return ptm_error(PTM_ERR_OVERFLOW, "tensor byte size overflows");
    *numel = (int64_t)n;
    *nbytes = bytes;
    return PTM_OK;
}

static ptm_status tensor_make(ptm_buffer *buf, size_t offset, ptm_dtype dt, int ndim, const int64_t *shape,
                              int64_t numel, size_t nbytes, ptm_tensor **out)
{
    ptm_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    atomic_init(&t->refs, 1);
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->nbytes = nbytes;
    t->buf = ptm_buffer_retain(buf);
    t->offset = offset;
    *out = t;
    return PTM_OK;
}

ptm_status ptm_tensor_new(ptm_dtype dt, int ndim, const int64_t *shape, ptm_tensor **out)
{
    int64_t numel;
    size_t nbytes;
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_tensor_new: NULL out");
    ptm_status s = shape_size(dt, ndim, shape, &numel, &nbytes);
    if (s)
        return s;
    ptm_buffer *b;
    if ((s = ptm_buffer_alloc(nbytes, &b)))
        return s;
    s = tensor_make(b, 0, dt, ndim, shape, numel, nbytes, out);
    ptm_buffer_release(b);
    return s;
}

ptm_status ptm_tensor_from_buffer(ptm_buffer *buf, size_t offset, ptm_dtype dt, int ndim, const int64_t *shape,
                                  ptm_tensor **out)
{
    int64_t numel;
    size_t nbytes, end;
    if (!buf || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_tensor_from_buffer: NULL argument");
    ptm_status s = shape_size(dt, ndim, shape, &numel, &nbytes);
    if (s)
        return s;
    if (ptm__add_ovf(offset, nbytes, &end) || end > ptm_buffer_size(buf))
        return ptm_error(PTM_ERR_INVALID_ARG, "tensor of %zu bytes at offset %zu does not fit a buffer of %zu bytes",
                         nbytes, offset, ptm_buffer_size(buf));
    return tensor_make(buf, offset, dt, ndim, shape, numel, nbytes, out);
}

ptm_status ptm_tensor_from_data(ptm_dtype dt, int ndim, const int64_t *shape, const void *data, size_t nbytes,
                                ptm_tensor **out)
{
    ptm_tensor *t;
    ptm_status s = ptm_tensor_new(dt, ndim, shape, &t);
    if (s)
        return s;
    if (nbytes != t->nbytes) {
        ptm_tensor_release(t);
        return ptm_error(PTM_ERR_SHAPE, "%zu bytes given for a tensor of %zu bytes", nbytes, t->nbytes);
    }
    if (nbytes)
        memcpy(ptm_tensor_data_mut(t), data, nbytes);
    *out = t;
    return PTM_OK;
}

ptm_tensor *ptm_tensor_retain(ptm_tensor *t)
{
    if (t)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void ptm_tensor_release(ptm_tensor *t)
{
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1 || t->placed)
        return;
    ptm_buffer_release(t->buf);
    free(t);
}

ptm_dtype ptm_tensor_dtype(const ptm_tensor *t) { return t->dtype; }
int ptm_tensor_ndim(const ptm_tensor *t) { return t->ndim; }
int64_t ptm_tensor_dim(const ptm_tensor *t, int i)
{
    if (i < 0)
        i += t->ndim;
    return (i >= 0 && i < t->ndim) ? t->shape[i] : 0;
}
const int64_t *ptm_tensor_shape(const ptm_tensor *t) { return t->shape; }
int64_t ptm_tensor_numel(const ptm_tensor *t) { return t->numel; }
size_t ptm_tensor_nbytes(const ptm_tensor *t) { return t->nbytes; }
const void *ptm_tensor_data(const ptm_tensor *t)
{
    const char *p = ptm_buffer_data(t->buf);
    return p ? p + t->offset : NULL;
}
const ptm_backend *ptm_tensor_backend(const ptm_tensor *t) { return ptm_buffer_backend(t->buf); }
size_t ptm_tensor_device_offset(const ptm_tensor *t) { return ptm_buffer_device_offset(t->buf) + t->offset; }
void *ptm_tensor_data_mut(ptm_tensor *t)
{
    char *p = ptm_buffer_data_mut(t->buf);
    return p ? p + t->offset : NULL;
}
ptm_buffer *ptm_tensor_buffer(const ptm_tensor *t) { return t->buf; }
size_t ptm_tensor_offset(const ptm_tensor *t) { return t->offset; }

int ptm_tensor_shares_memory(const ptm_tensor *a, const ptm_tensor *b)
{
    if (!a || !b)
        return 0;
    if (a == b)
        return 1;
    if (ptm_tensor_backend(a) || ptm_tensor_backend(b)) {
        size_t oa = ptm_tensor_device_offset(a), ob = ptm_tensor_device_offset(b);
        return ptm_buffer_handle(a->buf) == ptm_buffer_handle(b->buf) && ptm_tensor_backend(a) == ptm_tensor_backend(b) &&
               oa < ob + (b->nbytes ? b->nbytes : 1) && ob < oa + (a->nbytes ? a->nbytes : 1);
    }
    const char *pa = ptm_tensor_data(a), *pb = ptm_tensor_data(b);
    if (a->nbytes == 0 || b->nbytes == 0)
        return pa == pb && ptm_buffer_data(a->buf) == ptm_buffer_data(b->buf) && a->buf == b->buf;
    return pa < pb + b->nbytes && pb < pa + a->nbytes;
}

ptm_status ptm_tensor_convert(const ptm_tensor *t, ptm_dtype dt, ptm_tensor **out)
{
    ptm_tensor *r;
    if (!t || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_tensor_convert: NULL argument");
    if (ptm_tensor_backend(t))
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_tensor_convert: the tensor is in device memory; download it first");
    ptm_status s = ptm_tensor_new(dt, t->ndim, t->shape, &r);
    if (s)
        return s;
    if ((s = ptm_convert(ptm_tensor_data(t), t->dtype, ptm_tensor_data_mut(r), dt, (size_t)t->numel))) {
        ptm_tensor_release(r);
        return s;
    }
    *out = r;
    return PTM_OK;
}

ptm_status ptm_tensor_writable(ptm_tensor *t, ptm_tensor **out)
{
    if (!t || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_tensor_writable: NULL argument");
    if (ptm_tensor_backend(t))
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_tensor_writable: the tensor is in device memory");
    if (ptm_tensor_data_mut(t)) {
        *out = ptm_tensor_retain(t);
        return PTM_OK;
    }
    return ptm_tensor_from_data(t->dtype, t->ndim, t->shape, ptm_tensor_data(t), t->nbytes, out);
}

char *ptm_shape_str(int ndim, const int64_t *shape, char *buf, size_t buflen)
{
    size_t pos = 0;
    if (!buf || !buflen)
        return buf;
    buf[0] = '\0';
    pos += (size_t)snprintf(buf, buflen, "[");
    for (int i = 0; i < ndim && pos < buflen; i++)
        pos += (size_t)snprintf(buf + pos, buflen - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (pos < buflen)
        snprintf(buf + pos, buflen - pos, "]");
    return buf;
}

size_t ptm__tensor_struct_size(void) { return sizeof(ptm_tensor); }

ptm_status ptm__tensor_place(void *mem, ptm_buffer *buf, size_t offset, ptm_dtype dt, int ndim, const int64_t *shape,
                             ptm_tensor **out)
{
    int64_t numel;
    size_t nbytes, end;
    ptm_status s = shape_size(dt, ndim, shape, &numel, &nbytes);
    if (s)
        return s;
    if (ptm__add_ovf(offset, nbytes, &end) || end > ptm_buffer_size(buf))
        return ptm_error(PTM_ERR_INVALID_ARG, "view of %zu bytes at offset %zu does not fit a buffer of %zu bytes",
                         nbytes, offset, ptm_buffer_size(buf));
    ptm_tensor *t = mem;
    memset(t, 0, sizeof *t);
    atomic_init(&t->refs, 1);
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->nbytes = nbytes;
    t->buf = buf;
    t->offset = offset;
    t->placed = 1;
    *out = t;
    return PTM_OK;
}

ptm_status ptm__shape_bytes(ptm_dtype dt, int ndim, const int64_t *shape, size_t *nbytes)
{
    int64_t numel;
    return shape_size(dt, ndim, shape, &numel, nbytes);
}
