/* SPDX-License-Identifier: Apache-2.0 */
/* data.c - data movement ops: embedding gather, kv_append, convert, copy,
 * fill, transpose, concat, and argmax.  Except for argmax and embedding's
 * output these work on any dtype (bytes are moved, ptm_convert converts). */
#include "../shape_check.h"
#include "cpu.h"
#include "simd.h"

#include <inttypes.h>
#include <math.h>

#define COPY_GRAIN (1 << 18) /* bytes per chunk at least */

/* ------------------------------------------------------------- bulk copy */

typedef struct bytes_job {
    const char *src;
    char *dst;
    ptm_dtype sdt, ddt;
    size_t ses, des;
} bytes_job;

/* items are elements; same dtype is memcpy, else ptm_convert */
static void bytes_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const bytes_job *j = ctx;
    (void)tid;
    if (j->sdt == j->ddt)
        memcpy(j->dst + (size_t)b * j->des, j->src + (size_t)b * j->ses, (size_t)(e - b) * j->des);
    else
        (void)ptm_convert(j->src + (size_t)b * j->ses, j->sdt, j->dst + (size_t)b * j->des, j->ddt, (size_t)(e - b));
}

/* Copy/convert n elements, in parallel when large.  The first element is
 * converted on the caller so an invalid pair reports its error here. */
static ptm_status bulk(cpu_state *st, const void *src, ptm_dtype sdt, void *dst, ptm_dtype ddt, int64_t n)
{
    if (n <= 0)
        return PTM_OK;
    if (sdt != ddt) {
        ptm_status s = ptm_convert(src, sdt, dst, ddt, 1);
        if (s)
            return s;
    }
    bytes_job j = {src, dst, sdt, ddt, ptm_dtype_size(sdt), ptm_dtype_size(ddt)};
    size_t es = j.ses > j.des ? j.ses : j.des;
    cpu_parallel_for(st, n, cpu_grain(st, n, (int64_t)(COPY_GRAIN / es), CPU_CHUNKS, 64), bytes_task, &j);
    return PTM_OK;
}

ptm_status cpu_convert(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    ptm_status s;
    void *o;
    if ((s = cpu_check_host("convert", "x", x)) || (s = cpu_out_ptr("convert", out, &o)) || (s = cpu_same_numel("convert", x, out)))
        return s;
    if ((s = bulk(bs, ptm_tensor_data(x), ptm_tensor_dtype(x), o, ptm_tensor_dtype(out), ptm_tensor_numel(x))))
        return ptm_error_prefix(s, "cpu convert");
    return PTM_OK;
}

ptm_status cpu_copy(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    ptm_status s;
    void *o;
    if ((s = cpu_check_host("copy", "x", x)) || (s = cpu_out_ptr("copy", out, &o)) || (s = cpu_same_numel("copy", x, out)))
        return s;
    if (ptm_tensor_dtype(x) != ptm_tensor_dtype(out))
        return ptm_error(PTM_ERR_DTYPE, "cpu copy: x is %s but out is %s", ptm_dtype_name(ptm_tensor_dtype(x)),
                         ptm_dtype_name(ptm_tensor_dtype(out)));
    if (o == ptm_tensor_data(x))
        return PTM_OK;
    return bulk(bs, ptm_tensor_data(x), ptm_tensor_dtype(x), o, ptm_tensor_dtype(out), ptm_tensor_numel(x));
}

/* ------------------------------------------------------------------ fill */

typedef struct fill_job {
    char *dst;
    const unsigned char *pat;
    size_t es;
} fill_job;

static void fill_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const fill_job *j = ctx;
    (void)tid;
    if (j->es == 4) {
        float v;
        memcpy(&v, j->pat, 4);
        float *d = (float *)(void *)j->dst;
        for (int64_t i = b; i < e; i++)
            d[i] = v;
        return;
    }
    for (int64_t i = b; i < e; i++)
        memcpy(j->dst + (size_t)i * j->es, j->pat, j->es);
}

