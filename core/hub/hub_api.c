/* SPDX-License-Identifier: Apache-2.0 */
/* hub_api.c - the public Hub calls (ptm/hub.h): one file, and what a load
 * needs (config.json, the weights by local loading's priority, the shards
 * of an index). */
#include "hub_internal.h"
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>

void ptm_hub_options_init(ptm_hub_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

int ptm_hub_is_repo_id(const char *s) { return ptm__hub_valid_repo_id(s); }

/* subfolder + "/" + name (or name). */
static char *in_subfolder(const ptm_hub_options *o, const char *name)
{
    const char *sub = o && PTM__HAS(o, ptm_hub_options, subfolder) ? o->subfolder : NULL;
    if (!sub || !*sub)
        return ptm__strdup(name);
    size_t n = strlen(sub);
    while (n && sub[n - 1] == '/')
        n--;
    return ptm__asprintf("%.*s/%s", (int)n, sub, name);
}

ptm_status ptm_hub_download(ptm_context *ctx, const char *repo_id, const char *filename, const ptm_hub_options *opts,
                            char **path_out)
{
    (void)ctx;
    if (!repo_id || !filename || !path_out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_hub_download: NULL argument");
    *path_out = NULL;
    ptm__hub h;
    ptm_status s = ptm__hub_setup(&h, opts);
    if (s)
        return s;
    char *f = in_subfolder(opts, filename);
    s = f ? ptm__hub_fetch(&h, repo_id, f, path_out) : ptm_error(PTM_ERR_NOMEM, "out of memory");
    free(f);
    ptm__hub_teardown(&h);
    return s;
}

/* Fetch one candidate: PTM_OK with *path set, or with *absent = 1 when the
 * repo does not have it (EntryNotFound) or it cannot be had (offline or
 * unreachable, and not cached: *offline_msg keeps the first such message,
 * as transformers tries the next candidate then); else an error. */
static ptm_status try_fetch(ptm__hub *h, const ptm_hub_options *o, const char *repo_id, const char *name,
                            char **path, int *absent, char **offline_msg)
{
    *absent = 0;
    char *f = in_subfolder(o, name);
    if (!f)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_status s = ptm__hub_fetch(h, repo_id, f, path);
    free(f);
    if (s == PTM_ERR_OFFLINE && offline_msg && !*offline_msg)
        *offline_msg = ptm__strdup(ptm_last_error());
    if (s == PTM_ERR_ENTRY_NOT_FOUND || s == PTM_ERR_OFFLINE) {
        *absent = 1;
        ptm_clear_error();
        return PTM_OK;
    }
    return s;
}

ptm_status ptm_hub_snapshot_for_load(ptm_context *ctx, const char *repo_id, const ptm_hub_options *opts, int from_tf,
                                     int from_flax, char **dir_out)
{
    (void)ctx;
    if (!repo_id || !dir_out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_hub_snapshot_for_load: NULL argument");
    *dir_out = NULL;
    ptm__hub h;
    ptm_status s = ptm__hub_setup(&h, opts);
    if (s)
        return s;
    char *cfg = NULL, *weights = NULL, *dir = NULL, *offline_msg = NULL;
    char **shards = NULL;
    size_t nshards = 0;
    int absent;
    char *f = in_subfolder(opts, "config.json");
    s = f ? ptm__hub_fetch(&h, repo_id, f, &cfg) : ptm_error(PTM_ERR_NOMEM, "out of memory");
    free(f);
    if (s)
        goto done;
    if (!(dir = ptm__dirname(cfg))) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t n;
    const ptm__weight_candidate *c = ptm__weight_candidates(&n);
    size_t i;
    for (i = 0; i < n; i++) {
        if ((c[i].needs == 1 && !from_tf) || (c[i].needs == 2 && !from_flax))
            continue;
        if ((s = try_fetch(&h, opts, repo_id, c[i].name, &weights, &absent, &offline_msg)))
            goto done;
        if (!absent)
            break;
    }
    if (i == n) {
        const char *how = h.local_only || h.offline ? "in the cache" : "in the repository";
        int tf = 0, flax = 0;
        char *p = NULL;
        if (!from_tf && !try_fetch(&h, opts, repo_id, "tf_model.h5", &p, &absent, NULL) && !absent)
            tf = 1;
        free(p);
        p = NULL;
        if (!tf && !from_flax && !try_fetch(&h, opts, repo_id, "flax_model.msgpack", &p, &absent, NULL) && !absent)
            flax = 1;
        free(p);
        if (offline_msg)
            s = ptm_error(PTM_ERR_OFFLINE, "%s: no weights file could be had: %s", repo_id, offline_msg);
        else if (tf || flax)
            s = ptm_error(PTM_ERR_ENTRY_NOT_FOUND, "%s: holds only a %s checkpoint (%s); load it with %s", repo_id,
                          tf ? "TensorFlow" : "Flax", tf ? "tf_model.h5" : "flax_model.msgpack",
                          tf ? "--from-tf / from_tf" : "--from-flax / from_flax");
        else
            s = ptm_error(h.local_only || h.offline ? PTM_ERR_OFFLINE : PTM_ERR_ENTRY_NOT_FOUND,
                          "%s: no weights found %s at revision %s (looked for model.safetensors, "
                          "model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json%s%s)%s",
                          repo_id, how, h.revision, from_tf ? ", tf_model.h5" : "",
                          from_flax ? ", flax_model.msgpack" : "",
                          h.local_only || h.offline ? "; run once online to download them" : "");
        goto done;
    }
    if (c[i].is_index) {
        if ((s = ptm__checkpoint_read_index(weights, &shards, &nshards)))
            goto done;
        for (size_t k = 0; k < nshards && !s; k++) {
            char *p = NULL;
            f = in_subfolder(opts, strrchr(shards[k], '/') + 1);
            s = f ? ptm__hub_fetch(&h, repo_id, f, &p) : ptm_error(PTM_ERR_NOMEM, "out of memory");
            free(f);
            free(p);
        }
        if (s)
            goto done;
    }
    /* Companion files, fetched when the repo has them (a missing one is
     * fine): the generation defaults transformers' from_pretrained reads
     * for generative models, and the tokenizer files a caller that
     * tokenizes (ptm generate --prompt) looks for beside the config. */
    static const char *const optional[] = {"generation_config.json", "tokenizer_config.json",
                                           "special_tokens_map.json"};
    for (size_t k = 0; k < sizeof optional / sizeof optional[0] && !s; k++) {
        char *p = NULL;
        s = try_fetch(&h, opts, repo_id, optional[k], &p, &absent, NULL);
        free(p);
    }
    if (s)
        goto done;
    *dir_out = dir;
    dir = NULL;
done:
    for (size_t k = 0; k < nshards; k++)
        free(shards[k]);
    free(shards);
    free(cfg);
    free(weights);
    free(dir);
    free(offline_msg);
    ptm__hub_teardown(&h);
    return s;
}
