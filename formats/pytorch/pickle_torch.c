/* SPDX-License-Identifier: Apache-2.0 */
/* pickle_torch.c - the torch side of the weights-only interpreter: the
 * allow-list of globals (resolved when a GLOBAL is read, so nothing outside
 * it is ever reachable), storage persistent ids checked against the
 * archive's records, _rebuild_tensor_v2/_v3 and _rebuild_parameter checked
 * against their storage, and the state dict taken from the top object. */
#include "pickle_vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- globals */

static const struct {
    const char *name;
    int dtype;
} storage_classes[] = {
    {"DoubleStorage", PTM_F64}, {"FloatStorage", PTM_F32}, {"HalfStorage", PTM_F16},
    {"BFloat16Storage", PTM_BF16}, {"LongStorage", PTM_I64}, {"IntStorage", PTM_I32},
    {"ShortStorage", PTM_I16}, {"CharStorage", PTM_I8}, {"ByteStorage", PTM_U8},
    {"BoolStorage", PTM_BOOL},
    /* allowed by torch, no ptm dtype */
    {"ComplexDoubleStorage", -1}, {"ComplexFloatStorage", -1}, {"QInt8Storage", -1},
    {"QUInt8Storage", -1}, {"QInt32Storage", -1}, {"QUInt4x2Storage", -1}, {"QUInt2x4Storage", -1},
};

int pt_storage_class_dtype(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof storage_classes / sizeof storage_classes[0]; i++)
        if (strlen(storage_classes[i].name) == len && memcmp(storage_classes[i].name, name, len) == 0)
            return storage_classes[i].dtype;
    return -2;
}

const char *pt_storage_class_name(ptm_dtype dt)
{
    for (size_t i = 0; i < sizeof storage_classes / sizeof storage_classes[0]; i++)
        if (storage_classes[i].dtype == (int)dt)
            return storage_classes[i].name;
    return NULL;
}

