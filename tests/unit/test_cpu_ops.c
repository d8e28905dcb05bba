/* SPDX-License-Identifier: Apache-2.0 */
/* test_cpu_ops.c - every op of the CPU backend plugin (cpu.so), through the
 * public API (ptm_exec_new + ptm_op_*), against naive double-precision
 * references written here with plain loops.  f16/bf16 weights are generated
 * as bit patterns whose exact values the test decodes itself, so the
 * reference uses the same rounded weights.  The whole suite runs twice: on
 * the AVX2+FMA kernels (2 threads) and with PTM_CPU_PORTABLE=1 (3 threads,
 * so chunks split unevenly). */
#include "check.h"

#include <ptm/ptm.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>

static ptm_context *ctx;
static ptm_exec *ex;
static int portable;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

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
#define MK(dt, ...) mk(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__))
static float *F(ptm_tensor *t) { return ptm_tensor_data_mut(t); }
static ptm_tensor *rand_f32(int nd, const int64_t *shape, float lo, float hi)
{
    ptm_tensor *t = mk(PTM_F32, nd, shape);
    for (int64_t i = 0; i < ptm_tensor_numel(t); i++)
        F(t)[i] = rndf(lo, hi);
    return t;
}

/* Half-precision bit patterns in [-2, 2] (normal numbers), and their values
 * decoded here without ptm. */
static double bf16_val(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double f16_val(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
    return (h & 0x8000) ? -v : v;
}
static uint16_t rand_half(ptm_dtype dt)
{
    uint16_t s = (uint16_t)(rnd32() & 1) << 15;
    if (dt == PTM_BF16) /* exponent 120..127: |v| in [2^-7, 2) */
        return (uint16_t)(s | (uint16_t)((120 + rnd32() % 8) << 7) | (uint16_t)(rnd32() & 127));
    return (uint16_t)(s | (uint16_t)((8 + rnd32() % 8) << 10) | (uint16_t)(rnd32() & 1023)); /* f16 */
}
/* A random weight tensor of dtype dt; *vals gets its exact values. */
static ptm_tensor *rand_weight(ptm_dtype dt, int nd, const int64_t *shape, double **vals)
{
    ptm_tensor *t = mk(dt, nd, shape);
    int64_t n = ptm_tensor_numel(t);
    *vals = malloc((size_t)(n ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        if (dt == PTM_F32) {
            F(t)[i] = rndf(-1, 1);
            (*vals)[i] = F(t)[i];
        } else {
            uint16_t h = rand_half(dt);
            ((uint16_t *)ptm_tensor_data_mut(t))[i] = h;
            (*vals)[i] = dt == PTM_BF16 ? bf16_val(h) : f16_val(h);
        }
    }
    return t;
}

/* max |got - ref| <= tol * max(1, max |ref|) */
static int close_to(const float *got, const double *ref, int64_t n, double tol, const char *what)
{
    double mag = 1.0, err = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++)
        mag = fmax(mag, fabs(ref[i]));
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= err)) { /* also catches NaN */
            err = isnan(e) ? INFINITY : e;
            at = i;
        }
    }
    if (err > tol * mag) {
        fprintf(stderr, "  %s (%s): max error %g at %lld (got %g, want %g), bound %g\n", what,
                portable ? "portable" : "avx2", err, (long long)at, (double)got[at], ref[at], tol * mag);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- matmul */

static void check_matmul(int64_t batch, int shared_b, int64_t M, int64_t K, int64_t N, int trans_b, ptm_dtype bdt,
                         int with_bias)
{
    ptm_tensor *a, *b, *bias = NULL, *out;
    double *bv, *biasv = NULL;
    if (batch) {
        a = rand_f32(3, SHAPE(batch, M, K), -1, 1);
        out = MK(PTM_F32, batch, M, N);
    } else {
        a = rand_f32(2, SHAPE(M, K), -1, 1);
        out = MK(PTM_F32, M, N);
    }
    int64_t nb = batch ? batch : 1;
    int64_t b0 = trans_b ? N : K, b1 = trans_b ? K : N;
    if (batch && !shared_b)
        b = rand_weight(bdt, 3, SHAPE(batch, b0, b1), &bv);
    else
        b = rand_weight(bdt, 2, SHAPE(b0, b1), &bv);
    if (with_bias)
        bias = rand_weight(with_bias == 2 ? PTM_BF16 : PTM_F32, 1, SHAPE(N), &biasv);
    CHECK_OK(ptm_op_matmul(ex, a, b, bias, trans_b, out));
    double *ref = malloc((size_t)(nb * M * N) * sizeof *ref);
    for (int64_t bi = 0; bi < nb; bi++) {
        const double *bb = bv + ((batch && !shared_b) ? bi * K * N : 0);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = biasv ? biasv[n] : 0.0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)F(a)[(bi * M + m) * K + k] * (trans_b ? bb[n * K + k] : bb[k * N + n]);
                ref[(bi * M + m) * N + n] = s;
            }
    }
    char what[160];
    snprintf(what, sizeof what, "matmul batch=%lld shared=%d M=%lld K=%lld N=%lld trans_b=%d %s bias=%d",
             (long long)batch, shared_b, (long long)M, (long long)K, (long long)N, trans_b, ptm_dtype_name(bdt),
             with_bias);
    CHECK(close_to(F(out), ref, nb * M * N, 1e-4, what));
    free(ref);
    free(bv);
    free(biasv);
    ptm_tensor_release(a);
    ptm_tensor_release(b);
    ptm_tensor_release(bias);
    ptm_tensor_release(out);
}

