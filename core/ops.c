/* SPDX-License-Identifier: Apache-2.0 */
/* ops.c - the op dispatcher: shape and dtype checks, then the kernel of the
 * exec's backend, or the CPU backend's when the backend lacks the op. */
#include "exec_internal.h"

#include <stdio.h>
#include <string.h>

typedef void (*any_fn)(void);

typedef struct kernel {
    any_fn fn;
    void *bs;
    int dev; /* the kernel reads and writes device memory of the exec's backend */
} kernel;

static any_fn slot(const ptm_backend *be, size_t off)
{
    if (!PTM__HAS(be, ptm_backend, ops) || !be->ops || be->ops->struct_size < off + sizeof(any_fn))
        return NULL;
    any_fn f;
    memcpy(&f, (const char *)be->ops + off, sizeof f);
    return f;
}

/* The kernel for `op`: the exec's backend when it has it, else the CPU's. */
static ptm_status pick(ptm_exec *ex, ptm_op op, size_t off, kernel *k)
{
    if (!ex)
        return ptm_error(PTM_ERR_INVALID_ARG, "%s: NULL exec", ptm_op_name(op));
    any_fn f = slot(ex->be, off);
    int ok = f && (!ex->be->supports || ex->be->supports(op, PTM_F32));
    if (ok) {
        k->fn = f;
        k->bs = ex->bs;
        k->dev = ex->device;
        return PTM_OK;
    }
    if (!ex->cpu) {
        ex->cpu = ptm_context_find_backend(ex->ctx, "cpu");
        if (!ex->cpu || ex->cpu == ex->be)
            return ptm_error(PTM_ERR_UNSUPPORTED, "%s: backend \"%s\" does not implement it and no CPU backend is "
                                                  "registered to fall back on", ptm_op_name(op), ex->be->name);
        if (PTM__HAS(ex->cpu, ptm_backend, init) && ex->cpu->init) {
            ptm_status s = ex->cpu->init(0, ex->threads, &ex->cpu_state);
            if (s) {
                ex->cpu = NULL;
                return ptm_error_prefix(s, "%s: CPU fallback", ptm_op_name(op));
            }
        }
    }
    f = slot(ex->cpu, off);
    if (!f)
        return ptm_error(PTM_ERR_UNSUPPORTED, "%s: neither backend \"%s\" nor the CPU backend implements it",
                         ptm_op_name(op), ex->be->name);
    unsigned long long bit = 1ull << (op % 64);
    if (!(ex->fallback_logged[op / 64] & bit)) {
        ex->fallback_logged[op / 64] |= bit;
        ptm_log(PTM_LOG_INFO, "backend \"%s\" lacks %s; running it on the CPU backend", ex->be->name,
                ptm_op_name(op));
    }
    k->fn = f;
    k->bs = ex->cpu_state;
    k->dev = 0;
    return PTM_OK;
}

/* ------------------------------------------------------------ staging
 * Operands are moved to where the kernel runs: host tensors uploaded for a
 * device kernel (model parameters once, resident; others each time), device
 * tensors downloaded for a CPU kernel; outputs in the wrong place get a
 * temporary and a copy back after the kernel. */

typedef struct outstage {
    ptm_tensor *orig, *tmp;
    int dev;
} outstage;

static ptm_status stage_in(ptm_exec *ex, int dev, const ptm_tensor **t)
{
    const ptm_tensor *x = *t;
    if (!x)
        return PTM_OK;
    const ptm_backend *tb = ptm_tensor_backend(x);
    if (!dev && !tb)
        return PTM_OK;
    if (tb && (tb != ex->be || !ex->device))
        return ptm_error(PTM_ERR_INVALID_ARG, "a tensor in the device memory of backend \"%s\" was passed to an exec "
                                              "on backend \"%s\"", tb->name, ex->be->name);
    if (dev && tb)
        return PTM_OK;
    ptm_tensor *y;
    ptm_status s;
    if (dev) {
        if (ptm__exec_is_pinned(ex, x))
            return ptm__exec_resident(ex, x, (ptm_tensor **)t);
        if ((s = ptm_exec_scratch(ex, ptm_tensor_dtype(x), ptm_tensor_ndim(x), ptm_tensor_shape(x), &y)) ||
            (s = ex->ops->upload(ex->bs, x, y)))
            return s;
    } else {
        if ((s = ptm_exec_scratch_host(ex, ptm_tensor_dtype(x), ptm_tensor_ndim(x), ptm_tensor_shape(x), &y)) ||
            (s = ex->ops->download(ex->bs, x, y)))
            return s;
    }
    *t = y;
    return PTM_OK;
}

