/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_common.h - the harness the format fuzz targets share: a context with
 * only the plugin under test (linked in, registered in-process), temporary
 * file paths on /dev/shm (else /tmp) removed at exit, and file helpers.
 * Include once, from the target's .c file, then call fz_setup. */
#ifndef PTM_FUZZ_COMMON_H
#define PTM_FUZZ_COMMON_H

#include <ptm/ptm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const ptm_plugin *ptm_plugin_entry(void);

static ptm_context *ctx;
static const ptm_format *fmt;
static char in_path[160], out_path[160], out2_path[160];
static const char *fz_name = "fuzz";
/* Opens the input for fz_load_all; NULL: the format's own open (by path). */
static ptm_status (*fz_open)(const char *path, void **source);

static void fz_cleanup(void)
{
    unlink(in_path);
    unlink(out_path);
    unlink(out2_path);
}

/* A harness failure (not a finding in the input): stop loudly. */
static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", fz_name, what, ptm_last_error());
    abort();
}

/* Context with the plugin registered in-process, format `format`, temp
 * paths "<dir>/<tag>_<pid>_{in,out,out2}<ext>". */
static inline void fz_setup(const char *name, const char *format, const char *tag, const char *ext)
{
    fz_name = name;
    ptm_context_options o;
    ptm_context_options_init(&o);
    o.ignore_env = 1;
    o.skip_install_dir = 1;
    if (ptm_context_new(&o, &ctx) != PTM_OK || ptm_context_register_plugin(ctx, ptm_plugin_entry()) != PTM_OK)
        die("setup");
    fmt = ptm_context_find_format(ctx, format);
    if (!fmt)
        die("the format is not registered");
    struct stat st;
    const char *dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(in_path, sizeof in_path, "%s/%s_%d_in%s", dir, tag, (int)getpid(), ext);
    snprintf(out_path, sizeof out_path, "%s/%s_%d_out%s", dir, tag, (int)getpid(), ext);
    snprintf(out2_path, sizeof out2_path, "%s/%s_%d_out2%s", dir, tag, (int)getpid(), ext);
    atexit(fz_cleanup);
}

static inline void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        die("cannot write the input file");
}

/* The whole file, malloc'd. */
static inline unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot read back");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
        die("cannot read back");
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Open `path` with the format and load every tensor into a new state dict,
 * checking each against its info and reading every byte (so ASan sees any
 * out-of-bounds view).  NULL if the file is refused.  meta_key: a metadata
 * key to look up (NULL: none).  unique: die on two tensors with one name.
 * skip_huge: skip tensors whose load reports NOMEM/OVERFLOW (declared huge
 * but valid).  keep_src: receives the open source (the caller closes it);
 * NULL closes it here (tensors stay valid). */
static inline ptm_state_dict *fz_load_all(const char *path, const char *meta_key, int unique, int skip_huge,
                                          void **keep_src)
{
    void *src = NULL;
    if ((fz_open ? fz_open(path, &src) : fmt->open(path, &src)) != PTM_OK)
        return NULL;
    ptm_state_dict *sd = NULL;
    if (ptm_state_dict_new(&sd) != PTM_OK)
        die("state dict");
    size_t n = fmt->count(src);
    for (size_t i = 0; i < n; i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        if (fmt->info(src, i, &ti) != PTM_OK)
            die("info of an accepted file failed");
        ptm_status s = fmt->load(src, i, &t);
        if (skip_huge && (s == PTM_ERR_NOMEM || s == PTM_ERR_OVERFLOW))
            continue;
        if (s != PTM_OK)
            die("load of an accepted file failed");
        if (ptm_tensor_dtype(t) != ti.dtype || ptm_tensor_ndim(t) != ti.ndim)
            die("info and load disagree");
        for (int d = 0; d < ti.ndim; d++)
            if (ptm_tensor_dim(t, d) != ti.shape[d])
                die("info and load disagree on the shape");
        const volatile unsigned char *b = ptm_tensor_data(t);
        unsigned sum = 0;
        for (size_t k = 0; k < ptm_tensor_nbytes(t); k++)
            sum += b[k];
        (void)sum;
        if (unique && ptm_state_dict_get(sd, ti.name))
            die("two tensors with one name");
        if (ptm_state_dict_set(sd, ti.name, t) != PTM_OK)
            die("state dict set");
        ptm_tensor_release(t);
    }
    if (meta_key && fmt->metadata)
        (void)fmt->metadata(src, meta_key);
    if (keep_src)
        *keep_src = src;
    else
        fmt->close(src);
    return sd;
}


/* The start of a file format target: the input goes to in_path, the probe
 * must score 0..100, then fz_load_all (same arguments).  NULL when the file
 * is refused, whose message must name it. */
static inline ptm_state_dict *fz_probe_and_load(const uint8_t *data, size_t size, const char *meta_key, int unique,
                                                int skip_huge, void **keep_src)
{
    write_file(in_path, data, size);
    int score = fmt->probe(in_path, data, size < 64 ? size : 64);
    if (score < 0 || score > 100)
        die("probe out of range");
    ptm_clear_error();
    ptm_state_dict *sd = fz_load_all(in_path, meta_key, unique, skip_huge, keep_src);
    if (!sd && !strstr(ptm_last_error(), in_path))
        die("an error message does not name the file");
    return sd;
}

/* Every tensor of `sd2` (a saved and reopened `sd`) must be in `sd` under
 * its name with the same dtype, rank, bytes and, when `shapes`, dims. */
static inline void fz_check_same(const ptm_state_dict *sd, const ptm_state_dict *sd2, int shapes)
{
    for (size_t i = 0; i < ptm_state_dict_size(sd2); i++) {
        const ptm_tensor *a = ptm_state_dict_tensor(sd2, i);
        const ptm_tensor *b = ptm_state_dict_get(sd, ptm_state_dict_name(sd2, i));
        if (!b || ptm_tensor_dtype(a) != ptm_tensor_dtype(b) || ptm_tensor_ndim(a) != ptm_tensor_ndim(b) ||
            ptm_tensor_nbytes(a) != ptm_tensor_nbytes(b) ||
            (ptm_tensor_nbytes(a) && memcmp(ptm_tensor_data(a), ptm_tensor_data(b), ptm_tensor_nbytes(a)) != 0))
            die("round trip changed a tensor");
        for (int d = 0; shapes && d < ptm_tensor_ndim(a); d++)
            if (ptm_tensor_dim(a, d) != ptm_tensor_dim(b, d))
                die("round trip changed a shape");
    }
}

/* out_path and out2_path (two saves of the same tensors) must be equal. */
static inline void fz_check_canonical(void)
{
    size_t l1, l2;
    unsigned char *b1 = read_file(out_path, &l1), *b2 = read_file(out2_path, &l2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        die("the writer is not canonical: two saves differ");
    free(b1);
    free(b2);
}

#endif
