/* SPDX-License-Identifier: Apache-2.0 */
/* hub_http.c - the one libcurl request helper of the Hub client: headers of
 * the final answer, bodies to memory or to a file descriptor, bodies from
 * memory or a file range, redirects followed hop by hop with the
 * Authorization header only for the endpoint's origin, timeouts, proxy,
 * progress; retry back-off. */
#include "hub_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ERR_BODY_CAP (64u << 10)
#define DEFAULT_BODY_CAP (16u << 20)
#define MAX_HEADERS 512
#define MAX_HOPS 10

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;
static void curl_init(void) { curl_init_rc = (int)curl_global_init(CURL_GLOBAL_DEFAULT); }

void ptm__hub_request_init(ptm__hub_request *rq, const char *method, const char *url)
{
    memset(rq, 0, sizeof *rq);
    rq->method = method;
    rq->url = url;
    rq->out_fd = -1;
}

static void clear_headers(ptm__hub_response *rs)
{
    for (size_t i = 0; i < rs->nhdrs; i++) {
        free(rs->hdr_names[i]);
        free(rs->hdr_values[i]);
    }
    free(rs->hdr_names);
    free(rs->hdr_values);
    rs->hdr_names = rs->hdr_values = NULL;
    rs->nhdrs = 0;
}

void ptm__hub_response_free(ptm__hub_response *rs)
{
    if (!rs)
        return;
    clear_headers(rs);
    free(rs->body);
    free(rs->url);
    memset(rs, 0, sizeof *rs);
}

const char *ptm__hub_header(const ptm__hub_response *rs, const char *name)
{
    for (size_t i = 0; rs && i < rs->nhdrs; i++)
        if (!strcasecmp(rs->hdr_names[i], name))
            return rs->hdr_values[i];
    return NULL;
}

char *ptm__hub_url_for_msg(const char *url)
{
    size_t n = strcspn(url, "?#");
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, url, n);
        p[n] = '\0';
    }
    return p;
}

typedef struct xfer {
    const ptm__hub_request *rq;
    ptm__hub_response *rs;
    int discard_3xx; /* following redirects: 3xx bodies are dropped */
    int checked_range;
    ptm_status werr; /* set by the write callback */
    int werrno;
    size_t cap;
    /* request body */
    const char *mem;
    size_t mem_left;
    int in_fd;
    uint64_t in_pos, in_left;
    int body_err;
} xfer;

int ptm__hub_header_line(ptm__hub_response *rs, const char *buf, size_t n)
{
    if (n >= 5 && !memcmp(buf, "HTTP/", 5)) {
        /* a new status line: headers of earlier answers are forgotten */
        clear_headers(rs);
        const char *sp = memchr(buf, ' ', n);
        long st = 0;
        if (sp) {
            const char *p = sp + 1, *end = buf + n;
            for (int k = 0; k < 3 && p < end && *p >= '0' && *p <= '9'; k++, p++)
                st = st * 10 + (*p - '0');
        }
        rs->status = st;
        return 1;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon || colon == buf || rs->nhdrs >= MAX_HEADERS)
        return 0;
    const char *v = colon + 1, *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    char **nn = realloc(rs->hdr_names, (rs->nhdrs + 1) * sizeof *nn);
    if (!nn)
        return -1;
    rs->hdr_names = nn;
    char **nv = realloc(rs->hdr_values, (rs->nhdrs + 1) * sizeof *nv);
    if (!nv)
        return -1;
    rs->hdr_values = nv;
    char *name = strndup(buf, (size_t)(colon - buf));
    char *val = strndup(v, (size_t)(end - v));
    if (!name || !val) {
        free(name);
        free(val);
        return -1;
    }
    nn[rs->nhdrs] = name;
    nv[rs->nhdrs] = val;
    rs->nhdrs++;
    return 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    int r = ptm__hub_header_line(x->rs, buf, n);
    if (r < 0)
        return 0;
    if (r == 1)
        x->checked_range = 0;
    return n;
}