static ptm_status stage_out(ptm_exec *ex, int dev, ptm_tensor **t, int inout, outstage *os)
{
    ptm_tensor *x = *t, *y;
    const ptm_backend *tb = ptm_tensor_backend(x);
    os->orig = x;
    os->tmp = NULL;
    os->dev = dev;
    if ((!dev && !tb) || (dev && tb == ex->be))
        return PTM_OK;
    if (tb && (tb != ex->be || !ex->device))
        return ptm_error(PTM_ERR_INVALID_ARG, "an output in the device memory of backend \"%s\" was passed to an "
                                              "exec on backend \"%s\"", tb->name, ex->be->name);
    ptm_status s = dev ? ptm_exec_scratch(ex, ptm_tensor_dtype(x), ptm_tensor_ndim(x), ptm_tensor_shape(x), &y)
                       : ptm_exec_scratch_host(ex, ptm_tensor_dtype(x), ptm_tensor_ndim(x), ptm_tensor_shape(x), &y);
    if (!s && inout)
        s = dev ? ex->ops->upload(ex->bs, x, y) : ex->ops->download(ex->bs, x, y);
    if (s)
        return s;
    os->tmp = y;
    *t = y;
    return PTM_OK;
}

static ptm_status stage_finish(ptm_exec *ex, ptm_status s, const outstage *os)
{
    if (s || !os->tmp)
        return s;
    return os->dev ? ex->ops->download(ex->bs, os->tmp, os->orig) : ex->ops->upload(ex->bs, os->tmp, os->orig);
}

#define IN(t)                                                                                            \
    do {                                                                                                 \
        ptm_status in_s_ = stage_in(ex, k.dev, &(t));                                                    \
        if (in_s_)                                                                                       \
            return in_s_;                                                                                \
    } while (0)
#define OUT(t, inout)                                                                                    \
    do {                                                                                                 \
        ptm_status out_s_ = stage_out(ex, k.dev, &(t), inout, &os);                                      \
        if (out_s_)                                                                                      \
            return out_s_;                                                                               \
    } while (0)

#define PICK(op, member, k)                                                                              \
    do {                                                                                                 \
        ptm_status pick_s_ = pick(ex, op, offsetof(ptm_backend_ops, member), &k);                        \
        if (pick_s_)                                                                                     \
            return pick_s_;                                                                              \
    } while (0)

/* ------------------------------------------------------------ checks */

static const char *shp(const ptm_tensor *t, char *buf, size_t n)
{
    return t ? ptm_shape_str(ptm_tensor_ndim(t), ptm_tensor_shape(t), buf, n) : "(null)";
}

static ptm_status need(const char *op, const char *what, const ptm_tensor *t)
{
    return t ? PTM_OK : ptm_error(PTM_ERR_INVALID_ARG, "%s: %s is NULL", op, what);
}

static ptm_status need_dtype(const char *op, const char *what, const ptm_tensor *t, ptm_dtype dt)
{
    ptm_status s = need(op, what, t);
    if (!s && ptm_tensor_dtype(t) != dt)
        s = ptm_error(PTM_ERR_DTYPE, "%s: %s must be %s, not %s", op, what, ptm_dtype_name(dt),
                      ptm_dtype_name(ptm_tensor_dtype(t)));
    return s;
}

