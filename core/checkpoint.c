/* SPDX-License-Identifier: Apache-2.0 */
/* checkpoint.c - choose the weight files of a model folder (transformers'
 * priority, sharded index files) and open them through format plugins. */
#include "model_internal.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

ptm_status ptm__strv_push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    *v = nv;
    if (!(nv[*n] = ptm__strdup(s)))
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    (*n)++;
    return PTM_OK;
}

/* Read an index file: {"metadata": {...}, "weight_map": {name: shard}};
 * the shards, sorted and unique, resolved next to the index. */
ptm_status ptm__checkpoint_read_index(const char *index_path, char ***shards, size_t *nshards)
{
    char *text;
    size_t len;
    ptm_status s = ptm__read_file(index_path, &text, &len);
    if (s)
        return s;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ptm_error(PTM_ERR_FORMAT, "%s: not a JSON object", index_path);
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!meta || !cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return ptm_error(PTM_ERR_FORMAT, "%s: an index needs a \"metadata\" object and a \"weight_map\" object",
                         index_path);
    }
    char *dir = ptm__dirname(index_path);
    char **names = NULL;
    size_t n = 0;
    s = dir ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (cJSON *it = map->child; it && !s; it = it->next) {
        if (!cJSON_IsString(it)) {
            s = ptm_error(PTM_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name", index_path, it->string);
            break;
        }
        const char *f = it->valuestring;
        if (!*f || strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0) {
            s = ptm_error(PTM_ERR_FORMAT, "%s: shard name \"%s\" for \"%s\" must be a plain file name", index_path,
                          f, it->string);
            break;
        }
        int seen = 0;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(strrchr(names[i], '/') + 1, f) == 0;
        if (!seen) {
            char *p = ptm__path_join(dir, f);
            if (!p)
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            else {
                s = ptm__strv_push(&names, &n, p);
                free(p);
            }
        }
    }
    cJSON_Delete(root);
    free(dir);
    if (!s && n == 0)
        s = ptm_error(PTM_ERR_FORMAT, "%s: weight_map is empty", index_path);
    if (s) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return s;
    }
    /* sorted(set(weight_map.values())) */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    *shards = names;
    *nshards = n;
    return PTM_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const ckpt_entry *)a)->name, ((const ckpt_entry *)b)->name);
}

/* Open one weights file with the format that recognises it. */
static ptm_status open_source(ptm_context *ctx, ptm__checkpoint *ck, const char *path)
{
    const ptm_format *fmt = ptm_context_detect_format(ctx, path);
    if (!fmt)
        return PTM_ERR_NOT_FOUND; /* detect_format set the message */
    size_t k = ck->nsources;
    const ptm_format **fs = realloc(ck->formats, (k + 1) * sizeof *fs);
    if (!fs)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ck->formats = fs;
    void **ss = realloc(ck->sources, (k + 1) * sizeof *ss);
    if (!ss)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ck->sources = ss;
    char **ps = realloc(ck->paths, (k + 1) * sizeof *ps);
    if (!ps)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ck->paths = ps;
    if (!(ps[k] = ptm__strdup(path)))
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    void *src = NULL;
    ptm_status s = fmt->open(path, &src);
    if (s) {
        free(ps[k]);
        return s;
    }
    fs[k] = fmt;
    ss[k] = src;
    ck->nsources++;
    size_t cnt = fmt->count(src);
    ckpt_entry *e = realloc(ck->entries, (ck->nentries + cnt + 1) * sizeof *e);
    if (!e)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ck->entries = e;
    for (size_t i = 0; i < cnt; i++) {
        ptm_tensor_info info;
        if ((s = fmt->info(src, i, &info)))
            return ptm_error_prefix(s, "%s", path);
        ckpt_entry *x = &ck->entries[ck->nentries++];
        x->name = info.name;
        x->source = k;
        x->index = i;
        x->used = 0;
    }
    return PTM_OK;
}

const ptm__weight_candidate *ptm__weight_candidates(size_t *n)
{
    static const ptm__weight_candidate order[] = {
        {"tf_model.h5", 0, 1},
        {"tf_model.h5.index.json", 1, 1},
        {"flax_model.msgpack", 0, 2},
        {"flax_model.msgpack.index.json", 1, 2},
        {"model.safetensors", 0, 0},
        {"model.safetensors.index.json", 1, 0},
        {"pytorch_model.bin", 0, 0},
        {"pytorch_model.bin.index.json", 1, 0},
    };
    *n = sizeof order / sizeof order[0];
    return order;
}

/* The weight files transformers would pick in a folder (the TF / Flax
 * ones only with from_tf / from_flax), as path strings. */
