/* SPDX-License-Identifier: Apache-2.0 */
/* hub_push.h - push_to_hub: upload a model to a Hugging Face Hub
 * repository (or a Hub-compatible server), as transformers'
 * PushToHubMixin.push_to_hub does. */
#ifndef PTM_HUB_PUSH_API_H
#define PTM_HUB_PUSH_API_H

#include "ptm.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * removed in every case.  LFS uploads show a progress line on stderr when
 * it is a terminal (not with HF_HUB_DISABLE_PROGRESS_BARS). */
PTM_API ptm_status ptm_model_push_to_hub(const ptm_model *model, const char *repo_id, const ptm_push_options *opts,
                                         char **commit_url);

#ifdef __cplusplus
}
#endif
#endif
