/* SPDX-License-Identifier: Apache-2.0 */
/* hub_push.c - push_to_hub (spec hub.md §6): create the repo, save the
 * model into a temporary folder, add the model card, ask the server which
 * files go through LFS (preupload), upload those (hub_push_lfs.c), then one
 * NDJSON commit. */
#include "hub_push.h"

#include "ptm/ptm.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ptm_push_options_init(ptm_push_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->safe_serialization = 1;
}

ptm_status ptm__push_api(const ptm__push_ctx *c, const char *what, const char *method, const char *url,
                         const char *content_type, const char *body, size_t len, ptm__hub_response *rs)
{
    ptm__hub_request rq;
    ptm__hub_request_init(&rq, method, url);
    char ct[128], accept[128];
    const char *hdrs[3] = {NULL, NULL, NULL};
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        hdrs[0] = ct;
        if (!strcmp(content_type, "application/vnd.git-lfs+json")) {
            snprintf(accept, sizeof accept, "Accept: %s", content_type);
            hdrs[1] = accept;
        }
    }
    rq.headers = hdrs;
    rq.token = c->token;
    rq.endpoint = c->endpoint;
    rq.body = body;
    rq.body_len = body ? len : 0;
    rq.read_timeout_s = 60; /* a commit of large files may take the server a while */
    ptm_status s = ptm__hub_request_do(&rq, rs);
    return s ? ptm_error_prefix(s, "%s", what) : s;
}

ptm_status ptm__push_api_ok(const ptm__push_ctx *c, const char *what, const char *method, const char *url,
                            const char *content_type, const char *body, size_t len, ptm__hub_response *rs)
{
    ptm_status s = ptm__push_api(c, what, method, url, content_type, body, len, rs);
    if (!s && rs->status >= 400)
        s = ptm__hub_http_error(rs, what, c->token != NULL);
    return s;
}

/* Base64 of n bytes (malloc'd, NUL-terminated). */
char *ptm__push_base64(const void *data, size_t n)
{
    if (n > (SIZE_MAX - 8) / 4 * 3)
        return NULL;
    size_t cap = (n + 2) / 3 * 4 + 1;
    unsigned char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t done = 0, k = 0;
    /* EVP_EncodeBlock takes an int length: feed it in pieces of 3 * 2^20 */
    while (done < n) {
        size_t piece = n - done < 3u << 20 ? n - done : 3u << 20;
        k += (size_t)EVP_EncodeBlock(out + k, (const unsigned char *)data + done, (int)piece);
        done += piece;
    }
    out[k] = '\0';
    return (char *)out;
}

/* ----------------------------------------------------------- repo, card */

/* Create the repo; *full_id (malloc'd or NULL) is the id the server's
 * answer gives it ("name" completed with the user's namespace). */
static ptm_status create_repo(const ptm__push_ctx *c, int is_private, char **full_id)
{
    const char *slash = strchr(c->repo_id, '/');
    cJSON *o = cJSON_CreateObject();
    char *org = slash ? strndup(c->repo_id, (size_t)(slash - c->repo_id)) : NULL;
    int ok = o && (!slash || org) && cJSON_AddStringToObject(o, "name", slash ? slash + 1 : c->repo_id) &&
             (org ? cJSON_AddStringToObject(o, "organization", org) != NULL
                  : cJSON_AddNullToObject(o, "organization") != NULL) &&
             (!is_private || cJSON_AddTrueToObject(o, "private"));
    char *body = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    free(org);
    if (!body)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    char *url = ptm__asprintf("%s/api/repos/create", c->endpoint);
    ptm__hub_response rs;
    char what[300];
    snprintf(what, sizeof what, "%s: creating the repository", c->repo_id);
    ptm_status s = url ? ptm__push_api(c, what, "POST", url, "application/json", body, strlen(body), &rs)
                       : ptm_error(PTM_ERR_NOMEM, "out of memory");
    if (!s && rs.status != 200 && rs.status != 201 && rs.status != 409) {
        s = ptm__hub_http_error(&rs, what, c->token != NULL);
    }
    if (!s)
        s = ptm__push_parse_repo_url(rs.body, rs.body_len, full_id);
    if (url)
        ptm__hub_response_free(&rs);
    free(url);
    free(body);
    return s;
}

