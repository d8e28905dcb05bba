/* SPDX-License-Identifier: Apache-2.0 */
/* h5_read.c - the reader: a Keras weights file (root layer_names, per-layer
 * weight_names, datasets at <layer>/<variable name>) or a transformers TF
 * shard (root layer_names naming root-level datasets), presented with
 * PyTorch names and layouts (formats.md §4).  The file is read with our own
 * bounds-checked HDF5 parser (h5_file.h) on its memory mapping; libhdf5 is
 * not used.  Everything is validated at open: only hard links are followed,
 * external raw storage, virtual and chunked datasets are refused, each
 * dataset's stored size must match its shape and type and lie inside the
 * file.  At load a tensor is a zero-copy view of the mapping when no
 * transpose and no byte swap is needed and the data is element-aligned,
 * else a copy. */
#include "h5_file.h"
#include "h5_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct h5_entry {
    char *name;  /* PyTorch name */
    char *dpath; /* dataset path under the weights root */
    ptm_dtype dtype;
    int ndim, kind;
    int swap; /* byte-swap each element (file order is not the host's) */
    int64_t shape[PTM_MAX_DIMS], fshape[PTM_MAX_DIMS];
    size_t offset; /* image offset of the data */
    size_t nbytes;
} h5_entry;

typedef struct h5_source {
    char *path;
    ptm_buffer *buf; /* the file image */
    h5f_file *f;
    uint64_t root; /* the weights root group (the file's root or model_weights) */
    h5_entry *t;
    size_t n, cap;
    char *backend, *keras_version;
} h5_source;

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int host_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

ptm_status h5p_fail(const char *path, const char *object, ptm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ptm_status s = h5f_vfail(path, object, status, fmt, ap);
    va_end(ap);
    return s;
}

void h5p_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* --------------------------------------------------------- attributes */

static ptm_status push_name(const char *path, const char *obj, char ***names, size_t *n, const uint8_t *s, size_t len)
{
    if (len > H5P_MAX_NAME)
        return h5p_fail(path, obj, PTM_ERR_FORMAT, "a name is %zu bytes long (limit %d)", len, H5P_MAX_NAME);
    if (*n >= H5P_MAX_NAMES)
        return h5p_fail(path, obj, PTM_ERR_FORMAT, "more than %zu names", H5P_MAX_NAMES);
    if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
        char **g = realloc(*names, (*n ? 2 * *n : 1) * sizeof *g);
        if (!g)
            return h5p_fail(path, obj, PTM_ERR_NOMEM, "out of memory");
        *names = g;
    }
    char *c = malloc(len + 1);
    if (!c)
        return h5p_fail(path, obj, PTM_ERR_NOMEM, "out of memory");
    memcpy(c, s, len);
    c[len] = '\0';
    (*names)[(*n)++] = c;
    return PTM_OK;
}

/* Append the strings of attribute `a` of `objname` to names. */
static ptm_status read_attr(h5_source *src, const char *objname, const h5f_attr *a, char ***names, size_t *n)
{
    char what[H5P_MAX_NAME + 64];
    snprintf(what, sizeof what, "%s attribute %.*s", objname, (int)(a->namelen > 200 ? 200 : a->namelen), a->name);
    uint64_t np = a->space.numel;
    if (a->type.cls != H5F_T_STRING && a->type.cls != H5F_T_VSTRING) {
        if (np != 0) /* h5py writes an empty list as an empty float64 array */
            return h5p_fail(src->path, what, PTM_ERR_FORMAT, "is not an array of strings");
        return PTM_OK;
    }
    if (np > H5P_MAX_NAMES)
        return h5p_fail(src->path, what, PTM_ERR_FORMAT, "holds %llu names (limit %zu)", (unsigned long long)np,
                        H5P_MAX_NAMES);
    ptm_status s = PTM_OK;
    size_t total = 0, sz = a->type.size;
    if (a->type.cls == H5F_T_STRING && np && sz > H5P_MAX_ATTR_BYTES / (size_t)np)
        return h5p_fail(src->path, what, PTM_ERR_FORMAT, "is larger than %zu bytes", H5P_MAX_ATTR_BYTES);
    for (uint64_t i = 0; i < np && !s; i++) {
        const uint8_t *e = a->data + (size_t)i * sz, *str;
        size_t l = 0;
        if (a->type.cls == H5F_T_VSTRING) {
            size_t vl;
            if ((s = h5f_vstring(src->f, e, what, &str, &vl)))
                break;
            const uint8_t *z = memchr(str, 0, vl);
            l = z ? (size_t)(z - str) : vl;
            total += l;
            if (total > H5P_MAX_ATTR_BYTES) {
                s = h5p_fail(src->path, what, PTM_ERR_FORMAT, "is larger than %zu bytes", H5P_MAX_ATTR_BYTES);
                break;
            }
        } else {
            str = e;
            while (l < sz && e[l])
                l++;
            while (l && e[l - 1] == ' ' && a->type.strpad == 2)
                l--;
        }
        s = push_name(src->path, what, names, n, str, l);
    }
    return s;
}

