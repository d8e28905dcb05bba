/* SPDX-License-Identifier: Apache-2.0 */
/* config_internal.h - the ptm_config struct, shared by config.c and
 * gencfg.c (which compares and copies cJSON values directly).
 * Core-private. */
#ifndef PTM_CONFIG_INTERNAL_H
#define PTM_CONFIG_INTERNAL_H

#include "internal.h"

#include <cJSON.h>

struct ptm_config {
    cJSON *root;  /* always an object */
    char *origin; /* path or NULL */
};

/* Set `key` of object `obj` (the key as it is, no dotted path) to `item`,
 * replacing an earlier value; takes ownership of item (freed on failure). */
ptm_status ptm__cjson_put(cJSON *obj, const char *key, cJSON *item);

#endif
