/* SPDX-License-Identifier: Apache-2.0 */
/* hub_parse.c - parsers of bytes that come from a Hub server: header values
 * (etag, sizes, Content-Range, Link) and the JSON answers of the revision
 * and tree APIs.  Every input is untrusted: lengths are checked, numbers are
 * overflow-checked, nothing is assumed about shapes (tests/fuzz/fuzz_hub.c). */
#include "hub_http.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ptm_status strv_push(char ***v, size_t *n, const char *str)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    *v = nv;
    if (!(nv[*n] = ptm__strdup(str)))
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    (*n)++;
    return PTM_OK;
}

char *ptm__hub_normalize_etag(const char *etag)
{
    if (!etag)
        return NULL;
    while (*etag == 'W' || *etag == '/')
        etag++;
    size_t n = strlen(etag);
    while (n && *etag == '"') {
        etag++;
        n--;
    }
    while (n && etag[n - 1] == '"')
        n--;
    return strndup(etag, n);
}

int64_t ptm__hub_parse_size(const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

int64_t ptm__hub_content_range_total(const char *v)
{
    if (!v)
        return -1;
    const char *slash = strrchr(v, '/');
    if (!slash)
        return -1;
    const char *t = slash + 1;
    size_t n = strspn(t, "0123456789");
    if (n == 0 || n > 19)
        return -1;
    const char *rest = t + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest)
        return -1;
    char num[20];
    memcpy(num, t, n);
    num[n] = '\0';
    return ptm__hub_parse_size(num);
}

/* Link: <url1>; rel="next", <url2>; rel="last"  (rel may be unquoted and
 * list several space-separated values). */
char *ptm__hub_link_next(const char *link)
{
    if (!link)
        return NULL;
    const char *p = link;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p != '<')
            return NULL;
        const char *ue = strchr(p + 1, '>');
        if (!ue)
            return NULL;
        const char *u = p + 1;
        size_t ul = (size_t)(ue - u);
        p = ue + 1;
        int next = 0;
        /* parameters up to the next ',' outside quotes */
        while (*p && *p != ',') {
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            const char *name = p;
            while (*p && *p != '=' && *p != ';' && *p != ',')
                p++;
            size_t nl = (size_t)(p - name);
            while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
                nl--;
            const char *val = NULL;
            size_t vl = 0;
            if (*p == '=') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if (*p == '"') {
                    val = ++p;
                    while (*p && *p != '"')
                        p++;
                    vl = (size_t)(p - val);
                    if (*p == '"')
                        p++;
                } else {
                    val = p;
                    while (*p && *p != ';' && *p != ',')
                        p++;
                    vl = (size_t)(p - val);
                    while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
                        vl--;
                }
            }
            if (nl == 3 && !strncasecmp(name, "rel", 3) && val) {
                /* space-separated relation types */
                size_t i = 0;
                while (i < vl) {
                    while (i < vl && val[i] == ' ')
                        i++;
                    size_t j = i;
                    while (j < vl && val[j] != ' ')
                        j++;
                    if (j - i == 4 && !strncasecmp(val + i, "next", 4))
                        next = 1;
                    i = j;
                }
            }
            if (p == name && !*p)
                break;
            if (*p && *p != ',' && *p != ';' && p == name)
                p++; /* no progress: skip a stray character */
        }
        if (next && ul)
            return strndup(u, ul);
    }
    return NULL;
}

ptm_status ptm__hub_json_root(const char *json, size_t len, const char *what, cJSON **root, int want_array)
{
    *root = json ? cJSON_ParseWithLength(json, len) : NULL;
    if (!*root || (want_array ? !cJSON_IsArray(*root) : !cJSON_IsObject(*root))) {
        cJSON_Delete(*root);
        *root = NULL;
        return ptm_error(PTM_ERR_NETWORK, "%s: the answer is not a JSON %s", what, want_array ? "array" : "object");
    }
    return PTM_OK;
}