static ptm_status need_weight(const char *op, const char *what, const ptm_tensor *t)
{
    ptm_status s = need(op, what, t);
    if (s)
        return s;
    ptm_dtype d = ptm_tensor_dtype(t);
    if (d != PTM_F32 && d != PTM_F16 && d != PTM_BF16)
        return ptm_error(PTM_ERR_DTYPE, "%s: %s must be F32, F16 or BF16, not %s", op, what, ptm_dtype_name(d));
    return PTM_OK;
}

static ptm_status need_out(const char *op, ptm_tensor *out, ptm_dtype dt)
{
    ptm_status s = need_dtype(op, "output", out, dt);
    if (!s && ptm_tensor_numel(out) && !ptm_tensor_backend(out) && !ptm_tensor_data_mut(out))
        s = ptm_error(PTM_ERR_INVALID_ARG, "%s: output tensor is read-only", op);
    return s;
}

static int same_shape(const ptm_tensor *a, const ptm_tensor *b)
{
    return ptm_tensor_ndim(a) == ptm_tensor_ndim(b) &&
           !memcmp(ptm_tensor_shape(a), ptm_tensor_shape(b), (size_t)ptm_tensor_ndim(a) * sizeof(int64_t));
}

static ptm_status need_same(const char *op, const char *an, const ptm_tensor *a, const char *bn, const ptm_tensor *b)
{
    char x[128], y[128];
    if (!same_shape(a, b))
        return ptm_error(PTM_ERR_SHAPE, "%s: %s %s and %s %s must have the same shape", op, an, shp(a, x, sizeof x),
                         bn, shp(b, y, sizeof y));
    return PTM_OK;
}

/* b's shape equals a's trailing dims (broadcast over a's leading dims). */
static int trailing(const ptm_tensor *a, const ptm_tensor *b)
{
    int na = ptm_tensor_ndim(a), nb = ptm_tensor_ndim(b);
    if (nb > na)
        return 0;
    return !memcmp(ptm_tensor_shape(a) + (na - nb), ptm_tensor_shape(b), (size_t)nb * sizeof(int64_t));
}

/* b [D] matching x's last dim (norm weights and biases), or NULL. */
static ptm_status need_vec(const char *op, const char *what, const ptm_tensor *v, int64_t d)
{
    if (!v)
        return PTM_OK;
    ptm_status s = need_weight(op, what, v);
    if (!s && (ptm_tensor_ndim(v) != 1 || ptm_tensor_dim(v, 0) != d))
        s = ptm_error(PTM_ERR_SHAPE, "%s: %s must be [%lld]", op, what, (long long)d);
    return s;
}

static ptm_status unary_check(const char *op, const ptm_tensor *a, ptm_tensor *out)
{
    ptm_status s = need_dtype(op, "input", a, PTM_F32);
    if (!s)
        s = need_out(op, out, PTM_F32);
    if (!s)
        s = need_same(op, "input", a, "output", out);
    return s;
}

/* ---------------------------------------------------------------- ops */

typedef ptm_status (*matmul_fn)(void *, const ptm_tensor *, const ptm_tensor *, const ptm_tensor *, int, ptm_tensor *);
typedef ptm_status (*bin_fn)(void *, const ptm_tensor *, const ptm_tensor *, ptm_tensor *);
typedef ptm_status (*un_fn)(void *, const ptm_tensor *, ptm_tensor *);

