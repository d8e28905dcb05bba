/* SPDX-License-Identifier: Apache-2.0 */
/* internal.h - core-private helpers.  Never included by plugins. */
#ifndef PTM_INTERNAL_H
#define PTM_INTERNAL_H

#include "ptm/ptm.h"

#include <stdbool.h>

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool ptm__add_ovf(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }
static inline bool ptm__mul_ovf(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }

/* 1 if vtable `v` of type T (starting with struct_size) covers member m. */
#define PTM__HAS(v, T, m) ((v)->struct_size >= offsetof(T, m) + sizeof(((T *)0)->m))

/* strdup that returns NULL on NULL input. */
char *ptm__strdup(const char *s);
/* malloc'd printf. NULL on failure. */
char *ptm__asprintf(const char *fmt, ...) PTM_PRINTF(1, 2);

/* A growing NUL-terminated string; after an allocation failure every put is
 * ignored and oom is set (check it once at the end).  Start with {0}; the
 * caller frees p. */
typedef struct ptm__sbuf {
    char *p;
    size_t len, cap;
    int oom;
} ptm__sbuf;
void ptm__sb_put(ptm__sbuf *b, const char *s, size_t n);
void ptm__sb_puts(ptm__sbuf *b, const char *s);
/* `s` as a JSON string the way Python's json.dumps (ensure_ascii=True)
 * writes it; bytes that are not UTF-8 stand for themselves (\u00XX). */
void ptm__sb_json_string(ptm__sbuf *b, const char *s);

/* The folder part of a path ("." without a slash, "/" for "/x").  malloc'd. */
char *ptm__dirname(const char *path);
/* mkdir -p with `mode` (before the umask); PTM_ERR_IO naming the folder. */
ptm_status ptm__mkdirs(const char *path, unsigned mode);

/* Read a whole file into a malloc'd, NUL-terminated buffer. */
ptm_status ptm__read_file(const char *path, char **data, size_t *len);
/* Write bytes to `path` via "<path>.tmp.<pid>" + fsync + rename. */
ptm_status ptm__write_file_atomic(const char *path, const void *data, size_t len);
int ptm__is_dir(const char *path);
int ptm__is_file(const char *path);
/* Join dir and name with one '/'.  malloc'd. */
char *ptm__path_join(const char *dir, const char *name);

/* Internal parts of ptm_model used across core files (model.c, save.c). */
struct ptm_param_list;
ptm_status ptm__param_list_new(struct ptm_param_list **out);
void ptm__param_list_free(struct ptm_param_list *l);
size_t ptm__param_list_size(const struct ptm_param_list *l);
const ptm_param_decl *ptm__param_list_get(const struct ptm_param_list *l, size_t i);
ptm_status ptm__param_list_find(const struct ptm_param_list *l, const char *name, size_t *index);

/* Registry lookups with the component's plugin info (registry.c). */
ptm_status ptm__context_find(ptm_context *ctx, ptm_component_kind kind, const char *name, ptm_component_info *out);
/* Comma-separated list of registered names of `kind` (malloc'd). */
char *ptm__context_names(ptm_context *ctx, ptm_component_kind kind);

/* Plugin loading (loader.c): libltdl behind one process-wide mutex. */
/* lt_dlinit on the first call (never undone: see ptm__dl_keep). */
ptm_status ptm__dl_acquire(void);
/* Open a shared object (advise ext + local) and find its entry symbol.
 * PTM_LOAD_OK with *handle and *entry set, else PTM_LOAD_OPEN_FAILED or
 * PTM_LOAD_NO_ENTRY with *reason (malloc'd, may be NULL on OOM). */
ptm_load_outcome ptm__dl_open(const char *path, void **handle, ptm_plugin_entry_fn *entry, char **reason);
void ptm__dl_close(void *handle);
/* Keep an admitted plugin mapped until the process exits (lt_dlclose then
 * only drops a reference): plugins' libraries may own threads (OpenBLAS)
 * or driver state (Vulkan ICDs) that must not be unmapped under them. */
void ptm__dl_keep(void *handle);
/* What one search-path entry stands for: a directory's regular "*.so"
 * files (joined paths, strcmp-sorted), the entry itself (a file, or a name
 * libltdl completes with ".so"), or *missing (malloc'd reason) when it does
 * not exist or cannot be read.  Errors are only PTM_ERR_NOMEM. */
ptm_status ptm__expand_search_path(const char *entry, char ***files, size_t *count, char **missing);
/* Split a colon-separated list, skipping empty entries. */
ptm_status ptm__split_path_list(const char *list, char ***items, size_t *count);
/* Read up to `cap` bytes from the start of a file. */
ptm_status ptm__read_head(const char *path, uint8_t *buf, size_t cap, size_t *got);
/* "<dir of libptm>/ptm/plugins", then PTM_INSTALL_PLUGIN_DIR if different. */
ptm_status ptm__install_plugin_dirs(char ***dirs, size_t *count);
void ptm__free_strv(char **v, size_t n);
/* Check a plugin descriptor: PTM_LOAD_OK, or the refusal outcome with
 * *reason malloc'd (the order: NULL, too small for the ABI fields, ABI
 * major, ABI minor, too small for ABI 1.0, no name, no register). */
ptm_load_outcome ptm__check_descriptor(const ptm_plugin *d, char **reason);
/* The descriptor's name when it is safe to read, else NULL. */
const char *ptm__descriptor_name(const ptm_plugin *d);

/* Buffers and tensors placed in caller memory (the exec arena): their
 * release never frees (buffer.c, tensor.c). */
size_t ptm__buffer_struct_size(void);
ptm_buffer *ptm__buffer_place(void *mem, void *data, size_t nbytes);
/* A placed view of [offset, offset + nbytes) of parent (host or device);
 * parent is not retained: it must outlive the view. */
ptm_buffer *ptm__buffer_place_view(void *mem, const ptm_buffer *parent, size_t offset, size_t nbytes);
size_t ptm__tensor_struct_size(void);
ptm_status ptm__tensor_place(void *mem, ptm_buffer *buf, size_t offset, ptm_dtype dt, int ndim, const int64_t *shape,
                             ptm_tensor **out);
/* Byte size of a shape, overflow-checked. */
ptm_status ptm__shape_bytes(ptm_dtype dt, int ndim, const int64_t *shape, size_t *nbytes);

#endif