static int append_mem(ptm__hub_response *rs, const char *p, size_t n, size_t cap, int truncate_ok)
{
    size_t room = cap > rs->body_len ? cap - rs->body_len : 0;
    if (n > room) {
        if (!truncate_ok)
            return -1;
        n = room;
    }
    if (!n)
        return 0;
    char *b = realloc(rs->body, rs->body_len + n + 1);
    if (!b)
        return -2;
    memcpy(b + rs->body_len, p, n);
    rs->body = b;
    rs->body_len += n;
    b[rs->body_len] = '\0';
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    ptm__hub_response *rs = x->rs;
    size_t n = size * nmemb;
    long st = rs->status;
    if (st >= 300 && st < 400 && x->discard_3xx)
        return n;
    if (st < 200 || st >= 300 || x->rq->out_fd < 0) {
        int ok2xx = st >= 200 && st < 300;
        int r = append_mem(rs, p, n, ok2xx ? x->cap : ERR_BODY_CAP, !ok2xx);
        if (r == -2) {
            x->werr = PTM_ERR_NOMEM;
            return 0;
        }
        if (r == -1) {
            x->werr = PTM_ERR_OVERFLOW;
            return 0;
        }
        return n;
    }
    int fd = x->rq->out_fd;
    if (x->rq->range && !x->checked_range) {
        x->checked_range = 1;
        if (st == 200) { /* the server ignored the range: start over */
            if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) < 0) {
                x->werr = PTM_ERR_IO;
                x->werrno = errno;
                return 0;
            }
            rs->range_ignored = 1;
        }
    }
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            x->werr = PTM_ERR_IO;
            x->werrno = errno;
            return 0;
        }
        p += w;
        left -= (size_t)w;
        rs->bytes_written += (uint64_t)w;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t room = size * nitems;
    if (x->in_fd >= 0) {
        size_t want = x->in_left < room ? (size_t)x->in_left : room;
        if (!want)
            return 0;
        ssize_t r;
        do
            r = pread(x->in_fd, buf, want, (off_t)x->in_pos);
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
            x->body_err = r < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        x->in_pos += (uint64_t)r;
        x->in_left -= (uint64_t)r;
        return (size_t)r;
    }
    size_t k = x->mem_left < room ? x->mem_left : room;
    memcpy(buf, x->mem, k);
    x->mem += k;
    x->mem_left -= k;
    return k;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    xfer *x = ud;
    const ptm__hub_request *rq = x->rq;
    if (!rq->progress)
        return 0;
    long st = x->rs->status;
    if (ultotal > 0 && dlnow == 0)
        return rq->progress(rq->progress_user, (uint64_t)ulnow, (uint64_t)ultotal);
    if (st < 200 || st >= 300)
        return 0;
    return rq->progress(rq->progress_user, (uint64_t)(dlnow > 0 ? dlnow : 0), (uint64_t)(dltotal > 0 ? dltotal : 0));
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h, int *bad)
{
    struct curl_slist *n = curl_slist_append(l, h);
    if (!n)
        *bad = 1;
    return n ? n : l;
}

static const char *method_or_get(const char *m) { return m && *m ? m : "GET"; }

