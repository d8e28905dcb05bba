/* SPDX-License-Identifier: Apache-2.0 */
/* hub_http.h - the Hub client's HTTP layer and small helpers (core-private,
 * not part of the SDK).  One libcurl request helper serves downloads and
 * uploads; the rest are the pieces every Hub call needs: endpoint and token
 * resolution, URL escaping, hashes, mapping of failed answers to statuses,
 * and bounds-checked parsers of the Hub's headers and JSON answers.
 *
 * Secrets: the token is only ever put into an "Authorization: Bearer"
 * request header, and only for requests whose scheme, host and port equal
 * the endpoint's.  No function here logs it or copies it into a message. */
#ifndef PTM_HUB_HTTP_H
#define PTM_HUB_HTTP_H

#include "internal.h"

#include <stdint.h>

/* ------------------------------------------------------------ requests */

/* Progress of one transfer: `now` bytes of `total` (0 = unknown) moved in
 * the current direction (download, or upload for requests with a body).
 * Return nonzero to abort the transfer (the request then fails with
 * PTM_ERR_NETWORK, "aborted"). */
typedef int (*ptm__hub_progress_fn)(void *user, uint64_t now, uint64_t total);

typedef struct ptm__hub_request {
    const char *method;          /* "GET", "HEAD", "POST", "PUT", ...      */
    const char *url;             /* absolute                               */
    /* Extra request headers, "Name: value", NULL-terminated (may be NULL).
     * "Name:" removes a header libcurl would add. */
    const char *const *headers;
    /* Bearer token (may be NULL) and the endpoint whose origin (scheme +
     * host + port) may receive it; any other origin (first URL or a
     * redirect hop) gets no Authorization header. */
    const char *token;
    const char *endpoint;
    /* Request body: from memory (body, body_len), or a range of a file
     * (body_file, body_offset, body_length; an LFS part upload).  Neither:
     * no body.  Sent again from its start on every redirect hop that keeps
     * the method (307/308). */
    const void *body;
    size_t body_len;
    const char *body_file;
    uint64_t body_offset, body_length;
    /* 0: the first answer is the response (3xx included).  1: follow up to
     * 10 redirects; each hop builds its own header list (Authorization only
     * for the endpoint's origin); 303, and 301/302 after a POST, go on as a
     * GET without a body. */
    int follow_redirects;
    /* Seconds; 0 = default.  connect: connection set-up (default 10).
     * read: a transfer that moves no byte for this long fails (libcurl's
     * low-speed limit; spec: HF_HUB_DOWNLOAD_TIMEOUT / HF_HUB_ETAG_TIMEOUT
     * semantics, not a total deadline; default 10).  total: a hard deadline
     * for the whole request (0 = none; for HEADs and small API calls). */
    long connect_timeout_s, read_timeout_s, total_timeout_s;
    /* Proxy URL, used for every host (no_proxy does not apply to it);
     * NULL = libcurl's usual environment (http_proxy, HTTPS_PROXY,
     * NO_PROXY, ...). */
    const char *proxy;
    /* Where a 2xx body goes: out_fd >= 0 appends it to that file
     * descriptor (bytes counted in bytes_written); else it is collected in
     * memory up to body_cap bytes (0 = 16 MiB), a longer body failing with
     * PTM_ERR_NETWORK.  Bodies of non-2xx answers always go to memory
     * (first 64 KiB) for error messages. */
    int out_fd;
    size_t body_cap;
    /* Byte range "N-" or "N-M" (without "bytes="); NULL for none.  When a
     * range was asked and the server answers 200 (range ignored), out_fd is
     * truncated to 0 before the full body is written and range_ignored is
     * set in the response. */
    const char *range;
    ptm__hub_progress_fn progress;
    void *progress_user;
} ptm__hub_request;

/* Zero everything, out_fd = -1. */
void ptm__hub_request_init(ptm__hub_request *rq, const char *method, const char *url);

typedef struct ptm__hub_response {
    long status;        /* HTTP status of the final answer; 0 if none     */
    /* Headers of the FINAL answer only (the set is reset on every status
     * line, so interim 100/3xx answers do not leak into it). */
    char **hdr_names, **hdr_values;
    size_t nhdrs;
    char *body;         /* NUL-terminated; NULL when the body went to out_fd */
    size_t body_len;
    uint64_t bytes_written; /* 2xx body bytes appended to out_fd            */
    int range_ignored;  /* a range was asked and a 200 came back           */
    char *url;          /* URL of the last request made (after redirects)  */
    int curl_code;      /* CURLcode of the transfer (0 = CURLE_OK)         */
    int timed_out;      /* the failure was a timeout                       */
} ptm__hub_response;

