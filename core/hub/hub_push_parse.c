/* SPDX-License-Identifier: Apache-2.0 */
/* hub_push_parse.c - parsers of the upload API's answers (preupload, LFS
 * batch, commit).  The bytes come from a server: shapes are checked, every
 * number is range-checked before use, part lists are bounded
 * (tests/fuzz/fuzz_hub_push.c). */
#include "hub_push.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A JSON number that is a whole value in [0, 2^53]. */
static int json_size(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d)
        return 0;
    *out = (int64_t)d;
    return 1;
}

ptm_status ptm__push_parse_preupload(const char *json, size_t len, const char *what, const char *const *paths,
                                     size_t n, int *is_lfs, int *ignore, char **remote_oid)
{
    for (size_t i = 0; i < n; i++)
        remote_oid[i] = NULL;
    cJSON *root;
    ptm_status s = ptm__hub_json_root(json, len, what, &root, 0);
    if (s)
        return s;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsArray(files))
        s = ptm_error(PTM_ERR_NETWORK, "%s: the answer has no \"files\" list", what);
    for (size_t i = 0; i < n && !s; i++) {
        const cJSON *hit = NULL, *f;
        cJSON_ArrayForEach(f, files)
        {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
            if (cJSON_IsString(p) && !strcmp(p->valuestring, paths[i]))
                hit = f;
        }
        if (!hit) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: the answer does not mention %s", what, paths[i]);
            break;
        }
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(hit, "uploadMode");
        const cJSON *ign = cJSON_GetObjectItemCaseSensitive(hit, "shouldIgnore");
        if (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "lfs") && strcmp(mode->valuestring, "regular"))) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: %s: uploadMode is not \"lfs\" or \"regular\"", what, paths[i]);
            break;
        }
        if (ign && !cJSON_IsBool(ign)) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: %s: shouldIgnore is not a boolean", what, paths[i]);
            break;
        }
        is_lfs[i] = !strcmp(mode->valuestring, "lfs");
        ignore[i] = cJSON_IsTrue(ign);
        /* the file's current oid in the repo (git sha1, or sha256 for LFS):
         * only a plain hex string of one of those lengths is kept */
        const cJSON *oid = cJSON_GetObjectItemCaseSensitive(hit, "oid");
        if (cJSON_IsString(oid)) {
            size_t ol = strlen(oid->valuestring);
            int hex = ol == 40 || ol == 64;
            for (size_t k = 0; k < ol && hex; k++)
                hex = (oid->valuestring[k] >= '0' && oid->valuestring[k] <= '9') ||
                      (oid->valuestring[k] >= 'a' && oid->valuestring[k] <= 'f');
            if (hex && !(remote_oid[i] = ptm__strdup(oid->valuestring)))
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
    }
    cJSON_Delete(root);
    if (s)
        for (size_t i = 0; i < n; i++) {
            free(remote_oid[i]);
            remote_oid[i] = NULL;
        }
    return s;
}

void ptm__push_batch_free(ptm__lfs_action *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].href);
        free(a[i].verify_href);
        for (size_t k = 0; k < a[i].nparts; k++)
            free(a[i].part_urls[k]);
        free(a[i].part_urls);
    }
    free(a);
}

typedef struct {
    long number;
    const char *url;
} part_ref;

static int part_cmp(const void *a, const void *b)
{
    long x = ((const part_ref *)a)->number, y = ((const part_ref *)b)->number;
    return x < y ? -1 : x > y;
}

/* A part number: 1..99999 written in digits only. */
static long part_number(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < '0' || key[i] > '9')
            return -1;
        v = v * 10 + (key[i] - '0');
    }
    return v >= 1 ? v : -1;
}

/* upload.header of a multipart upload: chunk_size and the numbered part
 * URLs, which must be ceil(size / chunk_size) many with distinct numbers. */
static ptm_status parse_multipart(const cJSON *header, ptm__lfs_action *a, const char *what)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(header, "chunk_size");
    int64_t chunk = -1;
    if (cJSON_IsString(cs))
        chunk = ptm__hub_parse_size(cs->valuestring);
    else if (!json_size(cs, &chunk))
        chunk = -1;
    if (chunk <= 0)
        return ptm_error(PTM_ERR_NETWORK, "%s: object %s: chunk_size is not a positive integer", what, a->oid);
    uint64_t want = a->size == 0 ? 0 : ((uint64_t)a->size - 1) / (uint64_t)chunk + 1;
    if (want > PTM__LFS_MAX_PARTS)
        return ptm_error(PTM_ERR_NETWORK, "%s: object %s: %llu parts of %lld bytes is more than %d", what, a->oid,
                         (unsigned long long)want, (long long)chunk, PTM__LFS_MAX_PARTS);
    part_ref *refs = calloc(want ? want : 1, sizeof *refs);
    if (!refs)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    size_t n = 0;
    const cJSON *h;
    ptm_status s = PTM_OK;
    cJSON_ArrayForEach(h, header)
    {
        long num = h->string ? part_number(h->string) : -1;
        if (num < 0)
            continue; /* chunk_size, upload_id, ... */
        if (!cJSON_IsString(h)) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: object %s: part %ld has no URL", what, a->oid, num);
            break;
        }
        if (n == want) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: object %s: more than the %llu parts of %lld bytes", what, a->oid,
                          (unsigned long long)want, (long long)chunk);
            break;
        }
        refs[n].number = num;
        refs[n].url = h->valuestring;
        n++;
    }
    if (!s && n != want)
        s = ptm_error(PTM_ERR_NETWORK, "%s: object %s: %zu part URLs for %llu parts of %lld bytes", what, a->oid, n,
                      (unsigned long long)want, (long long)chunk);
    if (!s) {
        qsort(refs, n, sizeof *refs, part_cmp);
        for (size_t i = 1; i < n && !s; i++)
            if (refs[i].number == refs[i - 1].number)
                s = ptm_error(PTM_ERR_NETWORK, "%s: object %s: part %ld given twice", what, a->oid, refs[i].number);
    }
    if (!s && n) {
        a->part_urls = calloc(n, sizeof *a->part_urls);
        if (!a->part_urls)
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n && !s; i++) {
            if (!(a->part_urls[i] = ptm__strdup(refs[i].url)))
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            a->nparts = i + 1;
        }
    }
    a->chunk_size = (uint64_t)chunk;
    free(refs);
    return s;
}

