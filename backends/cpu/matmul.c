/* SPDX-License-Identifier: Apache-2.0 */
/* matmul.c - out[..., M, N] = a[..., M, K] @ b (+ bias), b [K, N] or
 * (trans_b) [N, K], shared or batched, stored as f32, f16 or bf16.
 *
 * Work is cut into tasks (batch entry, rows [m0, m1), columns [n0, n1)),
 * a few per thread, claimed dynamically from the pool.  OpenBLAS runs
 * single-threaded inside each task (plugin.c sets openblas_set_num_threads
 * (1)), so there is one set of threads and no oversubscription.  With an
 * OpenBLAS build that must not be called from several threads (plugin.c),
 * the sgemm tasks run one after another on the calling thread.
 *   - M <= SMALL_M = 4 (decode): our own kernels read b directly in its
 *     storage dtype (bf16 -> f32 is a shift, f16 goes through F16C), split
 *     over N, so a step runs at memory bandwidth without converting the
 *     weights.  Up to SMALL_TILED_M = 16 rows the same kernels run on groups
 *     of 4 rows over L2-sized column blocks: at M = 8 and 16 that was 1.1x
 *     to 2x faster than converting panels for sgemm (or sgemm on f32).
 *   - f32 b, larger M: cblas_sgemm on each task's block.
 *   - f16/bf16 b, larger M: each task converts panels of PANEL_N columns of
 *     b into its thread scratch and calls sgemm on the panel. */
#include "cpu.h"
#include "simd.h"

#include <cblas.h>
#include <limits.h>

#define SMALL_M 4
#ifndef SMALL_TILED_M
#define SMALL_TILED_M 16 /* up to this M the small kernels run in groups of 4 rows */
#endif
#define PANEL_N 256  /* columns per converted panel */
#define AXPY_COLS 512 /* column block of the [K, N] small-M kernel */
#define TASKS_PER_THREAD 4

typedef struct mm_job {
    const float *a;      /* [batch, M, K] */
    const void *b;       /* [bbatch, K, N] or [bbatch, N, K] */
    ptm_dtype bdt;
    const float *bias;   /* [N] or NULL */
    float *out;          /* [batch, M, N] */
    int64_t M, N, K;
    int64_t b_batch_stride; /* elements, 0 for a shared b */
    int trans_b, avx2;
    int tiled;           /* M <= SMALL_TILED_M goes to the small kernels */
    int64_t mt, nt;      /* row and column tiles per batch entry */
    int64_t mchunk, nchunk;
    cpu_state *st;
} mm_job;

/* ------------------------------------------------ small-M kernels (AVX2) */

/* b [N, K]: out[m, n] = dot(a[m, :], b[n, :]) for one row n of b, M rows
 * of a.  One row of b at a time, so the weights are read as one sequential
 * stream (several rows at once gave the prefetchers several short streams:
 * bf16 LM head 8.7 -> 20.3 GB/s on one core); U independent accumulators
 * along K per row of a hide the FMA latency. */
CPU_INLINE CPU_AVX2 void dot_rows(const int M, const int dt, const float *a, int64_t lda, const void *b, int64_t K,
                                  int64_t n, float *out, int64_t ldo, const float *bias)
{
    enum { UMAX = 4 };
    const int U = M <= 3 ? 4 : 3;
    __m256 acc[UMAX][4];
    for (int u = 0; u < U; u++)
        for (int m = 0; m < M; m++)
            acc[u][m] = _mm256_setzero_ps();
    int64_t k = 0, row = n * K;
    for (; k + 8 * U <= K; k += 8 * U)
        for (int u = 0; u < U; u++) {
            __m256 bv = v_load(b, row + k + 8 * u, dt);
            for (int m = 0; m < M; m++)
                acc[u][m] = _mm256_fmadd_ps(_mm256_loadu_ps(a + m * lda + k + 8 * u), bv, acc[u][m]);
        }
    for (; k + 8 <= K; k += 8) {
        __m256 bv = v_load(b, row + k, dt);
        for (int m = 0; m < M; m++)
            acc[0][m] = _mm256_fmadd_ps(_mm256_loadu_ps(a + m * lda + k), bv, acc[0][m]);
    }
    for (int m = 0; m < M; m++) {
        __m256 t = acc[0][m];
        for (int u = 1; u < U; u++)
            t = _mm256_add_ps(t, acc[u][m]);
        float s = v_hsum(t);
        for (int64_t kk = k; kk < K; kk++)
            s += a[m * lda + kk] * v_load1(b, row + kk, dt);
        out[m * ldo + n] = s + (bias ? bias[n] : 0.0f);
    }
}

