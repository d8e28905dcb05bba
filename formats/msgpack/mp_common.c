/* SPDX-License-Identifier: Apache-2.0 */
/* mp_common.c - helpers of the Flax msgpack plugin: the numpy dtype names,
 * error messages, the axis permutation of kernels, and the structural
 * pre-scan that bounds every length and count before msgpack-c sees the
 * bytes (msgpack-c allocates a container's elements from its declared count
 * before reading them, so an unchecked map32 header could ask for 64 GiB). */
#include "mp_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const mp_dtype mp_dtypes[] = {
    {"float64", PTM_F64},  {"float32", PTM_F32},  {"float16", PTM_F16},
    {"bfloat16", PTM_BF16}, {"int64", PTM_I64},    {"int32", PTM_I32},
    {"int16", PTM_I16},    {"int8", PTM_I8},      {"uint8", PTM_U8},
    {"bool", PTM_BOOL},    {"float8_e4m3fn", PTM_F8_E4M3}, {"float8_e5m2", PTM_F8_E5M2},
    /* numpy / ml_dtypes names ptm has no type for */
    {"uint16", -1},        {"uint32", -1},        {"uint64", -1},
    {"complex64", -1},     {"complex128", -1},    {"float128", -1},
    {"longdouble", -1},    {"clongdouble", -1},   {"float8_e4m3b11fnuz", -1},
    {"float8_e4m3fnuz", -1}, {"float8_e5m2fnuz", -1}, {"int4", -1}, {"uint4", -1},
};

const mp_dtype *mp_dtype_lookup(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof mp_dtypes / sizeof mp_dtypes[0]; i++)
        if (strlen(mp_dtypes[i].name) == n && memcmp(mp_dtypes[i].name, s, n) == 0)
            return &mp_dtypes[i];
    return NULL;
}

const char *mp_dtype_name(ptm_dtype dt)
{
    for (size_t i = 0; i < sizeof mp_dtypes / sizeof mp_dtypes[0]; i++)
        if (mp_dtypes[i].ptm == (int)dt)
            return mp_dtypes[i].name;
    return NULL;
}

ptm_status mp_fail(const char *path, ptm_status status, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!path)
        return ptm_error(status, "msgpack: %s", msg);
    size_t n = strlen(path);
    if (n > 200)
        return ptm_error(status, "...%s: %s", path + n - 200, msg);
    return ptm_error(status, "%s: %s", path, msg);
}

