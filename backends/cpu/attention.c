/* SPDX-License-Identifier: Apache-2.0 */
/* attention.c - fused scaled dot-product attention and rotary embeddings.
 *
 * attention: with few queries (decode) one task item per (batch, query head,
 * query row); the row's scores go to the thread's scratch (two-pass
 * softmax: scores and max, then exp and sum), then the weighted sum of V
 * rows accumulates in scratch and is scaled into out.  With Tq >= 16
 * (prefill) a task takes 64 query rows of one head: S = q k^T by sgemm (only
 * the keys the block's last row sees), mask, causal limit and softmax per
 * row, out = P v by sgemm.  Grouped heads read kv head h / (Hq / Hkv).
 *
 * rope: cos/sin tables for every (batch, position) are built first, in f32
 * exactly as transformers computes them (inv_freq = 1 / theta^(2i/rot_dim)
 * in f32, angle = pos * inv_freq in f32), then applied to every head. */
#include "cpu.h"
#include "simd.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

/* Tq at or above which a task takes a block of ATTN_QB queries of one head
 * through sgemm (S = q k^T, softmax rows, out = P v) instead of row by row. */
#define ATTN_GEMM_MIN 16
#define ATTN_QB 64

typedef struct attn_job {
    const float *q, *k, *v, *mask;
    float *o;
    int64_t Hq, Hkv, Tq, Tk, D, kv_len, mask_stride, sbuf, qblocks;
    int causal, avx2;
    float scale;
    cpu_state *st;
} attn_job;

static void attn_row_portable(const attn_job *j, const float *q, const float *k, const float *v, const float *mask,
                              int64_t n, float *s, float *acc, float *o)
{
    int64_t D = j->D;
    float mx = -INFINITY;
    for (int64_t t = 0; t < n; t++) {
        const float *kr = k + t * D;
        float d = 0.0f;
        for (int64_t i = 0; i < D; i++)
            d += q[i] * kr[i];
        d = d * j->scale + (mask ? mask[t] : 0.0f);
        s[t] = d;
        mx = d > mx ? d : mx;
    }
    if (n == 0 || mx == -INFINITY) {
        memset(o, 0, (size_t)D * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int64_t t = 0; t < n; t++) {
        s[t] = expf(s[t] - mx);
        sum += s[t];
    }
    memset(acc, 0, (size_t)D * sizeof(float));
    for (int64_t t = 0; t < n; t++) {
        const float *vr = v + t * D;
        float p = s[t];
        for (int64_t i = 0; i < D; i++)
            acc[i] += p * vr[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < D; i++)
        o[i] = acc[i] * inv;
}

CPU_AVX2 static void attn_row_avx2(const attn_job *j, const float *q, const float *k, const float *v,
                                   const float *mask, int64_t n, float *s, float *acc, float *o)
{
    int64_t D = j->D, Dv = D & ~(int64_t)7;
    float mx = -INFINITY;
    for (int64_t t = 0; t < n; t++) {
        const float *kr = k + t * D;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= D; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kr + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kr + i + 8), a1);
        }
        for (; i < Dv; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kr + i), a0);
        float d = v_hsum(_mm256_add_ps(a0, a1));
        for (; i < D; i++)
            d += q[i] * kr[i];
        d = d * j->scale + (mask ? mask[t] : 0.0f);
        s[t] = d;
        mx = d > mx ? d : mx;
    }
    if (n == 0 || mx == -INFINITY) {
        memset(o, 0, (size_t)D * sizeof(float));
        return;
    }
    __m256 mv = _mm256_set1_ps(mx), s8 = _mm256_setzero_ps();
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        __m256 e = v_exp(_mm256_sub_ps(_mm256_loadu_ps(s + t), mv));
        s8 = _mm256_add_ps(s8, e);
        _mm256_storeu_ps(s + t, e);
    }
    float sum = v_hsum(s8);
    for (; t < n; t++) {
        s[t] = expf(s[t] - mx);
        sum += s[t];
    }
    memset(acc, 0, (size_t)D * sizeof(float));
    for (t = 0; t < n; t++) {
        const float *vr = v + t * D;
        __m256 p = _mm256_set1_ps(s[t]);
        int64_t i = 0;
        for (; i < Dv; i += 8)
            _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + i), _mm256_loadu_ps(acc + i)));
        for (; i < D; i++)
            acc[i] += s[t] * vr[i];
    }
    float inv = 1.0f / sum;
    __m256 iv = _mm256_set1_ps(inv);
    int64_t i = 0;
    for (; i < Dv; i += 8)
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(acc + i), iv));
    for (; i < D; i++)
        o[i] = acc[i] * inv;
}

