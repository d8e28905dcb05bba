/* SPDX-License-Identifier: Apache-2.0 */
/* hub_download.c - hf_hub_download in cache mode (spec §1.4): the metadata
 * HEAD (relative redirects only), the cache fallback, the locked download
 * into blobs/<etag>.incomplete with resume, size and hash checks, the
 * rename into blobs/ and the relative symlink in snapshots/. */
#include "hub_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ptm_status ptm__hub_setup(ptm__hub *h, const ptm_hub_options *opts)
{
    ptm_hub_options o;
    ptm_hub_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    memset(h, 0, sizeof *h);
    h->endpoint = ptm__hub_endpoint(o.endpoint);
    h->cache = ptm__hub_cache_dir(o.cache_dir);
    if (!h->endpoint || !h->cache) {
        ptm__hub_teardown(h);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    h->token = ptm__hub_token(o.token);
    h->revision = o.revision && *o.revision ? o.revision : "main";
    h->proxy = o.proxy;
    h->force_download = o.force_download;
    h->local_only = o.local_files_only;
    h->offline = ptm__hub_offline();
    h->etag_timeout = ptm__hub_env_seconds("HF_HUB_ETAG_TIMEOUT", 10);
    h->download_timeout = ptm__hub_env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10);
    h->progress = o.progress;
    h->progress_user = o.progress_user;
    if (strstr(h->revision, "..") || h->revision[0] == '/' || strchr(h->revision, '\\')) {
        ptm__hub_teardown(h);
        return ptm_error(PTM_ERR_INVALID_ARG, "revision \"%s\" is not a branch, tag or commit name", o.revision);
    }
    return PTM_OK;
}

void ptm__hub_teardown(ptm__hub *h)
{
    free(h->endpoint);
    free(h->cache);
    ptm__hub_secret_free(h->token);
    memset(h, 0, sizeof *h);
}

typedef struct meta {
    char *commit, *etag, *location;
    int64_t size;
} meta;

static void meta_free(meta *m)
{
    free(m->commit);
    free(m->etag);
    free(m->location);
    memset(m, 0, sizeof *m);
}

static int no_connection(const ptm__hub_response *rs)
{
    return rs->curl_code == CURLE_COULDNT_CONNECT || rs->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
           rs->curl_code == CURLE_COULDNT_RESOLVE_PROXY;
}

/* The metadata HEAD.  *transient / *unreachable describe a failure;
 * *wait_ms is the wait a 429 asked for (-1: none); *missing_commit gets
 * X-Repo-Commit of an EntryNotFound answer. */