ptm_status ptm_op_matmul(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                         ptm_tensor *out)
{
    const char *op = "matmul";
    char x[128], y[128];
    ptm_status s = need_dtype(op, "a", a, PTM_F32);
    if (!s) s = need_weight(op, "b", b);
    if (!s) s = need_out(op, out, PTM_F32);
    if (s)
        return s;
    int na = ptm_tensor_ndim(a), nb = ptm_tensor_ndim(b);
    if (na < 2 || (nb != 2 && nb != na))
        return ptm_error(PTM_ERR_SHAPE, "matmul: a %s and b %s: a needs >= 2 dims and b 2 dims or a's rank",
                         shp(a, x, sizeof x), shp(b, y, sizeof y));
    int64_t M = ptm_tensor_dim(a, -2), K = ptm_tensor_dim(a, -1);
    int64_t bk = trans_b ? ptm_tensor_dim(b, -1) : ptm_tensor_dim(b, -2);
    int64_t N = trans_b ? ptm_tensor_dim(b, -2) : ptm_tensor_dim(b, -1);
    if (bk != K || (nb == na && nb > 2 && memcmp(ptm_tensor_shape(a), ptm_tensor_shape(b), (size_t)(na - 2) * 8)))
        return ptm_error(PTM_ERR_SHAPE, "matmul: a %s does not match b %s%s", shp(a, x, sizeof x),
                         shp(b, y, sizeof y), trans_b ? " (transposed)" : "");
    if ((s = need_vec(op, "bias", bias, N)))
        return s;
    int64_t want[PTM_MAX_DIMS];
    memcpy(want, ptm_tensor_shape(a), (size_t)na * sizeof *want);
    want[na - 2] = M;
    want[na - 1] = N;
    if (ptm_tensor_ndim(out) != na || memcmp(ptm_tensor_shape(out), want, (size_t)na * sizeof *want))
        return ptm_error(PTM_ERR_SHAPE, "matmul: output %s, expected %s", shp(out, x, sizeof x),
                         ptm_shape_str(na, want, y, sizeof y));
    kernel k;
    PICK(PTM_OP_MATMUL, matmul, k);
    IN(a);
    IN(b);
    IN(bias);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((matmul_fn)k.fn)(k.bs, a, b, bias, trans_b, out), &os);
}

static ptm_status binary(ptm_exec *ex, ptm_op id, size_t off, const ptm_tensor *a, const ptm_tensor *b,
                         ptm_tensor *out)
{
    const char *op = ptm_op_name(id);
    char x[128], y[128];
    ptm_status s = unary_check(op, a, out);
    if (!s) s = need_dtype(op, "b", b, PTM_F32);
    if (s)
        return s;
    if (!trailing(a, b))
        return ptm_error(PTM_ERR_SHAPE, "%s: b %s must equal a %s or its trailing dims", op, shp(b, x, sizeof x),
                         shp(a, y, sizeof y));
    kernel k;
    if ((s = pick(ex, id, off, &k)))
        return s;
    IN(a);
    IN(b);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((bin_fn)k.fn)(k.bs, a, b, out), &os);
}

ptm_status ptm_op_add(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    return binary(ex, PTM_OP_ADD, offsetof(ptm_backend_ops, add), a, b, out);
}

ptm_status ptm_op_mul(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    return binary(ex, PTM_OP_MUL, offsetof(ptm_backend_ops, mul), a, b, out);
}

ptm_status ptm_op_scale(ptm_exec *ex, const ptm_tensor *a, float f, ptm_tensor *out)
{
    ptm_status s = unary_check("scale", a, out);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_SCALE, scale, k);
    IN(a);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, float, ptm_tensor *))k.fn)(k.bs, a, f, out), &os);
}

ptm_status ptm_op_gelu(ptm_exec *ex, const ptm_tensor *a, int tanh_approx, ptm_tensor *out)
{
    ptm_status s = unary_check("gelu", a, out);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_GELU, gelu, k);
    IN(a);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, int, ptm_tensor *))k.fn)(k.bs, a, tanh_approx, out), &os);
}

ptm_status ptm_op_silu(ptm_exec *ex, const ptm_tensor *a, ptm_tensor *out)
{
    ptm_status s = unary_check("silu", a, out);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_SILU, silu, k);
    IN(a);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((un_fn)k.fn)(k.bs, a, out), &os);
}

ptm_status ptm_op_relu(ptm_exec *ex, const ptm_tensor *a, ptm_tensor *out)
{
    ptm_status s = unary_check("relu", a, out);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_RELU, relu, k);
    IN(a);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((un_fn)k.fn)(k.bs, a, out), &os);
}