void mp_quote(const char *s, size_t n, size_t max, char *out, size_t outsz)
{
    size_t o = 0;
    if (!outsz)
        return;
    for (size_t i = 0; i < n && i < max && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
    }
    if (n > max && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------- permute */

#define MP_COPY_RUN(T)                                                                             \
    do {                                                                                           \
        const T *s_ = (const T *)(const void *)src;                                                \
        for (int64_t j = 0; j < inner; j++) {                                                      \
            T v_;                                                                                  \
            memcpy(&v_, (const uint8_t *)(s_) + (size_t)(base + j * istep) * sizeof(T), sizeof(T)); \
            memcpy(dst, &v_, sizeof(T));                                                           \
            dst += sizeof(T);                                                                      \
        }                                                                                          \
    } while (0)

void mp_permute(const uint8_t *src, uint8_t *dst, size_t es, int nd, const int64_t *ish, const int *perm)
{
    int64_t istr[PTM_MAX_DIMS], osh[PTM_MAX_DIMS], ostep[PTM_MAX_DIMS], idx[PTM_MAX_DIMS];
    int64_t total = 1;
    for (int k = nd - 1; k >= 0; k--) {
        istr[k] = total;
        total *= ish[k];
    }
    if (total == 0)
        return;
    if (nd == 0) {
        memcpy(dst, src, es);
        return;
    }
    for (int k = 0; k < nd; k++) {
        osh[k] = ish[perm[k]];
        ostep[k] = istr[perm[k]];
        idx[k] = 0;
    }
    int64_t inner = osh[nd - 1], istep = ostep[nd - 1], outer = total / inner, base = 0;
    for (int64_t o = 0; o < outer; o++) {
        switch (es) {
        case 1: MP_COPY_RUN(uint8_t); break;
        case 2: MP_COPY_RUN(uint16_t); break;
        case 4: MP_COPY_RUN(uint32_t); break;
        default: MP_COPY_RUN(uint64_t); break;
        }
        for (int k = nd - 2; k >= 0; k--) {
            base += ostep[k];
            if (++idx[k] < osh[k])
                break;
            base -= ostep[k] * osh[k];
            idx[k] = 0;
        }
    }
}

/* ------------------------------------------------------------------- scan */

const char *mp_scan_str(int code)
{
    switch (code) {
    case MP_SCAN_TRUNCATED: return "truncated: a length or count runs past the end of the data";
    case MP_SCAN_DEEP: return "containers nested too deeply";
    case MP_SCAN_BAD_BYTE: return "invalid msgpack type byte 0xc1";
    case MP_SCAN_TOO_MANY: return "too many msgpack objects";
    default: return "ok";
    }
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int mp_scan(const uint8_t *p, size_t len, size_t *off, int max_depth, size_t *budget, char *key, size_t keysz)
{
    struct lvl {
        uint64_t left, total;
        int is_map;
        const uint8_t *k;
        size_t kl;
    } st[MP_MAX_DEPTH + 1];
    int d = 0, rc = MP_SCAN_OK;
    size_t o = *off, at = o;
    if (max_depth > MP_MAX_DEPTH)
        max_depth = MP_MAX_DEPTH;
    st[0].left = st[0].total = 1;
    st[0].is_map = 0;
    st[0].k = NULL;
    if (key && keysz)
        key[0] = '\0';
    for (;;) {
        while (st[d].left == 0) {
            if (d == 0) {
                *off = o;
                return MP_SCAN_OK;
            }
            d--;
        }
        struct lvl *L = &st[d];
        int is_key = L->is_map && (L->total - L->left) % 2 == 0;
        if (is_key)
            L->k = NULL;
        L->left--;
        at = o;
        if (o >= len) {
            rc = MP_SCAN_TRUNCATED;
            break;
        }
        if (*budget == 0) {
            rc = MP_SCAN_TOO_MANY;
            break;
        }
        (*budget)--;
        uint8_t c = p[o++];
        uint64_t n = 0, skip = 0;
        int cont = 0, hdr = 0, extra = 0, is_str = 0;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool: the byte is the object */
        } else if (c <= 0x8f) {
            cont = 2;
            n = c & 0x0f;
        } else if (c <= 0x9f) {
            cont = 1;
            n = c & 0x0f;
        } else if (c <= 0xbf) {
            skip = c & 0x1f;
            is_str = 1;
        } else {
            switch (c) {
            case 0xc4: hdr = 1; break;
            case 0xc5: hdr = 2; break;
            case 0xc6: hdr = 4; break;
            case 0xc7: hdr = 1; extra = 1; break;
            case 0xc8: hdr = 2; extra = 1; break;
            case 0xc9: hdr = 4; extra = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xd9: hdr = 1; is_str = 1; break;
            case 0xda: hdr = 2; is_str = 1; break;
            case 0xdb: hdr = 4; is_str = 1; break;
            case 0xdc: hdr = 2; cont = 1; break;
            case 0xdd: hdr = 4; cont = 1; break;
            case 0xde: hdr = 2; cont = 2; break;
            case 0xdf: hdr = 4; cont = 2; break;
            default: rc = MP_SCAN_BAD_BYTE; break; /* 0xc1 */
            }
            if (rc)
                break;
            if (hdr) {
                if (len - o < (size_t)hdr) {
                    rc = MP_SCAN_TRUNCATED;
                    break;
                }
                n = be(p + o, hdr);
                o += (size_t)hdr;
                if (!cont)
                    skip = n + (uint64_t)extra;
            }
        }
        if (cont) {
            uint64_t items = cont == 2 ? 2 * n : n; /* n < 2^32: no overflow */
            if (items > len - o) {
                rc = MP_SCAN_TRUNCATED;
                break;
            }
            if (items) {
                if (d >= max_depth) {
                    rc = MP_SCAN_DEEP;
                    break;
                }
                d++;
                st[d].left = st[d].total = items;
                st[d].is_map = cont == 2;
                st[d].k = NULL;
                st[d].kl = 0;
            }
        } else {
            if (skip > len - o) {
                rc = MP_SCAN_TRUNCATED;
                break;
            }
            if (is_key && is_str) {
                L->k = p + o;
                L->kl = (size_t)skip;
            }
            o += (size_t)skip;
        }
    }
    *off = at;
    if (key && keysz) {
        size_t ko = 0;
        for (int i = 1; i <= d; i++) {
            if (!st[i].is_map || !st[i].k)
                continue;
            char q[200];
            mp_quote((const char *)st[i].k, st[i].kl, 60, q, sizeof q);
            int w = snprintf(key + ko, keysz - ko, "%s%s", ko ? "/" : "", q);
            if (w < 0 || (size_t)w >= keysz - ko)
                break;
            ko += (size_t)w;
        }
    }
    return rc;
}
