/* SPDX-License-Identifier: Apache-2.0 */
/* safetensors.c - the safetensors format plugin: probe, open (every rule of
 * the reference reader, formats.md §1.6, in its order), zero-copy load from
 * the file mapping, metadata, and the plugin descriptor.  The writer is in
 * st_write.c, the header JSON parser in st_json.c. */
#include "st_internal.h"
#include "st_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ dtypes */

const st_dtype st_dtypes[] = {
    /* v0.4 enum order */
    {"BOOL", 8, PTM_BOOL},
    {"U8", 8, PTM_U8},
    {"I8", 8, PTM_I8},
    {"F8_E5M2", 8, PTM_F8_E5M2},
    {"F8_E4M3", 8, PTM_F8_E4M3},
    {"I16", 16, PTM_I16},
    {"U16", 16, -1},
    {"F16", 16, PTM_F16},
    {"BF16", 16, PTM_BF16},
    {"I32", 32, PTM_I32},
    {"U32", 32, -1},
    {"F32", 32, PTM_F32},
    {"F64", 64, PTM_F64},
    {"I64", 64, PTM_I64},
    {"U64", 64, -1},
    /* added after 0.4 (known to safetensors, no ptm dtype) */
    {"F4", 4, -1},
    {"F6_E2M3", 6, -1},
    {"F6_E3M2", 6, -1},
    {"F8_E8M0", 8, -1},
    {"F8_E4M3FNUZ", 8, -1},
    {"F8_E5M2FNUZ", 8, -1},
    {"C64", 64, -1},
};
const size_t st_n_dtypes = sizeof st_dtypes / sizeof st_dtypes[0];

const st_dtype *st_dtype_lookup(const char *s, size_t n)
{
    for (size_t i = 0; i < st_n_dtypes; i++)
        if (strlen(st_dtypes[i].name) == n && memcmp(st_dtypes[i].name, s, n) == 0)
            return &st_dtypes[i];
    return NULL;
}

int st_dtype_rank(ptm_dtype dt)
{
    for (int i = 0; i < ST_N_V04; i++)
        if (st_dtypes[i].ptm == (int)dt)
            return i;
    return -1;
}

ptm_status st_fail(const char *path, ptm_status status, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!path)
        return ptm_error(status, "safetensors: %s", msg);
    size_t n = strlen(path);
    if (n > 300)
        return ptm_error(status, "...%s: %s", path + n - 300, msg);
    return ptm_error(status, "%s: %s", path, msg);
}

/* ------------------------------------------------------------------ source */

typedef struct st_tensor {
    char *name;
    size_t name_len;
    const st_dtype *dt;
    size_t ndim;                  /* as written (may exceed PTM_MAX_DIMS) */
    uint64_t dims[PTM_MAX_DIMS];  /* the first PTM_MAX_DIMS dims */
    int64_t shape[PTM_MAX_DIMS];
    uint64_t numel;
    uint64_t bits;                /* numel * dtype bits, valid unless overflow */
    uint64_t begin, end;
    size_t index;                 /* position in the header */
    size_t key_off;               /* file offset of the name */
    unsigned char overflow;
    unsigned char name_has_nul;
} st_tensor;

typedef struct st_source {
    char *path;
    ptm_buffer *buf;
    size_t data_start; /* 8 + N */
    st_tensor *t;      /* in file (offset) order after validation */
    size_t n, cap;
    char **meta;       /* key, value, key, value ... */
    size_t n_meta, meta_cap;
    int meta_has_nul;
} st_source;

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void quote(const char *s, size_t n, char *out, size_t outsz) { stj_quote(s, n, 160, out, outsz); }

/* "[1, 2, 3]" of the dims as written (first PTM_MAX_DIMS, then "..."). */
static void dims_str(const st_tensor *T, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (size_t i = 0; i < T->ndim && o < len; i++) {
        if (i == PTM_MAX_DIMS) {
            snprintf(buf + o, len - o, ", ...");
            o = strlen(buf);
            break;
        }
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? ", " : "", T->dims[i]);
    }
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