ptm_status cpu_fill(void *bs, ptm_tensor *out, float v)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    if ((s = cpu_out_ptr("fill", out, &o)))
        return s;
    ptm_dtype dt = ptm_tensor_dtype(out);
    unsigned char pat[8];
    if ((s = ptm_convert(&v, PTM_F32, pat, dt, 1)))
        return ptm_error_prefix(s, "cpu fill");
    fill_job j = {o, pat, ptm_dtype_size(dt)};
    int64_t n = ptm_tensor_numel(out);
    cpu_parallel_for(st, n, cpu_grain(st, n, (int64_t)(COPY_GRAIN / j.es), CPU_CHUNKS, 64), fill_task, &j);
    return PTM_OK;
}

/* ------------------------------------------------------------- embedding */

typedef struct emb_job {
    const char *w;
    ptm_dtype wdt;
    size_t wes;
    const void *ids;
    int ids64;
    float *o;
    int64_t H;
    cpu_state *st;
} emb_job;

static void emb_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const emb_job *j = ctx;
    (void)tid;
    for (int64_t r = b; r < e; r++) {
        int64_t id = j->ids64 ? ((const int64_t *)j->ids)[r] : ((const int32_t *)j->ids)[r];
        const char *src = j->w + (size_t)id * (size_t)j->H * j->wes;
        float *dst = j->o + r * j->H;
        if (j->wdt == PTM_F32 || j->wdt == PTM_F16 || j->wdt == PTM_BF16)
            cpu_to_f32(j->st, src, j->wdt, dst, j->H);
        else
            (void)ptm_convert(src, j->wdt, dst, PTM_F32, (size_t)j->H);
    }
}

ptm_status cpu_embedding(void *bs, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    if ((s = cpu_check_f32("embedding", "out", out)) || (s = cpu_out_ptr("embedding", out, &o)))
        return s;
    if ((s = cpu_check_host("embedding", "weight", weight)) || (s = cpu_check_host("embedding", "ids", ids)))
        return s;
    if (ptm_tensor_ndim(weight) != 2)
        return ptm_error(PTM_ERR_SHAPE, "cpu embedding: weight must be [V, H]");
    ptm_dtype idt = ptm_tensor_dtype(ids), wdt = ptm_tensor_dtype(weight);
    if (idt != PTM_I64 && idt != PTM_I32)
        return ptm_error(PTM_ERR_DTYPE, "cpu embedding: ids are %s, expected I64 or I32", ptm_dtype_name(idt));
    if (!ptm_dtype_is_float(wdt))
        return ptm_error(PTM_ERR_DTYPE, "cpu embedding: weight is %s, expected a float type", ptm_dtype_name(wdt));
    int64_t V = ptm_tensor_dim(weight, 0), H = ptm_tensor_dim(weight, 1), n = ptm_tensor_numel(ids);
    if (ptm_tensor_numel(out) != n * H)
        return ptm_error(PTM_ERR_SHAPE, "cpu embedding: out must hold %lld x %lld values", (long long)n,
                         (long long)H);
    const void *ip = ptm_tensor_data(ids);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = idt == PTM_I64 ? ((const int64_t *)ip)[i] : ((const int32_t *)ip)[i];
        if (id < 0 || id >= V)
            return ptm_error(PTM_ERR_INVALID_ARG, "cpu embedding: id %" PRId64 " at position %" PRId64
                             " is outside the vocabulary [0, %" PRId64 ")", id, i, V);
    }
    if (n == 0 || H == 0)
        return PTM_OK;
    if (wdt != PTM_F32 && wdt != PTM_F16 && wdt != PTM_BF16 && (s = ptm_convert(ptm_tensor_data(weight), wdt, o,
                                                                                 PTM_F32, 1)))
        return ptm_error_prefix(s, "cpu embedding");
    emb_job j = {ptm_tensor_data(weight), wdt, ptm_dtype_size(wdt), ip, idt == PTM_I64, o, H, st};
    cpu_parallel_for(st, n, cpu_grain(st, n, (32768 + H) / (H + 1), CPU_CHUNKS, 1), emb_task, &j);
    return PTM_OK;
}

/* ------------------------------------------------------------- kv_append */

