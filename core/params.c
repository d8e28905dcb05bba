/* SPDX-License-Identifier: Apache-2.0 */
/* params.c - parameter declarations, parameter counts and memory footprint. */
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>

ptm_status ptm__param_list_new(struct ptm_param_list **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
}

void ptm__param_list_free(struct ptm_param_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->items[i].name);
        free((char *)l->items[i].tied_to);
    }
    free(l->items);
    free(l);
}

size_t ptm__param_list_size(const struct ptm_param_list *l) { return l ? l->n : 0; }
const ptm_param_decl *ptm__param_list_get(const struct ptm_param_list *l, size_t i) { return i < l->n ? &l->items[i] : NULL; }

ptm_status ptm__param_list_find(const struct ptm_param_list *l, const char *name, size_t *index)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0) {
            *index = i;
            return PTM_OK;
        }
    return PTM_ERR_NOT_FOUND;
}

ptm_status ptm_param_list_add(ptm_param_list *l, const ptm_param_decl *d)
{
    size_t idx;
    if (!l || !d || !d->name || !*d->name)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_param_list_add: missing declaration or name");
    if (d->struct_size < offsetof(ptm_param_decl, tied_to) + sizeof d->tied_to)
        return ptm_error(PTM_ERR_INVALID_ARG, "parameter %s: declaration struct_size %zu too small", d->name,
                         d->struct_size);
    if (d->ndim < 0 || d->ndim > PTM_MAX_DIMS)
        return ptm_error(PTM_ERR_INVALID_ARG, "parameter %s: rank %d outside 0..%d", d->name, d->ndim, PTM_MAX_DIMS);
    for (int i = 0; i < d->ndim; i++)
        if (d->shape[i] < 0)
            return ptm_error(PTM_ERR_INVALID_ARG, "parameter %s: negative dimension", d->name);
    if (d->dtype != PTM_DTYPE_AUTO && ptm_dtype_size(d->dtype) == 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "parameter %s: invalid dtype %d", d->name, (int)d->dtype);
    if (ptm__param_list_find(l, d->name, &idx) == PTM_OK)
        return ptm_error(PTM_ERR_EXISTS, "parameter %s declared twice", d->name);
    if (d->tied_to) {
        if (ptm__param_list_find(l, d->tied_to, &idx) != PTM_OK)
            return ptm_error(PTM_ERR_NOT_FOUND, "parameter %s is tied to %s, which is not declared before it",
                             d->name, d->tied_to);
        const ptm_param_decl *t = &l->items[idx];
        if (t->ndim != d->ndim || memcmp(t->shape, d->shape, (size_t)d->ndim * sizeof d->shape[0]) != 0)
            return ptm_error(PTM_ERR_SHAPE, "parameter %s is tied to %s of another shape", d->name, d->tied_to);
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        ptm_param_decl *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        l->items = items;
        l->cap = cap;
    }
    ptm_param_decl c;
    memset(&c, 0, sizeof c);
    memcpy(&c, d, d->struct_size < sizeof c ? d->struct_size : sizeof c);
    c.struct_size = sizeof c;
    c.name = ptm__strdup(d->name);
    c.tied_to = d->tied_to ? ptm__strdup(d->tied_to) : NULL;
    if (!c.name || (d->tied_to && !c.tied_to)) {
        free((char *)c.name);
        free((char *)c.tied_to);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    l->items[l->n++] = c;
    return PTM_OK;
}

ptm_status ptm_param_list_add_simple(ptm_param_list *l, const char *name, ptm_param_role role, int ndim,
                                     const int64_t *shape)
{
    ptm_param_decl d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.name = name;
    d.dtype = PTM_DTYPE_AUTO;
    d.ndim = ndim;
    if (ndim > 0 && ndim <= PTM_MAX_DIMS && shape)
        memcpy(d.shape, shape, (size_t)ndim * sizeof *shape);
    d.role = role;
    return ptm_param_list_add(l, &d);
}

int64_t ptm_model_num_parameters(const ptm_model *m, int only_trainable, int exclude_embeddings)
{
    int64_t total = 0;
    if (!m)
        return 0;
    for (size_t i = 0; i < m->decls->n; i++) {
        const ptm_param_decl *d = &m->decls->items[i];
        if (d->tied_to || (d->flags & PTM_PARAM_BUFFER))
            continue;
        if (only_trainable && (d->flags & PTM_PARAM_FROZEN))
            continue;
        if (exclude_embeddings && d->role == PTM_ROLE_EMBEDDING)
            continue;
        ptm_tensor *t = ptm_state_dict_get(m->sd, d->name);
        total += t ? ptm_tensor_numel(t) : 0;
    }
    return total;
}

int64_t ptm_model_memory_footprint(const ptm_model *m, int with_buffers)
{
    int64_t total = 0;
    if (!m)
        return 0;
    for (size_t i = 0; i < m->decls->n; i++) {
        const ptm_param_decl *d = &m->decls->items[i];
        if (d->tied_to || ((d->flags & PTM_PARAM_BUFFER) && !with_buffers))
            continue;
        ptm_tensor *t = ptm_state_dict_get(m->sd, d->name);
        total += t ? (int64_t)ptm_tensor_nbytes(t) : 0;
    }
    return total;
}
