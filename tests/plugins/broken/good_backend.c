/* SPDX-License-Identifier: Apache-2.0 */
/* A well-formed test plugin: backend "testbackend" with one device. */
#include <ptm/ptm.h>

static int device_count(void) { return 1; }

static const ptm_backend backend = {
    .struct_size = sizeof(ptm_backend),
    .name = "testbackend",
    .description = "loader test backend (no kernels)",
    .device_count = device_count,
};

static ptm_status register_components(ptm_registrar *reg) { return ptm_registrar_add_backend(reg, &backend); }

static const ptm_plugin plugin = {PTM_PLUGIN_HEADER, "testbackend", "0.1.0", "loader test backend", "Apache-2.0",
                                  register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
