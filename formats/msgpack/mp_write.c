/* SPDX-License-Identifier: Apache-2.0 */
/* mp_write.c - the Flax msgpack writer: a state dict with PyTorch names is
 * written the way flax.serialization.to_bytes writes a transformers Flax
 * model's params (formats.md §3.1-3.3, the PyTorch -> Flax rules of §3.6):
 * nested maps keyed by the name's components in first-appearance order,
 * leaves as ext type 1 [shape, dtype name, C-order bytes], leaves over 2^30
 * bytes as chunked dicts.  The parameter roles decide the leaf names:
 * embeddings -> "embedding", norm weights -> "scale", linear/conv weights ->
 * "kernel" (transposed back: .T, conv (2,3,1,0)); with no role, a 1-D
 * "weight" is taken for a norm scale and others for kernels; running_mean/var go to a
 * "batch_stats" collection as mean/var (the tree then gets the
 * {"params", "batch_stats"} top level); num_batches_tracked is dropped. */
#include "mp_internal.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wnode {
    const char *key;
    size_t klen;
    size_t first, last, next; /* children (0 = none; node 0 is the root) */
    uint32_t nchild;
    long leaf; /* index into the leaves, or -1 for a map */
} wnode;

typedef struct wleaf {
    const ptm_tensor *t;
    const char *name;
    int permuted;
    int perm[PTM_MAX_DIMS];
} wleaf;

typedef struct writer {
    const char *path;
    FILE *f;
    int io_err;
    wnode *nodes;
    size_t n, cap;
    wleaf *leaves;
    size_t nleaves;
    char **copies; /* the split names */
    size_t ncopies;
} writer;