static ptm_status pick_files(const char *dir, int from_tf, int from_flax, char ***files, size_t *nfiles)
{
    size_t norder;
    const ptm__weight_candidate *order = ptm__weight_candidates(&norder);
    for (size_t i = 0; i < norder; i++) {
        if ((order[i].needs == 1 && !from_tf) || (order[i].needs == 2 && !from_flax))
            continue;
        char *p = ptm__path_join(dir, order[i].name);
        if (!p)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        if (!ptm__is_file(p)) {
            free(p);
            continue;
        }
        ptm_status s = order[i].is_index ? ptm__checkpoint_read_index(p, files, nfiles) : ptm__strv_push(files, nfiles, p);
        free(p);
        return s;
    }
    /* none: say so, naming a TF or Flax checkpoint that is there (the
     * candidates skipped above), or a TF 1 one */
    for (size_t i = 0; i <= norder; i++) {
        if (i < norder && !order[i].needs)
            continue;
        const char *name = i < norder ? order[i].name : "model.ckpt.index";
        char *p = ptm__path_join(dir, name);
        if (!p)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        int there = ptm__is_file(p);
        free(p);
        if (there && i == norder)
            return ptm_error(PTM_ERR_UNSUPPORTED, "%s: holds a TensorFlow 1 checkpoint (model.ckpt.index), which ptm "
                                                  "cannot read; convert it to tf_model.h5 or safetensors", dir);
        int flax = i < norder && order[i].needs == 2;
        if (there)
            return ptm_error(PTM_ERR_NOT_FOUND,
                             "%s: holds %s, a %s checkpoint, but no model.safetensors or pytorch_model.bin; load it "
                             "with %s (ptm: %s)", dir, name, flax ? "Flax" : "TensorFlow",
                             flax ? "from_flax=True" : "from_tf=True", flax ? "--from-flax" : "--from-tf");
    }
    return ptm_error(PTM_ERR_NOT_FOUND,
                     "%s: no weights found (looked for model.safetensors, model.safetensors.index.json, "
                     "pytorch_model.bin, pytorch_model.bin.index.json)", dir);
}

ptm_status ptm__checkpoint_open(ptm_context *ctx, const char *path, int from_tf, int from_flax, ptm__checkpoint *ck,
                                char **dir_out)
{
    memset(ck, 0, sizeof *ck);
    char **files = NULL;
    size_t nfiles = 0;
    char *dir;
    ptm_status s;
    if (ptm__is_dir(path)) {
        dir = ptm__strdup(path);
        s = dir ? pick_files(path, from_tf, from_flax, &files, &nfiles) : ptm_error(PTM_ERR_NOMEM, "out of memory");
    } else if (ptm__is_file(path)) {
        dir = ptm__dirname(path);
        size_t l = strlen(path);
        if (!dir)
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        else if (l > 11 && strcmp(path + l - 11, ".index.json") == 0)
            s = ptm__checkpoint_read_index(path, &files, &nfiles);
        else
            s = ptm__strv_push(&files, &nfiles, path);
    } else {
        return ptm_error(PTM_ERR_NOT_FOUND,
                         "%s: no such file or folder (expected a model folder with config.json, or a weights file)",
                         path);
    }
    for (size_t i = 0; i < nfiles && !s; i++)
        s = open_source(ctx, ck, files[i]);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    if (!s && ck->nentries) {
        qsort(ck->entries, ck->nentries, sizeof *ck->entries, name_cmp);
        for (size_t i = 1; i < ck->nentries; i++)
            if (strcmp(ck->entries[i - 1].name, ck->entries[i].name) == 0) {
                s = ptm_error(PTM_ERR_FORMAT, "tensor \"%s\" appears in both %s and %s", ck->entries[i].name,
                              ck->paths[ck->entries[i - 1].source], ck->paths[ck->entries[i].source]);
                break;
            }
    }
    if (s) {
        ptm__checkpoint_close(ck);
        free(dir);
        return s;
    }
    *dir_out = dir;
    return PTM_OK;
}

void ptm__checkpoint_close(ptm__checkpoint *ck)
{
    for (size_t i = 0; i < ck->nsources; i++)
        ck->formats[i]->close(ck->sources[i]);
    for (size_t i = 0; i < ck->nsources; i++)
        free(ck->paths[i]);
    free(ck->formats);
    free(ck->sources);
    free(ck->paths);
    free(ck->entries);
    memset(ck, 0, sizeof *ck);
}

ckpt_entry *ptm__checkpoint_find(ptm__checkpoint *ck, const char *name)
{
    ckpt_entry key = {.name = name};
    if (!ck->nentries)
        return NULL;
    return bsearch(&key, ck->entries, ck->nentries, sizeof key, name_cmp);
}
