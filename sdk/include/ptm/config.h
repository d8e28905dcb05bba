/* SPDX-License-Identifier: Apache-2.0 */
/* config.h - config.json as a JSON document that keeps every key.
 *
 * A ptm_config holds the whole JSON object: keys the library does not know
 * survive a load/save round trip.  Numbers keep their original spelling
 * ("1.0" stays "1.0") unless set through this API.  Saving writes the style
 * of transformers' to_json_file: 2-space indent, keys sorted, ASCII-only
 * output, a trailing newline. */
#ifndef PTM_CONFIG_H
#define PTM_CONFIG_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ptm_config ptm_config;

/* Parse JSON text (need not be NUL-terminated).  `origin` names the source
 * in error messages (a path, or NULL).  The top level must be an object. */
PTM_API ptm_status ptm_config_parse(const char *text, size_t len, const char *origin, ptm_config **out);
/* Read and parse a file. */
PTM_API ptm_status ptm_config_load(const char *path, ptm_config **out);
/* A new empty object. */
PTM_API ptm_status ptm_config_new(ptm_config **out);
PTM_API ptm_status ptm_config_clone(const ptm_config *cfg, ptm_config **out);
PTM_API void ptm_config_free(ptm_config *cfg);
/* Serialise (sorted keys, indent 2, trailing newline).  Free with ptm_free. */
PTM_API ptm_status ptm_config_to_json(const ptm_config *cfg, char **out);
/* Write to `path` via a temporary file renamed into place. */
PTM_API ptm_status ptm_config_save(const ptm_config *cfg, const char *path);
/* The origin given at parse/load time, or NULL. */
PTM_API const char *ptm_config_origin(const ptm_config *cfg);

/* Top-level lookups.  `key` may be a dotted path into nested objects
 * ("text_config.hidden_size").  The plain getters return `dflt` when the key
 * is absent or null, and also when it has another type. */
PTM_API int ptm_config_has(const ptm_config *cfg, const char *key);
PTM_API int64_t ptm_config_int(const ptm_config *cfg, const char *key, int64_t dflt);
PTM_API double ptm_config_float(const ptm_config *cfg, const char *key, double dflt);
PTM_API int ptm_config_bool(const ptm_config *cfg, const char *key, int dflt);
/* Borrowed string (valid until the key is changed), or `dflt`. */
PTM_API const char *ptm_config_string(const ptm_config *cfg, const char *key, const char *dflt);
/* Array length of `key` (0 if absent or not an array) and its string items. */
PTM_API size_t ptm_config_array_size(const ptm_config *cfg, const char *key);
PTM_API const char *ptm_config_array_string(const ptm_config *cfg, const char *key, size_t i);
/* Integer item i of array `key` into *out: 1 if it is an integer, else 0. */
PTM_API int ptm_config_array_int(const ptm_config *cfg, const char *key, size_t i, int64_t *out);

/* Strict getters: PTM_ERR_CONFIG with a message naming the key and origin
 * when the key is missing or has the wrong type (an int must be integral). */
PTM_API ptm_status ptm_config_get_int(const ptm_config *cfg, const char *key, int64_t *out);
PTM_API ptm_status ptm_config_get_float(const ptm_config *cfg, const char *key, double *out);
PTM_API ptm_status ptm_config_get_string(const ptm_config *cfg, const char *key, const char **out);

/* Setters replace any existing value of `key` (top level or dotted path;
 * missing intermediate objects are created). */
PTM_API ptm_status ptm_config_set_int(ptm_config *cfg, const char *key, int64_t v);
PTM_API ptm_status ptm_config_set_float(ptm_config *cfg, const char *key, double v);
PTM_API ptm_status ptm_config_set_bool(ptm_config *cfg, const char *key, int v);
PTM_API ptm_status ptm_config_set_string(ptm_config *cfg, const char *key, const char *v);
PTM_API ptm_status ptm_config_set_null(ptm_config *cfg, const char *key);
/* Replace `key` with an array of strings. */
PTM_API ptm_status ptm_config_set_string_array(ptm_config *cfg, const char *key, const char *const *v, size_t n);
/* Set `key` from a JSON text ("3", "[1,2]", "{\"a\":1}"), like a kwargs override. */
PTM_API ptm_status ptm_config_set_json(ptm_config *cfg, const char *key, const char *json);
/* Remove `key` (no error if absent). */
PTM_API void ptm_config_remove(ptm_config *cfg, const char *key);
/* Number of top-level keys and key i in document order (borrowed). */
PTM_API size_t ptm_config_size(const ptm_config *cfg);
PTM_API const char *ptm_config_key(const ptm_config *cfg, size_t i);

#ifdef __cplusplus
}
#endif
#endif
