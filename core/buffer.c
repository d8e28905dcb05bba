/* SPDX-License-Identifier: Apache-2.0 */
/* buffer.c - reference-counted byte spans: heap, mmap'd files, views, wraps,
 * and device memory owned by a backend. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum buf_kind { BUF_HEAP, BUF_MMAP, BUF_VIEW, BUF_WRAP, BUF_STATIC, BUF_DEVICE };

struct ptm_buffer {
    atomic_long refs;
    enum buf_kind kind;
    void *data;
    size_t size;
    int readonly;
    int mapped;
    ptm_buffer *parent;                 /* BUF_VIEW */
    void (*release)(void *data, void *user); /* BUF_WRAP */
    void *user;
    /* device memory (BUF_DEVICE, and views of it) */
    const ptm_backend *backend;
    void *bstate;
    void *handle;
    size_t dev_offset;
    void (*dev_release)(void *bstate, void *handle);
};

static ptm_buffer *buf_new(enum buf_kind kind)
{
    ptm_buffer *b = calloc(1, sizeof *b);
    if (b) {
        atomic_init(&b->refs, 1);
        b->kind = kind;
    }
    return b;
}

ptm_status ptm_buffer_alloc(size_t nbytes, ptm_buffer **out)
{
    if (!out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_buffer_alloc: NULL out");
    ptm_buffer *b = buf_new(BUF_HEAP);
    void *d = b ? calloc(1, nbytes ? nbytes : 1) : NULL;
    if (!d) {
        free(b);
        return ptm_error(PTM_ERR_NOMEM, "cannot allocate %zu bytes", nbytes);
    }
    b->data = d;
    b->size = nbytes;
    *out = b;
    return PTM_OK;
}

ptm_status ptm_buffer_map_file(const char *path, ptm_buffer **out)
{
    if (!path || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_buffer_map_file: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ptm_error(errno == ENOENT ? PTM_ERR_NOT_FOUND : PTM_ERR_IO, "%s: cannot open: %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ptm_error(PTM_ERR_IO, "%s: not a regular file", path);
    }
    ptm_buffer *b = buf_new(BUF_MMAP);
    if (!b) {
        close(fd);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    b->readonly = 1;
    b->mapped = 1;
    b->size = (size_t)st.st_size;
    if (b->size) {
        void *p = mmap(NULL, b->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot map %zu bytes: %s", path, b->size, strerror(errno));
            close(fd);
            free(b);
            return s;
        }
        b->data = p;
    }
    close(fd);
    *out = b;
    return PTM_OK;
}

ptm_status ptm_buffer_view(ptm_buffer *parent, size_t offset, size_t nbytes, ptm_buffer **out)
{
    size_t end;
    if (!parent || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_buffer_view: NULL argument");
    if (ptm__add_ovf(offset, nbytes, &end) || end > parent->size)
        return ptm_error(PTM_ERR_INVALID_ARG, "buffer view [%zu, +%zu) outside a buffer of %zu bytes", offset,
                         nbytes, parent->size);
    ptm_buffer *b = buf_new(BUF_VIEW);
    if (!b)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    b->parent = ptm_buffer_retain(parent);
    b->data = parent->data ? (char *)parent->data + offset : NULL;
    b->backend = parent->backend;
    b->handle = parent->handle;
    b->dev_offset = parent->dev_offset + offset;
    b->size = nbytes;
    b->readonly = parent->readonly;
    b->mapped = parent->mapped;
    *out = b;
    return PTM_OK;
}

ptm_status ptm_buffer_wrap(void *data, size_t nbytes, int readonly, void (*release)(void *, void *), void *user,
                           ptm_buffer **out)
{
    if (!out || (!data && nbytes))
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_buffer_wrap: NULL argument");
    ptm_buffer *b = buf_new(BUF_WRAP);
    if (!b)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    b->data = data;
    b->size = nbytes;
    b->readonly = readonly;
    b->release = release;
    b->user = user;
    *out = b;
    return PTM_OK;
}

ptm_buffer *ptm_buffer_retain(ptm_buffer *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void ptm_buffer_release(ptm_buffer *b)
{
    while (b) {
        if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
            return;
        ptm_buffer *parent = NULL;
        switch (b->kind) {
        case BUF_HEAP: free(b->data); break;
        case BUF_MMAP:
            if (b->data)
                munmap(b->data, b->size);
            break;
        case BUF_VIEW: parent = b->parent; break;
        case BUF_WRAP:
            if (b->release)
                b->release(b->data, b->user);
            break;
        case BUF_STATIC: return; /* placed in caller memory (exec arena) */
        case BUF_DEVICE:
            if (b->dev_release)
                b->dev_release(b->bstate, b->handle);
            break;
        }
        free(b);
        b = parent; /* iterative, so long view chains cannot overflow the stack */
    }
}

static const char empty_bytes[1];

const void *ptm_buffer_data(const ptm_buffer *b)
{
    if (!b || b->backend)
        return NULL;
    return b->data ? b->data : empty_bytes;
}
void *ptm_buffer_data_mut(ptm_buffer *b) { return (b && !b->readonly) ? b->data : NULL; }
size_t ptm_buffer_size(const ptm_buffer *b) { return b ? b->size : 0; }
int ptm_buffer_is_readonly(const ptm_buffer *b) { return b ? b->readonly : 1; }
int ptm_buffer_is_mapped(const ptm_buffer *b) { return b ? b->mapped : 0; }

size_t ptm__buffer_struct_size(void) { return sizeof(ptm_buffer); }

ptm_status ptm_buffer_device(const ptm_backend *be, void *bstate, void *handle, size_t nbytes,
                             void (*release)(void *bstate, void *handle), ptm_buffer **out)
{
    if (!be || !handle || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_buffer_device: NULL backend, handle or out");
    ptm_buffer *b = buf_new(BUF_DEVICE);
    if (!b)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    b->size = nbytes;
    b->backend = be;
    b->bstate = bstate;
    b->handle = handle;
    b->dev_release = release;
    *out = b;
    return PTM_OK;
}

const ptm_backend *ptm_buffer_backend(const ptm_buffer *b) { return b ? b->backend : NULL; }
void *ptm_buffer_handle(const ptm_buffer *b) { return b ? b->handle : NULL; }
size_t ptm_buffer_device_offset(const ptm_buffer *b) { return b ? b->dev_offset : 0; }

ptm_buffer *ptm__buffer_place_view(void *mem, const ptm_buffer *parent, size_t offset, size_t nbytes)
{
    ptm_buffer *b = mem;
    memset(b, 0, sizeof *b);
    atomic_init(&b->refs, 1);
    b->kind = BUF_STATIC;
    b->data = parent->data ? (char *)parent->data + offset : NULL;
    b->size = nbytes;
    b->backend = parent->backend;
    b->handle = parent->handle;
    b->dev_offset = parent->dev_offset + offset;
    return b;
}

ptm_buffer *ptm__buffer_place(void *mem, void *data, size_t nbytes)
{
    ptm_buffer *b = mem;
    memset(b, 0, sizeof *b);
    atomic_init(&b->refs, 1);
    b->kind = BUF_STATIC;
    b->data = data;
    b->size = nbytes;
    return b;
}
