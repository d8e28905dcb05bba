/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c - the context: plugin discovery in search order, descriptor
 * checks, the registrar (first registration of a name wins), the load
 * report and name lookups.  Opening shared objects is loader.c's job. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_PROCESS "(in-process)"
#define HEAD_BYTES 64
/* Longest "available: ..." list put into an error message, so the
 * "searched: ..." part that follows it survives the 1 KiB message limit. */
#define MAX_LISTED 480

#define END_OF(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

typedef struct plugin_rec {
    void *handle; /* libltdl handle; NULL for in-process plugins */
    const ptm_plugin *desc;
    char *name, *version, *path;
} plugin_rec;

typedef struct component {
    ptm_component_kind kind;
    char *name;
    const void *vtable;
    size_t plugin; /* index into ctx->plugins */
} component;

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

/* One per context, inside it, so a registrar pointer a plugin kept past
 * register_components still points at live memory and is refused with
 * PTM_ERR_STATE (until the context is freed). */
struct ptm_registrar {
    ptm_context *ctx;
    size_t plugin;
    int active;
};

struct ptm_context {
    pthread_mutex_t mu; /* guards everything below until `loaded` is set */
    int loaded;         /* discovery ran; the tables no longer change */
    int oom;            /* a record could not be stored */
    strv explicit_paths, env_paths, searched;
    int skip_install_dir;
    plugin_rec *plugins;
    size_t n_plugins, cap_plugins;
    component *comps;
    size_t n_comps, cap_comps;
    ptm_load_record **records; /* each record malloc'd: pointers stay valid */
    size_t n_records, cap_records;
    ptm_registrar reg; /* active only during one register_components call */
};

/* ------------------------------------------------------------ helpers */

static ptm_status strv_push(strv *s, const char *str)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return PTM_ERR_NOMEM;
        s->v = nv;
        s->cap = nc;
    }
    char *c = ptm__strdup(str);
    if (!c)
        return PTM_ERR_NOMEM;
    s->v[s->n++] = c;
    return PTM_OK;
}

static void strv_free(strv *s)
{
    ptm__free_strv(s->v, s->n);
    memset(s, 0, sizeof *s);
}

static const char *kind_word(ptm_component_kind k)
{
    switch (k) {
    case PTM_KIND_ARCH: return "architecture";
    case PTM_KIND_FORMAT: return "format";
    case PTM_KIND_BACKEND: return "backend";
    case PTM_KIND_NONE: break;
    }
    return "component";
}

/* ------------------------------------------------------------ records */

static void record_free(ptm_load_record *r)
{
    if (!r)
        return;
    free((char *)r->path);
    free((char *)r->plugin);
    free((char *)r->component);
    free((char *)r->reason);
    free(r);
}

/* Append a record with copies of the strings.  On OOM the record is lost
 * and ctx->oom set (ptm_context_load_plugins then reports it). */
static void add_record(ptm_context *ctx, const char *path, const char *plugin, ptm_component_kind kind,
                       const char *comp, ptm_load_outcome outcome, const char *reason)
{
    if (ctx->n_records == ctx->cap_records) {
        size_t nc = ctx->cap_records ? ctx->cap_records * 2 : 16;
        ptm_load_record **nv = realloc(ctx->records, nc * sizeof *nv);
        if (!nv) {
            ctx->oom = 1;
            return;
        }
        ctx->records = nv;
        ctx->cap_records = nc;
    }
    ptm_load_record *r = calloc(1, sizeof *r);
    if (!r) {
        ctx->oom = 1;
        return;
    }
    r->path = ptm__strdup(path ? path : "");
    r->plugin = ptm__strdup(plugin);
    r->kind = kind;
    r->component = ptm__strdup(comp);
    r->outcome = outcome;
    r->reason = ptm__strdup(reason ? reason : "");
    if (!r->path || !r->reason || (plugin && !r->plugin) || (comp && !r->component)) {
        record_free(r);
        ctx->oom = 1;
        return;
    }
    ctx->records[ctx->n_records++] = r;
}

/* ------------------------------------------------------------ context */

void ptm_context_options_init(ptm_context_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}

