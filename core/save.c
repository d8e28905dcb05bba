/* SPDX-License-Identifier: Apache-2.0 */
/* save.c - save_pretrained: config.json and the weights (one file, or shards
 * and their index), each written to a temporary name and renamed only once
 * all are complete; then stale weight files of an earlier save removed. */
#include "model_internal.h"
#include "shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ptm_save_options_init(ptm_save_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

/* The state dict to write: persistent, untied entries; names sharing memory
 * (without a declared tie) are written once under the first name, as
 * transformers' save_pretrained does. */
static ptm_status saved_state_dict(const ptm_model *m, ptm_state_dict **out, int **roles_out,
                                   unsigned **flags_out)
{
    ptm_state_dict *sd;
    ptm_status s = ptm_state_dict_new(&sd);
    size_t cap = m->decls->n ? m->decls->n : 1;
    int *roles = malloc(cap * sizeof *roles);            /* role of each saved entry */
    unsigned *flags = malloc(cap * sizeof *flags);       /* and its declaration flags */
    if (!s && (!roles || !flags))
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->decls->n && !s; i++) {
        const ptm_param_decl *d = &m->decls->items[i];
        if (d->tied_to || (d->flags & PTM_PARAM_NON_PERSISTENT))
            continue;
        ptm_tensor *t = ptm_state_dict_get(m->sd, d->name);
        int shared = 0;
        for (size_t j = 0; j < ptm_state_dict_size(sd) && !shared; j++)
            shared = ptm_tensor_shares_memory(ptm_state_dict_tensor(sd, j), t);
        if (shared) {
            ptm_log(PTM_LOG_INFO, "%s shares memory with an earlier tensor; saved once", d->name);
            continue;
        }
        roles[ptm_state_dict_size(sd)] = (int)d->role;
        flags[ptm_state_dict_size(sd)] = d->flags;
        s = ptm_state_dict_set(sd, d->name, t);
    }
    if (s) {
        ptm_state_dict_free(sd);
        free(roles);
        free(flags);
        return s;
    }
    *out = sd;
    *roles_out = roles;
    *flags_out = flags;
    return PTM_OK;
}

/* 1 if the format has save_model (a plugin whose ptm_format predates the
 * field has not). */
static int has_save_model(const ptm_format *fmt)
{
    return PTM__HAS(fmt, ptm_format, save_model) && fmt->save_model;
}

/* Write the shard holding the entries of `sd` assigned to shard k. */
static ptm_status write_one(const ptm_model *m, const ptm_format *fmt, const char *tmp, const ptm_state_dict *sd,
                            const int *roles, const unsigned *flags, const ptm__shard_plan_t *plan, size_t k)
{
    static const char *const meta[] = {"format", "pt", NULL};
    ptm_state_dict *part = NULL;
    size_t n = ptm_state_dict_size(sd);
    int *proles = NULL;
    unsigned *pflags = NULL;
    ptm_status s = PTM_OK;
    if (plan->nshards > 1) {
        if ((s = ptm_state_dict_new(&part)))
            return s;
        proles = malloc((n ? n : 1) * sizeof *proles);
        pflags = malloc((n ? n : 1) * sizeof *pflags);
        if (!proles || !pflags)
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n && !s; i++)
            if (plan->shard_of[i] == k) {
                pflags[ptm_state_dict_size(part)] = flags[i];
                proles[ptm_state_dict_size(part)] = roles[i];
                s = ptm_state_dict_set(part, ptm_state_dict_name(sd, i), ptm_state_dict_tensor(sd, i));
            }
    }
    const ptm_state_dict *w = part ? part : sd;
    if (!s && has_save_model(fmt)) {
        ptm_save_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        info.metadata = meta;
        info.model_type = m->arch->model_type;
        info.class_name = m->class_name;
        info.base_model_prefix = m->arch->base_model_prefix ? m->arch->base_model_prefix : "";
        info.roles = part ? proles : roles;
        info.flags = part ? pflags : flags;
        s = fmt->save_model(tmp, w, &info);
    } else if (!s) {
        s = fmt->save(tmp, w, meta);
    }
    ptm_state_dict_free(part);
    free(proles);
    free(pflags);
    return s;
}