static const char *const known_unsupported_dtypes[] = {
    "complex128", "complex64", "complex32", "cdouble", "cfloat", "chalf", "qint8", "qint32", "quint8",
    "quint4x2", "quint2x4", "uint16", "uint32", "uint64", "float8_e5m2fnuz", "float8_e4m3fnuz",
    "float8_e8m0fnu", "float4_e2m1fn_x2", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", NULL};

/* Resolve module.name; on success fills the global object. */
ptm_status pt_resolve_global(vm *m, const char *mod, size_t ml, const char *nm, size_t nl, obj *g)
{
#define IS(s, l, lit) ((l) == sizeof(lit) - 1 && memcmp((s), (lit), (l)) == 0)
    g->i = -1;
    if (IS(mod, ml, "collections") && IS(nm, nl, "OrderedDict")) {
        g->flag = G_ODICT;
        return PTM_OK;
    }
    if (IS(mod, ml, "torch._utils")) {
        if (IS(nm, nl, "_rebuild_tensor_v2")) {
            g->flag = G_REBUILD_V2;
            return PTM_OK;
        }
        if (IS(nm, nl, "_rebuild_tensor_v3")) {
            g->flag = G_REBUILD_V3;
            return PTM_OK;
        }
        if (IS(nm, nl, "_rebuild_parameter")) {
            g->flag = G_REBUILD_PARAM;
            return PTM_OK;
        }
        if (IS(nm, nl, "_rebuild_parameter_with_state")) {
            g->flag = G_REBUILD_PARAM_STATE;
            return PTM_OK;
        }
    }
    if ((IS(mod, ml, "torch") || IS(mod, ml, "torch.storage")) && IS(nm, nl, "UntypedStorage")) {
        g->flag = G_UNTYPED;
        return PTM_OK;
    }
    if (IS(mod, ml, "torch")) {
        int dt = pt_storage_class_dtype(nm, nl);
        if (dt >= 0) {
            g->flag = G_STORAGE;
            g->i = dt;
            return PTM_OK;
        }
        if (dt == -1)
            return pv_fail(m, PTM_ERR_UNSUPPORTED, "storage class torch.%.*s has no ptm dtype", (int)nl, nm);
        /* a dtype global: torch.float32, torch.float8_e4m3fn, ... */
        char buf[40];
        if (nl < sizeof buf) {
            memcpy(buf, nm, nl);
            buf[nl] = 0;
            for (int d = 0; d < PTM_DTYPE_COUNT; d++) {
                const char *tn = ptm_dtype_torch_name((ptm_dtype)d);
                if (tn && strcmp(tn, buf) == 0) {
                    g->flag = G_DTYPE;
                    g->i = d;
                    return PTM_OK;
                }
            }
            for (size_t k = 0; known_unsupported_dtypes[k]; k++)
                if (strcmp(known_unsupported_dtypes[k], buf) == 0)
                    return pv_fail(m, PTM_ERR_UNSUPPORTED, "dtype torch.%s has no ptm dtype", buf);
        }
    }
#undef IS
    return pv_fail(m, PTM_ERR_FORMAT,
                 "global %.*s.%.*s is not allowed in a weights-only load (only torch tensor rebuild functions, "
                 "storage classes, dtypes and collections.OrderedDict are); refusing the file",
                 (int)(ml > 120 ? 120 : ml), mod, (int)(nl > 120 ? 120 : nl), nm);
}

/* ------------------------------------------------------------- helpers */

static int is_int(const obj *o) { return o->k == V_INT || o->k == V_BOOL; }

static int str_eq(const obj *o, const char *lit)
{
    size_t n = strlen(lit);
    return o->k == V_STR && o->slen == n && memcmp(o->s, lit, n) == 0;
}

/* The int tuple `o` (size or stride) into out[]. */
static ptm_status int_tuple(vm *m, const obj *o, const char *what, int64_t *out, int *n)
{
    if (o->k != V_TUPLE)
        return pv_fail(m, PTM_ERR_FORMAT, "tensor %s must be a tuple of ints, not a %s", what, pv_kind_name(o));
    if (o->n > PTM_MAX_DIMS)
        return pv_fail(m, PTM_ERR_UNSUPPORTED, "tensor %s has %zu dimensions; ptm supports at most %d", what, o->n,
                     PTM_MAX_DIMS);
    for (size_t i = 0; i < o->n; i++) {
        if (o->items[i]->k != V_INT)
            return pv_fail(m, PTM_ERR_FORMAT, "tensor %s holds a %s, not an int", what, pv_kind_name(o->items[i]));
        if (o->items[i]->i < 0)
            return pv_fail(m, PTM_ERR_FORMAT, "tensor %s holds the negative value %" PRId64, what, o->items[i]->i);
        out[i] = o->items[i]->i;
    }
    *n = (int)o->n;
    return PTM_OK;
}

/* BINPERSID: ('storage', class, key, location, numel) -> a storage object. */
ptm_status pt_persistent_load(vm *m, obj *pid, obj **out)
{
    if (pid->k != V_TUPLE || pid->n < 1 || !str_eq(pid->items[0], "storage"))
        return pv_fail(m, PTM_ERR_FORMAT, "persistent id must be a tuple starting with 'storage' (got a %s)",
                     pv_kind_name(pid));
    if (pid->n != 5)
        return pv_fail(m, PTM_ERR_FORMAT, "storage persistent id has %zu fields, not 5", pid->n);
    obj *cls = pid->items[1], *key = pid->items[2], *loc = pid->items[3], *numel = pid->items[4];
    if (cls->k != V_GLOBAL || (cls->flag != G_STORAGE && cls->flag != G_UNTYPED))
        return pv_fail(m, PTM_ERR_FORMAT, "storage persistent id names %s, not a storage class", pv_kind_name(cls));
    if (key->k != V_STR || key->slen == 0 || key->slen > 64 || memchr(key->s, 0, key->slen) || memchr(key->s, '/', key->slen))
        return pv_fail(m, PTM_ERR_FORMAT, "storage key must be a short non-empty string");
    if (loc->k != V_STR)
        return pv_fail(m, PTM_ERR_FORMAT, "storage location must be a string, not a %s", pv_kind_name(loc));
    if (numel->k != V_INT || numel->i < 0)
        return pv_fail(m, PTM_ERR_FORMAT, "storage numel must be a non-negative int");
    int dt = cls->flag == G_STORAGE ? (int)cls->i : -1;
    size_t es = dt >= 0 ? ptm_dtype_size((ptm_dtype)dt) : 1;
    uint64_t nbytes;
    if (__builtin_mul_overflow((uint64_t)numel->i, (uint64_t)es, &nbytes))
        return pv_fail(m, PTM_ERR_FORMAT, "storage '%.*s' declares %" PRId64 " elements: the byte size overflows",
                     (int)key->slen, key->s, numel->i);
    pt_pickle_result *r = m->res;
    for (size_t i = 0; i < r->n_st; i++) {
        if (strlen(r->st[i].key) == key->slen && memcmp(r->st[i].key, key->s, key->slen) == 0) {
            if (r->st[i].nbytes != nbytes || r->st[i].dtype != dt)
                return pv_fail(m, PTM_ERR_FORMAT, "storage '%s' is declared twice with different types or sizes",
                             r->st[i].key);
            obj *o = pv_new_obj(m, V_STORAGE);
            if (!o)
                return pv_nomem(m);
            o->i = (int64_t)i;
            *out = o;
            return PTM_OK;
        }
    }
    if (pv_grow((void **)&r->st, &m->cap_st, r->n_st + 1, sizeof *r->st))
        return pv_nomem(m);
    pt_storage *S = &r->st[r->n_st];
    memset(S, 0, sizeof *S);
    if (!(S->key = malloc(key->slen + 1)))
        return pv_nomem(m);
    memcpy(S->key, key->s, key->slen);
    S->key[key->slen] = 0;
    S->dtype = dt;
    S->nbytes = nbytes;
    r->n_st++;
    uint64_t off = 0, have = 0;
    if (m->lookup(m->user, S->key, &off, &have) != 0)
        return pv_fail(m, PTM_ERR_FORMAT, "storage '%s' has no record data/%s in the archive", S->key, S->key);
    if (have < nbytes)
        return pv_fail(m, PTM_ERR_FORMAT,
                     "storage '%s' declares %" PRIu64 " bytes (%" PRId64 " elements) but its record data/%s holds %" PRIu64,
                     S->key, nbytes, numel->i, S->key, have);
    S->data_off = off;
    obj *o = pv_new_obj(m, V_STORAGE);
    if (!o)
        return pv_nomem(m);
    o->i = (int64_t)(r->n_st - 1);
    *out = o;
    return PTM_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
 * _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]) */
