/* SPDX-License-Identifier: Apache-2.0 */
/* hub.h - download model repositories from the Hugging Face Hub (or a
 * mirror) into the cache the Python huggingface_hub library uses
 * (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub), so files
 * either tool downloaded are found by the other.  Included by ptm.h.
 * Since 0.2. */
#ifndef PTM_HUB_H
#define PTM_HUB_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ptm_context ptm_context;

/* Progress of one file download: `done` of `total` bytes (total 0 when
 * unknown); `finished` is 1 on the last call for that file.  The library
 * never prints: the `ptm` command draws its bar from this. */
typedef void (*ptm_hub_progress_fn)(void *user, const char *filename, uint64_t done, uint64_t total,
                                    int finished);

typedef struct ptm_hub_options {
    size_t struct_size;
    /* Branch, tag or full commit id; NULL = "main". */
    const char *revision;
    /* Cache root; NULL = HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub. */
    const char *cache_dir;
    /* Download again even when cached. */
    int force_download;
    /* Never touch the network (also when HF_HUB_OFFLINE is true). */
    int local_files_only;
    /* Token; NULL = HF_TOKEN, else the token file (HF_TOKEN_PATH, else
     * HF_HOME/token).  Sent only to the endpoint, never to redirect
     * targets on other hosts; never logged or put into messages. */
    const char *token;
    /* Hub URL; NULL = HF_ENDPOINT, else https://huggingface.co. */
    const char *endpoint;
    /* Proxy URL, used for every host (as transformers' proxies=: no_proxy
     * does not apply to it); NULL = the usual environment variables
     * (https_proxy, http_proxy, no_proxy, ...). */
    const char *proxy;
    /* Folder inside the repo holding the model (transformers' subfolder). */
    const char *subfolder;
    /* Called during each file's download (may be NULL). */
    ptm_hub_progress_fn progress;
    void *progress_user;
} ptm_hub_options;

PTM_API void ptm_hub_options_init(ptm_hub_options *opts);

/* hf_hub_download: one file of `repo_id` ("name" or "org/name") at the
 * revision, into the cache.  *path_out (free with ptm_free) is the file's
 * path inside snapshots/<commit>/ (a relative symlink into blobs/).  Errors:
 * PTM_ERR_REPO_NOT_FOUND, PTM_ERR_GATED, PTM_ERR_REVISION_NOT_FOUND,
 * PTM_ERR_ENTRY_NOT_FOUND, PTM_ERR_OFFLINE (offline or unreachable, and not
 * cached), PTM_ERR_NETWORK (timeouts, server errors, wrong size or hash),
 * PTM_ERR_IO (the cache), PTM_ERR_INVALID_ARG.  `opts` may be NULL; `ctx`
 * is not used yet and may be NULL. */
PTM_API ptm_status ptm_hub_download(ptm_context *ctx, const char *repo_id, const char *filename,
                                    const ptm_hub_options *opts, char **path_out);

/* What ptm_model_from_pretrained needs from a repo: config.json, the
 * weights by the priority of local loading (model.safetensors, its index,
 * pytorch_model.bin, its index; tf_model.h5 with from_tf, flax_model.msgpack
 * with from_flax), the shards an index names, and, when the repo has
 * them, generation_config.json, tokenizer_config.json and
 * special_tokens_map.json.  *dir_out (ptm_free) is the snapshot folder
 * (with the subfolder). */
PTM_API ptm_status ptm_hub_snapshot_for_load(ptm_context *ctx, const char *repo_id, const ptm_hub_options *opts,
                                             int from_tf, int from_flax, char **dir_out);

/* 1 if `s` has the shape of a Hub repo id ("name" or "org/name"). */
PTM_API int ptm_hub_is_repo_id(const char *s);

/* ------------------------------------------------------------ uploading
 * push_to_hub: upload a model to a Hub repository (or a Hub-compatible
 * server) as transformers' PushToHubMixin.push_to_hub does (docs/hub.md,
 * "Uploading"). */

typedef struct ptm_push_options {
    size_t struct_size;
    const char *commit_message;     /* NULL: "Upload model" */
    const char *commit_description; /* NULL: none */
    int is_private;                 /* create the repo private (transformers' private=True) */
    const char *token;              /* NULL: HF_TOKEN, then the token file under HF_HOME */
    const char *endpoint;           /* NULL: HF_ENDPOINT, then https://huggingface.co */
    const char *revision;           /* branch to commit to; NULL: main */
    int create_pr;                  /* open a pull request instead of committing to the branch */
    uint64_t max_shard_size;        /* as ptm_save_options (0: 5 GB) */
    int safe_serialization;         /* 1 (default): model.safetensors; 0: pytorch_model.bin */
    const char *const *tags;        /* NULL-terminated, added to README.md's metadata; may be NULL */
    /* Called while each LFS file uploads (bytes sent of its size); NULL for
     * none.  The library never prints. */
    ptm_hub_progress_fn progress;
    void *progress_user;
} ptm_push_options;

PTM_API void ptm_push_options_init(ptm_push_options *opts);

/* Create the repository `repo_id` ("name" or "org/name"; an existing one
 * is fine), save the model into a temporary folder (save_pretrained with
 * max_shard_size and safe_serialization), add README.md (a new model card,
 * or the repo's card with `tags` merged into its metadata), upload large
 * files through the Git LFS batch API (basic or multipart) and make one
 * commit (or a pull request).  *commit_url (malloc'd, free with ptm_free;
 * `commit_url` may be NULL) is the commit's URL, or the pull request's
 * with create_pr.  Errors: PTM_ERR_GATED (token refused or missing),
 * PTM_ERR_REPO_NOT_FOUND, PTM_ERR_REVISION_NOT_FOUND, PTM_ERR_NETWORK, save
 * errors; the token never appears in messages.  The temporary folder is
 * removed in every case.  opts->progress follows each LFS upload.  Files
 * the repo already has with the same content are left out; when nothing
 * changed no commit is made and *commit_url is the branch's current
 * commit.  A bare "name" is created in the token's namespace and the push
 * continues there. */
PTM_API ptm_status ptm_model_push_to_hub(const struct ptm_model *model, const char *repo_id, const ptm_push_options *opts,
                                         char **commit_url);

#ifdef __cplusplus
}
#endif
#endif