ptm_status ptm__push_parse_batch(const char *json, size_t len, const char *what, ptm__lfs_action **out, size_t *nout)
{
    cJSON *root;
    ptm_status s = ptm__hub_json_root(json, len, what, &root, 0);
    if (s)
        return s;
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(root, "objects");
    int n = cJSON_IsArray(objs) ? cJSON_GetArraySize(objs) : -1;
    ptm__lfs_action *a = NULL;
    if (n < 0)
        s = ptm_error(PTM_ERR_NETWORK, "%s: the answer has no \"objects\" list", what);
    else if (!(a = calloc((size_t)n + 1, sizeof *a)))
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, objs)
    {
        if (s)
            break;
        ptm__lfs_action *x = &a[k++];
        const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "oid");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
        if (!cJSON_IsString(oid) || !ptm__hub_is_hex(oid->valuestring, 64) || !json_size(size, &x->size)) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: object %d has no valid oid (sha256) and size", what, (int)k - 1);
            break;
        }
        memcpy(x->oid, oid->valuestring, 65);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
        if (err) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
            s = ptm_error(PTM_ERR_NETWORK, "%s: object %s refused by the server: %d %.200s", what, x->oid,
                          cJSON_IsNumber(code) ? code->valueint : 0,
                          cJSON_IsString(msg) ? msg->valuestring : "(no message)");
            break;
        }
        const cJSON *actions = cJSON_GetObjectItemCaseSensitive(o, "actions");
        const cJSON *up = cJSON_GetObjectItemCaseSensitive(actions, "upload");
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(actions, "verify");
        if (!up)
            continue; /* already stored */
        const cJSON *href = cJSON_GetObjectItemCaseSensitive(up, "href");
        if (!cJSON_IsString(href) || !*href->valuestring) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: object %s: the upload action has no href", what, x->oid);
            break;
        }
        x->has_upload = 1;
        if (!(x->href = ptm__strdup(href->valuestring))) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        if (ver) {
            const cJSON *vh = cJSON_GetObjectItemCaseSensitive(ver, "href");
            if (!cJSON_IsString(vh) || !*vh->valuestring) {
                s = ptm_error(PTM_ERR_NETWORK, "%s: object %s: the verify action has no href", what, x->oid);
                break;
            }
            if (!(x->verify_href = ptm__strdup(vh->valuestring))) {
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
                break;
            }
        }
        const cJSON *header = cJSON_GetObjectItemCaseSensitive(up, "header");
        if (cJSON_IsObject(header) && cJSON_GetObjectItemCaseSensitive(header, "chunk_size"))
            s = parse_multipart(header, x, what);
    }
    cJSON_Delete(root);
    if (s) {
        ptm__push_batch_free(a, k);
        return s;
    }
    *out = a;
    *nout = k;
    return PTM_OK;
}

ptm_status ptm__push_parse_commit(const char *json, size_t len, const char *what, char **commit_url, char **pr_url)
{
    cJSON *root;
    ptm_status s = ptm__hub_json_root(json, len, what, &root, 0);
    if (s)
        return s;
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(root, "commitUrl");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "pullRequestUrl");
    *commit_url = *pr_url = NULL;
    if (!cJSON_IsString(url) || !*url->valuestring)
        s = ptm_error(PTM_ERR_NETWORK, "%s: the answer has no commitUrl", what);
    else if (!(*commit_url = ptm__strdup(url->valuestring)))
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    else if (cJSON_IsString(pr) && *pr->valuestring && !(*pr_url = ptm__strdup(pr->valuestring)))
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    if (s) {
        free(*commit_url);
        *commit_url = NULL;
    }
    cJSON_Delete(root);
    return s;
}

ptm_status ptm__push_parse_repo_url(const char *json, size_t len, char **repo_id)
{
    *repo_id = NULL;
    cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
    const cJSON *url = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "url") : NULL;
    ptm_status s = PTM_OK;
    if (cJSON_IsString(url)) {
        /* "<scheme>://<host>/<org>/<name>": the last two path segments */
        const char *u = url->valuestring;
        const char *p = strstr(u, "://");
        p = p ? strchr(p + 3, '/') : NULL;
        if (p) {
            size_t n = strcspn(p + 1, "?#");
            while (n && p[1 + n - 1] == '/')
                n--;
            const char *end = p + 1 + n, *cut = end;
            int slashes = 0;
            while (cut > p + 1 && slashes < 2) {
                if (cut[-1] == '/' && ++slashes == 2)
                    break;
                cut--;
            }
            char *id = strndup(cut, (size_t)(end - cut));
            if (!id)
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            else if (slashes >= 1 && ptm__hub_valid_repo_id(id) && strchr(id, '/'))
                *repo_id = id;
            else
                free(id);
        }
    }
    cJSON_Delete(root);
    return s;
}
