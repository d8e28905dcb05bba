/* SPDX-License-Identifier: Apache-2.0 */
/* A shared object without the ptm_plugin_entry symbol. */
#include <ptm/ptm.h>

PTM_PLUGIN_EXPORT int ptmtest_not_an_entry(void);
PTM_PLUGIN_EXPORT int ptmtest_not_an_entry(void) { return 42; }
