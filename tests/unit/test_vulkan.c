/* SPDX-License-Identifier: Apache-2.0 */
/* test_vulkan.c - the vulkan backend plugin against the cpu backend (the
 * reference implementation of every op) and against PyTorch.
 *
 * Without the plugin or without a Vulkan device the test prints
 * "SKIPPED: ..." and exits 77 (ctest: SKIP_RETURN_CODE 77, reported as
 * skipped, never as passed).  Otherwise:
 *   ops        every op through ptm_op_* on two execs, "cpu" and "vulkan",
 *              from the same host inputs (the core uploads them and
 *              downloads the host outputs), on odd shapes (1, 3, 17, 33,
 *              65, 100), f32/f16/bf16 weights, masks, causal, grouped heads
 *   resident   a chain of ops on device scratch tensors, through views at
 *              offsets that are not 64-byte aligned
 *   beyond_binding_range  operands larger than maxStorageBufferRange
 *   gpt2       the PyTorch GPT-2 fixtures (tests/reference/gpt2_ref.py):
 *              logits vs torch and vs the cpu exec, greedy generation (plain
 *              and left-padded) vs torch's tokens
 *   failure    PTM_VULKAN_FAIL_ALLOC_AFTER=N for every N until a forward
 *              pass fits: each failing pass returns PTM_ERR_NOMEM naming the
 *              injected failure, and the model then still runs correctly
 *              on a cpu exec and on a fresh vulkan exec.
 *   lost_device  a simulated VK_ERROR_DEVICE_LOST (PTM_VULKAN_LOSE_DEVICE_AFTER):
 *              PTM_ERR_BACKEND, the exec refuses further work, cpu still fine
 *   device_selection  PTM_VULKAN_DEVICE
 *
 * Tolerances.  err = max |vulkan - cpu| / max(1, max |cpu|) per tensor.
 *   TOL_F32 1e-4 for f32 compute (matmul, norms, softmax, attention, rope,
 *   gelu/silu/swiglu): only summation order and exp/erf implementations
 *   differ.  Measured on lavapipe (the worst per op is printed at the
 *   end): <= 6.1e-7 (matmul), <= 2.1e-7 for the others.
 *   0 (bit-exact) for ops that move or convert bits, and for add, mul,
 *   scale, relu (one IEEE operation per element): copy, transpose, concat,
 *   kv_append, fill, embedding, convert, argmax.
 *   GPT-2 logits: TOL_LOGITS 1e-4 absolute, as test_gpt2 demands of the cpu
 *   backend against torch; measured <= 3.4e-6 (vs torch and vs cpu). */
#include "check.h"

#include <ptm/ptm.h>

#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

#define TOL_F32 1e-4
#define TOL_LOGITS 1e-4

static ptm_context *ctx;
static ptm_exec *cpu, *vk;
static uint64_t rng = 0x2545f4914f6cdd1dull;

/* ------------------------------------------------------------- helpers */

static uint32_t rnd32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd32() % 1000003) / 1000002.0f; }

static ptm_tensor *mk(ptm_dtype dt, int nd, const int64_t *shape)
{
    ptm_tensor *t = NULL;
    CHECK_OK(ptm_tensor_new(dt, nd, shape, &t));
    return t;
}
#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ND(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define MK(dt, ...) mk(dt, ND(__VA_ARGS__), SHAPE(__VA_ARGS__))
#define RND(dt, ...) rnd(dt, ND(__VA_ARGS__), SHAPE(__VA_ARGS__))
static float *F(ptm_tensor *t) { return ptm_tensor_data_mut(t); }

/* Random contents: floats in [-1, 1] (f16/bf16 through ptm_convert), other
 * dtypes random bytes. */
static ptm_tensor *rnd(ptm_dtype dt, int nd, const int64_t *shape)
{
    ptm_tensor *t = mk(dt, nd, shape);
    int64_t n = ptm_tensor_numel(t);
    if (dt == PTM_F32 || dt == PTM_F16 || dt == PTM_BF16) {
        float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
        for (int64_t i = 0; i < n; i++)
            f[i] = rndf(-1, 1);
        CHECK_OK(ptm_convert(f, PTM_F32, ptm_tensor_data_mut(t), dt, (size_t)n));
        free(f);
    } else {
        unsigned char *b = ptm_tensor_data_mut(t);
        for (size_t i = 0; i < ptm_tensor_nbytes(t); i++)
            b[i] = (unsigned char)rnd32();
    }
    return t;
}

static ptm_tensor *same_as(const ptm_tensor *t) { return mk(ptm_tensor_dtype(t), ptm_tensor_ndim(t), ptm_tensor_shape(t)); }

/* worst error seen per op, printed at the end */
static struct {
    char op[32];
    double err;
} worst[64];
static int nworst;

static void note(const char *op, double err)
{
    int i = 0;
    while (i < nworst && strcmp(worst[i].op, op))
        i++;
    if (i == nworst && nworst < 64)
        snprintf(worst[nworst++].op, sizeof worst[0].op, "%s", op);
    if (i < 64 && (err > worst[i].err || isnan(err)))
        worst[i].err = isnan(err) ? INFINITY : err;
}