TEST(matmul_shapes_and_dtypes)
{
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 17, 65}, Ks[] = {1, 17, 64, 67}, Ns[] = {1, 3, 33, 130};
    static const ptm_dtype dts[] = {PTM_F32, PTM_F16, PTM_BF16};
    int i = 0;
    for (size_t mi = 0; mi < 7; mi++)
        for (size_t ki = 0; ki < 4; ki++)
            for (size_t ni = 0; ni < 4; ni++)
                for (int tb = 0; tb < 2; tb++)
                    for (int d = 0; d < 3; d++, i++) {
                        int layout = i % 3; /* plain, batched a + shared b, batched a + batched b */
                        check_matmul(layout ? 2 : 0, layout == 1, Ms[mi], Ks[ki], Ns[ni], tb, dts[d], i % 4 == 1 ? 2
                                     : i % 2);
                    }
}

TEST(matmul_large)
{
    /* several tasks per thread; panels of converted half weights */
    check_matmul(0, 0, 128, 768, 768, 0, PTM_F32, 1);
    check_matmul(0, 0, 128, 768, 768, 1, PTM_BF16, 1);
    check_matmul(0, 0, 33, 300, 1000, 0, PTM_F16, 0);
    check_matmul(0, 0, 1, 768, 3072, 0, PTM_BF16, 1);
    check_matmul(0, 0, 1, 768, 3072, 1, PTM_BF16, 0);
    check_matmul(0, 0, 4, 1024, 2050, 1, PTM_F16, 1);
    check_matmul(0, 0, 3, 513, 2000, 0, PTM_F32, 1);
    check_matmul(5, 0, 3, 40, 7, 1, PTM_F32, 0);
    check_matmul(3, 0, 70, 64, 70, 1, PTM_F32, 0); /* q @ k^T shaped */
    check_matmul(2, 1, 3, 64, 200, 0, PTM_BF16, 1); /* shared b, M*batch = 6 */
    check_matmul(0, 0, 8, 300, 700, 0, PTM_F32, 1);  /* 4-row groups of the small kernels */
    check_matmul(0, 0, 14, 1100, 300, 0, PTM_F16, 1); /* tall [K, N]: panels + sgemm */
    check_matmul(0, 0, 16, 1100, 300, 1, PTM_BF16, 0); /* [N, K]: 4-row groups */
}

/* ----------------------------------------------------------- elementwise */

static double gelu_ref(double x, int t)
{
    if (t)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

TEST(unary_ops)
{
    static const int64_t sizes[] = {1, 7, 8, 9, 33, 1000, 100003};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        ptm_tensor *a = rand_f32(1, SHAPE(n), -8, 8), *out = MK(PTM_F32, n), *up = rand_f32(1, SHAPE(n), -2, 2);
        if (n > 4) {
            F(a)[0] = -100.0f; F(a)[1] = 100.0f; F(a)[2] = 0.0f; F(a)[3] = -20.0f;
        }
        double *ref = malloc((size_t)n * sizeof *ref);
        for (int op = 0; op < 6; op++) {
            const char *name = "?";
            for (int64_t i = 0; i < n; i++) {
                double x = F(a)[i];
                switch (op) {
                case 0: ref[i] = x * 0.37; name = "scale"; break;
                case 1: ref[i] = gelu_ref(x, 0); name = "gelu erf"; break;
                case 2: ref[i] = gelu_ref(x, 1); name = "gelu tanh"; break;
                case 3: ref[i] = x / (1.0 + exp(-x)); name = "silu"; break;
                case 4: ref[i] = x > 0 ? x : 0; name = "relu"; break;
                default: ref[i] = x / (1.0 + exp(-x)) * F(up)[i]; name = "swiglu"; break;
                }
            }
            switch (op) {
            case 0: CHECK_OK(ptm_op_scale(ex, a, 0.37f, out)); break;
            case 1: CHECK_OK(ptm_op_gelu(ex, a, 0, out)); break;
            case 2: CHECK_OK(ptm_op_gelu(ex, a, 1, out)); break;
            case 3: CHECK_OK(ptm_op_silu(ex, a, out)); break;
            case 4: CHECK_OK(ptm_op_relu(ex, a, out)); break;
            default: CHECK_OK(ptm_op_swiglu(ex, a, up, out)); break;
            }
            /* per element: |err| <= 2e-6 * max(1, |ref|) */
            for (int64_t i = 0; i < n; i++)
                if (!(fabs(F(out)[i] - ref[i]) <= 2e-6 * fmax(1.0, fabs(ref[i])))) {
                    fprintf(stderr, "  %s n=%lld x=%g: got %.9g want %.9g\n", name, (long long)n, (double)F(a)[i],
                            (double)F(out)[i], ref[i]);
                    CHECK(0);
                    break;
                }
        }
        /* in place (out aliases a) */
        ptm_tensor *c = mk(PTM_F32, 1, SHAPE(n));
        memcpy(F(c), F(a), (size_t)n * 4);
        CHECK_OK(ptm_op_gelu(ex, c, 1, c));
        for (int64_t i = 0; i < n; i++)
            ref[i] = gelu_ref(F(a)[i], 1);
        CHECK(close_to(F(c), ref, n, 2e-6, "gelu in place"));
        free(ref);
        ptm_tensor_release(a);
        ptm_tensor_release(up);
        ptm_tensor_release(out);
        ptm_tensor_release(c);
    }
}

