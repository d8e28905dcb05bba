/* SPDX-License-Identifier: Apache-2.0 */
/* pt_read.c - the reader of the pytorch format plugin: probe, open (file
 * kind detection with clear refusals for the legacy format, TorchScript
 * archives and Git-LFS pointers; the zip; data.pkl through the weights-only
 * interpreter), and load (a zero-copy view of the mapping for contiguous,
 * aligned, native-order tensors, else a contiguous heap copy). */
#include "pt_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ptm_status pt_fail(const char *path, ptm_status status, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!path)
        return ptm_error(status, "pytorch: %s", msg);
    size_t n = strlen(path);
    if (n > 300)
        return ptm_error(status, "...%s: %s", path + n - 300, msg);
    return ptm_error(status, "%s: %s", path, msg);
}

typedef struct pt_source {
    char *path;
    ptm_buffer *buf;
    pt_zip zip;
    pt_pickle_result res;
    int big_endian;
} pt_source;

/* ------------------------------------------------------------ detection */

static const uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                       0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
static const char lfs_magic[] = "version https://git-lfs";

static int has_ext(const char *path, const char *ext)
{
    size_t pl = path ? strlen(path) : 0, el = strlen(ext);
    return pl >= el && memcmp(path + pl - el, ext, el) == 0;
}

static int name_is_torch(const char *path)
{
    return has_ext(path, ".bin") || has_ext(path, ".pt") || has_ext(path, ".pth") || has_ext(path, ".ckpt");
}

int pt_probe(const char *path, const uint8_t *head, size_t head_len)
{
    int name_ok = name_is_torch(path);
    if (head && head_len >= 4 && memcmp(head, "PK\3\4", 4) == 0)
        return name_ok ? 90 : 60;
    if (head && head_len >= sizeof legacy_magic && memcmp(head, legacy_magic, sizeof legacy_magic) == 0)
        return 90;
    if (head && head_len >= 8 && memcmp(head, "PYTORCH1", 8) == 0)
        return 90;
    if (head && head_len >= sizeof lfs_magic - 1 && memcmp(head, lfs_magic, sizeof lfs_magic - 1) == 0)
        return name_ok ? 50 : 30; /* open explains that it is a pointer, not weights */
    return name_ok ? 10 : 0;
}

/* Refuse what is not a torch >= 1.6 zip, saying what it is. */
static ptm_status check_kind(const char *path, const uint8_t *d, size_t n)
{
    if (n >= 4 && memcmp(d, "PK\3\4", 4) == 0)
        return PTM_OK;
    if (n >= sizeof legacy_magic && memcmp(d, legacy_magic, sizeof legacy_magic) == 0)
        return pt_fail(path, PTM_ERR_UNSUPPORTED,
                       "a legacy PyTorch checkpoint (the pre-1.6 pickle format of torch.save), which ptm does not "
                       "read; convert it to the zip format in Python: torch.save(torch.load(path, "
                       "weights_only=True), path, _use_new_zipfile_serialization=True)");
    if (n >= 8 && memcmp(d, "PYTORCH1", 8) == 0)
        return pt_fail(path, PTM_ERR_UNSUPPORTED,
                       "an archive from the PyTorch preview release (PYTORCH1), which neither torch nor ptm reads");
    if (n >= 262 && memcmp(d + 257, "ustar", 5) == 0)
        return pt_fail(path, PTM_ERR_UNSUPPORTED,
                       "a tar checkpoint of torch < 0.4, which ptm does not read; convert it in Python with an old "
                       "torch: torch.save(torch.load(path), path, _use_new_zipfile_serialization=True)");
    if (n >= sizeof lfs_magic - 1 && memcmp(d, lfs_magic, sizeof lfs_magic - 1) == 0)
        return pt_fail(path, PTM_ERR_FORMAT,
                       "a Git LFS pointer file, not the weights: fetch the real file (git lfs pull, or download "
                       "it from the Hub)");
    if (n == 0)
        return pt_fail(path, PTM_ERR_FORMAT, "empty file, not a PyTorch checkpoint");
    return pt_fail(path, PTM_ERR_FORMAT, "not a PyTorch checkpoint: no zip signature (PK\\3\\4) at offset 0");
}

/* --------------------------------------------------------------- open */

typedef struct lookup_ctx {
    const pt_zip *zip;
} lookup_ctx;