ptm_status ptm__hub_request_do(const ptm__hub_request *rq, ptm__hub_response *rs)
{
    memset(rs, 0, sizeof *rs);
    if (!rq || !rq->url)
        return ptm_error(PTM_ERR_INVALID_ARG, "hub request: no URL");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != 0)
        return ptm_error(PTM_ERR_NETWORK, "libcurl could not be initialised");
    char *url = ptm__strdup(rq->url);
    char *method = ptm__strdup(method_or_get(rq->method));
    int in_fd = -1;
    ptm_status s = PTM_OK;
    CURL *h = NULL;
    if (!url || !method) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    int with_body = rq->body_file || rq->body;
    if (rq->body_file) {
        in_fd = open(rq->body_file, O_RDONLY | O_CLOEXEC);
        if (in_fd < 0) {
            s = ptm_error(PTM_ERR_IO, "%s: cannot open: %s", rq->body_file, strerror(errno));
            goto done;
        }
    }
    h = curl_easy_init();
    if (!h) {
        s = ptm_error(PTM_ERR_NOMEM, "cannot create a libcurl handle");
        goto done;
    }
    for (int hop = 0;; hop++) {
        curl_easy_reset(h);
        clear_headers(rs);
        free(rs->body);
        rs->body = NULL;
        rs->body_len = 0;
        rs->status = 0;
        xfer x;
        memset(&x, 0, sizeof x);
        x.rq = rq;
        x.rs = rs;
        x.discard_3xx = rq->follow_redirects;
        x.cap = rq->body_cap ? rq->body_cap : DEFAULT_BODY_CAP;
        x.in_fd = -1;
        int bad = 0;
        struct curl_slist *hl = NULL;
        for (size_t i = 0; rq->headers && rq->headers[i]; i++)
            hl = add_header(hl, rq->headers[i], &bad);
        hl = add_header(hl, "Expect:", &bad);
        if (rq->token && *rq->token && rq->endpoint && ptm__hub_same_origin(url, rq->endpoint)) {
            char *auth = ptm__asprintf("Authorization: Bearer %s", rq->token);
            if (!auth)
                bad = 1;
            else {
                hl = add_header(hl, auth, &bad);
                memset(auth, 0, strlen(auth));
                free(auth);
            }
        }
        if (bad) {
            curl_slist_free_all(hl);
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            goto done;
        }
        char range[64];
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_USERAGENT, ptm__hub_user_agent());
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, rq->connect_timeout_s > 0 ? rq->connect_timeout_s : 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, rq->read_timeout_s > 0 ? rq->read_timeout_s : 10L);
        if (rq->total_timeout_s > 0)
            curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->total_timeout_s);
        if (rq->proxy && *rq->proxy) {
            /* an explicit proxy is used for every host, as transformers'
             * proxies= is: no_proxy / NO_PROXY only apply to the
             * *_proxy environment variables */
            curl_easy_setopt(h, CURLOPT_PROXY, rq->proxy);
            curl_easy_setopt(h, CURLOPT_NOPROXY, "");
        }
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        if (rq->range && *rq->range) {
            snprintf(range, sizeof range, "%s", rq->range);
            curl_easy_setopt(h, CURLOPT_RANGE, range);
        }
        if (!strcmp(method, "HEAD")) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (with_body) {
            if (rq->body_file) {
                x.in_fd = in_fd;
                x.in_pos = rq->body_offset;
                x.in_left = rq->body_length;
            } else {
                x.mem = rq->body;
                x.mem_left = rq->body_len;
            }
            uint64_t blen = rq->body_file ? rq->body_length : rq->body_len;
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &x);
            if (!strcmp(method, "PUT")) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)blen);
            } else {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
                if (strcmp(method, "POST"))
                    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
            }
        } else if (!strcmp(method, "POST")) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        } else if (strcmp(method, "GET")) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        CURLcode cc = curl_easy_perform(h);
        curl_slist_free_all(hl);
        rs->curl_code = (int)cc;
        free(rs->url);
        rs->url = ptm__strdup(url);
        if (x.werr == PTM_ERR_NOMEM) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (cc != CURLE_OK || x.werr) {
            char *mu = ptm__hub_url_for_msg(url);
            if (x.werr == PTM_ERR_IO)
                s = ptm_error(PTM_ERR_IO, "%s %s: cannot write the answer: %s", method, mu ? mu : "?",
                              strerror(x.werrno));
            else if (x.werr == PTM_ERR_OVERFLOW)
                s = ptm_error(PTM_ERR_NETWORK, "%s %s: answer larger than %zu bytes", method, mu ? mu : "?", x.cap);
            else if (x.body_err)
                s = ptm_error(PTM_ERR_IO, "%s: cannot read the request body: %s", rq->body_file,
                              strerror(x.body_err));
            else {
                rs->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
                s = ptm_error(PTM_ERR_NETWORK, "%s %s: %s%s", method, mu ? mu : "?",
                              cc == CURLE_ABORTED_BY_CALLBACK ? "aborted" : curl_easy_strerror(cc),
                              rs->timed_out ? " (HF_HUB_DOWNLOAD_TIMEOUT / HF_HUB_ETAG_TIMEOUT set the limits)" : "");
            }
            free(mu);
            goto done;
        }
        long st = rs->status;
        int redirect = st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
        if (!rq->follow_redirects || !redirect)
            break;
        char *next = NULL;
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next);
        if (!next)
            break; /* a 3xx without Location is the answer */
        if (hop + 1 >= MAX_HOPS) {
            char *mu = ptm__hub_url_for_msg(rq->url);
            s = ptm_error(PTM_ERR_NETWORK, "%s %s: more than %d redirects", method, mu ? mu : "?", MAX_HOPS);
            free(mu);
            goto done;
        }
        char *nu = ptm__strdup(next);
        if (!nu) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            goto done;
        }
        free(url);
        url = nu;
        if (st == 303 || ((st == 301 || st == 302) && !strcmp(method, "POST"))) {
            free(method);
            method = ptm__strdup("GET");
            with_body = 0;
            if (!method) {
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
    }
done:
    if (h)
        curl_easy_cleanup(h);
    if (in_fd >= 0)
        close(in_fd);
    free(url);
    free(method);
    return s;
}