/* b broadcast against a [2, 3, D]; b's shape as numpy would align it.
 * Through the API (trailing shapes) and, for shapes with 1s that only the
 * kernel accepts, through the backend table directly. */
TEST(add_mul_broadcast)
{
    static const int64_t bshapes[6][3] = {{0, 0, 0}, {3, 0, 0}, {2, 3, 0}, {1, 0, 0}, {2, 1, 0}, {2, 3, 1}};
    static const int bnd[6] = {1, 2, 3, 2, 3, 3};
    const ptm_backend *be = ptm_exec_backend(ex);
    void *bs = ptm_exec_backend_state(ex);
    for (int D = 1; D <= 40000; D = D * 17 + 16) {
        for (int bi = 0; bi < 6; bi++) {
            int64_t bsh[3] = {bshapes[bi][0], bshapes[bi][1], bshapes[bi][2]};
            if (bi < 5)
                bsh[bnd[bi] - 1] = D;
            ptm_tensor *a = rand_f32(3, SHAPE(2, 3, D), -3, 3), *b = rand_f32(bnd[bi], bsh, -3, 3);
            ptm_tensor *out = MK(PTM_F32, 2, 3, D);
            int64_t n = 6 * (int64_t)D;
            /* b's dims right-aligned against [2, 3, D] */
            int64_t full[3] = {1, 1, 1};
            for (int k = 0; k < bnd[bi]; k++)
                full[3 - bnd[bi] + k] = bsh[k];
            double *ref = malloc((size_t)n * sizeof *ref);
            for (int mul = 0; mul < 3; mul++) {
                for (int64_t i = 0; i < n; i++) {
                    int64_t i0 = i / (3 * D), i1 = (i / D) % 3, i2 = i % D;
                    int64_t bj = ((full[0] > 1 ? i0 : 0) * full[1] + (full[1] > 1 ? i1 : 0)) * full[2] +
                                 (full[2] > 1 ? i2 : 0);
                    ref[i] = mul == 1 ? (double)F(a)[i] * F(b)[bj] : (double)F(a)[i] + F(b)[bj];
                }
                ptm_tensor *o = mul == 2 ? a : out; /* mul == 2: add in place */
                if (bi < 3)
                    CHECK_OK(mul == 1 ? ptm_op_mul(ex, a, b, o) : ptm_op_add(ex, a, b, o));
                else
                    CHECK_OK(mul == 1 ? be->ops->mul(bs, a, b, o) : be->ops->add(bs, a, b, o));
                CHECK(close_to(F(o), ref, n, 1e-6, mul == 1 ? "mul" : mul ? "add in place" : "add"));
            }
            free(ref);
            ptm_tensor_release(a);
            ptm_tensor_release(b);
            ptm_tensor_release(out);
        }
    }
}

/* ------------------------------------------------------------------ norms */

