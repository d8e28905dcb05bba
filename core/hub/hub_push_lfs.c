/* SPDX-License-Identifier: Apache-2.0 */
/* hub_push_lfs.c - large files of a push through the Git LFS batch API
 * (spec hub.md §6.4, §6.5): one batch request per 256 objects; objects the
 * server already has are skipped; basic uploads are one PUT of the whole
 * file, multipart uploads one PUT per part from a file range, their ETags
 * posted to the completion URL; then verify when offered.  Storage URLs get
 * no token (only the endpoint's origin ever does, hub_http.c).  Progress
 * goes to the caller's callback. */
#include "hub_push.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_CHUNK 256
#define HF_ORIGIN "https://huggingface.co"

typedef struct {
    const char *name;
    uint64_t base, total; /* bytes done before this request, file size */
    ptm_hub_progress_fn fn;
    void *user;
} progress_t;

static int on_progress(void *user, uint64_t now, uint64_t total)
{
    (void)total;
    progress_t *p = user;
    if (p->fn)
        p->fn(p->user, p->name, p->base + now > p->total ? p->total : p->base + now, p->total, 0);
    return 0;
}

/* An href pointing at huggingface.co goes to the configured endpoint
 * instead (a mirror answering with absolute Hub URLs). */
static char *fix_endpoint(const char *href, const char *endpoint)
{
    size_t n = strlen(HF_ORIGIN);
    if (strcmp(endpoint, HF_ORIGIN) != 0 && !strncmp(href, HF_ORIGIN, n) && (href[n] == '/' || !href[n]))
        return ptm__asprintf("%s%s", endpoint, href + n);
    return ptm__strdup(href);
}

/* The URL without its query (presigned signatures) for messages. */
static void url_for_msg(const char *url, char *buf, size_t cap)
{
    size_t n = strcspn(url, "?#");
    snprintf(buf, cap, "%.*s", (int)(n < 300 ? n : 300), url);
}

/* PUT [off, off + len) of `file` to a storage URL, without any token,
 * retried on transient failures; *etag (malloc'd) when asked. */
static ptm_status put_range(const ptm__push_ctx *c, const char *href, const ptm__push_file *f, uint64_t off,
                            uint64_t len, progress_t *pg, char **etag)
{
    char *url = fix_endpoint(href, c->endpoint);
    if (!url)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm_status s = PTM_OK;
    int retries = ptm__hub_max_retries();
    for (int attempt = 0;; attempt++) {
        ptm__hub_request rq;
        ptm__hub_request_init(&rq, "PUT", url);
        rq.body_file = f->path;
        rq.body_offset = off;
        rq.body_length = len;
        rq.read_timeout_s = 60;
        rq.progress = on_progress;
        rq.progress_user = pg;
        /* no token, no endpoint: storage never sees Authorization */
        ptm__hub_response rs;
        s = ptm__hub_request_do(&rq, &rs);
        int transient = ptm__hub_is_transient(s, &rs);
        if (!s && rs.status >= 200 && rs.status < 300) {
            if (etag) {
                const char *e = ptm__hub_header(&rs, "ETag");
                if (!e || !*e)
                    s = ptm_error(PTM_ERR_NETWORK, "%s: uploading %s: the storage answer to part at offset %llu "
                                                   "has no ETag",
                                  c->repo_id, f->name, (unsigned long long)off);
                else if (!(*etag = ptm__strdup(e)))
                    s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            }
            ptm__hub_response_free(&rs);
            break;
        }
        if (transient && attempt < retries) {
            ptm__hub_backoff_sleep(attempt, &rs);
            ptm__hub_response_free(&rs);
            continue;
        }
        if (!s) {
            char mu[320];
            url_for_msg(url, mu, sizeof mu);
            s = ptm_error(PTM_ERR_NETWORK, "%s: uploading %s: PUT %s answered HTTP %ld", c->repo_id, f->name, mu,
                          rs.status);
        } else {
            s = ptm_error_prefix(s, "%s: uploading %s", c->repo_id, f->name);
        }
        ptm__hub_response_free(&rs);
        break;
    }
    free(url);
    return s;
}