ptm_status ptm_model_save_pretrained(const ptm_model *m, const char *dir, const ptm_save_options *opts)
{
    ptm_save_options o;
    ptm_save_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    o.struct_size = sizeof o;
    if (!m || !dir)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_save_pretrained: NULL argument");
    const char *fmt_name = o.format ? o.format : "safetensors";
    const ptm_format *fmt = ptm_context_find_format(m->ctx, fmt_name);
    if (!fmt)
        return PTM_ERR_NOT_FOUND;
    int can_save = fmt->save || has_save_model(fmt);
    if (!can_save || !fmt->weight_names || !fmt->weight_names[0])
        return ptm_error(PTM_ERR_UNSUPPORTED, "the %s format plugin cannot write files", fmt_name);
    /* transformers' defaults: PyTorch "5GB"; a format declares its own (TF, Flax "10GB") */
    uint64_t fmt_default = PTM__HAS(fmt, ptm_format, default_max_shard_size) ? fmt->default_max_shard_size : 0;
    uint64_t max_shard = o.max_shard_size ? o.max_shard_size : fmt_default ? fmt_default : 5000000000ull;
    const char *wname = fmt->weight_names[0];
    const char *iname = fmt->weight_names[1];
    ptm_status s = ptm__mkdirs(dir, 0755);
    if (s)
        return s;

    ptm_config *cfg = NULL;
    ptm_state_dict *sd = NULL;
    int *roles = NULL;
    unsigned *flags = NULL;
    ptm__shard_plan_t plan = {0};
    size_t nfiles = 0, written = 0;
    /* weights files, then the index, then generation_config.json, then config.json */
    char **finals = NULL, **tmps = NULL, **names = NULL;
    char *text = NULL, *index = NULL, *gtext = NULL;
    const char *cls = m->class_name;
    if ((s = ptm_config_clone(m->config, &cfg)) || (s = ptm_config_set_string_array(cfg, "architectures", &cls, 1)) ||
        (s = ptm_config_set_string(cfg, "torch_dtype", ptm_dtype_torch_name(m->dtype))) ||
        (s = ptm_config_to_json(cfg, &text)))
        goto done;
    if (m->gen_config && (s = ptm__gencfg_to_json(m->gen_config, &gtext)))
        goto done;
    if ((s = saved_state_dict(m, &sd, &roles, &flags)) || (s = ptm__shard_plan(sd, max_shard, &plan)))
        goto done;
    if (plan.nshards > 1 && (has_save_model(fmt) || !iname)) {
        s = ptm_error(PTM_ERR_UNSUPPORTED,
                      "%s: the weights (%llu bytes) exceed max_shard_size (%llu bytes), and ptm cannot write sharded "
                      "%s checkpoints; raise max_shard_size or save as safetensors or pytorch",
                      dir, (unsigned long long)(plan.total_size8 / 8), (unsigned long long)max_shard, wname);
        goto done;
    }
    nfiles = plan.nshards + (plan.nshards > 1) + (gtext != NULL) + 1;
    finals = calloc(nfiles, sizeof *finals);
    tmps = calloc(nfiles, sizeof *tmps);
    names = calloc(nfiles, sizeof *names);
    if (!finals || !tmps || !names) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < nfiles; k++) {
        if (k < plan.nshards)
            names[k] = plan.nshards > 1 ? ptm__shard_file_name(wname, fmt->extension, k, plan.nshards)
                                        : ptm__strdup(wname);
        else if (k + 1 == nfiles)
            names[k] = ptm__strdup("config.json");
        else if (gtext && k + 2 == nfiles)
            names[k] = ptm__strdup("generation_config.json");
        else
            names[k] = ptm__strdup(iname);
        finals[k] = names[k] ? ptm__path_join(dir, names[k]) : NULL;
        tmps[k] = names[k] ? ptm__asprintf("%s/.%s.tmp.%ld", dir, names[k], (long)getpid()) : NULL;
        if (!finals[k] || !tmps[k]) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    for (size_t k = 0; k < plan.nshards; k++) {
        written = k + 1; /* a failed writer may leave a partial temp file */
        if ((s = write_one(m, fmt, tmps[k], sd, roles, flags, &plan, k))) {
            s = ptm_error_prefix(s, "%s", finals[k]);
            goto done;
        }
    }
    if (plan.nshards > 1) {
        written = plan.nshards + 1;
        if ((s = ptm__shard_index_json(sd, &plan, names, &index)) ||
            (s = ptm__write_file_atomic(tmps[plan.nshards], index, strlen(index))))
            goto done;
    }
    written = nfiles; /* the configs go through the atomic writer to temp names of our own */
    if ((gtext && (s = ptm__write_file_atomic(tmps[nfiles - 2], gtext, strlen(gtext)))) ||
        (s = ptm__write_file_atomic(tmps[nfiles - 1], text, strlen(text))))
        goto done;
    for (size_t k = 0; k < nfiles; k++) {
        if (rename(tmps[k], finals[k]) != 0) {
            s = ptm_error(PTM_ERR_IO, "%s: cannot rename into place: %s", finals[k], strerror(errno));
            goto done;
        }
        free(tmps[k]);
        tmps[k] = NULL;
    }
    s = ptm__remove_stale_weights(dir, wname, iname, names, plan.nshards, plan.nshards > 1);
done:
    for (size_t k = 0; k < written && tmps; k++)
        if (tmps[k])
            unlink(tmps[k]);
    for (size_t k = 0; k < nfiles && finals && tmps && names; k++) {
        free(finals[k]);
        free(tmps[k]);
        free(names[k]);
    }
    free(finals);
    free(tmps);
    free(names);
    free(index);
    free(text);
    free(gtext);
    free(roles);
    free(flags);
    ptm__shard_plan_free(&plan);
    ptm_config_free(cfg);
    ptm_state_dict_free(sd);
    return s;
}
