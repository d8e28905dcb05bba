/* SPDX-License-Identifier: Apache-2.0 */
/* data.c - data movement kernels, any dtype: copy, kv_append and concat
 * as vkCmdCopyBuffer regions (no binding-size or alignment limits),
 * transpose (and concat of many pieces) through strided.comp; convert
 * (f32/f16/bf16 on the device, other dtype pairs through the host); fill;
 * argmax.
 *
 * strided.comp moves `unit`-byte units: 4 when the element size and both
 * byte offsets are multiples of 4 (every f32/i32/i64 tensor), else 2 or 1,
 * with an element of `es` bytes being es / unit consecutive units. */
#include "../shape_check.h"
#include "vk.h"

#include <stdlib.h>
#include <string.h>

typedef struct strided_push {
    uint32_t src_off, dst_off, n, unit;
    uint32_t shape[5];
    uint32_t sstride[5];
    uint32_t dstride[5];
} strided_push;

static ptm_status fits(const char *op, uint64_t v)
{
    if (v > UINT32_MAX)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan %s: %llu units exceed the shaders' 32-bit indices", op,
                         (unsigned long long)v);
    return PTM_OK;
}

static size_t pick_unit(size_t es, const vk_bind *a, const vk_bind *b)
{
    if (es % 4 == 0 && a->rel % 4 == 0 && b->rel % 4 == 0)
        return 4;
    if (es % 2 == 0 && a->rel % 2 == 0 && b->rel % 2 == 0)
        return 2;
    return 1;
}

/* Record dst[...] = src[...] over a logical [shape] space (5 dims, in
 * units); offsets in units relative to each binding's tensor. */
static ptm_status strided(vk_state *st, const char *op, const vk_bind *src, const vk_bind *dst, size_t unit,
                          uint64_t src_extra, uint64_t dst_extra, const uint64_t shape[5], const uint64_t sstride[5],
                          const uint64_t dstride[5])
{
    strided_push p = {0};
    uint64_t n = 1;
    ptm_status s;
    for (int i = 0; i < 5; i++) {
        n *= shape[i];
        if ((s = fits(op, shape[i])) || (s = fits(op, sstride[i] * (shape[i] ? shape[i] - 1 : 0))) ||
            (s = fits(op, dstride[i] * (shape[i] ? shape[i] - 1 : 0))))
            return s;
        p.shape[i] = (uint32_t)shape[i];
        p.sstride[i] = (uint32_t)sstride[i];
        p.dstride[i] = (uint32_t)dstride[i];
    }
    if (n == 0)
        return PTM_OK;
    uint64_t so = src->rel / unit + src_extra, d = dst->rel / unit + dst_extra;
    if ((s = fits(op, n)) || (s = fits(op, so + n)) || (s = fits(op, d + n)))
        return s;
    p.src_off = (uint32_t)so;
    p.dst_off = (uint32_t)d;
    p.n = (uint32_t)n;
    p.unit = (uint32_t)unit;
    vk_bind bd[2] = {*src, *dst};
    uint32_t gx, gy;
    vk_elem_grid(n, &gx, &gy);
    return vk_dispatch(st, VK_SH_STRIDED, bd, 2, &p, sizeof p, gx, gy, 1);
}

/* Record vkCmdCopyBuffer of n regions from src's to dst's buffer. */
static ptm_status copy_regions(vk_state *st, const vk_buf *src, const vk_buf *dst, const VkBufferCopy *r, uint32_t n)
{
    ptm_status s;
    if (n == 0)
        return PTM_OK;
    if ((s = vk_record(st)))
        return s;
    vk_barrier(st);
    vkCmdCopyBuffer(st->cb, src->buf, dst->buf, n, r);
    st->ncmds++;
    return PTM_OK;
}

ptm_status vk_copy(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "copy";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!x || !out || ptm_tensor_numel(x) != ptm_tensor_numel(out) || ptm_tensor_dtype(x) != ptm_tensor_dtype(out))
        return ptm_error(PTM_ERR_SHAPE, "vulkan copy: x and out must have one size and dtype");
    vk_buf *a, *b;
    size_t ao, bo, n = ptm_tensor_nbytes(x);
    if ((s = vk_locate(st, op, "x", x, &a, &ao)) || (s = vk_locate(st, op, "out", out, &b, &bo)))
        return s;
    if (n == 0 || (a == b && ao == bo))
        return PTM_OK;
    VkBufferCopy r = {ao, bo, n};
    if ((s = copy_regions(st, a, b, &r, 1)))
        return s;
    return vk_op_done(st);
}

