/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_hub_push.c - the parsers of push_to_hub's untrusted inputs: the
 * create-repo, preupload, LFS batch and commit answers of a server, and an existing
 * README.md that tags are merged into.  The first byte picks the parser;
 * the core-private sources are compiled in (tests/fuzz/CMakeLists.txt). */
#include "hub_push.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 5;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    /* the JSON parsers take (pointer, length); the card writer too, but a
     * copy without a terminator past the end catches over-reads */
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, text, len);
    if (which == 0) {
        static const char *const paths[] = {"config.json", "model.safetensors", "README.md"};
        int lfs[3], ign[3];
        char *oids[3];
        if (ptm__push_parse_preupload(buf, len, "fuzz", paths, 3, lfs, ign, oids) == PTM_OK) {
            for (int i = 0; i < 3; i++) {
                if ((lfs[i] | ign[i]) & ~1 || (oids[i] && strlen(oids[i]) != 40 && strlen(oids[i]) != 64))
                    abort();
                free(oids[i]);
            }
        }
    } else if (which == 1) {
        ptm__lfs_action *a = NULL;
        size_t n = 0;
        if (ptm__push_parse_batch(buf, len, "fuzz", &a, &n) == PTM_OK) {
            for (size_t i = 0; i < n; i++) {
                if (strlen(a[i].oid) != 64 || a[i].size < 0 || (a[i].has_upload && !a[i].href))
                    abort();
                if (a[i].chunk_size && a[i].size &&
                    a[i].nparts != ((uint64_t)a[i].size - 1) / a[i].chunk_size + 1)
                    abort();
                for (size_t k = 0; k < a[i].nparts; k++)
                    if (!a[i].part_urls[k])
                        abort();
            }
            ptm__push_batch_free(a, n);
        }
    } else if (which == 2) {
        char *url = NULL, *pr = NULL;
        if (ptm__push_parse_commit(buf, len, "fuzz", &url, &pr) == PTM_OK && !url)
            abort();
        free(url);
        free(pr);
    } else if (which == 4) {
        char *id = NULL;
        if (ptm__push_parse_repo_url(buf, len, &id) == PTM_OK && id && !strchr(id, '/'))
            abort();
        free(id);
    } else {
        static const char *const tags[] = {"ptm", "text-generation", "it's", NULL};
        char *out = NULL;
        size_t out_len = 0;
        int changed = 0;
        if (ptm__model_card(buf, len, "org/name", tags, &out, &out_len, &changed) == PTM_OK) {
            if (!out || out[out_len] != '\0')
                abort();
            /* nothing to add: the card comes back byte for byte */
            if (!changed && (out_len != len || memcmp(out, buf, len)))
                abort();
            free(out);
        }
    }
    free(buf);
    return 0;
}