static int file_write(void *data, const char *buf, size_t len)
{
    writer *w = data;
    if (len && fwrite(buf, 1, len, w->f) != len) {
        w->io_err = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

static ptm_status add_node(writer *w, size_t parent, const char *key, size_t klen, long leaf, size_t *out)
{
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 64;
        wnode *nn = realloc(w->nodes, nc * sizeof *nn);
        if (!nn)
            return mp_fail(w->path, PTM_ERR_NOMEM, "out of memory");
        w->nodes = nn;
        w->cap = nc;
    }
    size_t k = w->n++;
    wnode *x = &w->nodes[k];
    memset(x, 0, sizeof *x);
    x->key = key;
    x->klen = klen;
    x->leaf = leaf;
    if (k) {
        wnode *p = &w->nodes[parent];
        if (p->last)
            w->nodes[p->last].next = k;
        else
            p->first = k;
        p->last = k;
        p->nchild++;
    }
    *out = k;
    return PTM_OK;
}

static size_t find_child(const writer *w, size_t parent, const char *key, size_t klen)
{
    for (size_t c = w->nodes[parent].first; c; c = w->nodes[c].next)
        if (w->nodes[c].klen == klen && !memcmp(w->nodes[c].key, key, klen))
            return c;
    return 0;
}

/* Place tensor `i` (PyTorch name, role) in the tree. */
static ptm_status place(writer *w, const char *name, const ptm_tensor *t, int role, int *has_stats)
{
    char *copy = strdup(name);
    if (!copy)
        return mp_fail(w->path, PTM_ERR_NOMEM, "out of memory");
    w->copies[w->ncopies++] = copy;
    const char *comp[MP_MAX_DEPTH];
    size_t nc = 0;
    for (char *p = copy;;) {
        char *dot = strchr(p, '.');
        /* the reader's depth limit holds the top level, a collection
         * level and a chunked dict's two levels besides the components */
        if (nc == MP_MAX_DEPTH - 4)
            return mp_fail(w->path, PTM_ERR_UNSUPPORTED, "tensor \"%s\": more than %d name components", name,
                           MP_MAX_DEPTH - 4);
        comp[nc++] = p;
        if (!dot)
            break;
        *dot = '\0';
        p = dot + 1;
    }
    const char *last = comp[nc - 1];
    int nd = ptm_tensor_ndim(t);
    wleaf lf;
    memset(&lf, 0, sizeof lf);
    lf.t = t;
    lf.name = name;
    for (int k = 0; k < nd; k++)
        lf.perm[k] = k;
    const char *coll = NULL;
    if (!strcmp(last, "num_batches_tracked"))
        return PTM_OK; /* transformers drops it */
    if (!strcmp(last, "running_mean") || !strcmp(last, "running_var")) {
        coll = "batch_stats";
        comp[nc - 1] = last[8] == 'm' ? "mean" : "var";
        *has_stats = 1;
    } else if (!strcmp(last, "weight") && role == PTM_ROLE_EMBEDDING) {
        comp[nc - 1] = "embedding";
    } else if (!strcmp(last, "weight") && (role == PTM_ROLE_NORM_WEIGHT || (role == PTM_ROLE_OTHER && nd <= 1))) {
        comp[nc - 1] = "scale";
    } else if (!strcmp(last, "weight")) {
        comp[nc - 1] = "kernel";
        if (nd == 4) {
            static const int conv[4] = {2, 3, 1, 0}; /* OIHW -> HWIO */
            memcpy(lf.perm, conv, sizeof conv);
        } else {
            for (int k = 0; k < nd; k++)
                lf.perm[k] = nd - 1 - k;
        }
        lf.permuted = nd >= 2;
    }
    /* the collection level: resolved after all tensors are known, so store
     * it as a first component and strip it when there are no batch stats */
    size_t node = 0;
    const char *first = coll ? coll : "params";
    size_t c = find_child(w, 0, first, strlen(first));
    ptm_status s = PTM_OK;
    if (!c && (s = add_node(w, 0, first, strlen(first), -1, &c)))
        return s;
    node = c;
    for (size_t k = 0; k + 1 < nc; k++) {
        size_t ch = find_child(w, node, comp[k], strlen(comp[k]));
        if (ch && w->nodes[ch].leaf >= 0)
            return mp_fail(w->path, PTM_ERR_INVALID_ARG, "tensor \"%s\": \"%s\" is also a tensor (%s)", name, comp[k],
                           w->leaves[w->nodes[ch].leaf].name);
        if (!ch && (s = add_node(w, node, comp[k], strlen(comp[k]), -1, &ch)))
            return s;
        node = ch;
    }
    size_t ch = find_child(w, node, comp[nc - 1], strlen(comp[nc - 1]));
    if (ch)
        return mp_fail(w->path, PTM_ERR_INVALID_ARG, "tensor \"%s\": its Flax key \"%s\" is taken by %s", name,
                       comp[nc - 1], w->nodes[ch].leaf >= 0 ? w->leaves[w->nodes[ch].leaf].name : "a module");
    w->leaves[w->nleaves] = lf;
    if ((s = add_node(w, node, comp[nc - 1], strlen(comp[nc - 1]), (long)w->nleaves, &ch)))
        return s;
    w->nleaves++;
    return PTM_OK;
}

/* One ext type 1 ndarray: [shape, dtype name, raw bytes]. */
static ptm_status pack_ndarray(writer *w, msgpack_packer *pk, const char *dname, int nd, const int64_t *shape,
                               const uint8_t *data, size_t nbytes)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer hp;
    msgpack_packer_init(&hp, &sb, msgpack_sbuffer_write);
    int bad = msgpack_pack_array(&hp, 3) || msgpack_pack_array(&hp, (size_t)nd);
    for (int k = 0; k < nd && !bad; k++)
        bad = msgpack_pack_uint64(&hp, (uint64_t)shape[k]);
    bad = bad || msgpack_pack_str_with_body(&hp, dname, strlen(dname)) || msgpack_pack_bin(&hp, nbytes);
    if (bad) {
        msgpack_sbuffer_destroy(&sb);
        return mp_fail(w->path, PTM_ERR_NOMEM, "out of memory");
    }
    bad = msgpack_pack_ext(pk, sb.size + nbytes, 1) || msgpack_pack_ext_body(pk, sb.data, sb.size) ||
          (nbytes && msgpack_pack_ext_body(pk, data, nbytes));
    msgpack_sbuffer_destroy(&sb);
    return bad ? PTM_ERR_IO : PTM_OK;
}

static int pack_key(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str_with_body(pk, s, n);
}

