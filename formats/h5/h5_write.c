/* SPDX-License-Identifier: Apache-2.0 */
/* h5_write.c - the writer: a state dict as Keras' save_weights writes a TF
 * model (formats.md §4.1): root attributes layer_names (chunked into
 * layer_names0, 1, ... past 64512 bytes, as Keras does), backend and
 * keras_version; one group per top-level layer with weight_names; one
 * contiguous little-endian dataset per variable at <layer>/<variable name>.
 * Names and layouts are the inverse of the reader's mapping; every name is
 * checked to read back as the PyTorch name it came from. */
#include "h5_internal.h"

#ifdef H5P_READER_ONLY
/* The fuzz target is built without libhdf5: no writer. */
ptm_status h5p_save_model(const char *path, const ptm_state_dict *sd, const struct ptm_save_info *info)
{
    (void)sd;
    (void)info;
    return ptm_error(PTM_ERR_UNSUPPORTED, "%s: this build of the h5 plugin cannot write", path ? path : "h5");
}

ptm_status h5p_save(const char *path, const ptm_state_dict *sd, const char *const *metadata)
{
    (void)metadata;
    return h5p_save_model(path, sd, NULL);
}
#else

#include <hdf5.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- call guard */

/* Serialise every HDF5 call of the writer (the serial library is not
 * thread-safe) and switch HDF5's own error printing off for the duration. */
static pthread_mutex_t h5w_mutex = PTHREAD_MUTEX_INITIALIZER;
static H5E_auto2_t h5w_saved_fn;
static void *h5w_saved_data;

static void h5w_lock(void)
{
    pthread_mutex_lock(&h5w_mutex);
    /* Keep the host's own setting; HDF5 must not print for us. */
    if (H5Eget_auto2(H5E_DEFAULT, &h5w_saved_fn, &h5w_saved_data) < 0) {
        h5w_saved_fn = NULL;
        h5w_saved_data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5Eclear2(H5E_DEFAULT);
}

static void h5w_unlock(void)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, h5w_saved_fn, h5w_saved_data);
    pthread_mutex_unlock(&h5w_mutex);
}

typedef struct h5w_errbuf {
    char text[256];
    int have;
} h5w_errbuf;

static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    h5w_errbuf *b = data;
    if (!b->have && e && e->desc && e->desc[0]) {
        snprintf(b->text, sizeof b->text, "%s", e->desc);
        b->have = 1;
    }
    return 0;
}