/* transformers' create_branch for a revision that is not a PR ref: an
 * existing branch (409) is fine, as is a 403 when opening a PR. */
static ptm_status create_branch(const ptm__push_ctx *c)
{
    char *q = ptm__hub_quote(c->revision, 0);
    char *url = q ? ptm__asprintf("%s/api/models/%s/branch/%s", c->endpoint, c->repo_id, q) : NULL;
    free(q);
    if (!url)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm__hub_response rs;
    char what[300];
    snprintf(what, sizeof what, "%s: creating the branch %.100s", c->repo_id, c->revision);
    ptm_status s = ptm__push_api(c, what, "POST", url, "application/json", "{}", 2, &rs);
    if (!s && rs.status >= 400 && rs.status != 409 && !(rs.status == 403 && c->create_pr)) {
        s = ptm__hub_http_error(&rs, what, c->token != NULL);
    }
    ptm__hub_response_free(&rs);
    free(url);
    return s;
}

/* README.md of the repo's main branch, or *text = NULL when there is none
 * (no such file or branch), as ModelCard.load / EntryNotFoundError. */
static ptm_status fetch_card(const ptm__push_ctx *c, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    char *url = ptm__asprintf("%s/%s/resolve/main/README.md", c->endpoint, c->repo_id);
    if (!url)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    ptm__hub_request rq;
    ptm__hub_request_init(&rq, "GET", url);
    rq.token = c->token;
    rq.endpoint = c->endpoint;
    rq.follow_redirects = 1;
    ptm__hub_response rs;
    ptm_status s = ptm__hub_request_do(&rq, &rs);
    if (s)
        s = ptm_error_prefix(s, "%s: reading README.md", c->repo_id);
    if (!s && rs.status == 200) {
        *text = rs.body;
        *len = rs.body_len;
        rs.body = NULL;
    } else if (!s && rs.status != 404) {
        char what[300];
        snprintf(what, sizeof what, "%s: reading README.md", c->repo_id);
        s = ptm__hub_http_error(&rs, what, c->token != NULL);
    }
    ptm__hub_response_free(&rs);
    free(url);
    return s;
}

/* ----------------------------------------------------------- temp folder */

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *p = ptm__path_join(dir, de->d_name);
            struct stat st;
            if (p && lstat(p, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                    remove_tree(p);
                else
                    unlink(p);
            }
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const ptm__push_file *)a)->name, ((const ptm__push_file *)b)->name);
}

/* The regular files of `dir` (save_pretrained writes no sub-folders), sorted,
 * with sizes and sha256. */
static ptm_status list_files(const char *dir, ptm__push_file **out, size_t *nout)
{
    DIR *d = opendir(dir);
    if (!d)
        return ptm_error(PTM_ERR_IO, "%s: cannot list folder: %s", dir, strerror(errno));
    ptm__push_file *f = NULL;
    size_t n = 0;
    ptm_status s = PTM_OK;
    struct dirent *de;
    while (!s && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = ptm__path_join(dir, de->d_name);
        struct stat st;
        if (!p) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        ptm__push_file *nf = realloc(f, (n + 1) * sizeof *f);
        if (!nf) {
            free(p);
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        f = nf;
        memset(&f[n], 0, sizeof f[n]);
        f[n].path = p;
        f[n].size = (uint64_t)st.st_size;
        f[n].name = ptm__strdup(de->d_name);
        n++;
        if (!f[n - 1].name)
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        else
            s = ptm__hub_hash_file(p, f[n - 1].sha256, f[n - 1].sha1);
    }
    closedir(d);
    if (s) {
        ptm__push_files_free(f, n);
        return s;
    }
    if (n)
        qsort(f, n, sizeof *f, name_cmp);
    *out = f;
    *nout = n;
    return PTM_OK;
}

void ptm__push_files_free(ptm__push_file *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        free(f[i].name);
        free(f[i].path);
    }
    free(f);
}