static ptm_status json_fail(const char *path, stj_parser *p, stj_err e)
{
    if (e == STJ_ENOMEM)
        return st_fail(path, PTM_ERR_NOMEM, "%s", p->err);
    return st_fail(path, PTM_ERR_FORMAT, "invalid JSON in header: %s", p->err);
}

#define NEXT(tokp)                                                                                 \
    do {                                                                                           \
        stj_err e_ = stj_next(p, (tokp));                                                          \
        if (e_ != STJ_OK)                                                                          \
            return json_fail(path, p, e_);                                                         \
    } while (0)

static int key_is(const stj_parser *p, const char *k)
{
    size_t n = strlen(k);
    return p->str_len == n && memcmp(p->str, k, n) == 0;
}

/* Parse one array of unsigned integers ("shape" or "data_offsets") of the
 * tensor T; the array's '[' was not yet read. */
static ptm_status parse_uint_array(st_source *src, stj_parser *p, st_tensor *T, int is_shape, const char *qn)
{
    const char *path = src->path;
    const char *field = is_shape ? "shape" : "data_offsets";
    stj_tok t;
    NEXT(&t);
    if (t != STJ_ARR_BEGIN)
        return st_fail(path, PTM_ERR_FORMAT,
                       "invalid JSON in header: %s of tensor %s must be an array of unsigned integers "
                       "(file offset %zu)", field, qn, p->tok_off);
    size_t count = 0;
    uint64_t offs[2] = {0, 0};
    uint64_t numel = 1;
    int ovf = 0;
    for (;;) {
        NEXT(&t);
        if (t == STJ_ARR_END)
            break;
        if (t != STJ_UINT) {
            char raw[64] = "";
            if (t == STJ_NUMBER)
                snprintf(raw, sizeof raw, " %.*s", (int)(p->raw_len > 40 ? 40 : p->raw_len), p->raw);
            return st_fail(path, PTM_ERR_FORMAT,
                           "invalid JSON in header: %s of tensor %s holds%s, not an unsigned 64-bit "
                           "integer (file offset %zu)", field, qn, raw[0] ? raw : " a non-number", p->tok_off);
        }
        if (is_shape) {
            if (count < PTM_MAX_DIMS) {
                T->dims[count] = p->u;
                T->shape[count] = p->u > (uint64_t)INT64_MAX ? -1 : (int64_t)p->u;
            }
            if (!ovf && __builtin_mul_overflow(numel, p->u, &numel))
                ovf = 1;
        } else if (count < 2) {
            offs[count] = p->u;
        }
        count++;
    }
    if (is_shape) {
        T->ndim = count;
        T->numel = numel;
        T->overflow = (unsigned char)ovf;
    } else {
        if (count != 2)
            return st_fail(path, PTM_ERR_FORMAT,
                           "invalid JSON in header: data_offsets of tensor %s has %zu entries, not 2 "
                           "(file offset %zu)", qn, count, p->tok_off);
        T->begin = offs[0];
        T->end = offs[1];
    }
    return PTM_OK;
}