/* Does an options struct of the caller's size cover `member`? */
#define OPT_HAS(o, member) ((o)->struct_size >= END_OF(ptm_context_options, member))

ptm_status ptm_context_new(const ptm_context_options *opts, ptm_context **out)
{
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_new: out is NULL");
    *out = NULL;
    if (opts && opts->struct_size < sizeof(size_t))
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_new: options struct_size %zu is too small (call "
                                              "ptm_context_options_init)",
                         opts->struct_size);
    const char *const *paths = NULL;
    size_t n_paths = 0;
    int ignore_env = 0, skip_install = 0;
    if (opts) {
        if (OPT_HAS(opts, n_plugin_paths)) {
            paths = opts->plugin_paths;
            n_paths = opts->n_plugin_paths;
        }
        if (OPT_HAS(opts, ignore_env))
            ignore_env = opts->ignore_env;
        if (OPT_HAS(opts, skip_install_dir))
            skip_install = opts->skip_install_dir;
    }
    if (n_paths && !paths)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_new: n_plugin_paths is %zu but plugin_paths is NULL",
                         n_paths);

    ptm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ctx->skip_install_dir = skip_install;
    ptm_status s = PTM_OK;
    for (size_t i = 0; i < n_paths && s == PTM_OK; i++)
        if (paths[i] && paths[i][0])
            s = strv_push(&ctx->explicit_paths, paths[i]);
    if (s == PTM_OK && !ignore_env) {
        const char *env = getenv("PTM_PLUGIN_PATH");
        if (env) {
            s = ptm__split_path_list(env, &ctx->env_paths.v, &ctx->env_paths.n);
            ctx->env_paths.cap = ctx->env_paths.n;
        }
    }
    if (s != PTM_OK) {
        strv_free(&ctx->explicit_paths);
        strv_free(&ctx->env_paths);
        free(ctx);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    s = ptm__dl_acquire();
    if (s != PTM_OK) {
        strv_free(&ctx->explicit_paths);
        strv_free(&ctx->env_paths);
        free(ctx);
        return s;
    }
    pthread_mutex_init(&ctx->mu, NULL);
    *out = ctx;
    return PTM_OK;
}

