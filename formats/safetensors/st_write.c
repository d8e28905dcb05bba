/* SPDX-License-Identifier: Apache-2.0 */
/* st_write.c - the safetensors writer, byte-compatible with the reference
 * writer (formats.md §1.5): tensors sorted by dtype descending in the v0.4
 * enum order then by name, offsets cumulative from 0, compact JSON with
 * "__metadata__" first and fields dtype, shape, data_offsets, strings
 * escaped as serde_json does, the header padded with spaces to a multiple
 * of 8, at most 100,000,000 header bytes. */
#include "st_internal.h"
#include "st_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_entry {
    const char *name;
    const ptm_tensor *t;
    ptm_dtype dt;
    int rank;
    size_t nbytes;
    uint64_t begin;
    const uint8_t *data;
} st_entry;

/* Output that either measures (p == NULL) or writes. */
typedef struct st_out {
    char *p;
    size_t len;
} st_out;

static void out_bytes(st_out *o, const void *s, size_t n)
{
    if (o->p)
        memcpy(o->p + o->len, s, n);
    o->len = o->len > SIZE_MAX - n ? SIZE_MAX : o->len + n;
}

static void out_str(st_out *o, const char *s) { out_bytes(o, s, strlen(s)); }

static void out_u64(st_out *o, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    out_bytes(o, b, (size_t)n);
}

/* A JSON string as serde_json writes it: '"' and '\\' escaped, the control
 * characters \b \t \n \f \r short, the others \u00xx (lowercase hex),
 * everything else (DEL, non-ASCII UTF-8) raw. */
static void out_json_str(st_out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    out_bytes(o, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6];
        size_t en = 2;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
        } else if (c >= 0x20) {
            continue;
        } else {
            esc[0] = '\\';
            switch (c) {
            case '\b': esc[1] = 'b'; break;
            case '\t': esc[1] = 't'; break;
            case '\n': esc[1] = 'n'; break;
            case '\f': esc[1] = 'f'; break;
            case '\r': esc[1] = 'r'; break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                en = 6;
            }
        }
        out_bytes(o, run, (size_t)(s - run));
        out_bytes(o, esc, en);
        run = s + 1;
    }
    out_bytes(o, run, (size_t)(s - run));
    out_bytes(o, "\"", 1);
}

static void emit_header(st_out *o, const st_entry *e, size_t n, const char *const *metadata)
{
    out_bytes(o, "{", 1);
    int first = 1;
    if (metadata) {
        out_str(o, "\"__metadata__\":{");
        for (size_t i = 0; metadata[i]; i += 2) {
            if (i)
                out_bytes(o, ",", 1);
            out_json_str(o, metadata[i]);
            out_bytes(o, ":", 1);
            out_json_str(o, metadata[i + 1]);
        }
        out_bytes(o, "}", 1);
        first = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!first)
            out_bytes(o, ",", 1);
        first = 0;
        out_json_str(o, e[i].name);
        out_str(o, ":{\"dtype\":\"");
        out_str(o, st_dtypes[e[i].rank].name);
        out_str(o, "\",\"shape\":[");
        int nd = ptm_tensor_ndim(e[i].t);
        const int64_t *shape = ptm_tensor_shape(e[i].t);
        for (int d = 0; d < nd; d++) {
            if (d)
                out_bytes(o, ",", 1);
            out_u64(o, (uint64_t)shape[d]);
        }
        out_str(o, "],\"data_offsets\":[");
        out_u64(o, e[i].begin);
        out_bytes(o, ",", 1);
        out_u64(o, e[i].begin + e[i].nbytes);
        out_str(o, "]}");
    }
    out_bytes(o, "}", 1);
}

static int cmp_write_order(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank > y->rank ? -1 : 1; /* dtype descending */
    return strcmp(x->name, y->name);      /* bytes ascending (strcmp compares unsigned) */
}