static int lookup_record(void *user, const char *key, uint64_t *data_off, uint64_t *nbytes)
{
    const lookup_ctx *c = user;
    char name[80];
    int n = snprintf(name, sizeof name, "data/%s", key);
    if (n < 0 || (size_t)n >= sizeof name)
        return -1;
    const pt_zip_entry *e = pt_zip_find(c->zip, name, (size_t)n);
    if (!e)
        return -1;
    *data_off = e->data_off;
    *nbytes = e->size;
    return 0;
}

#define ENTRY(z, lit) pt_zip_find((z), (lit), sizeof(lit) - 1)

static ptm_status open_zip(pt_source *S)
{
    const uint8_t *d = ptm_buffer_data(S->buf);
    size_t size = ptm_buffer_size(S->buf);
    ptm_status s = pt_zip_parse(S->path, d, size, &S->zip);
    if (s)
        return s;
    const pt_zip *z = &S->zip;
    char pre[80];
    snprintf(pre, sizeof pre, "%.*s", (int)(z->prefix_len > 60 ? 60 : z->prefix_len), z->prefix);
    if (ENTRY(z, "constants.pkl") || ENTRY(z, ".data/version"))
        return pt_fail(S->path, PTM_ERR_UNSUPPORTED,
                       "a TorchScript archive (torch.jit.save), not a state dict; in Python, load it with "
                       "torch.jit.load and save model.state_dict() with torch.save");
    for (size_t k = 0; k < z->n; k++)
        if (z->e[k].method != 0)
            return pt_fail(S->path, PTM_ERR_UNSUPPORTED,
                           "zip entry '%s/%.*s' is compressed (method %u); torch.save writes stored entries only", pre,
                           (int)(z->e[k].name_len > 100 ? 100 : z->e[k].name_len), z->e[k].name, z->e[k].method);
    const pt_zip_entry *ver = ENTRY(z, "version");
    if (!ver)
        return pt_fail(S->path, PTM_ERR_FORMAT, "zip archive without %s/version: not a torch.save checkpoint", pre);
    uint64_t v = 0;
    size_t i = 0;
    for (; i < ver->size && i < 12 && d[ver->data_off + i] >= '0' && d[ver->data_off + i] <= '9'; i++)
        v = v * 10 + (uint64_t)(d[ver->data_off + i] - '0');
    if (i == 0 || v < 1 || v > 10)
        return pt_fail(S->path, PTM_ERR_UNSUPPORTED, "%s/version is not a file format version from 1 to 10", pre);
    const pt_zip_entry *bo = ENTRY(z, "byteorder");
    if (bo) {
        if (bo->size == 6 && memcmp(d + bo->data_off, "little", 6) == 0)
            S->big_endian = 0;
        else if (bo->size == 3 && memcmp(d + bo->data_off, "big", 3) == 0)
            S->big_endian = 1;
        else
            return pt_fail(S->path, PTM_ERR_FORMAT, "%s/byteorder is neither 'little' nor 'big'", pre);
    }
    const pt_zip_entry *pk = ENTRY(z, "data.pkl");
    if (!pk)
        return pt_fail(S->path, PTM_ERR_FORMAT, "zip archive without %s/data.pkl: not a torch.save checkpoint", pre);
    char where[400];
    size_t pl = strlen(S->path);
    snprintf(where, sizeof where, "%s%s: %s/data.pkl", pl > 300 ? "..." : "", pl > 300 ? S->path + pl - 300 : S->path,
             pre);
    lookup_ctx lc = {z};
    s = pt_unpickle(where, d + pk->data_off, (size_t)pk->size, lookup_record, &lc, &S->res);
    if (!s && S->res.skipped)
        ptm_log(PTM_LOG_WARN, "%s: skipped %zu state-dict values that are not tensors", where, S->res.skipped);
    return s;
}

ptm_status pt_open(const char *path, void **source)
{
    if (!path || !source)
        return ptm_error(PTM_ERR_INVALID_ARG, "pytorch open: NULL argument");
    pt_source *S = calloc(1, sizeof *S);
    if (!S || !(S->path = strdup(path))) {
        free(S);
        return pt_fail(path, PTM_ERR_NOMEM, "out of memory");
    }
    ptm_status s = ptm_buffer_map_file(path, &S->buf);
    if (s) {
        s = ptm_error_prefix(s, "pytorch");
    } else {
        s = check_kind(path, ptm_buffer_data(S->buf), ptm_buffer_size(S->buf));
        if (!s)
            s = open_zip(S);
    }
    if (s) {
        pt_close(S);
        return s;
    }
    *source = S;
    return PTM_OK;
}

