/* SPDX-License-Identifier: Apache-2.0 */
/* compute.c - the compute kernels: matmul, elementwise (add, mul, scale,
 * gelu, silu, relu, swiglu), layer_norm, rms_norm, softmax, attention,
 * rope, embedding.  Each checks what the dispatcher does not (device
 * residence, sizes that fit the shaders' 32-bit indices), fills the push
 * constants of its shader (the structs below mirror the GLSL blocks) and
 * records one dispatch. */
#include "vk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* v as a 32-bit shader index, or PTM_ERR_UNSUPPORTED naming it. */
static ptm_status u32(const char *op, const char *what, int64_t v, uint32_t *out)
{
    if (v < 0 || v > (int64_t)UINT32_MAX)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan %s: %s = %lld exceeds the shaders' 32-bit indices", op, what,
                         (long long)v);
    *out = (uint32_t)v;
    return PTM_OK;
}

static int same_shape(const ptm_tensor *a, const ptm_tensor *b)
{
    return ptm_tensor_numel(a) == ptm_tensor_numel(b);
}

static ptm_status numel_check(const char *op, const ptm_tensor *a, const ptm_tensor *out)
{
    if (!a || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: NULL tensor", op);
    if (!same_shape(a, out))
        return ptm_error(PTM_ERR_SHAPE, "vulkan %s: input and output differ in size", op);
    return PTM_OK;
}

/* the bound weight's dtype code and element size; absent: DT_NONE */
static ptm_status bind_weight(vk_state *st, const char *op, const char *what, const ptm_tensor *t, vk_bind *b,
                              uint32_t *off, uint32_t *dt)
{
    if (!t) {
        *b = vk_bind_dummy(st);
        *off = 0;
        *dt = VK_DT_NONE;
        return PTM_OK;
    }
    int code = vk_dt_code(ptm_tensor_dtype(t));
    if (code < 0)
        return ptm_error(PTM_ERR_DTYPE, "vulkan %s: %s is %s, expected F32, F16 or BF16", op, what,
                         ptm_dtype_name(ptm_tensor_dtype(t)));
    size_t es = ptm_dtype_size(ptm_tensor_dtype(t));
    ptm_status s = vk_bind_tensor(st, op, what, t, es, b);
    if (s)
        return s;
    *off = vk_off(b, es);
    *dt = (uint32_t)code;
    return PTM_OK;
}

/* ---------------------------------------------------------------- matmul */

typedef struct mm_push {
    uint32_t a_off, b_off, bias_off, o_off;
    uint32_t M, N, K;
    uint32_t b_bstride;
    uint32_t trans_b, b_dt, bias_dt;
    uint32_t batch0;
    uint32_t ldb, ldo;
} mm_push;

ptm_status vk_matmul(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                     ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "matmul";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!a || !b || !out || ptm_tensor_ndim(a) < 1 || ptm_tensor_ndim(b) < 2)
        return ptm_error(PTM_ERR_SHAPE, "vulkan matmul: a needs >= 1 dim and b >= 2");
    int64_t K = ptm_tensor_dim(a, -1), M = ptm_tensor_ndim(a) >= 2 ? ptm_tensor_dim(a, -2) : 1;
    int64_t N = ptm_tensor_dim(b, trans_b ? -2 : -1);
    if (ptm_tensor_dim(b, trans_b ? -1 : -2) != K)
        return ptm_error(PTM_ERR_SHAPE, "vulkan matmul: a and b disagree on K");
    if (M == 0 || N == 0 || ptm_tensor_numel(out) == 0)
        return PTM_OK;
    int64_t batch = ptm_tensor_numel(out) / (M * N);
    int64_t bbatch = K ? ptm_tensor_numel(b) / (K * N) : 1;
    if (ptm_tensor_numel(out) != batch * M * N || (bbatch != 1 && bbatch != batch) ||
        (K && ptm_tensor_numel(a) != batch * M * K))
        return ptm_error(PTM_ERR_SHAPE, "vulkan matmul: a, b and out do not agree");
    if (bias && ptm_tensor_numel(bias) != N)
        return ptm_error(PTM_ERR_SHAPE, "vulkan matmul: bias must have N = %lld elements", (long long)N);
    if (bbatch == 1 && batch > 1) { /* shared b: one [batch*M, K] matrix */
        M *= batch;
        batch = 1;
    }
    mm_push p = {0};
    uint32_t nz = 0;
    if ((s = u32(op, "a's size", ptm_tensor_numel(a), &p.M)) || (s = u32(op, "b's size", ptm_tensor_numel(b), &p.M)) ||
        (s = u32(op, "out's size", ptm_tensor_numel(out), &p.M)) || (s = u32(op, "batch", batch, &nz)) ||
        (s = u32(op, "b's batch stride", bbatch == 1 ? 0 : K * N, &p.b_bstride)))
        return s;
    p.K = (uint32_t)K;
    p.trans_b = trans_b ? 1 : 0;
    p.ldo = (uint32_t)N;
    p.ldb = (uint32_t)N;
    size_t es = ptm_dtype_size(ptm_tensor_dtype(b)), bes = bias ? ptm_dtype_size(ptm_tensor_dtype(bias)) : 0;
    /* blocks of rows and columns: the whole product when every operand can
     * be bound, else (one batch entry) blocks whose pieces of a, b, bias
     * and out fit the device's binding range */
    int64_t mb = M, nb = N;
    vk_bind bd[4];
    if ((s = vk_bind_tensor(st, op, "a", a, 4, &bd[0])) || (s = bind_weight(st, op, "b", b, &bd[1], &p.b_off, &p.b_dt)) ||
        (s = bind_weight(st, op, "bias", bias, &bd[2], &p.bias_off, &p.bias_dt)) ||
        (s = vk_bind_tensor(st, op, "out", out, 4, &bd[3]))) {
        int64_t lim = (int64_t)vk_max_range(st);
        int64_t row = 4 * (K > N ? K : N);
        if (s != PTM_ERR_UNSUPPORTED || batch != 1 || row > lim || (trans_b && K * (int64_t)es > lim))
            return s;
        ptm_clear_error();
        if (vk_dt_code(ptm_tensor_dtype(b)) < 0 || (bias && vk_dt_code(ptm_tensor_dtype(bias)) < 0))
            return ptm_error(PTM_ERR_DTYPE, "vulkan matmul: b and bias must be F32, F16 or BF16");
        p.b_dt = (uint32_t)vk_dt_code(ptm_tensor_dtype(b));
        p.bias_dt = bias ? (uint32_t)vk_dt_code(ptm_tensor_dtype(bias)) : VK_DT_NONE;
        bd[2] = vk_bind_dummy(st);
        mb = lim / row >= M ? M : (lim / row) / 64 * 64;
        nb = trans_b && K ? lim / (K * (int64_t)es) : N;
        nb = nb >= N ? N : nb / 64 * 64;
        if (mb < 1)
            mb = lim / row;
        if (nb < 1)
            nb = lim / (K * (int64_t)es);
    }
    for (int64_t m0 = 0; m0 < M; m0 += mb)
        for (int64_t n0 = 0; n0 < N; n0 += nb) {
            int64_t mr = M - m0 < mb ? M - m0 : mb, nc = N - n0 < nb ? N - n0 : nb;
            if (mb != M || nb != N) {
                size_t bo = trans_b ? (size_t)(n0 * K) * es : 0;
                size_t bn = trans_b ? (size_t)(nc * K) * es : ptm_tensor_nbytes(b);
                if ((s = vk_bind_range(st, op, "a", a, (size_t)(m0 * K) * 4, (size_t)(mr * K) * 4, 4, &bd[0])) ||
                    (s = vk_bind_range(st, op, "b", b, bo, bn, es, &bd[1])) ||
                    (bias && (s = vk_bind_range(st, op, "bias", bias, (size_t)n0 * bes, (size_t)nc * bes, bes, &bd[2]))) ||
                    (s = vk_bind_range(st, op, "out", out, (size_t)(m0 * N) * 4, (size_t)(mr * N) * 4, 4, &bd[3])))
                    return s;
                p.b_off = vk_off(&bd[1], es) + (uint32_t)(trans_b ? 0 : n0);
                p.bias_off = bias ? vk_off(&bd[2], bes) : 0;
            }
            p.a_off = vk_off(&bd[0], 4);
            p.o_off = vk_off(&bd[3], 4) + (uint32_t)n0;
            p.M = (uint32_t)mr;
            p.N = (uint32_t)nc;
            int small = mr <= 4;
            uint32_t cols = small ? (trans_b ? 8 : 64) : 128;
            uint32_t gx = (uint32_t)((nc + cols - 1) / cols), gy = small ? 1 : (uint32_t)((mr + 127) / 128);
            uint32_t zmax = st->props.limits.maxComputeWorkGroupCount[2];
            for (uint32_t z0 = 0; z0 < nz; z0 += zmax) {
                uint32_t gz = nz - z0 < zmax ? nz - z0 : zmax;
                p.batch0 = z0;
                if ((s = vk_dispatch(st, small ? VK_SH_MATVEC : VK_SH_MATMUL, bd, 4, &p, sizeof p, gx, gy, gz)))
                    return s;
            }
        }
    return vk_op_done(st);
}