ptm_status cpu_kv_append(void *bs, ptm_tensor *cache, int64_t pos, const ptm_tensor *x)
{
    ptm_status s;
    void *c;
    if ((s = cpu_check_host("kv_append", "x", x)) || (s = cpu_out_ptr("kv_append", cache, &c)))
        return s;
    if ((s = be_kv_append_shape("cpu", cache, pos, x)))
        return s;
    int64_t B = ptm_tensor_dim(x, 0), H = ptm_tensor_dim(x, 1), T = ptm_tensor_dim(x, 2), D = ptm_tensor_dim(x, 3);
    int64_t Tmax = ptm_tensor_dim(cache, 2);
    ptm_dtype xdt = ptm_tensor_dtype(x), cdt = ptm_tensor_dtype(cache);
    size_t xes = ptm_dtype_size(xdt), ces = ptm_dtype_size(cdt);
    const char *xp = ptm_tensor_data(x);
    char *cp = c;
    for (int64_t bh = 0; bh < B * H; bh++) {
        const char *src = xp + (size_t)(bh * T * D) * xes;
        char *dst = cp + (size_t)((bh * Tmax + pos) * D) * ces;
        if (xdt == cdt)
            memcpy(dst, src, (size_t)(T * D) * xes);
        else if ((s = ptm_convert(src, xdt, dst, cdt, (size_t)(T * D))))
            return ptm_error_prefix(s, "cpu kv_append");
    }
    return PTM_OK;
}

/* ------------------------------------------------------------- transpose */

typedef struct tr_job {
    const char *x;
    char *o;
    size_t es;
    int64_t A, P, Bm, Q, C; /* x viewed as [A, P, Bm, Q, C] -> out [A, Q, Bm, P, C] */
} tr_job;

/* items: (a, q, bm) output row blocks of P * C elements */
static void tr_task(void *ctx, int64_t beg, int64_t end, int tid)
{
    const tr_job *j = ctx;
    (void)tid;
    size_t cb = (size_t)j->C * j->es;
    for (int64_t r = beg; r < end; r++) {
        int64_t bm = r % j->Bm, q = (r / j->Bm) % j->Q, a = r / (j->Bm * j->Q);
        char *o = j->o + (size_t)r * (size_t)(j->P * j->C) * j->es;
        const char *x = j->x + (size_t)(((a * j->P) * j->Bm + bm) * j->Q + q) * cb;
        size_t xstep = (size_t)(j->Bm * j->Q) * cb;
        if (j->C == 1 && j->es == 4) {
            for (int64_t p = 0; p < j->P; p++)
                ((uint32_t *)(void *)o)[p] = *(const uint32_t *)(const void *)(x + (size_t)p * xstep);
        } else if (j->C == 1 && j->es == 2) {
            for (int64_t p = 0; p < j->P; p++)
                ((uint16_t *)(void *)o)[p] = *(const uint16_t *)(const void *)(x + (size_t)p * xstep);
        } else {
            for (int64_t p = 0; p < j->P; p++)
                memcpy(o + (size_t)p * cb, x + (size_t)p * xstep, cb);
        }
    }
}

ptm_status cpu_transpose(void *bs, const ptm_tensor *x, int d0, int d1, ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    if ((s = cpu_check_host("transpose", "x", x)) || (s = cpu_out_ptr("transpose", out, &o)) || (s = cpu_same_numel("transpose", x, out)))
        return s;
    if (ptm_tensor_dtype(x) != ptm_tensor_dtype(out))
        return ptm_error(PTM_ERR_DTYPE, "cpu transpose: x and out dtypes differ");
    int nd = ptm_tensor_ndim(x);
    if (d0 < 0)
        d0 += nd;
    if (d1 < 0)
        d1 += nd;
    if (d0 < 0 || d1 < 0 || d0 >= nd || d1 >= nd)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu transpose: dims out of range for a %d-d tensor", nd);
    if (d0 > d1) {
        int t = d0;
        d0 = d1;
        d1 = t;
    }
    tr_job j = {ptm_tensor_data(x), o, ptm_dtype_size(ptm_tensor_dtype(x)), 1, 1, 1, 1, 1};
    const int64_t *sh = ptm_tensor_shape(x);
    for (int i = 0; i < nd; i++) {
        if (i < d0)
            j.A *= sh[i];
        else if (i == d0)
            j.P = sh[i];
        else if (i < d1)
            j.Bm *= sh[i];
        else if (i == d1)
            j.Q = sh[i];
        else
            j.C *= sh[i];
    }
    int64_t n = ptm_tensor_numel(x);
    if (n == 0)
        return PTM_OK;
    if (d0 == d1 || j.P == 1 || j.Q == 1) /* the layout does not change */
        return bulk(st, j.x, ptm_tensor_dtype(x), o, ptm_tensor_dtype(x), n);
    int64_t rows = j.A * j.Q * j.Bm, row_elems = j.P * j.C;
    cpu_parallel_for(st, rows, cpu_grain(st, rows, (65536 + row_elems) / (row_elems + 1), CPU_CHUNKS, 1), tr_task, &j);
    return PTM_OK;
}