/* got (vulkan) against want (cpu); tol 0 means bit-exact. */
static void expect(const char *op, const char *what, const ptm_tensor *got, const ptm_tensor *want, double tol)
{
    if (!got || !want || ptm_tensor_nbytes(got) != ptm_tensor_nbytes(want)) {
        fprintf(stderr, "%s %s: missing or mis-sized output\n", op, what);
        check_failed_in_test = 1;
        return;
    }
    size_t nb = ptm_tensor_nbytes(got);
    double err = 0;
    if (tol == 0 || ptm_tensor_dtype(got) != PTM_F32) {
        err = memcmp(ptm_tensor_data(got), ptm_tensor_data(want), nb) ? INFINITY : 0;
    } else {
        const float *g = ptm_tensor_data(got), *w = ptm_tensor_data(want);
        int64_t n = ptm_tensor_numel(got), at = 0;
        double scale = 1, d = 0;
        for (int64_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(w[i]));
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)g[i] - w[i]);
            if (isnan(g[i]) != isnan(w[i]) || e > d) {
                d = isnan(e) || isnan(g[i]) != isnan(w[i]) ? INFINITY : e;
                at = i;
            }
        }
        err = d / scale;
        if (!(err <= tol))
            fprintf(stderr, "  %s %s: element %lld vulkan %.9g cpu %.9g\n", op, what, (long long)at, g[at], w[at]);
    }
    note(op, err);
    if (!(err <= tol)) {
        fprintf(stderr, "%s %s: error %.3g above %.3g\n", op, what, err, tol);
        check_failed_in_test = 1;
    }
}

/* Run an op on both execs: `call(E, OUT)` is the ptm_op_* call with exec E
 * writing OUT; the outputs start as copies of `init` (for in-out ops). */
#define BOTH(op, what, init, tol, call)                                                                    \
    do {                                                                                                     \
        ptm_tensor *oc_ = same_as(init), *ov_ = same_as(init);                                              \
        memcpy(ptm_tensor_data_mut(oc_), ptm_tensor_data(init), ptm_tensor_nbytes(init));                    \
        memcpy(ptm_tensor_data_mut(ov_), ptm_tensor_data(init), ptm_tensor_nbytes(init));                    \
        ptm_exec *E = cpu;                                                                                   \
        ptm_tensor *OUT = oc_;                                                                               \
        CHECK_OK(call);                                                                                      \
        E = vk;                                                                                              \
        OUT = ov_;                                                                                           \
        CHECK_OK(call);                                                                                      \
        expect(op, what, ov_, oc_, tol);                                                                     \
        ptm_tensor_release(oc_);                                                                             \
        ptm_tensor_release(ov_);                                                                             \
    } while (0)

static void rel(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        ptm_tensor_release(va_arg(ap, ptm_tensor *));
    va_end(ap);
}

static const ptm_dtype WDT[3] = {PTM_F32, PTM_F16, PTM_BF16};

/* ----------------------------------------------------------------- ops */

TEST(matmul)
{
    static const int64_t mkn[][3] = {{1, 3, 17}, {3, 17, 33}, {4, 100, 65}, {5, 33, 100}, {17, 65, 100},
                                     {65, 100, 3}, {100, 17, 1}, {33, 1, 65}, {70, 130, 129}};
    char what[96];
    for (size_t c = 0; c < sizeof mkn / sizeof mkn[0]; c++)
        for (int d = 0; d < 3; d++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t M = mkn[c][0], K = mkn[c][1], N = mkn[c][2];
                int bias = (int)((c + (size_t)tb) % 2);
                ptm_tensor *a = RND(PTM_F32, 2, M, K), *b = tb ? RND(WDT[d], N, K) : RND(WDT[d], K, N);
                ptm_tensor *bs = bias ? RND(WDT[d], N) : NULL, *o = MK(PTM_F32, 2, M, N);
                ptm_tensor *a2 = RND(PTM_F32, 2, M, K);
                snprintf(what, sizeof what, "[2,%lld,%lld] %s trans_b=%d bias=%d", (long long)M, (long long)K,
                         ptm_dtype_name(WDT[d]), tb, bias);
                BOTH("matmul", what, o, TOL_F32, ptm_op_matmul(E, a2, b, bs, tb, OUT));
                /* batched b (one per batch entry) */
                ptm_tensor *bb = tb ? RND(WDT[d], 2, N, K) : RND(WDT[d], 2, K, N), *ob = MK(PTM_F32, 2, M, N);
                BOTH("matmul", what, ob, TOL_F32, ptm_op_matmul(E, a2, bb, bs, tb, OUT));
                rel(7, a, b, bs, o, a2, bb, ob);
            }
    /* 4-d batched, attention style: [2, 3, T, D] x [2, 3, D, T] */
    ptm_tensor *q = RND(PTM_F32, 2, 3, 17, 8), *k = RND(PTM_F32, 2, 3, 17, 8), *s = MK(PTM_F32, 2, 3, 17, 17);
    BOTH("matmul", "4-d trans_b", s, TOL_F32, ptm_op_matmul(E, q, k, NULL, 1, OUT));
    rel(3, q, k, s);
}

