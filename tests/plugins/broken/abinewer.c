/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin that needs a newer ABI minor than the core has: refused as
 * "ABI too new". */
#include <ptm/ptm.h>

static ptm_status register_components(ptm_registrar *reg)
{
    (void)reg;
    return PTM_OK;
}

static const ptm_plugin plugin = {sizeof(ptm_plugin), PTM_ABI_MAJOR, PTM_ABI_MINOR + 1, "abinewer", "0.1.0",
                                  "built for a newer ABI minor", "Apache-2.0", register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