void ptm_context_free(ptm_context *ctx)
{
    if (!ctx)
        return;
    for (size_t i = ctx->n_plugins; i-- > 0;) {
        plugin_rec *p = &ctx->plugins[i];
        ptm__dl_close(p->handle);
        free(p->name);
        free(p->version);
        free(p->path);
    }
    free(ctx->plugins);
    for (size_t i = 0; i < ctx->n_comps; i++)
        free(ctx->comps[i].name);
    free(ctx->comps);
    for (size_t i = 0; i < ctx->n_records; i++)
        record_free(ctx->records[i]);
    free(ctx->records);
    strv_free(&ctx->explicit_paths);
    strv_free(&ctx->env_paths);
    strv_free(&ctx->searched);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

/* ------------------------------------------------------------ plugins */

static ptm_status outcome_status(ptm_load_outcome o)
{
    switch (o) {
    case PTM_LOAD_ABI_MAJOR:
    case PTM_LOAD_ABI_TOO_NEW: return PTM_ERR_ABI;
    case PTM_LOAD_BAD_DESCRIPTOR: return PTM_ERR_INVALID_ARG;
    case PTM_LOAD_DUPLICATE_PLUGIN: return PTM_ERR_EXISTS;
    default: return PTM_ERR_PLUGIN;
    }
}

static int find_plugin(const ptm_context *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_plugins; i++)
        if (strcmp(ctx->plugins[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Check a descriptor, then let the plugin register its components.  Takes
 * ownership of `handle` (closed on refusal).  Every outcome is recorded;
 * the status (with ptm_error's message) matters for in-process plugins. */
static ptm_status admit_plugin(ptm_context *ctx, const char *path, void *handle, const ptm_plugin *d)
{
    char *reason = NULL;
    ptm_load_outcome o = ptm__check_descriptor(d, &reason);
    if (o == PTM_LOAD_OK) {
        int prev = find_plugin(ctx, d->name);
        if (prev >= 0) {
            o = PTM_LOAD_DUPLICATE_PLUGIN;
            reason = ptm__asprintf("a plugin named \"%s\" was already loaded from %s", d->name,
                                   ctx->plugins[prev].path);
        }
    }
    if (o != PTM_LOAD_OK) {
        const char *why = reason ? reason : ptm_load_outcome_str(o);
        add_record(ctx, path, ptm__descriptor_name(d), PTM_KIND_NONE, NULL, o, why);
        ptm_status s = ptm_error(outcome_status(o), "plugin %s: %s", path, why);
        free(reason);
        ptm__dl_close(handle);
        return s;
    }

    if (ctx->n_plugins == ctx->cap_plugins) {
        size_t nc = ctx->cap_plugins ? ctx->cap_plugins * 2 : 8;
        plugin_rec *nv = realloc(ctx->plugins, nc * sizeof *nv);
        if (!nv) {
            ptm__dl_close(handle);
            ctx->oom = 1;
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
        ctx->plugins = nv;
        ctx->cap_plugins = nc;
    }
    plugin_rec *p = &ctx->plugins[ctx->n_plugins];
    memset(p, 0, sizeof *p);
    p->handle = handle;
    p->desc = d;
    p->name = ptm__strdup(d->name);
    p->version = ptm__strdup(d->version ? d->version : "");
    p->path = ptm__strdup(path);
    if (!p->name || !p->version || !p->path) {
        free(p->name);
        free(p->version);
        free(p->path);
        ptm__dl_close(handle);
        ctx->oom = 1;
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    size_t index = ctx->n_plugins++;
    size_t comps_before = ctx->n_comps, records_before = ctx->n_records;

    ctx->reg.ctx = ctx;
    ctx->reg.plugin = index;
    ctx->reg.active = 1;
    ptm_clear_error();
    ptm_status s = d->register_components(&ctx->reg);
    ctx->reg.active = 0;

    if (s != PTM_OK) {
        const char *msg = ptm_last_error();
        char *why = ptm__asprintf("register_components failed (%s)%s%s", ptm_status_str(s), msg[0] ? ": " : "", msg);
        for (size_t i = comps_before; i < ctx->n_comps; i++)
            free(ctx->comps[i].name);
        ctx->n_comps = comps_before;
        for (size_t i = records_before; i < ctx->n_records; i++)
            record_free(ctx->records[i]);
        ctx->n_records = records_before;
        add_record(ctx, path, p->name, PTM_KIND_NONE, NULL, PTM_LOAD_INIT_FAILED, why ? why : "register_components failed");
        ptm_error(s, "plugin %s (%s): %s", p->name, path, why ? why : "register_components failed");
        free(why);
        free(p->name);
        free(p->version);
        free(p->path);
        ctx->n_plugins--;
        ptm__dl_close(handle);
        return s;
    }
    if (ctx->n_records == records_before)
        add_record(ctx, path, p->name, PTM_KIND_NONE, NULL, PTM_LOAD_OK, "registered no components");
    ptm__dl_keep(handle);
    ptm_log(PTM_LOG_DEBUG, "loaded plugin %s %s from %s (%zu components)", p->name, p->version, path,
            ctx->n_comps - comps_before);
    return PTM_OK;
}

ptm_status ptm_context_register_plugin(ptm_context *ctx, const ptm_plugin *plugin)
{
    if (!ctx || !plugin)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_register_plugin: %s is NULL", ctx ? "plugin" : "ctx");
    pthread_mutex_lock(&ctx->mu);
    ptm_status s;
    if (ctx->loaded)
        s = ptm_error(PTM_ERR_STATE, "ptm_context_register_plugin: plugins were already discovered; register "
                                     "in-process plugins before the first lookup or ptm_context_load_plugins");
    else
        s = admit_plugin(ctx, IN_PROCESS, NULL, plugin);
    pthread_mutex_unlock(&ctx->mu);
    return s;
}

/* Open one shared object and admit its plugin. */
static void load_file(ptm_context *ctx, const char *path)
{
    void *handle;
    ptm_plugin_entry_fn entry;
    char *reason;
    ptm_load_outcome o = ptm__dl_open(path, &handle, &entry, &reason);
    if (o != PTM_LOAD_OK) {
        add_record(ctx, path, NULL, PTM_KIND_NONE, NULL, o, reason ? reason : ptm_load_outcome_str(o));
        free(reason);
        return;
    }
    (void)admit_plugin(ctx, path, handle, entry());
}

/* One search-path entry: a directory (its *.so files in strcmp order), a
 * file, or a name that libltdl completes with ".so". */
static void search_entry(ptm_context *ctx, const char *path)
{
    char **files, *missing;
    size_t n;
    if (strv_push(&ctx->searched, path) != PTM_OK || ptm__expand_search_path(path, &files, &n, &missing) != PTM_OK) {
        ctx->oom = 1;
        return;
    }
    if (missing)
        add_record(ctx, path, NULL, PTM_KIND_NONE, NULL, PTM_LOAD_DIR_MISSING, missing);
    free(missing);
    for (size_t i = 0; i < n; i++)
        load_file(ctx, files[i]);
    ptm__free_strv(files, n);
}

/* Discover plugins once; call with ctx->mu held. */
static ptm_status discover_locked(ptm_context *ctx)
{
    if (ctx->loaded)
        return PTM_OK;
    ctx->loaded = 1;
    for (size_t i = 0; i < ctx->explicit_paths.n; i++)
        search_entry(ctx, ctx->explicit_paths.v[i]);
    for (size_t i = 0; i < ctx->env_paths.n; i++)
        search_entry(ctx, ctx->env_paths.v[i]);
    if (!ctx->skip_install_dir) {
        char **dirs;
        size_t n;
        if (ptm__install_plugin_dirs(&dirs, &n) != PTM_OK) {
            ctx->oom = 1;
        } else {
            for (size_t i = 0; i < n; i++)
                search_entry(ctx, dirs[i]);
            ptm__free_strv(dirs, n);
        }
    }
    if (ctx->oom)
        return ptm_error(PTM_ERR_NOMEM, "out of memory while loading plugins (the load report is incomplete)");
    return PTM_OK;
}

ptm_status ptm_context_load_plugins(ptm_context *ctx)
{
    if (!ctx)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_load_plugins: ctx is NULL");
    pthread_mutex_lock(&ctx->mu);
    ptm_status s = discover_locked(ctx);
    pthread_mutex_unlock(&ctx->mu);
    return s;
}

/* After this returns PTM_OK the component table is immutable and may be
 * read without the lock. */
static ptm_status ensure_loaded(ptm_context *ctx)
{
    pthread_mutex_lock(&ctx->mu);
    ptm_status s = ctx->loaded ? PTM_OK : discover_locked(ctx);
    pthread_mutex_unlock(&ctx->mu);
    /* A failed discovery still leaves a usable, if incomplete, table. */
    return s == PTM_ERR_NOMEM && ctx->n_comps ? PTM_OK : s;
}

/* ------------------------------------------------------------ registrar */

static ptm_status check_registrar(const ptm_registrar *reg)
{
    if (!reg || !reg->active || !reg->ctx)
        return ptm_error(PTM_ERR_STATE, "registrar used outside register_components");
    return PTM_OK;
}

static const component *find_comp(const ptm_context *ctx, ptm_component_kind kind, const char *name)
{
    for (size_t i = 0; i < ctx->n_comps; i++)
        if (ctx->comps[i].kind == kind && strcmp(ctx->comps[i].name, name) == 0)
            return &ctx->comps[i];
    return NULL;
}

/* Register one name (first registration wins). */
static ptm_status reg_name(ptm_registrar *reg, ptm_component_kind kind, const char *name, const void *vt)
{
    ptm_context *ctx = reg->ctx;
    const plugin_rec *me = &ctx->plugins[reg->plugin];
    const component *prev = find_comp(ctx, kind, name);
    if (prev) {
        if (prev->plugin == reg->plugin && prev->vtable == vt)
            return PTM_OK; /* the same vtable naming itself twice */
        const plugin_rec *owner = &ctx->plugins[prev->plugin];
        char *why = ptm__asprintf("%s \"%s\" is already registered by plugin \"%s\" (%s)", kind_word(kind), name,
                                  owner->name, owner->path);
        add_record(ctx, me->path, me->name, kind, name, PTM_LOAD_SHADOWED, why ? why : "already registered");
        ptm_log(PTM_LOG_INFO, "plugin %s: %s", me->name, why ? why : "name already registered");
        free(why);
        return PTM_OK;
    }
    if (ctx->n_comps == ctx->cap_comps) {
        size_t nc = ctx->cap_comps ? ctx->cap_comps * 2 : 16;
        component *nv = realloc(ctx->comps, nc * sizeof *nv);
        if (!nv)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        ctx->comps = nv;
        ctx->cap_comps = nc;
    }
    component *c = &ctx->comps[ctx->n_comps];
    c->kind = kind;
    c->name = ptm__strdup(name);
    c->vtable = vt;
    c->plugin = reg->plugin;
    if (!c->name)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ctx->n_comps++;
    add_record(ctx, me->path, me->name, kind, name, PTM_LOAD_OK, "");
    return PTM_OK;
}

/* Refuse a vtable: record it and return PTM_ERR_INVALID_ARG with `why`. */
static ptm_status refuse_vtable(ptm_registrar *reg, ptm_component_kind kind, const char *name, const char *why)
{
    const plugin_rec *me = &reg->ctx->plugins[reg->plugin];
    add_record(reg->ctx, me->path, me->name, kind, name, PTM_LOAD_BAD_DESCRIPTOR, why);
    return ptm_error(PTM_ERR_INVALID_ARG, "plugin %s: %s", me->name, why);
}

/* A name readable from a vtable laid out as {struct_size, name, ...}. */
#define VT_NAME(type, vt) ((vt)->struct_size >= END_OF(type, name) ? (vt)->name : NULL)

ptm_status ptm_registrar_add_arch(ptm_registrar *reg, const ptm_arch *arch)
{
    ptm_status s = check_registrar(reg);
    if (s != PTM_OK)
        return s;
    char buf[256];
    if (!arch)
        return refuse_vtable(reg, PTM_KIND_ARCH, NULL, "NULL architecture vtable");
    const char *mt = arch->struct_size >= END_OF(ptm_arch, model_type) ? arch->model_type : NULL;
    if (arch->struct_size < END_OF(ptm_arch, declare)) {
        snprintf(buf, sizeof buf, "architecture vtable struct_size %zu is smaller than the %zu bytes required",
                 arch->struct_size, END_OF(ptm_arch, declare));
        return refuse_vtable(reg, PTM_KIND_ARCH, mt, buf);
    }
    if (!arch->create || !arch->destroy || !arch->declare) {
        snprintf(buf, sizeof buf, "architecture \"%s\" lacks a required function (create, destroy, declare)",
                 mt ? mt : "?");
        return refuse_vtable(reg, PTM_KIND_ARCH, mt, buf);
    }
    int named = mt && mt[0];
    for (const char *const *c = arch->class_names; c && *c; c++)
        named |= (*c)[0] != '\0';
    if (!named)
        return refuse_vtable(reg, PTM_KIND_ARCH, NULL, "architecture has neither a model_type nor class names");
    if (mt && mt[0] && (s = reg_name(reg, PTM_KIND_ARCH, mt, arch)) != PTM_OK)
        return s;
    for (const char *const *c = arch->class_names; c && *c; c++)
        if ((*c)[0] && (s = reg_name(reg, PTM_KIND_ARCH, *c, arch)) != PTM_OK)
            return s;
    return PTM_OK;
}

ptm_status ptm_registrar_add_format(ptm_registrar *reg, const ptm_format *fmt)
{
    ptm_status s = check_registrar(reg);
    if (s != PTM_OK)
        return s;
    char buf[256];
    if (!fmt)
        return refuse_vtable(reg, PTM_KIND_FORMAT, NULL, "NULL format vtable");
    const char *name = VT_NAME(ptm_format, fmt);
    if (fmt->struct_size < END_OF(ptm_format, load)) {
        snprintf(buf, sizeof buf, "format vtable struct_size %zu is smaller than the %zu bytes required",
                 fmt->struct_size, END_OF(ptm_format, load));
        return refuse_vtable(reg, PTM_KIND_FORMAT, name, buf);
    }
    if (!name || !name[0])
        return refuse_vtable(reg, PTM_KIND_FORMAT, NULL, "format has no name");
    if (!fmt->probe || !fmt->open || !fmt->close || !fmt->count || !fmt->info || !fmt->load) {
        snprintf(buf, sizeof buf, "format \"%s\" lacks a required function (probe, open, close, count, info, load)",
                 name);
        return refuse_vtable(reg, PTM_KIND_FORMAT, name, buf);
    }
    return reg_name(reg, PTM_KIND_FORMAT, name, fmt);
}

ptm_status ptm_registrar_add_backend(ptm_registrar *reg, const ptm_backend *be)
{
    ptm_status s = check_registrar(reg);
    if (s != PTM_OK)
        return s;
    char buf[256];
    if (!be)
        return refuse_vtable(reg, PTM_KIND_BACKEND, NULL, "NULL backend vtable");
    const char *name = VT_NAME(ptm_backend, be);
    if (be->struct_size < END_OF(ptm_backend, device_count)) {
        snprintf(buf, sizeof buf, "backend vtable struct_size %zu is smaller than the %zu bytes required",
                 be->struct_size, END_OF(ptm_backend, device_count));
        return refuse_vtable(reg, PTM_KIND_BACKEND, name, buf);
    }
    if (!name || !name[0])
        return refuse_vtable(reg, PTM_KIND_BACKEND, NULL, "backend has no name");
    if (!be->device_count) {
        snprintf(buf, sizeof buf, "backend \"%s\" lacks the required device_count function", name);
        return refuse_vtable(reg, PTM_KIND_BACKEND, name, buf);
    }
    return reg_name(reg, PTM_KIND_BACKEND, name, be);
}

/* ------------------------------------------------------------ report */

size_t ptm_context_load_report_size(ptm_context *ctx)
{
    if (!ctx)
        return 0;
    pthread_mutex_lock(&ctx->mu);
    size_t n = ctx->n_records;
    pthread_mutex_unlock(&ctx->mu);
    return n;
}

const ptm_load_record *ptm_context_load_report(ptm_context *ctx, size_t i)
{
    if (!ctx)
        return NULL;
    pthread_mutex_lock(&ctx->mu);
    const ptm_load_record *r = i < ctx->n_records ? ctx->records[i] : NULL;
    pthread_mutex_unlock(&ctx->mu);
    return r;
}

/* ------------------------------------------------------------ lookups */

size_t ptm_context_component_count(ptm_context *ctx)
{
    if (!ctx || ensure_loaded(ctx) != PTM_OK)
        return 0;
    return ctx->n_comps;
}

static void fill_info(const ptm_context *ctx, const component *c, ptm_component_info *out)
{
    const plugin_rec *p = &ctx->plugins[c->plugin];
    out->kind = c->kind;
    out->name = c->name;
    out->plugin = p->name;
    out->plugin_version = p->version;
    out->path = p->path;
    out->vtable = c->vtable;
}

ptm_status ptm_context_component(ptm_context *ctx, size_t i, ptm_component_info *out)
{
    if (!ctx || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_component: NULL argument");
    ptm_status s = ensure_loaded(ctx);
    if (s != PTM_OK)
        return s;
    if (i >= ctx->n_comps)
        return ptm_error(PTM_ERR_INVALID_ARG, "component index %zu out of range (%zu components)", i, ctx->n_comps);
    fill_info(ctx, &ctx->comps[i], out);
    return PTM_OK;
}

/* Join the names of `kind` with ", " (malloc'd; "" when there are none). */
static char *join_names(const ptm_context *ctx, ptm_component_kind kind)
{
    size_t len = 1;
    for (size_t i = 0; i < ctx->n_comps; i++)
        if (ctx->comps[i].kind == kind)
            len += strlen(ctx->comps[i].name) + 2;
    char *out = malloc(len), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < ctx->n_comps; i++) {
        if (ctx->comps[i].kind != kind)
            continue;
        size_t n = strlen(ctx->comps[i].name);
        if (p != out) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, ctx->comps[i].name, n);
        p += n;
    }
    *p = '\0';
    return out;
}

/* "dirA, dirB" of everything searched, in order (malloc'd). */
static char *join_searched(const ptm_context *ctx)
{
    int inproc = 0;
    for (size_t i = 0; i < ctx->n_plugins; i++)
        inproc |= ctx->plugins[i].handle == NULL;
    size_t len = 1 + (inproc ? sizeof IN_PROCESS + 2 : 0);
    for (size_t i = 0; i < ctx->searched.n; i++)
        len += strlen(ctx->searched.v[i]) + 2;
    char *out = malloc(len), *p = out;
    if (!out)
        return NULL;
    *p = '\0';
    if (inproc)
        p += sprintf(p, "%s", IN_PROCESS);
    for (size_t i = 0; i < ctx->searched.n; i++)
        p += sprintf(p, "%s%s", p != out ? ", " : "", ctx->searched.v[i]);
    return out;
}

/* Set a NOT_FOUND message: "<what> (<label>: ...; searched: ...)". */
static ptm_status not_found(const ptm_context *ctx, ptm_component_kind kind, const char *what, const char *label)
{
    char *avail = join_names(ctx, kind);
    char *searched = join_searched(ctx);
    if (avail && strlen(avail) > MAX_LISTED)
        memcpy(avail + MAX_LISTED - 3, "...", 4);
    ptm_status s = ptm_error(PTM_ERR_NOT_FOUND, "%s (%s: %s; searched: %s)", what, label,
                             avail && avail[0] ? avail : "none", searched && searched[0] ? searched : "nothing");
    free(avail);
    free(searched);
    return s;
}

ptm_status ptm__context_find(ptm_context *ctx, ptm_component_kind kind, const char *name, ptm_component_info *out)
{
    if (!ctx || !name)
        return ptm_error(PTM_ERR_INVALID_ARG, "%s lookup: NULL %s", kind_word(kind), ctx ? "name" : "context");
    ptm_status s = ensure_loaded(ctx);
    if (s != PTM_OK)
        return s;
    const component *c = find_comp(ctx, kind, name);
    if (!c) {
        char what[320];
        snprintf(what, sizeof what, "no %s \"%.256s\" is registered", kind_word(kind), name);
        return not_found(ctx, kind, what, "available");
    }
    if (out)
        fill_info(ctx, c, out);
    return PTM_OK;
}

char *ptm__context_names(ptm_context *ctx, ptm_component_kind kind)
{
    if (!ctx)
        return ptm__strdup("");
    (void)ensure_loaded(ctx);
    return join_names(ctx, kind);
}

static const void *find_vtable(ptm_context *ctx, ptm_component_kind kind, const char *name)
{
    ptm_component_info info;
    return ptm__context_find(ctx, kind, name, &info) == PTM_OK ? info.vtable : NULL;
}

const ptm_arch *ptm_context_find_arch(ptm_context *ctx, const char *name)
{
    return find_vtable(ctx, PTM_KIND_ARCH, name);
}

const ptm_format *ptm_context_find_format(ptm_context *ctx, const char *name)
{
    return find_vtable(ctx, PTM_KIND_FORMAT, name);
}

const ptm_backend *ptm_context_find_backend(ptm_context *ctx, const char *name)
{
    return find_vtable(ctx, PTM_KIND_BACKEND, name);
}

const ptm_format *ptm_context_detect_format(ptm_context *ctx, const char *path)
{
    if (!ctx || !path) {
        ptm_error(PTM_ERR_INVALID_ARG, "ptm_context_detect_format: NULL %s", ctx ? "path" : "context");
        return NULL;
    }
    uint8_t head[HEAD_BYTES];
    size_t got;
    if (ptm__read_head(path, head, sizeof head, &got) != PTM_OK)
        return NULL;
    if (ensure_loaded(ctx) != PTM_OK)
        return NULL;
    const ptm_format *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < ctx->n_comps; i++) {
        if (ctx->comps[i].kind != PTM_KIND_FORMAT)
            continue;
        const ptm_format *f = ctx->comps[i].vtable;
        int score = f->probe(path, head, got);
        if (score > best_score) {
            best = f;
            best_score = score;
        }
    }
    if (!best) {
        char what[320];
        snprintf(what, sizeof what, "%.256s: no format recognises this file", path);
        not_found(ctx, PTM_KIND_FORMAT, what, "tried");
    }
    return best;
}