TEST(elementwise)
{
    static const int64_t sizes[] = {1, 3, 17, 100, 65 * 33, 70001};
    char what[64];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t n = sizes[i];
        snprintf(what, sizeof what, "[%lld]", (long long)n);
        ptm_tensor *x = RND(PTM_F32, n), *y = RND(PTM_F32, n), *o = MK(PTM_F32, n);
        for (int64_t j = 0; j < n; j++)
            F(x)[j] *= 8; /* reach the tails of gelu and silu */
        BOTH("scale", what, o, 0, ptm_op_scale(E, x, -0.37f, OUT));
        BOTH("relu", what, o, 0, ptm_op_relu(E, x, OUT));
        BOTH("gelu_erf", what, o, TOL_F32, ptm_op_gelu(E, x, 0, OUT));
        BOTH("gelu_tanh", what, o, TOL_F32, ptm_op_gelu(E, x, 1, OUT));
        BOTH("silu", what, o, TOL_F32, ptm_op_silu(E, x, OUT));
        BOTH("swiglu", what, o, TOL_F32, ptm_op_swiglu(E, x, y, OUT));
        BOTH("add", what, o, 0, ptm_op_add(E, x, y, OUT));
        BOTH("mul", what, o, 0, ptm_op_mul(E, x, y, OUT));
        rel(3, x, y, o);
    }
    /* broadcast of a trailing shape, and in place (out = a) */
    ptm_tensor *a = RND(PTM_F32, 3, 17, 33), *b1 = RND(PTM_F32, 33), *b2 = RND(PTM_F32, 17, 33);
    BOTH("add", "[3,17,33] + [33]", a, 0, ptm_op_add(E, a, b1, OUT));
    BOTH("mul", "[3,17,33] * [17,33]", a, 0, ptm_op_mul(E, a, b2, OUT));
    BOTH("add", "in place", a, 0, ptm_op_add(E, OUT, b2, OUT));
    BOTH("gelu_tanh", "in place", a, TOL_F32, ptm_op_gelu(E, OUT, 1, OUT));
    rel(3, a, b1, b2);
}

TEST(norms)
{
    static const int64_t dims[][2] = {{1, 1}, {3, 3}, {17, 17}, {5, 100}, {3, 768}, {2, 1000}};
    char what[96];
    for (size_t c = 0; c < sizeof dims / sizeof dims[0]; c++)
        for (int d = 0; d < 4; d++) {
            int64_t R = dims[c][0], D = dims[c][1];
            ptm_tensor *x = RND(PTM_F32, R, D), *o = MK(PTM_F32, R, D);
            for (int64_t i = 0; i < R * D; i++)
                F(x)[i] = F(x)[i] * 3 + 0.5f;
            ptm_tensor *w = d < 3 ? RND(WDT[d], D) : NULL, *b = d < 3 ? RND(WDT[(d + 1) % 3], D) : NULL;
            snprintf(what, sizeof what, "[%lld,%lld] w %s", (long long)R, (long long)D,
                     w ? ptm_dtype_name(WDT[d]) : "none");
            BOTH("layer_norm", what, o, TOL_F32, ptm_op_layer_norm(E, x, w, b, 1e-5f, OUT));
            BOTH("rms_norm", what, o, TOL_F32, ptm_op_rms_norm(E, x, w, 1e-6f, OUT));
            rel(4, x, o, w, b);
        }
}

TEST(softmax)
{
    ptm_tensor *x = RND(PTM_F32, 2, 3, 5, 17);
    for (int64_t i = 0; i < ptm_tensor_numel(x); i++)
        F(x)[i] *= 10;
    ptm_tensor *masks[4] = {NULL, RND(PTM_F32, 17), RND(PTM_F32, 2, 1, 1, 17), RND(PTM_F32, 5, 17)};
    /* large negative and -inf entries; a fully hidden row */
    F(masks[1])[3] = -FLT_MAX;
    F(masks[2])[5] = -INFINITY;
    for (int j = 0; j < 17; j++)
        F(masks[3])[17 + j] = -INFINITY;
    char what[64];
    for (int m = 0; m < 4; m++)
        for (int causal = 0; causal < 2; causal++) {
            snprintf(what, sizeof what, "mask %d causal %d", m, causal);
            BOTH("softmax", what, x, TOL_F32, ptm_op_softmax(E, x, 0.3f, masks[m], causal, OUT));
        }
    ptm_tensor *big = RND(PTM_F32, 3, 1000);
    BOTH("softmax", "[3,1000] in place", big, TOL_F32, ptm_op_softmax(E, OUT, 1.0f, NULL, 1, OUT));
    rel(6, x, masks[1], masks[2], masks[3], big, NULL);
}

TEST(attention)
{
    static const int64_t cfg[][6] = {/* Hq, Hkv, Tq, Tk, kv_len, D */
                                     {4, 4, 1, 17, 17, 64}, {4, 2, 3, 33, 20, 3},  {4, 1, 17, 17, 17, 17},
                                     {2, 2, 5, 300, 290, 100}, {3, 3, 1, 1, 1, 1},  {6, 2, 65, 65, 65, 33}};
    char what[96];
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++)
        for (int variant = 0; variant < 4; variant++) {
            int64_t B = 2, Hq = cfg[c][0], Hkv = cfg[c][1], Tq = cfg[c][2], Tk = cfg[c][3], L = cfg[c][4],
                    D = cfg[c][5];
            int causal = variant & 1, masked = variant >> 1;
            ptm_tensor *q = RND(PTM_F32, B, Hq, Tq, D), *k = RND(PTM_F32, B, Hkv, Tk, D),
                       *v = RND(PTM_F32, B, Hkv, Tk, D), *o = MK(PTM_F32, B, Hq, Tq, D);
            ptm_tensor *mask = masked ? MK(PTM_F32, B, L) : NULL;
            for (int64_t i = 0; masked && i < B * L; i++)
                F(mask)[i] = rnd32() % 4 == 0 ? -FLT_MAX : rndf(-1, 0);
            if (masked)
                F(mask)[L - 1] = 0; /* row 0 sees at least its last key */
            snprintf(what, sizeof what, "Hq %lld Hkv %lld Tq %lld Tk %lld kv_len %lld D %lld causal %d mask %d",
                     (long long)Hq, (long long)Hkv, (long long)Tq, (long long)Tk, (long long)L, (long long)D, causal,
                     masked);
            BOTH("attention", what, o, TOL_F32,
                 ptm_op_attention(E, q, k, v, L, mask, causal, 1.0f / sqrtf((float)D), OUT));
            rel(5, q, k, v, o, mask);
        }
}

