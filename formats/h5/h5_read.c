/* SPDX-License-Identifier: Apache-2.0 */
/* h5_read.c - the reader: a Keras weights file (root layer_names, per-layer
 * weight_names, datasets at <layer>/<variable name>) or a transformers TF
 * shard (root layer_names naming root-level datasets), presented with
 * PyTorch names and layouts (formats.md §4).  Everything is validated at
 * open: only hard links are followed, external raw storage and virtual
 * datasets are refused, each dataset's stored size must match its shape and
 * type and lie inside the file.  Data is read at load: a zero-copy view of
 * the file mapping when the bytes allow, else through H5Dread. */
#include "h5_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct h5_entry {
    char *name;  /* PyTorch name */
    char *dpath; /* dataset path under the weights root */
    char *tf;    /* the TF variable name (for messages) */
    ptm_dtype dtype;
    int ndim, kind;
    int64_t shape[PTM_MAX_DIMS], fshape[PTM_MAX_DIMS];
    int64_t offset; /* file offset of the bytes for a zero-copy view, or -1 */
} h5_entry;

typedef struct h5_source {
    char *path;
    hid_t file, root;
    h5_entry *t;
    size_t n, cap;
    int64_t file_size;
    ptm_buffer *map;
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

void h5p_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* --------------------------------------------------------- attributes */

static ptm_status push_name(const char *path, const char *obj, char ***names, size_t *n, const char *s, size_t len)
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

/* Append the strings of attribute `an` of `obj` to names. */
static ptm_status read_attr(const char *path, const char *objname, hid_t obj, const char *an, char ***names,
                            size_t *n)
{
    char what[H5P_MAX_NAME + 64];
    snprintf(what, sizeof what, "%s attribute %s", objname, an);
    ptm_status s = PTM_OK;
    hid_t a = H5Aopen(obj, an, H5P_DEFAULT), type = -1, space = -1, mt = -1;
    if (a < 0)
        return h5p_fail(path, what, PTM_ERR_FORMAT, "cannot be opened");
    type = H5Aget_type(a);
    space = H5Aget_space(a);
    hssize_t np = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (type < 0 || space < 0 || np < 0) {
        s = h5p_fail(path, what, PTM_ERR_FORMAT, "has a damaged type or data space");
    } else if (cls != H5T_STRING) {
        if (np != 0) /* h5py writes an empty list as an empty float64 array */
            s = h5p_fail(path, what, PTM_ERR_FORMAT, "is not an array of strings");
    } else if ((size_t)np > H5P_MAX_NAMES) {
        s = h5p_fail(path, what, PTM_ERR_FORMAT, "holds %lld names (limit %zu)", (long long)np, H5P_MAX_NAMES);
    } else if (H5Tis_variable_str(type) > 0) {
        char **buf = calloc((size_t)np + 1, sizeof *buf);
        mt = H5Tcopy(H5T_C_S1);
        if (!buf || mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(type)) < 0)
            s = h5p_fail(path, what, PTM_ERR_NOMEM, "out of memory");
        else if (np && H5Aread(a, mt, buf) < 0)
            s = h5p_fail(path, what, PTM_ERR_FORMAT, "cannot be read");
        else {
            size_t total = 0;
            for (hssize_t i = 0; i < np && !s; i++) {
                size_t l = buf[i] ? strlen(buf[i]) : 0;
                total += l;
                s = total > H5P_MAX_ATTR_BYTES
                        ? h5p_fail(path, what, PTM_ERR_FORMAT, "is larger than %zu bytes", H5P_MAX_ATTR_BYTES)
                        : push_name(path, what, names, n, buf[i] ? buf[i] : "", l);
            }
            if (np)
                H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
        }
        free(buf);
    } else {
        size_t sz = H5Tget_size(type);
        if (sz == 0 || (np && sz > H5P_MAX_ATTR_BYTES / (size_t)np)) {
            s = h5p_fail(path, what, PTM_ERR_FORMAT, "is larger than %zu bytes", H5P_MAX_ATTR_BYTES);
        } else {
            char *buf = malloc(sz * (size_t)np + 1);
            if (!buf)
                s = h5p_fail(path, what, PTM_ERR_NOMEM, "out of memory");
            else if (np && H5Aread(a, type, buf) < 0)
                s = h5p_fail(path, what, PTM_ERR_FORMAT, "cannot be read");
            for (hssize_t i = 0; buf && i < np && !s; i++) {
                const char *e = buf + (size_t)i * sz;
                size_t l = 0;
                while (l < sz && e[l])
                    l++;
                while (l && e[l - 1] == ' ' && H5Tget_strpad(type) == H5T_STR_SPACEPAD)
                    l--;
                s = push_name(path, what, names, n, e, l);
            }
            free(buf);
        }
    }
    if (mt >= 0)
        H5Tclose(mt);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    H5Aclose(a);
    return s;
}

