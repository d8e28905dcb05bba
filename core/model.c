/* SPDX-License-Identifier: Apache-2.0 */
/* model.c - from_pretrained: config, architecture lookup, parameter
 * declaration, base_model_prefix matching, materialisation, tying. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ptm_load_options_init(ptm_load_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->dtype = PTM_F32;
}

void ptm_model_free(ptm_model *m)
{
    if (!m)
        return;
    if (m->state && m->arch)
        m->arch->destroy(m->state);
    ptm_state_dict_free(m->sd);
    ptm__param_list_free(m->decls);
    ptm_config_free(m->config);
    ptm_config_free(m->gen_config);
    free(m->gen_eos);
    free(m->class_name);
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->files[i]);
    free(m->files);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < m->nkeys[k]; i++)
            free(m->keys[k][i]);
        free(m->keys[k]);
    }
    free(m);
}

/* Pick the architecture: config "architectures"[0] (or the option), then
 * model_type. */
static ptm_status pick_arch(ptm_model *m, const ptm_load_options *o, const char *cfg_path)
{
    const char *model_type = ptm_config_string(m->config, "model_type", NULL);
    if (!model_type)
        return ptm_error(PTM_ERR_CONFIG, "%s: no \"model_type\" key, so no architecture can be chosen", cfg_path);
    const char *cls = o->class_name ? o->class_name : ptm_config_array_string(m->config, "architectures", 0);
    ptm_component_info info;
    if (cls && ptm__context_find(m->ctx, PTM_KIND_ARCH, cls, &info) == PTM_OK) {
        m->arch = info.vtable;
        m->class_name = ptm__strdup(cls);
    } else if (o->class_name) {
        char *names = ptm__context_names(m->ctx, PTM_KIND_ARCH);
        ptm_status s = ptm_error(PTM_ERR_NOT_FOUND, "no architecture plugin provides class \"%s\" (available: %s)",
                                 cls, names && *names ? names : "none");
        free(names);
        return s;
    } else if (ptm__context_find(m->ctx, PTM_KIND_ARCH, model_type, &info) == PTM_OK) {
        m->arch = info.vtable;
        /* The class named in config.json if this arch serves it, else its base class. */
        const char *chosen = m->arch->class_names[0];
        for (size_t i = 0; cls && m->arch->class_names[i]; i++)
            if (strcmp(cls, m->arch->class_names[i]) == 0)
                chosen = cls;
        if (cls && chosen != cls)
            ptm_log(PTM_LOG_WARN, "%s: class %s is not provided by the %s plugin; loading %s instead", cfg_path, cls,
                    model_type, chosen);
        m->class_name = ptm__strdup(chosen);
    } else {
        char *names = ptm__context_names(m->ctx, PTM_KIND_ARCH);
        ptm_status s = ptm_error(PTM_ERR_NOT_FOUND,
                                 "%s: no architecture plugin provides %s%s%smodel_type \"%s\" (available: %s)", cfg_path,
                                 cls ? "class \"" : "", cls ? cls : "", cls ? "\" or " : "", model_type,
                                 names && *names ? names : "none");
        free(names);
        return s;
    }
    return m->class_name ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
}

/* The model dtype: the option, or with "auto" config torch_dtype, else the
 * first floating tensor of the checkpoint, else f32. */
static ptm_status pick_dtype(ptm_model *m, const ptm_load_options *o, ptm__checkpoint *ck)
{
    if (o->dtype != PTM_DTYPE_AUTO) {
        if (o->dtype != PTM_F32 && o->dtype != PTM_F16 && o->dtype != PTM_BF16 && o->dtype != PTM_F64)
            return ptm_error(PTM_ERR_DTYPE, "model dtype %s is not a floating type usable for parameters",
                             ptm_dtype_name(o->dtype));
        m->dtype = o->dtype;
        return PTM_OK;
    }
    const char *td = ptm_config_string(m->config, "torch_dtype", NULL);
    ptm_dtype dt;
    if (td && ptm_dtype_parse(td, &dt) == PTM_OK && ptm_dtype_is_float(dt)) {
        m->dtype = dt;
        return PTM_OK;
    }
    for (size_t i = 0; i < ck->nsources; i++) {
        size_t n = ck->formats[i]->count(ck->sources[i]);
        for (size_t j = 0; j < n; j++) {
            ptm_tensor_info info;
            if (ck->formats[i]->info(ck->sources[i], j, &info) == PTM_OK && ptm_dtype_is_float(info.dtype) &&
                info.dtype != PTM_F8_E4M3 && info.dtype != PTM_F8_E5M2) {
                m->dtype = info.dtype;
                return PTM_OK;
            }
        }
    }
    m->dtype = PTM_F32;
    return PTM_OK;
}

