/* SPDX-License-Identifier: Apache-2.0 */
/* hub_util.c - what every Hub call needs besides the transfer itself:
 * environment (endpoint, token, cache root, offline), URL escaping and
 * origin checks, repo id / file name rules, hashes, and the mapping of a
 * failed answer to a status. */
#include "hub_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* --------------------------------------------------------- environment */

int ptm__hub_env_true(const char *name)
{
    const char *v = getenv(name);
    if (!v)
        return 0;
    return !strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true");
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *strip_trailing_slashes(char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

char *ptm__hub_endpoint(const char *arg)
{
    const char *e = arg && *arg ? arg : env_nonempty("HF_ENDPOINT");
    return strip_trailing_slashes(ptm__strdup(e ? e : "https://huggingface.co"));
}

/* Remove surrounding whitespace and every CR / LF (spec §4). */
static char *clean_token(const char *raw)
{
    if (!raw)
        return NULL;
    size_t n = strlen(raw);
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (raw[i] != '\r' && raw[i] != '\n')
            t[k++] = raw[i];
    t[k] = '\0';
    size_t a = 0;
    while (t[a] && isspace((unsigned char)t[a]))
        a++;
    while (k > a && isspace((unsigned char)t[k - 1]))
        k--;
    memmove(t, t + a, k - a);
    t[k - a] = '\0';
    if (!*t) {
        free(t);
        return NULL;
    }
    return t;
}

void ptm__hub_secret_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

char *ptm__hub_home(void)
{
    const char *h = env_nonempty("HF_HOME");
    if (h)
        return ptm__strdup(h);
    const char *x = env_nonempty("XDG_CACHE_HOME");
    if (x)
        return ptm__path_join(x, "huggingface");
    const char *home = env_nonempty("HOME");
    return ptm__asprintf("%s/.cache/huggingface", home ? home : "/tmp");
}

char *ptm__hub_cache_dir(const char *arg)
{
    if (arg && *arg)
        return ptm__strdup(arg);
    const char *c = env_nonempty("HF_HUB_CACHE");
    if (!c)
        c = env_nonempty("HUGGINGFACE_HUB_CACHE");
    if (c)
        return ptm__strdup(c);
    char *home = ptm__hub_home();
    char *r = home ? ptm__path_join(home, "hub") : NULL;
    free(home);
    return r;
}

char *ptm__hub_token(const char *arg)
{
    if (arg && *arg)
        return clean_token(arg);
    if (ptm__hub_env_true("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
        return NULL;
    char *t = clean_token(env_nonempty("HF_TOKEN"));
    if (!t)
        t = clean_token(env_nonempty("HUGGING_FACE_HUB_TOKEN"));
    if (t)
        return t;
    const char *tp = env_nonempty("HF_TOKEN_PATH");
    char *path = NULL;
    if (tp)
        path = ptm__strdup(tp);
    else {
        char *home = ptm__hub_home();
        path = home ? ptm__path_join(home, "token") : NULL;
        free(home);
    }
    if (!path)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    if (ptm__is_file(path) && ptm__read_file(path, &text, &len) == PTM_OK) {
        t = clean_token(text);
        memset(text, 0, len);
        free(text);
    }
    ptm_clear_error();
    free(path);
    return t;
}

int ptm__hub_offline(void)
{
    const char *v = env_nonempty("HF_HUB_OFFLINE");
    const char *name = v ? "HF_HUB_OFFLINE" : "TRANSFORMERS_OFFLINE";
    return ptm__hub_env_true(name);
}

static char ua[256];
static pthread_once_t ua_once = PTHREAD_ONCE_INIT;
static void ua_init(void)
{
    const curl_version_info_data *ci = curl_version_info(CURLVERSION_NOW);
    const char *origin = env_nonempty("HF_HUB_USER_AGENT_ORIGIN");
    snprintf(ua, sizeof ua, "ptm/%s; curl/%s%s%.64s", PTM_VERSION_STRING, ci ? ci->version : "unknown",
             origin ? "; origin/" : "", origin ? origin : "");
}

const char *ptm__hub_user_agent(void)
{
    pthread_once(&ua_once, ua_init);
    return ua;
}

long ptm__hub_env_seconds(const char *name, long dflt)
{
    const char *v = getenv(name);
    int64_t s = v ? ptm__hub_parse_size(v) : -1;
    return s > 0 && s < 86400 ? (long)s : dflt;
}

/* ---------------------------------------------------------- URLs, ids */

char *ptm__hub_quote(const char *s, int keep_slash)
{
    size_t n = strlen(s), cap;
    if (ptm__mul_ovf(n, 3, &cap) || ptm__add_ovf(cap, 1, &cap))
        return NULL;
    char *o = malloc(cap), *p = o;
    if (!o)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' || (keep_slash && c == '/'))
            *p++ = (char)c;
        else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return o;
}

/* scheme, host (lowercased by libcurl) and port (default filled in). */
static int origin_of(const char *url, char **scheme, char **host, char **port)
{
    CURLU *u = curl_url();
    *scheme = *host = *port = NULL;
    if (!u)
        return -1;
    int bad = curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
              curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
              curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
              curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) != CURLUE_OK;
    curl_url_cleanup(u);
    return bad ? -1 : 0;
}

int ptm__hub_same_origin(const char *a, const char *b)
{
    char *s1, *h1, *p1, *s2, *h2, *p2;
    int r1 = origin_of(a, &s1, &h1, &p1), r2 = origin_of(b, &s2, &h2, &p2);
    int same = !r1 && !r2 && !strcasecmp(s1, s2) && !strcasecmp(h1, h2) && !strcmp(p1, p2);
    curl_free(s1);
    curl_free(h1);
    curl_free(p1);
    curl_free(s2);
    curl_free(h2);
    curl_free(p2);
    return same;
}

int ptm__hub_location_is_relative(const char *loc)
{
    if (!loc || !*loc)
        return 0;
    if (loc[0] == '/' && loc[1] == '/')
        return 0; /* "//host/path" */
    for (const char *p = loc; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == ':')
            return 0; /* "scheme:" */
    return 1;
}

char *ptm__hub_swap_path(const char *url, const char *loc)
{
    CURLU *u = curl_url();
    if (!u)
        return NULL;
    char *out = NULL, *path = NULL;
    size_t pl = strcspn(loc, "?#");
    path = malloc(pl + 2);
    if (path) {
        size_t k = 0;
        if (loc[0] != '/')
            path[k++] = '/';
        memcpy(path + k, loc, pl);
        path[k + pl] = '\0';
    }
    if (path && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PATH, path, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK) {
        char *s = NULL;
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
            out = ptm__strdup(s);
            curl_free(s);
        }
    }
    free(path);
    curl_url_cleanup(u);
    return out;
}

static int name_char(char c) { return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-'; }

static int valid_part(const char *p, size_t n)
{
    if (n == 0 || p[0] == '-' || p[0] == '.' || p[n - 1] == '-' || p[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(p[i]))
            return 0;
    return 1;
}

int ptm__hub_valid_repo_id(const char *id)
{
    if (!id)
        return 0;
    size_t n = strlen(id);
    if (n == 0 || n > 96 || strstr(id, "--") || strstr(id, ".."))
        return 0;
    const char *slash = strchr(id, '/');
    if (!slash)
        return valid_part(id, n);
    if (strchr(slash + 1, '/'))
        return 0;
    return valid_part(id, (size_t)(slash - id)) && valid_part(slash + 1, strlen(slash + 1));
}

int ptm__hub_valid_filename(const char *f)
{
    if (!f || !*f || f[0] == '/' || strchr(f, '\\'))
        return 0;
    if (isalpha((unsigned char)f[0]) && f[1] == ':')
        return 0;
    const char *p = f;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!p[n])
            return 1;
        p += n + 1;
    }
}

int ptm__hub_is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int ptm__hub_is_commit_hash(const char *s) { return ptm__hub_is_hex(s, 40); }

/* -------------------------------------------------------------- hashes */

void ptm__hub_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* sha256 and/or git's blob sha1 of a file, in one read of it. */
ptm_status ptm__hub_hash_file(const char *path, char *sha256, char *git_sha1)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ptm_error(PTM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    EVP_MD_CTX *c[2] = {sha256 ? EVP_MD_CTX_new() : NULL, git_sha1 ? EVP_MD_CTX_new() : NULL};
    char *out[2] = {sha256, git_sha1};
    ptm_status s = PTM_OK;
    if ((sha256 && !c[0]) || (git_sha1 && !c[1])) {
        s = ptm_error(PTM_ERR_NOMEM, "%s: cannot hash", path);
        goto done;
    }
    if (fstat(fd, &st) != 0 || (c[0] && !EVP_DigestInit_ex(c[0], EVP_sha256(), NULL)) ||
        (c[1] && !EVP_DigestInit_ex(c[1], EVP_sha1(), NULL))) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot hash", path);
        goto done;
    }
    if (c[1]) {
        char head[48];
        int k = snprintf(head, sizeof head, "blob %lld", (long long)st.st_size);
        EVP_DigestUpdate(c[1], head, (size_t)k + 1); /* the NUL is part of the header */
    }
    static _Thread_local unsigned char buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s = ptm_error(PTM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        for (int i = 0; i < 2; i++)
            if (c[i])
                EVP_DigestUpdate(c[i], buf, (size_t)r);
    }
    for (int i = 0; i < 2; i++) {
        if (!c[i])
            continue;
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(c[i], d, &dl);
        ptm__hub_hex(d, dl, out[i]);
    }
done:
    EVP_MD_CTX_free(c[0]);
    EVP_MD_CTX_free(c[1]);
    close(fd);
    return s;
}

ptm_status ptm__hub_sha256_file(const char *path, char out[65]) { return ptm__hub_hash_file(path, out, NULL); }
ptm_status ptm__hub_git_sha1_file(const char *path, char out[41]) { return ptm__hub_hash_file(path, NULL, out); }

/* ------------------------------------------------------------ errors */

static int is_repo_url(const char *url)
{
    return url && (strstr(url, "/resolve/") || strstr(url, "/api/models/") || strstr(url, "/api/datasets/") ||
                   strstr(url, "/api/spaces/"));
}

ptm_status ptm__hub_http_error(const ptm__hub_response *rs, const char *what, int had_token)
{
    const char *code = ptm__hub_header(rs, "X-Error-Code");
    const char *msg = ptm__hub_header(rs, "X-Error-Message");
    const char *rid = ptm__hub_header(rs, "X-Request-Id");
    if (!rid)
        rid = ptm__hub_header(rs, "X-Amzn-Trace-Id");
    long st = rs->status;
    ptm_status s = PTM_ERR_NETWORK;
    const char *hint = "";
    if (code && !strcmp(code, "RevisionNotFound")) {
        s = PTM_ERR_REVISION_NOT_FOUND;
        hint = "check the branch, tag or commit name (--revision)";
    } else if (code && !strcmp(code, "EntryNotFound")) {
        s = PTM_ERR_ENTRY_NOT_FOUND;
        hint = "the repository has no such file at this revision";
    } else if (code && !strcmp(code, "GatedRepo")) {
        s = PTM_ERR_GATED;
        hint = had_token ? "the repository is gated: request access on its page on the Hub, then retry with the same "
                           "token"
                         : "the repository is gated: request access on its page on the Hub and pass a token (--token, "
                           "HF_TOKEN or the token file under HF_HOME)";
    } else if ((code && !strcmp(code, "RepoNotFound")) ||
               (st == 401 && is_repo_url(rs->url) &&
                !(msg && !strcmp(msg, "Invalid credentials in Authorization header")))) {
        s = PTM_ERR_REPO_NOT_FOUND;
        hint = had_token ? "check the repository id; if it is private, make sure the token can read it"
                         : "check the repository id; if it is private or gated, pass a token (--token, HF_TOKEN or "
                           "the token file under HF_HOME)";
    } else if (st == 401 || st == 403) {
        s = PTM_ERR_GATED;
        hint = had_token ? "the token was refused or lacks access: check it and request access to the repository"
                         : "not authorized: pass a token (--token, HF_TOKEN or the token file under HF_HOME)";
    } else if (st == 429) {
        hint = "rate limited by the server: retry later";
    } else if (st >= 500) {
        hint = "server error: retry later";
    }
    /* the JSON body's "error" when it is a short string */
    char body_err[200] = "";
    if (rs->body && rs->body_len && rs->body[0] == '{') {
        const char *e = strstr(rs->body, "\"error\"");
        const char *q = e ? strchr(e + 7, '"') : NULL;
        if (q) {
            size_t k = 0;
            for (q++; *q && *q != '"' && k + 1 < sizeof body_err; q++)
                body_err[k++] = (char)((unsigned char)*q < 32 ? ' ' : *q);
            body_err[k] = '\0';
        }
    }
    char *mu = rs->url ? ptm__hub_url_for_msg(rs->url) : NULL;
    int dup = msg && body_err[0] && !strcmp(msg, body_err);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s: HTTP %ld%s%s%s%.300s%s%s from %s%s%.80s%s%s%s", what, st, code ? " " : "",
             code ? code : "", msg ? ": " : "", msg ? msg : "", body_err[0] && !dup ? ": " : "",
             body_err[0] && !dup ? body_err : "", mu ? mu : "?", rid ? " (request id " : "", rid ? rid : "",
             rid ? ")" : "", *hint ? "; " : "", hint);
    free(mu);
    ptm_error(s, "%s", buf);
    return s;
}
