/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin that registers a format vtable too small for the core (it stops
 * after `name`) and returns the registrar's PTM_ERR_INVALID_ARG: refused as
 * "init failed" with the registrar's message. */
#include <ptm/ptm.h>

#include <stddef.h>

static const ptm_format fmt = {
    .struct_size = offsetof(ptm_format, name) + sizeof(const char *),
    .name = "tinyformat",
};

static ptm_status register_components(ptm_registrar *reg) { return ptm_registrar_add_format(reg, &fmt); }

static const ptm_plugin plugin = {PTM_PLUGIN_HEADER, "badvtable", "0.1.0", "registers a too-small vtable",
                                  "Apache-2.0", register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