/* POST a small JSON body; token only when `with_token` (verify) and only
 * to the endpoint's origin. */
static ptm_status post_json(const ptm__push_ctx *c, const char *href, const char *content_type, cJSON *obj,
                            int with_token, const char *what)
{
    char *body = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    char *url = body ? fix_endpoint(href, c->endpoint) : NULL;
    if (!url) {
        free(body);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    ptm__hub_request rq;
    ptm__hub_request_init(&rq, "POST", url);
    char ct[96], ac[96];
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    snprintf(ac, sizeof ac, "Accept: %s", content_type);
    const char *hdrs[] = {ct, ac, NULL};
    rq.headers = hdrs;
    rq.body = body;
    rq.body_len = strlen(body);
    rq.read_timeout_s = 60;
    if (with_token) {
        rq.token = c->token;
        rq.endpoint = c->endpoint;
    }
    ptm__hub_response rs;
    ptm_status s = ptm__hub_request_do(&rq, &rs);
    if (!s && rs.status >= 400) {
        if (with_token) {
            s = ptm__hub_http_error(&rs, what, c->token != NULL);
        } else {
            char mu[320];
            url_for_msg(url, mu, sizeof mu);
            s = ptm_error(PTM_ERR_NETWORK, "%s: POST %s answered HTTP %ld", what, mu, rs.status);
        }
    }
    ptm__hub_response_free(&rs);
    free(url);
    free(body);
    return s;
}

static ptm_status upload_object(const ptm__push_ctx *c, const ptm__lfs_action *a, const ptm__push_file *f)
{
    progress_t pg = {f->name, 0, f->size, c->progress, c->progress_user};
    char what[300];
    ptm_status s = PTM_OK;
    if (!a->chunk_size) {
        s = put_range(c, a->href, f, 0, f->size, &pg, NULL);
    } else {
        char **etags = calloc(a->nparts ? a->nparts : 1, sizeof *etags);
        if (!etags)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < a->nparts && !s; i++) {
            uint64_t off = (uint64_t)i * a->chunk_size;
            uint64_t len = f->size - off < a->chunk_size ? f->size - off : a->chunk_size;
            pg.base = off;
            s = put_range(c, a->part_urls[i], f, off, len, &pg, &etags[i]);
        }
        if (!s) {
            cJSON *o = cJSON_CreateObject();
            cJSON *parts = o && cJSON_AddStringToObject(o, "oid", a->oid) ? cJSON_AddArrayToObject(o, "parts") : NULL;
            int ok = parts != NULL;
            for (size_t i = 0; i < a->nparts && ok; i++) {
                cJSON *p = cJSON_CreateObject();
                ok = p && cJSON_AddNumberToObject(p, "partNumber", (double)(i + 1)) &&
                     cJSON_AddStringToObject(p, "etag", etags[i]);
                if (p && !cJSON_AddItemToArray(parts, p)) {
                    cJSON_Delete(p);
                    ok = 0;
                }
            }
            if (!ok) {
                cJSON_Delete(o);
                o = NULL;
            }
            snprintf(what, sizeof what, "%s: completing the multipart upload of %s", c->repo_id, f->name);
            s = post_json(c, a->href, "application/vnd.git-lfs+json", o, 0, what);
        }
        for (size_t i = 0; i < a->nparts; i++)
            free(etags[i]);
        free(etags);
    }
    if (pg.fn && !s)
        pg.fn(pg.user, f->name, f->size, f->size, 1);
    if (!s && a->verify_href) {
        cJSON *o = cJSON_CreateObject();
        if (o && (!cJSON_AddStringToObject(o, "oid", a->oid) || !cJSON_AddNumberToObject(o, "size", (double)f->size))) {
            cJSON_Delete(o);
            o = NULL;
        }
        snprintf(what, sizeof what, "%s: verifying the upload of %s", c->repo_id, f->name);
        s = post_json(c, a->verify_href, "application/json", o, 1, what);
    }
    return s;
}