static int cmp_addr(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    uintptr_t pa = (uintptr_t)x->data, pb = (uintptr_t)y->data;
    if (pa != pb)
        return pa < pb ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_cstr_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int utf8_ok(const char *s)
{
    size_t bad;
    return stj_utf8_check((const uint8_t *)s, strlen(s), &bad);
}

static ptm_status check_metadata(const char *path, const char *const *md)
{
    if (!md)
        return PTM_OK;
    size_t n = 0;
    for (; md[n]; n += 2) {
        if (!md[n + 1])
            return st_fail(path, PTM_ERR_INVALID_ARG, "metadata key \"%.100s\" has no value", md[n]);
        if (!utf8_ok(md[n]) || !utf8_ok(md[n + 1]))
            return st_fail(path, PTM_ERR_INVALID_ARG, "metadata key or value of \"%.100s\" is not valid UTF-8",
                           md[n]);
    }
    if (n < 4)
        return PTM_OK;
    const char **keys = malloc(n / 2 * sizeof *keys);
    if (!keys)
        return st_fail(path, PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n / 2; i++)
        keys[i] = md[2 * i];
    qsort(keys, n / 2, sizeof *keys, cmp_cstr_ptr);
    ptm_status s = PTM_OK;
    for (size_t i = 1; i < n / 2 && s == PTM_OK; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            s = st_fail(path, PTM_ERR_INVALID_ARG, "metadata key \"%.100s\" is given twice", keys[i]);
    free(keys);
    return s;
}

static ptm_status io_fail(const char *path, const char *what, int err)
{
    char eb[128] = "unknown error";
    if (err)
        strerror_r(err, eb, sizeof eb);
    return st_fail(path, PTM_ERR_IO, "%s: %s", what, eb);
}

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

/* Describe the tensors, check them and put them in the writer's order. */
static ptm_status collect(const char *path, const ptm_state_dict *sd, st_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = ptm_state_dict_name(sd, i);
        const ptm_tensor *t = ptm_state_dict_tensor(sd, i);
        if (!name || !t)
            return st_fail(path, PTM_ERR_INVALID_ARG, "state dict entry %zu has no name or tensor", i);
        if (!utf8_ok(name))
            return st_fail(path, PTM_ERR_INVALID_ARG, "tensor name \"%.100s\" is not valid UTF-8", name);
        if (strcmp(name, "__metadata__") == 0)
            return st_fail(path, PTM_ERR_INVALID_ARG, "a tensor cannot be named \"__metadata__\" in safetensors");
        e[i].name = name;
        e[i].t = t;
        e[i].dt = ptm_tensor_dtype(t);
        e[i].rank = st_dtype_rank(e[i].dt);
        if (e[i].rank < 0)
            return st_fail(path, PTM_ERR_UNSUPPORTED, "tensor \"%.100s\" has dtype %d, which safetensors cannot store",
                           name, (int)e[i].dt);
        int nd = ptm_tensor_ndim(t);
        const int64_t *shape = ptm_tensor_shape(t);
        if (nd < 0 || nd > PTM_MAX_DIMS)
            return st_fail(path, PTM_ERR_INVALID_ARG, "tensor \"%.100s\" has %d dimensions", name, nd);
        for (int d = 0; d < nd; d++)
            if (shape[d] < 0)
                return st_fail(path, PTM_ERR_INVALID_ARG, "tensor \"%.100s\" has a negative dimension", name);
        e[i].nbytes = ptm_tensor_nbytes(t);
        e[i].data = ptm_tensor_data(t);
        if (e[i].nbytes && !e[i].data)
            return st_fail(path, PTM_ERR_INVALID_ARG, "tensor \"%.100s\" has no host data", name);
    }
    /* No two names may share bytes (the core dedupes tied tensors first).
     * An address sweep finds any overlapping pair in O(n log n), the same
     * answer as ptm_tensor_shares_memory over all pairs. */
    qsort(e, n, sizeof *e, cmp_addr);
    size_t far = SIZE_MAX; /* entry reaching furthest so far */
    for (size_t i = 0; i < n; i++) {
        if (!e[i].nbytes)
            continue;
        if (far != SIZE_MAX && (uintptr_t)e[i].data < (uintptr_t)e[far].data + e[far].nbytes) {
            const char *a = e[far].name, *b = e[i].name;
            if (strcmp(a, b) > 0) {
                const char *tmp = a;
                a = b;
                b = tmp;
            }
            return st_fail(path, PTM_ERR_INVALID_ARG,
                           "tensors \"%.100s\" and \"%.100s\" share memory; save one name (tied weights are "
                           "written once)", a, b);
        }
        if (far == SIZE_MAX || (uintptr_t)e[i].data + e[i].nbytes > (uintptr_t)e[far].data + e[far].nbytes)
            far = i;
    }
    qsort(e, n, sizeof *e, cmp_write_order);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        e[i].begin = off;
        if (__builtin_add_overflow(off, (uint64_t)e[i].nbytes, &off))
            return st_fail(path, PTM_ERR_OVERFLOW, "the tensor data exceeds 2^64 bytes");
    }
    return PTM_OK;
}