/* ---------------------------------------------------------- elementwise */

enum { U_SCALE, U_GELU_ERF, U_GELU_TANH, U_SILU, U_RELU, U_SWIGLU };

typedef struct unary_push {
    uint32_t x_off, y_off, o_off, n;
    uint32_t kind;
    float param;
} unary_push;

static ptm_status unary(vk_state *st, const char *op, int kind, const ptm_tensor *x, const ptm_tensor *y, float param,
                        ptm_tensor *out)
{
    ptm_status s = vk_check_alive(st, op);
    if (s || (s = numel_check(op, x, out)) || (y && (s = numel_check(op, y, out))))
        return s;
    unary_push p = {0};
    p.kind = (uint32_t)kind;
    p.param = param;
    if ((s = u32(op, "size", ptm_tensor_numel(x), &p.n)))
        return s;
    if (p.n == 0)
        return PTM_OK;
    vk_bind bd[3];
    bd[1] = vk_bind_dummy(st);
    if ((s = vk_bind_tensor(st, op, "input", x, 4, &bd[0])) ||
        (y && (s = vk_bind_tensor(st, op, "up", y, 4, &bd[1]))) || (s = vk_bind_tensor(st, op, "out", out, 4, &bd[2])))
        return s;
    p.x_off = vk_off(&bd[0], 4);
    p.y_off = vk_off(&bd[1], 4);
    p.o_off = vk_off(&bd[2], 4);
    uint32_t gx, gy;
    vk_elem_grid(p.n, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_UNARY, bd, 3, &p, sizeof p, gx, gy, 1);
}