/* ----------------------------------------------------------- preupload */

#define PREUPLOAD_CHUNK 256

static ptm_status preupload(const ptm__push_ctx *c, ptm__push_file *f, size_t n)
{
    ptm_status s = PTM_OK;
    char *url = ptm__asprintf("%s/api/models/%s/preupload/%s%s", c->endpoint, c->repo_id, c->qrev,
                              c->create_pr ? "?create_pr=1" : "");
    if (!url)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t at = 0; at < n && !s; at += PREUPLOAD_CHUNK) {
        size_t m = n - at < PREUPLOAD_CHUNK ? n - at : PREUPLOAD_CHUNK;
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = root ? cJSON_AddArrayToObject(root, "files") : NULL;
        const char *paths[PREUPLOAD_CHUNK];
        char *oids[PREUPLOAD_CHUNK];
        int lfs[PREUPLOAD_CHUNK], ign[PREUPLOAD_CHUNK];
        int ok = arr != NULL;
        for (size_t i = 0; i < m && ok; i++) {
            ptm__push_file *x = &f[at + i];
            paths[i] = x->name;
            unsigned char head[512];
            size_t got = 0;
            int fd = open(x->path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                ssize_t r;
                while (got < sizeof head && (r = read(fd, head + got, sizeof head - got)) > 0)
                    got += (size_t)r;
                close(fd);
            }
            char *sample = ptm__push_base64(head, got);
            cJSON *e = cJSON_CreateObject();
            ok = sample && e && cJSON_AddStringToObject(e, "path", x->name) &&
                 cJSON_AddStringToObject(e, "sample", sample) && cJSON_AddNumberToObject(e, "size", (double)x->size);
            free(sample);
            if (e && !cJSON_AddItemToArray(arr, e)) {
                cJSON_Delete(e);
                ok = 0;
            }
        }
        char *body = ok ? cJSON_PrintUnformatted(root) : NULL;
        cJSON_Delete(root);
        if (!body) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        ptm__hub_response rs;
        char what[300];
        snprintf(what, sizeof what, "%s: preupload at %.100s", c->repo_id, c->revision);
        s = ptm__push_api_ok(c, what, "POST", url, "application/json", body, strlen(body), &rs);
        free(body);
        if (!s)
            s = ptm__push_parse_preupload(rs.body, rs.body_len, what, paths, m, lfs, ign, oids);
        ptm__hub_response_free(&rs);
        for (size_t i = 0; i < m && !s; i++) {
            ptm__push_file *x = &f[at + i];
            /* empty files are always regular (storage refuses empty LFS uploads) */
            x->lfs = lfs[i] && x->size > 0;
            x->ignore = ign[i];
            /* same content already there: neither uploaded nor committed */
            x->unchanged = oids[i] && !strcmp(oids[i], lfs[i] ? x->sha256 : x->sha1);
            free(oids[i]);
        }
    }
    free(url);
    return s;
}

/* ----------------------------------------------------------- commit */

/* One ndjson line; frees `line`.  0 when it could not be printed. */
static int add_line(cJSON *line, ptm__sbuf *b)
{
    char *t = line ? cJSON_PrintUnformatted(line) : NULL;
    cJSON_Delete(line);
    if (!t)
        return 0;
    ptm__sb_puts(b, t);
    ptm__sb_put(b, "\n", 1);
    free(t);
    return !b->oom;
}

static cJSON *keyed(const char *key, cJSON **value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *v = cJSON_CreateObject();
    *value = NULL;
    if (!o || !v || !cJSON_AddStringToObject(o, "key", key) || !cJSON_AddItemToObject(o, "value", v)) {
        if (o && cJSON_GetObjectItemCaseSensitive(o, "value") == v)
            v = NULL; /* owned by o */
        cJSON_Delete(o);
        cJSON_Delete(v);
        return NULL;
    }
    *value = v;
    return o;
}

