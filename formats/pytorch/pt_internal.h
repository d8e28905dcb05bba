/* SPDX-License-Identifier: Apache-2.0 */
/* pt_internal.h - shared declarations of the pytorch format plugin: the zip
 * reader (zip.c), the weights-only unpickler (unpickle.c), the reader
 * (pt_read.c) and the writer (pt_write.c).  Nothing here is public. */
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include <ptm/format.h>
#include <ptm/plugin.h>
#include <ptm/tensor.h>

#include <stddef.h>
#include <stdint.h>

/* Record an error "PATH: message" (the path shortened if very long). */
ptm_status pt_fail(const char *path, ptm_status status, const char *fmt, ...) PTM_PRINTF(3, 4);

/* ------------------------------------------------------------------ zip */

typedef struct pt_zip_entry {
    const char *name; /* into the file bytes, not NUL-terminated; after "<prefix>/" */
    size_t name_len;
    uint64_t data_off; /* file offset of the stored bytes */
    uint64_t size;
    unsigned method; /* 0 = stored; anything else is refused by the reader */
} pt_zip_entry;

typedef struct pt_zip {
    pt_zip_entry *e; /* sorted by name */
    size_t n;
    const char *prefix; /* the archive folder name, into the file bytes */
    size_t prefix_len;
    int zip64;          /* a zip64 end of central directory was used */
} pt_zip;

/* Parse the zip at data[0..size): end records (zip64 too), central
 * directory, local headers.  Every entry must be unencrypted, under one top
 * folder, with its bytes inside the file. */
ptm_status pt_zip_parse(const char *path, const uint8_t *data, size_t size, pt_zip *z);
void pt_zip_free(pt_zip *z);
/* The entry "<prefix>/<name>" or NULL. */
const pt_zip_entry *pt_zip_find(const pt_zip *z, const char *name, size_t name_len);

/* ------------------------------------------------------------- unpickle */

typedef struct pt_storage {
    char *key;         /* "0", "1", ... (NUL-terminated copy) */
    int dtype;         /* ptm_dtype of a typed storage class, -1 for UntypedStorage */
    uint64_t nbytes;   /* numel * element size (untyped: numel) */
    uint64_t data_off; /* resolved by the caller (pt_read.c) */
} pt_storage;

typedef struct pt_rec {
    char *name;
    ptm_dtype dtype;
    int ndim;
    int64_t shape[PTM_MAX_DIMS];
    int64_t stride[PTM_MAX_DIMS];
    uint64_t offset; /* storage offset in elements */
    size_t storage;  /* index into the storages */
} pt_rec;

typedef struct pt_pickle_result {
    pt_rec *t;
    size_t n;
    pt_storage *st;
    size_t n_st;
    size_t skipped; /* state-dict values that are not tensors */
} pt_pickle_result;

/* Maps a persistent id's storage key to the record's bytes; returns 0 and
 * sets *nbytes and *data_off, or -1 if the record does not exist. */
typedef int (*pt_record_lookup)(void *user, const char *key, uint64_t *data_off, uint64_t *nbytes);

/* Run the weights-only interpreter over data.pkl and collect the state
 * dict's tensors.  `where` names the stream in messages ("FILE: data.pkl").
 * Every storage record is checked with `lookup` (sizes, presence); every
 * tensor's extent is checked against its storage. */
ptm_status pt_unpickle(const char *where, const uint8_t *p, size_t len, pt_record_lookup lookup, void *user,
                       pt_pickle_result *out);
void pt_pickle_result_free(pt_pickle_result *r);

/* The dtype of a torch storage class name ("FloatStorage"), -1 if unknown
 * to ptm, -2 if not a storage class at all. */
int pt_storage_class_dtype(const char *name, size_t len);
/* The storage class name of a ptm dtype ("FloatStorage"). */
const char *pt_storage_class_name(ptm_dtype dt);

/* ---------------------------------------------------------------- read */

ptm_status pt_open(const char *path, void **source);
void pt_close(void *source);
size_t pt_count(void *source);
ptm_status pt_info(void *source, size_t i, ptm_tensor_info *out);
ptm_status pt_load(void *source, size_t i, ptm_tensor **out);
int pt_probe(const char *path, const uint8_t *head, size_t head_len);

/* ---------------------------------------------------------------- write */

ptm_status pt_save(const char *path, const ptm_state_dict *sd, const char *const *metadata);

#endif