TEST(layer_norm_rms_norm)
{
    static const int64_t Ds[] = {1, 3, 17, 768};
    for (size_t di = 0; di < 4; di++)
        for (int variant = 0; variant < 4; variant++) {
            int64_t D = Ds[di], rows = 37;
            ptm_tensor *x = rand_f32(2, SHAPE(rows, D), -2, 2), *out = MK(PTM_F32, rows, D);
            for (int64_t i = 0; i < D; i++) /* an offset makes the mean matter */
                F(x)[i] += 50.0f;
            double *wv = NULL, *bv = NULL;
            ptm_dtype wdt = variant == 2 ? PTM_BF16 : variant == 3 ? PTM_F16 : PTM_F32;
            ptm_tensor *w = variant ? rand_weight(wdt, 1, SHAPE(D), &wv) : NULL;
            ptm_tensor *b = variant >= 2 ? rand_weight(wdt, 1, SHAPE(D), &bv) : NULL;
            double *ref = malloc((size_t)(rows * D) * sizeof *ref);
            for (int rms = 0; rms < 2; rms++) {
                for (int64_t r = 0; r < rows; r++) {
                    const float *xr = F(x) + r * D;
                    double mean = 0, var = 0;
                    for (int64_t i = 0; i < D; i++)
                        mean += xr[i];
                    mean = rms ? 0.0 : mean / (double)D;
                    for (int64_t i = 0; i < D; i++)
                        var += (xr[i] - mean) * (xr[i] - mean);
                    var /= (double)D;
                    for (int64_t i = 0; i < D; i++) {
                        double y = (xr[i] - mean) / sqrt(var + 1e-5);
                        ref[r * D + i] = y * (wv ? wv[i] : 1.0) + ((!rms && bv) ? bv[i] : 0.0);
                    }
                }
                if (rms)
                    CHECK_OK(ptm_op_rms_norm(ex, x, w, 1e-5f, out));
                else
                    CHECK_OK(ptm_op_layer_norm(ex, x, w, b, 1e-5f, out));
                CHECK(close_to(F(out), ref, rows * D, 1e-5, rms ? "rms_norm" : "layer_norm"));
            }
            free(ref);
            free(wv);
            free(bv);
            ptm_tensor_release(x);
            ptm_tensor_release(w);
            ptm_tensor_release(b);
            ptm_tensor_release(out);
        }
}

/* ---------------------------------------------------------------- softmax */

TEST(softmax_mask_causal)
{
    static const int64_t cases[][4] = {{2, 3, 5, 9}, {1, 2, 1, 1}, {2, 2, 7, 7}, {1, 1, 3, 33}, {2, 1, 4, 100}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mode = 0; mode < 4; mode++) {
            int64_t B = cases[c][0], H = cases[c][1], Tq = cases[c][2], Tk = cases[c][3];
            int causal = mode & 1;
            ptm_tensor *x = rand_f32(4, SHAPE(B, H, Tq, Tk), -5, 5), *out = MK(PTM_F32, B, H, Tq, Tk);
            ptm_tensor *mask = NULL;
            if (mode >= 2) { /* HF-style padding mask [B, 1, 1, Tk]: 0 or -1e9, never all masked */
                mask = MK(PTM_F32, B, 1, 1, Tk);
                for (int64_t i = 0; i < B * Tk; i++)
                    F(mask)[i] = (i % Tk) != 0 && rnd32() % 3 == 0 ? -1e9f : rndf(-1, 1);
            }
            int64_t n = B * H * Tq * Tk;
            double *ref = malloc((size_t)n * sizeof *ref);
            for (int64_t r = 0; r < B * H * Tq; r++) {
                int64_t b = r / (H * Tq), qi = r % Tq;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    double v = F(x)[r * Tk + j] * 0.3 + (mask ? F(mask)[b * Tk + j] : 0.0);
                    if (causal && j > (Tk - Tq) + qi)
                        v = -INFINITY;
                    ref[r * Tk + j] = v;
                    mx = fmax(mx, v);
                }
                for (int64_t j = 0; j < Tk; j++)
                    sum += (ref[r * Tk + j] = exp(ref[r * Tk + j] - mx));
                for (int64_t j = 0; j < Tk; j++)
                    ref[r * Tk + j] /= sum;
            }
            CHECK_OK(ptm_op_softmax(ex, x, 0.3f, mask, causal, out));
            CHECK(close_to(F(out), ref, n, 1e-6, "softmax"));
            CHECK_OK(ptm_op_softmax(ex, x, 0.3f, mask, causal, x)); /* in place */
            CHECK(close_to(F(x), ref, n, 1e-6, "softmax in place"));
            free(ref);
            ptm_tensor_release(x);
            ptm_tensor_release(mask);
            ptm_tensor_release(out);
        }
}

/* -------------------------------------------------------------- embedding */

TEST(embedding)
{
    static const ptm_dtype dts[] = {PTM_F32, PTM_F16, PTM_BF16};
    for (int d = 0; d < 3; d++)
        for (int i32 = 0; i32 < 2; i32++) {
            int64_t V = 50, H = 33;
            double *wv;
            ptm_tensor *w = rand_weight(dts[d], 2, SHAPE(V, H), &wv);
            ptm_tensor *ids = MK(i32 ? PTM_I32 : PTM_I64, 2, 3), *out = MK(PTM_F32, 2, 3, H);
            int64_t idv[6] = {0, 49, 7, 7, 21, 3};
            for (int i = 0; i < 6; i++) {
                if (i32)
                    ((int32_t *)ptm_tensor_data_mut(ids))[i] = (int32_t)idv[i];
                else
                    ((int64_t *)ptm_tensor_data_mut(ids))[i] = idv[i];
            }
            CHECK_OK(ptm_op_embedding(ex, w, ids, out));
            double ref[6 * 33];
            for (int i = 0; i < 6; i++)
                for (int64_t h = 0; h < H; h++)
                    ref[i * H + h] = wv[idv[i] * H + h];
            CHECK(close_to(F(out), ref, 6 * H, 0.0, "embedding"));
            /* the kernel itself refuses an id outside the vocabulary */
            const ptm_backend *be = ptm_exec_backend(ex);
            ((int64_t *)ptm_tensor_data_mut(ids))[0] = 50;
            if (!i32)
                CHECK_ERR(be->ops->embedding(ptm_exec_backend_state(ex), w, ids, out), PTM_ERR_INVALID_ARG, "50");
            free(wv);
            ptm_tensor_release(w);
            ptm_tensor_release(ids);
            ptm_tensor_release(out);
        }
}