ptm_status ptm__hub_parse_revision(const char *json, size_t len, const char *what, char **sha, char ***files,
                                   size_t *nfiles)
{
    *sha = NULL;
    *files = NULL;
    *nfiles = 0;
    cJSON *root;
    if (ptm__hub_json_root(json, len, what, &root, 0))
        return PTM_ERR_NETWORK;
    ptm_status s = PTM_OK;
    const cJSON *jsha = cJSON_GetObjectItemCaseSensitive(root, "sha");
    if (!cJSON_IsString(jsha) || !ptm__hub_is_commit_hash(jsha->valuestring)) {
        s = ptm_error(PTM_ERR_NETWORK, "%s: \"sha\" is not a 40-hex commit id", what);
        goto done;
    }
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (sib && !cJSON_IsArray(sib)) {
        s = ptm_error(PTM_ERR_NETWORK, "%s: \"siblings\" is not an array", what);
        goto done;
    }
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, sib)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "rfilename");
        if (!cJSON_IsString(f) || !ptm__hub_valid_filename(f->valuestring)) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: siblings[%zu] has no valid \"rfilename\"", what, i);
            goto done;
        }
        if ((s = strv_push(files, nfiles, f->valuestring)))
            goto done;
        i++;
    }
    if (!(*sha = ptm__strdup(jsha->valuestring)))
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
done:
    cJSON_Delete(root);
    if (s) {
        free(*sha);
        *sha = NULL;
        ptm__free_strv(*files, *nfiles);
        *files = NULL;
        *nfiles = 0;
    }
    return s;
}

void ptm__hub_tree_free(ptm__hub_tree_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].path);
        free(e[i].oid);
        free(e[i].lfs_oid);
    }
    free(e);
}

static int64_t json_size(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0)
        return -1;
    return (int64_t)v->valuedouble;
}

ptm_status ptm__hub_parse_tree(const char *json, size_t len, const char *what, ptm__hub_tree_entry **entries,
                               size_t *n)
{
    *entries = NULL;
    *n = 0;
    cJSON *root;
    if (ptm__hub_json_root(json, len, what, &root, 1))
        return PTM_ERR_NETWORK;
    ptm_status s = PTM_OK;
    int cnt = cJSON_GetArraySize(root);
    ptm__hub_tree_entry *e = cnt > 0 ? calloc((size_t)cnt, sizeof *e) : NULL;
    if (cnt > 0 && !e) {
        cJSON_Delete(root);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
        if (!cJSON_IsObject(it) || !cJSON_IsString(type) || !cJSON_IsString(path) ||
            !ptm__hub_valid_filename(path->valuestring)) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: entry %zu has no valid \"type\" and \"path\"", what, k);
            break;
        }
        ptm__hub_tree_entry *x = &e[k++];
        x->is_file = !strcmp(type->valuestring, "file");
        x->size = json_size(cJSON_GetObjectItemCaseSensitive(it, "size"));
        const cJSON *oid = cJSON_GetObjectItemCaseSensitive(it, "oid");
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs");
        const cJSON *loid = cJSON_IsObject(lfs) ? cJSON_GetObjectItemCaseSensitive(lfs, "oid") : NULL;
        x->path = ptm__strdup(path->valuestring);
        x->oid = cJSON_IsString(oid) ? ptm__strdup(oid->valuestring) : NULL;
        x->lfs_oid = cJSON_IsString(loid) ? ptm__strdup(loid->valuestring) : NULL;
        if (!x->path || (cJSON_IsString(oid) && !x->oid) || (cJSON_IsString(loid) && !x->lfs_oid)) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        if (x->lfs_oid && strlen(x->lfs_oid) != 64) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: %s: lfs.oid is not a sha256", what, x->path);
            break;
        }
    }
    cJSON_Delete(root);
    if (s) {
        ptm__hub_tree_free(e, k);
        return s;
    }
    *entries = e;
    *n = k;
    return PTM_OK;
}
