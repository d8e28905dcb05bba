/* SPDX-License-Identifier: Apache-2.0 */
/* elementwise.c - add, mul (with numpy-style broadcasting of b), scale,
 * gelu (erf and tanh forms), silu, relu, swiglu.  Each op splits the
 * elements (or rows, for broadcasting) across the pool; outputs may alias
 * the first input. */
#include "cpu.h"
#include "simd.h"

#include <math.h>

#define EW_GRAIN 16384 /* elements per chunk at least */

/* --------------------------------------------------------- unary kernels */

enum { U_SCALE, U_GELU_ERF, U_GELU_TANH, U_SILU, U_RELU, U_SWIGLU };

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

static void unary_portable(int kind, const float *x, const float *y, float *o, int64_t n, float p)
{
    switch (kind) {
    case U_SCALE:
        for (int64_t i = 0; i < n; i++)
            o[i] = x[i] * p;
        break;
    case U_GELU_ERF:
        for (int64_t i = 0; i < n; i++)
            o[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case U_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            o[i] = 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
        }
        break;
    case U_SILU:
        for (int64_t i = 0; i < n; i++)
            o[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case U_RELU:
        for (int64_t i = 0; i < n; i++)
            o[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case U_SWIGLU:
        for (int64_t i = 0; i < n; i++)
            o[i] = x[i] / (1.0f + expf(-x[i])) * y[i];
        break;
    }
}

CPU_INLINE CPU_AVX2 __m256 unary_vec(const int kind, __m256 v, __m256 w, __m256 p)
{
    switch (kind) {
    case U_SCALE:
        return _mm256_mul_ps(v, p);
    case U_GELU_ERF: {
        __m256 e = v_erf(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)));
        return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    }
    case U_GELU_TANH: {
        /* 0.5 x (1 + tanh(u)) == x * sigmoid(2u) */
        __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
        __m256 u = _mm256_mul_ps(_mm256_set1_ps(2.0f * SQRT_2_OVER_PI),
                                 _mm256_fmadd_ps(_mm256_set1_ps(GELU_C), v3, v));
        return v_mul_sigmoid(v, u);
    }
    case U_SILU:
        return v_mul_sigmoid(v, v);
    case U_RELU:
        return _mm256_max_ps(v, _mm256_setzero_ps());
    default: /* U_SWIGLU */
        return _mm256_mul_ps(v_mul_sigmoid(v, v), w);
    }
}

CPU_INLINE CPU_AVX2 void unary_avx2_t(const int kind, const float *x, const float *y, float *o, int64_t n, float p)
{
    __m256 pv = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 w = kind == U_SWIGLU ? _mm256_loadu_ps(y + i) : pv;
        _mm256_storeu_ps(o + i, unary_vec(kind, _mm256_loadu_ps(x + i), w, pv));
    }
    if (i < n) {
        float bx[8] = {0}, by[8] = {0}, bo[8];
        memcpy(bx, x + i, (size_t)(n - i) * sizeof(float));
        if (kind == U_SWIGLU)
            memcpy(by, y + i, (size_t)(n - i) * sizeof(float));
        __m256 w = kind == U_SWIGLU ? _mm256_loadu_ps(by) : pv;
        _mm256_storeu_ps(bo, unary_vec(kind, _mm256_loadu_ps(bx), w, pv));
        memcpy(o + i, bo, (size_t)(n - i) * sizeof(float));
    }
}

CPU_AVX2 static void unary_avx2(int kind, const float *x, const float *y, float *o, int64_t n, float p)
{
    switch (kind) {
    case U_SCALE: unary_avx2_t(U_SCALE, x, y, o, n, p); break;
    case U_GELU_ERF: unary_avx2_t(U_GELU_ERF, x, y, o, n, p); break;
    case U_GELU_TANH: unary_avx2_t(U_GELU_TANH, x, y, o, n, p); break;
    case U_SILU: unary_avx2_t(U_SILU, x, y, o, n, p); break;
    case U_RELU: unary_avx2_t(U_RELU, x, y, o, n, p); break;
    default: unary_avx2_t(U_SWIGLU, x, y, o, n, p); break;
    }
}

typedef struct unary_job {
    int kind, avx2;
    const float *x, *y;
    float *o;
    float p;
} unary_job;

static void unary_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const unary_job *j = ctx;
    (void)tid;
    const float *y = j->y ? j->y + b : NULL;
    if (j->avx2)
        unary_avx2(j->kind, j->x + b, y, j->o + b, e - b, j->p);
    else
        unary_portable(j->kind, j->x + b, y, j->o + b, e - b, j->p);
}

static ptm_status run_unary(void *bs, const char *op, int kind, const ptm_tensor *a, const ptm_tensor *b, float p,
                            ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    if ((s = cpu_check_f32(op, "input", a)) || (b && (s = cpu_check_f32(op, "up", b))) ||
        (s = cpu_check_f32(op, "out", out)) || (s = cpu_out_ptr(op, out, &o)) || (s = cpu_same_numel(op, a, out)) ||
        (b && (s = cpu_same_numel(op, b, out))))
        return s;
    unary_job j = {kind, st->avx2, ptm_tensor_data(a), b ? ptm_tensor_data(b) : NULL, o, p};
    int64_t n = ptm_tensor_numel(a);
    cpu_parallel_for(st, n, cpu_grain(st, n, EW_GRAIN, CPU_CHUNKS, 64), unary_task, &j);
    return PTM_OK;
}

