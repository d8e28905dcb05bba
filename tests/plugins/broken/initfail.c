/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin whose register_components registers a backend and then fails:
 * refused as "init failed", and the backend must be gone again. */
#include <ptm/ptm.h>

static int device_count(void) { return 1; }
static const ptm_backend backend = {
    .struct_size = sizeof(ptm_backend), .name = "initfail_backend", .device_count = device_count,
};

static ptm_status register_components(ptm_registrar *reg)
{
    ptm_status s = ptm_registrar_add_backend(reg, &backend);
    if (s != PTM_OK)
        return s;
    return ptm_error(PTM_ERR_PLUGIN, "initfail: simulated failure after registering a backend");
}

static const ptm_plugin plugin = {PTM_PLUGIN_HEADER, "initfail", "0.1.0", "fails in register_components",
                                  "Apache-2.0", register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
