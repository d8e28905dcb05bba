/* SPDX-License-Identifier: Apache-2.0 */
/* cpu.h - internal header of the CPU backend plugin: the per-exec state
 * (thread pool, scratch buffers, the kernel path chosen at init), the
 * parallel_for helper and the kernel entry points of the ops table.
 *
 * Kernels come in two flavours: AVX2+FMA(+F16C) functions compiled with
 * __attribute__((target(...))) and portable C.  The flavour is chosen once
 * per state at init (st->avx2) from the CPU's features; PTM_CPU_PORTABLE=1
 * forces the portable one. */
#ifndef PTM_CPU_H
#define PTM_CPU_H

#include <ptm/ptm.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CPU_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CPU_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------ thread pool */

/* Runs fn(ctx, begin, end, tid) over [0, n) in chunks; tid is the thread
 * index (0 = the calling thread, 1..nthreads-1 = pool workers) and selects
 * per-thread scratch.  Chunks must not fail: validate before. */
typedef void (*cpu_task_fn)(void *ctx, int64_t begin, int64_t end, int tid);

typedef struct cpu_pool cpu_pool;

ptm_status cpu_pool_new(int nthreads, cpu_pool **out);
void cpu_pool_free(cpu_pool *p);

/* ------------------------------------------------------------------ state */

typedef struct cpu_buf {
    void *p;
    size_t cap; /* bytes */
} cpu_buf;

enum { CPU_TMP_SLOTS = 4 };

typedef struct cpu_state {
    int nthreads;
    int avx2;              /* 1: AVX2+FMA+F16C kernels, 0: portable C      */
    int blas_in_pool;      /* 1: pool workers may call BLAS (see plugin.c) */
    cpu_pool *pool;        /* NULL when nthreads == 1                       */
    cpu_buf *thr;          /* per-thread scratch [nthreads]                */
    cpu_buf tmp[CPU_TMP_SLOTS]; /* caller-side scratch (converted weights)  */
} cpu_state;

/* fn over [0, n) in chunks of `grain` items handed out dynamically.  Runs
 * inline on the caller when n <= grain or the state has one thread. */
void cpu_parallel_for(cpu_state *st, int64_t n, int64_t grain, cpu_task_fn fn, void *ctx);
/* Chunks per thread the kernels ask for: claimed dynamically, several per
 * thread let the others cover for a thread that runs late (a busy core). */
#define CPU_CHUNKS 4

/* A chunk size that gives each thread about `per_thread` chunks, at least
 * `min_grain` items each, rounded up to a multiple of `align`. */
int64_t cpu_grain(const cpu_state *st, int64_t n, int64_t min_grain, int per_thread, int64_t align);

/* Grow every thread's scratch to at least `bytes` (64-byte aligned; kept
 * across ops).  Call on the caller thread before cpu_parallel_for. */
ptm_status cpu_thread_scratch(cpu_state *st, size_t bytes);
CPU_INLINE void *cpu_thr(cpu_state *st, int tid) { return st->thr[tid].p; }
/* Caller-side scratch slot `slot` of at least `bytes`. */
ptm_status cpu_tmp(cpu_state *st, int slot, size_t bytes, void **out);

/* t as f32: its data if already f32, else converted into tmp slot `slot`.
 * NULL t gives NULL.  `what` names the operand in errors. */
ptm_status cpu_as_f32(cpu_state *st, const ptm_tensor *t, int slot, const char *what, const float **out);

/* ---------------------------------------------------------------- helpers */

ptm_status cpu_check_f32(const char *op, const char *what, const ptm_tensor *t);
/* t is non-NULL and its bytes are host memory (device tensors have none). */
ptm_status cpu_check_host(const char *op, const char *what, const ptm_tensor *t);
ptm_status cpu_out_ptr(const char *op, ptm_tensor *out, void **p);
ptm_status cpu_same_numel(const char *op, const ptm_tensor *a, const ptm_tensor *out);

CPU_INLINE float cpu_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Row-wise numpy broadcasting of b against a (b's dims aligned right, each 1
 * or equal).  A row is one run of a's last dim. */
typedef struct cpu_bcast {
    int nlead;                        /* a's ndim - 1                       */
    int64_t shape[PTM_MAX_DIMS];      /* a's leading dims                   */
    int64_t stride[PTM_MAX_DIMS];     /* b's element stride for them (or 0) */
    int64_t last_stride;              /* 1 (b has the last dim) or 0        */
    int trailing;                     /* b is a's trailing shape: offset = row*len % numel(b) */
    int64_t b_numel, row_len;
} cpu_bcast;

ptm_status cpu_bcast_init(cpu_bcast *bc, const char *op, const ptm_tensor *a, const ptm_tensor *b);
int64_t cpu_bcast_row(const cpu_bcast *bc, int64_t row);

/* Before a BLAS call on the caller thread when !blas_in_pool: lets an
 * OpenMP OpenBLAS use this exec's thread count. */
void cpu_blas_caller_threads(const cpu_state *st);

/* Vector conversion of n elements of a f16/bf16/f32 array to f32. */
void cpu_to_f32(const cpu_state *st, const void *src, ptm_dtype dt, float *dst, int64_t n);

/* In place: o[0, n) = softmax(o[0, n)), o[n, len) = 0; a row whose entries
 * are all -inf (or n = 0) becomes zeros. */
void cpu_softmax_row(const cpu_state *st, float *o, int64_t n, int64_t len);

/* ---------------------------------------------------------------- kernels */

ptm_status cpu_matmul(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                      ptm_tensor *out);
ptm_status cpu_add(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
ptm_status cpu_mul(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out);
ptm_status cpu_scale(void *bs, const ptm_tensor *a, float s, ptm_tensor *out);
ptm_status cpu_gelu(void *bs, const ptm_tensor *a, int tanh_approx, ptm_tensor *out);
ptm_status cpu_silu(void *bs, const ptm_tensor *a, ptm_tensor *out);
ptm_status cpu_relu(void *bs, const ptm_tensor *a, ptm_tensor *out);
ptm_status cpu_swiglu(void *bs, const ptm_tensor *gate, const ptm_tensor *up, ptm_tensor *out);
ptm_status cpu_layer_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                          ptm_tensor *out);
ptm_status cpu_rms_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out);
ptm_status cpu_softmax(void *bs, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                       ptm_tensor *out);
ptm_status cpu_embedding(void *bs, const ptm_tensor *weight, const ptm_tensor *ids, ptm_tensor *out);
ptm_status cpu_rope(void *bs, const ptm_tensor *x, const ptm_tensor *positions, float theta, int rot_dim,
                    ptm_tensor *out);
ptm_status cpu_attention(void *bs, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v, int64_t kv_len,
                         const ptm_tensor *mask, int causal, float scale, ptm_tensor *out);
ptm_status cpu_kv_append(void *bs, ptm_tensor *cache, int64_t pos, const ptm_tensor *x);
ptm_status cpu_convert(void *bs, const ptm_tensor *x, ptm_tensor *out);
ptm_status cpu_copy(void *bs, const ptm_tensor *x, ptm_tensor *out);
ptm_status cpu_fill(void *bs, ptm_tensor *out, float v);
ptm_status cpu_transpose(void *bs, const ptm_tensor *x, int d0, int d1, ptm_tensor *out);
ptm_status cpu_concat(void *bs, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out);
ptm_status cpu_argmax(void *bs, const ptm_tensor *x, ptm_tensor *out);

#endif