ptm_status vk_scale(void *bs, const ptm_tensor *a, float s, ptm_tensor *out)
{
    return unary(bs, "scale", U_SCALE, a, NULL, s, out);
}

ptm_status vk_gelu(void *bs, const ptm_tensor *a, int tanh_approx, ptm_tensor *out)
{
    return unary(bs, "gelu", tanh_approx ? U_GELU_TANH : U_GELU_ERF, a, NULL, 0, out);
}

ptm_status vk_silu(void *bs, const ptm_tensor *a, ptm_tensor *out) { return unary(bs, "silu", U_SILU, a, NULL, 0, out); }
ptm_status vk_relu(void *bs, const ptm_tensor *a, ptm_tensor *out) { return unary(bs, "relu", U_RELU, a, NULL, 0, out); }

ptm_status vk_swiglu(void *bs, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out)
{
    return unary(bs, "swiglu", U_SWIGLU, gate, up, 0, out);
}

typedef struct binary_push {
    uint32_t a_off, b_off, o_off, n;
    uint32_t nb;
    uint32_t mul;
} binary_push;

/* b is a's shape or a's trailing shape: b index = i mod numel(b) */
static ptm_status binary(vk_state *st, const char *op, int mul, const ptm_tensor *a, const ptm_tensor *b,
                         ptm_tensor *out)
{
    ptm_status s = vk_check_alive(st, op);
    if (s || (s = numel_check(op, a, out)))
        return s;
    if (!b)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan %s: b is NULL", op);
    int na = ptm_tensor_ndim(a), nb = ptm_tensor_ndim(b);
    int trailing = nb <= na && !memcmp(ptm_tensor_shape(a) + (na - nb), ptm_tensor_shape(b),
                                       (size_t)nb * sizeof(int64_t));
    if (!trailing && ptm_tensor_numel(b) != 1)
        return ptm_error(PTM_ERR_SHAPE, "vulkan %s: b must have a's shape or a's trailing dims", op);
    binary_push p = {0};
    p.mul = (uint32_t)mul;
    if ((s = u32(op, "size", ptm_tensor_numel(a), &p.n)) || (s = u32(op, "b's size", ptm_tensor_numel(b), &p.nb)))
        return s;
    if (p.n == 0)
        return PTM_OK;
    if (p.nb == 0)
        return ptm_error(PTM_ERR_SHAPE, "vulkan %s: b is empty", op);
    vk_bind bd[3];
    if ((s = vk_bind_tensor(st, op, "a", a, 4, &bd[0])) || (s = vk_bind_tensor(st, op, "b", b, 4, &bd[1])) ||
        (s = vk_bind_tensor(st, op, "out", out, 4, &bd[2])))
        return s;
    if (ptm_tensor_dtype(b) != PTM_F32)
        return ptm_error(PTM_ERR_DTYPE, "vulkan %s: b must be F32", op);
    p.a_off = vk_off(&bd[0], 4);
    p.b_off = vk_off(&bd[1], 4);
    p.o_off = vk_off(&bd[2], 4);
    uint32_t gx, gy;
    vk_elem_grid(p.n, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_BINARY, bd, 3, &p, sizeof p, gx, gy, 1);
}