ptm_status ptm_op_swiglu(ptm_exec *ex, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out)
{
    ptm_status s = unary_check("swiglu", gate, out);
    if (!s) s = need_dtype("swiglu", "up", up, PTM_F32);
    if (!s) s = need_same("swiglu", "gate", gate, "up", up);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_SWIGLU, swiglu, k);
    IN(gate);
    IN(up);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((bin_fn)k.fn)(k.bs, gate, up, out), &os);
}

ptm_status ptm_op_layer_norm(ptm_exec *ex, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                             ptm_tensor *out)
{
    ptm_status s = unary_check("layer_norm", x, out);
    if (!s && ptm_tensor_ndim(x) < 1)
        s = ptm_error(PTM_ERR_SHAPE, "layer_norm: input needs at least one dim");
    if (!s) s = need_vec("layer_norm", "weight", w, ptm_tensor_dim(x, -1));
    if (!s) s = need_vec("layer_norm", "bias", b, ptm_tensor_dim(x, -1));
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_LAYER_NORM, layer_norm, k);
    IN(x);
    IN(w);
    IN(b);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, const ptm_tensor *, const ptm_tensor *, float,
                           ptm_tensor *))k.fn)(k.bs, x, w, b, eps, out), &os);
}

ptm_status ptm_op_rms_norm(ptm_exec *ex, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out)
{
    ptm_status s = unary_check("rms_norm", x, out);
    if (!s && ptm_tensor_ndim(x) < 1)
        s = ptm_error(PTM_ERR_SHAPE, "rms_norm: input needs at least one dim");
    if (!s) s = need_vec("rms_norm", "weight", w, ptm_tensor_dim(x, -1));
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_RMS_NORM, rms_norm, k);
    IN(x);
    IN(w);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, const ptm_tensor *, float, ptm_tensor *))k.fn)(k.bs, x, w, eps,
                                                                                                    out), &os);
}

ptm_status ptm_op_softmax(ptm_exec *ex, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                          ptm_tensor *out)
{
    char a[128], b[128];
    ptm_status s = unary_check("softmax", x, out);
    if (!s && causal && ptm_tensor_ndim(x) < 2)
        s = ptm_error(PTM_ERR_SHAPE, "softmax: causal needs [..., Tq, Tk]");
    if (!s && causal && ptm_tensor_dim(x, -2) > ptm_tensor_dim(x, -1))
        s = ptm_error(PTM_ERR_SHAPE, "softmax: causal needs Tq <= Tk, got %s", shp(x, a, sizeof a));
    if (!s && mask) {
        s = need_dtype("softmax", "mask", mask, PTM_F32);
        int nm = ptm_tensor_ndim(mask), nx = ptm_tensor_ndim(x);
        for (int i = 1; !s && i <= nm; i++) {
            int64_t md = ptm_tensor_dim(mask, -i);
            if (i > nx || (md != 1 && md != ptm_tensor_dim(x, -i)))
                s = ptm_error(PTM_ERR_SHAPE, "softmax: mask %s does not broadcast to %s", shp(mask, a, sizeof a),
                              shp(x, b, sizeof b));
        }
    }
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_SOFTMAX, softmax, k);
    IN(x);
    IN(mask);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, float, const ptm_tensor *, int, ptm_tensor *))k.fn)(
        k.bs, x, scale, mask, causal, out), &os);
}