/* h5p_fail with " (HDF5: <innermost HDF5 error>)" appended when HDF5's
 * error stack holds one (it is then cleared). */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static ptm_status h5w_fail(const char *path, const char *object, ptm_status status, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h5w_errbuf eb = {{0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, &eb); /* innermost first */
    H5Eclear2(H5E_DEFAULT);
    if (eb.have)
        return h5p_fail(path, object, status, "%s (HDF5: %s)", msg, eb.text);
    return h5p_fail(path, object, status, "%s", msg);
}

/* Keras' save_attributes_to_hdf5_group: fixed-length strings, element size
 * the longest name; split with numpy.array_split into the fewest chunks
 * that each fit HDF5_OBJECT_HEADER_LIMIT. */
static ptm_status write_names(const char *path, hid_t obj, const char *objname, const char *an, char *const *v,
                              size_t n, int scalar)
{
    size_t isz = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (l > H5P_HEADER_LIMIT)
            return h5w_fail(path, objname, PTM_ERR_UNSUPPORTED, "a name of %zu bytes is too long for attribute %s", l,
                            an);
        if (l > isz)
            isz = l;
    }
    size_t chunks = 1;
    while (n && ((n + chunks - 1) / chunks) * isz > H5P_HEADER_LIMIT)
        chunks++;
    char *buf = calloc(n ? n : 1, isz);
    hid_t t = H5Tcopy(H5T_C_S1);
    ptm_status s = PTM_OK;
    if (!buf || t < 0 || H5Tset_size(t, isz) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0)
        s = h5w_fail(path, objname, PTM_ERR_NOMEM, "cannot build the type of attribute %s", an);
    for (size_t i = 0; i < n && !s; i++)
        memcpy(buf + i * isz, v[i], strlen(v[i]));
    size_t at = 0;
    for (size_t c = 0; c < chunks && !s; c++) {
        size_t cnt = n / chunks + (c < n % chunks ? 1 : 0);
        hsize_t dim = cnt;
        char nm[128];
        if (chunks > 1)
            snprintf(nm, sizeof nm, "%s%zu", an, c);
        else
            snprintf(nm, sizeof nm, "%s", an);
        hid_t sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
        hid_t a = sp >= 0 ? H5Acreate2(obj, nm, t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
        if (a < 0 || H5Awrite(a, t, buf + at * isz) < 0)
            s = h5w_fail(path, objname, PTM_ERR_IO, "cannot write attribute %s", nm);
        if (a >= 0)
            H5Aclose(a);
        if (sp >= 0)
            H5Sclose(sp);
        at += cnt;
    }
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return s;
}

/* File and memory types of a ptm dtype; -1 if h5 cannot hold it. */
static ptm_status types_of(ptm_dtype dt, hid_t *ft, hid_t *mt)
{
    *ft = *mt = -1;
    switch (dt) {
    case PTM_F32: *ft = H5Tcopy(H5T_IEEE_F32LE); *mt = H5Tcopy(H5T_NATIVE_FLOAT); break;
    case PTM_F64: *ft = H5Tcopy(H5T_IEEE_F64LE); *mt = H5Tcopy(H5T_NATIVE_DOUBLE); break;
    case PTM_I8: *ft = H5Tcopy(H5T_STD_I8LE); *mt = H5Tcopy(H5T_NATIVE_INT8); break;
    case PTM_I16: *ft = H5Tcopy(H5T_STD_I16LE); *mt = H5Tcopy(H5T_NATIVE_INT16); break;
    case PTM_I32: *ft = H5Tcopy(H5T_STD_I32LE); *mt = H5Tcopy(H5T_NATIVE_INT32); break;
    case PTM_I64: *ft = H5Tcopy(H5T_STD_I64LE); *mt = H5Tcopy(H5T_NATIVE_INT64); break;
    case PTM_U8: *ft = H5Tcopy(H5T_STD_U8LE); *mt = H5Tcopy(H5T_NATIVE_UINT8); break;
    case PTM_F16: /* as h5py builds float16 */
        for (int k = 0; k < 2; k++) {
            hid_t t = H5Tcopy(k ? H5T_NATIVE_FLOAT : H5T_IEEE_F32LE);
            if (t >= 0 && (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0)) {
                H5Tclose(t);
                t = -1;
            }
            *(k ? mt : ft) = t;
        }
        break;
    case PTM_BOOL: { /* as h5py: an int8 enum FALSE = 0, TRUE = 1 */
        signed char f = 0, tr = 1;
        *ft = H5Tenum_create(H5T_NATIVE_INT8);
        if (*ft >= 0 && (H5Tenum_insert(*ft, "FALSE", &f) < 0 || H5Tenum_insert(*ft, "TRUE", &tr) < 0)) {
            H5Tclose(*ft);
            *ft = -1;
        }
        *mt = *ft >= 0 ? H5Tcopy(*ft) : -1;
        break;
    }
    default: return PTM_ERR_UNSUPPORTED;
    }
    if (*ft < 0 || *mt < 0) {
        if (*ft >= 0)
            H5Tclose(*ft);
        if (*mt >= 0)
            H5Tclose(*mt);
        *ft = *mt = -1;
        return PTM_ERR_NOMEM;
    }
    return PTM_OK;
}

/* `expand`: store a 1-D tensor as [1, n] (TFConv1D biases). */
static ptm_status write_dataset(const char *path, hid_t file, hid_t lcpl, const char *dpath, const char *pt,
                                const ptm_tensor *t, int kind, int expand)
{
    ptm_dtype dt = ptm_tensor_dtype(t);
    hid_t ft, mt;
    ptm_status s = types_of(dt, &ft, &mt);
    if (s == PTM_ERR_UNSUPPORTED)
        return h5w_fail(path, pt, PTM_ERR_UNSUPPORTED, "h5 cannot hold %s tensors (cast to float32 or float16 first)",
                        ptm_dtype_name(dt));
    if (s)
        return h5w_fail(path, pt, s, "cannot build the HDF5 type");
    const void *data = ptm_tensor_data(t);
    size_t nb = ptm_tensor_nbytes(t);
    int nd = ptm_tensor_ndim(t);
    int64_t shape[PTM_MAX_DIMS];
    hsize_t dims[PTM_MAX_DIMS];
    void *tmp = NULL;
    if (!data && nb)
        s = h5w_fail(path, pt, PTM_ERR_UNSUPPORTED, "tensor is not in host memory");
    if (!s && kind != H5P_T_NO && nb) {
        if (!(tmp = malloc(nb)))
            s = h5w_fail(path, pt, PTM_ERR_NOMEM, "out of memory");
        else
            h5p_transpose(data, tmp, ptm_dtype_size(dt), nd, ptm_tensor_shape(t), kind, 0, shape);
        data = tmp;
    }
    h5p_perm_shape(nd, ptm_tensor_shape(t), kind, 0, shape);
    for (int d = 0; d < nd; d++)
        dims[d] = (hsize_t)shape[d];
    if (expand && nd == 1) {
        dims[1] = dims[0];
        dims[0] = 1;
        nd = 2;
    }
    hid_t sp = -1, d = -1;
    if (!s) {
        sp = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
        d = sp >= 0 ? H5Dcreate2(file, dpath, ft, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT) : -1;
        if (d < 0 || (nb && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
            s = h5w_fail(path, dpath, PTM_ERR_IO, "cannot write the dataset");
    }
    if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
    H5Tclose(ft);
    H5Tclose(mt);
    free(tmp);
    return s;
}

typedef struct wentry {
    char *pt, *layer, *var;
    int kind, layer_ix, expand;
} wentry;

static ptm_status write_all(const char *path, hid_t file, const ptm_state_dict *sd, wentry *w, size_t n)
{
    ptm_status s = PTM_OK;
    char **layers = calloc(n ? n : 1, sizeof *layers);
    size_t nl = 0;
    if (!layers)
        return h5w_fail(path, NULL, PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nl && strcmp(layers[k], w[i].layer))
            k++;
        if (k == nl)
            layers[nl++] = w[i].layer;
        w[i].layer_ix = (int)k;
    }
    char *backend = "tensorflow", *kv = "2.15.0";
    if ((s = write_names(path, file, "/", "backend", &backend, 1, 1)) ||
        (s = write_names(path, file, "/", "keras_version", &kv, 1, 1)) ||
        (s = write_names(path, file, "/", "layer_names", layers, nl, 0))) {
        free(layers);
        return s;
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
        s = h5w_fail(path, NULL, PTM_ERR_NOMEM, "cannot set up HDF5");
    char **vars = calloc(n ? n : 1, sizeof *vars);
    if (!s && !vars)
        s = h5w_fail(path, NULL, PTM_ERR_NOMEM, "out of memory");
    for (size_t L = 0; L < nl && !s; L++) {
        hid_t g = H5Gcreate2(file, layers[L], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            s = h5w_fail(path, layers[L], PTM_ERR_IO, "cannot create the layer group");
            break;
        }
        size_t nv = 0;
        for (size_t i = 0; i < n; i++)
            if (w[i].layer_ix == (int)L)
                vars[nv++] = w[i].var;
        s = write_names(path, g, layers[L], "weight_names", vars, nv, 0);
        for (size_t i = 0; i < n && !s; i++) {
            if (w[i].layer_ix != (int)L)
                continue;
            char *dp = malloc(strlen(layers[L]) + strlen(w[i].var) + 2);
            if (!dp) {
                s = h5w_fail(path, w[i].pt, PTM_ERR_NOMEM, "out of memory");
                break;
            }
            sprintf(dp, "%s/%s", layers[L], w[i].var);
            s = write_dataset(path, file, lcpl, dp, w[i].pt, ptm_state_dict_tensor(sd, i), w[i].kind, w[i].expand);
            free(dp);
        }
        H5Gclose(g);
    }
    free(vars);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    free(layers);
    return s;
}

ptm_status h5p_save_model(const char *path, const ptm_state_dict *sd, const struct ptm_save_info *info)
{
    if (!path || !sd)
        return ptm_error(PTM_ERR_INVALID_ARG, "h5: save: NULL argument");
    const char *cls = NULL, *prefix = "";
    const int *roles = NULL;
    const unsigned *flags = NULL;
    if (info && info->struct_size >= offsetof(ptm_save_info, roles) + sizeof info->roles) {
        cls = info->class_name;
        prefix = info->base_model_prefix ? info->base_model_prefix : "";
        roles = info->roles;
    }
    if (info && info->struct_size >= offsetof(ptm_save_info, flags) + sizeof info->flags)
        flags = info->flags; /* architecture hints: PTM_PARAM_TF_CONV1D */
    size_t n = ptm_state_dict_size(sd), pl = strlen(prefix);
    /* a base model class: its names gain the prefix (TF models always have
     * the main layer, e.g. "transformer") */
    int add_prefix = pl > 0 && n > 0;
    for (size_t i = 0; i < n && add_prefix; i++) {
        const char *nm = ptm_state_dict_name(sd, i);
        if (!strncmp(nm, prefix, pl) && nm[pl] == '.')
            add_prefix = 0;
    }
    char *model = h5p_keras_model_name(cls && *cls ? cls : "Model");
    wentry *w = calloc(n ? n : 1, sizeof *w);
    ptm_status s = model && w ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "%s: out of memory", path);
    int seen_embedding = 0;
    for (size_t i = 0; i < n && !s; i++) {
        const char *nm = ptm_state_dict_name(sd, i);
        const ptm_tensor *t = ptm_state_dict_tensor(sd, i);
        int role = roles ? roles[i] : PTM_ROLE_OTHER, rank = ptm_tensor_ndim(t);
        if (!(w[i].pt = malloc(pl + strlen(nm) + 2))) {
            s = ptm_error(PTM_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        sprintf(w[i].pt, "%s%s%s", add_prefix ? prefix : "", add_prefix ? "." : "", nm);
        int first_emb = role == PTM_ROLE_EMBEDDING && !seen_embedding;
        seen_embedding |= role == PTM_ROLE_EMBEDDING;
        int conv1d = flags && (flags[i] & PTM_PARAM_TF_CONV1D);
        if ((s = h5p_pt_to_tf(model, w[i].pt, role, rank, first_emb, conv1d && rank == 2, &w[i].layer, &w[i].var,
                              &w[i].kind))) {
            s = ptm_error(s, "%s: out of memory", path);
            break;
        }
        w[i].expand = conv1d && rank == 1; /* TFConv1D biases are [1, n] */
        /* it must read back as the name it came from */
        char *back = NULL;
        int k2;
        if (h5p_tf_to_pt(w[i].var, 1, rank, &back, &k2) != PTM_OK || strcmp(back, w[i].pt) || k2 != w[i].kind)
            s = ptm_error(PTM_ERR_UNSUPPORTED,
                          "%s: tensor \"%s\": TF variable \"%s\" would read back as \"%s\"; h5 cannot keep this name",
                          path, nm, w[i].var, back ? back : "(nothing)");
        free(back);
    }
    if (!s) {
        h5w_lock();
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0)
            s = h5w_fail(path, NULL, PTM_ERR_IO, "cannot create the file");
        else {
            s = write_all(path, f, sd, w, n);
            if (H5Fclose(f) < 0 && !s)
                s = h5w_fail(path, NULL, PTM_ERR_IO, "cannot finish the file");
        }
        h5w_unlock();
    }
    for (size_t i = 0; w && i < n; i++) {
        free(w[i].pt);
        free(w[i].layer);
        free(w[i].var);
    }
    free(w);
    free(model);
    return s;
}

ptm_status h5p_save(const char *path, const ptm_state_dict *sd, const char *const *metadata)
{
    (void)metadata;
    return h5p_save_model(path, sd, NULL);
}

#endif /* H5P_READER_ONLY */
