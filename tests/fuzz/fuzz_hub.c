/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_hub.c - the Hub client's parsers of server bytes (core/hub): raw
 * header lines, the etag / size / Content-Range / Link values, the JSON
 * answers of the revision and tree APIs, and the error mapping of a failed
 * answer (headers + JSON body).  The first input byte picks the parser. */
#include "hub_http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 6;
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, b, n);
    s[n] = '\0';
    switch (sel) {
    case 0: {
        char *sha = NULL, **files = NULL;
        size_t nf = 0;
        if (ptm__hub_parse_revision(s, n, "fuzz", &sha, &files, &nf) == PTM_OK) {
            for (size_t i = 0; i < nf; i++)
                free(files[i]);
            free(files);
            free(sha);
        }
        break;
    }
    case 1: {
        ptm__hub_tree_entry *e = NULL;
        size_t ne = 0;
        if (ptm__hub_parse_tree(s, n, "fuzz", &e, &ne) == PTM_OK)
            ptm__hub_tree_free(e, ne);
        break;
    }
    case 2: {
        free(ptm__hub_link_next(s));
        free(ptm__hub_normalize_etag(s));
        (void)ptm__hub_content_range_total(s);
        (void)ptm__hub_parse_size(s);
        break;
    }
    case 3: {
        (void)ptm__hub_valid_repo_id(s);
        (void)ptm__hub_valid_filename(s);
        (void)ptm__hub_is_commit_hash(s);
        if (ptm__hub_location_is_relative(s))
            free(ptm__hub_swap_path("http://127.0.0.1:1/a/resolve/main/x?q=1", s));
        break;
    }
    default: {
        /* header lines separated by '\n', then an optional body after an
         * empty line; then the error mapping */
        ptm__hub_response rs;
        memset(&rs, 0, sizeof rs);
        const char *p = s, *end = s + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
            if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
                p += len;
                break;
            }
            if (ptm__hub_header_line(&rs, p, len) < 0)
                break;
            p += len;
        }
        if (p < end) {
            rs.body = strndup(p, (size_t)(end - p));
            rs.body_len = rs.body ? strlen(rs.body) : 0;
        }
        rs.url = strdup("http://127.0.0.1:1/org/x/resolve/main/config.json");
        if (rs.status >= 400)
            (void)ptm__hub_http_error(&rs, "fuzz", sel & 1);
        (void)ptm__hub_header(&rs, "X-Error-Code");
        ptm__hub_response_free(&rs);
        break;
    }
    }
    free(s);
    return 0;
}
