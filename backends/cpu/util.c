/* SPDX-License-Identifier: Apache-2.0 */
/* util.c - argument checks, numpy-style row broadcasting and f16/bf16 -> f32
 * conversion shared by the CPU kernels. */
#include "cpu.h"
#include "simd.h"

#include <inttypes.h>
#include <stdio.h>

ptm_status cpu_check_f32(const char *op, const char *what, const ptm_tensor *t)
{
    if (!t)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu %s: %s is NULL", op, what);
    if (ptm_tensor_dtype(t) != PTM_F32)
        return ptm_error(PTM_ERR_DTYPE, "cpu %s: %s is %s, expected F32", op, what,
                         ptm_dtype_name(ptm_tensor_dtype(t)));
    return cpu_check_host(op, what, t);
}

ptm_status cpu_check_host(const char *op, const char *what, const ptm_tensor *t)
{
    if (!t)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu %s: %s is NULL", op, what);
    if (!ptm_tensor_data(t) && ptm_tensor_numel(t) > 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu %s: %s is not in host memory", op, what);
    return PTM_OK;
}

ptm_status cpu_out_ptr(const char *op, ptm_tensor *out, void **p)
{
    *p = NULL;
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu %s: out is NULL", op);
    *p = ptm_tensor_data_mut(out);
    if (!*p && ptm_tensor_numel(out) > 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu %s: out is read-only", op);
    return PTM_OK;
}

ptm_status cpu_same_numel(const char *op, const ptm_tensor *a, const ptm_tensor *out)
{
    if (ptm_tensor_numel(a) != ptm_tensor_numel(out)) {
        char s1[128], s2[128];
        return ptm_error(PTM_ERR_SHAPE, "cpu %s: input %s and out %s differ in size", op,
                         ptm_shape_str(ptm_tensor_ndim(a), ptm_tensor_shape(a), s1, sizeof s1),
                         ptm_shape_str(ptm_tensor_ndim(out), ptm_tensor_shape(out), s2, sizeof s2));
    }
    return PTM_OK;
}

/* ------------------------------------------------------------- broadcast */

ptm_status cpu_bcast_init(cpu_bcast *bc, const char *op, const ptm_tensor *a, const ptm_tensor *b)
{
    memset(bc, 0, sizeof *bc);
    int na = ptm_tensor_ndim(a), nb = ptm_tensor_ndim(b);
    const int64_t *sa = ptm_tensor_shape(a), *sb = ptm_tensor_shape(b);
    char s1[128], s2[128];
    if (na < 1 || nb > na || na > PTM_MAX_DIMS)
        goto bad;
    bc->nlead = na - 1;
    bc->row_len = sa[na - 1];
    bc->b_numel = ptm_tensor_numel(b);
    /* b aligned right, its missing leading dims are 1 */
    int64_t stride = 1;
    for (int i = na - 1; i >= 0; i--) {
        int j = i - (na - nb);
        int64_t bd = j >= 0 ? sb[j] : 1;
        if (bd != sa[i] && bd != 1)
            goto bad;
        int64_t st = (bd == 1) ? 0 : stride;
        if (i == na - 1)
            bc->last_stride = st;
        else {
            bc->shape[i] = sa[i];
            bc->stride[i] = st;
        }
        stride *= bd;
    }
    /* trailing: after dropping b's leading 1s, b's dims equal a's last dims */
    int lead1 = 0;
    while (lead1 < nb && sb[lead1] == 1)
        lead1++;
    bc->trailing = bc->last_stride == 1 || bc->b_numel == 1;
    for (int j = lead1; j < nb && bc->trailing; j++)
        if (sb[j] != sa[j + (na - nb)])
            bc->trailing = 0;
    if (bc->b_numel == 1)
        bc->last_stride = 0;
    return PTM_OK;
bad:
    return ptm_error(PTM_ERR_SHAPE, "cpu %s: %s does not broadcast to %s", op,
                     ptm_shape_str(nb, sb, s2, sizeof s2), ptm_shape_str(na, sa, s1, sizeof s1));
}

int64_t cpu_bcast_row(const cpu_bcast *bc, int64_t row)
{
    if (bc->trailing)
        return bc->b_numel <= 1 ? 0 : (row * bc->row_len) % bc->b_numel;
    int64_t off = 0;
    for (int i = bc->nlead - 1; i >= 0 && row > 0; i--) {
        int64_t d = bc->shape[i];
        off += (row % d) * bc->stride[i];
        row /= d;
    }
    return off;
}

/* ------------------------------------------------------------- conversion */

CPU_AVX2 static void to_f32_avx2(const void *src, ptm_dtype dt, float *dst, int64_t n)
{
    int64_t i = 0;
    if (dt == PTM_BF16) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, v_load(src, i, PTM_BF16));
        for (; i < n; i++)
            dst[i] = v_load1(src, i, PTM_BF16);
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, v_load(src, i, PTM_F16));
        for (; i < n; i++)
            dst[i] = v_load1(src, i, PTM_F16);
    }
}

void cpu_to_f32(const cpu_state *st, const void *src, ptm_dtype dt, float *dst, int64_t n)
{
    if (n <= 0)
        return;
    if (dt == PTM_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
    } else if (st->avx2 && (dt == PTM_BF16 || dt == PTM_F16)) {
        to_f32_avx2(src, dt, dst, n);
    } else if (dt == PTM_BF16) {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = cpu_bf16(s[i]);
    } else {
        (void)ptm_convert(src, dt, dst, PTM_F32, (size_t)n);
    }
}

ptm_status cpu_as_f32(cpu_state *st, const ptm_tensor *t, int slot, const char *what, const float **out)
{
    *out = NULL;
    if (!t)
        return PTM_OK;
    ptm_dtype dt = ptm_tensor_dtype(t);
    int64_t n = ptm_tensor_numel(t);
    if (!ptm_tensor_data(t) && n > 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: %s has no data", what);
    if (dt == PTM_F32) {
        *out = ptm_tensor_data(t);
        return PTM_OK;
    }
    if (!ptm_dtype_is_float(dt))
        return ptm_error(PTM_ERR_DTYPE, "cpu backend: %s is %s, expected a float type", what, ptm_dtype_name(dt));
    void *p;
    ptm_status s = cpu_tmp(st, slot, (size_t)(n > 0 ? n : 1) * sizeof(float), &p);
    if (s)
        return s;
    if (dt == PTM_F16 || dt == PTM_BF16)
        cpu_to_f32(st, ptm_tensor_data(t), dt, p, n);
    else if ((s = ptm_convert(ptm_tensor_data(t), dt, p, PTM_F32, (size_t)n)))
        return ptm_error_prefix(s, "cpu backend: %s", what);
    *out = p;
    return PTM_OK;
}