TEST(rope)
{
    static const int rot[] = {16, 8, 2};
    for (int r = 0; r < 3; r++) {
        ptm_tensor *x = RND(PTM_F32, 2, 3, 5, 16), *pos = MK(PTM_I64, 2, 5);
        for (int i = 0; i < 10; i++)
            ((int64_t *)ptm_tensor_data_mut(pos))[i] = i < 5 ? i : 2000 + 37 * i;
        BOTH("rope", "x [2,3,5,16]", x, TOL_F32, ptm_op_rope(E, x, pos, 10000.0f, rot[r], OUT));
        BOTH("rope", "in place", x, TOL_F32, ptm_op_rope(E, OUT, pos, 500000.0f, rot[r], OUT));
        rel(2, x, pos);
    }
}

TEST(embedding)
{
    for (int d = 0; d < 3; d++)
        for (int i64 = 0; i64 < 2; i64++) {
            ptm_tensor *w = RND(WDT[d], 100, 33), *ids = MK(i64 ? PTM_I64 : PTM_I32, 2, 17), *o = MK(PTM_F32, 2, 17, 33);
            for (int i = 0; i < 34; i++) {
                int64_t id = i == 0 ? 0 : i == 1 ? 99 : rnd32() % 100;
                if (i64)
                    ((int64_t *)ptm_tensor_data_mut(ids))[i] = id;
                else
                    ((int32_t *)ptm_tensor_data_mut(ids))[i] = (int32_t)id;
            }
            BOTH("embedding", ptm_dtype_name(WDT[d]), o, 0, ptm_op_embedding(E, w, ids, OUT));
            rel(3, w, ids, o);
        }
}

TEST(data_movement)
{
    /* kv_append into a cache holding other rows */
    ptm_tensor *cache = RND(PTM_F32, 2, 3, 20, 17), *x = RND(PTM_F32, 2, 3, 5, 17);
    BOTH("kv_append", "rows 7..12", cache, 0, ptm_op_kv_append(E, OUT, 7, x));
    ptm_tensor *x1 = RND(PTM_F32, 2, 3, 1, 17);
    BOTH("kv_append", "row 19", cache, 0, ptm_op_kv_append(E, OUT, 19, x1));
    rel(3, cache, x, x1);
    /* copy, fill */
    static const ptm_dtype cdt[] = {PTM_F32, PTM_F16, PTM_I64, PTM_U8, PTM_BF16};
    for (size_t i = 0; i < sizeof cdt / sizeof cdt[0]; i++) {
        ptm_tensor *a = RND(cdt[i], 3, 17), *o = same_as(a);
        BOTH("copy", ptm_dtype_name(cdt[i]), o, 0, ptm_op_copy(E, a, OUT));
        rel(2, a, o);
    }
    ptm_tensor *f = MK(PTM_F32, 65, 3);
    BOTH("fill", "[65,3]", f, 0, ptm_op_fill(E, OUT, -2.5f));
    rel(1, f);
    /* transpose: 4-d, 8-d, sub-word dtypes (2-byte and 1-byte units) */
    static const struct {
        ptm_dtype dt;
        int nd, d0, d1;
        int64_t shape[8];
    } tr[] = {{PTM_F32, 4, 1, 2, {2, 3, 5, 7}},           {PTM_F32, 4, 0, 3, {2, 3, 5, 7}},
              {PTM_F32, 3, 0, 1, {2, 3, 17}},             {PTM_F16, 4, 1, 2, {2, 3, 5, 3}},
              {PTM_U8, 3, 0, 2, {3, 5, 7}},               {PTM_I64, 2, 0, 1, {17, 3}},
              {PTM_F32, 8, 2, 6, {2, 1, 3, 2, 1, 2, 3, 2}}, {PTM_BF16, 8, 0, 7, {3, 1, 2, 1, 2, 1, 1, 5}},
              {PTM_F32, 3, 1, 1, {2, 3, 4}},              {PTM_F32, 3, 0, 2, {1, 3, 4}}};
    char what[64];
    for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
        ptm_tensor *a = rnd(tr[i].dt, tr[i].nd, tr[i].shape);
        int64_t os[8];
        memcpy(os, tr[i].shape, sizeof os);
        os[tr[i].d0] = tr[i].shape[tr[i].d1];
        os[tr[i].d1] = tr[i].shape[tr[i].d0];
        ptm_tensor *o = mk(tr[i].dt, tr[i].nd, os);
        snprintf(what, sizeof what, "%s %d-d dims %d,%d", ptm_dtype_name(tr[i].dt), tr[i].nd, tr[i].d0, tr[i].d1);
        BOTH("transpose", what, o, 0, ptm_op_transpose(E, a, tr[i].d0, tr[i].d1, OUT));
        rel(2, a, o);
    }
    /* concat along each dim, f32 and f16 (odd sizes: sub-word units) */
    for (int d = 0; d < 2; d++)
        for (int dim = 0; dim < 3; dim++) {
            ptm_dtype dt = d ? PTM_F16 : PTM_F32;
            int64_t sa[3] = {3, 5, 7}, sb[3] = {3, 5, 7}, so[3] = {3, 5, 7};
            sb[dim] = 2;
            so[dim] = sa[dim] + 2;
            ptm_tensor *a = rnd(dt, 3, sa), *b = rnd(dt, 3, sb), *o = mk(dt, 3, so);
            snprintf(what, sizeof what, "%s dim %d", ptm_dtype_name(dt), dim);
            BOTH("concat", what, o, 0, ptm_op_concat(E, a, b, dim, OUT));
            rel(3, a, b, o);
        }
}