/* Deterministic normal(0, std) initialisation for missing weights. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static ptm_status init_missing(ptm_model *m, const ptm_param_decl *d, ptm_tensor *t, uint64_t *rng)
{
    size_t n = (size_t)ptm_tensor_numel(t);
    float *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp)
        return ptm_error(PTM_ERR_NOMEM, "out of memory initialising %s", d->name);
    double std = ptm_config_float(m->config, "initializer_range", 0.02);
    for (size_t i = 0; i < n; i++) {
        switch (d->role) {
        case PTM_ROLE_BIAS:
        case PTM_ROLE_NORM_BIAS: tmp[i] = 0.0f; break;
        case PTM_ROLE_NORM_WEIGHT: tmp[i] = 1.0f; break;
        default: {
            double u1 = ((double)(rng_next(rng) >> 11) + 1.0) / 9007199254740993.0;
            double u2 = (double)(rng_next(rng) >> 11) / 9007199254740992.0;
            tmp[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
        }
        }
    }
    ptm_status s = ptm_convert(tmp, PTM_F32, ptm_tensor_data_mut(t), ptm_tensor_dtype(t), n);
    free(tmp);
    return s;
}

/* transformers' prefix rule: strip or add base_model_prefix so checkpoints
 * of the base model and of head models both load. */
typedef enum { PREFIX_KEEP, PREFIX_ADD_TO_CKPT_LOOKUP, PREFIX_STRIP_FOR_LOOKUP } prefix_mode;

static int starts_with_prefix(const char *name, const char *prefix, size_t pl)
{
    return strncmp(name, prefix, pl) == 0 && name[pl] == '.';
}

static prefix_mode pick_prefix_mode(const ptm_model *m, const ptm__checkpoint *ck, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (!pl)
        return PREFIX_KEEP;
    int has = 0, expects = 0;
    for (size_t i = 0; i < ck->nentries && !has; i++)
        has = starts_with_prefix(ck->entries[i].name, prefix, pl);
    for (size_t i = 0; i < m->decls->n && !expects; i++)
        expects = starts_with_prefix(m->decls->items[i].name, prefix, pl);
    if (!has && expects)
        return PREFIX_STRIP_FOR_LOOKUP; /* head model, base checkpoint */
    if (has && !expects)
        return PREFIX_ADD_TO_CKPT_LOOKUP; /* base model, head checkpoint */
    return PREFIX_KEEP;
}

static ckpt_entry *find_for_decl(ptm__checkpoint *ck, const char *name, prefix_mode mode, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (mode == PREFIX_STRIP_FOR_LOOKUP && starts_with_prefix(name, prefix, pl))
        return ptm__checkpoint_find(ck, name + pl + 1);
    if (mode == PREFIX_ADD_TO_CKPT_LOOKUP) {
        char *full = ptm__asprintf("%s.%s", prefix, name);
        ckpt_entry *e = full ? ptm__checkpoint_find(ck, full) : NULL;
        free(full);
        return e;
    }
    return ptm__checkpoint_find(ck, name);
}

static ptm_status load_param(ptm_model *m, ptm__checkpoint *ck, ckpt_entry *e, const ptm_param_decl *d,
                             ptm_tensor **out)
{
    ptm_tensor_info info;
    const ptm_format *fmt = ck->formats[e->source];
    void *src = ck->sources[e->source];
    const char *path = ck->paths[e->source];
    ptm_status s = fmt->info(src, e->index, &info);
    if (s)
        return ptm_error_prefix(s, "%s", path);
    if (info.ndim != d->ndim || memcmp(info.shape, d->shape, (size_t)d->ndim * sizeof d->shape[0]) != 0) {
        char a[128], b[128];
        return ptm_error(PTM_ERR_SHAPE, "%s: tensor \"%s\" has shape %s but %s expects %s for %s", path, e->name,
                         ptm_shape_str(info.ndim, info.shape, a, sizeof a), m->class_name,
                         ptm_shape_str(d->ndim, d->shape, b, sizeof b), d->name);
    }
    ptm_dtype want = d->dtype;
    if (want == PTM_DTYPE_AUTO)
        want = ptm_dtype_is_float(info.dtype) ? m->dtype : info.dtype;
    ptm_tensor *t;
    if ((s = fmt->load(src, e->index, &t)))
        return ptm_error_prefix(s, "%s: tensor \"%s\"", path, e->name);
    if (ptm_tensor_dtype(t) != want) {
        ptm_tensor *c;
        s = ptm_tensor_convert(t, want, &c);
        ptm_tensor_release(t);
        if (s)
            return ptm_error_prefix(s, "%s: converting \"%s\" to %s", path, e->name, ptm_dtype_name(want));
        t = c;
    }
    *out = t;
    return PTM_OK;
}

