/* SPDX-License-Identifier: Apache-2.0 */
/* forward.c - ptm_model_forward: argument checks, then the architecture. */
#include "exec_internal.h"
#include "model_internal.h"

#include <string.h>

ptm_status ptm_model_forward(const ptm_model *m, ptm_exec *ex, const ptm_forward_args *args, ptm_tensor **out)
{
    if (!m || !ex || !args || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_forward: NULL argument");
    if (!PTM__HAS(m->arch, ptm_arch, forward) || !m->arch->forward)
        return ptm_error(PTM_ERR_UNSUPPORTED, "architecture %s (%s) has no forward pass", m->arch->model_type,
                         m->class_name);
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    memcpy(&a, args, args->struct_size < sizeof a ? args->struct_size : sizeof a);
    a.struct_size = sizeof a;
    const ptm_tensor *ids = a.input_ids;
    if (!ids || ptm_tensor_dtype(ids) != PTM_I64 || ptm_tensor_ndim(ids) != 2 || ptm_tensor_dim(ids, 1) < 1)
        return ptm_error(PTM_ERR_INVALID_ARG, "input_ids must be a [batch, seq] I64 tensor with seq >= 1");
    int64_t B = ptm_tensor_dim(ids, 0), T = ptm_tensor_dim(ids, 1);
    int64_t past = a.use_cache ? ptm_exec_kv_length(ex) : 0;
    if (a.attention_mask && (ptm_tensor_ndim(a.attention_mask) != 2 || ptm_tensor_dim(a.attention_mask, 0) != B ||
                             ptm_tensor_dim(a.attention_mask, 1) != past + T))
        return ptm_error(PTM_ERR_SHAPE, "attention_mask must be [%lld, %lld] (batch, cached + new positions)",
                         (long long)B, (long long)(past + T));
    if (a.logits_to_keep < 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "logits_to_keep must be >= 0 (0 keeps every position)");
    if (a.position_ids && (ptm_tensor_dtype(a.position_ids) != PTM_I64 || ptm_tensor_ndim(a.position_ids) != 2 ||
                           ptm_tensor_dim(a.position_ids, 0) != B || ptm_tensor_dim(a.position_ids, 1) != T))
        return ptm_error(PTM_ERR_SHAPE, "position_ids must be a [%lld, %lld] I64 tensor", (long long)B, (long long)T);
    if (PTM__HAS(m->arch, ptm_arch, max_positions) && m->arch->max_positions) {
        int64_t maxp = m->arch->max_positions(m->state);
        if (maxp > 0 && past + T > maxp)
            return ptm_error(PTM_ERR_INVALID_ARG, "%lld positions exceed the model's maximum of %lld",
                             (long long)(past + T), (long long)maxp);
    }
    ptm_exec_reset(ex);
    ptm_status s = PTM_OK;
    const ptm_backend_ops *ops = ex->ops;
    int bracket = ex->device && PTM__HAS(ops, ptm_backend_ops, end_pass) && ops->begin_pass && ops->end_pass;
    if (ex->device)
        s = ptm__exec_bind_model(ex, m, m->sd); /* parameters become resident on first use */
    if (!s && bracket)
        s = ops->begin_pass(ex->bs);
    if (!s) {
        s = m->arch->forward(m->state, m, ex, &a, out);
        if (bracket) {
            ptm_status e = ops->end_pass(ex->bs);
            s = s ? s : e;
        }
    }
    if (!s && ex->device && ptm_tensor_backend(*out)) { /* results come back to the host */
        ptm_tensor *h;
        if (!(s = ptm_exec_scratch_host(ex, ptm_tensor_dtype(*out), ptm_tensor_ndim(*out), ptm_tensor_shape(*out), &h)) &&
            !(s = ops->download(ex->bs, *out, h)))
            *out = h;
    }
    if (s)
        return ptm_error_prefix(s, "%s forward on backend \"%s\"", m->class_name, ex->be->name);
    if (a.use_cache)
        ptm_exec_kv_set_length(ex, past + T); /* the architecture appended T positions */
    return PTM_OK;
}