static ptm_status build_commit(const char *message, const char *description, const ptm__push_file *f, size_t n,
                               char **out, size_t *out_len)
{
    ptm__sbuf b = {0};
    cJSON *v;
    cJSON *line = keyed("header", &v);
    int ok = line && cJSON_AddStringToObject(v, "summary", message) &&
             cJSON_AddStringToObject(v, "description", description ? description : "");
    ok = ok ? add_line(line, &b) : (cJSON_Delete(line), 0);
    ptm_status s = ok ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !s; i++) {
        if (f[i].ignore || f[i].unchanged)
            continue;
        if (f[i].lfs) {
            line = keyed("lfsFile", &v);
            ok = line && cJSON_AddStringToObject(v, "path", f[i].name) && cJSON_AddStringToObject(v, "algo", "sha256") &&
                 cJSON_AddStringToObject(v, "oid", f[i].sha256) && cJSON_AddNumberToObject(v, "size", (double)f[i].size);
        } else {
            char *data = NULL;
            size_t dl = 0;
            if ((s = ptm__read_file(f[i].path, &data, &dl)))
                break;
            char *b64 = ptm__push_base64(data, dl);
            free(data);
            line = keyed("file", &v);
            ok = b64 && line && cJSON_AddStringToObject(v, "content", b64) &&
                 cJSON_AddStringToObject(v, "path", f[i].name) && cJSON_AddStringToObject(v, "encoding", "base64");
            free(b64);
        }
        ok = ok ? add_line(line, &b) : (cJSON_Delete(line), 0);
        if (!ok)
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    if (s) {
        free(b.p);
        return s;
    }
    *out = b.p;
    *out_len = b.len;
    return PTM_OK;
}