static ptm_status pack_leaf(writer *w, msgpack_packer *pk, const wleaf *lf)
{
    const ptm_tensor *t = lf->t;
    ptm_dtype dt = ptm_tensor_dtype(t);
    const char *dname = mp_dtype_name(dt);
    const uint8_t *data = ptm_tensor_data(t);
    size_t nbytes = ptm_tensor_nbytes(t), es = ptm_dtype_size(dt);
    int nd = ptm_tensor_ndim(t);
    if (!dname)
        return mp_fail(w->path, PTM_ERR_DTYPE, "tensor \"%s\": dtype %s has no numpy name", lf->name,
                       ptm_dtype_name(dt));
    if (!data && nbytes)
        return mp_fail(w->path, PTM_ERR_UNSUPPORTED, "tensor \"%s\" is not in host memory", lf->name);
    int64_t fshape[PTM_MAX_DIMS];
    for (int k = 0; k < nd; k++)
        fshape[k] = ptm_tensor_dim(t, lf->perm[k]);
    uint8_t *tmp = NULL;
    if (lf->permuted && nbytes) {
        if (!(tmp = malloc(nbytes)))
            return mp_fail(w->path, PTM_ERR_NOMEM, "tensor \"%s\": out of memory", lf->name);
        mp_permute(data, tmp, es, nd, ptm_tensor_shape(t), lf->perm);
        data = tmp;
    }
    ptm_status s = PTM_OK;
    if ((uint64_t)nbytes <= MP_MAX_CHUNK_SIZE) {
        s = pack_ndarray(w, pk, dname, nd, fshape, data, nbytes);
    } else {
        /* flax's _chunk */
        size_t per = (size_t)(MP_MAX_CHUNK_SIZE / es), numel = nbytes / es, nch = (numel + per - 1) / per;
        char num[24];
        int bad = msgpack_pack_map(pk, 3) || pack_key(pk, MP_CHUNK_MARKER, strlen(MP_CHUNK_MARKER)) ||
                  msgpack_pack_true(pk) || pack_key(pk, "shape", 5) || msgpack_pack_map(pk, (size_t)nd);
        for (int k = 0; k < nd && !bad; k++) {
            snprintf(num, sizeof num, "%d", k);
            bad = pack_key(pk, num, strlen(num)) || msgpack_pack_uint64(pk, (uint64_t)fshape[k]);
        }
        bad = bad || pack_key(pk, "chunks", 6) || msgpack_pack_map(pk, nch);
        for (size_t c = 0; c < nch && !bad && !s; c++) {
            int64_t cn = (int64_t)(c + 1 < nch ? per : numel - c * per);
            snprintf(num, sizeof num, "%zu", c);
            bad = pack_key(pk, num, strlen(num));
            if (!bad)
                s = pack_ndarray(w, pk, dname, 1, &cn, data + c * per * es, (size_t)cn * es);
        }
        if (bad && !s)
            s = PTM_ERR_IO;
    }
    free(tmp);
    return s;
}

static ptm_status pack_node(writer *w, msgpack_packer *pk, size_t k)
{
    const wnode *x = &w->nodes[k];
    if (x->leaf >= 0)
        return pack_leaf(w, pk, &w->leaves[x->leaf]);
    if (msgpack_pack_map(pk, x->nchild))
        return PTM_ERR_IO;
    for (size_t c = x->first; c; c = w->nodes[c].next) {
        ptm_status s;
        if (pack_key(pk, w->nodes[c].key, w->nodes[c].klen))
            return PTM_ERR_IO;
        if ((s = pack_node(w, pk, c)))
            return s;
    }
    return PTM_OK;
}

static ptm_status write_all(const char *path, const ptm_state_dict *sd, const int *roles)
{
    if (!path || !sd)
        return ptm_error(PTM_ERR_INVALID_ARG, "msgpack save: NULL argument");
    size_t n = ptm_state_dict_size(sd);
    writer w;
    memset(&w, 0, sizeof w);
    w.path = path;
    ptm_status s = PTM_OK;
    size_t root;
    w.leaves = malloc((n ? n : 1) * sizeof *w.leaves);
    w.copies = malloc((n ? n : 1) * sizeof *w.copies);
    if (!w.leaves || !w.copies)
        s = mp_fail(path, PTM_ERR_NOMEM, "out of memory");
    if (!s)
        s = add_node(&w, 0, "", 0, -1, &root);
    if (!s) /* "params" first, as in a {"params", "batch_stats"} tree */
        s = add_node(&w, 0, "params", 6, -1, &root);
    int has_stats = 0;
    for (size_t i = 0; i < n && !s; i++)
        s = place(&w, ptm_state_dict_name(sd, i), ptm_state_dict_tensor(sd, i), roles ? roles[i] : PTM_ROLE_OTHER,
                  &has_stats);
    if (!s && !(w.f = fopen(path, "wb")))
        s = mp_fail(path, PTM_ERR_IO, "cannot create: %s", strerror(errno));
    if (!s) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &w, file_write);
        /* without batch stats the params are the top level (as transformers saves them) */
        s = pack_node(&w, &pk, has_stats ? 0 : 1);
        if (s == PTM_ERR_IO || w.io_err)
            s = mp_fail(path, PTM_ERR_IO, "write failed: %s", strerror(w.io_err ? w.io_err : EIO));
        if (fclose(w.f) != 0 && !s)
            s = mp_fail(path, PTM_ERR_IO, "write failed: %s", strerror(errno));
    }
    for (size_t i = 0; i < w.ncopies; i++)
        free(w.copies[i]);
    free(w.copies);
    free(w.leaves);
    free(w.nodes);
    return s;
}

ptm_status mp_save(const char *path, const ptm_state_dict *sd, const char *const *metadata)
{
    (void)metadata; /* Flax files have no metadata */
    return write_all(path, sd, NULL);
}

ptm_status mp_save_model(const char *path, const ptm_state_dict *sd, const ptm_save_info *info)
{
    const int *roles = NULL;
    if (info && info->struct_size >= offsetof(ptm_save_info, roles) + sizeof info->roles)
        roles = info->roles;
    return write_all(path, sd, roles);
}