void pt_close(void *source)
{
    pt_source *S = source;
    if (!S)
        return;
    pt_pickle_result_free(&S->res);
    pt_zip_free(&S->zip);
    ptm_buffer_release(S->buf);
    free(S->path);
    free(S);
}

size_t pt_count(void *source)
{
    pt_source *S = source;
    return S ? S->res.n : 0;
}

ptm_status pt_info(void *source, size_t i, ptm_tensor_info *out)
{
    pt_source *S = source;
    if (!S || !out || i >= S->res.n)
        return ptm_error(PTM_ERR_INVALID_ARG, "pytorch info: tensor index %zu out of range", i);
    const pt_rec *R = &S->res.t[i];
    memset(out, 0, sizeof *out);
    out->name = R->name;
    out->dtype = R->dtype;
    out->ndim = R->ndim;
    memcpy(out->shape, R->shape, sizeof out->shape);
    return PTM_OK;
}

/* --------------------------------------------------------------- load */

static int is_contiguous(const pt_rec *R)
{
    int64_t want = 1;
    for (int d = R->ndim - 1; d >= 0; d--) {
        if (R->shape[d] == 0)
            return 1;
        if (R->shape[d] != 1 && R->stride[d] != want)
            return 0;
        want *= R->shape[d];
    }
    return 1;
}

static void swap_bytes(uint8_t *p, size_t n, size_t es)
{
    if (es < 2)
        return;
    for (size_t i = 0; i + es <= n; i += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* Copy the strided tensor R (its first element at `src`) into dst, row-major. */
static void gather(const pt_rec *R, const uint8_t *src, uint8_t *dst, size_t es)
{
    int nd = R->ndim;
    if (nd == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t idx[PTM_MAX_DIMS] = {0};
    int64_t inner = R->shape[nd - 1], istride = R->stride[nd - 1];
    for (int d = 0; d < nd; d++)
        if (R->shape[d] == 0)
            return;
    for (;;) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++)
            off += idx[d] * R->stride[d];
        const uint8_t *s = src + (size_t)off * es;
        if (istride == 1) {
            memcpy(dst, s, (size_t)inner * es);
            dst += (size_t)inner * es;
        } else {
            for (int64_t k = 0; k < inner; k++, dst += es)
                memcpy(dst, s + (size_t)(k * istride) * es, es);
        }
        int d = nd - 2;
        for (; d >= 0; d--) {
            if (++idx[d] < R->shape[d])
                break;
            idx[d] = 0;
        }
        if (d < 0)
            return;
    }
}

ptm_status pt_load(void *source, size_t i, ptm_tensor **out)
{
    pt_source *S = source;
    if (!S || !out || i >= S->res.n)
        return ptm_error(PTM_ERR_INVALID_ARG, "pytorch load: tensor index %zu out of range", i);
    const pt_rec *R = &S->res.t[i];
    const pt_storage *st = &S->res.st[R->storage];
    size_t es = ptm_dtype_size(R->dtype);
    uint64_t off = st->data_off + R->offset * es; /* extent checked when the file was opened */
    ptm_status s;
    if (is_contiguous(R) && !(S->big_endian && es > 1) && off % es == 0) {
        s = ptm_tensor_from_buffer(S->buf, (size_t)off, R->dtype, R->ndim, R->shape, out);
    } else {
        ptm_tensor *t = NULL;
        s = ptm_tensor_new(R->dtype, R->ndim, R->shape, &t);
        if (!s) {
            uint8_t *dst = ptm_tensor_data_mut(t);
            const uint8_t *src = (const uint8_t *)ptm_buffer_data(S->buf) + off;
            if (is_contiguous(R))
                memcpy(dst, src, ptm_tensor_nbytes(t));
            else
                gather(R, src, dst, es);
            if (S->big_endian)
                swap_bytes(dst, ptm_tensor_nbytes(t), es);
            *out = t;
        }
    }
    if (s)
        ptm_error_prefix(s, "%s: tensor '%s'", S->path, R->name);
    return s;
}