ptm_status vk_transpose(void *bs, const ptm_tensor *x, int d0, int d1, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "transpose";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!x || !out || ptm_tensor_numel(x) != ptm_tensor_numel(out) || ptm_tensor_dtype(x) != ptm_tensor_dtype(out))
        return ptm_error(PTM_ERR_SHAPE, "vulkan transpose: x and out must have one size and dtype");
    int nd = ptm_tensor_ndim(x);
    if (d0 < 0)
        d0 += nd;
    if (d1 < 0)
        d1 += nd;
    if (d0 < 0 || d1 < 0 || d0 >= nd || d1 >= nd)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan transpose: dims out of range for a %d-d tensor", nd);
    if (d0 > d1) {
        int t = d0;
        d0 = d1;
        d1 = t;
    }
    /* x as [A, P, Bm, Q, C] -> out [A, Q, Bm, P, C] */
    uint64_t A = 1, P = 1, Bm = 1, Q = 1, C = 1;
    const int64_t *sh = ptm_tensor_shape(x);
    for (int i = 0; i < nd; i++) {
        if (i < d0)
            A *= (uint64_t)sh[i];
        else if (i == d0)
            P = (uint64_t)sh[i];
        else if (i < d1)
            Bm *= (uint64_t)sh[i];
        else if (i == d1)
            Q = (uint64_t)sh[i];
        else
            C *= (uint64_t)sh[i];
    }
    if (ptm_tensor_numel(x) == 0)
        return PTM_OK;
    if (d0 == d1 || P == 1 || Q == 1) /* the layout does not change */
        return vk_copy(st, x, out);
    vk_bind a, b;
    if ((s = vk_bind_tensor(st, op, "x", x, 1, &a)) || (s = vk_bind_tensor(st, op, "out", out, 1, &b)))
        return s;
    size_t es = ptm_dtype_size(ptm_tensor_dtype(x));
    {
        size_t unit = pick_unit(es, &a, &b);
        C *= es / unit;
        uint64_t shape[5] = {A, Q, Bm, P, C};
        uint64_t ss[5] = {P * Bm * Q * C, C, Q * C, Bm * Q * C, 1};
        uint64_t ds[5] = {Q * Bm * P * C, Bm * P * C, P * C, C, 1};
        s = strided(st, op, &a, &b, unit, 0, 0, shape, ss, ds);
    }
    if (s)
        return s;
    return vk_op_done(st);
}

ptm_status vk_concat(void *bs, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "concat";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!a || !b || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan concat: a, b or out is NULL");
    int64_t outer_i = 1, inner_i = 1;
    if ((s = be_concat_shape("vulkan", a, b, &dim, out, &outer_i, &inner_i)))
        return s;
    ptm_dtype dt = ptm_tensor_dtype(a);
    uint64_t outer = (uint64_t)outer_i, inner = (uint64_t)inner_i;
    size_t es = ptm_dtype_size(dt);
    if (outer <= 1024) { /* one copy region per piece */
        vk_buf *xa, *xb, *xo;
        size_t oa, ob, oo;
        if ((s = vk_locate(st, op, "a", a, &xa, &oa)) || (s = vk_locate(st, op, "b", b, &xb, &ob)) ||
            (s = vk_locate(st, op, "out", out, &xo, &oo)))
            return s;
        size_t la = (size_t)(ptm_tensor_dim(a, dim) * (int64_t)inner) * es;
        size_t lb = (size_t)(ptm_tensor_dim(b, dim) * (int64_t)inner) * es;
        VkBufferCopy ra[1024], rb[1024];
        uint32_t na = 0, nb = 0;
        for (uint64_t i = 0; i < outer; i++) {
            if (la)
                ra[na++] = (VkBufferCopy){oa + i * la, oo + i * (la + lb), la};
            if (lb)
                rb[nb++] = (VkBufferCopy){ob + i * lb, oo + i * (la + lb) + la, lb};
        }
        if ((s = copy_regions(st, xa, xo, ra, na)) || (s = copy_regions(st, xb, xo, rb, nb)))
            return s;
        return vk_op_done(st);
    }
    vk_bind ba, bb, bo;
    if ((s = vk_bind_tensor(st, op, "a", a, 1, &ba)) || (s = vk_bind_tensor(st, op, "b", b, 1, &bb)) ||
        (s = vk_bind_tensor(st, op, "out", out, 1, &bo)))
        return s;
    size_t ua = pick_unit(es, &ba, &bo), ub = pick_unit(es, &bb, &bo);
    size_t unit = ua < ub ? ua : ub;
    uint64_t eu = es / unit;
    uint64_t ra = (uint64_t)ptm_tensor_dim(a, dim) * inner * eu, rb = (uint64_t)ptm_tensor_dim(b, dim) * inner * eu;
    if (ra) {
        uint64_t shape[5] = {1, 1, 1, outer, ra}, ss[5] = {0, 0, 0, ra, 1}, ds[5] = {0, 0, 0, ra + rb, 1};
        if ((s = strided(st, op, &ba, &bo, unit, 0, 0, shape, ss, ds)))
            return s;
    }
    if (rb) {
        uint64_t shape[5] = {1, 1, 1, outer, rb}, ss[5] = {0, 0, 0, rb, 1}, ds[5] = {0, 0, 0, ra + rb, 1};
        if ((s = strided(st, op, &bb, &bo, unit, 0, ra, shape, ss, ds)))
            return s;
    }
    return vk_op_done(st);
}