/* The tensor whose name is the current KEY token. */
static ptm_status parse_tensor(st_source *src, stj_parser *p)
{
    const char *path = src->path;
    if (src->n == src->cap) {
        size_t cap = src->cap ? src->cap * 2 : 16;
        st_tensor *nt = realloc(src->t, cap * sizeof *nt);
        if (!nt)
            return st_fail(path, PTM_ERR_NOMEM, "out of memory reading the header");
        src->t = nt;
        src->cap = cap;
    }
    st_tensor *T = &src->t[src->n];
    memset(T, 0, sizeof *T);
    T->name = malloc(p->str_len + 1);
    if (!T->name)
        return st_fail(path, PTM_ERR_NOMEM, "out of memory reading the header");
    memcpy(T->name, p->str, p->str_len + 1);
    T->name_len = p->str_len;
    T->name_has_nul = (unsigned char)p->str_has_nul;
    T->index = src->n;
    T->key_off = p->tok_off;
    src->n++;

    char qn[200];
    quote(T->name, T->name_len, qn, sizeof qn);
    stj_tok t;
    NEXT(&t);
    if (t != STJ_OBJ_BEGIN)
        return st_fail(path, PTM_ERR_FORMAT,
                       "invalid JSON in header: tensor %s must be an object with dtype, shape and "
                       "data_offsets (file offset %zu)", qn, p->tok_off);
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    for (;;) {
        NEXT(&t);
        if (t == STJ_OBJ_END)
            break;
        ptm_status s;
        if (key_is(p, "dtype")) {
            NEXT(&t);
            if (t != STJ_STRING)
                return st_fail(path, PTM_ERR_FORMAT,
                               "invalid JSON in header: dtype of tensor %s must be a string (file offset %zu)",
                               qn, p->tok_off);
            T->dt = st_dtype_lookup(p->str, p->str_len);
            if (!T->dt) {
                char qd[120];
                stj_quote(p->str, p->str_len, 60, qd, sizeof qd);
                return st_fail(path, PTM_ERR_FORMAT, "unknown dtype %s for tensor %s (file offset %zu)", qd,
                               qn, p->tok_off);
            }
            have_dtype = 1;
        } else if (key_is(p, "shape")) {
            if ((s = parse_uint_array(src, p, T, 1, qn)) != PTM_OK)
                return s;
            have_shape = 1;
        } else if (key_is(p, "data_offsets")) {
            if ((s = parse_uint_array(src, p, T, 0, qn)) != PTM_OK)
                return s;
            have_offsets = 1;
        } else {
            /* unknown members are ignored, like the reference reader does */
            NEXT(&t);
            stj_err e = stj_skip(p, t);
            if (e != STJ_OK)
                return json_fail(path, p, e);
        }
    }
    const char *missing = !have_dtype ? "dtype" : !have_shape ? "shape" : !have_offsets ? "data_offsets" : NULL;
    if (missing)
        return st_fail(path, PTM_ERR_FORMAT, "invalid JSON in header: tensor %s has no %s (file offset %zu)", qn,
                       missing, T->key_off);
    if (!T->overflow && __builtin_mul_overflow(T->numel, (uint64_t)T->dt->bits, &T->bits))
        T->overflow = 1;
    return PTM_OK;
}

static char *dup_str(const stj_parser *p)
{
    char *s = malloc(p->str_len + 1);
    if (s)
        memcpy(s, p->str, p->str_len + 1);
    return s;
}

static ptm_status parse_metadata(st_source *src, stj_parser *p)
{
    const char *path = src->path;
    stj_tok t;
    NEXT(&t);
    if (t == STJ_NULL)
        return PTM_OK; /* null is "no metadata" (serde Option) */
    if (t != STJ_OBJ_BEGIN)
        return st_fail(path, PTM_ERR_FORMAT,
                       "invalid JSON in header: __metadata__ must be an object of string values (file offset %zu)",
                       p->tok_off);
    for (;;) {
        NEXT(&t);
        if (t == STJ_OBJ_END)
            return PTM_OK;
        if (src->n_meta + 2 > src->meta_cap) {
            size_t cap = src->meta_cap ? src->meta_cap * 2 : 8;
            char **nm = realloc(src->meta, cap * sizeof *nm);
            if (!nm)
                return st_fail(path, PTM_ERR_NOMEM, "out of memory reading the header");
            src->meta = nm;
            src->meta_cap = cap;
        }
        char *key = dup_str(p);
        if (!key)
            return st_fail(path, PTM_ERR_NOMEM, "out of memory reading the header");
        src->meta[src->n_meta++] = key;
        src->meta[src->n_meta++] = NULL;
        src->meta_has_nul |= p->str_has_nul;
        size_t klen = p->str_len;
        NEXT(&t);
        if (t != STJ_STRING) {
            char qk[200];
            quote(key, klen, qk, sizeof qk);
            return st_fail(path, PTM_ERR_FORMAT,
                           "invalid JSON in header: __metadata__ value of key %s is not a string (file offset %zu)",
                           qk, p->tok_off);
        }
        if (!(src->meta[src->n_meta - 1] = dup_str(p)))
            return st_fail(path, PTM_ERR_NOMEM, "out of memory reading the header");
        src->meta_has_nul |= p->str_has_nul;
    }
}