ptm_status h5p_read_names(const char *path, const char *objname, hid_t obj, const char *name, char ***names,
                          size_t *n, int *found)
{
    *names = NULL;
    *n = 0;
    *found = 0;
    ptm_status s = PTM_OK;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return h5p_fail(path, objname, PTM_ERR_FORMAT, "cannot list its attributes");
    if (ex > 0) {
        *found = 1;
        s = read_attr(path, objname, obj, name, names, n);
    } else {
        char cn[128];
        for (unsigned k = 0; !s; k++) { /* Keras' chunked attributes name0, name1, ... */
            snprintf(cn, sizeof cn, "%s%u", name, k);
            if ((ex = H5Aexists(obj, cn)) <= 0)
                break;
            *found = 1;
            s = read_attr(path, objname, obj, cn, names, n);
        }
    }
    if (s) {
        h5p_free_names(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return s;
}

/* ------------------------------------------------------------- objects */

/* Check every link on the way to `p` (relative to root) is a hard link and
 * return the object type there. */
static ptm_status check_path(h5_source *src, const char *p, H5O_type_t *type)
{
    size_t len = strlen(p);
    if (!len || p[0] == '/' || p[len - 1] == '/' || strstr(p, "//"))
        return h5p_fail(src->path, p, PTM_ERR_FORMAT, "is not a valid object name (empty component)");
    if (len > H5P_MAX_NAME)
        return h5p_fail(src->path, NULL, PTM_ERR_FORMAT, "an object name is %zu bytes long", len);
    char *q = dupstr(p);
    if (!q)
        return h5p_fail(src->path, p, PTM_ERR_NOMEM, "out of memory");
    ptm_status s = PTM_OK;
    for (size_t i = 0; i <= len && !s; i++) {
        if (q[i] != '/' && q[i] != '\0')
            continue;
        char c = q[i];
        q[i] = '\0';
        H5L_info_t li;
        htri_t ex = H5Lexists(src->root, q, H5P_DEFAULT);
        if (ex <= 0)
            s = h5p_fail(src->path, p, PTM_ERR_FORMAT, "does not exist (named in %s)",
                         strchr(p, '/') ? "weight_names" : "layer_names");
        else if (H5Lget_info(src->root, q, &li, H5P_DEFAULT) < 0)
            s = h5p_fail(src->path, q, PTM_ERR_FORMAT, "link cannot be read");
        else if (li.type == H5L_TYPE_EXTERNAL)
            s = h5p_fail(src->path, q, PTM_ERR_UNSUPPORTED, "is an external link (refused: it reads another file)");
        else if (li.type != H5L_TYPE_HARD)
            s = h5p_fail(src->path, q, PTM_ERR_UNSUPPORTED, "is a %s link (only hard links are followed)",
                         li.type == H5L_TYPE_SOFT ? "soft" : "user-defined");
        q[i] = c;
    }
    free(q);
    if (s)
        return s;
    H5O_info_t oi;
    if (H5Oget_info_by_name(src->root, p, &oi, H5P_DEFAULT) < 0)
        return h5p_fail(src->path, p, PTM_ERR_FORMAT, "object header cannot be read");
    *type = oi.type;
    return PTM_OK;
}

static ptm_status map_type(hid_t type, ptm_dtype *dt)
{
    size_t sz = H5Tget_size(type);
    switch (H5Tget_class(type)) {
    case H5T_FLOAT:
        *dt = sz == 2 ? PTM_F16 : sz == 4 ? PTM_F32 : sz == 8 ? PTM_F64 : PTM_DTYPE_AUTO;
        break;
    case H5T_INTEGER:
        if (H5Tget_sign(type) == H5T_SGN_2)
            *dt = sz == 1 ? PTM_I8 : sz == 2 ? PTM_I16 : sz == 4 ? PTM_I32 : sz == 8 ? PTM_I64 : PTM_DTYPE_AUTO;
        else
            *dt = sz == 1 ? PTM_U8 : PTM_DTYPE_AUTO;
        break;
    case H5T_ENUM: /* h5py's bool: an int8 enum {FALSE, TRUE} */
        *dt = sz == 1 && H5Tget_nmembers(type) == 2 ? PTM_BOOL : PTM_DTYPE_AUTO;
        break;
    default:
        *dt = PTM_DTYPE_AUTO;
    }
    return *dt == PTM_DTYPE_AUTO ? PTM_ERR_UNSUPPORTED : PTM_OK;
}

/* The memory type H5Dread converts to (host order); H5Tclose it. */
static hid_t mem_type(ptm_dtype dt, hid_t ftype)
{
    hid_t t = -1;
    switch (dt) {
    case PTM_F16:
        if ((t = H5Tcopy(H5T_NATIVE_FLOAT)) >= 0 &&
            (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0)) {
            H5Tclose(t);
            t = -1;
        }
        return t;
    case PTM_F32: return H5Tcopy(H5T_NATIVE_FLOAT);
    case PTM_F64: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case PTM_I8: return H5Tcopy(H5T_NATIVE_INT8);
    case PTM_I16: return H5Tcopy(H5T_NATIVE_INT16);
    case PTM_I32: return H5Tcopy(H5T_NATIVE_INT32);
    case PTM_I64: return H5Tcopy(H5T_NATIVE_INT64);
    case PTM_U8: return H5Tcopy(H5T_NATIVE_UINT8);
    default: return H5Tcopy(ftype); /* BOOL enum: raw bytes, normalised after */
    }
}

/* Validate dataset `dpath` and append it as TF variable `tf`. */
static ptm_status add_dataset(h5_source *src, const char *dpath, const char *tf, int drop_first)
{
    H5O_type_t ot;
    ptm_status s = check_path(src, dpath, &ot);
    if (s)
        return s;
    if (ot != H5O_TYPE_DATASET)
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "is not a dataset");
    hid_t d = H5Dopen2(src->root, dpath, H5P_DEFAULT), dcpl = -1, type = -1, space = -1, mt = -1;
    if (d < 0)
        return h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "dataset cannot be opened");
    h5_entry e;
    memset(&e, 0, sizeof e);
    e.offset = -1;
    dcpl = H5Dget_create_plist(d);
    type = H5Dget_type(d);
    space = H5Dget_space(d);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    H5S_class_t sc = space >= 0 ? H5Sget_simple_extent_type(space) : H5S_NO_CLASS;
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[H5S_MAX_RANK];
    if (dcpl < 0 || type < 0 || space < 0 || lay == H5D_LAYOUT_ERROR || nd < 0) {
        s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "dataset header is damaged");
    } else if (lay == H5D_VIRTUAL) {
        s = h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED, "is a virtual dataset (refused: it reads other files)");
    } else if (H5Pget_external_count(dcpl) != 0) {
        s = h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED,
                     "keeps its data in external files (refused: it reads other files)");
    } else if (sc != H5S_SCALAR && sc != H5S_SIMPLE) {
        s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "has no data space (a null dataset)");
    } else if (nd > PTM_MAX_DIMS) {
        s = h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED, "has %d dimensions (at most %d)", nd, PTM_MAX_DIMS);
    } else if (map_type(type, &e.dtype)) {
        s = h5p_fail(src->path, dpath, PTM_ERR_UNSUPPORTED, "has an element type ptm cannot hold (class %d, %zu bytes)",
                     (int)H5Tget_class(type), H5Tget_size(type));
    } else if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "data space cannot be read");
    }
    uint64_t numel = 1;
    size_t es = s ? 0 : ptm_dtype_size(e.dtype);
    for (int i = 0; i < nd && !s; i++) {
        if (dims[i] > (hsize_t)INT64_MAX || (dims[i] && numel > (uint64_t)INT64_MAX / es / dims[i]))
            s = h5p_fail(src->path, dpath, PTM_ERR_OVERFLOW, "shape is too large");
        numel *= dims[i];
        e.fshape[i] = (int64_t)dims[i];
    }
    uint64_t nbytes = numel * es;
    if (!s && nbytes) {
        hsize_t stored = H5Dget_storage_size(d);
        if (lay == H5D_CONTIGUOUS) {
            haddr_t off = H5Dget_offset(d);
            hsize_t ub = 0;
            hid_t fcpl = H5Fget_create_plist(src->file);
            if (fcpl >= 0) {
                H5Pget_userblock(fcpl, &ub);
                H5Pclose(fcpl);
            }
            if (off == HADDR_UNDEF)
                s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "has no data (never written)");
            else if (stored != nbytes)
                s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                             "stores %llu bytes but its shape and %s elements need %llu", (unsigned long long)stored,
                             ptm_dtype_name(e.dtype), (unsigned long long)nbytes);
            else if (off > (haddr_t)src->file_size || stored + ub > (hsize_t)src->file_size - off ||
                     off + ub > (haddr_t)src->file_size - stored)
                s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                             "data at offset %llu (+%llu bytes) runs past the end of the file (%lld bytes): truncated?",
                             (unsigned long long)off, (unsigned long long)stored, (long long)src->file_size);
            else if (ub == 0 && (mt = mem_type(e.dtype, type)) >= 0 && H5Tequal(mt, type) > 0 &&
                     e.dtype != PTM_BOOL)
                e.offset = (int64_t)off;
        } else if (lay == H5D_COMPACT) {
            if (stored != nbytes)
                s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                             "stores %llu bytes but its shape and %s elements need %llu", (unsigned long long)stored,
                             ptm_dtype_name(e.dtype), (unsigned long long)nbytes);
        } else { /* chunked: filters may compress, so bound the expansion */
            int nf = H5Pget_nfilters(dcpl);
            if (stored == 0 || stored > (hsize_t)src->file_size || (nf == 0 && stored < nbytes) ||
                nbytes / 1100 > stored + (1u << 20))
                s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT,
                             "chunked data of %llu stored bytes cannot hold its shape (%llu bytes)",
                             (unsigned long long)stored, (unsigned long long)nbytes);
        }
    }
    if (!s) {
        e.ndim = nd;
        if (h5p_tf_to_pt(tf, drop_first, nd, &e.name, &e.kind) != PTM_OK)
            s = h5p_fail(src->path, dpath, PTM_ERR_FORMAT, "variable name \"%.300s\" maps to no PyTorch name", tf);
    }
    if (!s) {
        h5p_perm_shape(nd, e.fshape, e.kind, 1, e.shape);
        if (e.kind != H5P_T_NO)
            e.offset = -1;
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
        e.tf = dupstr(tf);
        if (src->n == src->cap) {
            size_t nc = src->cap ? 2 * src->cap : 16;
            h5_entry *g = realloc(src->t, nc * sizeof *g);
            if (g) {
                src->t = g;
                src->cap = nc;
            }
        }
        if (!e.dpath || !e.tf || src->n == src->cap)
            s = h5p_fail(src->path, dpath, PTM_ERR_NOMEM, "out of memory");
        else
            src->t[src->n++] = e;
    }
    if (s) {
        free(e.name);
        free(e.dpath);
        free(e.tf);
    }
    if (mt >= 0)
        H5Tclose(mt);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    H5Dclose(d);
    return s;
}