static ptm_status head(ptm__hub *h, const char *url0, const char *what, meta *m, int *transient, int *unreachable,
                       int64_t *wait_ms, char **missing_commit)
{
    static const char *const hdrs[] = {"Accept-Encoding: identity", NULL};
    memset(m, 0, sizeof *m);
    *transient = *unreachable = 0;
    *wait_ms = -1;
    char *url = ptm__strdup(url0);
    ptm__hub_response rs;
    memset(&rs, 0, sizeof rs);
    ptm_status s = url ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (int hop = 0; !s; hop++) {
        ptm__hub_request rq;
        ptm__hub_request_init(&rq, "HEAD", url);
        rq.headers = hdrs;
        rq.token = h->token;
        rq.endpoint = h->endpoint;
        rq.proxy = h->proxy;
        rq.connect_timeout_s = h->etag_timeout;
        rq.read_timeout_s = h->etag_timeout;
        rq.total_timeout_s = h->etag_timeout;
        ptm__hub_response_free(&rs);
        s = ptm__hub_request_do(&rq, &rs);
        if (s) {
            *transient = ptm__hub_is_transient(s, &rs);
            *unreachable = no_connection(&rs);
            ptm_error_prefix(s, "%s", what);
            break;
        }
        const char *loc = ptm__hub_header(&rs, "Location");
        if (rs.status >= 300 && rs.status < 400 && loc && ptm__hub_location_is_relative(loc)) {
            if (hop >= 10) {
                s = ptm_error(PTM_ERR_NETWORK, "%s: more than 10 redirects", what);
                break;
            }
            char *next = ptm__hub_swap_path(url, loc);
            if (!next) {
                s = ptm_error(PTM_ERR_NETWORK, "%s: bad redirect", what);
                break;
            }
            free(url);
            url = next;
            continue;
        }
        break;
    }
    if (s)
        goto done;
    if (rs.status >= 400) {
        s = ptm__hub_http_error(&rs, what, h->token != NULL);
        *transient = ptm__hub_is_transient(PTM_OK, &rs);
        *wait_ms = ptm__hub_retry_after_ms(&rs);
        const char *c = ptm__hub_header(&rs, "X-Repo-Commit");
        if (s == PTM_ERR_ENTRY_NOT_FOUND && c && ptm__hub_safe_etag(c))
            *missing_commit = ptm__strdup(c);
        goto done;
    }
    int redirect = rs.status >= 300 && rs.status < 400;
    const char *commit = ptm__hub_header(&rs, "X-Repo-Commit");
    const char *etag = ptm__hub_header(&rs, "X-Linked-Etag");
    if (!etag || !*etag)
        etag = ptm__hub_header(&rs, "ETag");
    const char *size = ptm__hub_header(&rs, "X-Linked-Size");
    if ((!size || !*size) && !redirect)
        size = ptm__hub_header(&rs, "Content-Length");
    const char *loc = redirect ? ptm__hub_header(&rs, "Location") : NULL;
    m->size = ptm__hub_parse_size(size);
    m->etag = ptm__hub_normalize_etag(etag);
    m->commit = ptm__strdup(commit);
    m->location = ptm__strdup(loc ? loc : url);
    if (!commit || !etag || m->size < 0 || (redirect && !loc)) {
        s = ptm_error(PTM_ERR_NETWORK,
                      "%s: the answer of %s lacks %s: it does not look like a Hugging Face Hub (check HF_ENDPOINT)",
                      what, h->endpoint,
                      !commit ? "X-Repo-Commit" : !etag ? "an ETag" : m->size < 0 ? "a valid size" : "a Location");
        goto done;
    }
    if (!m->etag || !m->commit || !m->location) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!ptm__hub_safe_etag(m->etag) || !ptm__hub_safe_etag(m->commit)) {
        s = ptm_error(PTM_ERR_NETWORK, "%s: the server sent an unusable etag or commit id", what);
        goto done;
    }
done:
    if (s)
        meta_free(m);
    ptm__hub_response_free(&rs);
    free(url);
    return s;
}

typedef struct prog {
    ptm__hub *h;
    const char *filename;
    uint64_t base;
    int64_t size;
    int too_big;
    const ptm__hub_response *rs; /* range_ignored: the body restarts at 0 */
} prog;

static int on_progress(void *ud, uint64_t now, uint64_t total)
{
    prog *p = ud;
    (void)total;
    uint64_t done = (p->rs->range_ignored ? 0 : p->base) + now;
    if (p->size >= 0 && done > (uint64_t)p->size) {
        p->too_big = 1;
        return 1;
    }
    if (p->h->progress)
        p->h->progress(p->h->progress_user, p->filename, done, (uint64_t)(p->size >= 0 ? p->size : 0), 0);
    return 0;
}

