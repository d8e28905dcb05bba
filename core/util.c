/* SPDX-License-Identifier: Apache-2.0 */
/* util.c - small string and file helpers shared by the core. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ptm__strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *ptm__asprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = NULL;
    if (n >= 0 && (p = malloc((size_t)n + 1)))
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

char *ptm__path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    if (dl && dir[dl - 1] == '/')
        return ptm__asprintf("%s%s", dir, name);
    return ptm__asprintf("%s/%s", dir, name);
}

int ptm__is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ptm__is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

ptm_status ptm__read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ptm_error(errno == ENOENT ? PTM_ERR_NOT_FOUND : PTM_ERR_IO, "%s: cannot open: %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ptm_error(PTM_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return ptm_error(PTM_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return ptm_error(PTM_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return PTM_OK;
}

ptm_status ptm__write_file_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = ptm__asprintf("%s.tmp.%ld", path, (long)getpid());
    if (!tmp)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ptm_status s = ptm_error(PTM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return s;
        }
        p += w;
        left -= (size_t)w;
    }
    int bad = fsync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad) {
        ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot flush: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    if (rename(tmp, path) != 0) {
        ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return PTM_OK;
}

/* ------------------------------------------------------- string buffer */

void ptm__sb_put(ptm__sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX / 4 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ptm__sb_puts(ptm__sbuf *b, const char *s) { ptm__sb_put(b, s, strlen(s)); }

/* One UTF-8 code point at s (len bytes left): its value and length, or -1
 * for bytes that are not UTF-8 (then each byte stands for itself). */
static long utf8_next(const unsigned char *s, size_t len, size_t *used)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n || n > len)
        return -1;
    long v = n == 1 ? (long)c : n == 2 ? (long)(c & 0x1f) : n == 3 ? (long)(c & 0x0f) : (long)(c & 0x07);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        v = (v << 6) | (s[i] & 0x3f);
    }
    *used = n;
    return v;
}

/* A JSON string as Python's json.dumps(ensure_ascii=True) writes it. */
void ptm__sb_json_string(ptm__sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    char tmp[32];
    ptm__sb_put(b, "\"", 1);
    for (size_t i = 0; i < len;) {
        size_t used = 1;
        long c = utf8_next(p + i, len - i, &used);
        if (c < 0)
            c = p[i];
        i += used;
        switch (c) {
        case '"': ptm__sb_puts(b, "\\\""); continue;
        case '\\': ptm__sb_puts(b, "\\\\"); continue;
        case '\n': ptm__sb_puts(b, "\\n"); continue;
        case '\r': ptm__sb_puts(b, "\\r"); continue;
        case '\t': ptm__sb_puts(b, "\\t"); continue;
        case '\b': ptm__sb_puts(b, "\\b"); continue;
        case '\f': ptm__sb_puts(b, "\\f"); continue;
        default: break;
        }
        if (c >= 0x20 && c < 0x7f) {
            tmp[0] = (char)c;
            ptm__sb_put(b, tmp, 1);
        } else if (c < 0x10000) {
            snprintf(tmp, sizeof tmp, "\\u%04lx", c);
            ptm__sb_puts(b, tmp);
        } else {
            long v = c - 0x10000;
            snprintf(tmp, sizeof tmp, "\\u%04lx\\u%04lx", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            ptm__sb_puts(b, tmp);
        }
    }
    ptm__sb_put(b, "\"", 1);
}


/* ------------------------------------------------------------ paths */

void ptm__free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char *ptm__dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ptm__strdup(".");
    if (slash == path)
        return ptm__strdup("/");
    return strndup(path, (size_t)(slash - path));
}

ptm_status ptm__mkdirs(const char *path, unsigned mode)
{
    char *p = ptm__strdup(path);
    if (!p)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                ptm_status st = ptm_error(PTM_ERR_IO, "%s: cannot create the folder: %s", p, strerror(errno));
                free(p);
                return st;
            }
            *s = c;
        }
        if (c == '\0')
            break;
    }
    free(p);
    return ptm__is_dir(path) ? PTM_OK : ptm_error(PTM_ERR_IO, "%s: exists and is not a folder", path);
}
