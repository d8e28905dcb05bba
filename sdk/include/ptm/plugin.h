/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.h - the plugin entry point, descriptor, ABI version and registrar.
 *
 * A plugin is a shared object exporting one symbol, `ptm_plugin_entry`,
 * that returns a pointer to a static ptm_plugin descriptor.  The core accepts
 * the plugin when descriptor->abi_major == PTM_ABI_MAJOR and
 * descriptor->abi_minor <= PTM_ABI_MINOR, then calls register_components(),
 * which registers architectures, formats and backends by name.  Every vtable
 * passed to the registrar must stay valid until the plugin is unloaded (when
 * the context is freed): use static const storage.  Build plugins with
 * -fvisibility=hidden; PTM_PLUGIN_EXPORT marks the entry symbol. */
#ifndef PTM_PLUGIN_H
#define PTM_PLUGIN_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version of these headers.  An incompatible change to a vtable or a
 * public struct bumps the major; members added at the end of a
 * struct_size-prefixed struct bump the minor. */
#define PTM_ABI_MAJOR 1
#define PTM_ABI_MINOR 1

#define PTM_PLUGIN_ENTRY_SYMBOL "ptm_plugin_entry"

#if defined(__GNUC__)
#define PTM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define PTM_PLUGIN_EXPORT
#endif

struct ptm_arch;
struct ptm_format;
struct ptm_backend;

/* Handed to register_components; valid only during that call. */
typedef struct ptm_registrar ptm_registrar;

typedef struct ptm_plugin {
    size_t struct_size;   /* sizeof(ptm_plugin) as compiled by the plugin */
    uint32_t abi_major;   /* PTM_ABI_MAJOR */
    uint32_t abi_minor;   /* PTM_ABI_MINOR */
    const char *name;     /* unique plugin name, e.g. "safetensors" */
    const char *version;  /* the plugin's own version, e.g. "0.1.0" */
    const char *description;
    const char *license;  /* SPDX identifier */
    /* Register the plugin's components.  A non-OK return refuses the whole
     * plugin (recorded as an init failure in the load report) and undoes
     * whatever it registered. */
    ptm_status (*register_components)(ptm_registrar *reg);
} ptm_plugin;

/* Fill the ABI fields of a descriptor: `static const ptm_plugin p = {
 * PTM_PLUGIN_HEADER, "name", "0.1.0", "what", "Apache-2.0", reg };` */
#define PTM_PLUGIN_HEADER sizeof(ptm_plugin), PTM_ABI_MAJOR, PTM_ABI_MINOR

/* The type of the exported entry symbol. */
typedef const ptm_plugin *(*ptm_plugin_entry_fn)(void);

/* Register an architecture under its model_type and each of its class names.
 * A name already registered by an earlier plugin is not replaced: it is
 * recorded as "shadowed" in the load report and the call still returns
 * PTM_OK (the first registration wins).  PTM_ERR_INVALID_ARG for a NULL or
 * too-small vtable, or one with no names. */
PTM_API ptm_status ptm_registrar_add_arch(ptm_registrar *reg, const struct ptm_arch *arch);
/* Register a format under its name (same shadowing rule). */
PTM_API ptm_status ptm_registrar_add_format(ptm_registrar *reg, const struct ptm_format *fmt);
/* Register a backend under its name (same shadowing rule). */
PTM_API ptm_status ptm_registrar_add_backend(ptm_registrar *reg, const struct ptm_backend *be);

#ifdef __cplusplus
}
#endif
#endif