/* ------------------------------------------------------------------- rope */

TEST(rope)
{
    static const int64_t cases[][5] = {{2, 3, 5, 8, 8}, {1, 2, 4, 7, 4}, {2, 1, 1, 64, 64}, {1, 4, 3, 96, 32}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t B = cases[c][0], H = cases[c][1], T = cases[c][2], D = cases[c][3];
        int rot = (int)cases[c][4];
        float theta = c % 2 ? 500000.0f : 10000.0f;
        ptm_tensor *x = rand_f32(4, SHAPE(B, H, T, D), -2, 2), *out = MK(PTM_F32, B, H, T, D);
        ptm_tensor *pos = MK(PTM_I64, B, T);
        for (int64_t i = 0; i < B * T; i++)
            ((int64_t *)ptm_tensor_data_mut(pos))[i] = rnd32() % 200;
        CHECK_OK(ptm_op_rope(ex, x, pos, theta, rot, out));
        int64_t n = B * H * T * D, half = rot / 2;
        double *ref = malloc((size_t)n * sizeof *ref);
        for (int64_t r = 0; r < B * H * T; r++) {
            int64_t b = r / (H * T), t = r % T;
            double p = (double)((int64_t *)ptm_tensor_data_mut(pos))[b * T + t];
            const float *xr = F(x) + r * D;
            for (int64_t i = 0; i < D; i++)
                ref[r * D + i] = xr[i];
            for (int64_t i = 0; i < half; i++) {
                double ang = p * pow(theta, -2.0 * (double)i / rot);
                ref[r * D + i] = xr[i] * cos(ang) - xr[i + half] * sin(ang);
                ref[r * D + i + half] = xr[i + half] * cos(ang) + xr[i] * sin(ang);
            }
        }
        /* angles are f32 as in transformers: pos 200 gives ~1e-5 of slack */
        CHECK(close_to(F(out), ref, n, 5e-5, "rope"));
        free(ref);
        ptm_tensor_release(x);
        ptm_tensor_release(pos);
        ptm_tensor_release(out);
    }
}

/* -------------------------------------------------------------- attention */

static void check_attention(int64_t B, int64_t Hq, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t kv_len, int64_t D,
                            int with_mask, int causal)
{
    ptm_tensor *q = rand_f32(4, SHAPE(B, Hq, Tq, D), -1, 1), *k = rand_f32(4, SHAPE(B, Hkv, Tk, D), -1, 1);
    ptm_tensor *v = rand_f32(4, SHAPE(B, Hkv, Tk, D), -1, 1), *out = MK(PTM_F32, B, Hq, Tq, D);
    ptm_tensor *mask = NULL;
    if (with_mask) {
        mask = MK(PTM_F32, B, kv_len);
        for (int64_t i = 0; i < B * kv_len; i++)
            F(mask)[i] = (i % kv_len) != 0 && rnd32() % 4 == 0 ? -1e9f : 0.0f;
    }
    float scale = 1.0f / sqrtf((float)D);
    CHECK_OK(ptm_op_attention(ex, q, k, v, kv_len, mask, causal, scale, out));
    int64_t n = B * Hq * Tq * D, g = Hq / Hkv;
    double *ref = calloc((size_t)n, sizeof *ref), *s = malloc((size_t)kv_len * sizeof *s);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const float *qr = F(q) + ((b * Hq + h) * Tq + i) * D;
                const float *kb = F(k) + (b * Hkv + h / g) * Tk * D, *vb = F(v) + (b * Hkv + h / g) * Tk * D;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < kv_len; j++) {
                    double d = 0;
                    for (int64_t e = 0; e < D; e++)
                        d += (double)qr[e] * kb[j * D + e];
                    s[j] = d * scale + (mask ? F(mask)[b * kv_len + j] : 0.0);
                    if (causal && j > (kv_len - Tq) + i)
                        s[j] = -INFINITY;
                    mx = fmax(mx, s[j]);
                }
                for (int64_t j = 0; j < kv_len; j++)
                    sum += (s[j] = exp(s[j] - mx));
                double *o = ref + ((b * Hq + h) * Tq + i) * D;
                for (int64_t j = 0; j < kv_len; j++)
                    for (int64_t e = 0; e < D; e++)
                        o[e] += s[j] / sum * vb[j * D + e];
            }
    char what[128];
    snprintf(what, sizeof what, "attention B=%lld Hq=%lld Hkv=%lld Tq=%lld Tk=%lld kv_len=%lld D=%lld mask=%d "
             "causal=%d", (long long)B, (long long)Hq, (long long)Hkv, (long long)Tq, (long long)Tk,
             (long long)kv_len, (long long)D, with_mask, causal);
    CHECK(close_to(F(out), ref, n, 1e-5, what));
    free(ref);
    free(s);
    ptm_tensor_release(q);
    ptm_tensor_release(k);
    ptm_tensor_release(v);
    ptm_tensor_release(mask);
    ptm_tensor_release(out);
}