ptm_status ptm_op_embedding(ptm_exec *ex, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out)
{
    const char *op = "embedding";
    char a[128];
    ptm_status s = need_weight(op, "weight", weight);
    if (!s) s = need(op, "ids", ids);
    if (!s) s = need_out(op, out, PTM_F32);
    if (s)
        return s;
    ptm_dtype it = ptm_tensor_dtype(ids);
    if (it != PTM_I64 && it != PTM_I32)
        return ptm_error(PTM_ERR_DTYPE, "embedding: ids must be I64 or I32, not %s", ptm_dtype_name(it));
    if (ptm_tensor_ndim(weight) != 2)
        return ptm_error(PTM_ERR_SHAPE, "embedding: weight must be [vocab, hidden], not %s", shp(weight, a, sizeof a));
    int ni = ptm_tensor_ndim(ids);
    int64_t V = ptm_tensor_dim(weight, 0), H = ptm_tensor_dim(weight, 1);
    int ok = ni < PTM_MAX_DIMS && ptm_tensor_ndim(out) == ni + 1 && ptm_tensor_dim(out, -1) == H &&
             !memcmp(ptm_tensor_shape(out), ptm_tensor_shape(ids), (size_t)ni * sizeof(int64_t));
    if (!ok)
        return ptm_error(PTM_ERR_SHAPE, "embedding: output %s must be ids' shape + [%lld]", shp(out, a, sizeof a),
                         (long long)H);
    int64_t n = ptm_tensor_data(ids) ? ptm_tensor_numel(ids) : 0; /* device ids: the kernel's business */
    for (int64_t i = 0; i < n; i++) {
        int64_t id = it == PTM_I64 ? ((const int64_t *)ptm_tensor_data(ids))[i] : ((const int32_t *)ptm_tensor_data(ids))[i];
        if (id < 0 || id >= V)
            return ptm_error(PTM_ERR_INVALID_ARG, "embedding: token id %lld at position %lld is outside the vocabulary "
                                                  "[0, %lld)", (long long)id, (long long)i, (long long)V);
    }
    kernel k;
    PICK(PTM_OP_EMBEDDING, embedding, k);
    IN(weight);
    IN(ids);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((bin_fn)k.fn)(k.bs, weight, ids, out), &os);
}

ptm_status ptm_op_rope(ptm_exec *ex, const ptm_tensor *x, const ptm_tensor *positions, float theta, int rot_dim,
                       ptm_tensor *out)
{
    char a[128], b[128];
    ptm_status s = unary_check("rope", x, out);
    if (!s) s = need_dtype("rope", "positions", positions, PTM_I64);
    if (s)
        return s;
    if (ptm_tensor_ndim(x) != 4 || ptm_tensor_ndim(positions) != 2 || ptm_tensor_dim(positions, 0) != ptm_tensor_dim(x, 0) ||
        ptm_tensor_dim(positions, 1) != ptm_tensor_dim(x, 2))
        return ptm_error(PTM_ERR_SHAPE, "rope: x %s must be [B, H, T, D] and positions %s [B, T]", shp(x, a, sizeof a),
                         shp(positions, b, sizeof b));
    if (rot_dim <= 0 || rot_dim % 2 || rot_dim > ptm_tensor_dim(x, 3))
        return ptm_error(PTM_ERR_INVALID_ARG, "rope: rot_dim %d must be even and in (0, %lld]", rot_dim,
                         (long long)ptm_tensor_dim(x, 3));
    kernel k;
    PICK(PTM_OP_ROPE, rope, k);
    IN(x);
    IN(positions);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, const ptm_tensor *, float, int, ptm_tensor *))k.fn)(
        k.bs, x, positions, theta, rot_dim, out), &os);
}