/* Query rows [i0, i1) of head (b, h): scores for the keys the last row
 * sees, through sgemm; per-row mask, causal limit and softmax; out = P v. */
static void attn_block(const attn_job *j, int64_t b, int64_t h, int64_t i0, int64_t i1, float *s)
{
    int64_t D = j->D, kv = j->kv_len, nq = i1 - i0, nmax = kv;
    if (j->causal) {
        int64_t last = (kv - j->Tq) + (i1 - 1);
        nmax = last + 1 < 0 ? 0 : (last + 1 < kv ? last + 1 : kv);
    }
    int64_t kvoff = (b * j->Hkv + h / (j->Hq / j->Hkv)) * j->Tk * D;
    const float *q = j->q + ((b * j->Hq + h) * j->Tq + i0) * D;
    float *o = j->o + ((b * j->Hq + h) * j->Tq + i0) * D;
    if (nmax == 0) {
        memset(o, 0, (size_t)(nq * D) * sizeof(float));
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nmax, (int)D, j->scale, q, (int)D,
                j->k + kvoff, (int)D, 0.0f, s, (int)nmax);
    const float *mask = j->mask ? j->mask + b * j->mask_stride : NULL;
    for (int64_t r = 0; r < nq; r++) {
        float *sr = s + r * nmax;
        int64_t n = nmax;
        if (j->causal) {
            int64_t last = (kv - j->Tq) + i0 + r;
            n = last + 1 < 0 ? 0 : (last + 1 < nmax ? last + 1 : nmax);
        }
        if (mask)
            for (int64_t t = 0; t < n; t++)
                sr[t] += mask[t];
        cpu_softmax_row(j->st, sr, n, nmax);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)D, (int)nmax, 1.0f, s, (int)nmax,
                j->v + kvoff, (int)D, 0.0f, o, (int)D);
}

static void attn_block_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const attn_job *j = ctx;
    float *s = cpu_thr(j->st, tid);
    for (int64_t t = beg; t < end; t++) {
        int64_t qb = t % j->qblocks, bh = t / j->qblocks;
        int64_t i0 = qb * ATTN_QB, i1 = i0 + ATTN_QB < j->Tq ? i0 + ATTN_QB : j->Tq;
        attn_block(j, bh / j->Hq, bh % j->Hq, i0, i1, s);
    }
}

static void attn_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const attn_job *j = ctx;
    float *s = cpu_thr(j->st, tid), *acc = s + j->sbuf;
    int64_t group = j->Hq / j->Hkv;
    for (int64_t r = beg; r < end; r++) {
        int64_t qi = r % j->Tq, bh = r / j->Tq;
        int64_t h = bh % j->Hq, b = bh / j->Hq;
        int64_t n = j->kv_len;
        if (j->causal) {
            int64_t last = (j->kv_len - j->Tq) + qi;
            n = last + 1 < 0 ? 0 : (last + 1 < n ? last + 1 : n);
        }
        int64_t kvoff = (b * j->Hkv + h / group) * j->Tk * j->D;
        const float *mask = j->mask ? j->mask + b * j->mask_stride : NULL;
        const float *q = j->q + r * j->D;
        float *o = j->o + r * j->D;
        if (j->avx2)
            attn_row_avx2(j, q, j->k + kvoff, j->v + kvoff, mask, n, s, acc, o);
        else
            attn_row_portable(j, q, j->k + kvoff, j->v + kvoff, mask, n, s, acc, o);
    }
}