TEST(attention)
{
    static const int64_t hkv[] = {4, 2, 1}, Ds[] = {8, 17, 64};
    for (int hi = 0; hi < 3; hi++)
        for (int di = 0; di < 3; di++)
            for (int mode = 0; mode < 8; mode++) {
                int64_t Tq = mode & 4 ? 5 : 1, Tk = 9, kv_len = mode & 2 ? 7 : 9;
                check_attention(2, 4, hkv[hi], Tq, Tk, kv_len, Ds[di], mode & 1, (mode >> 1) & 1);
            }
    check_attention(1, 2, 2, 33, 33, 33, 64, 0, 1); /* prefill */
    check_attention(1, 8, 2, 1, 300, 257, 128, 1, 1); /* decode, GQA, long cache */
    check_attention(3, 3, 1, 65, 130, 100, 3, 1, 1);
}

/* ------------------------------------------------------- data movement */

TEST(kv_append_copy_fill)
{
    ptm_tensor *cache = MK(PTM_F32, 2, 3, 10, 4), *x = rand_f32(4, SHAPE(2, 3, 3, 4), -1, 1);
    CHECK_OK(ptm_op_fill(ex, cache, -7.5f));
    for (int64_t i = 0; i < 240; i++)
        CHECK(F(cache)[i] == -7.5f);
    CHECK_OK(ptm_op_kv_append(ex, cache, 5, x));
    for (int64_t bh = 0; bh < 6; bh++)
        for (int64_t t = 0; t < 10; t++)
            for (int64_t d = 0; d < 4; d++) {
                float want = (t >= 5 && t < 8) ? F(x)[(bh * 3 + t - 5) * 4 + d] : -7.5f;
                CHECK(F(cache)[(bh * 10 + t) * 4 + d] == want);
            }
    const ptm_backend *be = ptm_exec_backend(ex);
    CHECK_ERR(be->ops->kv_append(ptm_exec_backend_state(ex), cache, 8, x), PTM_ERR_INVALID_ARG, "fit");
    ptm_tensor *big = rand_f32(1, SHAPE(300001), -1, 1), *cp = MK(PTM_F32, 300001);
    CHECK_OK(ptm_op_copy(ex, big, cp));
    CHECK(memcmp(F(big), F(cp), 300001 * 4) == 0);
    CHECK_OK(ptm_op_fill(ex, cp, 0.25f));
    int ok = 1;
    for (int64_t i = 0; i < 300001; i++)
        ok &= F(cp)[i] == 0.25f;
    CHECK(ok);
    ptm_tensor_release(cache);
    ptm_tensor_release(x);
    ptm_tensor_release(big);
    ptm_tensor_release(cp);
}

TEST(convert)
{
    int64_t n = 70001;
    ptm_tensor *x = rand_f32(1, SHAPE(n), -3, 3), *d = MK(PTM_F64, n), *bf = MK(PTM_BF16, n), *back = MK(PTM_F32, n);
    F(x)[0] = 1.00390625f; /* bf16 halfway 1 + 2^-8: ties to even -> 1.0 */
    F(x)[1] = 1.01171875f; /* 1 + 3 * 2^-8: ties to even -> 1 + 2^-6 */
    CHECK_OK(ptm_op_convert(ex, x, d));
    CHECK_OK(ptm_op_convert(ex, x, bf));
    CHECK_OK(ptm_op_convert(ex, bf, back));
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &F(x)[i], 4);
        uint32_t r = (u + 0x7fff + ((u >> 16) & 1)) >> 16; /* round to nearest even */
        ok &= ((const double *)ptm_tensor_data(d))[i] == (double)F(x)[i];
        ok &= ((const uint16_t *)ptm_tensor_data(bf))[i] == (uint16_t)r;
        ok &= (double)F(back)[i] == bf16_val((uint16_t)r);
    }
    CHECK(ok);
    CHECK(((const uint16_t *)ptm_tensor_data(bf))[0] == 0x3f80 && ((const uint16_t *)ptm_tensor_data(bf))[1] == 0x3f82);
    ptm_tensor_release(x);
    ptm_tensor_release(d);
    ptm_tensor_release(bf);
    ptm_tensor_release(back);
}