ptm_status vk_kv_append(void *bs, ptm_tensor *cache, int64_t pos, const ptm_tensor *x)
{
    vk_state *st = bs;
    const char *op = "kv_append";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!x || !cache)
        return ptm_error(PTM_ERR_SHAPE, "vulkan kv_append: cache and x must be 4-d [B, H, T, D]");
    if ((s = be_kv_append_shape("vulkan", cache, pos, x)))
        return s;
    int64_t B = ptm_tensor_dim(x, 0), H = ptm_tensor_dim(x, 1), T = ptm_tensor_dim(x, 2), D = ptm_tensor_dim(x, 3);
    int64_t Tmax = ptm_tensor_dim(cache, 2);
    if (ptm_tensor_dtype(x) != ptm_tensor_dtype(cache))
        return ptm_error(PTM_ERR_DTYPE, "vulkan kv_append: x is %s but the cache is %s",
                         ptm_dtype_name(ptm_tensor_dtype(x)), ptm_dtype_name(ptm_tensor_dtype(cache)));
    vk_buf *xb, *cb;
    size_t xo, co;
    if ((s = vk_locate(st, op, "x", x, &xb, &xo)) || (s = vk_locate(st, op, "cache", cache, &cb, &co)))
        return s;
    size_t es = ptm_dtype_size(ptm_tensor_dtype(x)), row = (size_t)(T * D) * es;
    if (row == 0 || B * H == 0)
        return PTM_OK;
    if (B * H > 65536)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan kv_append: %lld heads x batch is too many copy regions",
                         (long long)(B * H));
    VkBufferCopy *r = malloc((size_t)(B * H) * sizeof *r);
    if (!r)
        return ptm_error(PTM_ERR_NOMEM, "vulkan kv_append: out of memory");
    for (int64_t bh = 0; bh < B * H; bh++)
        r[bh] = (VkBufferCopy){xo + (size_t)bh * row, co + (size_t)((bh * Tmax + pos) * D) * es, row};
    s = copy_regions(st, xb, cb, r, (uint32_t)(B * H));
    free(r);
    if (s)
        return s;
    return vk_op_done(st);
}

/* --------------------------------------------------------------- convert */

typedef struct convert_push {
    uint32_t x_off, o_off, n;
    uint32_t x_dt, o_dt;
} convert_push;

/* Any other dtype pair: download, ptm_convert on the host, upload. */
static ptm_status convert_host(vk_state *st, const ptm_tensor *x, ptm_tensor *out)
{
    vk_buf *xb, *ob;
    size_t xo, oo, n = (size_t)ptm_tensor_numel(x);
    size_t xn = ptm_tensor_nbytes(x), on = ptm_tensor_nbytes(out);
    ptm_status s;
    if ((s = vk_locate(st, "convert", "x", x, &xb, &xo)) || (s = vk_locate(st, "convert", "out", out, &ob, &oo)))
        return s;
    void *hx = malloc(xn ? xn : 1), *ho = malloc(on ? on : 1);
    s = hx && ho ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "vulkan convert: out of memory");
    if (!s)
        s = vk_download_bytes(st, xb->buf, xo, xn, hx);
    if (!s && (s = ptm_convert(hx, ptm_tensor_dtype(x), ho, ptm_tensor_dtype(out), n)))
        s = ptm_error_prefix(s, "vulkan convert");
    if (!s)
        s = vk_upload_bytes(st, ho, on, ob->buf, oo);
    free(hx);
    free(ho);
    return s;
}