ptm_status cpu_attention(void *bs, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v, int64_t kv_len,
                         const ptm_tensor *mask, int causal, float scale, ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    attn_job j;
    memset(&j, 0, sizeof j);
    if ((s = cpu_check_f32("attention", "q", q)) || (s = cpu_check_f32("attention", "k", k)) ||
        (s = cpu_check_f32("attention", "v", v)) || (s = cpu_check_f32("attention", "out", out)) ||
        (s = cpu_out_ptr("attention", out, &o)) || (s = cpu_same_numel("attention", q, out)))
        return s;
    if (ptm_tensor_ndim(q) != 4 || ptm_tensor_ndim(k) != 4 || ptm_tensor_ndim(v) != 4)
        return ptm_error(PTM_ERR_SHAPE, "cpu attention: q, k and v must be 4-d [B, H, T, D]");
    int64_t B = ptm_tensor_dim(q, 0);
    j.Hq = ptm_tensor_dim(q, 1);
    j.Tq = ptm_tensor_dim(q, 2);
    j.D = ptm_tensor_dim(q, 3);
    j.Hkv = ptm_tensor_dim(k, 1);
    j.Tk = ptm_tensor_dim(k, 2);
    for (int d = 0; d < 4; d++)
        if (ptm_tensor_dim(k, d) != ptm_tensor_dim(v, d))
            return ptm_error(PTM_ERR_SHAPE, "cpu attention: k and v shapes differ");
    if (ptm_tensor_dim(k, 0) != B || ptm_tensor_dim(k, 3) != j.D || j.Hkv <= 0 || j.Hq % j.Hkv != 0)
        return ptm_error(PTM_ERR_SHAPE, "cpu attention: k/v [%lld, %lld, %lld, %lld] do not fit q [%lld, %lld, "
                         "%lld, %lld] (Hq must be a multiple of Hkv)",
                         (long long)ptm_tensor_dim(k, 0), (long long)j.Hkv, (long long)j.Tk,
                         (long long)ptm_tensor_dim(k, 3), (long long)B, (long long)j.Hq, (long long)j.Tq,
                         (long long)j.D);
    if (kv_len < 0 || kv_len > j.Tk)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu attention: kv_len %lld outside [0, %lld]", (long long)kv_len,
                         (long long)j.Tk);
    if (mask) {
        if ((s = cpu_check_f32("attention", "mask", mask)))
            return s;
        j.mask_stride = ptm_tensor_ndim(mask) ? ptm_tensor_dim(mask, -1) : 1;
        if (j.mask_stride < kv_len || ptm_tensor_numel(mask) != B * j.mask_stride)
            return ptm_error(PTM_ERR_SHAPE, "cpu attention: mask must be [B, kv_len] = [%lld, %lld]",
                             (long long)B, (long long)kv_len);
        j.mask = ptm_tensor_data(mask);
    }
    int64_t rows = B * j.Hq * j.Tq;
    if (rows == 0 || j.D == 0)
        return PTM_OK;
    int gemm = st->blas_in_pool && j.Tq >= ATTN_GEMM_MIN && kv_len > 0 && kv_len <= INT_MAX && j.D <= INT_MAX;
    j.sbuf = (kv_len + 15) & ~(int64_t)15;
    size_t need = gemm ? (size_t)(ATTN_QB * kv_len) : (size_t)(j.sbuf + j.D);
    if ((s = cpu_thread_scratch(st, need * sizeof(float))))
        return s;
    j.q = ptm_tensor_data(q);
    j.k = ptm_tensor_data(k);
    j.v = ptm_tensor_data(v);
    j.o = o;
    j.kv_len = kv_len;
    j.causal = causal;
    j.scale = scale;
    j.avx2 = st->avx2;
    j.st = st;
    if (gemm) {
        j.qblocks = (j.Tq + ATTN_QB - 1) / ATTN_QB;
        int64_t tasks = B * j.Hq * j.qblocks;
        cpu_parallel_for(st, tasks, 1, attn_block_task, &j);
        return PTM_OK;
    }
    /* rows differ in cost under causal masking: several chunks per thread */
    int64_t min_rows = (16384 + kv_len * j.D) / (kv_len * j.D + 1);
    cpu_parallel_for(st, rows, cpu_grain(st, rows, min_rows, CPU_CHUNKS, 1), attn_task, &j);
    return PTM_OK;
}

/* ----------------------------------------------------------------- rope */

typedef struct rope_job {
    const float *x;
    float *o, *cos, *sin, *inv;
    const void *pos;
    int pos64;
    int64_t H, T, D, half;
    float theta;
    cpu_state *st;
} rope_job;