/* Perform one request (with redirects when asked).  PTM_OK when an HTTP
 * answer arrived completely, whatever its status: check rs->status.
 * PTM_ERR_NETWORK when the connection failed, timed out or broke (rs keeps
 * what arrived: status, headers, bytes_written, so a download can resume);
 * PTM_ERR_NOMEM / PTM_ERR_IO (out_fd or body_file) / PTM_ERR_INVALID_ARG.
 * The message names the method and URL (query string dropped).  Free rs
 * with ptm__hub_response_free even on failure. */
ptm_status ptm__hub_request_do(const ptm__hub_request *rq, ptm__hub_response *rs);
void ptm__hub_response_free(ptm__hub_response *rs);
/* Feed one raw header line (as libcurl delivers it, CRLF included) into
 * rs: a status line resets the header set and sets rs->status (1 is
 * returned), "Name: value" is stored (0; also for lines that are neither),
 * -1 when out of memory.  Untrusted bytes (fuzzed). */
int ptm__hub_header_line(ptm__hub_response *rs, const char *line, size_t n);
/* Value of a response header (case-insensitive name), or NULL. */
const char *ptm__hub_header(const ptm__hub_response *rs, const char *name);
/* The URL without its query and fragment, for messages (signed CDN URLs
 * carry long query strings); malloc'd, NULL on OOM. */
char *ptm__hub_url_for_msg(const char *url);

/* 1 for timeouts, connection errors and 408/429/500/502/503/504 (the
 * answers worth a retry, spec §1.7), else 0. */
int ptm__hub_is_transient(ptm_status s, const ptm__hub_response *rs);

/* Retry policy (spec §1.7): attempts after the first, and the first sleep
 * in milliseconds (doubling, capped at 8 s).  Defaults 5 and 1000;
 * PTM_HUB_MAX_RETRIES / PTM_HUB_RETRY_BASE_MS override them (tests). */
int ptm__hub_max_retries(void);
/* The wait a 429 answer asks for, in milliseconds (spec §1.7): t+1 s of a
 * RateLimit header with r=0, else an integer Retry-After + 1 s; -1 when rs
 * is NULL, not a 429, or has neither.  PTM_HUB_RETRY_BASE_MS does not
 * shorten it: a retry never comes sooner than the server asked. */
int64_t ptm__hub_retry_after_ms(const ptm__hub_response *rs);
/* Sleep before retry number `attempt` (0-based): the wait rs asks for
 * (ptm__hub_retry_after_ms; rs may be NULL), else the back-off. */
void ptm__hub_backoff_sleep(int attempt, const ptm__hub_response *rs);
/* Sleep ms milliseconds (restarted after signals). */
void ptm__hub_sleep_ms(int64_t ms);

/* The failed answer rs (status >= 400) as a status + message (spec §2.1):
 * X-Error-Code RevisionNotFound -> PTM_ERR_REVISION_NOT_FOUND,
 * EntryNotFound -> PTM_ERR_ENTRY_NOT_FOUND, GatedRepo -> PTM_ERR_GATED,
 * RepoNotFound (or a 401 on a repo URL without "Invalid credentials")
 * -> PTM_ERR_REPO_NOT_FOUND, other 401/403 -> PTM_ERR_GATED, anything
 * else -> PTM_ERR_NETWORK.  `what` (e.g. "org/name: config.json at
 * revision main") starts the message; X-Error-Message, the JSON body's
 * "error" and a request id follow, then what to do. */
ptm_status ptm__hub_http_error(const ptm__hub_response *rs, const char *what, int had_token);

/* --------------------------------------------------------- environment */

/* 1 when the variable is set to 1/ON/YES/TRUE (any case), else 0. */
int ptm__hub_env_true(const char *name);
/* arg > HF_ENDPOINT > https://huggingface.co, trailing '/' stripped.
 * malloc'd. */
char *ptm__hub_endpoint(const char *arg);
/* arg > HF_TOKEN > HUGGING_FACE_HUB_TOKEN > the file HF_TOKEN_PATH, else
 * <HF_HOME>/token; whitespace and newlines stripped; NULL when none (or
 * when HF_HUB_DISABLE_IMPLICIT_TOKEN is true and arg is NULL).  malloc'd;
 * free with ptm__hub_secret_free (wipes it). */