TEST(convert)
{
    /* special values: zeros, denormals, ties, overflow, inf, NaN */
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x33800000u, 0x33c00000u,
                                       0x387fc000u, 0x3f801000u, 0x3f803000u, 0x477ff000u, 0x47800000u,
                                       0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u, 0x3f808000u,
                                       0x3f818000u, 0xc0490fdbu, 0x00800000u};
    ptm_tensor *x = RND(PTM_F32, 101);
    memcpy(F(x), special, sizeof special);
    static const ptm_dtype to[] = {PTM_F16, PTM_BF16, PTM_F32, PTM_I32, PTM_F64};
    for (int i = 0; i < 5; i++) {
        ptm_tensor *o = MK(to[i], 101);
        BOTH("convert", ptm_dtype_name(to[i]), o, 0, ptm_op_convert(E, x, OUT));
        /* and back to f32 (exact widening for the halves) */
        ptm_tensor *back = MK(PTM_F32, 101);
        if (i < 2)
            BOTH("convert", "half to f32", back, 0, ptm_op_convert(E, o, OUT));
        rel(2, o, back);
    }
    ptm_tensor *h = RND(PTM_F16, 3, 33), *hb = MK(PTM_BF16, 3, 33);
    BOTH("convert", "F16 to BF16", hb, 0, ptm_op_convert(E, h, OUT));
    rel(3, x, h, hb);
}

TEST(argmax)
{
    static const int64_t shapes[][2] = {{1, 1}, {3, 3}, {17, 300}, {2, 1000}, {5, 65}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int64_t R = shapes[c][0], N = shapes[c][1];
        ptm_tensor *x = RND(PTM_F32, R, N), *o = MK(PTM_I64, R);
        for (int64_t i = 0; i < R * N; i++)
            F(x)[i] = (float)(rnd32() % 50); /* ties */
        if (N > 2) {
            F(x)[1] = NAN;
            F(x)[N + 2] = -INFINITY;
        }
        BOTH("argmax", "ties and NaN", o, 0, ptm_op_argmax(E, x, OUT));
        rel(2, x, o);
    }
}

/* A chain on device scratch tensors, through views at byte offsets that are
 * not 64-aligned (push-constant offsets), the result copied to the host. */
static ptm_status chain(ptm_exec *e, const ptm_tensor *in, const ptm_tensor *w, ptm_tensor *host_out)
{
    ptm_tensor *big, *x, *y, *z;
    ptm_status s;
    (void)((s = ptm_exec_scratch(e, PTM_F32, 1, SHAPE(4096), &big)) ||
        (s = ptm_exec_scratch_view(e, big, 4 * 3, 2, SHAPE(7, 33), &x)) ||
        (s = ptm_exec_scratch_view(e, big, 4 * 301, 2, SHAPE(7, 17), &y)) ||
        (s = ptm_exec_scratch_view(e, big, 4 * 1001, 2, SHAPE(7, 17), &z)) || (s = ptm_op_copy(e, in, x)) ||
        (s = ptm_op_matmul(e, x, w, NULL, 0, y)) || (s = ptm_op_gelu(e, y, 0, y)) ||
        (s = ptm_op_layer_norm(e, y, NULL, NULL, 1e-5f, z)) || (s = ptm_op_softmax(e, z, 1.0f, NULL, 0, z)) ||
        (s = ptm_op_copy(e, z, host_out)));
    return s;
}

TEST(resident)
{
    ptm_tensor *in = RND(PTM_F32, 7, 33), *w = RND(PTM_BF16, 33, 17), *o = MK(PTM_F32, 7, 17);
    CHECK(ptm_exec_is_device(vk) && !ptm_exec_is_device(cpu));
    BOTH("resident chain", "views at 12, 1204, 4004 bytes", o, TOL_F32, chain(E, in, w, OUT));
    ptm_exec_reset(vk);
    ptm_exec_reset(cpu);
    rel(3, in, w, o);
}

/* Operands beyond the device's maxStorageBufferRange (128 MiB on lavapipe;
 * most GPUs bind 4 GiB and take the one-dispatch path here): embedding
 * gathers through windows of rows, matmul splits columns (trans_b) and rows
 * (a large output), copies use vkCmdCopyBuffer. */