ptm_status ptm_op_attention(ptm_exec *ex, const ptm_tensor *q, const ptm_tensor *kk, const ptm_tensor *v,
                            int64_t kv_len, const ptm_tensor *mask, int causal, float scale, ptm_tensor *out)
{
    const char *op = "attention";
    char a[128], b[128];
    ptm_status s = unary_check(op, q, out);
    if (!s) s = need_dtype(op, "k", kk, PTM_F32);
    if (!s) s = need_dtype(op, "v", v, PTM_F32);
    if (!s) s = need_same(op, "k", kk, "v", v);
    if (s)
        return s;
    if (ptm_tensor_ndim(q) != 4 || ptm_tensor_ndim(kk) != 4 || ptm_tensor_dim(q, 0) != ptm_tensor_dim(kk, 0) ||
        ptm_tensor_dim(q, 3) != ptm_tensor_dim(kk, 3) || ptm_tensor_dim(kk, 1) <= 0 ||
        ptm_tensor_dim(q, 1) % ptm_tensor_dim(kk, 1) != 0)
        return ptm_error(PTM_ERR_SHAPE, "attention: q %s and k/v %s must be [B, Hq, Tq, D] and [B, Hkv, Tk, D] with Hq "
                                        "a multiple of Hkv", shp(q, a, sizeof a), shp(kk, b, sizeof b));
    int64_t Tq = ptm_tensor_dim(q, 2), Tk = ptm_tensor_dim(kk, 2);
    if (kv_len <= 0 || kv_len > Tk || (causal && Tq > kv_len))
        return ptm_error(PTM_ERR_SHAPE, "attention: kv_len %lld must be in [1, %lld]%s", (long long)kv_len,
                         (long long)Tk, causal ? " and at least Tq" : "");
    if (mask) {
        if ((s = need_dtype(op, "mask", mask, PTM_F32)))
            return s;
        if (ptm_tensor_ndim(mask) != 2 || ptm_tensor_dim(mask, 0) != ptm_tensor_dim(q, 0) ||
            ptm_tensor_dim(mask, 1) != kv_len)
            return ptm_error(PTM_ERR_SHAPE, "attention: mask %s must be [B, kv_len] = [%lld, %lld]",
                             shp(mask, a, sizeof a), (long long)ptm_tensor_dim(q, 0), (long long)kv_len);
    }
    kernel k;
    PICK(PTM_OP_ATTENTION, attention, k);
    IN(q);
    IN(kk);
    IN(v);
    IN(mask);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, const ptm_tensor *, const ptm_tensor *, int64_t,
                           const ptm_tensor *, int, float, ptm_tensor *))k.fn)(k.bs, q, kk, v, kv_len, mask, causal,
                                                                               scale, out), &os);
}

ptm_status ptm_op_kv_append(ptm_exec *ex, ptm_tensor *cache, int64_t pos, const ptm_tensor *x)
{
    char a[128], b[128];
    ptm_status s = need_out("kv_append", cache, PTM_F32);
    if (!s) s = need_dtype("kv_append", "x", x, PTM_F32);
    if (s)
        return s;
    if (ptm_tensor_ndim(cache) != 4 || ptm_tensor_ndim(x) != 4 || ptm_tensor_dim(x, 0) != ptm_tensor_dim(cache, 0) ||
        ptm_tensor_dim(x, 1) != ptm_tensor_dim(cache, 1) || ptm_tensor_dim(x, 3) != ptm_tensor_dim(cache, 3) ||
        pos < 0 || pos + ptm_tensor_dim(x, 2) > ptm_tensor_dim(cache, 2))
        return ptm_error(PTM_ERR_SHAPE, "kv_append: x %s at position %lld does not fit cache %s", shp(x, a, sizeof a),
                         (long long)pos, shp(cache, b, sizeof b));
    kernel k;
    PICK(PTM_OP_KV_APPEND, kv_append, k);
    IN(x);
    outstage os;
    OUT(cache, 1);
    return stage_finish(ex, ((ptm_status(*)(void *, ptm_tensor *, int64_t, const ptm_tensor *))k.fn)(k.bs, cache, pos, x), &os);
}

ptm_status ptm_op_convert(ptm_exec *ex, const ptm_tensor *x, ptm_tensor *out)
{
    ptm_status s = need(("convert"), "input", x);
    if (!s) s = need_out("convert", out, out ? ptm_tensor_dtype(out) : PTM_F32);
    if (!s) s = need_same("convert", "input", x, "output", out);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_CONVERT, convert, k);
    IN(x);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((un_fn)k.fn)(k.bs, x, out), &os);
}

ptm_status ptm_op_copy(ptm_exec *ex, const ptm_tensor *x, ptm_tensor *out)
{
    ptm_status s = need("copy", "input", x);
    if (!s) s = need_out("copy", out, ptm_tensor_dtype(x));
    if (!s) s = need_same("copy", "input", x, "output", out);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_COPY, copy, k);
    IN(x);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((un_fn)k.fn)(k.bs, x, out), &os);
}

ptm_status ptm_op_fill(ptm_exec *ex, ptm_tensor *out, float v)
{
    ptm_status s = need_out("fill", out, PTM_F32);
    kernel k;
    if (s)
        return s;
    PICK(PTM_OP_FILL, fill, k);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, ptm_tensor *, float))k.fn)(k.bs, out, v), &os);
}

