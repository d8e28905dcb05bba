/* SPDX-License-Identifier: Apache-2.0 */
/* hub_push.h - push_to_hub internals (core-private): the model card writer
 * and the parsers of the upload API's answers. */
#ifndef PTM_HUB_PUSH_H
#define PTM_HUB_PUSH_H

#include "hub_http.h"

/* README.md for a push.  existing == NULL: a new card (front matter
 * "library_name: transformers" and "tags", then a short body naming
 * repo_id's last part).  Else `existing` (len bytes) with the NULL-terminated
 * `tags` (may be NULL) appended to its front matter's top-level tags list
 * (created when missing, a flow or scalar value rewritten as a block list);
 * everything else, line endings included, kept byte for byte; *changed = 0
 * when nothing had to be added.  *out is malloc'd and NUL-terminated. */
ptm_status ptm__model_card(const char *existing, size_t len, const char *repo_id, const char *const *tags, char **out,
                           size_t *out_len, int *changed);

#endif
