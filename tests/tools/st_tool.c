/* SPDX-License-Identifier: Apache-2.0 */
/* st_tool.c - a test driver for the safetensors plugin, used by the Python
 * reference scripts in tests/reference/safetensors_*.py.  It goes through
 * the context API with only the build tree's safetensors.so loaded.
 *
 *   st_tool dump FILE [KEY ...]
 *       open FILE and print, one line each (names and bytes in hex):
 *         ok COUNT
 *         tensor INDEX NAMEHEX DTYPE NDIM DIMS FILEOFFSET MAPPED DATAHEX
 *         meta KEYHEX VALUEHEX|-        (for each KEY asked for)
 *       HEX fields are "x" followed by the bytes in hex ("x" when empty);
 *       DIMS is "d0,d1,..." or "-" for a scalar; FILEOFFSET is where the
 *       tensor's bytes are in the file; MAPPED is 1 for a zero-copy view.
 *   st_tool convert IN OUT [KEY VALUE ...]
 *       open IN, load every tensor, save them to OUT with the given
 *       metadata pairs (none given: no __metadata__); prints "ok".
 *
 * On failure it prints "error STATUS MESSAGE" and exits with 1. */
#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const void *p, size_t n)
{
    const unsigned char *b = p;
    fputs("x", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static int fail(ptm_status s)
{
    printf("error %d %s\n", (int)s, ptm_last_error());
    return 1;
}

static int dump(const ptm_format *fmt, const char *path, int nkeys, char **keys)
{
    void *src = NULL;
    ptm_status s = fmt->open(path, &src);
    if (s != PTM_OK)
        return fail(s);
    size_t n = fmt->count(src);
    printf("ok %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        if ((s = fmt->info(src, i, &ti)) != PTM_OK || (s = fmt->load(src, i, &t)) != PTM_OK) {
            fmt->close(src);
            return fail(s);
        }
        printf("tensor %zu ", i);
        hex(ti.name, strlen(ti.name));
        printf(" %s %d ", ptm_dtype_name(ti.dtype), ti.ndim);
        if (ti.ndim == 0)
            fputs("-", stdout);
        for (int d = 0; d < ti.ndim; d++)
            printf("%s%lld", d ? "," : "", (long long)ti.shape[d]);
        /* the tensor must agree with its info */
        if (ptm_tensor_dtype(t) != ti.dtype || ptm_tensor_ndim(t) != ti.ndim) {
            printf("\nerror 0 load and info disagree for tensor %zu\n", i);
            ptm_tensor_release(t);
            fmt->close(src);
            return 1;
        }
        printf(" %zu %d ", ptm_tensor_offset(t), ptm_buffer_is_mapped(ptm_tensor_buffer(t)));
        hex(ptm_tensor_data(t), ptm_tensor_nbytes(t));
        printf("\n");
        ptm_tensor_release(t);
    }
    for (int k = 0; k < nkeys; k++) {
        const char *v = fmt->metadata(src, keys[k]);
        printf("meta ");
        hex(keys[k], strlen(keys[k]));
        printf(" ");
        if (v)
            hex(v, strlen(v));
        else
            fputs("-", stdout);
        printf("\n");
    }
    fmt->close(src);
    return 0;
}

static int convert(const ptm_format *fmt, const char *in, const char *out, int nmeta, char **meta)
{
    void *src = NULL;
    ptm_status s = fmt->open(in, &src);
    if (s != PTM_OK)
        return fail(s);
    ptm_state_dict *sd = NULL;
    if ((s = ptm_state_dict_new(&sd)) != PTM_OK) {
        fmt->close(src);
        return fail(s);
    }
    for (size_t i = 0; i < fmt->count(src) && s == PTM_OK; i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        if ((s = fmt->info(src, i, &ti)) == PTM_OK && (s = fmt->load(src, i, &t)) == PTM_OK)
            s = ptm_state_dict_set(sd, ti.name, t);
        ptm_tensor_release(t);
    }
    fmt->close(src); /* the loaded tensors keep the mapping alive */
    if (s == PTM_OK) {
        const char **md = NULL;
        if (nmeta > 0) {
            md = calloc((size_t)nmeta + 1, sizeof *md);
            for (int i = 0; md && i < nmeta; i++)
                md[i] = meta[i];
        }
        s = fmt->save(out, sd, (const char *const *)md);
        free(md);
    }
    ptm_state_dict_free(sd);
    if (s != PTM_OK)
        return fail(s);
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "dump") && strcmp(argv[1], "convert")) ||
        (!strcmp(argv[1], "convert") && (argc < 4 || (argc - 4) % 2))) {
        fprintf(stderr, "usage: st_tool dump FILE [KEY...] | st_tool convert IN OUT [KEY VALUE...]\n");
        return 2;
    }
    ptm_context_options opts;
    ptm_context_options_init(&opts);
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR "/safetensors.so"};
    opts.plugin_paths = paths;
    opts.n_plugin_paths = 1;
    opts.ignore_env = 1;
    opts.skip_install_dir = 1;
    ptm_context *ctx = NULL;
    ptm_status s = ptm_context_new(&opts, &ctx);
    if (s != PTM_OK)
        return fail(s);
    const ptm_format *fmt = ptm_context_find_format(ctx, "safetensors");
    int rc;
    if (!fmt)
        rc = fail(PTM_ERR_NOT_FOUND);
    else if (!strcmp(argv[1], "dump"))
        rc = dump(fmt, argv[2], argc - 3, argv + 3);
    else
        rc = convert(fmt, argv[2], argv[3], argc - 4, argv + 4);
    ptm_context_free(ctx);
    return rc;
}
