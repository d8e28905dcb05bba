/* SPDX-License-Identifier: Apache-2.0 */
/* fmt_test.h - plumbing shared by the format plugins' unit tests
 * (test_safetensors.c, test_pytorch.c, test_msgpack.c, test_h5.c): a
 * context holding just the plugins a test names, temporary file paths and
 * whole-file reads and writes.  Define FMT_TEST_PREFIX (the temp file name
 * prefix, e.g. "st_") before including. */
#ifndef PTM_TEST_FMT_TEST_H
#define PTM_TEST_FMT_TEST_H

#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>

#ifndef FMT_TEST_PREFIX
#error "define FMT_TEST_PREFIX before including fmt_test.h"
#endif

static ptm_context *ctx;
static const ptm_format *fmt;

/* Creates `ctx` from the plugin files (or directories) `paths` only, and
 * finds the format `name` in it.  Returns 0, or 1 after printing why. */
static inline int fmt_test_setup(const char *const *paths, size_t n_paths, const char *name)
{
    ptm_context_options opts;
    ptm_context_options_init(&opts);
    opts.plugin_paths = paths;
    opts.n_plugin_paths = n_paths;
    opts.ignore_env = 1;
    opts.skip_install_dir = 1;
    if (ptm_context_new(&opts, &ctx) != PTM_OK) {
        fprintf(stderr, "ptm_context_new: %s\n", ptm_last_error());
        return 1;
    }
    fmt = ptm_context_find_format(ctx, name);
    if (!fmt) {
        fprintf(stderr, "%s format not found: %s\n", name, ptm_last_error());
        ptm_context_free(ctx);
        ctx = NULL;
        return 1;
    }
    return 0;
}

/* PTM_TEST_TMP/<prefix><name>; the last 8 results stay valid. */
static inline const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s%s", PTM_TEST_TMP, FMT_TEST_PREFIX, name);
    return buf[k];
}

/* Writes a whole file; exits 2 when it cannot. */
static inline void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* Reads a whole file (malloc'd, one spare byte); NULL when it cannot. */
static inline unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

#endif