static ptm_status rebuild_tensor(vm *m, int v3, obj *args, obj **out)
{
    const char *fn = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2";
    size_t need = v3 ? 7 : 6;
    if (args->k != V_TUPLE || args->n < need || args->n > need + 1)
        return pv_fail(m, PTM_ERR_FORMAT, "%s takes %zu or %zu arguments, got %s of %zu", fn, need, need + 1,
                     pv_kind_name(args), args->k == V_TUPLE ? args->n : 0);
    obj **a = args->items;
    if (a[0]->k != V_STORAGE)
        return pv_fail(m, PTM_ERR_FORMAT, "%s: argument 0 is a %s, not a storage", fn, pv_kind_name(a[0]));
    if (a[1]->k != V_INT || a[1]->i < 0)
        return pv_fail(m, PTM_ERR_FORMAT, "%s: the storage offset must be a non-negative int", fn);
    const pt_storage *S = &m->res->st[a[0]->i];
    pt_rec R;
    memset(&R, 0, sizeof R);
    ptm_status s;
    int nd2 = 0;
    if ((s = int_tuple(m, a[2], "size", R.shape, &R.ndim)) || (s = int_tuple(m, a[3], "stride", R.stride, &nd2)))
        return s;
    if (nd2 != R.ndim)
        return pv_fail(m, PTM_ERR_FORMAT, "%s: size has %d dimensions but stride has %d", fn, R.ndim, nd2);
    if (!is_int(a[4]))
        return pv_fail(m, PTM_ERR_FORMAT, "%s: requires_grad must be a bool", fn);
    int dt = S->dtype;
    if (v3) {
        if (a[6]->k != V_GLOBAL || a[6]->flag != G_DTYPE)
            return pv_fail(m, PTM_ERR_FORMAT, "%s: argument 6 is a %s, not a torch dtype", fn, pv_kind_name(a[6]));
        if (dt >= 0 && dt != (int)a[6]->i)
            return pv_fail(m, PTM_ERR_FORMAT, "%s: dtype %s does not match its storage class", fn, a[6]->s);
        dt = (int)a[6]->i;
    } else if (dt < 0) {
        return pv_fail(m, PTM_ERR_FORMAT, "%s on an UntypedStorage: the dtype is unknown", fn);
    }
    R.dtype = (ptm_dtype)dt;
    R.offset = (uint64_t)a[1]->i;
    R.storage = (size_t)a[0]->i;
    /* extent: (offset + sum((size-1)*stride) + 1) * esize <= storage bytes */
    uint64_t es = ptm_dtype_size(R.dtype), last = R.offset, numel = 1;
    int empty = 0, ovf = 0;
    for (int d = 0; d < R.ndim; d++) {
        if (R.shape[d] == 0)
            empty = 1;
        ovf |= __builtin_mul_overflow(numel, (uint64_t)R.shape[d], &numel);
    }
    for (int d = 0; d < R.ndim && !empty; d++) {
        uint64_t t;
        ovf |= __builtin_mul_overflow((uint64_t)(R.shape[d] - 1), (uint64_t)R.stride[d], &t);
        ovf |= __builtin_add_overflow(last, t, &last);
    }
    uint64_t endb = 0;
    if (!empty)
        ovf |= __builtin_add_overflow(last, 1, &last);
    else
        last = R.offset;
    ovf |= __builtin_mul_overflow(last, es, &endb);
    ovf |= numel > (uint64_t)INT64_MAX / 8;
    if (ovf || endb > S->nbytes) {
        char sh[160], st[160];
        ptm_shape_str(R.ndim, R.shape, sh, sizeof sh);
        ptm_shape_str(R.ndim, R.stride, st, sizeof st);
        return pv_fail(m, PTM_ERR_FORMAT,
                     "tensor of size %s, stride %s at storage offset %" PRIu64 " reaches past storage '%s' "
                     "(%" PRIu64 " bytes of %s)",
                     sh, st, R.offset, S->key, S->nbytes, ptm_dtype_torch_name(R.dtype));
    }
    /* a stride-0 (expanded) view is materialised on load: bound what a tiny
     * storage can make the reader allocate */
    if (numel * es > S->nbytes && numel * es > ((uint64_t)1 << 28)) {
        char sh[160];
        ptm_shape_str(R.ndim, R.shape, sh, sizeof sh);
        return pv_fail(m, PTM_ERR_UNSUPPORTED,
                       "tensor of size %s (%" PRIu64 " bytes) expands storage '%s' of %" PRIu64
                       " bytes; ptm refuses to materialise such a view",
                       sh, numel * es, S->key, S->nbytes);
    }
    pt_pickle_result *r = m->res;
    if (pv_grow((void **)&r->t, &m->cap_t, r->n + 1, sizeof *r->t))
        return pv_nomem(m);
    r->t[r->n] = R;
    obj *o = pv_new_obj(m, V_TENSOR);
    if (!o)
        return pv_nomem(m);
    o->i = (int64_t)r->n++;
    *out = o;
    return PTM_OK;
}