int ptm__hub_is_transient(ptm_status s, const ptm__hub_response *rs)
{
    if (s == PTM_ERR_NETWORK)
        return 1;
    if (s != PTM_OK || !rs)
        return 0;
    long st = rs->status;
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

int ptm__hub_max_retries(void)
{
    const char *e = getenv("PTM_HUB_MAX_RETRIES");
    int64_t v = e ? ptm__hub_parse_size(e) : -1;
    return v >= 0 && v <= 20 ? (int)v : 5;
}

int64_t ptm__hub_retry_after_ms(const ptm__hub_response *rs)
{
    if (!rs || rs->status != 429)
        return -1;
    /* RateLimit: "api";r=0;t=55  -> t+1 s; else Retry-After: N -> N+1 s */
    const char *rl = ptm__hub_header(rs, "RateLimit");
    const char *t = rl ? strstr(rl, "t=") : NULL;
    const char *r0 = rl ? strstr(rl, "r=0") : NULL;
    int64_t secs = -1;
    if (r0 && t) {
        char num[24];
        size_t k = strspn(t + 2, "0123456789");
        if (k && k < sizeof num) {
            memcpy(num, t + 2, k);
            num[k] = '\0';
            secs = ptm__hub_parse_size(num);
        }
    } else if (ptm__hub_header(rs, "Retry-After"))
        secs = ptm__hub_parse_size(ptm__hub_header(rs, "Retry-After"));
    return secs >= 0 && secs < 3600 ? (secs + 1) * 1000 : -1;
}

void ptm__hub_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void ptm__hub_backoff_sleep(int attempt, const ptm__hub_response *rs)
{
    int64_t ms = ptm__hub_retry_after_ms(rs);
    if (ms < 0) {
        const char *e = getenv("PTM_HUB_RETRY_BASE_MS");
        int64_t base = e ? ptm__hub_parse_size(e) : -1;
        if (base < 0 || base > 60000)
            base = 1000;
        ms = base;
        for (int i = 0; i < attempt && ms < 8000; i++)
            ms *= 2;
        if (ms > 8000)
            ms = 8000;
    }
    ptm__hub_sleep_ms(ms);
}