static ptm_status materialize(ptm_model *m, ptm__checkpoint *ck)
{
    const char *prefix = m->arch->base_model_prefix ? m->arch->base_model_prefix : "";
    prefix_mode mode = pick_prefix_mode(m, ck, prefix);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    ptm_status s = PTM_OK;
    for (size_t i = 0; i < m->decls->n && !s; i++) {
        const ptm_param_decl *d = &m->decls->items[i];
        ckpt_entry *e = find_for_decl(ck, d->name, mode, prefix);
        ptm_tensor *t = NULL;
        if (d->tied_to) {
            if (e)
                e->used = 1; /* tie_weights() overrides a stored copy */
            s = ptm_state_dict_set(m->sd, d->name, ptm_state_dict_get(m->sd, d->tied_to));
            continue;
        }
        if (e && !(d->flags & PTM_PARAM_NON_PERSISTENT)) {
            e->used = 1;
            s = load_param(m, ck, e, d, &t);
        } else {
            if (e)
                e->used = 1; /* a stored non-persistent buffer (legacy files): ignored */
            ptm_dtype dt = d->dtype == PTM_DTYPE_AUTO ? m->dtype : d->dtype;
            s = ptm_tensor_new(dt, d->ndim, d->shape, &t);
            if (!s && (d->flags & PTM_PARAM_BUFFER)) {
                if (m->arch->init_buffer)
                    s = m->arch->init_buffer(m->state, d->name, t);
                if (!s && !(d->flags & PTM_PARAM_NON_PERSISTENT))
                    s = ptm__strv_push(&m->keys[PTM_KEYS_MISSING], &m->nkeys[PTM_KEYS_MISSING], d->name);
            } else if (!s) {
                s = init_missing(m, d, t, &rng);
                if (!s)
                    s = ptm__strv_push(&m->keys[PTM_KEYS_MISSING], &m->nkeys[PTM_KEYS_MISSING], d->name);
            }
        }
        if (!s)
            s = ptm_state_dict_set(m->sd, d->name, t);
        ptm_tensor_release(t);
    }
    int (*ignore)(void *, const char *) = PTM__HAS(m->arch, ptm_arch, ignore_key) ? m->arch->ignore_key : NULL;
    for (size_t i = 0; i < ck->nentries && !s; i++)
        if (!ck->entries[i].used && !(ignore && ignore(m->state, ck->entries[i].name)))
            s = ptm__strv_push(&m->keys[PTM_KEYS_UNEXPECTED], &m->nkeys[PTM_KEYS_UNEXPECTED], ck->entries[i].name);
    return s;
}

static void log_key_report(const ptm_model *m, const char *path)
{
    static const char *const what[2] = {"were not found in the checkpoint and are newly initialised",
                                        "in the checkpoint were not used"};
    for (int k = 0; k < 2; k++) {
        if (!m->nkeys[k])
            continue;
        char list[512];
        size_t pos = 0;
        list[0] = '\0';
        for (size_t i = 0; i < m->nkeys[k] && pos + 8 < sizeof list; i++) {
            int w = snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "", m->keys[k][i]);
            pos += w > 0 ? (size_t)w : 0;
        }
        if (pos >= sizeof list)
            memcpy(list + sizeof list - 4, "...", 4);
        ptm_log(PTM_LOG_WARN, "%s: %zu weights of %s %s: %s", path, m->nkeys[k], m->class_name, what[k], list);
    }
}

