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

/* ---------------------------------------------- the push flow */

typedef struct ptm__push_ctx {
    char *endpoint;       /* no trailing '/' */
    char *token;          /* may be NULL */
    const char *repo_id;  /* "org/name" (a bare "name" as the server completed it) */
    const char *revision; /* branch ("main" by default) */
    char *qrev;           /* revision percent-encoded, '/' included */
    int create_pr;
    ptm_hub_progress_fn progress; /* may be NULL */
    void *progress_user;
} ptm__push_ctx;

typedef struct ptm__push_file {
    char *name;      /* path in the repo (top-level file name) */
    char *path;      /* local path */
    uint64_t size;
    char sha256[65];
    int lfs;         /* uploadMode "lfs" (never for empty files) */
    int ignore;      /* shouldIgnore: neither uploaded nor committed */
    char sha1[41];   /* git blob sha1 (the oid of a regular file) */
    int unchanged;   /* the repo already has this content at this path */
} ptm__push_file;

void ptm__push_files_free(ptm__push_file *f, size_t n);

/* One Hub API call with the token (endpoint origin only), an optional
 * body of content_type ("application/vnd.git-lfs+json" also sets Accept).
 * A failed transfer's message starts with `what`.  Free rs afterwards,
 * whatever the status. */
ptm_status ptm__push_api(const ptm__push_ctx *c, const char *what, const char *method, const char *url,
                         const char *content_type, const char *body, size_t len, ptm__hub_response *rs);
/* ptm__push_api, and an answer of HTTP 400 or more is an error too
 * (ptm__hub_http_error).  Free rs afterwards, whatever the status. */
ptm_status ptm__push_api_ok(const ptm__push_ctx *c, const char *what, const char *method, const char *url,
                            const char *content_type, const char *body, size_t len, ptm__hub_response *rs);
/* Base64 (malloc'd, NUL-terminated; NULL on OOM). */
char *ptm__push_base64(const void *data, size_t n);
/* LFS batch + transfers (basic, multipart, verify) for the files marked
 * lfs (hub_push_lfs.c). */
ptm_status ptm__push_lfs(const ptm__push_ctx *c, const ptm__push_file *f, size_t n);

/* ---------------------------------------------- upload API answers */

/* Preupload answer {"files": [{path, uploadMode, shouldIgnore, oid?}, ...]}:
 * for each of the n paths asked, is_lfs[i] (uploadMode "lfs" vs "regular"),
 * ignore[i] (shouldIgnore) and remote_oid[i] (malloc'd 40/64 lowercase hex,
 * or NULL).  A path missing from the answer or another uploadMode is an
 * error (PTM_ERR_NETWORK; remote_oid all NULL then). */
ptm_status ptm__push_parse_preupload(const char *json, size_t len, const char *what, const char *const *paths,
                                     size_t n, int *is_lfs, int *ignore, char **remote_oid);

#define PTM__LFS_MAX_PARTS 10000

/* One object of an LFS batch answer. */
typedef struct ptm__lfs_action {
    char oid[65];
    int64_t size;
    int has_upload;      /* 0: the server has it already */
    char *href;          /* upload href (basic PUT target, or multipart completion) */
    uint64_t chunk_size; /* 0: basic upload */
    char **part_urls;    /* multipart: part 1, 2, ... in order */
    size_t nparts;
    char *verify_href;   /* NULL when no verify action */
} ptm__lfs_action;

/* LFS batch answer {"objects": [{oid, size, actions?: {upload?: {href,
 * header?}, verify?: {href}}, error?}]}.  An object with "error" fails the
 * whole answer; multipart needs ceil(size / chunk_size) numbered parts (at
 * most PTM__LFS_MAX_PARTS). */
ptm_status ptm__push_parse_batch(const char *json, size_t len, const char *what, ptm__lfs_action **out, size_t *n);
void ptm__push_batch_free(ptm__lfs_action *a, size_t n);

/* The create-repo answer's "url" (200 and 409 both carry one) as "org/name"
 * (*repo_id malloc'd), or *repo_id = NULL when it has no usable one. */
ptm_status ptm__push_parse_repo_url(const char *json, size_t len, char **repo_id);

/* Commit answer: commitUrl (required) and pullRequestUrl (NULL if absent). */
ptm_status ptm__push_parse_commit(const char *json, size_t len, const char *what, char **commit_url, char **pr_url);

#endif