TEST(transpose_concat)
{
    static const int pairs[][2] = {{0, 1}, {1, 2}, {2, 3}, {0, 3}, {1, 3}, {3, 1}, {-1, -2}, {2, 2}};
    int64_t sh[4] = {2, 3, 5, 7};
    for (int dt = 0; dt < 2; dt++) {
        ptm_dtype t = dt ? PTM_F16 : PTM_F32;
        size_t es = dt ? 2 : 4;
        ptm_tensor *x = mk(t, 4, sh);
        unsigned char *xb = ptm_tensor_data_mut(x);
        for (size_t i = 0; i < 210 * es; i++)
            xb[i] = (unsigned char)rnd32();
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
            int d0 = (pairs[p][0] + 4) % 4, d1 = (pairs[p][1] + 4) % 4;
            int64_t osh[4] = {sh[0], sh[1], sh[2], sh[3]};
            osh[d0] = sh[d1];
            osh[d1] = sh[d0];
            ptm_tensor *out = mk(t, 4, osh);
            CHECK_OK(ptm_op_transpose(ex, x, pairs[p][0], pairs[p][1], out));
            const unsigned char *ob = ptm_tensor_data(out);
            int ok = 1;
            for (int64_t i0 = 0; i0 < 2; i0++)
                for (int64_t i1 = 0; i1 < 3; i1++)
                    for (int64_t i2 = 0; i2 < 5; i2++)
                        for (int64_t i3 = 0; i3 < 7; i3++) {
                            int64_t idx[4] = {i0, i1, i2, i3}, o[4] = {i0, i1, i2, i3};
                            o[d0] = idx[d1];
                            o[d1] = idx[d0];
                            int64_t xi = ((i0 * 3 + i1) * 5 + i2) * 7 + i3;
                            int64_t oi = ((o[0] * osh[1] + o[1]) * osh[2] + o[2]) * osh[3] + o[3];
                            ok &= memcmp(ob + oi * es, xb + xi * es, es) == 0;
                        }
            CHECK(ok);
            ptm_tensor_release(out);
        }
        /* concat along each dim: a = x, b = x with that dim cut to 1 */
        for (int dim = 0; dim < 4; dim++) {
            int64_t bsh[4] = {2, 3, 5, 7}, osh[4] = {2, 3, 5, 7};
            bsh[dim] = 1;
            osh[dim] = sh[dim] + 1;
            ptm_tensor *b = mk(t, 4, bsh), *out = mk(t, 4, osh);
            unsigned char *bb = ptm_tensor_data_mut(b);
            for (size_t i = 0; i < (size_t)ptm_tensor_numel(b) * es; i++)
                bb[i] = (unsigned char)rnd32();
            CHECK_OK(ptm_op_concat(ex, x, b, dim - 4 * (dim == 3), out)); /* dim 3 given as -1 */
            const unsigned char *ob = ptm_tensor_data(out);
            int ok = 1;
            for (int64_t oi = 0; oi < ptm_tensor_numel(out); oi++) {
                int64_t o[4], r = oi;
                for (int k = 3; k >= 0; k--) {
                    o[k] = r % osh[k];
                    r /= osh[k];
                }
                const unsigned char *src;
                if (o[dim] < sh[dim])
                    src = xb + (((o[0] * 3 + o[1]) * 5 + o[2]) * 7 + o[3]) * (int64_t)es;
                else {
                    o[dim] = 0;
                    src = bb + (((o[0] * bsh[1] + o[1]) * bsh[2] + o[2]) * bsh[3] + o[3]) * (int64_t)es;
                }
                ok &= memcmp(ob + oi * (int64_t)es, src, es) == 0;
            }
            CHECK(ok);
            ptm_tensor_release(b);
            ptm_tensor_release(out);
        }
        ptm_tensor_release(x);
    }
}

TEST(argmax)
{
    static const int64_t Ns[] = {1, 3, 17, 50257};
    for (size_t ni = 0; ni < 4; ni++) {
        int64_t N = Ns[ni], R = 5;
        ptm_tensor *x = rand_f32(2, SHAPE(R, N), -10, 10), *out = MK(PTM_I64, R);
        int64_t want[5];
        for (int64_t r = 0; r < R; r++) {
            float *xr = F(x) + r * N;
            if (r == 1) /* all equal: index 0 */
                for (int64_t i = 0; i < N; i++)
                    xr[i] = -3.0f;
            if (r == 2 && N > 2) { /* a tie: the first wins */
                xr[N / 3] = 20.0f;
                xr[N - 1] = 20.0f;
            }
            want[r] = 0;
            for (int64_t i = 1; i < N; i++)
                if (xr[i] > xr[want[r]])
                    want[r] = i;
        }
        CHECK_OK(ptm_op_argmax(ex, x, out));
        for (int64_t r = 0; r < R; r++)
            CHECK(((const int64_t *)ptm_tensor_data(out))[r] == want[r]);
        ptm_tensor_release(x);
        ptm_tensor_release(out);
    }
}

/* ------------------------------------------- backend table and odd input */

