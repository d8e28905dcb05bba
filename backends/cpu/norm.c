/* SPDX-License-Identifier: Apache-2.0 */
/* norm.c - layer_norm, rms_norm and softmax, row by row over the last dim.
 * Norm weights and biases stored as f16/bf16 are converted once per call
 * into caller scratch.  layer_norm uses two passes (mean, then the biased
 * variance of the deviations) like torch. */
#include "cpu.h"
#include "simd.h"

#include <math.h>

/* --------------------------------------------------------------- norms */

typedef struct norm_job {
    int rms, avx2;
    const float *x, *w, *b;
    float *o;
    int64_t D;
    float eps;
} norm_job;

static void norm_row_portable(const norm_job *j, const float *x, float *o)
{
    int64_t D = j->D;
    float mean = 0.0f;
    if (!j->rms) {
        double s = 0.0;
        for (int64_t i = 0; i < D; i++)
            s += x[i];
        mean = (float)(s / (double)D);
    }
    double v = 0.0;
    for (int64_t i = 0; i < D; i++) {
        double d = (double)x[i] - mean;
        v += d * d;
    }
    float r = (float)(1.0 / sqrt(v / (double)D + (double)j->eps));
    for (int64_t i = 0; i < D; i++) {
        float y = (x[i] - mean) * r;
        if (j->w)
            y *= j->w[i];
        if (j->b)
            y += j->b[i];
        o[i] = y;
    }
}

CPU_AVX2 static void norm_row_avx2(const norm_job *j, const float *x, float *o)
{
    int64_t D = j->D, i;
    float mean = 0.0f;
    if (!j->rms) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (i = 0; i + 16 <= D; i += 16) {
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
            s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
        }
        for (; i + 8 <= D; i += 8)
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        float s = v_hsum(_mm256_add_ps(s0, s1));
        for (; i < D; i++)
            s += x[i];
        mean = s / (float)D;
    }
    __m256 mv = _mm256_set1_ps(mean);
    __m256 q0 = _mm256_setzero_ps(), q1 = _mm256_setzero_ps();
    for (i = 0; i + 16 <= D; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv);
        q0 = _mm256_fmadd_ps(d0, d0, q0);
        q1 = _mm256_fmadd_ps(d1, d1, q1);
    }
    for (; i + 8 <= D; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
        q0 = _mm256_fmadd_ps(d0, d0, q0);
    }
    float q = v_hsum(_mm256_add_ps(q0, q1));
    for (; i < D; i++)
        q += (x[i] - mean) * (x[i] - mean);
    float r = 1.0f / sqrtf(q / (float)D + j->eps);
    __m256 rv = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= D; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
        if (j->w)
            y = _mm256_mul_ps(y, _mm256_loadu_ps(j->w + i));
        if (j->b)
            y = _mm256_add_ps(y, _mm256_loadu_ps(j->b + i));
        _mm256_storeu_ps(o + i, y);
    }
    for (; i < D; i++) {
        float y = (x[i] - mean) * r;
        if (j->w)
            y *= j->w[i];
        if (j->b)
            y += j->b[i];
        o[i] = y;
    }
}

static void norm_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const norm_job *j = ctx;
    (void)tid;
    for (int64_t r = beg; r < end; r++) {
        if (j->avx2)
            norm_row_avx2(j, j->x + r * j->D, j->o + r * j->D);
        else
            norm_row_portable(j, j->x + r * j->D, j->o + r * j->D);
    }
}

static ptm_status run_norm(cpu_state *st, const char *op, int rms, const ptm_tensor *x, const ptm_tensor *w,
                           const ptm_tensor *b, float eps, ptm_tensor *out)
{
    ptm_status s;
    void *o;
    norm_job j;
    if ((s = cpu_check_f32(op, "x", x)) || (s = cpu_check_f32(op, "out", out)) || (s = cpu_out_ptr(op, out, &o)) ||
        (s = cpu_same_numel(op, x, out)))
        return s;
    int64_t D = ptm_tensor_ndim(x) ? ptm_tensor_dim(x, -1) : 1;
    if (D <= 0)
        return PTM_OK;
    if ((w && ptm_tensor_numel(w) != D) || (b && ptm_tensor_numel(b) != D))
        return ptm_error(PTM_ERR_SHAPE, "cpu %s: weight/bias must have %lld elements (the last dim of x)", op,
                         (long long)D);
    if ((s = cpu_as_f32(st, w, 0, "weight", &j.w)) || (s = cpu_as_f32(st, b, 1, "bias", &j.b)))
        return ptm_error_prefix(s, "cpu %s", op);
    j.rms = rms;
    j.avx2 = st->avx2;
    j.x = ptm_tensor_data(x);
    j.o = o;
    j.D = D;
    j.eps = eps;
    int64_t rows = ptm_tensor_numel(x) / D;
    cpu_parallel_for(st, rows, cpu_grain(st, rows, (4096 + D - 1) / D, CPU_CHUNKS, 1), norm_task, &j);
    return PTM_OK;
}