static const h5f_attr *find_attr(const h5f_attr *as, size_t na, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < na; i++)
        if (as[i].namelen == l && !memcmp(as[i].name, name, l))
            return &as[i];
    return NULL;
}

/* Read a Keras name attribute of object `addr`: `name`, or the chunks
 * name0, name1, ...  *found = 0 when neither exists. */
static ptm_status read_names(h5_source *src, const char *objname, uint64_t addr, const char *name, char ***names,
                             size_t *n, int *found)
{
    *names = NULL;
    *n = 0;
    *found = 0;
    h5f_attr *as = NULL;
    size_t na = 0;
    char what[H5P_MAX_NAME + 64];
    snprintf(what, sizeof what, "%s attribute %s", objname, name);
    ptm_status s = h5f_attrs(src->f, addr, what, &as, &na);
    const h5f_attr *a = s ? NULL : find_attr(as, na, name);
    if (a) {
        *found = 1;
        s = read_attr(src, objname, a, names, n);
    } else {
        char cn[128];
        for (unsigned k = 0; !s; k++) { /* Keras' chunked attributes name0, name1, ... */
            snprintf(cn, sizeof cn, "%s%u", name, k);
            if (!(a = find_attr(as, na, cn)))
                break;
            *found = 1;
            s = read_attr(src, objname, a, names, n);
        }
    }
    free(as);
    if (s) {
        h5p_free_names(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return s;
}

/* ------------------------------------------------------------- objects */

/* Validate dataset `dpath` and append it as TF variable `tf`. */
static ptm_status add_dataset(h5_source *src, const char *dpath, const char *tf, int drop_first)
{
    uint64_t addr;
    int kind;
    ptm_status s = h5f_lookup(src->f, src->root, dpath, strchr(dpath, '/') ? "weight_names" : "layer_names", &addr);
    if (!s)
        s = h5f_object_kind(src->f, addr, dpath, &kind);
    if (s)
        return s;
    if (kind != H5F_O_DATASET)
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "is not a dataset");
    h5f_dataset ds;
    if ((s = h5f_dataset_read(src->f, addr, dpath, &ds)))
        return s;
    h5_entry e;
    memset(&e, 0, sizeof e);
    int nd = ds.space.ndim;
    if (ds.layout == H5F_LAY_VIRTUAL)
        return h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED, "is a virtual dataset (refused: it reads other files)");
    if (ds.external)
        return h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED,
                        "keeps its data in external files (refused: it reads other files)");
    if (ds.space.kind == H5F_S_NULL)
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "has no data space (a null dataset)");
    if (nd > PTM_MAX_DIMS)
        return h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED, "has %d dimensions (at most %d)", nd, PTM_MAX_DIMS);
    if (ds.type.cls != H5F_T_NUMERIC)
        return h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED,
                        "has an element type ptm cannot hold (HDF5 class %d, %u bytes)", ds.type.hclass, ds.type.size);
    if (ds.layout == H5F_LAY_CHUNKED)
        return h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED,
                        "is stored in chunks (not supported: save it contiguous, as Keras does)");
    if (ds.filters)
        return h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED, "has a filter pipeline (compression is not supported)");
    e.dtype = ds.type.dt;
    size_t es = ptm_dtype_size(e.dtype);
    if (es != ds.type.size)
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "element size %u does not match %s", ds.type.size,
                        ptm_dtype_name(e.dtype));
    if (ds.space.numel > (uint64_t)INT64_MAX / es || ds.space.numel * es > SIZE_MAX)
        return h5p_fail(src->path, dpath, PTM_ERR_OVERFLOW, "shape is too large");
    uint64_t nbytes = ds.space.numel * es;
    for (int i = 0; i < nd; i++)
        e.fshape[i] = (int64_t)ds.space.dims[i];
    const uint8_t *img = h5f_image(src->f);
    if (ds.layout == H5F_LAY_CONTIGUOUS) {
        uint64_t stored = ds.size == H5F_UNDEF ? nbytes : ds.size;
        if (stored != nbytes)
            return h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                            "stores %llu bytes but its shape and %s elements need %llu", (unsigned long long)stored,
                            ptm_dtype_name(e.dtype), (unsigned long long)nbytes);
        if (nbytes && ds.addr == H5F_UNDEF)
            return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "has no data (never written)");
        if (nbytes) {
            int64_t off = h5f_abs(src->f, ds.addr, nbytes);
            if (off < 0)
                return h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                                "data at offset %llu (+%llu bytes) runs past the end of the file (%zu bytes): truncated?",
                                (unsigned long long)ds.addr, (unsigned long long)nbytes, ptm_buffer_size(src->buf));
            e.offset = (size_t)off;
        }
    } else if (ds.layout == H5F_LAY_COMPACT) {
        if (!ds.compact || ds.size != nbytes)
            return h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                            "stores %llu bytes but its shape and %s elements need %llu", (unsigned long long)ds.size,
                            ptm_dtype_name(e.dtype), (unsigned long long)nbytes);
        e.offset = (size_t)(ds.compact - img);
    } else {
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "has no data layout");
    }
    e.nbytes = (size_t)nbytes;
    e.swap = es > 1 && ds.type.be != host_big_endian();
    e.ndim = nd;
    if (h5p_tf_to_pt(tf, drop_first, nd, &e.name, &e.kind) != PTM_OK)
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "variable name \"%.300s\" maps to no PyTorch name", tf);
    h5p_perm_shape(nd, e.fshape, e.kind, 1, e.shape);
    /* TF keeps some biases as [1, n] (TFConv1D); PyTorch biases are 1-D
     * (transformers squeezes them when it loads) */
    size_t nl = strlen(e.name);
    int lead1 = nd >= 2 && e.kind == H5P_T_NO;
    for (int i = 0; i + 1 < nd && lead1; i++)
        lead1 = e.fshape[i] == 1;
    if (lead1 && (!strcmp(e.name, "bias") || (nl > 5 && !strcmp(e.name + nl - 5, ".bias")))) {
        e.ndim = 1;
        e.shape[0] = e.fshape[nd - 1];
    }
    e.dpath = dupstr(dpath);
    if (src->n == src->cap) {
        size_t nc = src->cap ? 2 * src->cap : 16;
        h5_entry *g = realloc(src->t, nc * sizeof *g);
        if (g) {
            src->t = g;
            src->cap = nc;
        }
    }
    if (!e.dpath || src->n == src->cap) {
        free(e.name);
        free(e.dpath);
        return h5p_fail(src->path, dpath, PTM_ERR_NOMEM, "out of memory");
    }
    src->t[src->n++] = e;
    return PTM_OK;
}