static void rope_table_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const rope_job *j = ctx;
    (void)tid;
    for (int64_t r = beg; r < end; r++) {
        int64_t p = j->pos64 ? ((const int64_t *)j->pos)[r] : ((const int32_t *)j->pos)[r];
        float pf = (float)p;
        for (int64_t i = 0; i < j->half; i++) {
            float ang = pf * j->inv[i];
            j->cos[r * j->half + i] = cosf(ang);
            j->sin[r * j->half + i] = sinf(ang);
        }
    }
}

static void rope_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const rope_job *j = ctx;
    (void)tid;
    int64_t half = j->half;
    for (int64_t r = beg; r < end; r++) {
        int64_t t = r % j->T, b = r / (j->H * j->T);
        const float *c = j->cos + (b * j->T + t) * half, *s = j->sin + (b * j->T + t) * half;
        const float *x = j->x + r * j->D;
        float *o = j->o + r * j->D;
        for (int64_t i = 0; i < half; i++) {
            float x1 = x[i], x2 = x[i + half];
            o[i] = x1 * c[i] - x2 * s[i];
            o[i + half] = x2 * c[i] + x1 * s[i];
        }
        if (o != x)
            memcpy(o + 2 * half, x + 2 * half, (size_t)(j->D - 2 * half) * sizeof(float));
    }
}

ptm_status cpu_rope(void *bs, const ptm_tensor *x, const ptm_tensor *positions, float theta, int rot_dim,
                    ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    rope_job j;
    memset(&j, 0, sizeof j);
    if ((s = cpu_check_f32("rope", "x", x)) || (s = cpu_check_f32("rope", "out", out)) ||
        (s = cpu_out_ptr("rope", out, &o)) || (s = cpu_same_numel("rope", x, out)))
        return s;
    if (ptm_tensor_ndim(x) != 4)
        return ptm_error(PTM_ERR_SHAPE, "cpu rope: x must be [B, heads, T, head_dim]");
    int64_t B = ptm_tensor_dim(x, 0);
    j.H = ptm_tensor_dim(x, 1);
    j.T = ptm_tensor_dim(x, 2);
    j.D = ptm_tensor_dim(x, 3);
    if ((s = cpu_check_host("rope", "positions", positions)))
        return s;
    if (ptm_tensor_dtype(positions) != PTM_I64 && ptm_tensor_dtype(positions) != PTM_I32)
        return ptm_error(PTM_ERR_DTYPE, "cpu rope: positions must be I64");
    if (ptm_tensor_numel(positions) != B * j.T)
        return ptm_error(PTM_ERR_SHAPE, "cpu rope: positions must be [B, T] = [%lld, %lld]", (long long)B,
                         (long long)j.T);
    if (rot_dim <= 0 || rot_dim % 2 || rot_dim > j.D)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu rope: rot_dim %d must be even and in (0, %lld]", rot_dim,
                         (long long)j.D);
    if (!(theta > 0.0f))
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu rope: theta must be positive");
    int64_t rows = B * j.H * j.T, prow = B * j.T;
    if (rows == 0)
        return PTM_OK;
    j.half = rot_dim / 2;
    void *tc, *ts, *ti;
    if ((s = cpu_tmp(st, 0, (size_t)j.half * sizeof(float), &ti)) ||
        (s = cpu_tmp(st, 2, (size_t)(prow * j.half) * sizeof(float), &tc)) ||
        (s = cpu_tmp(st, 3, (size_t)(prow * j.half) * sizeof(float), &ts)))
        return s;
    j.x = ptm_tensor_data(x);
    j.o = o;
    j.cos = tc;
    j.sin = ts;
    j.inv = ti;
    for (int64_t i = 0; i < j.half; i++)
        j.inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)rot_dim);
    j.pos = ptm_tensor_data(positions);
    j.pos64 = ptm_tensor_dtype(positions) == PTM_I64;
    j.theta = theta;
    j.st = st;
    cpu_parallel_for(st, prow, cpu_grain(st, prow, (256 + j.half) / (j.half + 1), CPU_CHUNKS, 1), rope_table_task, &j);
    cpu_parallel_for(st, rows, cpu_grain(st, rows, (8192 + j.D) / (j.D + 1), CPU_CHUNKS, 1), rope_task, &j);
    return PTM_OK;
}