TEST(beyond_binding_range)
{
    ptm_tensor *w = RND(PTM_F32, 20000, 1800), *ids = MK(PTM_I64, 5), *e = MK(PTM_F32, 5, 1800);
    static const int64_t rows[5] = {0, 19999, 10000, 18700, 3};
    memcpy(ptm_tensor_data_mut(ids), rows, sizeof rows);
    BOTH("embedding", "144 MB table", e, 0, ptm_op_embedding(E, w, ids, OUT));
    ptm_tensor *a = RND(PTM_F32, 3, 1800), *o = MK(PTM_F32, 3, 20000);
    BOTH("matmul", "b 144 MB, trans_b", o, TOL_F32, ptm_op_matmul(E, a, w, NULL, 1, OUT));
    ptm_tensor *a2 = RND(PTM_F32, 40, 8), *b2 = RND(PTM_F32, 8, 1000000), *o2 = MK(PTM_F32, 40, 1000000);
    BOTH("matmul", "out 160 MB", o2, TOL_F32, ptm_op_matmul(E, a2, b2, NULL, 0, OUT));
    ptm_tensor *c = MK(PTM_F32, 20000, 1800);
    BOTH("copy", "144 MB", c, 0, ptm_op_copy(E, w, OUT));
    rel(9, w, ids, e, a, o, a2, b2, o2, c);
}

/* ---------------------------------------------------------------- gpt2 */

static const char *FIX[] = {"head", "base_layout", "variant", "misc", "head_f16", "head_bf16"};
#define NFIX (sizeof FIX / sizeof FIX[0])

static ptm_model *load_fixture(const char *name, ptm_config **exp)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", PTM_GPT2_FIXTURES, name);
    ptm_load_options o;
    ptm_load_options_init(&o);
    o.dtype = strstr(name, "f16") ? PTM_DTYPE_AUTO : PTM_F32;
    ptm_model *m = NULL;
    CHECK_OK(ptm_model_from_pretrained(ctx, path, &o, &m));
    snprintf(path, sizeof path, "%s/%s/expected.json", PTM_GPT2_FIXTURES, name);
    *exp = NULL;
    CHECK_OK(ptm_config_load(path, exp));
    return m;
}

static int64_t exp_int(const ptm_config *e, const char *key)
{
    int64_t v = -1;
    CHECK_OK(ptm_config_get_int(e, key, &v));
    return v;
}

/* A fixture file as a new tensor of dtype dt and shape [d0, d1, d2]. */
static ptm_tensor *read_fix(const char *fix, const char *file, ptm_dtype dt, int nd, int64_t d0, int64_t d1, int64_t d2)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", PTM_GPT2_FIXTURES, fix, file);
    ptm_tensor *t = mk(dt, nd, SHAPE(d0, d1, d2));
    FILE *f = fopen(path, "rb");
    if (!t || !f || fread(ptm_tensor_data_mut(t), 1, ptm_tensor_nbytes(t), f) != ptm_tensor_nbytes(t)) {
        fprintf(stderr, "cannot read %s\n", path);
        check_failed_in_test = 1;
    }
    if (f)
        fclose(f);
    return t;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* forward logits as a new host tensor (NULL and the status on failure) */
static ptm_status logits(const ptm_model *m, ptm_exec *e, const ptm_tensor *ids, ptm_tensor **out)
{
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.input_ids = ids;
    ptm_tensor *r = NULL;
    *out = NULL;
    ptm_status s = ptm_model_forward(m, e, &a, &r);
    if (!s) {
        *out = same_as(r);
        memcpy(ptm_tensor_data_mut(*out), ptm_tensor_data(r), ptm_tensor_nbytes(r));
    }
    return s;
}

static double max_abs(const ptm_tensor *a, const ptm_tensor *b)
{
    double d = 0;
    for (int64_t i = 0; a && b && i < ptm_tensor_numel(a); i++) {
        double e = fabs((double)((const float *)ptm_tensor_data(a))[i] - ((const float *)ptm_tensor_data(b))[i]);
        d = isnan(e) ? INFINITY : fmax(d, e);
    }
    return a && b ? d : INFINITY;
}