ptm_status vk_add(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    return binary(bs, "add", 0, a, b, out);
}

ptm_status vk_mul(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    return binary(bs, "mul", 1, a, b, out);
}

/* ---------------------------------------------------------------- norms */

typedef struct norm_push {
    uint32_t x_off, w_off, b_off, o_off;
    uint32_t rows, D;
    float eps;
    uint32_t rms, w_dt, b_dt;
} norm_push;

static ptm_status norm(vk_state *st, const char *op, int rms, const ptm_tensor *x, const ptm_tensor *w,
                       const ptm_tensor *b, float eps, ptm_tensor *out)
{
    ptm_status s = vk_check_alive(st, op);
    if (s || (s = numel_check(op, x, out)))
        return s;
    int64_t D = ptm_tensor_ndim(x) ? ptm_tensor_dim(x, -1) : 1;
    if (D <= 0 || ptm_tensor_numel(x) == 0)
        return PTM_OK;
    if ((w && ptm_tensor_numel(w) != D) || (b && ptm_tensor_numel(b) != D))
        return ptm_error(PTM_ERR_SHAPE, "vulkan %s: weight/bias must have %lld elements", op, (long long)D);
    norm_push p = {0};
    vk_bind bd[4];
    if ((s = vk_bind_tensor(st, op, "x", x, 4, &bd[0])) ||
        (s = bind_weight(st, op, "weight", w, &bd[1], &p.w_off, &p.w_dt)) ||
        (s = bind_weight(st, op, "bias", b, &bd[2], &p.b_off, &p.b_dt)) ||
        (s = vk_bind_tensor(st, op, "out", out, 4, &bd[3])) ||
        (s = u32(op, "size", ptm_tensor_numel(x), &p.rows)) || (s = u32(op, "D", D, &p.D)))
        return s;
    p.rows = (uint32_t)(ptm_tensor_numel(x) / D);
    p.x_off = vk_off(&bd[0], 4);
    p.o_off = vk_off(&bd[3], 4);
    p.eps = eps;
    p.rms = (uint32_t)rms;
    uint32_t gx, gy;
    vk_grid(p.rows, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_NORM, bd, 4, &p, sizeof p, gx, gy, 1);
}

