/* SPDX-License-Identifier: Apache-2.0 */
/* zip.c - the zip container of torch.save (formats.md §2.2-2.3): the end of
 * central directory record (and the zip64 one torch always writes), the
 * central directory with zip64 extras, and each entry's local header, which
 * gives the data offset (local and central extra fields differ: torch pads
 * only the local one).  Sizes come from the central directory (torch's
 * local headers carry zeros).  Entries must be stored, unencrypted, under
 * one top folder, with their bytes inside the file. */
#include "pt_internal.h"

#include <stdlib.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* A printable copy of an entry name for messages. */
static void name_str(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            static const char hx[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    if (o + 5 >= outsz && n) {
        out[o > 3 ? o - 3 : o] = 0;
        strcat(out, "...");
        return;
    }
    out[o] = 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const pt_zip_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

void pt_zip_free(pt_zip *z)
{
    if (!z)
        return;
    free(z->e);
    memset(z, 0, sizeof *z);
}

const pt_zip_entry *pt_zip_find(const pt_zip *z, const char *name, size_t name_len)
{
    pt_zip_entry key;
    key.name = name;
    key.name_len = name_len;
    return bsearch(&key, z->e, z->n, sizeof *z->e, cmp_entry);
}

#define EOCD_SIZE 22u
#define Z64_LOC_SIZE 20u
#define Z64_EOCD_SIZE 56u
#define CDH_SIZE 46u
#define LFH_SIZE 30u

ptm_status pt_zip_parse(const char *path, const uint8_t *d, size_t size, pt_zip *z)
{
    memset(z, 0, sizeof *z);
    if (size < EOCD_SIZE)
        return pt_fail(path, PTM_ERR_FORMAT, "truncated zip: %zu bytes, too short for an end of central directory record",
                       size);
    /* 1. the end of central directory record, scanning back over a comment */
    size_t eocd = SIZE_MAX;
    size_t lo = size - EOCD_SIZE > 65535 ? size - EOCD_SIZE - 65535 : 0;
    for (size_t i = size - EOCD_SIZE + 1; i-- > lo;) {
        if (d[i] == 'P' && d[i + 1] == 'K' && d[i + 2] == 5 && d[i + 3] == 6 &&
            i + EOCD_SIZE + rd16(d + i + 20) <= size) {
            eocd = i;
            break;
        }
    }
    if (eocd == SIZE_MAX)
        return pt_fail(path, PTM_ERR_FORMAT,
                       "truncated or damaged zip: no end of central directory record (PK\\5\\6) in the last "
                       "%zu bytes", size - lo);
    uint64_t n_entries = rd16(d + eocd + 10);
    uint64_t cd_size = rd32(d + eocd + 12);
    uint64_t cd_off = rd32(d + eocd + 16);
    if (rd16(d + eocd + 4) != 0 || rd16(d + eocd + 6) != 0)
        return pt_fail(path, PTM_ERR_FORMAT, "multi-disk zip archives are not supported");
    uint64_t cd_end_limit = eocd;
    /* 2. the zip64 locator right before it, and the zip64 record */
    if (eocd >= Z64_LOC_SIZE && memcmp(d + eocd - Z64_LOC_SIZE, "PK\6\7", 4) == 0) {
        const uint8_t *loc = d + eocd - Z64_LOC_SIZE;
        uint64_t z64 = rd64(loc + 8);
        if (z64 > eocd - Z64_LOC_SIZE || eocd - Z64_LOC_SIZE - z64 < Z64_EOCD_SIZE)
            return pt_fail(path, PTM_ERR_FORMAT,
                           "damaged zip64: the locator points at offset %llu, outside the file's end records",
                           (unsigned long long)z64);
        const uint8_t *r = d + z64;
        if (memcmp(r, "PK\6\6", 4) != 0)
            return pt_fail(path, PTM_ERR_FORMAT, "damaged zip64: no zip64 end of central directory record at offset %llu",
                           (unsigned long long)z64);
        n_entries = rd64(r + 32);
        cd_size = rd64(r + 40);
        cd_off = rd64(r + 48);
        cd_end_limit = z64;
        z->zip64 = 1;
    } else if (n_entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        return pt_fail(path, PTM_ERR_FORMAT,
                       "damaged zip: the end record defers to zip64 but there is no zip64 locator");
    }
    if (cd_off > cd_end_limit || cd_size > cd_end_limit - cd_off)
        return pt_fail(path, PTM_ERR_FORMAT,
                       "truncated or damaged zip: the central directory (offset %llu, %llu bytes) reaches past "
                       "its end records at %llu",
                       (unsigned long long)cd_off, (unsigned long long)cd_size, (unsigned long long)cd_end_limit);
    if (n_entries == 0)
        return pt_fail(path, PTM_ERR_FORMAT, "empty zip archive: no data.pkl");
    if (n_entries > cd_size / CDH_SIZE)
        return pt_fail(path, PTM_ERR_FORMAT,
                       "damaged zip: %llu entries declared, but the central directory holds only %llu bytes",
                       (unsigned long long)n_entries, (unsigned long long)cd_size);
    z->e = calloc((size_t)n_entries, sizeof *z->e);
    if (!z->e)
        return pt_fail(path, PTM_ERR_NOMEM, "out of memory for %llu zip entries", (unsigned long long)n_entries);

    /* 3. the central directory */
    uint64_t p = cd_off, end = cd_off + cd_size;
    char qn[160];
    for (uint64_t k = 0; k < n_entries; k++) {
        if (end - p < CDH_SIZE || memcmp(d + p, "PK\1\2", 4) != 0) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT, "damaged zip: central directory entry %llu at offset %llu is %s",
                           (unsigned long long)k, (unsigned long long)p,
                           end - p < CDH_SIZE ? "truncated" : "missing its signature");
        }
        const uint8_t *h = d + p;
        uint16_t flags = rd16(h + 8), method = rd16(h + 10);
        uint64_t csize = rd32(h + 20), usize = rd32(h + 24);
        uint16_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
        uint64_t lho = rd32(h + 42);
        if (end - p - CDH_SIZE < (uint64_t)nlen + xlen + clen) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT, "damaged zip: central directory entry %llu runs past the directory",
                           (unsigned long long)k);
        }
        const char *name = (const char *)h + CDH_SIZE;
        name_str(name, nlen, qn, sizeof qn);
        /* zip64 extra: only the fields whose 32-bit value is 0xFFFFFFFF, in order */
        const uint8_t *x = h + CDH_SIZE + nlen, *xe = x + xlen;
        int need_u = usize == 0xFFFFFFFFu, need_c = csize == 0xFFFFFFFFu, need_o = lho == 0xFFFFFFFFu;
        while (xe - x >= 4) {
            uint16_t id = rd16(x), len = rd16(x + 2);
            if ((size_t)(xe - x - 4) < len)
                break;
            if (id == 1) {
                const uint8_t *f = x + 4;
                size_t left = len;
                if (need_u && left >= 8) {
                    usize = rd64(f), f += 8, left -= 8, need_u = 0;
                }
                if (need_c && left >= 8) {
                    csize = rd64(f), f += 8, left -= 8, need_c = 0;
                }
                if (need_o && left >= 8) {
                    lho = rd64(f), f += 8, left -= 8, need_o = 0;
                }
            }
            x += 4 + len;
        }
        if (need_u || need_c || need_o) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT, "damaged zip64: entry '%s' lacks the zip64 extra field for its %s", qn,
                           need_u ? "size" : need_c ? "compressed size" : "local header offset");
        }
        if (flags & 1) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_UNSUPPORTED, "zip entry '%s' is encrypted", qn);
        }
        if (method == 0 && csize != usize) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT, "zip entry '%s' is stored but its sizes differ (%llu, %llu)", qn,
                           (unsigned long long)csize, (unsigned long long)usize);
        }
        /* the top folder, taken from the first entry as torch does */
        const char *slash = memchr(name, '/', nlen);
        if (k == 0) {
            if (!slash || slash == name) {
                pt_zip_free(z);
                return pt_fail(path, PTM_ERR_FORMAT, "file in archive is not in a subdirectory: '%s'", qn);
            }
            z->prefix = name;
            z->prefix_len = (size_t)(slash - name);
        } else if (nlen <= z->prefix_len || memcmp(name, z->prefix, z->prefix_len) != 0 ||
                   name[z->prefix_len] != '/') {
            char qp[160];
            name_str(z->prefix, z->prefix_len, qp, sizeof qp);
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT, "zip entry '%s' is not under the archive folder '%s/'", qn, qp);
        }
        /* the local header gives the data offset */
        if (lho > cd_off || cd_off - lho < LFH_SIZE || memcmp(d + lho, "PK\3\4", 4) != 0) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT,
                           "truncated or damaged zip: entry '%s' has no local header at offset %llu", qn,
                           (unsigned long long)lho);
        }
        uint64_t doff = lho + LFH_SIZE + rd16(d + lho + 26) + (uint64_t)rd16(d + lho + 28);
        if (doff > cd_off || cd_off - doff < csize) {
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT,
                           "truncated or damaged zip: the %llu bytes of entry '%s' at offset %llu reach past the "
                           "central directory at %llu",
                           (unsigned long long)csize, qn, (unsigned long long)doff, (unsigned long long)cd_off);
        }
        z->e[k].name = name + z->prefix_len + 1;
        z->e[k].name_len = nlen - z->prefix_len - 1;
        z->e[k].data_off = doff;
        z->e[k].size = usize;
        z->e[k].method = method;
        z->n++;
        p += CDH_SIZE + (uint64_t)nlen + xlen + clen;
    }
    qsort(z->e, z->n, sizeof *z->e, cmp_entry);
    for (size_t i = 1; i < z->n; i++) {
        if (cmp_entry(&z->e[i - 1], &z->e[i]) == 0) {
            name_str(z->e[i].name, z->e[i].name_len, qn, sizeof qn);
            pt_zip_free(z);
            return pt_fail(path, PTM_ERR_FORMAT, "zip entry '%s' appears twice", qn);
        }
    }
    return PTM_OK;
}