static ptm_status commit(const ptm__push_ctx *c, const char *message, const char *description,
                         const ptm__push_file *f, size_t n, char **url_out)
{
    char *body = NULL;
    size_t len = 0;
    ptm_status s = build_commit(message, description, f, n, &body, &len);
    if (s)
        return s;
    char *url = ptm__asprintf("%s/api/models/%s/commit/%s%s", c->endpoint, c->repo_id, c->qrev,
                              c->create_pr ? "?create_pr=1" : "");
    if (!url) {
        free(body);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    /* sent once: a retry after a lost answer could commit twice */
    ptm__hub_response rs;
    char what[300];
    snprintf(what, sizeof what, "%s: commit to %.100s", c->repo_id, c->revision);
    s = ptm__push_api_ok(c, what, "POST", url, "application/x-ndjson", body, len, &rs);
    char *commit_url = NULL, *pr_url = NULL;
    if (!s)
        s = ptm__push_parse_commit(rs.body, rs.body_len, what, &commit_url, &pr_url);
    if (!s && c->create_pr && !pr_url)
        s = ptm_error(PTM_ERR_NETWORK, "%s: a pull request was asked, but the answer has no pullRequestUrl", what);
    if (!s) {
        *url_out = c->create_pr ? pr_url : commit_url;
        if (c->create_pr)
            pr_url = NULL;
        else
            commit_url = NULL;
    }
    free(commit_url);
    free(pr_url);
    ptm__hub_response_free(&rs);
    free(url);
    free(body);
    return s;
}

/* When every file is unchanged no commit is made (huggingface_hub logs a
 * warning and reports the revision's current commit): the URL of that
 * commit from the revision API. */
static ptm_status current_commit_url(const ptm__push_ctx *c, char **url_out)
{
    char *url = ptm__asprintf("%s/api/models/%s/revision/%s", c->endpoint, c->repo_id, c->qrev);
    if (!url)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    char what[300];
    snprintf(what, sizeof what, "%s: revision %.100s", c->repo_id, c->revision);
    ptm__hub_response rs;
    ptm_status s = ptm__push_api_ok(c, what, "GET", url, NULL, NULL, 0, &rs);
    char *sha = NULL, **names = NULL;
    size_t nn = 0;
    if (!s)
        s = ptm__hub_parse_revision(rs.body, rs.body_len, what, &sha, &names, &nn);
    if (!s) {
        ptm_log(PTM_LOG_WARN, "%s: no files have been modified since the last commit at %s; no commit made",
                c->repo_id, c->revision);
        if (!(*url_out = ptm__asprintf("%s/%s/commit/%s", c->endpoint, c->repo_id, sha)))
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(sha);
    ptm__hub_response_free(&rs);
    free(url);
    return s;
}

/* ----------------------------------------------------------- the flow */

ptm_status ptm_model_push_to_hub(const ptm_model *model, const char *repo_id, const ptm_push_options *opts,
                                 char **commit_url)
{
    ptm_push_options o;
    ptm_push_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    o.struct_size = sizeof o;
    if (commit_url)
        *commit_url = NULL;
    if (!model || !repo_id)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_push_to_hub: NULL argument");
    if (!ptm__hub_valid_repo_id(repo_id))
        return ptm_error(PTM_ERR_INVALID_ARG,
                         "\"%.100s\" is not a valid repository id (\"name\" or \"org/name\": letters, digits, '-', "
                         "'_', '.')",
                         repo_id);
    ptm__push_ctx c;
    memset(&c, 0, sizeof c);
    c.repo_id = repo_id;
    c.revision = o.revision && *o.revision ? o.revision : "main";
    c.create_pr = o.create_pr;
    c.progress = o.progress;
    c.progress_user = o.progress_user;
    c.endpoint = ptm__hub_endpoint(o.endpoint);
    c.token = ptm__hub_token(o.token);
    c.qrev = ptm__hub_quote(c.revision, 0);
    char *dir = NULL, *card = NULL, *existing = NULL, *url = NULL, *full_id = NULL;
    ptm__push_file *files = NULL;
    size_t nfiles = 0, existing_len = 0, card_len = 0;
    ptm_status s = PTM_OK;
    if (!c.endpoint || !c.qrev) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((s = create_repo(&c, o.is_private, &full_id)))
        goto done;
    if (full_id && !strchr(repo_id, '/'))
        c.repo_id = full_id; /* as transformers, which continues with the URL's repo id */
    if (o.revision && *o.revision && strncmp(o.revision, "refs/pr", 7) != 0 && strcmp(o.revision, "main") != 0 &&
        (s = create_branch(&c)))
        goto done;
    const char *tmp = getenv("TMPDIR");
    dir = ptm__asprintf("%s/ptm-push-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!dir) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!mkdtemp(dir)) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot create a temporary folder: %s", dir, strerror(errno));
        free(dir);
        dir = NULL;
        goto done;
    }
    ptm_save_options so;
    ptm_save_options_init(&so);
    so.format = o.safe_serialization ? "safetensors" : "pytorch";
    so.max_shard_size = o.max_shard_size;
    if ((s = ptm_model_save_pretrained(model, dir, &so)))
        goto done;
    int changed = 0;
    char *readme = ptm__path_join(dir, "README.md");
    if (!readme)
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
    if (!s && !(s = fetch_card(&c, &existing, &existing_len)) &&
        !(s = ptm__model_card(existing, existing_len, c.repo_id, o.tags, &card, &card_len, &changed)) &&
        (!existing || changed))
        s = ptm__write_file_atomic(readme, card, card_len);
    free(readme);
    if (s)
        goto done;
    if ((s = list_files(dir, &files, &nfiles)) || (s = preupload(&c, files, nfiles)) ||
        (s = ptm__push_lfs(&c, files, nfiles)))
        goto done;
    size_t todo = 0;
    for (size_t i = 0; i < nfiles; i++)
        todo += !files[i].ignore && !files[i].unchanged;
    if (!todo)
        s = current_commit_url(&c, &url); /* nothing changed: no commit, as huggingface_hub */
    else
        s = commit(&c, o.commit_message && *o.commit_message ? o.commit_message : "Upload model",
                   o.commit_description, files, nfiles, &url);
    if (!s && commit_url) {
        *commit_url = url;
        url = NULL;
    }
done:
    if (dir) {
        remove_tree(dir);
        free(dir);
    }
    ptm__push_files_free(files, nfiles);
    free(url);
    free(card);
    free(existing);
    free(c.endpoint);
    free(c.qrev);
    free(full_id);
    ptm__hub_secret_free(c.token);
    return s;
}
