/* SPDX-License-Identifier: Apache-2.0 */
/* shape_check.h - argument checks that every backend plugin makes in the
 * same words before its own kernel runs: the shapes of concat, kv_append
 * and argmax.  Header-only and built on the public SDK (ptm/ptm.h) alone,
 * so a plugin includes it without reaching into core.  `be` is the
 * backend's name; it starts every message ("cpu concat: ..."). */
#ifndef PTM_BACKENDS_SHAPE_CHECK_H
#define PTM_BACKENDS_SHAPE_CHECK_H

#include <ptm/ptm.h>

#include <stdint.h>

/* concat(a, b) along *dim into out: one dtype, one rank, equal dims
 * outside *dim and out's *dim the sum.  Normalises a negative *dim and
 * gives the products of the dims before (outer) and after (inner) it. */
static inline ptm_status be_concat_shape(const char *be, const ptm_tensor *a, const ptm_tensor *b, int *dim,
                                         const ptm_tensor *out, int64_t *outer, int64_t *inner)
{
    ptm_dtype dt = ptm_tensor_dtype(a);
    if (ptm_tensor_dtype(b) != dt || ptm_tensor_dtype(out) != dt)
        return ptm_error(PTM_ERR_DTYPE, "%s concat: a, b and out must have one dtype", be);
    int nd = ptm_tensor_ndim(a), d = *dim < 0 ? *dim + nd : *dim;
    if (d < 0 || d >= nd || ptm_tensor_ndim(b) != nd || ptm_tensor_ndim(out) != nd)
        return ptm_error(PTM_ERR_SHAPE, "%s concat: dim or ranks do not fit", be);
    *outer = *inner = 1;
    for (int i = 0; i < nd; i++) {
        int64_t da = ptm_tensor_dim(a, i), db = ptm_tensor_dim(b, i), dout = ptm_tensor_dim(out, i);
        if (i == d ? dout != da + db : (da != db || da != dout))
            return ptm_error(PTM_ERR_SHAPE, "%s concat: shapes differ outside dim %d", be, d);
        if (i < d)
            *outer *= da;
        else if (i > d)
            *inner *= da;
    }
    *dim = d;
    return PTM_OK;
}

/* kv_append: x [B, H, T, D] goes to rows [pos, pos + T) of cache
 * [B, H, Tmax, D]. */
static inline ptm_status be_kv_append_shape(const char *be, const ptm_tensor *cache, int64_t pos,
                                            const ptm_tensor *x)
{
    if (ptm_tensor_ndim(cache) != 4 || ptm_tensor_ndim(x) != 4)
        return ptm_error(PTM_ERR_SHAPE, "%s kv_append: cache and x must be 4-d [B, H, T, D]", be);
    int64_t T = ptm_tensor_dim(x, 2), Tmax = ptm_tensor_dim(cache, 2);
    if (ptm_tensor_dim(cache, 0) != ptm_tensor_dim(x, 0) || ptm_tensor_dim(cache, 1) != ptm_tensor_dim(x, 1) ||
        ptm_tensor_dim(cache, 3) != ptm_tensor_dim(x, 3))
        return ptm_error(PTM_ERR_SHAPE, "%s kv_append: cache and x differ in B, H or D", be);
    if (pos < 0 || T > Tmax || pos > Tmax - T)
        return ptm_error(PTM_ERR_INVALID_ARG, "%s kv_append: rows [%lld, %lld) do not fit a cache of %lld", be,
                         (long long)pos, (long long)(pos + T), (long long)Tmax);
    return PTM_OK;
}

/* argmax over x's last dim (N values per row) into out (I64 or I32, one
 * element per row).  *rows = 0 when x is empty: nothing to do. */
static inline ptm_status be_argmax_shape(const char *be, const ptm_tensor *x, const ptm_tensor *out, int64_t *rows,
                                         int64_t *N)
{
    ptm_dtype odt = ptm_tensor_dtype(out);
    if (odt != PTM_I64 && odt != PTM_I32)
        return ptm_error(PTM_ERR_DTYPE, "%s argmax: out is %s, expected I64", be, ptm_dtype_name(odt));
    *N = ptm_tensor_ndim(x) ? ptm_tensor_dim(x, -1) : 1;
    *rows = 0;
    if (ptm_tensor_numel(x) == 0)
        return PTM_OK;
    if (*N <= 0)
        return ptm_error(PTM_ERR_SHAPE, "%s argmax: the last dim is empty", be);
    *rows = ptm_tensor_numel(x) / *N;
    if (ptm_tensor_numel(out) != *rows)
        return ptm_error(PTM_ERR_SHAPE, "%s argmax: out must have %lld elements", be, (long long)*rows);
    return PTM_OK;
}

#endif
