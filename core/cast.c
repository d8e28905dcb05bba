/* SPDX-License-Identifier: Apache-2.0 */
/* cast.c - ptm_model_cast: dtype casts of the parameters with a keep mask. */
#include "model_internal.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static int kept(const char *name, const char *const *keep)
{
    for (size_t i = 0; keep && keep[i]; i++)
        if (fnmatch(keep[i], name, 0) == 0)
            return 1;
    return 0;
}

ptm_status ptm_model_cast(ptm_model *m, ptm_dtype dt, const char *const *keep)
{
    if (!m)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_cast: NULL model");
    if (dt != PTM_F32 && dt != PTM_F16 && dt != PTM_BF16)
        return ptm_error(PTM_ERR_DTYPE, "ptm_model_cast: %s is not f32, f16 or bf16", ptm_dtype_name(dt));
    /* convert everything first, so a failure leaves the model unchanged */
    size_t n = m->decls->n;
    ptm_tensor **fresh = calloc(n ? n : 1, sizeof *fresh);
    if (!fresh)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_status s = PTM_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const ptm_param_decl *d = &m->decls->items[i];
        ptm_tensor *t = ptm_state_dict_get(m->sd, d->name);
        if (d->tied_to || (d->flags & PTM_PARAM_BUFFER) || d->dtype != PTM_DTYPE_AUTO || !t ||
            !ptm_dtype_is_float(ptm_tensor_dtype(t)) || ptm_tensor_dtype(t) == dt || kept(d->name, keep))
            continue;
        if ((s = ptm_tensor_convert(t, dt, &fresh[i])))
            s = ptm_error_prefix(s, "casting %s to %s", d->name, ptm_dtype_name(dt));
    }
    for (size_t i = 0; i < n && !s; i++)
        if (fresh[i])
            s = ptm_state_dict_set(m->sd, m->decls->items[i].name, fresh[i]);
    for (size_t i = 0; i < n && !s; i++) { /* ties follow their targets */
        const ptm_param_decl *d = &m->decls->items[i];
        if (d->tied_to)
            s = ptm_state_dict_set(m->sd, d->name, ptm_state_dict_get(m->sd, d->tied_to));
    }
    for (size_t i = 0; i < n; i++)
        ptm_tensor_release(fresh[i]);
    free(fresh);
    if (!s) {
        m->dtype = dt;
        if (m->arch->bind && (s = m->arch->bind(m->state, m)))
            s = ptm_error_prefix(s, "%s: re-binding after the cast", m->class_name);
    }
    return s;
}