/* One entry of root layer_names: a Keras layer group, or a shard dataset. */
static ptm_status add_layer(h5_source *src, const char *layer)
{
    uint64_t addr;
    int kind;
    ptm_status s = h5f_lookup(src->f, src->root, layer, "layer_names", &addr);
    if (!s)
        s = h5f_object_kind(src->f, addr, layer, &kind);
    if (s)
        return s;
    if (kind == H5F_O_DATASET) /* transformers' shard: root-level stripped names */
        return add_dataset(src, layer, layer, 0);
    if (kind != H5F_O_GROUP)
        return h5p_fail(src->path, layer, PTM_ERR_FORMAT, "is neither a layer group nor a dataset");
    char **w = NULL;
    size_t nw = 0;
    int found = 0;
    s = read_names(src, layer, addr, "weight_names", &w, &nw, &found);
    if (!s && !found)
        s = h5p_fail(src->path, layer, PTM_ERR_FORMAT, "layer group has no weight_names attribute");
    size_t ll = strlen(layer);
    for (size_t i = 0; i < nw && !s; i++) {
        size_t wl = strlen(w[i]);
        char *dp = malloc(ll + wl + 2);
        if (!dp) {
            s = h5p_fail(src->path, layer, PTM_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(dp, layer, ll);
        dp[ll] = '/';
        memcpy(dp + ll + 1, w[i], wl + 1);
        s = add_dataset(src, dp, w[i], 1);
        free(dp);
    }
    h5p_free_names(w, nw);
    return s;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp((*(h5_entry *const *)a)->name, (*(h5_entry *const *)b)->name);
}

static char *scalar_string(h5_source *src, const char *an)
{
    char **v = NULL;
    size_t n = 0;
    int found = 0;
    char *r = NULL;
    if (read_names(src, "/", src->root, an, &v, &n, &found) == PTM_OK && n == 1)
        r = dupstr(v[0]);
    h5p_free_names(v, n);
    ptm_clear_error();
    return r;
}

static ptm_status read_file(h5_source *src)
{
    ptm_status s = h5f_open(src->path, ptm_buffer_data(src->buf), ptm_buffer_size(src->buf), &src->f);
    if (s)
        return s;
    src->root = h5f_root(src->f);
    char **layers = NULL;
    size_t nl = 0;
    int found = 0;
    s = read_names(src, "/", src->root, "layer_names", &layers, &nl, &found);
    if (!s && !found) {
        /* a whole-model Keras save keeps the weights under model_weights */
        uint64_t mw;
        int kind;
        if (h5f_lookup(src->f, src->root, "model_weights", "the file", &mw) == PTM_OK &&
            h5f_object_kind(src->f, mw, "model_weights", &kind) == PTM_OK && kind == H5F_O_GROUP) {
            src->root = mw;
            s = read_names(src, "/model_weights", src->root, "layer_names", &layers, &nl, &found);
        }
        ptm_clear_error();
        if (!s && !found)
            s = h5p_fail(src->path, NULL, PTM_ERR_FORMAT,
                         "no layer_names attribute: not a Keras / transformers TF weights file");
    }
    for (size_t i = 0; i < nl && !s; i++)
        s = add_layer(src, layers[i]);
    h5p_free_names(layers, nl);
    if (s)
        return s;
    h5_entry **sorted = malloc((src->n ? src->n : 1) * sizeof *sorted);
    if (!sorted)
        return h5p_fail(src->path, NULL, PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < src->n; i++)
        sorted[i] = &src->t[i];
    qsort(sorted, src->n, sizeof *sorted, entry_cmp);
    for (size_t i = 1; i < src->n && !s; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name))
            s = h5p_fail(src->path, sorted[i]->dpath, PTM_ERR_FORMAT,
                         "maps to PyTorch name \"%.300s\", as \"%.300s\" does", sorted[i]->name, sorted[i - 1]->dpath);
    free(sorted);
    if (s)
        return s;
    src->backend = scalar_string(src, "backend");
    src->keras_version = scalar_string(src, "keras_version");
    return s;
}

/* ----------------------------------------------------------------- API */

void h5p_close(void *source)
{
    h5_source *src = source;
    if (!src)
        return;
    h5f_close(src->f);
    for (size_t i = 0; i < src->n; i++) {
        free(src->t[i].name);
        free(src->t[i].dpath);
    }
    free(src->t);
    ptm_buffer_release(src->buf);
    free(src->backend);
    free(src->keras_version);
    free(src->path);
    free(src);
}

ptm_status h5p_open_buffer(const char *path, ptm_buffer *image, void **source)
{
    if (!path || !image || !source)
        return ptm_error(PTM_ERR_INVALID_ARG, "h5: open: NULL argument");
    h5_source *src = calloc(1, sizeof *src);
    if (!src || !(src->path = dupstr(path))) {
        free(src);
        return ptm_error(PTM_ERR_NOMEM, "%s: out of memory", path);
    }
    src->buf = ptm_buffer_retain(image);
    if (ptm_buffer_size(image) && !ptm_buffer_data(image)) {
        h5p_close(src);
        return ptm_error(PTM_ERR_INVALID_ARG, "%s: the image is not in host memory", path);
    }
    ptm_status s = read_file(src);
    if (s) {
        h5p_close(src);
        return s;
    }
    *source = src;
    return PTM_OK;
}

ptm_status h5p_open(const char *path, void **source)
{
    if (!path || !source)
        return ptm_error(PTM_ERR_INVALID_ARG, "h5: open: NULL argument");
    struct stat st;
    if (stat(path, &st) != 0)
        return h5p_fail(path, NULL, PTM_ERR_IO, "cannot open: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return h5p_fail(path, NULL, PTM_ERR_IO, "not a regular file");
    ptm_buffer *b = NULL;
    ptm_status s = ptm_buffer_map_file(path, &b);
    if (s)
        return ptm_error_prefix(s, "%s", path);
    s = h5p_open_buffer(path, b, source);
    ptm_buffer_release(b);
    return s;
}

size_t h5p_count(void *source) { return source ? ((h5_source *)source)->n : 0; }

ptm_status h5p_info(void *source, size_t i, ptm_tensor_info *out)
{
    h5_source *src = source;
    if (!src || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "h5: info: NULL argument");
    if (i >= src->n)
        return ptm_error(PTM_ERR_INVALID_ARG, "%s: tensor index %zu out of range (%zu tensors)", src->path, i, src->n);
    const h5_entry *e = &src->t[i];
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    return PTM_OK;
}

ptm_status h5p_load(void *source, size_t i, ptm_tensor **out)
{
    h5_source *src = source;
    if (!src || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "h5: load: NULL argument");
    if (i >= src->n)
        return ptm_error(PTM_ERR_INVALID_ARG, "%s: tensor index %zu out of range (%zu tensors)", src->path, i, src->n);
    const h5_entry *e = &src->t[i];
    ptm_status s;
    const unsigned char *img = ptm_buffer_data(src->buf);
    size_t es = ptm_dtype_size(e->dtype);
    if (e->kind == H5P_T_NO && !e->swap && e->dtype != PTM_BOOL && (uintptr_t)(img + e->offset) % es == 0) {
        /* zero copy: a view of the image (element-aligned, in host order) */
        s = ptm_tensor_from_buffer(src->buf, e->offset, e->dtype, e->ndim, e->shape, out);
        return s ? ptm_error_prefix(s, "%s: \"%s\"", src->path, e->dpath) : PTM_OK;
    }
    ptm_tensor *raw = NULL, *t = NULL;
    if ((s = e->kind == H5P_T_NO ? ptm_tensor_new(e->dtype, e->ndim, e->shape, &raw)
                                 : ptm_tensor_new(e->dtype, e->ndim, e->fshape, &raw)))
        return ptm_error_prefix(s, "%s: \"%s\"", src->path, e->dpath);
    size_t nb = ptm_tensor_nbytes(raw);
    if (nb != e->nbytes) {
        ptm_tensor_release(raw);
        return h5p_fail(src->path, e->dpath, PTM_ERR_FORMAT, "internal size mismatch");
    }
    unsigned char *b = ptm_tensor_data_mut(raw);
    if (nb)
        memcpy(b, img + e->offset, nb);
    if (e->swap)
        for (size_t k = 0; k + es <= nb; k += es)
            for (size_t a = 0, z = es - 1; a < z; a++, z--) {
                unsigned char c = b[k + a];
                b[k + a] = b[k + z];
                b[k + z] = c;
            }
    if (e->dtype == PTM_BOOL)
        for (size_t k = 0; k < nb; k++)
            b[k] = b[k] != 0;
    if (e->kind != H5P_T_NO) {
        int64_t os[PTM_MAX_DIMS];
        if (!(s = ptm_tensor_new(e->dtype, e->ndim, e->shape, &t)))
            h5p_transpose(ptm_tensor_data(raw), ptm_tensor_data_mut(t), es, e->ndim, e->fshape, e->kind, 1, os);
        ptm_tensor_release(raw);
        raw = t;
    }
    if (s) {
        ptm_tensor_release(raw);
        return ptm_error_prefix(s, "%s: \"%s\"", src->path, e->dpath);
    }
    *out = raw;
    return PTM_OK;
}

const char *h5p_metadata(void *source, const char *key)
{
    h5_source *src = source;
    if (!src || !key)
        return NULL;
    if (!strcmp(key, "backend"))
        return src->backend;
    if (!strcmp(key, "keras_version"))
        return src->keras_version;
    return NULL;
}