static int64_t fd_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Download m->location into blobs/<etag> (the caller holds the lock). */
static ptm_status download_blob(ptm__hub *h, const meta *m, const char *blob, const char *filename, const char *what)
{
    char *tmp = ptm__asprintf("%s.incomplete", blob);
    if (!tmp)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (h->force_download ? O_TRUNC : 0), 0666);
    if (fd < 0) {
        ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    ptm_status s = PTM_OK;
    int drop = 0; /* delete the temp file on failure (it is not a prefix of the blob) */
    int64_t have = fd_size(fd);
    if (have < 0 || have > m->size) { /* not a prefix of this blob */
        if (ftruncate(fd, 0) != 0) {
            s = ptm_error(PTM_ERR_IO, "%s: cannot truncate: %s", tmp, strerror(errno));
            goto fail;
        }
        have = 0;
    }
    int max = ptm__hub_max_retries(), stalls = 0, http_retries = 0;
    for (;;) {
        char range[32];
        if (have == m->size && have > 0)
            break; /* a previous run had got everything */
        snprintf(range, sizeof range, "%lld-", (long long)have);
        ptm__hub_response rs;
        prog p = {h, filename, (uint64_t)have, m->size, 0, &rs};
        ptm__hub_request rq;
        ptm__hub_request_init(&rq, "GET", m->location);
        rq.token = h->token;
        rq.endpoint = h->endpoint;
        rq.proxy = h->proxy;
        rq.follow_redirects = 1;
        rq.connect_timeout_s = h->download_timeout;
        rq.read_timeout_s = h->download_timeout;
        rq.out_fd = fd;
        rq.range = have > 0 ? range : NULL;
        rq.progress = on_progress;
        rq.progress_user = &p;
        s = ptm__hub_request_do(&rq, &rs);
        int64_t now = fd_size(fd);
        if (p.too_big) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: the server sent more than the announced %lld bytes; nothing was cached",
                          what, (long long)m->size);
            ptm__hub_response_free(&rs);
            drop = 1;
            goto fail;
        }
        if (s == PTM_OK && rs.status >= 200 && rs.status < 300) {
            ptm__hub_response_free(&rs);
            have = now;
            break;
        }
        if (s == PTM_OK && rs.status == 416) {
            s = ptm_error(PTM_ERR_NETWORK, "%s: the server refused the range bytes=%s (HTTP 416, Content-Range %s)",
                          what, range, ptm__hub_header(&rs, "Content-Range") ? ptm__hub_header(&rs, "Content-Range")
                                                                              : "none");
            ptm__hub_response_free(&rs);
            drop = 1;
            goto fail;
        }
        if (s == PTM_OK) {
            int transient = ptm__hub_is_transient(PTM_OK, &rs);
            if (transient && http_retries < max) {
                ptm__hub_backoff_sleep(http_retries++, &rs);
                ptm__hub_response_free(&rs);
                continue;
            }
            s = ptm__hub_http_error(&rs, what, h->token != NULL);
            ptm__hub_response_free(&rs);
            goto fail;
        }
        ptm__hub_response_free(&rs);
        if (s != PTM_ERR_NETWORK)
            goto fail;
        /* broken mid-stream: resume from what is on disk */
        if (now > have)
            stalls = 0;
        else if (++stalls > max) {
            ptm_error_prefix(s, "%s: gave up after %d attempts (the partial file %s is kept for the next run)", what,
                             stalls, tmp);
            goto fail;
        }
        have = now < 0 ? 0 : now;
        ptm__hub_backoff_sleep(0, NULL);
    }
    if (have != m->size) {
        s = ptm_error(PTM_ERR_NETWORK,
                      "%s: got %lld bytes but the Hub announced %lld; nothing was cached (retry, or use "
                      "--force-download)", what, (long long)have, (long long)m->size);
        drop = 1;
        goto fail;
    }
    if (fsync(fd) != 0) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot flush: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    char got[65];
    int sha = ptm__hub_is_hex(m->etag, 64), git = ptm__hub_is_hex(m->etag, 40);
    if (sha || git) {
        if ((s = sha ? ptm__hub_sha256_file(tmp, got) : ptm__hub_git_sha1_file(tmp, got)))
            goto fail;
        if (strcmp(got, m->etag)) {
            s = ptm_error(PTM_ERR_NETWORK,
                          "%s: the downloaded bytes have %s %s but the Hub announced %s; nothing was cached (retry, or "
                          "use --force-download)", what, sha ? "sha256" : "git sha1", got, m->etag);
            drop = 1;
            goto fail;
        }
    }
    if (rename(tmp, blob) != 0) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot rename into place: %s", blob, strerror(errno));
        drop = 1;
        goto fail;
    }
    if (h->progress)
        h->progress(h->progress_user, filename, (uint64_t)have, (uint64_t)m->size, 1);
    free(tmp);
    return PTM_OK;