CPU_INLINE CPU_AVX2 void small_nk(const int M, const int dt, const float *a, int64_t lda, const void *b, int64_t K,
                                  int64_t n0, int64_t n1, float *out, int64_t ldo, const float *bias)
{
    for (int64_t n = n0; n < n1; n++)
        dot_rows(M, dt, a, lda, b, K, n, out, ldo, bias);
}

/* b [K, N], M <= 4 (decode): part[m, 0:N] = sum_{k in [k0, k1)} a[m, k]
 * b[k, :].  Whole rows of b are walked one after another, a single
 * sequential stream (4 rows x 512-column blocks at once ran at 0.6-0.7 of
 * the one-stream speed); the partial sums stay in L1/L2. */
CPU_INLINE CPU_AVX2 void kn_rows(const int M, const int dt, const float *a, int64_t lda, const void *b, int64_t N,
                                 int64_t k0, int64_t k1, float *part, int64_t ldp)
{
    int64_t nv4 = N & ~(int64_t)31, nv = N & ~(int64_t)7;
    for (int m = 0; m < M; m++)
        memset(part + m * ldp, 0, (size_t)N * sizeof(float));
    for (int64_t k = k0; k < k1; k++) {
        const int64_t row = k * N;
        __m256 av[4];
        for (int m = 0; m < M; m++)
            av[m] = _mm256_broadcast_ss(a + m * lda + k);
        int64_t c = 0;
        for (; c < nv4; c += 32) {
            __m256 b0 = v_load(b, row + c, dt), b1 = v_load(b, row + c + 8, dt);
            __m256 b2 = v_load(b, row + c + 16, dt), b3 = v_load(b, row + c + 24, dt);
            for (int m = 0; m < M; m++) {
                float *p = part + m * ldp + c;
                _mm256_store_ps(p, _mm256_fmadd_ps(av[m], b0, _mm256_load_ps(p)));
                _mm256_store_ps(p + 8, _mm256_fmadd_ps(av[m], b1, _mm256_load_ps(p + 8)));
                _mm256_store_ps(p + 16, _mm256_fmadd_ps(av[m], b2, _mm256_load_ps(p + 16)));
                _mm256_store_ps(p + 24, _mm256_fmadd_ps(av[m], b3, _mm256_load_ps(p + 24)));
            }
        }
        for (; c < nv; c += 8) {
            __m256 b0 = v_load(b, row + c, dt);
            for (int m = 0; m < M; m++) {
                float *p = part + m * ldp + c;
                _mm256_store_ps(p, _mm256_fmadd_ps(av[m], b0, _mm256_load_ps(p)));
            }
        }
        for (; c < N; c++) {
            float bval = v_load1(b, row + c, dt);
            for (int m = 0; m < M; m++)
                part[m * ldp + c] += a[m * lda + k] * bval;
        }
    }
}

CPU_AVX2 static void kn_rows_dispatch(int M, int dt, const float *a, int64_t lda, const void *b, int64_t N,
                                      int64_t k0, int64_t k1, float *part, int64_t ldp)
{
#define KN_CASE(M_, DT_)                                                                                             \
    if (M == M_ && dt == DT_) {                                                                                      \
        kn_rows(M_, DT_, a, lda, b, N, k0, k1, part, ldp);                                                           \
        return;                                                                                                      \
    }
#define KN_CASES(DT_) KN_CASE(1, DT_) KN_CASE(2, DT_) KN_CASE(3, DT_) KN_CASE(4, DT_)
    KN_CASES(PTM_F32)
    KN_CASES(PTM_BF16)
    KN_CASES(PTM_F16)
#undef KN_CASES
#undef KN_CASE
}