ptm_status pt_do_reduce(vm *m, obj *fn, obj *args, obj **out)
{
    if (fn->k != V_GLOBAL)
        return pv_fail(m, PTM_ERR_FORMAT, "REDUCE on a %s, which is not an allowed callable", pv_kind_name(fn));
    if (args->k != V_TUPLE)
        return pv_fail(m, PTM_ERR_FORMAT, "REDUCE arguments must be a tuple, not a %s", pv_kind_name(args));
    switch ((gkind)fn->flag) {
    case G_ODICT:
        if (args->n != 0)
            return pv_fail(m, PTM_ERR_UNSUPPORTED, "collections.OrderedDict called with arguments");
        *out = pv_new_obj(m, V_DICT);
        if (!*out)
            return pv_nomem(m);
        (*out)->flag = 1;
        return PTM_OK;
    case G_REBUILD_V2:
    case G_REBUILD_V3:
        return rebuild_tensor(m, fn->flag == G_REBUILD_V3, args, out);
    case G_REBUILD_PARAM:
    case G_REBUILD_PARAM_STATE:
        if (args->n != (fn->flag == G_REBUILD_PARAM ? 3u : 4u) || args->items[0]->k != V_TENSOR)
            return pv_fail(m, PTM_ERR_FORMAT, "%s needs a tensor and %d more arguments", fn->s,
                         fn->flag == G_REBUILD_PARAM ? 2 : 3);
        *out = args->items[0];
        return PTM_OK;
    default:
        return pv_fail(m, PTM_ERR_FORMAT, "REDUCE on %s, which is not an allowed callable", fn->s);
    }
}