ptm_status cpu_layer_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                          ptm_tensor *out)
{
    return run_norm(bs, "layer_norm", 0, x, w, b, eps, out);
}

ptm_status cpu_rms_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out)
{
    return run_norm(bs, "rms_norm", 1, x, w, NULL, eps, out);
}

/* ------------------------------------------------------------- softmax */

typedef struct softmax_job {
    int avx2, causal;
    const float *x, *mask;
    float *o;
    int64_t Tq, Tk;
    float scale;
    cpu_bcast bc;
} softmax_job;

/* o[0..n) = softmax(o[0..n)) in place; o[n..Tk) = 0.  All -inf: zeros. */
static void softmax_tail_portable(float *o, int64_t n, int64_t Tk)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = o[i] > mx ? o[i] : mx;
    if (mx == -INFINITY) {
        memset(o, 0, (size_t)Tk * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        o[i] = expf(o[i] - mx);
        sum += o[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        o[i] *= inv;
    for (int64_t i = n; i < Tk; i++)
        o[i] = 0.0f;
}

CPU_AVX2 static void softmax_tail_avx2(float *o, int64_t n, int64_t Tk)
{
    int64_t i = 0;
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8)
        m8 = _mm256_max_ps(m8, _mm256_loadu_ps(o + i));
    float mx = v_hmax(m8);
    for (; i < n; i++)
        mx = o[i] > mx ? o[i] : mx;
    if (mx == -INFINITY) {
        memset(o, 0, (size_t)Tk * sizeof(float));
        return;
    }
    __m256 mv = _mm256_set1_ps(mx), s8 = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = v_exp(_mm256_sub_ps(_mm256_loadu_ps(o + i), mv));
        s8 = _mm256_add_ps(s8, e);
        _mm256_storeu_ps(o + i, e);
    }
    float sum = v_hsum(s8);
    for (; i < n; i++) {
        o[i] = expf(o[i] - mx);
        sum += o[i];
    }
    __m256 iv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), iv));
    for (; i < n; i++)
        o[i] *= 1.0f / sum;
    for (i = n; i < Tk; i++)
        o[i] = 0.0f;
}

void cpu_softmax_row(const cpu_state *st, float *o, int64_t n, int64_t len)
{
    if (st->avx2)
        softmax_tail_avx2(o, n, len);
    else
        softmax_tail_portable(o, n, len);
}

static void softmax_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const softmax_job *j = ctx;
    (void)tid;
    int64_t Tk = j->Tk;
    for (int64_t r = beg; r < end; r++) {
        const float *x = j->x + r * Tk;
        float *o = j->o + r * Tk;
        int64_t n = Tk;
        if (j->causal) {
            int64_t qi = r % j->Tq;
            int64_t last = (Tk - j->Tq) + qi; /* keys j <= last are visible */
            n = last + 1 < 0 ? 0 : (last + 1 > Tk ? Tk : last + 1);
        }
        if (j->mask) {
            const float *m = j->mask + cpu_bcast_row(&j->bc, r);
            if (j->bc.last_stride)
                for (int64_t i = 0; i < n; i++)
                    o[i] = x[i] * j->scale + m[i];
            else
                for (int64_t i = 0; i < n; i++)
                    o[i] = x[i] * j->scale + m[0];
        } else {
            for (int64_t i = 0; i < n; i++)
                o[i] = x[i] * j->scale;
        }
        if (j->avx2)
            softmax_tail_avx2(o, n, Tk);
        else
            softmax_tail_portable(o, n, Tk);
    }
}

ptm_status cpu_softmax(void *bs, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                       ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    softmax_job j;
    memset(&j, 0, sizeof j);
    if ((s = cpu_check_f32("softmax", "x", x)) || (s = cpu_check_f32("softmax", "out", out)) ||
        (s = cpu_out_ptr("softmax", out, &o)) || (s = cpu_same_numel("softmax", x, out)))
        return s;
    int nd = ptm_tensor_ndim(x);
    int64_t Tk = nd ? ptm_tensor_dim(x, -1) : 1;
    if (Tk <= 0 || ptm_tensor_numel(x) == 0)
        return PTM_OK;
    if (mask) {
        if ((s = cpu_check_f32("softmax", "mask", mask)))
            return s;
        if (nd == 0 || ptm_tensor_numel(mask) == 0)
            return ptm_error(PTM_ERR_SHAPE, "cpu softmax: the mask does not broadcast to x");
        if ((s = cpu_bcast_init(&j.bc, "softmax", x, mask)))
            return s;
        j.mask = ptm_tensor_data(mask);
    }
    j.avx2 = st->avx2;
    j.causal = causal;
    j.x = ptm_tensor_data(x);
    j.o = o;
    j.Tk = Tk;
    j.Tq = nd >= 2 ? ptm_tensor_dim(x, -2) : 1;
    j.scale = scale;
    int64_t rows = ptm_tensor_numel(x) / Tk;
    cpu_parallel_for(st, rows, cpu_grain(st, rows, (4096 + Tk - 1) / Tk, CPU_CHUNKS, 1), softmax_task, &j);
    return PTM_OK;
}