/* ---------------------------------------------------------------- concat */

ptm_status cpu_concat(void *bs, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out)
{
    ptm_status s;
    void *o;
    (void)bs;
    if ((s = cpu_check_host("concat", "a", a)) || (s = cpu_check_host("concat", "b", b)) ||
        (s = cpu_out_ptr("concat", out, &o)))
        return s;
    int64_t outer = 1, inner = 1;
    if ((s = be_concat_shape("cpu", a, b, &dim, out, &outer, &inner)))
        return s;
    ptm_dtype dt = ptm_tensor_dtype(a);
    size_t es = ptm_dtype_size(dt);
    size_t ab = (size_t)(ptm_tensor_dim(a, dim) * inner) * es, bb = (size_t)(ptm_tensor_dim(b, dim) * inner) * es;
    const char *ap = ptm_tensor_data(a), *bp = ptm_tensor_data(b);
    char *op = o;
    for (int64_t i = 0; i < outer; i++) {
        if (ab)
            memcpy(op, ap + (size_t)i * ab, ab);
        op += ab;
        if (bb)
            memcpy(op, bp + (size_t)i * bb, bb);
        op += bb;
    }
    return PTM_OK;
}

/* ---------------------------------------------------------------- argmax */

typedef struct argmax_job {
    const float *x;
    void *o;
    int o64, avx2;
    int64_t N;
} argmax_job;

CPU_AVX2 static float row_max_avx2(const float *x, int64_t n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m); /* NaN in x keeps m */
    float r = v_hmax(m);
    for (; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

static void argmax_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const argmax_job *j = ctx;
    (void)tid;
    for (int64_t r = b; r < e; r++) {
        const float *x = j->x + r * j->N;
        int64_t best = 0;
        if (j->avx2) {
            /* max first (NaN ignored), then its first position */
            float m = row_max_avx2(x, j->N);
            for (int64_t i = 0; i < j->N; i++)
                if (x[i] == m) {
                    best = i;
                    break;
                }
        } else {
            float m = x[0];
            for (int64_t i = 1; i < j->N; i++)
                if (x[i] > m || (m != m && x[i] == x[i])) {
                    m = x[i];
                    best = i;
                }
        }
        if (j->o64)
            ((int64_t *)j->o)[r] = best;
        else
            ((int32_t *)j->o)[r] = (int32_t)best;
    }
}

ptm_status cpu_argmax(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    cpu_state *st = bs;
    ptm_status s;
    void *o;
    if ((s = cpu_check_f32("argmax", "x", x)) || (s = cpu_out_ptr("argmax", out, &o)))
        return s;
    int64_t rows = 0, N = 1;
    if ((s = be_argmax_shape("cpu", x, out, &rows, &N)) || rows == 0)
        return s;
    ptm_dtype odt = ptm_tensor_dtype(out);
    argmax_job j = {ptm_tensor_data(x), o, odt == PTM_I64, st->avx2, N};
    cpu_parallel_for(st, rows, cpu_grain(st, rows, (65536 + N) / (N + 1), CPU_CHUNKS, 1), argmax_task, &j);
    return PTM_OK;
}
