/* SPDX-License-Identifier: Apache-2.0 */
/* A descriptor whose struct_size stops before register_components:
 * refused as "bad descriptor". */
#include <ptm/ptm.h>

#include <stddef.h>

static ptm_status register_components(ptm_registrar *reg)
{
    (void)reg;
    return PTM_OK;
}

static const ptm_plugin plugin = {offsetof(ptm_plugin, register_components), PTM_ABI_MAJOR, PTM_ABI_MINOR,
                                  "smalldesc", "0.1.0", "descriptor too small", "Apache-2.0",
                                  register_components};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &plugin; }
