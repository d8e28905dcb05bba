/* SPDX-License-Identifier: Apache-2.0 */
/* state_dict.c - ordered name -> tensor map with a hash index. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct ptm_state_dict {
    char **names;
    ptm_tensor **tensors;
    size_t n, cap;
    size_t *slots; /* open addressing: index+1, 0 = empty */
    size_t nslots; /* power of two, > 2n */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static ptm_status rehash(ptm_state_dict *sd, size_t nslots)
{
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sd->n; i++) {
        size_t h = (size_t)hash_str(sd->names[i]) & (nslots - 1);
        while (slots[h])
            h = (h + 1) & (nslots - 1);
        slots[h] = i + 1;
    }
    free(sd->slots);
    sd->slots = slots;
    sd->nslots = nslots;
    return PTM_OK;
}

static size_t find(const ptm_state_dict *sd, const char *name)
{
    if (!sd->nslots)
        return SIZE_MAX;
    size_t h = (size_t)hash_str(name) & (sd->nslots - 1);
    while (sd->slots[h]) {
        size_t i = sd->slots[h] - 1;
        if (strcmp(sd->names[i], name) == 0)
            return i;
        h = (h + 1) & (sd->nslots - 1);
    }
    return SIZE_MAX;
}

ptm_status ptm_state_dict_new(ptm_state_dict **out)
{
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_state_dict_new: NULL out");
    *out = calloc(1, sizeof **out);
    return *out ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
}

void ptm_state_dict_free(ptm_state_dict *sd)
{
    if (!sd)
        return;
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->names[i]);
        ptm_tensor_release(sd->tensors[i]);
    }
    free(sd->names);
    free(sd->tensors);
    free(sd->slots);
    free(sd);
}

ptm_status ptm_state_dict_set(ptm_state_dict *sd, const char *name, ptm_tensor *t)
{
    if (!sd || !name || !t)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_state_dict_set: NULL argument");
    size_t i = find(sd, name);
    if (i != SIZE_MAX) {
        ptm_tensor_retain(t);
        ptm_tensor_release(sd->tensors[i]);
        sd->tensors[i] = t;
        return PTM_OK;
    }
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 16;
        char **nn = realloc(sd->names, cap * sizeof *nn);
        if (!nn)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        sd->names = nn;
        ptm_tensor **nt = realloc(sd->tensors, cap * sizeof *nt);
        if (!nt)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        sd->tensors = nt;
        sd->cap = cap;
    }
    char *copy = ptm__strdup(name);
    if (!copy)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    sd->names[sd->n] = copy;
    sd->tensors[sd->n] = ptm_tensor_retain(t);
    sd->n++;
    if (sd->n * 2 >= sd->nslots) {
        ptm_status s = rehash(sd, sd->nslots ? sd->nslots * 2 : 64);
        if (s) {
            sd->n--;
            free(copy);
            ptm_tensor_release(t);
            return s;
        }
    } else {
        size_t h = (size_t)hash_str(name) & (sd->nslots - 1);
        while (sd->slots[h])
            h = (h + 1) & (sd->nslots - 1);
        sd->slots[h] = sd->n;
    }
    return PTM_OK;
}

ptm_tensor *ptm_state_dict_get(const ptm_state_dict *sd, const char *name)
{
    if (!sd || !name)
        return NULL;
    size_t i = find(sd, name);
    return i == SIZE_MAX ? NULL : sd->tensors[i];
}

ptm_status ptm_state_dict_remove(ptm_state_dict *sd, const char *name)
{
    size_t i = (sd && name) ? find(sd, name) : SIZE_MAX;
    if (i == SIZE_MAX)
        return ptm_error(PTM_ERR_NOT_FOUND, "no tensor \"%s\" in the state dict", name ? name : "(null)");
    free(sd->names[i]);
    ptm_tensor_release(sd->tensors[i]);
    memmove(sd->names + i, sd->names + i + 1, (sd->n - i - 1) * sizeof *sd->names);
    memmove(sd->tensors + i, sd->tensors + i + 1, (sd->n - i - 1) * sizeof *sd->tensors);
    sd->n--;
    return rehash(sd, sd->nslots);
}

size_t ptm_state_dict_size(const ptm_state_dict *sd) { return sd ? sd->n : 0; }
const char *ptm_state_dict_name(const ptm_state_dict *sd, size_t i) { return (sd && i < sd->n) ? sd->names[i] : NULL; }
ptm_tensor *ptm_state_dict_tensor(const ptm_state_dict *sd, size_t i) { return (sd && i < sd->n) ? sd->tensors[i] : NULL; }
