/* SPDX-License-Identifier: Apache-2.0 */
/* test_hub_http.c - the Hub client's helpers (core/hub/hub_http.h), built
 * with the hub sources linked in (they are core-private).  Expected values
 * come from the specs (Python's quote, git's blob hashing, RFC examples),
 * not from the code under test. */
#include "check.h"
#include "hub_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(quote)
{
    char *q = ptm__hub_quote("refs/pr/1", 0);
    CHECK(q && !strcmp(q, "refs%2Fpr%2F1"));
    free(q);
    q = ptm__hub_quote("sub dir/a+b~c_d-e.f", 1);
    CHECK(q && !strcmp(q, "sub%20dir/a%2Bb~c_d-e.f"));
    free(q);
    q = ptm__hub_quote("\xc3\xa9", 1); /* é in UTF-8 */
    CHECK(q && !strcmp(q, "%C3%A9"));
    free(q);
}

TEST(etag_and_sizes)
{
    char *e = ptm__hub_normalize_etag("W/\"abc123\"");
    CHECK(e && !strcmp(e, "abc123"));
    free(e);
    e = ptm__hub_normalize_etag("abc");
    CHECK(e && !strcmp(e, "abc"));
    free(e);
    CHECK(ptm__hub_content_range_total("bytes 10-99/100") == 100);
    CHECK(ptm__hub_content_range_total("bytes */100") == 100);
    CHECK(ptm__hub_content_range_total("bytes 0-1/*") == -1);
    CHECK(ptm__hub_content_range_total("bytes 0-1/99999999999999999999") == -1);
    CHECK(ptm__hub_parse_size("9223372036854775807") == INT64_MAX);
    CHECK(ptm__hub_parse_size("9223372036854775808") == -1);
    CHECK(ptm__hub_parse_size("12a") == -1);
}

TEST(link_header)
{
    char *n = ptm__hub_link_next("<https://h/api/models/a/tree/main?cursor=x>; rel=\"next\"");
    CHECK(n && !strcmp(n, "https://h/api/models/a/tree/main?cursor=x"));
    free(n);
    n = ptm__hub_link_next("<http://a/1>; rel=\"prev\", <http://a/3>; rel=\"last next\"");
    CHECK(n && !strcmp(n, "http://a/3"));
    free(n);
    CHECK(ptm__hub_link_next("<http://a/1>; rel=prev") == NULL);
    CHECK(ptm__hub_link_next("garbage") == NULL);
}

