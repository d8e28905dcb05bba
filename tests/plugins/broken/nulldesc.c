/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin whose entry returns NULL: refused as "bad descriptor". */
#include <ptm/ptm.h>

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return NULL; }