ptm_status vk_layer_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                         ptm_tensor *out)
{
    return norm(bs, "layer_norm", 0, x, w, b, eps, out);
}

ptm_status vk_rms_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out)
{
    return norm(bs, "rms_norm", 1, x, w, NULL, eps, out);
}

/* -------------------------------------------------------------- softmax */

typedef struct softmax_push {
    uint32_t x_off, m_off, o_off;
    uint32_t rows, Tq, Tk;
    float scale;
    uint32_t causal, has_mask, last_stride, nlead;
    uint32_t shape[7];
    uint32_t stride[7];
} softmax_push;

ptm_status vk_softmax(void *bs, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                      ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "softmax";
    ptm_status s = vk_check_alive(st, op);
    if (s || (s = numel_check(op, x, out)))
        return s;
    int nd = ptm_tensor_ndim(x);
    int64_t Tk = nd ? ptm_tensor_dim(x, -1) : 1;
    if (Tk <= 0 || ptm_tensor_numel(x) == 0)
        return PTM_OK;
    softmax_push p = {0};
    vk_bind bd[3];
    bd[1] = vk_bind_dummy(st);
    if ((s = vk_bind_tensor(st, op, "x", x, 4, &bd[0])) || (s = vk_bind_tensor(st, op, "out", out, 4, &bd[2])) ||
        (s = u32(op, "size", ptm_tensor_numel(x), &p.rows)) || (s = u32(op, "Tk", Tk, &p.Tk)))
        return s;
    if (mask) {
        /* numpy broadcasting of mask against x, mask aligned right */
        int nm = ptm_tensor_ndim(mask);
        const int64_t *sx = ptm_tensor_shape(x), *sm = ptm_tensor_shape(mask);
        if (nd == 0 || nm > nd || ptm_tensor_numel(mask) == 0 || ptm_tensor_dtype(mask) != PTM_F32 || nd > 8)
            return ptm_error(PTM_ERR_SHAPE, "vulkan softmax: the mask does not broadcast to x");
        uint32_t stride = 1;
        for (int i = nd - 1; i >= 0; i--) {
            int j = i - (nd - nm);
            int64_t md = j >= 0 ? sm[j] : 1;
            if (md != sx[i] && md != 1)
                return ptm_error(PTM_ERR_SHAPE, "vulkan softmax: the mask does not broadcast to x");
            uint32_t stv = md == 1 ? 0 : stride;
            if (i == nd - 1)
                p.last_stride = stv;
            else if ((s = u32(op, "x's dims", sx[i], &p.shape[i])))
                return s;
            else
                p.stride[i] = stv;
            stride *= (uint32_t)md;
        }
        p.nlead = (uint32_t)(nd - 1);
        p.has_mask = 1;
        if ((s = vk_bind_tensor(st, op, "mask", mask, 4, &bd[1])))
            return s;
        p.m_off = vk_off(&bd[1], 4);
    }
    p.rows = (uint32_t)(ptm_tensor_numel(x) / Tk);
    p.Tq = nd >= 2 ? (uint32_t)ptm_tensor_dim(x, -2) : 1;
    p.x_off = vk_off(&bd[0], 4);
    p.o_off = vk_off(&bd[2], 4);
    p.scale = scale;
    p.causal = causal ? 1 : 0;
    uint32_t gx, gy;
    vk_grid(p.rows, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_SOFTMAX, bd, 3, &p, sizeof p, gx, gy, 1);
}

/* ------------------------------------------------------------ attention */

typedef struct attn_push {
    uint32_t q_off, k_off, v_off, m_off, o_off;
    uint32_t Hq, Hkv, Tq, Tk, D, kv_len;
    uint32_t causal, has_mask, mask_stride;
    float scale;
    uint32_t rows;
} attn_push;

