/* SPDX-License-Identifier: Apache-2.0 */
/* st_internal.h - declarations shared by the files of the safetensors
 * plugin (reader, writer, dtype table).  Only public <ptm/...> headers. */
#ifndef PTM_ST_INTERNAL_H
#define PTM_ST_INTERNAL_H

#include <ptm/format.h>
#include <ptm/plugin.h>
#include <ptm/tensor.h>

#include <stddef.h>
#include <stdint.h>

/* MAX_HEADER_SIZE of the reference implementation (exactly 1e8 is allowed). */
#define ST_MAX_HEADER 100000000ull

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ST_BIG_ENDIAN_HOST 1
#else
#define ST_BIG_ENDIAN_HOST 0
#endif

/* A dtype name safetensors knows.  ptm < 0: ptm has no such dtype. */
typedef struct st_dtype {
    const char *name;
    unsigned bits;
    int ptm;
} st_dtype;

/* The dtypes of safetensors; the first ST_N_V04 entries are the v0.4 enum
 * in declaration order (the writer's sort key), newer ones follow. */
extern const st_dtype st_dtypes[];
extern const size_t st_n_dtypes;
#define ST_N_V04 15

/* The table entry of name s[0..n), or NULL if safetensors has no such dtype. */
const st_dtype *st_dtype_lookup(const char *s, size_t n);
/* Position of a ptm dtype in the v0.4 enum order, or -1. */
int st_dtype_rank(ptm_dtype dt);

/* Record "<path>: <message>" with ptm_error and return `status`.  Very long
 * paths are shortened to their last 300 bytes. */
ptm_status st_fail(const char *path, ptm_status status, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The save entry point of the format vtable (st_write.c). */
ptm_status st_save(const char *path, const ptm_state_dict *sd, const char *const *metadata);

#endif