TEST(backend_table_and_errors)
{
    const ptm_backend *be = ptm_exec_backend(ex);
    void *bs = ptm_exec_backend_state(ex);
    CHECK(be && !strcmp(be->name, "cpu") && be->device_count() == 1);
    char name[256];
    CHECK_OK(be->device_name(0, name, sizeof name));
    int simd = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    CHECK(strstr(name, (portable || !simd) ? "portable" : "AVX2+FMA") != NULL && strstr(name, "thread") != NULL);
    for (int op = 0; op < PTM_OP_COUNT; op++)
        CHECK(be->supports((ptm_op)op, PTM_F32));
    /* every kernel slot (matmul .. argmax) is filled; host memory: no alloc */
    CHECK(be->ops->struct_size >= offsetof(ptm_backend_ops, argmax) + sizeof(void *));
    const char *base = (const char *)be->ops;
    for (size_t off = offsetof(ptm_backend_ops, matmul); off <= offsetof(ptm_backend_ops, argmax);
         off += sizeof(void *)) {
        void *fn;
        memcpy(&fn, base + off, sizeof fn);
        CHECK(fn != NULL);
    }
    CHECK(be->ops->alloc == NULL && be->ops->upload == NULL && be->ops->download == NULL);
    /* kernels called directly with inconsistent arguments return errors */
    ptm_tensor *a = MK(PTM_F32, 3, 4), *b = MK(PTM_F32, 5, 6), *o = MK(PTM_F32, 3, 6), *i64 = MK(PTM_I64, 3);
    CHECK_ERR(be->ops->matmul(bs, a, b, NULL, 0, o), PTM_ERR_SHAPE, "matmul");
    CHECK_ERR(be->ops->matmul(bs, a, i64, NULL, 0, o), PTM_ERR_SHAPE, "matmul");
    CHECK_ERR(be->ops->add(bs, a, b, o), PTM_ERR_SHAPE, "add");
    CHECK_ERR(be->ops->gelu(bs, i64, 0, o), PTM_ERR_DTYPE, "gelu");
    CHECK_ERR(be->ops->layer_norm(bs, a, b, NULL, 1e-5f, a), PTM_ERR_SHAPE, "layer_norm");
    CHECK_ERR(be->ops->attention(bs, a, a, a, 1, NULL, 0, 1.0f, a), PTM_ERR_SHAPE, "attention");
    ptm_tensor *q = MK(PTM_F32, 1, 2, 3, 4), *pos = MK(PTM_I64, 1, 3);
    CHECK_ERR(be->ops->attention(bs, q, q, q, 4, NULL, 0, 1.0f, q), PTM_ERR_INVALID_ARG, "kv_len");
    CHECK_ERR(be->ops->rope(bs, q, pos, 10000.0f, 3, q), PTM_ERR_INVALID_ARG, "rot_dim");
    CHECK_ERR(be->ops->transpose(bs, a, 0, 2, o), PTM_ERR_SHAPE, "transpose");
    CHECK_ERR(be->ops->argmax(bs, a, o), PTM_ERR_DTYPE, "argmax");
    CHECK_ERR(be->ops->concat(bs, a, b, 0, o), PTM_ERR_SHAPE, "concat");
    CHECK_ERR(be->ops->matmul(bs, a, b, NULL, 0, NULL), PTM_ERR_INVALID_ARG, "matmul");
    ptm_tensor_release(a);
    ptm_tensor_release(b);
    ptm_tensor_release(o);
    ptm_tensor_release(i64);
    ptm_tensor_release(q);
    ptm_tensor_release(pos);
}

int main(void)
{
    ptm_context_options co;
    ptm_context_options_init(&co);
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR "/cpu.so"};
    co.plugin_paths = paths;
    co.n_plugin_paths = 1;
    co.ignore_env = 1;
    co.skip_install_dir = 1;
    CHECK_OK(ptm_context_new(&co, &ctx));
    for (portable = 0; portable < 2; portable++) {
        if (portable)
            setenv("PTM_CPU_PORTABLE", "1", 1);
        else
            unsetenv("PTM_CPU_PORTABLE");
        ptm_exec_options eo;
        ptm_exec_options_init(&eo);
        eo.backend = "cpu";
        eo.num_threads = portable ? 3 : 2;
        ex = NULL;
        CHECK_OK(ptm_exec_new(ctx, &eo, &ex));
        if (!ex)
            return 1;
        printf("-- %s kernels\n", portable ? "portable" : "avx2 (if the CPU has it)");
        RUN(backend_table_and_errors);
        RUN(matmul_shapes_and_dtypes);
        RUN(matmul_large);
        RUN(unary_ops);
        RUN(add_mul_broadcast);
        RUN(layer_norm_rms_norm);
        RUN(softmax_mask_causal);
        RUN(embedding);
        RUN(rope);
        RUN(attention);
        RUN(kv_append_copy_fill);
        RUN(convert);
        RUN(transpose_concat);
        RUN(argmax);
        ptm_exec_free(ex);
    }
    ptm_context_free(ctx);
    return CHECK_DONE();
}