ptm_status vk_attention(void *bs, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v, int64_t kv_len,
                        const ptm_tensor *mask, int causal, float scale, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "attention";
    ptm_status s = vk_check_alive(st, op);
    if (s || (s = numel_check(op, q, out)))
        return s;
    if (!k || !v || ptm_tensor_ndim(q) != 4 || ptm_tensor_ndim(k) != 4 || ptm_tensor_ndim(v) != 4)
        return ptm_error(PTM_ERR_SHAPE, "vulkan attention: q, k and v must be 4-d [B, H, T, D]");
    int64_t B = ptm_tensor_dim(q, 0), Hq = ptm_tensor_dim(q, 1), Tq = ptm_tensor_dim(q, 2), D = ptm_tensor_dim(q, 3);
    int64_t Hkv = ptm_tensor_dim(k, 1), Tk = ptm_tensor_dim(k, 2);
    for (int d = 0; d < 4; d++)
        if (ptm_tensor_dim(k, d) != ptm_tensor_dim(v, d))
            return ptm_error(PTM_ERR_SHAPE, "vulkan attention: k and v shapes differ");
    if (ptm_tensor_dim(k, 0) != B || ptm_tensor_dim(k, 3) != D || Hkv <= 0 || Hq % Hkv != 0)
        return ptm_error(PTM_ERR_SHAPE, "vulkan attention: k/v do not fit q (Hq must be a multiple of Hkv)");
    if (kv_len < 0 || kv_len > Tk)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan attention: kv_len %lld outside [0, %lld]", (long long)kv_len,
                         (long long)Tk);
    if (B * Hq * Tq == 0 || D == 0)
        return PTM_OK;
    if (D > 1024)
        return ptm_error(PTM_ERR_UNSUPPORTED, "vulkan attention: head_dim %lld is above the kernel's 1024",
                         (long long)D);
    attn_push p = {0};
    vk_bind bd[5];
    bd[3] = vk_bind_dummy(st);
    if ((s = vk_bind_tensor(st, op, "q", q, 4, &bd[0])) || (s = vk_bind_tensor(st, op, "k", k, 4, &bd[1])) ||
        (s = vk_bind_tensor(st, op, "v", v, 4, &bd[2])) || (s = vk_bind_tensor(st, op, "out", out, 4, &bd[4])) ||
        (s = u32(op, "q's size", ptm_tensor_numel(q), &p.rows)) ||
        (s = u32(op, "k's size", ptm_tensor_numel(k), &p.Tk)))
        return s;
    if (mask) {
        int64_t ms = ptm_tensor_ndim(mask) ? ptm_tensor_dim(mask, -1) : 1;
        if (ptm_tensor_dtype(mask) != PTM_F32 || ms < kv_len || ptm_tensor_numel(mask) != B * ms)
            return ptm_error(PTM_ERR_SHAPE, "vulkan attention: mask must be F32 [B, kv_len] = [%lld, %lld]",
                             (long long)B, (long long)kv_len);
        if ((s = vk_bind_tensor(st, op, "mask", mask, 4, &bd[3])))
            return s;
        p.has_mask = 1;
        p.mask_stride = (uint32_t)ms;
        p.m_off = vk_off(&bd[3], 4);
    }
    p.q_off = vk_off(&bd[0], 4);
    p.k_off = vk_off(&bd[1], 4);
    p.v_off = vk_off(&bd[2], 4);
    p.o_off = vk_off(&bd[4], 4);
    p.Hq = (uint32_t)Hq;
    p.Hkv = (uint32_t)Hkv;
    p.Tq = (uint32_t)Tq;
    p.Tk = (uint32_t)Tk;
    p.D = (uint32_t)D;
    p.kv_len = (uint32_t)kv_len;
    p.causal = causal ? 1 : 0;
    p.scale = scale;
    p.rows = (uint32_t)(B * Hq * Tq);
    uint32_t gx, gy;
    vk_grid(p.rows, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_ATTENTION, bd, 5, &p, sizeof p, gx, gy, 1);
}