ptm_status st_save(const char *path, const ptm_state_dict *sd, const char *const *metadata)
{
    if (!path || !sd)
        return st_fail(path, PTM_ERR_INVALID_ARG, "save: NULL path or state dict");
    if (ST_BIG_ENDIAN_HOST)
        return st_fail(path, PTM_ERR_UNSUPPORTED, "safetensors data is little-endian; this big-endian build cannot write it");
    ptm_status s = check_metadata(path, metadata);
    if (s != PTM_OK)
        return s;
    size_t n = ptm_state_dict_size(sd);
    st_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        return st_fail(path, PTM_ERR_NOMEM, "out of memory");
    char *hdr = NULL;
    FILE *f = NULL;
    if ((s = collect(path, sd, e, n)) != PTM_OK)
        goto done;

    st_out m = {NULL, 0};
    emit_header(&m, e, n, metadata);
    size_t pad = (8 - m.len % 8) % 8;
    if (m.len > ST_MAX_HEADER || m.len + pad > ST_MAX_HEADER) {
        s = st_fail(path, PTM_ERR_UNSUPPORTED,
                    "the header would be %zu bytes, more than the 100000000 safetensors allows (split the "
                    "checkpoint into shards)", m.len == SIZE_MAX ? m.len : m.len + pad);
        goto done;
    }
    size_t hlen = m.len + pad;
    hdr = malloc(8 + hlen);
    if (!hdr) {
        s = st_fail(path, PTM_ERR_NOMEM, "out of memory for a %zu-byte header", hlen);
        goto done;
    }
    for (int i = 0; i < 8; i++)
        hdr[i] = (char)(((uint64_t)hlen >> (8 * i)) & 0xFF);
    st_out w = {hdr + 8, 0};
    emit_header(&w, e, n, metadata);
    memset(hdr + 8 + w.len, ' ', pad);

    errno = 0;
    f = fopen(path, "wb");
    if (!f) {
        s = io_fail(path, "cannot create the file", errno);
        goto done;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    if (!write_all(f, hdr, 8 + hlen)) {
        s = io_fail(path, "write failed", errno);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!write_all(f, e[i].data, e[i].nbytes)) {
            s = io_fail(path, "write failed", errno);
            goto done;
        }
    }
    if (fflush(f) != 0 || ferror(f)) {
        s = io_fail(path, "write failed", errno);
        goto done;
    }
    FILE *tmp = f;
    f = NULL;
    if (fclose(tmp) != 0)
        s = io_fail(path, "closing the file failed", errno);
done:
    if (f)
        fclose(f);
    free(hdr);
    free(e);
    return s;
}