ptm_status vk_convert(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "convert";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!x || !out || ptm_tensor_numel(x) != ptm_tensor_numel(out))
        return ptm_error(PTM_ERR_SHAPE, "vulkan convert: x and out differ in size");
    ptm_dtype xd = ptm_tensor_dtype(x), od = ptm_tensor_dtype(out);
    uint64_t n = (uint64_t)ptm_tensor_numel(x);
    if (n == 0)
        return PTM_OK;
    if (xd == od)
        return vk_copy(st, x, out);
    int xc = vk_dt_code(xd), oc = vk_dt_code(od);
    size_t xes = ptm_dtype_size(xd), oes = ptm_dtype_size(od);
    vk_bind a, b;
    if (xc >= 0 && oc >= 0 && !vk_bind_tensor(st, op, "x", x, xes, &a) && !vk_bind_tensor(st, op, "out", out, oes, &b)) {
        convert_push p = {(uint32_t)(a.rel / xes), (uint32_t)(b.rel / oes), 0, (uint32_t)xc, (uint32_t)oc};
        if ((s = fits(op, n)) || (s = fits(op, (uint64_t)p.x_off + n)) || (s = fits(op, (uint64_t)p.o_off + n)))
            return s;
        p.n = (uint32_t)n;
        vk_bind bd[2] = {a, b};
        uint32_t gx, gy;
        vk_elem_grid(n, &gx, &gy);
        s = vk_dispatch(st, VK_SH_CONVERT, bd, 2, &p, sizeof p, gx, gy, 1);
    } else { /* other dtypes, odd offsets or operands too large to bind */
        ptm_clear_error();
        s = convert_host(st, x, out);
    }
    if (s)
        return s;
    return vk_op_done(st);
}

/* ------------------------------------------------------------ fill, argmax */

typedef struct fill_push {
    uint32_t o_off, n, bits;
} fill_push;

ptm_status vk_fill(void *bs, ptm_tensor *out, float v)
{
    vk_state *st = bs;
    const char *op = "fill";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan fill: out is NULL");
    ptm_dtype dt = ptm_tensor_dtype(out);
    if (ptm_dtype_size(dt) != 4)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan fill: out is %s; the kernel fills 4-byte elements",
                         ptm_dtype_name(dt));
    fill_push p = {0};
    if ((s = ptm_convert(&v, PTM_F32, &p.bits, dt, 1)))
        return ptm_error_prefix(s, "vulkan fill");
    vk_bind b;
    if ((s = vk_bind_tensor(st, op, "out", out, 4, &b)) || (s = fits(op, (uint64_t)ptm_tensor_numel(out))))
        return s;
    p.o_off = vk_off(&b, 4);
    p.n = (uint32_t)ptm_tensor_numel(out);
    if (p.n == 0)
        return PTM_OK;
    uint32_t gx, gy;
    vk_elem_grid(p.n, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_FILL, &b, 1, &p, sizeof p, gx, gy, 1);
}

typedef struct argmax_push {
    uint32_t x_off, o_off, rows, N, o64;
} argmax_push;

ptm_status vk_argmax(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "argmax";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!x || !out || ptm_tensor_dtype(x) != PTM_F32)
        return ptm_error(PTM_ERR_DTYPE, "vulkan argmax: x must be F32");
    int64_t rows = 0, N = 1;
    if ((s = be_argmax_shape("vulkan", x, out, &rows, &N)) || rows == 0)
        return s;
    ptm_dtype odt = ptm_tensor_dtype(out);
    vk_bind bd[2];
    if ((s = vk_bind_tensor(st, op, "x", x, 4, &bd[0])) || (s = vk_bind_tensor(st, op, "out", out, 4, &bd[1])) ||
        (s = fits(op, (uint64_t)ptm_tensor_numel(x))))
        return s;
    argmax_push p = {vk_off(&bd[0], 4), vk_off(&bd[1], 4), (uint32_t)rows, (uint32_t)N, odt == PTM_I64};
    uint32_t gx, gy;
    vk_grid((uint64_t)rows, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_ARGMAX, bd, 2, &p, sizeof p, gx, gy, 1);
}