/* ----------------------------------------------------------------- rope */

typedef struct rope_push {
    uint32_t x_off, p_off, i_off, o_off;
    uint32_t H, T, D, half;
    uint32_t total, pos64, copy_tail;
} rope_push;

/* inv_freq[i] = 1 / theta^(2i / rot_dim) in f32, as the CPU backend (and
 * transformers) compute it, uploaded once per (theta, rot_dim). */
static ptm_status rope_table(vk_state *st, float theta, int rot_dim)
{
    if (st->rope_inv && st->rope_theta == theta && st->rope_dim == rot_dim)
        return PTM_OK;
    int half = rot_dim / 2;
    float inv[512];
    float *t = half <= 512 ? inv : malloc((size_t)half * sizeof(float));
    if (!t)
        return ptm_error(PTM_ERR_NOMEM, "vulkan rope: out of memory");
    for (int i = 0; i < half; i++)
        t[i] = 1.0f / powf(theta, (float)(2 * i) / (float)rot_dim);
    vk_buf_release(st, st->rope_inv);
    st->rope_inv = NULL;
    ptm_status s = vk_buf_new(st, (size_t)half * sizeof(float), 0, &st->rope_inv);
    if (!s)
        s = vk_upload_bytes(st, t, (size_t)half * sizeof(float), st->rope_inv->buf, 0);
    if (t != inv)
        free(t);
    if (s) {
        vk_buf_release(st, st->rope_inv);
        st->rope_inv = NULL;
        return s;
    }
    st->rope_theta = theta;
    st->rope_dim = rot_dim;
    return PTM_OK;
}

ptm_status vk_rope(void *bs, const ptm_tensor *x, const ptm_tensor *positions, float theta, int rot_dim,
                   ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "rope";
    ptm_status s = vk_check_alive(st, op);
    if (s || (s = numel_check(op, x, out)))
        return s;
    if (ptm_tensor_ndim(x) != 4)
        return ptm_error(PTM_ERR_SHAPE, "vulkan rope: x must be [B, heads, T, head_dim]");
    int64_t B = ptm_tensor_dim(x, 0), H = ptm_tensor_dim(x, 1), T = ptm_tensor_dim(x, 2), D = ptm_tensor_dim(x, 3);
    ptm_dtype pdt = positions ? ptm_tensor_dtype(positions) : PTM_F32;
    if (pdt != PTM_I64 && pdt != PTM_I32)
        return ptm_error(PTM_ERR_DTYPE, "vulkan rope: positions must be I64");
    if (ptm_tensor_numel(positions) != B * T)
        return ptm_error(PTM_ERR_SHAPE, "vulkan rope: positions must be [B, T] = [%lld, %lld]", (long long)B,
                         (long long)T);
    if (rot_dim <= 0 || rot_dim % 2 || rot_dim > D)
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan rope: rot_dim %d must be even and in (0, %lld]", rot_dim,
                         (long long)D);
    if (!(theta > 0.0f))
        return ptm_error(PTM_ERR_INVALID_ARG, "vulkan rope: theta must be positive");
    int64_t rows = B * H * T;
    if (rows == 0)
        return PTM_OK;
    rope_push p = {0};
    vk_bind bd[4];
    if ((s = vk_bind_tensor(st, op, "x", x, 4, &bd[0])) || (s = vk_bind_tensor(st, op, "positions", positions, 4, &bd[1])) ||
        (s = vk_bind_tensor(st, op, "out", out, 4, &bd[3])) ||
        (s = u32(op, "work items", rows * (D - rot_dim / 2), &p.total)) ||
        (s = u32(op, "x's size", ptm_tensor_numel(x), &p.D)) || (s = rope_table(st, theta, rot_dim)))
        return s;
    bd[2] = (vk_bind){st->rope_inv->buf, 0, VK_WHOLE_SIZE, 0};
    p.x_off = vk_off(&bd[0], 4);
    p.p_off = vk_off(&bd[1], 4);
    p.o_off = vk_off(&bd[3], 4);
    p.H = (uint32_t)H;
    p.T = (uint32_t)T;
    p.D = (uint32_t)D;
    p.half = (uint32_t)(rot_dim / 2);
    p.pos64 = pdt == PTM_I64;
    p.copy_tail = !(bd[0].buf == bd[3].buf && bd[0].off + bd[0].rel == bd[3].off + bd[3].rel);
    uint32_t gx, gy;
    vk_elem_grid(p.total, &gx, &gy);
    return vk_dispatch_op(st, VK_SH_ROPE, bd, 4, &p, sizeof p, gx, gy, 1);
}