char *ptm__hub_token(const char *arg);
void ptm__hub_secret_free(char *s);
/* HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
char *ptm__hub_home(void);
/* arg > HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > <HF_HOME>/hub. */
char *ptm__hub_cache_dir(const char *arg);
/* HF_HUB_OFFLINE, or TRANSFORMERS_OFFLINE when HF_HUB_OFFLINE is empty. */
int ptm__hub_offline(void);
/* "ptm/<version>; curl/<version>[; origin/<HF_HUB_USER_AGENT_ORIGIN>]" */
const char *ptm__hub_user_agent(void);
/* Integer seconds from an env var (>0), else `dflt`. */
long ptm__hub_env_seconds(const char *name, long dflt);

/* ---------------------------------------------------------- URLs, ids */

/* Percent-encode UTF-8 bytes outside A-Z a-z 0-9 _ . - ~ (and '/' too when
 * keep_slash).  malloc'd. */
char *ptm__hub_quote(const char *s, int keep_slash);
/* 1 when scheme, host and port of both absolute URLs are equal. */
int ptm__hub_same_origin(const char *a, const char *b);
/* A Location without scheme and host ("/new/name/resolve/..."): 1. */
int ptm__hub_location_is_relative(const char *loc);
/* `url` with its path replaced by the path of the relative `loc`; the query
 * of `url` is kept, the one of `loc` dropped (spec §1.3).  malloc'd. */
char *ptm__hub_swap_path(const char *url, const char *loc);
/* "name" or "org/name": 1..96 chars of A-Z a-z 0-9 . _ -, no "--" or
 * "..", not starting or ending with '-' or '.'. */
int ptm__hub_valid_repo_id(const char *id);
/* A file path inside a repo: relative, no "" / "." / ".." segments, no
 * backslash, no drive letter. */
int ptm__hub_valid_filename(const char *f);
/* Exactly n lowercase hex characters (0 for NULL). */
int ptm__hub_is_hex(const char *s, size_t n);
/* Exactly 40 lowercase hex characters. */
int ptm__hub_is_commit_hash(const char *s);

/* -------------------------------------------------------------- hashes */

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void ptm__hub_hex(const uint8_t *bytes, size_t n, char *out);
/* sha256 of a file as 64 hex chars + NUL. */
ptm_status ptm__hub_sha256_file(const char *path, char out[65]);
/* git blob sha1 ("blob <size>\0" + content) of a file as 40 hex + NUL. */
ptm_status ptm__hub_git_sha1_file(const char *path, char out[41]);
/* Either or both of the two above (NULL: not wanted) in one read. */
ptm_status ptm__hub_hash_file(const char *path, char *sha256, char *git_sha1);

/* ------------------------------------------------- parsers (untrusted) */

struct cJSON;
/* Parse a server's JSON answer whose top level must be an object (or an
 * array with want_array); else PTM_ERR_NETWORK naming `what`.  The caller
 * frees *root with cJSON_Delete. */
ptm_status ptm__hub_json_root(const char *json, size_t len, const char *what, struct cJSON **root, int want_array);

/* Etag normalisation (spec §1.8): leading 'W' and '/' characters, then
 * '"' at both ends removed.  malloc'd. */
char *ptm__hub_normalize_etag(const char *etag);
/* Total size from "Content-Range: bytes a-b/total"; -1 when absent or
 * "*" or malformed. */
int64_t ptm__hub_content_range_total(const char *value);
/* The URL of the rel="next" entry of a Link header, or NULL.  malloc'd. */
char *ptm__hub_link_next(const char *link);
/* A non-negative decimal that fits int64 (whole string), else -1. */
int64_t ptm__hub_parse_size(const char *s);

/* The revision API answer {"sha": ..., "siblings": [{"rfilename": ...}]}:
 * *sha (malloc'd; must be 40 hex) and the file names (malloc'd vector,
 * names that fail ptm__hub_valid_filename are an error).  `what` names
 * the answer in messages.  PTM_ERR_FORMAT on a bad answer. */
ptm_status ptm__hub_parse_revision(const char *json, size_t len, const char *what, char **sha, char ***files,
                                   size_t *nfiles);

typedef struct ptm__hub_tree_entry {
    char *path;
    int is_file;
    int64_t size;    /* -1 unknown */
    char *oid;       /* git oid (may be NULL) */
    char *lfs_oid;   /* sha256 for LFS files, else NULL */
} ptm__hub_tree_entry;
/* One page of the tree API (a JSON array of entries). */
ptm_status ptm__hub_parse_tree(const char *json, size_t len, const char *what, ptm__hub_tree_entry **entries,
                               size_t *n);
void ptm__hub_tree_free(ptm__hub_tree_entry *entries, size_t n);

#endif