ptm_status cpu_scale(void *bs, const ptm_tensor *a, float s, ptm_tensor *out)
{
    return run_unary(bs, "scale", U_SCALE, a, NULL, s, out);
}

ptm_status cpu_gelu(void *bs, const ptm_tensor *a, int tanh_approx, ptm_tensor *out)
{
    return run_unary(bs, "gelu", tanh_approx ? U_GELU_TANH : U_GELU_ERF, a, NULL, 0, out);
}

ptm_status cpu_silu(void *bs, const ptm_tensor *a, ptm_tensor *out) { return run_unary(bs, "silu", U_SILU, a, NULL, 0, out); }

ptm_status cpu_relu(void *bs, const ptm_tensor *a, ptm_tensor *out) { return run_unary(bs, "relu", U_RELU, a, NULL, 0, out); }

ptm_status cpu_swiglu(void *bs, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out)
{
    return run_unary(bs, "swiglu", U_SWIGLU, gate, up, 0, out);
}

/* -------------------------------------------------------- binary kernels */

/* o[i] = a[i] op b[i * bstride] over n elements (bstride 1 or 0). */
static void binary_portable(int mul, const float *a, const float *b, int64_t bstride, float *o, int64_t n)
{
    if (bstride) {
        if (mul)
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i] * b[i];
        else
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i] + b[i];
    } else {
        float c = b[0];
        if (mul)
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i] * c;
        else
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i] + c;
    }
}

CPU_AVX2 static void binary_avx2(int mul, const float *a, const float *b, int64_t bstride, float *o, int64_t n)
{
    int64_t i = 0;
    if (bstride) {
        if (mul)
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
        else
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
        for (; i < n; i++)
            o[i] = mul ? a[i] * b[i] : a[i] + b[i];
    } else {
        __m256 c = _mm256_set1_ps(b[0]);
        if (mul)
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), c));
        else
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(a + i), c));
        for (; i < n; i++)
            o[i] = mul ? a[i] * b[0] : a[i] + b[0];
    }
}

typedef struct binary_job {
    int mul, avx2;
    const float *a, *b;
    float *o;
    cpu_bcast bc;
} binary_job;

/* Items are elements; a chunk walks the rows it covers. */
static void binary_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const binary_job *j = ctx;
    (void)tid;
    int64_t D = j->bc.row_len;
    int64_t i = beg;
    while (i < end) {
        int64_t row = i / D, col = i % D;
        int64_t len = D - col < end - i ? D - col : end - i;
        int64_t ls = j->bc.last_stride;
        const float *b = j->b + cpu_bcast_row(&j->bc, row) + col * ls;
        if (j->avx2)
            binary_avx2(j->mul, j->a + i, b, ls, j->o + i, len);
        else
            binary_portable(j->mul, j->a + i, b, ls, j->o + i, len);
        i += len;
    }
}

static ptm_status run_binary(void *bs, const char *op, int mul, const ptm_tensor *a, const ptm_tensor *b,
                             ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    binary_job j;
    if ((s = cpu_check_f32(op, "a", a)) || (s = cpu_check_f32(op, "out", out)) || (s = cpu_out_ptr(op, out, &o)) ||
        (s = cpu_same_numel(op, a, out)))
        return s;
    if (!b)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu %s: b is NULL", op);
    if ((s = cpu_as_f32(st, b, 0, "b", &j.b)))
        return ptm_error_prefix(s, "cpu %s", op);
    int64_t n = ptm_tensor_numel(a);
    if (n == 0)
        return PTM_OK;
    if (ptm_tensor_ndim(a) == 0) { /* scalar a: b must be a single element */
        if (ptm_tensor_numel(b) != 1)
            return ptm_error(PTM_ERR_SHAPE, "cpu %s: b does not broadcast to a scalar", op);
        float *of = o;
        const float *af = ptm_tensor_data(a);
        of[0] = mul ? af[0] * j.b[0] : af[0] + j.b[0];
        return PTM_OK;
    }
    if ((s = cpu_bcast_init(&j.bc, op, a, b)))
        return s;
    if (ptm_tensor_numel(b) == 0)
        return ptm_error(PTM_ERR_SHAPE, "cpu %s: b is empty", op);
    j.mul = mul;
    j.avx2 = st->avx2;
    j.a = ptm_tensor_data(a);
    j.o = o;
    cpu_parallel_for(st, n, cpu_grain(st, n, EW_GRAIN, CPU_CHUNKS, 64), binary_task, &j);
    return PTM_OK;
}

ptm_status cpu_add(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    return run_binary(bs, "add", 0, a, b, out);
}

ptm_status cpu_mul(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    return run_binary(bs, "mul", 1, a, b, out);
}