/* One entry of root layer_names: a Keras layer group, or a shard dataset. */
static ptm_status add_layer(h5_source *src, const char *layer)
{
    H5O_type_t ot;
    ptm_status s = check_path(src, layer, &ot);
    if (s)
        return s;
    if (ot == H5O_TYPE_DATASET) /* transformers' shard: root-level stripped names */
        return add_dataset(src, layer, layer, 0);
    if (ot != H5O_TYPE_GROUP)
        return h5p_fail(src->path, layer, PTM_ERR_FORMAT, "is neither a layer group nor a dataset");
    hid_t g = H5Gopen2(src->root, layer, H5P_DEFAULT);
    if (g < 0)
        return h5p_fail(src->path, layer, PTM_ERR_FORMAT, "layer group cannot be opened");
    char **w = NULL;
    size_t nw = 0;
    int found = 0;
    s = h5p_read_names(src->path, layer, g, "weight_names", &w, &nw, &found);
    H5Gclose(g);
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
    if (h5p_read_names(src->path, "/", src->root, an, &v, &n, &found) == PTM_OK && n == 1)
        r = dupstr(v[0]);
    h5p_free_names(v, n);
    ptm_clear_error();
    return r;
}

static ptm_status read_file(h5_source *src)
{
    struct stat st;
    if (stat(src->path, &st) != 0)
        return h5p_fail(src->path, NULL, PTM_ERR_IO, "cannot open: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return h5p_fail(src->path, NULL, PTM_ERR_IO, "not a regular file");
    src->file_size = (int64_t)st.st_size;
    if (H5Fis_hdf5(src->path) <= 0)
        return h5p_fail(src->path, NULL, PTM_ERR_FORMAT, "not an HDF5 file (no HDF5 signature)");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        return h5p_fail(src->path, NULL, PTM_ERR_NOMEM, "cannot set up HDF5");
    }
    src->file = H5Fopen(src->path, H5F_ACC_RDONLY, fapl);
    if (src->file < 0) { /* before any other call: a successful one clears HDF5's error stack */
        ptm_status s = h5p_fail(src->path, NULL, PTM_ERR_FORMAT, "HDF5 cannot open it (damaged or truncated)");
        H5Pclose(fapl);
        return s;
    }
    H5Pclose(fapl);
    src->root = H5Gopen2(src->file, "/", H5P_DEFAULT);
    if (src->root < 0)
        return h5p_fail(src->path, "/", PTM_ERR_FORMAT, "root group cannot be opened");
    char **layers = NULL;
    size_t nl = 0;
    int found = 0;
    ptm_status s = h5p_read_names(src->path, "/", src->root, "layer_names", &layers, &nl, &found);
    if (!s && !found) {
        /* a whole-model Keras save keeps the weights under model_weights */
        H5O_type_t ot;
        if (H5Lexists(src->root, "model_weights", H5P_DEFAULT) > 0 && check_path(src, "model_weights", &ot) == PTM_OK &&
            ot == H5O_TYPE_GROUP) {
            hid_t g = H5Gopen2(src->root, "model_weights", H5P_DEFAULT);
            if (g >= 0) {
                H5Gclose(src->root);
                src->root = g;
                s = h5p_read_names(src->path, "/model_weights", src->root, "layer_names", &layers, &nl, &found);
            }
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
    h5p_lock();
    if (src->root >= 0)
        H5Gclose(src->root);
    if (src->file >= 0)
        H5Fclose(src->file);
    h5p_unlock();
    for (size_t i = 0; i < src->n; i++) {
        free(src->t[i].name);
        free(src->t[i].dpath);
        free(src->t[i].tf);
    }
    free(src->t);
    ptm_buffer_release(src->map);
    free(src->backend);
    free(src->keras_version);
    free(src->path);
    free(src);
}

ptm_status h5p_open(const char *path, void **source)
{
    if (!path || !source)
        return ptm_error(PTM_ERR_INVALID_ARG, "h5: open: NULL argument");
    h5_source *src = calloc(1, sizeof *src);
    if (!src || !(src->path = dupstr(path))) {
        free(src);
        return ptm_error(PTM_ERR_NOMEM, "%s: out of memory", path);
    }
    src->file = src->root = -1;
    h5p_lock();
    ptm_status s = read_file(src);
    h5p_unlock();
    if (s) {
        h5p_close(src);
        return s;
    }
    *source = src;
    return PTM_OK;
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
    if (e->offset >= 0) { /* zero copy: a view of the file mapping */
        if (!src->map && (s = ptm_buffer_map_file(src->path, &src->map)) != PTM_OK) {
            src->map = NULL;
            return ptm_error_prefix(s, "%s", src->path);
        }
        s = ptm_tensor_from_buffer(src->map, (size_t)e->offset, e->dtype, e->ndim, e->shape, out);
        return s ? ptm_error_prefix(s, "%s: \"%s\"", src->path, e->dpath) : PTM_OK;
    }
    ptm_tensor *raw = NULL, *t = NULL;
    if ((s = e->kind == H5P_T_NO ? ptm_tensor_new(e->dtype, e->ndim, e->shape, &raw)
                                 : ptm_tensor_new(e->dtype, e->ndim, e->fshape, &raw)))
        return ptm_error_prefix(s, "%s: \"%s\"", src->path, e->dpath);
    size_t nb = ptm_tensor_nbytes(raw);
    if (nb) {
        h5p_lock();
        hid_t d = H5Dopen2(src->root, e->dpath, H5P_DEFAULT), ft = d >= 0 ? H5Dget_type(d) : -1;
        hid_t mt = ft >= 0 ? mem_type(e->dtype, ft) : -1;
        if (d < 0 || ft < 0 || mt < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptm_tensor_data_mut(raw)) < 0)
            s = h5p_fail(src->path, e->dpath, PTM_ERR_FORMAT, "dataset cannot be read");
        if (mt >= 0)
            H5Tclose(mt);
        if (ft >= 0)
            H5Tclose(ft);
        if (d >= 0)
            H5Dclose(d);
        h5p_unlock();
    }
    if (!s && e->dtype == PTM_BOOL) {
        unsigned char *b = ptm_tensor_data_mut(raw);
        for (size_t k = 0; k < nb; k++)
            b[k] = b[k] != 0;
    }
    if (!s && e->kind != H5P_T_NO) {
        int64_t os[PTM_MAX_DIMS];
        if (!(s = ptm_tensor_new(e->dtype, e->ndim, e->shape, &t)))
            h5p_transpose(ptm_tensor_data(raw), ptm_tensor_data_mut(t), ptm_dtype_size(e->dtype), e->ndim, e->fshape,
                          e->kind, 1, os);
        ptm_tensor_release(raw);
        raw = t;
    }
    if (s) {
        ptm_tensor_release(raw);
        return s;
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