ptm_status ptm_model_from_pretrained(ptm_context *ctx, const char *path, const ptm_load_options *opts,
                                     ptm_model **out)
{
    ptm_load_options o;
    ptm_load_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    if (!ctx || !path || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_from_pretrained: NULL argument");
    ptm_status s = ptm_context_load_plugins(ctx);
    if (s)
        return s;
    /* resolve: a path that is neither a file nor a folder but looks like a
     * repo id goes through the Hub into the shared cache */
    char *hub_dir = NULL;
    if (!ptm__is_dir(path) && !ptm__is_file(path) && ptm_hub_is_repo_id(path)) {
        if ((s = ptm_hub_snapshot_for_load(ctx, path, o.hub, o.from_tf, o.from_flax, &hub_dir)))
            return s;
        path = hub_dir;
    }
    ptm_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(hub_dir);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    m->ctx = ctx;
    ptm__checkpoint ck;
    char *dir = NULL, *cfg_path = NULL;
    memset(&ck, 0, sizeof ck);
    /* config first: a bad config is reported before any weights are read */
    if (ptm__is_dir(path))
        dir = ptm__strdup(path);
    else {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : ptm__strdup(".");
    }
    if (!dir || !(cfg_path = ptm__path_join(dir, "config.json"))) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!ptm__is_dir(path) && !ptm__is_file(path)) {
        s = ptm_error(PTM_ERR_NOT_FOUND,
                      "%s: no such file or folder (expected a model folder with config.json, or a weights file)", path);
        goto fail;
    }
    if (!ptm__is_file(cfg_path)) {
        s = ptm_error(PTM_ERR_NOT_FOUND, "%s: no config.json next to the weights", cfg_path);
        goto fail;
    }
    if ((s = ptm_config_load(cfg_path, &m->config)))
        goto fail;
    for (size_t i = 0; o.config_overrides && o.config_overrides[i]; i += 2) {
        if (!o.config_overrides[i + 1]) {
            s = ptm_error(PTM_ERR_INVALID_ARG, "config override \"%s\" has no value", o.config_overrides[i]);
            goto fail;
        }
        if ((s = ptm_config_set_json(m->config, o.config_overrides[i], o.config_overrides[i + 1])))
            goto fail;
    }
    if ((s = pick_arch(m, &o, cfg_path)))
        goto fail;
    char *ck_dir = NULL;
    if ((s = ptm__checkpoint_open(ctx, path, o.from_tf, o.from_flax, &ck, &ck_dir)))
        goto fail;
    free(ck_dir);
    for (size_t i = 0; i < ck.nsources && !s; i++)
        s = ptm__strv_push(&m->files, &m->nfiles, ck.paths[i]);
    if (s || (s = pick_dtype(m, &o, &ck)))
        goto fail;
    if ((s = m->arch->create(m->config, m->class_name, &m->state))) {
        s = ptm_error_prefix(s, "%s", m->class_name);
        goto fail;
    }
    if ((s = ptm__param_list_new(&m->decls)) || (s = ptm_state_dict_new(&m->sd)))
        goto fail;
    if ((s = m->arch->declare(m->state, m->decls))) {
        s = ptm_error_prefix(s, "%s: declaring parameters", m->class_name);
        goto fail;
    }
    if ((s = materialize(m, &ck)))
        goto fail;
    if (m->arch->bind && (s = m->arch->bind(m->state, m)))
        goto fail;
    /* transformers' from_pretrained: generation_config.json for models that
     * can generate, else GenerationConfig.from_model_config(config) */
    if (ptm_model_can_generate(m) && ((s = ptm__gencfg_load(dir, m->config, &m->gen_config)) ||
                                      (s = ptm__gencfg_eos(m->gen_config, &m->gen_eos, &m->n_gen_eos))))
        goto fail;
    log_key_report(m, path);
    ptm__checkpoint_close(&ck);
    free(dir);
    free(cfg_path);
    free(hub_dir);
    *out = m;
    return PTM_OK;
fail:
    ptm__checkpoint_close(&ck);
    free(dir);
    free(cfg_path);
    free(hub_dir);
    ptm_model_free(m);
    return s;
}

const ptm_config *ptm_model_config(const ptm_model *m) { return m ? m->config : NULL; }
const char *ptm_model_type(const ptm_model *m) { return m ? m->arch->model_type : NULL; }
const char *ptm_model_class(const ptm_model *m) { return m ? m->class_name : NULL; }
ptm_dtype ptm_model_dtype(const ptm_model *m) { return m ? m->dtype : PTM_F32; }
const ptm_arch *ptm_model_arch(const ptm_model *m) { return m ? m->arch : NULL; }
void *ptm_model_arch_state(const ptm_model *m) { return m ? m->state : NULL; }
int ptm_model_can_generate(const ptm_model *m) { return m && m->arch->can_generate ? m->arch->can_generate(m->state) : 0; }
size_t ptm_model_file_count(const ptm_model *m) { return m ? m->nfiles : 0; }
const char *ptm_model_file(const ptm_model *m, size_t i) { return m && i < m->nfiles ? m->files[i] : NULL; }
ptm_tensor *ptm_model_param(const ptm_model *m, const char *name) { return m ? ptm_state_dict_get(m->sd, name) : NULL; }
const ptm_state_dict *ptm_model_state_dict(const ptm_model *m) { return m ? m->sd : NULL; }

size_t ptm_model_key_report_size(const ptm_model *m, ptm_key_report w)
{
    return (m && (w == PTM_KEYS_MISSING || w == PTM_KEYS_UNEXPECTED)) ? m->nkeys[w] : 0;
}

const char *ptm_model_key_report(const ptm_model *m, ptm_key_report w, size_t i)
{
    return i < ptm_model_key_report_size(m, w) ? m->keys[w][i] : NULL;
}
