/* SPDX-License-Identifier: Apache-2.0 */
/* hub_internal.h - the download side of the Hub client: the cache layout
 * (hub_cache.c) and one file's download (hub_download.c).  Core-private. */
#ifndef PTM_HUB_INTERNAL_H
#define PTM_HUB_INTERNAL_H

#include "hub_http.h"

/* Settings of one ptm_hub_download / snapshot call, resolved once. */
typedef struct ptm__hub {
    char *endpoint;
    char *token;         /* may be NULL; ptm__hub_secret_free */
    char *cache;         /* cache root */
    const char *revision;
    const char *proxy;
    int force_download;
    int local_only;      /* local_files_only */
    int offline;         /* HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE */
    long etag_timeout, download_timeout;
    ptm_hub_progress_fn progress;
    void *progress_user;
} ptm__hub;

ptm_status ptm__hub_setup(ptm__hub *h, const ptm_hub_options *o);
void ptm__hub_teardown(ptm__hub *h);

/* One file of a repo at h->revision (spec §1.4).  `filename` already
 * carries the subfolder.  *path_out: the snapshot pointer path. */
ptm_status ptm__hub_fetch(ptm__hub *h, const char *repo_id, const char *filename, char **path_out);

/* ---- cache layout (spec §3) ---- */
/* "models--org--name" */
char *ptm__hub_repo_folder(const char *repo_id);
/* The commit refs/<rev> holds, read verbatim; NULL when absent or not a
 * usable folder name. */
char *ptm__hub_read_ref(const char *storage, const char *rev);
/* refs/<rev> = commit (no newline), atomically, only when it differs. */
ptm_status ptm__hub_write_ref(const char *storage, const char *rev, const char *commit);
/* snapshots/<commit>/<filename> -> ../../blobs/<etag> (one more ../ per
 * folder level of filename); an existing pointer is replaced. */
ptm_status ptm__hub_link(const char *storage, const char *commit, const char *filename, const char *etag);
/* The empty marker .no_exist/<commit>/<filename>. */
ptm_status ptm__hub_mark_missing(const char *storage, const char *commit, const char *filename);
/* flock(LOCK_EX) on <cache>/.locks/<folder>/<etag>.lock; *fd for unlock. */
ptm_status ptm__hub_lock(const char *cache, const char *folder, const char *etag, int *fd);
void ptm__hub_unlock(int fd);
/* CACHEDIR.TAG in the cache root when absent (best effort). */
void ptm__hub_cachedir_tag(const char *cache);
/* An etag usable as a blob file name: [A-Za-z0-9._-], 1..128, not
 * starting with '.'. */
int ptm__hub_safe_etag(const char *etag);

#endif