void pt_pickle_result_free(pt_pickle_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->t[i].name);
    for (size_t i = 0; i < r->n_st; i++)
        free(r->st[i].key);
    free(r->t);
    free(r->st);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const char *s;
    size_t n;
    size_t pos;
} keyref;

static int cmp_keyref(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The top-level dict -> the result's named tensor list (Python semantics
 * for repeated keys: the last value wins, at the first key's position). */
ptm_status pt_collect(vm *m, obj *top)
{
    pt_pickle_result *r = m->res;
    if (top->k != V_DICT)
        return pv_fail(m, PTM_ERR_FORMAT, "data.pkl holds a %s, not a state dict (a dict of tensors)", pv_kind_name(top));
    size_t n = top->n / 2;
    keyref *kr = calloc(n ? n : 1, sizeof *kr);
    if (!kr)
        return pv_nomem(m);
    for (size_t i = 0; i < n; i++) {
        obj *k = top->items[2 * i];
        if (k->k != V_STR) {
            free(kr);
            return pv_fail(m, PTM_ERR_FORMAT, "state dict key %zu is a %s, not a str", i, pv_kind_name(k));
        }
        if (memchr(k->s, 0, k->slen)) {
            free(kr);
            return pv_fail(m, PTM_ERR_FORMAT, "state dict key %zu contains a NUL byte", i);
        }
        kr[i].s = k->s;
        kr[i].n = k->slen;
        kr[i].pos = i;
    }
    qsort(kr, n, sizeof *kr, cmp_keyref);
    /* for each group of equal keys: the first position keeps the last value */
    size_t *value_of = malloc((n ? n : 1) * sizeof *value_of); /* position -> value position, or SIZE_MAX */
    if (!value_of) {
        free(kr);
        return pv_nomem(m);
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && kr[j + 1].n == kr[i].n && memcmp(kr[j + 1].s, kr[i].s, kr[i].n) == 0)
            j++;
        value_of[kr[i].pos] = kr[j].pos;
        for (size_t k = i + 1; k <= j; k++)
            value_of[kr[k].pos] = SIZE_MAX;
        i = j + 1;
    }
    free(kr);
    /* tensors referenced by the dict, in dict order; each record used once */
    size_t n_rec = r->n;
    pt_rec *out = calloc(n ? n : 1, sizeof *out);
    unsigned char *used = calloc(n_rec ? n_rec : 1, 1);
    size_t k = 0;
    ptm_status s = PTM_OK;
    if (!out || !used)
        s = pv_nomem(m);
    for (size_t i = 0; i < n && !s; i++) {
        if (value_of[i] == SIZE_MAX)
            continue;
        obj *key = top->items[2 * i], *v = top->items[2 * value_of[i] + 1];
        if (v->k != V_TENSOR) {
            r->skipped++;
            continue;
        }
        out[k] = r->t[v->i];
        used[v->i] = 1;
        if (!(out[k].name = malloc(key->slen + 1))) {
            s = pv_nomem(m);
            break;
        }
        memcpy(out[k].name, key->s, key->slen);
        out[k].name[key->slen] = 0;
        k++;
    }
    free(value_of);
    free(used);
    if (s) {
        for (size_t i = 0; i < k; i++)
            free(out[i].name);
        free(out);
        return s;
    }
    free(r->t);
    r->t = out;
    r->n = k;
    return PTM_OK;
}