fail:
    if (fd >= 0)
        close(fd);
    if (drop)
        unlink(tmp);
    if (h->progress)
        h->progress(h->progress_user, filename, 0, 0, 1);
    free(tmp);
    return s;
}

static char *pointer_path(const char *storage, const char *commit, const char *filename)
{
    return ptm__asprintf("%s/snapshots/%s/%s", storage, commit, filename);
}

ptm_status ptm__hub_fetch(ptm__hub *h, const char *repo_id, const char *filename, char **path_out)
{
    *path_out = NULL;
    if (!ptm__hub_valid_repo_id(repo_id))
        return ptm_error(PTM_ERR_INVALID_ARG, "\"%s\" is not a Hub repository id (\"name\" or \"org/name\")",
                         repo_id);
    if (!ptm__hub_valid_filename(filename))
        return ptm_error(PTM_ERR_INVALID_ARG, "\"%s\" is not a file path inside a repository", filename);
    const char *rev = h->revision;
    int is_hash = ptm__hub_is_commit_hash(rev);
    char *folder = ptm__hub_repo_folder(repo_id);
    char *storage = folder ? ptm__path_join(h->cache, folder) : NULL;
    char *what = ptm__asprintf("%s: %s at revision %s", repo_id, filename, rev);
    char *qrev = ptm__hub_quote(rev, 0), *qfile = ptm__hub_quote(filename, 1);
    char *url = qrev && qfile ? ptm__asprintf("%s/%s/resolve/%s/%s", h->endpoint, repo_id, qrev, qfile) : NULL;
    char *ptr = NULL, *commit = NULL, *blob = NULL, *missing = NULL, *saved = NULL;
    meta m;
    memset(&m, 0, sizeof m);
    int lockfd = -1;
    ptm_status s = PTM_OK;
    if (!storage || !what || !url) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (is_hash && !h->force_download) { /* a commit id: no network at all */
        if (!(ptr = pointer_path(storage, rev, filename))) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (ptm__is_file(ptr))
            goto found;
        free(ptr);
        ptr = NULL;
    }
    int transient = 0, unreachable = 0, no_net = h->local_only || h->offline;
    int64_t wait_ms = -1;
    ptm_status hs;
    if (no_net)
        hs = ptm_error(PTM_ERR_OFFLINE, "%s: not in the cache", what);
    else
        hs = head(h, url, what, &m, &transient, &unreachable, &wait_ms, &missing);
    if (hs == PTM_ERR_ENTRY_NOT_FOUND) {
        if (missing) {
            saved = ptm__strdup(ptm_last_error());
            if (ptm__hub_mark_missing(storage, missing, filename) != PTM_OK ||
                (!is_hash && ptm__hub_write_ref(storage, rev, missing) != PTM_OK))
                ptm_log(PTM_LOG_DEBUG, "%s: could not record the missing file in the cache", what);
            if (saved)
                ptm_error(hs, "%s", saved);
        }
        s = hs;
        goto done;
    }
    if (hs == PTM_ERR_REVISION_NOT_FOUND || hs == PTM_ERR_NOMEM || hs == PTM_ERR_INVALID_ARG) {
        s = hs;
        goto done;
    }
    if (hs) {
        saved = ptm__strdup(ptm_last_error());
        if (!h->force_download) {
            commit = is_hash ? ptm__strdup(rev) : ptm__hub_read_ref(storage, rev);
            if (commit && (ptr = pointer_path(storage, commit, filename)) && ptm__is_file(ptr)) {
                if (!no_net)
                    ptm_log(PTM_LOG_WARN, "%s; using the cached copy", saved ? saved : what);
                goto found;
            }
            free(ptr);
            ptr = NULL;
        }
        /* timeouts, 429 and 5xx are retried; a refused connection is not */
        int retries = transient && !unreachable && !no_net ? ptm__hub_max_retries() : 0;
        for (int attempt = 0; hs && attempt < retries; attempt++) {
            if (wait_ms >= 0) /* a 429's Retry-After / RateLimit */
                ptm__hub_sleep_ms(wait_ms);
            else
                ptm__hub_backoff_sleep(attempt, NULL);
            free(missing);
            missing = NULL;
            hs = head(h, url, what, &m, &transient, &unreachable, &wait_ms, &missing);
            if (hs) {
                free(saved);
                saved = ptm__strdup(ptm_last_error());
            }
            if (hs == PTM_ERR_ENTRY_NOT_FOUND || hs == PTM_ERR_REVISION_NOT_FOUND) {
                s = hs;
                goto done;
            }
            if (hs && (!transient || unreachable))
                break;
        }
    }
    if (hs) {
        if (h->force_download && no_net)
            s = ptm_error(PTM_ERR_INVALID_ARG, "%s: force_download needs the network, but %s", what,
                          h->local_only ? "local_files_only is set" : "HF_HUB_OFFLINE is set");
        else if (no_net)
            s = ptm_error(PTM_ERR_OFFLINE,
                          "%s: not found in the cache %s and outgoing traffic is disabled (%s); run once online to "
                          "download it, or point --cache-dir / HF_HUB_CACHE at a cache that has it", what, h->cache,
                          h->local_only ? "local_files_only / --local-files-only" : "HF_HUB_OFFLINE=1");
        else if (hs == PTM_ERR_REPO_NOT_FOUND || hs == PTM_ERR_GATED)
            s = ptm_error(hs, "%s", saved ? saved : what);
        else if (unreachable)
            s = ptm_error(PTM_ERR_OFFLINE,
                          "%s (cannot reach the Hub) and the file is not in the cache %s: check the connection, "
                          "HF_ENDPOINT and the proxy, or run with HF_HUB_OFFLINE=1 on a cache that has it",
                          saved ? saved : what, h->cache);
        else
            s = ptm_error(hs, "%s; the file is not in the cache %s", saved ? saved : what, h->cache);
        goto done;
    }
    /* the HEAD succeeded */
    if (!(ptr = pointer_path(storage, m.commit, filename)) || !(blob = ptm__asprintf("%s/blobs/%s", storage, m.etag))) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!h->force_download && ptm__is_file(ptr)) {
        if (!is_hash && ptm__hub_write_ref(storage, rev, m.commit) != PTM_OK)
            ptm_clear_error(); /* best effort: read-only caches still work */
        goto found;
    }
    char *blobs = ptm__path_join(storage, "blobs");
    s = blobs ? ptm__mkdirs(blobs, 0777) : ptm_error(PTM_ERR_NOMEM, "out of memory");
    free(blobs);
    if (s)
        goto done;
    ptm__hub_cachedir_tag(h->cache);
    if (!is_hash && (s = ptm__hub_write_ref(storage, rev, m.commit)))
        goto done;
    if ((s = ptm__hub_lock(h->cache, folder, m.etag, &lockfd)))
        goto done;
    if (h->force_download || !ptm__is_file(blob))
        if ((s = download_blob(h, &m, blob, filename, what)))
            goto done;
    if ((s = ptm__hub_link(storage, m.commit, filename, m.etag)))
        goto done;
found:
    *path_out = ptr;
    ptr = NULL;
done:
    ptm__hub_unlock(lockfd);
    meta_free(&m);
    free(folder);
    free(storage);
    free(what);
    free(qrev);
    free(qfile);
    free(url);
    free(ptr);
    free(commit);
    free(blob);
    free(missing);
    free(saved);
    return s;
}