static ptm_status parse_header(st_source *src, stj_parser *p)
{
    const char *path = src->path;
    stj_tok t;
    NEXT(&t);
    if (t != STJ_OBJ_BEGIN)
        return st_fail(path, PTM_ERR_FORMAT, "invalid JSON in header: the header is not a JSON object (file offset %zu)",
                       p->tok_off);
    for (;;) {
        NEXT(&t);
        if (t == STJ_OBJ_END)
            break;
        ptm_status s = key_is(p, "__metadata__") ? parse_metadata(src, p) : parse_tensor(src, p);
        if (s != PTM_OK)
            return s;
    }
    NEXT(&t); /* STJ_END, or an error for trailing characters */
    return PTM_OK;
}

static int cmp_offsets(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Rules 7-11 of the reference reader, then what ptm cannot represent. */
static ptm_status validate(st_source *src, uint64_t hlen, size_t fsize)
{
    const char *path = src->path;
    char qn[200], qp[200], ds[256];
    if (src->n > 1)
        qsort(src->t, src->n, sizeof *src->t, cmp_offsets);
    uint64_t prev_end = 0;
    for (size_t i = 0; i < src->n; i++) {
        const st_tensor *T = &src->t[i];
        quote(T->name, T->name_len, qn, sizeof qn);
        if (T->end < T->begin)
            return st_fail(path, PTM_ERR_FORMAT,
                           "invalid offset for tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                           qn, T->begin, T->end);
        if (T->begin != prev_end) {
            if (i == 0)
                return st_fail(path, PTM_ERR_FORMAT,
                               "invalid offset for tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                               "] but the first tensor must start at data offset 0 (a gap)",
                               qn, T->begin, T->end);
            const st_tensor *P = &src->t[i - 1];
            quote(P->name, P->name_len, qp, sizeof qp);
            return st_fail(path, PTM_ERR_FORMAT,
                           "invalid offset for tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] %s tensor %s, "
                           "which ends at data offset %" PRIu64,
                           qn, T->begin, T->end, T->begin > prev_end ? "leave a gap after" : "overlap", qp, prev_end);
        }
        dims_str(T, ds, sizeof ds);
        if (T->overflow)
            return st_fail(path, PTM_ERR_OVERFLOW,
                           "tensor %s: the byte size of shape %s with dtype %s overflows 64 bits", qn, ds, T->dt->name);
        if (T->bits % 8)
            return st_fail(path, PTM_ERR_FORMAT,
                           "tensor %s: %" PRIu64 " elements of the %u-bit dtype %s do not fill whole bytes", qn,
                           T->numel, T->dt->bits, T->dt->name);
        if (T->end - T->begin != T->bits / 8)
            return st_fail(path, PTM_ERR_FORMAT,
                           "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                           " bytes but dtype %s with shape %s needs %" PRIu64 " bytes",
                           qn, T->begin, T->end, T->end - T->begin, T->dt->name, ds, T->bits / 8);
        prev_end = T->end;
    }
    uint64_t want;
    if (__builtin_add_overflow(8 + hlen, prev_end, &want) || want > fsize)
        return st_fail(path, PTM_ERR_FORMAT,
                       "file truncated: the tensor data needs %" PRIu64 " bytes after the %" PRIu64
                       "-byte header (it starts at file offset %" PRIu64 ") but the file is %zu bytes",
                       prev_end, hlen, 8 + hlen, fsize);
    if (want < fsize)
        return st_fail(path, PTM_ERR_FORMAT,
                       "%" PRIu64 " trailing bytes after the tensor data, which ends at file offset %" PRIu64
                       " (the file is %zu bytes)",
                       (uint64_t)fsize - want, want, fsize);

    /* A valid file; now what ptm cannot represent. */
    for (size_t i = 0; i < src->n; i++) {
        const st_tensor *T = &src->t[i];
        quote(T->name, T->name_len, qn, sizeof qn);
        if (T->dt->ptm < 0)
            return st_fail(path, PTM_ERR_UNSUPPORTED, "unsupported dtype %s for tensor %s (ptm has no such dtype)",
                           T->dt->name, qn);
        if (T->ndim > PTM_MAX_DIMS)
            return st_fail(path, PTM_ERR_UNSUPPORTED, "tensor %s has %zu dimensions; ptm supports at most %d", qn,
                           T->ndim, PTM_MAX_DIMS);
        for (size_t d = 0; d < T->ndim; d++) {
            if (T->shape[d] < 0) {
                dims_str(T, ds, sizeof ds);
                return st_fail(path, PTM_ERR_UNSUPPORTED, "tensor %s: shape %s has a dimension above 2^63-1", qn, ds);
            }
        }
        if (T->name_has_nul)
            return st_fail(path, PTM_ERR_UNSUPPORTED, "tensor name %s contains a NUL character (\\u0000)", qn);
    }
    if (src->meta_has_nul)
        return st_fail(path, PTM_ERR_UNSUPPORTED, "a __metadata__ key or value contains a NUL character (\\u0000)");
    return PTM_OK;
}

static void st_close(void *source)
{
    st_source *src = source;
    if (!src)
        return;
    for (size_t i = 0; i < src->n; i++)
        free(src->t[i].name);
    free(src->t);
    for (size_t i = 0; i < src->n_meta; i++)
        free(src->meta[i]);
    free(src->meta);
    ptm_buffer_release(src->buf);
    free(src->path);
    free(src);
}

static ptm_status st_read(st_source *src)
{
    const char *path = src->path;
    const uint8_t *d = ptm_buffer_data(src->buf);
    size_t size = ptm_buffer_size(src->buf);
    /* rule 1 */
    if (size < 8)
        return st_fail(path, PTM_ERR_FORMAT,
                       "file is %zu bytes, too small for the 8-byte header length (header too small)", size);
    uint64_t n = le64(d);
    /* rules 2 and 3 */
    if (n > ST_MAX_HEADER || n > SIZE_MAX - 8)
        return st_fail(path, PTM_ERR_FORMAT,
                       "declared header length %" PRIu64 " is larger than the limit of 100000000 bytes (header too large)",
                       n);
    /* rule 4 */
    if (8 + n > size)
        return st_fail(path, PTM_ERR_FORMAT,
                       "declared header length %" PRIu64 " runs past the end of the file (%zu bytes; invalid header length)",
                       n, size);
    /* rule 5 */
    size_t bad;
    if (!stj_utf8_check(d + 8, (size_t)n, &bad))
        return st_fail(path, PTM_ERR_FORMAT, "header is not valid UTF-8 (byte 0x%02x at file offset %zu)",
                       d[8 + bad], 8 + bad);
    /* rule 6 */
    stj_parser *p = malloc(sizeof *p);
    if (!p)
        return st_fail(path, PTM_ERR_NOMEM, "out of memory");
    stj_init(p, d + 8, (size_t)n, 8);
    ptm_status s = parse_header(src, p);
    stj_free(p);
    free(p);
    if (s != PTM_OK)
        return s;
    src->data_start = (size_t)(8 + n);
    /* rules 7-11 */
    return validate(src, n, size);
}

static ptm_status st_open(const char *path, void **source)
{
    if (!path || !source)
        return ptm_error(PTM_ERR_INVALID_ARG, "safetensors: open: NULL argument");
    if (ST_BIG_ENDIAN_HOST)
        return st_fail(path, PTM_ERR_UNSUPPORTED, "safetensors data is little-endian; this big-endian build cannot map it");
    st_source *src = calloc(1, sizeof *src);
    if (!src || !(src->path = malloc(strlen(path) + 1))) {
        free(src);
        return st_fail(path, PTM_ERR_NOMEM, "out of memory");
    }
    memcpy(src->path, path, strlen(path) + 1);
    ptm_status s = ptm_buffer_map_file(path, &src->buf);
    if (s != PTM_OK) {
        src->buf = NULL;
        if (!strstr(ptm_last_error(), path))
            ptm_error_prefix(s, "%s", path);
        st_close(src);
        return s;
    }
    s = st_read(src);
    if (s != PTM_OK) {
        st_close(src);
        return s;
    }
    *source = src;
    return PTM_OK;
}

static size_t st_count(void *source) { return source ? ((st_source *)source)->n : 0; }

static ptm_status st_info(void *source, size_t i, ptm_tensor_info *out)
{
    st_source *src = source;
    if (!src || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "safetensors: info: NULL argument");
    if (i >= src->n)
        return st_fail(src->path, PTM_ERR_INVALID_ARG, "tensor index %zu out of range (the file has %zu tensors)", i,
                       src->n);
    const st_tensor *T = &src->t[i];
    memset(out, 0, sizeof *out);
    out->name = T->name;
    out->dtype = (ptm_dtype)T->dt->ptm;
    out->ndim = (int)T->ndim;
    for (size_t d = 0; d < T->ndim; d++)
        out->shape[d] = T->shape[d];
    return PTM_OK;
}

static ptm_status st_load(void *source, size_t i, ptm_tensor **out)
{
    st_source *src = source;
    if (!src || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "safetensors: load: NULL argument");
    if (i >= src->n)
        return st_fail(src->path, PTM_ERR_INVALID_ARG, "tensor index %zu out of range (the file has %zu tensors)", i,
                       src->n);
    const st_tensor *T = &src->t[i];
    ptm_status s = ptm_tensor_from_buffer(src->buf, src->data_start + (size_t)T->begin, (ptm_dtype)T->dt->ptm,
                                          (int)T->ndim, T->shape, out);
    if (s != PTM_OK) {
        char qn[200];
        quote(T->name, T->name_len, qn, sizeof qn);
        ptm_error_prefix(s, "%s: tensor %s", src->path, qn);
    }
    return s;
}

static const char *st_metadata(void *source, const char *key)
{
    st_source *src = source;
    if (!src || !key)
        return NULL;
    for (size_t i = 0; i + 1 < src->n_meta; i += 2)
        if (strcmp(src->meta[i], key) == 0)
            return src->meta[i + 1];
    return NULL;
}

/* ------------------------------------------------------------------- probe */

static int is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int st_probe(const char *path, const uint8_t *head, size_t head_len)
{
    static const char ext[] = ".safetensors";
    size_t pl = path ? strlen(path) : 0, el = sizeof ext - 1;
    int name_ok = pl >= el && memcmp(path + pl - el, ext, el) == 0;
    int bytes_ok = 0;
    if (head && head_len >= 9) {
        uint64_t n = le64(head);
        if (n >= 2 && n <= ST_MAX_HEADER) {
            size_t lim = head_len < 8 + n ? head_len : (size_t)(8 + n);
            size_t i = 8;
            while (i < lim && is_ws(head[i]))
                i++;
            if (i == head_len) {
                bytes_ok = 1; /* only whitespace so far: plausible padding */
            } else if (i < lim && head[i] == '{') {
                i++;
                while (i < lim && is_ws(head[i]))
                    i++;
                bytes_ok = i == head_len || (i < lim && (head[i] == '"' || head[i] == '}'));
            }
        }
    }
    if (name_ok && bytes_ok)
        return 100;
    if (bytes_ok)
        return 60;
    if (name_ok)
        return 10; /* ours by name; open explains what is wrong with the bytes */
    return 0;
}

/* ------------------------------------------------------------------ plugin */

static const char *const st_weight_names[] = {"model.safetensors", "model.safetensors.index.json", NULL};

static const ptm_format st_format = {
    .struct_size = sizeof(ptm_format),
    .name = "safetensors",
    .weight_names = st_weight_names,
    .extension = ".safetensors",
    .probe = st_probe,
    .open = st_open,
    .close = st_close,
    .count = st_count,
    .info = st_info,
    .load = st_load,
    .metadata = st_metadata,
    .save = st_save,
};

static ptm_status st_register(ptm_registrar *reg) { return ptm_registrar_add_format(reg, &st_format); }

static const ptm_plugin st_plugin = {
    PTM_PLUGIN_HEADER,
    "safetensors",
    "0.1.0",
    "safetensors reader (zero-copy mmap, every validation rule of the reference reader) and writer",
    "Apache-2.0",
    st_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &st_plugin; }