TEST(ids_and_names)
{
    CHECK(ptm__hub_valid_repo_id("gpt2"));
    CHECK(ptm__hub_valid_repo_id("org-x/name_1.2"));
    CHECK(!ptm__hub_valid_repo_id("a/b/c"));
    CHECK(!ptm__hub_valid_repo_id("a--b"));
    CHECK(!ptm__hub_valid_repo_id("a/..b"));
    CHECK(!ptm__hub_valid_repo_id("./x"));
    CHECK(!ptm__hub_valid_repo_id(""));
    CHECK(ptm__hub_valid_filename("sub/model.safetensors"));
    CHECK(!ptm__hub_valid_filename("../x"));
    CHECK(!ptm__hub_valid_filename("a/../x"));
    CHECK(!ptm__hub_valid_filename("/etc/passwd"));
    CHECK(!ptm__hub_valid_filename("C:x"));
    CHECK(!ptm__hub_valid_filename("a\\b"));
    CHECK(!ptm__hub_valid_filename("a//b"));
    CHECK(ptm__hub_is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
    CHECK(!ptm__hub_is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK(!ptm__hub_is_commit_hash("0123456"));
}

TEST(origins)
{
    CHECK(ptm__hub_same_origin("http://127.0.0.1:8080/a", "http://127.0.0.1:8080"));
    CHECK(!ptm__hub_same_origin("http://127.0.0.1:8081/a", "http://127.0.0.1:8080"));
    CHECK(ptm__hub_same_origin("https://huggingface.co/x", "https://HUGGINGFACE.co:443"));
    CHECK(!ptm__hub_same_origin("http://huggingface.co/x", "https://huggingface.co"));
    CHECK(ptm__hub_location_is_relative("/new/name/resolve/main/x"));
    CHECK(!ptm__hub_location_is_relative("https://cdn/x"));
    CHECK(!ptm__hub_location_is_relative("//cdn/x"));
    char *u = ptm__hub_swap_path("http://h:1/old/name/resolve/main/c.json?x=1", "/new/name/resolve/main/c.json?y=2");
    CHECK(u && !strcmp(u, "http://h:1/new/name/resolve/main/c.json?x=1"));
    free(u);
}

TEST(hashes)
{
    char path[] = PTM_TEST_TMP "/hubhashXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello\n", 6) == 6);
    close(fd);
    char g[41], h[65];
    CHECK_OK(ptm__hub_git_sha1_file(path, g));
    CHECK(!strcmp(g, "ce013625030ba8dba906f756967f9e9ca394464a")); /* git hash-object of "hello\n" */
    CHECK_OK(ptm__hub_sha256_file(path, h));
    CHECK(!strcmp(h, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"));
    unlink(path);
}

TEST(env)
{
    setenv("HF_ENDPOINT", "http://mirror.example/", 1);
    char *e = ptm__hub_endpoint(NULL);
    CHECK(e && !strcmp(e, "http://mirror.example"));
    free(e);
    e = ptm__hub_endpoint("http://arg//");
    CHECK(e && !strcmp(e, "http://arg"));
    free(e);
    unsetenv("HF_ENDPOINT");
    char dir[] = PTM_TEST_TMP "/hubhomeXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    setenv("HF_HOME", dir, 1);
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    CHECK(ptm__hub_token(NULL) == NULL);
    char tp[512];
    snprintf(tp, sizeof tp, "%s/token", dir);
    FILE *f = fopen(tp, "w");
    fputs("  hf_file\r\n", f);
    fclose(f);
    char *t = ptm__hub_token(NULL);
    CHECK(t && !strcmp(t, "hf_file"));
    ptm__hub_secret_free(t);
    setenv("HF_TOKEN", "hf_env\n", 1);
    t = ptm__hub_token(NULL);
    CHECK(t && !strcmp(t, "hf_env"));
    ptm__hub_secret_free(t);
    t = ptm__hub_token(" hf_arg ");
    CHECK(t && !strcmp(t, "hf_arg"));
    ptm__hub_secret_free(t);
    unsetenv("HF_TOKEN");
    char *c = ptm__hub_cache_dir(NULL);
    char want[600];
    snprintf(want, sizeof want, "%s/hub", dir);
    CHECK(c && !strcmp(c, want));
    free(c);
    setenv("HF_HUB_OFFLINE", "0", 1);
    setenv("TRANSFORMERS_OFFLINE", "1", 1);
    CHECK(!ptm__hub_offline()); /* a non-empty HF_HUB_OFFLINE masks TRANSFORMERS_OFFLINE */
    unsetenv("HF_HUB_OFFLINE");
    CHECK(ptm__hub_offline());
    unsetenv("TRANSFORMERS_OFFLINE");
    unlink(tp);
    rmdir(dir);
    unsetenv("HF_HOME");
}

static ptm_status fake_error(long status, const char *code, const char *msg, const char *url, int tok)
{
    ptm__hub_response rs;
    memset(&rs, 0, sizeof rs);
    rs.status = status;
    char *names[2] = {(char *)"x-error-code", (char *)"X-Error-Message"};
    char *vals[2] = {(char *)code, (char *)msg};
    rs.hdr_names = names;
    rs.hdr_values = vals;
    rs.nhdrs = code ? (msg ? 2 : 1) : 0;
    rs.url = (char *)url;
    return ptm__hub_http_error(&rs, "org/x: config.json", tok);
}

TEST(error_mapping)
{
    const char *u = "http://h/org/x/resolve/main/config.json";
    CHECK(fake_error(404, "RevisionNotFound", "Invalid rev id: nope", u, 0) == PTM_ERR_REVISION_NOT_FOUND);
    CHECK(strstr(ptm_last_error(), "Invalid rev id: nope"));
    CHECK(fake_error(404, "EntryNotFound", "x", u, 0) == PTM_ERR_ENTRY_NOT_FOUND);
    CHECK(fake_error(401, "GatedRepo", "x", u, 0) == PTM_ERR_GATED);
    CHECK(strstr(ptm_last_error(), "token"));
    CHECK(fake_error(401, "RepoNotFound", "Repository not found", u, 0) == PTM_ERR_REPO_NOT_FOUND);
    CHECK(fake_error(401, NULL, NULL, u, 0) == PTM_ERR_REPO_NOT_FOUND);
    CHECK(fake_error(403, NULL, NULL, u, 1) == PTM_ERR_GATED);
    CHECK(fake_error(500, NULL, NULL, u, 0) == PTM_ERR_NETWORK);
    CHECK(strstr(ptm_last_error(), "HTTP 500"));
}

/* The wait of a 429 (spec 1.7): RateLimit with r=0 -> t + 1 s, else an
 * integer Retry-After + 1 s; nothing for other statuses or HTTP dates. */
static int64_t wait_of(long status, const char *name, const char *value)
{
    ptm__hub_response rs;
    memset(&rs, 0, sizeof rs);
    rs.status = status;
    char *names[1] = {(char *)name}, *vals[1] = {(char *)value};
    rs.hdr_names = names;
    rs.hdr_values = vals;
    rs.nhdrs = name ? 1 : 0;
    return ptm__hub_retry_after_ms(&rs);
}

TEST(retry_after)
{
    CHECK(wait_of(429, "Retry-After", "1") == 2000);
    CHECK(wait_of(429, "retry-after", "0") == 1000);
    CHECK(wait_of(429, "RateLimit", "\"api\";r=0;t=55") == 56000);
    CHECK(wait_of(429, "RateLimit", "\"api\";r=3;t=55") == -1); /* requests left: no forced wait */
    CHECK(wait_of(429, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT") == -1);
    CHECK(wait_of(429, "Retry-After", "99999999999999999999") == -1);
    CHECK(wait_of(429, "Retry-After", "3600") == -1); /* an hour or more: not waited for */
    CHECK(wait_of(429, NULL, NULL) == -1);
    CHECK(wait_of(503, "Retry-After", "1") == -1);
    CHECK(ptm__hub_retry_after_ms(NULL) == -1);
}

TEST(parse_revision)
{
    const char *j = "{\"id\":\"o/n\",\"sha\":\"0123456789abcdef0123456789abcdef01234567\","
                    "\"siblings\":[{\"rfilename\":\"config.json\"},{\"rfilename\":\"a/b.bin\"}]}";
    char *sha, **files;
    size_t n;
    CHECK_OK(ptm__hub_parse_revision(j, strlen(j), "rev", &sha, &files, &n));
    CHECK(n == 2 && !strcmp(files[1], "a/b.bin") && !strcmp(sha, "0123456789abcdef0123456789abcdef01234567"));
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(sha);
    const char *bad = "{\"sha\":\"0123456789abcdef0123456789abcdef01234567\",\"siblings\":[{\"rfilename\":\"../x\"}]}";
    CHECK_ERR(ptm__hub_parse_revision(bad, strlen(bad), "rev", &sha, &files, &n), PTM_ERR_NETWORK, "rfilename");
    const char *t = "[{\"type\":\"file\",\"path\":\"m.safetensors\",\"size\":5,\"oid\":\"aa\",\"lfs\":{\"oid\":"
                    "\"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\",\"size\":5}},"
                    "{\"type\":\"directory\",\"path\":\"sub\",\"oid\":\"bb\"}]";
    ptm__hub_tree_entry *e;
    CHECK_OK(ptm__hub_parse_tree(t, strlen(t), "tree", &e, &n));
    CHECK(n == 2 && e[0].is_file && e[0].size == 5 && e[0].lfs_oid && !e[1].is_file);
    ptm__hub_tree_free(e, n);
}

/* ---- against tests/hub/server.py (its /_echo and /_redirect routes) ---- */
static const char *hub_ep, *cdn_ep;

static ptm_status call(const char *method, const char *url, const void *body, size_t blen, int follow,
                       ptm__hub_response *rs)
{
    ptm__hub_request rq;
    ptm__hub_request_init(&rq, method, url);
    rq.token = "hf_unit_token";
    rq.endpoint = hub_ep;
    rq.body = body;
    rq.body_len = blen;
    rq.follow_redirects = follow;
    return ptm__hub_request_do(&rq, rs);
}

TEST(live_bodies)
{
    char url[512];
    ptm__hub_response rs;
    snprintf(url, sizeof url, "%s/_echo/post", hub_ep);
    CHECK_OK(call("POST", url, "hello\n", 6, 0, &rs));
    CHECK(rs.status == 200 && rs.body && strstr(rs.body, "\"body_len\": 6") && strstr(rs.body, "\"auth\": true"));
    CHECK(strstr(rs.body, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"));
    CHECK(strstr(rs.body, "\"user_agent\": \"ptm/"));
    CHECK(ptm__hub_header(&rs, "x-echo") && !strcmp(ptm__hub_header(&rs, "X-ECHO"), "1"));
    ptm__hub_response_free(&rs);
    /* a file range to another origin: the body is the range, no token */
    char path[] = PTM_TEST_TMP "/hubbodyXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "xxxhello\nyyy", 12) == 12);
    close(fd);
    ptm__hub_request rq;
    snprintf(url, sizeof url, "%s/_echo/part", cdn_ep);
    ptm__hub_request_init(&rq, "PUT", url);
    rq.token = "hf_unit_token";
    rq.endpoint = hub_ep;
    rq.body_file = path;
    rq.body_offset = 3;
    rq.body_length = 6;
    CHECK_OK(ptm__hub_request_do(&rq, &rs));
    CHECK(rs.status == 200 && rs.body && strstr(rs.body, "\"method\": \"PUT\"") && strstr(rs.body, "\"auth\": false"));
    CHECK(rs.body && strstr(rs.body, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"));
    CHECK(ptm__hub_header(&rs, "ETag") && !strcmp(ptm__hub_header(&rs, "ETag"), "\"echo-etag\""));
    ptm__hub_response_free(&rs);
    unlink(path);
}

TEST(live_redirects)
{
    char url[1024];
    ptm__hub_response rs;
    /* not followed: the 3xx is the answer */
    snprintf(url, sizeof url, "%s/_redirect/302?to=%s/_echo/x", hub_ep, cdn_ep);
    CHECK_OK(call("GET", url, NULL, 0, 0, &rs));
    CHECK(rs.status == 302 && ptm__hub_header(&rs, "Location"));
    ptm__hub_response_free(&rs);
    /* followed to the other origin: no token there; only the final headers */
    CHECK_OK(call("GET", url, NULL, 0, 1, &rs));
    CHECK(rs.status == 200 && rs.body && strstr(rs.body, "\"port\": \"cdn\"") && strstr(rs.body, "\"auth\": false"));
    CHECK(!ptm__hub_header(&rs, "X-Hop") && !ptm__hub_header(&rs, "Location"));
    CHECK(rs.url && strstr(rs.url, "/_echo/x"));
    ptm__hub_response_free(&rs);
    /* a relative redirect on the hub keeps the token; 307 keeps POST + body */
    snprintf(url, sizeof url, "%s/_redirect/307?to=/_echo/y", hub_ep);
    CHECK_OK(call("POST", url, "hello\n", 6, 1, &rs));
    CHECK(rs.status == 200 && rs.body && strstr(rs.body, "\"auth\": true") && strstr(rs.body, "\"method\": \"POST\"") &&
          strstr(rs.body, "\"body_len\": 6"));
    ptm__hub_response_free(&rs);
    /* 303 turns into a GET */
    snprintf(url, sizeof url, "%s/_redirect/303?to=/_echo/z", hub_ep);
    CHECK_OK(call("POST", url, "hello\n", 6, 1, &rs));
    CHECK(rs.status == 200 && rs.body && strstr(rs.body, "\"method\": \"GET\""));
    ptm__hub_response_free(&rs);
    /* a refused connection is PTM_ERR_NETWORK with the URL in the message */
    CHECK_ERR(call("GET", "http://127.0.0.1:9/x?secret=1", NULL, 0, 0, &rs), PTM_ERR_NETWORK, "http://127.0.0.1:9/x");
    CHECK(!strstr(ptm_last_error(), "secret"));
    ptm__hub_response_free(&rs);
}

TEST(live_body_cap)
{
    char url[512];
    snprintf(url, sizeof url, "%s/_echo/cap", hub_ep);
    ptm__hub_request rq;
    ptm__hub_request_init(&rq, "GET", url);
    rq.body_cap = 10;
    ptm__hub_response rs;
    CHECK_ERR(ptm__hub_request_do(&rq, &rs), PTM_ERR_NETWORK, "larger than 10 bytes");
    ptm__hub_response_free(&rs);
}

int main(int argc, char **argv)
{
    if (argc == 3) { /* run by tests/hub/test_hub.py with the server's endpoints */
        hub_ep = argv[1];
        cdn_ep = argv[2];
        RUN(live_bodies);
        RUN(live_redirects);
        RUN(live_body_cap);
        return CHECK_DONE();
    }
    RUN(quote);
    RUN(etag_and_sizes);
    RUN(link_header);
    RUN(ids_and_names);
    RUN(origins);
    RUN(hashes);
    RUN(env);
    RUN(error_mapping);
    RUN(retry_after);
    RUN(parse_revision);
    return CHECK_DONE();
}