TEST(gpt2)
{
    for (size_t i = 0; i < NFIX; i++) {
        ptm_config *e;
        ptm_model *m = load_fixture(FIX[i], &e);
        if (!m || !e) {
            ptm_model_free(m);
            ptm_config_free(e);
            continue;
        }
        int64_t B = exp_int(e, "batch"), T = exp_int(e, "seq"), V = exp_int(e, "vocab");
        ptm_tensor *ids = read_fix(FIX[i], "input_ids.i64", PTM_I64, 2, B, T, 0);
        ptm_tensor *want = read_fix(FIX[i], "logits.f32", PTM_F32, 3, B, T, V), *lc = NULL, *lv = NULL;
        double t0 = now();
        CHECK_OK(logits(m, cpu, ids, &lc));
        double t1 = now();
        CHECK_OK(logits(m, vk, ids, &lv)); /* first pass: uploads the weights */
        double t2 = now();
        ptm_tensor_release(lv);
        CHECK_OK(logits(m, vk, ids, &lv));
        double t3 = now();
        double dt = max_abs(lv, want), dc = max_abs(lv, lc);
        printf("  %-12s logits max abs diff: vs torch %.3g, vs cpu %.3g (tolerance %g); cpu %.1f ms, vulkan %.1f ms "
               "(first pass %.1f ms)\n", FIX[i], dt, dc, TOL_LOGITS, 1e3 * (t1 - t0), 1e3 * (t3 - t2), 1e3 * (t2 - t1));
        CHECK(dt <= TOL_LOGITS && dc <= TOL_LOGITS);
        note("gpt2 logits (abs)", fmax(dt, dc));
        /* greedy generation, plain and left-padded, against torch's tokens */
        static const char *gen[2][4] = {{"gen_prompt.i64", NULL, "gen_out.i64", "gen_new"},
                                        {"padgen_prompt.i64", "padgen_mask.i64", "padgen_out.i64", "padgen_new"}};
        for (int g = 0; g < 2; g++) {
            int64_t gb = g ? B : 1, pl = exp_int(e, "prompt_len"), nn = exp_int(e, gen[g][3]);
            ptm_tensor *prompt = read_fix(FIX[i], gen[g][0], PTM_I64, 2, gb, pl, 0);
            ptm_tensor *mask = gen[g][1] ? read_fix(FIX[i], gen[g][1], PTM_I64, 2, gb, pl, 0) : NULL;
            ptm_tensor *wout = read_fix(FIX[i], gen[g][2], PTM_I64, 2, gb, pl + nn, 0), *got = NULL;
            ptm_generate_options go;
            ptm_generate_options_init(&go);
            go.max_new_tokens = 10; /* MAX_NEW of gpt2_ref.py; eos from the config */
            CHECK_OK(ptm_model_generate(m, vk, prompt, mask, &go, &got));
            int same = got && ptm_tensor_nbytes(got) == ptm_tensor_nbytes(wout) &&
                       !memcmp(ptm_tensor_data(got), ptm_tensor_data(wout), ptm_tensor_nbytes(wout));
            if (!same)
                fprintf(stderr, "%s: %s generation differs from torch's\n", FIX[i], g ? "padded" : "plain");
            CHECK(same);
            rel(4, prompt, mask, wout, got);
        }
        rel(4, ids, want, lc, lv);
        ptm_config_free(e);
        ptm_model_free(m);
    }
}

/* The "head" fixture with its input ids and torch's logits. */
static ptm_model *load_head(ptm_tensor **ids, ptm_tensor **want)
{
    ptm_config *e;
    ptm_model *m = load_fixture("head", &e);
    *ids = *want = NULL;
    if (m && e) {
        int64_t B = exp_int(e, "batch"), T = exp_int(e, "seq"), V = exp_int(e, "vocab");
        *ids = read_fix("head", "input_ids.i64", PTM_I64, 2, B, T, 0);
        *want = read_fix("head", "logits.f32", PTM_F32, 3, B, T, V);
    } else {
        ptm_model_free(m);
        m = NULL;
    }
    ptm_config_free(e);
    return m;
}

TEST(injected_failure)
{
    ptm_tensor *ids, *want;
    ptm_model *m = load_head(&ids, &want);
    if (!m)
        return;
    int failures = 0, ok = 0;
    for (int n = 0; n < 400 && !ok && !check_failed_in_test; n++) {
        char v[16];
        snprintf(v, sizeof v, "%d", n);
        setenv("PTM_VULKAN_FAIL_ALLOC_AFTER", v, 1);
        ptm_exec_options o;
        ptm_exec_options_init(&o);
        o.backend = "vulkan";
        ptm_exec *fx = NULL;
        ptm_status s = ptm_exec_new(ctx, &o, &fx);
        unsetenv("PTM_VULKAN_FAIL_ALLOC_AFTER");
        CHECK_OK(s);
        if (s)
            break;
        ptm_tensor *l = NULL;
        s = logits(m, fx, ids, &l);
        if (s == PTM_OK) {
            ok = 1;
            CHECK(max_abs(l, want) <= TOL_LOGITS);
        } else {
            failures++;
            if (s != PTM_ERR_NOMEM || !strstr(ptm_last_error(), "PTM_VULKAN_FAIL_ALLOC_AFTER")) {
                fprintf(stderr, "allocation %d: %d %s\n", n, (int)s, ptm_last_error());
                check_failed_in_test = 1;
            }
        }
        ptm_tensor_release(l);
        ptm_exec_free(fx);
        /* the model is intact: a cpu exec gives torch's logits */
        if (!ok) {
            CHECK_OK(logits(m, cpu, ids, &l));
            CHECK(max_abs(l, want) <= TOL_LOGITS);
            ptm_tensor_release(l);
        }
    }
    printf("  %d injected allocation failures, each a clean PTM_ERR_NOMEM; then the pass fit\n", failures);
    CHECK(ok && failures > 0);
    rel(2, ids, want);
    ptm_model_free(m);
}

/* A lost device (simulated: PTM_VULKAN_LOSE_DEVICE_AFTER=N makes submission
 * N+1 report VK_ERROR_DEVICE_LOST): the pass fails with PTM_ERR_BACKEND
 * saying so, the exec refuses further work with PTM_ERR_BACKEND, and the
 * model still runs on a cpu exec. */
