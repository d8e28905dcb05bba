/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin built for the next ABI major: refused as "ABI major mismatch". */
#include <ptm/ptm.h>

static ptm_status register_components(ptm_registrar *reg)
{
    (void)reg;
    return PTM_OK;
}

static const ptm_plugin plugin = {sizeof(ptm_plugin), PTM_ABI_MAJOR + 1, 0, "abimajor", "0.1.0",
                                  "built for a future ABI major", "Apache-2.0", register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