/* b [K, N]: out[m, c0:c1] = bias + sum_k a[m, k] b[k, c0:c1].  For each
 * block of KB rows of b, every 8-column vector of the accumulator is loaded
 * once, takes KB * M FMAs in registers and is stored once; the KB rows of b
 * stream contiguously across the column block.  The accumulator is a stack
 * buffer placed half a page away from b's rows (mod 4 KiB): accumulating in
 * `out` directly, whose address matched b's mod 4 KiB, made every store
 * alias the next loads of b (4K aliasing) and halved the speed at N = 3072.
 * KB = 4: rows of b with a 4 KiB-multiple stride share an L1 set; KB = 8 was
 * slower. */
#define ACC_LD (AXPY_COLS + 32) /* accumulator row stride: rows 128 B apart mod 4 KiB */
CPU_INLINE CPU_AVX2 void small_kn(const int M, const int dt, const float *a, int64_t lda, const void *b, int64_t K,
                                  int64_t N, int64_t n0, int64_t n1, float *out, int64_t ldo, const float *bias)
{
    enum { KB = 4 };
    float buf[4 * ACC_LD + 1024 + 16] __attribute__((aligned(64)));
    size_t es = dt == PTM_F32 ? 4 : 2;
    for (int64_t c0 = n0; c0 < n1; c0 += AXPY_COLS) {
        int64_t c1 = c0 + AXPY_COLS < n1 ? c0 + AXPY_COLS : n1, w = c1 - c0;
        int64_t wv = w & ~(int64_t)7; /* vector part [0, wv) */
        uintptr_t bpos = ((uintptr_t)b + (uintptr_t)c0 * es) & 4095, apos = (uintptr_t)buf & 4095;
        float *acc0 = buf + ((((bpos + 2048 - apos) & 4095) >> 2) & ~(uintptr_t)7); /* 32 B aligned */
        for (int m = 0; m < M; m++)
            for (int64_t c = 0; c < w; c++)
                acc0[m * ACC_LD + c] = bias ? bias[c0 + c] : 0.0f;
        int64_t k = 0;
        for (; k + KB <= K; k += KB) {
            for (int64_t c = 0; c < wv; c += 8) {
                __m256 acc[4];
                for (int m = 0; m < M; m++)
                    acc[m] = _mm256_load_ps(acc0 + m * ACC_LD + c);
                for (int u = 0; u < KB; u++) {
                    __m256 bv = v_load(b, (k + u) * N + c0 + c, dt);
                    for (int m = 0; m < M; m++)
                        acc[m] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + m * lda + k + u), bv, acc[m]);
                }
                for (int m = 0; m < M; m++)
                    _mm256_store_ps(acc0 + m * ACC_LD + c, acc[m]);
            }
            for (int64_t c = wv; c < w; c++)
                for (int u = 0; u < KB; u++) {
                    float bval = v_load1(b, (k + u) * N + c0 + c, dt);
                    for (int m = 0; m < M; m++)
                        acc0[m * ACC_LD + c] += a[m * lda + k + u] * bval;
                }
        }
        for (; k < K; k++)
            for (int64_t c = 0; c < w; c++) {
                float bval = v_load1(b, k * N + c0 + c, dt);
                for (int m = 0; m < M; m++)
                    acc0[m * ACC_LD + c] += a[m * lda + k] * bval;
            }
        for (int m = 0; m < M; m++)
            memcpy(out + m * ldo + c0, acc0 + m * ACC_LD, (size_t)w * sizeof(float));
    }
}

typedef void (*small_fn)(const float *a, int64_t lda, const void *b, int64_t K, int64_t N, int64_t n0, int64_t n1,
                         float *out, int64_t ldo, const float *bias);