/* ------------------------------------------------------------ embedding */

static ptm_dtype wdt_of(const ptm_tensor *t) { return ptm_tensor_dtype(t); }

typedef struct emb_push {
    uint32_t w_off, i_off, o_off;
    uint32_t total, H, V;
    uint32_t w_dt, ids64;
    uint32_t r0, r1;
} emb_push;

ptm_status vk_embedding(void *bs, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out)
{
    vk_state *st = bs;
    const char *op = "embedding";
    ptm_status s = vk_check_alive(st, op);
    if (s)
        return s;
    if (!weight || !ids || !out || ptm_tensor_ndim(weight) != 2)
        return ptm_error(PTM_ERR_SHAPE, "vulkan embedding: weight must be [V, H] and ids given");
    ptm_dtype idt = ptm_tensor_dtype(ids);
    if (idt != PTM_I64 && idt != PTM_I32)
        return ptm_error(PTM_ERR_DTYPE, "vulkan embedding: ids are %s, expected I64 or I32", ptm_dtype_name(idt));
    int64_t V = ptm_tensor_dim(weight, 0), H = ptm_tensor_dim(weight, 1), n = ptm_tensor_numel(ids);
    if (ptm_tensor_numel(out) != n * H)
        return ptm_error(PTM_ERR_SHAPE, "vulkan embedding: out must hold %lld x %lld values", (long long)n,
                         (long long)H);
    if (n == 0 || H == 0)
        return PTM_OK;
    emb_push p = {0};
    vk_bind bd[3];
    if ((s = vk_bind_tensor(st, op, "ids", ids, 4, &bd[1])) || (s = vk_bind_tensor(st, op, "out", out, 4, &bd[2])) ||
        (s = u32(op, "out's size", n * H, &p.total)) || (s = u32(op, "weight's size", V * H, &p.V)))
        return s;
    p.i_off = vk_off(&bd[1], 4);
    p.o_off = vk_off(&bd[2], 4);
    p.H = (uint32_t)H;
    p.V = (uint32_t)V;
    p.ids64 = idt == PTM_I64;
    /* rows per dispatch: all, or as many as the device can bind */
    int64_t rows = V;
    if ((s = bind_weight(st, op, "weight", weight, &bd[0], &p.w_off, &p.w_dt))) {
        size_t es = ptm_dtype_size(wdt_of(weight)), lim = vk_max_range(st);
        if (s != PTM_ERR_UNSUPPORTED || (size_t)H * es > lim)
            return s;
        ptm_clear_error();
        rows = (int64_t)(lim / ((size_t)H * es));
    }
    uint32_t gx, gy;
    vk_elem_grid(p.total, &gx, &gy);
    for (int64_t r0 = 0; r0 < V; r0 += rows) {
        int64_t nr = V - r0 < rows ? V - r0 : rows;
        if (rows != V) {
            size_t es = ptm_dtype_size(wdt_of(weight));
            if ((s = vk_bind_range(st, op, "weight", weight, (size_t)(r0 * H) * es, (size_t)(nr * H) * es, es, &bd[0])))
                return s;
            p.w_off = vk_off(&bd[0], es);
        }
        p.r0 = (uint32_t)r0;
        p.r1 = (uint32_t)(r0 + nr);
        if ((s = vk_dispatch(st, VK_SH_EMBEDDING, bd, 3, &p, sizeof p, gx, gy, 1)))
            return s;
    }
    return vk_op_done(st);
}
