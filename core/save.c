/* SPDX-License-Identifier: Apache-2.0 */
/* save.c - save_pretrained: config.json and the weights, each written to a
 * temporary name and renamed only once both are complete. */
#include "model_internal.h"

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

/* mkdir -p */
static ptm_status make_dirs(const char *dir)
{
    char *p = ptm__strdup(dir);
    if (!p)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                ptm_status st = ptm_error(PTM_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return st;
            }
            *s = c;
        }
        if (c == '\0')
            break;
    }
    free(p);
    return ptm__is_dir(dir) ? PTM_OK : ptm_error(PTM_ERR_IO, "%s: exists and is not a folder", dir);
}

/* The state dict to write: persistent, untied entries; names sharing memory
 * (without a declared tie) are written once under the first name, as
 * transformers' save_pretrained does. */
static ptm_status saved_state_dict(const ptm_model *m, ptm_state_dict **out, int **roles_out)
{
    ptm_state_dict *sd;
    ptm_status s = ptm_state_dict_new(&sd);
    int *roles = malloc((m->decls->n ? m->decls->n : 1) * sizeof *roles); /* role of each saved entry */
    if (!s && !roles)
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
        s = ptm_state_dict_set(sd, d->name, t);
    }
    if (s) {
        ptm_state_dict_free(sd);
        free(roles);
        return s;
    }
    *out = sd;
    *roles_out = roles;
    return PTM_OK;
}

ptm_status ptm_model_save_pretrained(const ptm_model *m, const char *dir, const ptm_save_options *opts)
{
    ptm_save_options o;
    ptm_save_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    if (!m || !dir)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_save_pretrained: NULL argument");
    const char *fmt_name = o.format ? o.format : "safetensors";
    const ptm_format *fmt = ptm_context_find_format(m->ctx, fmt_name);
    if (!fmt)
        return PTM_ERR_NOT_FOUND;
    int can_save = fmt->save || (PTM__HAS(fmt, ptm_format, save_model) && fmt->save_model);
    if (!can_save || !fmt->weight_names || !fmt->weight_names[0])
        return ptm_error(PTM_ERR_UNSUPPORTED, "the %s format plugin cannot write files", fmt_name);
    ptm_status s = make_dirs(dir);
    if (s)
        return s;

    ptm_config *cfg = NULL;
    ptm_state_dict *sd = NULL;
    int *roles = NULL;
    char *cfg_path = ptm__path_join(dir, "config.json");
    char *w_path = ptm__path_join(dir, fmt->weight_names[0]);
    char *cfg_tmp = ptm__asprintf("%s/.config.json.tmp.%ld", dir, (long)getpid());
    char *w_tmp = ptm__asprintf("%s/.%s.tmp.%ld", dir, fmt->weight_names[0], (long)getpid());
    char *text = NULL;
    if (!cfg_path || !w_path || !cfg_tmp || !w_tmp) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *cls = m->class_name;
    if ((s = ptm_config_clone(m->config, &cfg)) || (s = ptm_config_set_string_array(cfg, "architectures", &cls, 1)) ||
        (s = ptm_config_set_string(cfg, "torch_dtype", ptm_dtype_torch_name(m->dtype))) ||
        (s = ptm_config_to_json(cfg, &text)))
        goto done;
    if ((s = saved_state_dict(m, &sd, &roles)))
        goto done;
    static const char *const meta[] = {"format", "pt", NULL};
    if (PTM__HAS(fmt, ptm_format, save_model) && fmt->save_model) {
        ptm_save_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        info.metadata = meta;
        info.model_type = m->arch->model_type;
        info.class_name = m->class_name;
        info.base_model_prefix = m->arch->base_model_prefix ? m->arch->base_model_prefix : "";
        info.roles = roles;
        s = fmt->save_model(w_tmp, sd, &info);
    } else {
        s = fmt->save(w_tmp, sd, meta);
    }
    if (s) {
        s = ptm_error_prefix(s, "%s", w_path);
        unlink(w_tmp);
        goto done;
    }
    /* config goes through the atomic writer to a temp name of our own */
    if ((s = ptm__write_file_atomic(cfg_tmp, text, strlen(text)))) {
        unlink(w_tmp);
        goto done;
    }
    if (rename(w_tmp, w_path) != 0) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot rename into place: %s", w_path, strerror(errno));
        unlink(w_tmp);
        unlink(cfg_tmp);
        goto done;
    }
    if (rename(cfg_tmp, cfg_path) != 0) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot rename into place: %s", cfg_path, strerror(errno));
        unlink(cfg_tmp);
        goto done;
    }
done:
    free(text);
    free(roles);
    ptm_config_free(cfg);
    ptm_state_dict_free(sd);
    free(cfg_path);
    free(w_path);
    free(cfg_tmp);
    free(w_tmp);
    return s;
}