TEST(lost_device)
{
    ptm_tensor *ids, *want;
    ptm_model *m = load_head(&ids, &want);
    if (!m)
        return;
    static const char *after[] = {"0", "1", "2", "5"};
    for (int i = 0; i < 4; i++) {
        setenv("PTM_VULKAN_LOSE_DEVICE_AFTER", after[i], 1);
        ptm_exec_options o;
        ptm_exec_options_init(&o);
        o.backend = "vulkan";
        ptm_exec *lx = NULL;
        ptm_status s = ptm_exec_new(ctx, &o, &lx);
        unsetenv("PTM_VULKAN_LOSE_DEVICE_AFTER");
        CHECK_OK(s);
        if (s)
            break;
        /* passes before the loss are right; the one that meets it fails */
        ptm_tensor *l = NULL;
        int pass = 0;
        while (pass < 4 && (s = logits(m, lx, ids, &l)) == PTM_OK) {
            CHECK(max_abs(l, want) <= TOL_LOGITS);
            ptm_tensor_release(l);
            pass++;
        }
        CHECK(s == PTM_ERR_BACKEND && strstr(ptm_last_error(), "VK_ERROR_DEVICE_LOST"));
        if (s != PTM_ERR_BACKEND)
            fprintf(stderr, "after %s submissions: pass %d gave %d: %s\n", after[i], pass, (int)s, ptm_last_error());
        CHECK_ERR(logits(m, lx, ids, &l), PTM_ERR_BACKEND, "cannot run more work");
        ptm_exec_free(lx);
        CHECK_OK(logits(m, cpu, ids, &l));
        CHECK(max_abs(l, want) <= TOL_LOGITS);
        ptm_tensor_release(l);
    }
    rel(2, ids, want);
    ptm_model_free(m);
}

/* PTM_VULKAN_DEVICE picks the device an exec on device 0 opens. */
TEST(device_selection)
{
    ptm_exec_options o;
    ptm_exec_options_init(&o);
    o.backend = "vulkan";
    ptm_exec *x = NULL;
    setenv("PTM_VULKAN_DEVICE", "0", 1);
    CHECK_OK(ptm_exec_new(ctx, &o, &x));
    ptm_exec_free(x);
    x = NULL;
    setenv("PTM_VULKAN_DEVICE", "99", 1);
    CHECK_ERR(ptm_exec_new(ctx, &o, &x), PTM_ERR_BACKEND, "no device 99");
    setenv("PTM_VULKAN_DEVICE", "gpu", 1);
    CHECK_ERR(ptm_exec_new(ctx, &o, &x), PTM_ERR_INVALID_ARG, "PTM_VULKAN_DEVICE");
    unsetenv("PTM_VULKAN_DEVICE");
    CHECK(x == NULL);
}

/* ---------------------------------------------------------------- main */

/* PTM_TEST_PIN_LIBS="a.so:b.so" (set by vulkan.cmake in sanitizer builds):
 * keep these libraries loaded until exit.  Mesa's lavapipe keeps a few
 * bytes in a global that it never frees; when the Vulkan loader unloads the
 * driver (vkDestroyInstance), LeakSanitizer reports them from an "unknown
 * module" that no suppression can name.  Pinned, they stay reachable. */
static void pin_libs(void)
{
    const char *e = getenv("PTM_TEST_PIN_LIBS");
    char buf[512], *save = NULL;
    if (!e || strlen(e) >= sizeof buf)
        return;
    strcpy(buf, e);
    for (char *t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save))
        (void)dlopen(t, RTLD_NOW | RTLD_NODELETE);
}

int main(void)
{
    pin_libs();
    ptm_context_options co;
    ptm_context_options_init(&co);
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR};
    co.plugin_paths = paths;
    co.n_plugin_paths = 1;
    co.ignore_env = 1;
    co.skip_install_dir = 1;
    if (ptm_context_new(&co, &ctx) != PTM_OK) {
        fprintf(stderr, "context: %s\n", ptm_last_error());
        return 1;
    }
    const ptm_backend *be = ptm_context_find_backend(ctx, "vulkan");
    if (!be || be->device_count() <= 0) {
        printf("SKIPPED: %s\n", be ? "no Vulkan device" : "the vulkan backend plugin is not built (Vulkan headers "
                                                          "or glslc missing)");
        ptm_context_free(ctx);
        return 77;
    }
    char name[256] = "?";
    if (be->device_name)
        be->device_name(0, name, sizeof name);
    printf("vulkan device 0: %s\n", name);
    ptm_exec_options o;
    ptm_exec_options_init(&o);
    o.backend = "cpu";
    o.num_threads = 2;
    CHECK_OK(ptm_exec_new(ctx, &o, &cpu));
    o.backend = "vulkan";
    CHECK_OK(ptm_exec_new(ctx, &o, &vk));
    if (!cpu || !vk)
        return 1;
    RUN(matmul);
    RUN(elementwise);
    RUN(norms);
    RUN(softmax);
    RUN(attention);
    RUN(rope);
    RUN(embedding);
    RUN(data_movement);
    RUN(convert);
    RUN(argmax);
    RUN(resident);
    RUN(beyond_binding_range);
    RUN(gpt2);
    RUN(injected_failure);
    RUN(lost_device);
    RUN(device_selection);
    printf("worst error per op (max |vulkan - cpu| / max(1, max |cpu|); 0 = bit-exact):\n");
    for (int i = 0; i < nworst; i++)
        printf("  %-18s %.3g\n", worst[i].op, worst[i].err);
    ptm_exec_free(vk);
    ptm_exec_free(cpu);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