ptm_status ptm_op_transpose(ptm_exec *ex, const ptm_tensor *x, int d0, int d1, ptm_tensor *out)
{
    char a[128], b[128];
    ptm_status s = need("transpose", "input", x);
    if (!s) s = need_out("transpose", out, ptm_tensor_dtype(x));
    if (s)
        return s;
    int n = ptm_tensor_ndim(x);
    if (d0 < 0) d0 += n;
    if (d1 < 0) d1 += n;
    if (d0 < 0 || d1 < 0 || d0 >= n || d1 >= n)
        return ptm_error(PTM_ERR_INVALID_ARG, "transpose: dims %d, %d outside a %d-dim tensor", d0, d1, n);
    int64_t want[PTM_MAX_DIMS];
    memcpy(want, ptm_tensor_shape(x), (size_t)n * sizeof *want);
    want[d0] = ptm_tensor_dim(x, d1);
    want[d1] = ptm_tensor_dim(x, d0);
    if (ptm_tensor_ndim(out) != n || memcmp(ptm_tensor_shape(out), want, (size_t)n * sizeof *want))
        return ptm_error(PTM_ERR_SHAPE, "transpose: output %s, expected %s", shp(out, a, sizeof a),
                         ptm_shape_str(n, want, b, sizeof b));
    kernel k;
    PICK(PTM_OP_CONTIGUOUS, transpose, k);
    IN(x);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, int, int, ptm_tensor *))k.fn)(k.bs, x, d0, d1, out), &os);
}

ptm_status ptm_op_concat(ptm_exec *ex, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out)
{
    char x[128], y[128];
    ptm_status s = need("concat", "a", a);
    if (!s) s = need_dtype("concat", "b", b, ptm_tensor_dtype(a));
    if (!s) s = need_out("concat", out, ptm_tensor_dtype(a));
    if (s)
        return s;
    int n = ptm_tensor_ndim(a);
    if (dim < 0)
        dim += n;
    int ok = n == ptm_tensor_ndim(b) && n == ptm_tensor_ndim(out) && dim >= 0 && dim < n;
    for (int i = 0; ok && i < n; i++) {
        int64_t da = ptm_tensor_dim(a, i), db = ptm_tensor_dim(b, i), dout = ptm_tensor_dim(out, i);
        ok = i == dim ? dout == da + db : (da == db && da == dout);
    }
    if (!ok)
    {
        char z[128];
        return ptm_error(PTM_ERR_SHAPE, "concat: a %s and b %s along dim %d do not give output %s",
                         shp(a, x, sizeof x), shp(b, y, sizeof y), dim, shp(out, z, sizeof z));
    }
    kernel k;
    PICK(PTM_OP_CONCAT, concat, k);
    IN(a);
    IN(b);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((ptm_status(*)(void *, const ptm_tensor *, const ptm_tensor *, int, ptm_tensor *))k.fn)(k.bs, a, b, dim,
                                                                                                  out), &os);
}

ptm_status ptm_op_argmax(ptm_exec *ex, const ptm_tensor *x, ptm_tensor *out)
{
    char a[128];
    ptm_status s = need_dtype("argmax", "input", x, PTM_F32);
    if (!s) s = need_out("argmax", out, PTM_I64);
    if (s)
        return s;
    if (ptm_tensor_ndim(x) < 1 || ptm_tensor_dim(x, -1) <= 0 ||
        ptm_tensor_numel(out) * ptm_tensor_dim(x, -1) != ptm_tensor_numel(x))
        return ptm_error(PTM_ERR_SHAPE, "argmax: output must hold one index per row of %s", shp(x, a, sizeof a));
    kernel k;
    PICK(PTM_OP_ARGMAX, argmax, k);
    IN(x);
    outstage os;
    OUT(out, 0);
    return stage_finish(ex, ((un_fn)k.fn)(k.bs, x, out), &os);
}