ptm_status ptm__push_lfs(const ptm__push_ctx *c, const ptm__push_file *f, size_t n)
{
    const ptm__push_file **todo = calloc(n ? n : 1, sizeof *todo);
    if (!todo)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t k = 0; k < nt && !dup; k++)
            dup = !strcmp(todo[k]->sha256, f[i].sha256);
        if (f[i].lfs && !f[i].ignore && !f[i].unchanged && !dup)
            todo[nt++] = &f[i];
    }
    char *url = ptm__asprintf("%s/%s.git/info/lfs/objects/batch", c->endpoint, c->repo_id);
    ptm_status s = url ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
    char what[300];
    snprintf(what, sizeof what, "%s: LFS batch", c->repo_id);
    for (size_t at = 0; at < nt && !s; at += BATCH_CHUNK) {
        size_t m = nt - at < BATCH_CHUNK ? nt - at : BATCH_CHUNK;
        cJSON *root = cJSON_CreateObject();
        cJSON *tr = root ? cJSON_AddArrayToObject(root, "transfers") : NULL;
        int ok = tr && cJSON_AddStringToObject(root, "operation", "upload");
        cJSON *t1 = cJSON_CreateString("basic"), *t2 = cJSON_CreateString("multipart");
        if (ok && t1 && cJSON_AddItemToArray(tr, t1))
            t1 = NULL;
        else
            ok = 0;
        if (ok && t2 && cJSON_AddItemToArray(tr, t2))
            t2 = NULL;
        else
            ok = 0;
        cJSON_Delete(t1);
        cJSON_Delete(t2);
        cJSON *objs = ok ? cJSON_AddArrayToObject(root, "objects") : NULL;
        ok = objs != NULL;
        for (size_t i = 0; i < m && ok; i++) {
            cJSON *o = cJSON_CreateObject();
            ok = o && cJSON_AddStringToObject(o, "oid", todo[at + i]->sha256) &&
                 cJSON_AddNumberToObject(o, "size", (double)todo[at + i]->size);
            if (o && !cJSON_AddItemToArray(objs, o)) {
                cJSON_Delete(o);
                ok = 0;
            }
        }
        ok = ok && cJSON_AddStringToObject(root, "hash_algo", "sha256");
        if (ok && !c->create_pr) { /* a PR needs no write access to the branch */
            cJSON *ref = cJSON_AddObjectToObject(root, "ref");
            ok = ref && cJSON_AddStringToObject(ref, "name", c->revision);
        }
        char *body = ok ? cJSON_PrintUnformatted(root) : NULL;
        cJSON_Delete(root);
        if (!body) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        ptm__hub_response rs;
        ptm__lfs_action *acts = NULL;
        size_t nacts = 0;
        s = ptm__push_api_ok(c, what, "POST", url, "application/vnd.git-lfs+json", body, strlen(body), &rs);
        free(body);
        if (!s)
            s = ptm__push_parse_batch(rs.body, rs.body_len, what, &acts, &nacts);
        ptm__hub_response_free(&rs);
        /* every object asked must be answered, with our size */
        for (size_t i = 0; i < m && !s; i++) {
            const ptm__push_file *x = todo[at + i];
            const ptm__lfs_action *a = NULL;
            for (size_t k = 0; k < nacts && !a; k++)
                if (!strcmp(acts[k].oid, x->sha256))
                    a = &acts[k];
            if (!a)
                s = ptm_error(PTM_ERR_NETWORK, "%s: the answer does not mention %s (sha256 %s)", what, x->name,
                              x->sha256);
            else if ((uint64_t)a->size != x->size)
                s = ptm_error(PTM_ERR_NETWORK, "%s: the answer gives %s a size of %lld bytes, not %llu", what, x->name,
                              (long long)a->size, (unsigned long long)x->size);
            else if (a->has_upload)
                s = upload_object(c, a, x);
        }
        ptm__push_batch_free(acts, nacts);
    }
    free(url);
    free(todo);
    return s;
}