#define SMALL_INST(M_, DT_, NAME_)                                                                                   \
    CPU_AVX2 static void NAME_##_nk(const float *a, int64_t lda, const void *b, int64_t K, int64_t N, int64_t n0,   \
                                    int64_t n1, float *out, int64_t ldo, const float *bias)                         \
    {                                                                                                                \
        (void)N;                                                                                                     \
        small_nk(M_, DT_, a, lda, b, K, n0, n1, out, ldo, bias);                                                     \
    }                                                                                                                \
    CPU_AVX2 static void NAME_##_kn(const float *a, int64_t lda, const void *b, int64_t K, int64_t N, int64_t n0,   \
                                    int64_t n1, float *out, int64_t ldo, const float *bias)                         \
    {                                                                                                                \
        small_kn(M_, DT_, a, lda, b, K, N, n0, n1, out, ldo, bias);                                                  \
    }
#define SMALL_INST_DT(DT_, TAG_)                                                                                     \
    SMALL_INST(1, DT_, s1_##TAG_)                                                                                    \
    SMALL_INST(2, DT_, s2_##TAG_)                                                                                    \
    SMALL_INST(3, DT_, s3_##TAG_)                                                                                    \
    SMALL_INST(4, DT_, s4_##TAG_)

SMALL_INST_DT(PTM_F32, f32)
SMALL_INST_DT(PTM_BF16, bf16)
SMALL_INST_DT(PTM_F16, f16)

/* [dtype index: f32, bf16, f16][trans_b][M - 1] */
static const small_fn small_table[3][2][4] = {
    {{s1_f32_kn, s2_f32_kn, s3_f32_kn, s4_f32_kn}, {s1_f32_nk, s2_f32_nk, s3_f32_nk, s4_f32_nk}},
    {{s1_bf16_kn, s2_bf16_kn, s3_bf16_kn, s4_bf16_kn}, {s1_bf16_nk, s2_bf16_nk, s3_bf16_nk, s4_bf16_nk}},
    {{s1_f16_kn, s2_f16_kn, s3_f16_kn, s4_f16_kn}, {s1_f16_nk, s2_f16_nk, s3_f16_nk, s4_f16_nk}},
};

static int dt_index(ptm_dtype dt) { return dt == PTM_BF16 ? 1 : dt == PTM_F16 ? 2 : 0; }

/* ------------------------------------------------------------ task body */

/* f32 view of b's columns [n0, n0 + nb): either b itself (f32) or a panel
 * converted into `panel`.  Returns the pointer and its leading dimension. */
static const float *b_panel(const mm_job *j, const void *b, int64_t n0, int64_t nb, float *panel, int64_t *ldb)
{
    int64_t K = j->K, N = j->N;
    size_t es = ptm_dtype_size(j->bdt);
    if (j->bdt == PTM_F32) {
        *ldb = j->trans_b ? K : N;
        return j->trans_b ? (const float *)b + n0 * K : (const float *)b + n0;
    }
    if (j->trans_b) { /* rows n0..n0+nb of [N, K] are contiguous */
        cpu_to_f32(j->st, (const char *)b + (size_t)(n0 * K) * es, j->bdt, panel, nb * K);
        *ldb = K;
    } else {
        for (int64_t k = 0; k < K; k++)
            cpu_to_f32(j->st, (const char *)b + (size_t)(k * N + n0) * es, j->bdt, panel + k * nb, nb);
        *ldb = nb;
    }
    return panel;
}

static void gemm_block(const mm_job *j, const float *a, const float *bp, int64_t ldb, int64_t m, int64_t n,
                       float *c, const float *bias)
{
    float beta = 0.0f;
    if (bias) {
        for (int64_t i = 0; i < m; i++)
            memcpy(c + i * j->N, bias, (size_t)n * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)j->K,
                1.0f, a, (int)j->K, bp, (int)ldb, beta, c, (int)j->N);
}

/* Portable small-M kernel: f32 rows/panels, plain loops. */
static void small_portable(const mm_job *j, const float *a, int64_t M, const void *b, int64_t n0, int64_t n1,
                           float *out, float *panel)
{
    int64_t K = j->K, N = j->N;
    for (int64_t p0 = n0; p0 < n1; p0 += PANEL_N) {
        int64_t nb = p0 + PANEL_N < n1 ? PANEL_N : n1 - p0, ldb;
        const float *bp = b_panel(j, b, p0, nb, panel, &ldb);
        for (int64_t m = 0; m < M; m++) {
            const float *ar = a + m * K;
            float *o = out + m * N + p0;
            if (j->trans_b) {
                for (int64_t n = 0; n < nb; n++) {
                    const float *br = bp + n * ldb;
                    float s = 0.0f;
                    for (int64_t k = 0; k < K; k++)
                        s += ar[k] * br[k];
                    o[n] = s;
                }
            } else {
                for (int64_t n = 0; n < nb; n++)
                    o[n] = 0.0f;
                for (int64_t k = 0; k < K; k++) {
                    const float *br = bp + k * ldb;
                    float av = ar[k];
                    for (int64_t n = 0; n < nb; n++)
                        o[n] += av * br[n];
                }
            }
            if (j->bias)
                for (int64_t n = 0; n < nb; n++)
                    o[n] += j->bias[p0 + n];
        }
    }
}

static void mm_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const mm_job *j = ctx;
    float *panel = cpu_thr(j->st, tid);
    int64_t per_batch = j->mt * j->nt;
    for (int64_t t = beg; t < end; t++) {
        int64_t bi = t / per_batch, r = t % per_batch;
        int64_t m0 = (r / j->nt) * j->mchunk, n0 = (r % j->nt) * j->nchunk;
        int64_t m1 = m0 + j->mchunk < j->M ? m0 + j->mchunk : j->M;
        int64_t n1 = n0 + j->nchunk < j->N ? n0 + j->nchunk : j->N;
        if (m0 >= m1 || n0 >= n1)
            continue;
        const float *a = j->a + (bi * j->M + m0) * j->K;
        const void *b = (const char *)j->b + (size_t)(bi * j->b_batch_stride) * ptm_dtype_size(j->bdt);
        float *out = j->out + (bi * j->M + m0) * j->N;
        int64_t M = m1 - m0;
        if (M <= SMALL_M || (M <= SMALL_TILED_M && j->tiled)) {
            /* groups of 4 rows over column blocks of b small enough (256 KiB)
             * to stay in L2 while every group passes over them; [K, N] rows
             * stream best in runs of 256 columns or more */
            int64_t cw = M <= SMALL_M ? n1 - n0 : (256 << 10) / (j->K * (int64_t)ptm_dtype_size(j->bdt));
            int64_t cmin = j->trans_b ? 16 : 256;
            cw = cw < cmin ? cmin : cw / 16 * 16;
            for (int64_t c0 = n0; c0 < n1; c0 += cw) {
                int64_t c1 = c0 + cw < n1 ? c0 + cw : n1;
                for (int64_t g = 0; g < M; g += SMALL_M) {
                    int64_t mg = M - g < SMALL_M ? M - g : SMALL_M;
                    if (j->avx2)
                        small_table[dt_index(j->bdt)][j->trans_b][mg - 1](a + g * j->K, j->K, b, j->K, j->N, c0, c1,
                                                                           out + g * j->N, j->N, j->bias);
                    else
                        small_portable(j, a + g * j->K, mg, b, c0, c1, out + g * j->N, panel);
                }
            }
            continue;
        }
        if (j->bdt == PTM_F32) {
            int64_t ldb;
            const float *bp = b_panel(j, b, n0, n1 - n0, NULL, &ldb);
            gemm_block(j, a, bp, ldb, M, n1 - n0, out + n0, j->bias ? j->bias + n0 : NULL);
            continue;
        }
        for (int64_t p0 = n0; p0 < n1; p0 += PANEL_N) {
            int64_t nb = p0 + PANEL_N < n1 ? PANEL_N : n1 - p0, ldb;
            const float *bp = b_panel(j, b, p0, nb, panel, &ldb);
            gemm_block(j, a, bp, ldb, M, nb, out + p0, j->bias ? j->bias + p0 : NULL);
        }
    }
}

/* ------------------------------------------- split-K decode, b [K, N] */

/* M <= 4, b [K, N]: chunk p of K goes to part + p * pstride ([M, ldp]);
 * the partials are then summed in chunk order, so the result does not
 * depend on which thread ran which chunk. */
typedef struct kn_job {
    const mm_job *j;
    float *part;
    int64_t P, ldp, pstride;
} kn_job;

static void kn_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const kn_job *q = ctx;
    const mm_job *j = q->j;
    (void)tid;
    for (int64_t p = beg; p < end; p++) {
        int64_t k0 = p * j->K / q->P, k1 = (p + 1) * j->K / q->P;
        kn_rows_dispatch((int)j->M, j->bdt, j->a, j->K, j->b, j->N, k0, k1, q->part + p * q->pstride, q->ldp);
    }
}

static void kn_sum_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const kn_job *q = ctx;
    const mm_job *j = q->j;
    (void)tid;
    for (int64_t m = 0; m < j->M; m++) {
        float *o = j->out + m * j->N;
        for (int64_t n = beg; n < end; n++)
            o[n] = j->bias ? j->bias[n] : 0.0f;
        for (int64_t p = 0; p < q->P; p++) {
            const float *src = q->part + p * q->pstride + m * q->ldp;
            for (int64_t n = beg; n < end; n++)
                o[n] += src[n];
        }
    }
}

static ptm_status kn_split(mm_job *j)
{
    cpu_state *st = j->st;
    kn_job q;
    void *buf;
    ptm_status s;
    q.j = j;
    int64_t P = st->nthreads, minrows = 16;
    if (P > j->K / minrows)
        P = j->K / minrows;
    q.P = P < 1 ? 1 : P;
    /* rows of a partial 128 B apart mod 4 KiB; partials 64 B aligned */
    q.ldp = (j->N + 7) / 8 * 8 + 32;
    q.pstride = (j->M * q.ldp + 15) / 16 * 16;
    if ((s = cpu_tmp(st, 1, (size_t)(q.P * q.pstride) * sizeof(float), &buf)))
        return s;
    q.part = buf;
    if (q.P > 1)
        cpu_parallel_for(st, q.P, 1, kn_task, &q);
    else
        kn_task(&q, 0, 1, 0);
    int64_t grain = (j->N + st->nthreads - 1) / st->nthreads;
    grain = grain < 1024 ? 1024 : grain;
    cpu_parallel_for(st, j->N, grain, kn_sum_task, &q);
    return PTM_OK;
}

/* ---------------------------------------------------------------- entry */

ptm_status cpu_matmul(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                      ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    mm_job j;
    memset(&j, 0, sizeof j);
    if ((s = cpu_check_f32("matmul", "a", a)) || (s = cpu_check_f32("matmul", "out", out)) ||
        (s = cpu_out_ptr("matmul", out, &o)))
        return s;
    if ((s = cpu_check_host("matmul", "b", b)))
        return s;
    if (ptm_tensor_ndim(b) < 2)
        return ptm_error(PTM_ERR_SHAPE, "cpu matmul: b must have at least 2 dims");
    j.bdt = ptm_tensor_dtype(b);
    if (j.bdt != PTM_F32 && j.bdt != PTM_F16 && j.bdt != PTM_BF16)
        return ptm_error(PTM_ERR_DTYPE, "cpu matmul: b is %s, expected F32, F16 or BF16", ptm_dtype_name(j.bdt));
    int na = ptm_tensor_ndim(a);
    if (na < 1)
        return ptm_error(PTM_ERR_SHAPE, "cpu matmul: a must have at least 1 dim");
    int64_t K = ptm_tensor_dim(a, -1), M = na >= 2 ? ptm_tensor_dim(a, -2) : 1;
    int64_t bK = ptm_tensor_dim(b, trans_b ? -1 : -2), N = ptm_tensor_dim(b, trans_b ? -2 : -1);
    char s1[128], s2[128];
    if (bK != K)
        return ptm_error(PTM_ERR_SHAPE, "cpu matmul: a %s and b %s (trans_b=%d) disagree on K",
                         ptm_shape_str(na, ptm_tensor_shape(a), s1, sizeof s1),
                         ptm_shape_str(ptm_tensor_ndim(b), ptm_tensor_shape(b), s2, sizeof s2), trans_b);
    if (M == 0 || N == 0)
        return PTM_OK;
    int64_t batch = K ? ptm_tensor_numel(a) / (M * K) : 0;
    if (K == 0) { /* batch unknown from a: take it from out */
        batch = ptm_tensor_numel(out) / (M * N);
    }
    int64_t bbatch = K ? ptm_tensor_numel(b) / (K * N) : 1;
    if (ptm_tensor_numel(out) != batch * M * N || (bbatch != 1 && bbatch != batch))
        return ptm_error(PTM_ERR_SHAPE, "cpu matmul: a %s, b %s and out do not agree",
                         ptm_shape_str(na, ptm_tensor_shape(a), s1, sizeof s1),
                         ptm_shape_str(ptm_tensor_ndim(b), ptm_tensor_shape(b), s2, sizeof s2));
    if (bias && ptm_tensor_numel(bias) != N)
        return ptm_error(PTM_ERR_SHAPE, "cpu matmul: bias must have N = %lld elements", (long long)N);
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || batch * M > INT_MAX)
        return ptm_error(PTM_ERR_UNSUPPORTED, "cpu matmul: dims beyond INT_MAX are not supported by BLAS");
    if ((s = cpu_as_f32(st, bias, 0, "matmul bias", &j.bias)))
        return s;
    if (batch == 0)
        return PTM_OK;
    float *of = o;
    if (K == 0) {
        for (int64_t i = 0; i < batch * M; i++)
            for (int64_t n = 0; n < N; n++)
                of[i * N + n] = j.bias ? j.bias[n] : 0.0f;
        return PTM_OK;
    }
    if (bbatch == 1 && batch > 1) { /* shared b: one [batch*M, K] matrix */
        M *= batch;
        batch = 1;
    }
    j.a = ptm_tensor_data(a);
    j.b = ptm_tensor_data(b);
    j.out = of;
    j.M = M;
    j.N = N;
    j.K = K;
    j.b_batch_stride = bbatch == 1 ? 0 : K * N;
    j.trans_b = trans_b ? 1 : 0;
    j.avx2 = st->avx2;
    j.st = st;
    if (M <= SMALL_M && batch == 1 && !j.trans_b && j.avx2)
        return kn_split(&j);

    /* A few tasks per thread: claimed dynamically, they even out a thread
     * that runs late (another process on its core). */
    /* Tiled small kernels for M <= 16 unless a [K, N] b is so tall that 256
     * columns of it overflow L2 (K = 4096: slower than panels + sgemm). */
    j.tiled = M <= SMALL_M ||
              (M <= SMALL_TILED_M && (trans_b || K * 256 * (int64_t)ptm_dtype_size(j.bdt) <= (1 << 20)));
    int pooled = st->nthreads > 1 && (j.tiled || st->blas_in_pool);
    int64_t want = pooled ? (int64_t)TASKS_PER_THREAD * st->nthreads : 1;
    int64_t parts = (want + batch - 1) / batch; /* tasks per batch entry */
    j.mchunk = M;
    j.nchunk = N;
    if (parts > 1) {
        if (j.tiled || j.bdt != PTM_F32 || N >= 64 * parts) {
            /* columns (decode; half b converts each panel once) */
            j.nchunk = (N + parts - 1) / parts;
            j.nchunk = j.nchunk < 64 ? 64 : (j.nchunk + 15) / 16 * 16;
        } else { /* rows; each task keeps enough rows for sgemm */
            j.mchunk = (M + parts - 1) / parts;
            if (j.mchunk < 16)
                j.mchunk = 16;
        }
    }
    j.nt = (N + j.nchunk - 1) / j.nchunk;
    j.mt = (M + j.mchunk - 1) / j.mchunk;
    /* per-thread panel: K x PANEL_N f32 (f32 b is used in place) */
    if (j.bdt != PTM_F32) {
        if ((s = cpu_thread_scratch(st, (size_t)K * PANEL_N * sizeof(float))))
            return s;
    }
    int64_t tasks = batch * j.mt * j.nt;
    if (!j.tiled && !st->blas_in_pool) { /* sgemm only from this thread */
        cpu_blas_caller_threads(st);
        mm_task(&j, 0, tasks, 0);
        return PTM_OK;
    }
    cpu_parallel_for(st, tasks, 1, mm_task, &j);
    return PTM_OK;
}
