/* SPDX-License-Identifier: Apache-2.0 */
/* pool.c - the CPU backend's thread pool and per-state scratch buffers.
 *
 * nthreads - 1 persistent pthread workers plus the calling thread share a
 * job: chunks of `grain` items are claimed one at a time, so uneven chunks
 * (causal attention rows) balance themselves, and the caller works too.
 * Workers spin briefly after a job (the next op usually follows within
 * microseconds), then sleep on a condition variable; the caller does the
 * same while it waits for the last chunk. */
#include "cpu.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spin iterations (each one pause, ~20-150 cycles) before sleeping. */
#define POOL_SPIN 4000

/* Job protocol.  `claim` packs (generation << 32 | chunks claimed).  The
 * caller writes the job fields, then publishes a new generation with 0
 * claimed (release).  A thread claims chunk i by a CAS from (gen, i) to
 * (gen, i + 1) and only then reads the job fields, which stay valid until
 * every chunk is done.  The caller waits for `done` == nchunks, never for
 * workers to check in, so a descheduled worker delays nothing: a late one
 * finds every chunk claimed, or a newer generation, and goes back to wait. */
struct cpu_pool {
    int n; /* threads including the caller */
    pthread_t *threads;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    _Atomic uint64_t claim;
    atomic_llong done;   /* chunks finished in the current job */
    atomic_int sleepers; /* workers blocked on `wake` */
    atomic_int caller_sleeping;
    atomic_int stop;
    /* the current job */
    cpu_task_fn fn;
    void *ctx;
    int64_t total, grain;
    atomic_llong nchunks; /* read by late workers of an older generation */
};

typedef struct worker_arg {
    cpu_pool *p;
    int tid;
} worker_arg;

static uint32_t gen_of(uint64_t c) { return (uint32_t)(c >> 32); }

/* Claim and run chunks of generation g until none is left. */
static void run_chunks(cpu_pool *p, uint32_t g, int tid)
{
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        if (gen_of(c) != g)
            return;
        int64_t i = (int64_t)(uint32_t)c;
        /* nchunks may already be a newer job's; then the CAS below fails */
        if (i >= atomic_load_explicit(&p->nchunks, memory_order_relaxed))
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        int64_t b = i * p->grain, e = b + p->grain < p->total ? b + p->grain : p->total;
        int64_t nch = atomic_load_explicit(&p->nchunks, memory_order_relaxed);
        p->fn(p->ctx, b, e, tid);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_seq_cst) + 1 == nch &&
            atomic_load_explicit(&p->caller_sleeping, memory_order_seq_cst)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        c = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    cpu_pool *p = wa->p;
    int tid = wa->tid;
    free(wa);
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = gen_of(atomic_load_explicit(&p->claim, memory_order_acquire));
        for (int i = 0; g == seen && i < POOL_SPIN; i++) {
            CPU_RELAX();
            g = gen_of(atomic_load_explicit(&p->claim, memory_order_acquire));
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
            while ((g = gen_of(atomic_load_explicit(&p->claim, memory_order_seq_cst))) == seen)
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        run_chunks(p, g, tid);
    }
}

ptm_status cpu_pool_new(int nthreads, cpu_pool **out)
{
    *out = NULL;
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ptm_error(PTM_ERR_NOMEM, "cpu backend: out of memory for the thread pool");
    p->n = nthreads;
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->nchunks, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        cpu_pool_free(p);
        return ptm_error(PTM_ERR_NOMEM, "cpu backend: out of memory for the thread pool");
    }
    for (int i = 1; i < nthreads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        int rc = wa ? 0 : ENOMEM;
        if (wa) {
            wa->p = p;
            wa->tid = i;
            rc = pthread_create(&p->threads[i], NULL, worker_main, wa);
            if (rc)
                free(wa);
        }
        if (rc) {
            cpu_pool_free(p);
            return ptm_error(PTM_ERR_BACKEND, "cpu backend: cannot start worker thread %d of %d: %s", i, nthreads,
                             strerror(rc));
        }
        p->started = i;
    }
    *out = p;
    return PTM_OK;
}

/* Publish a new generation (the job fields are written) and wake sleepers. */
static uint32_t publish(cpu_pool *p)
{
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_relaxed);
    uint32_t g = gen_of(c) + 1;
    atomic_store_explicit(&p->claim, (uint64_t)g << 32, memory_order_seq_cst);
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    return g;
}

void cpu_pool_free(cpu_pool *p)
{
    if (!p)
        return;
    atomic_store_explicit(&p->nchunks, 0, memory_order_relaxed);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_relaxed);
    atomic_store_explicit(&p->claim, (uint64_t)(gen_of(c) + 1) << 32, memory_order_seq_cst);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

void cpu_parallel_for(cpu_state *st, int64_t n, int64_t grain, cpu_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    cpu_pool *p = st->pool;
    if (!p || p->n < 2 || n <= grain) {
        fn(ctx, 0, n, 0);
        return;
    }
    int64_t nch = (n + grain - 1) / grain;
    if (nch > UINT32_MAX / 2) { /* keep the claim counter in 32 bits */
        nch = UINT32_MAX / 2;
        grain = (n + nch - 1) / nch;
        nch = (n + grain - 1) / grain;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->total = n;
    p->grain = grain;
    atomic_store_explicit(&p->nchunks, nch, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t g = publish(p);
    run_chunks(p, g, 0);
    for (int i = 0; i < POOL_SPIN && atomic_load_explicit(&p->done, memory_order_acquire) < nch; i++)
        CPU_RELAX();
    if (atomic_load_explicit(&p->done, memory_order_acquire) < nch) {
        pthread_mutex_lock(&p->mu);
        atomic_store_explicit(&p->caller_sleeping, 1, memory_order_seq_cst);
        while (atomic_load_explicit(&p->done, memory_order_seq_cst) < nch)
            pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store_explicit(&p->caller_sleeping, 0, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
    }
}

int64_t cpu_grain(const cpu_state *st, int64_t n, int64_t min_grain, int per_thread, int64_t align)
{
    int64_t parts = (int64_t)st->nthreads * (per_thread > 0 ? per_thread : 1);
    int64_t g = (n + parts - 1) / parts;
    if (g < min_grain)
        g = min_grain;
    if (align > 1)
        g = (g + align - 1) / align * align;
    return g < 1 ? 1 : g;
}

/* ---------------------------------------------------------------- scratch */

static ptm_status grow(cpu_buf *b, size_t bytes)
{
    if (b->cap >= bytes && b->p)
        return PTM_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < bytes) {
        if (cap > SIZE_MAX / 2)
            return ptm_error(PTM_ERR_OVERFLOW, "cpu backend: scratch of %zu bytes is too large", bytes);
        cap *= 2;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, cap) != 0 || !p)
        return ptm_error(PTM_ERR_NOMEM, "cpu backend: out of memory for %zu bytes of scratch", cap);
    free(b->p);
    b->p = p;
    b->cap = cap;
    return PTM_OK;
}

ptm_status cpu_thread_scratch(cpu_state *st, size_t bytes)
{
    for (int i = 0; i < st->nthreads; i++) {
        ptm_status s = grow(&st->thr[i], bytes);
        if (s)
            return s;
    }
    return PTM_OK;
}

ptm_status cpu_tmp(cpu_state *st, int slot, size_t bytes, void **out)
{
    *out = NULL;
    if (slot < 0 || slot >= CPU_TMP_SLOTS)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: bad scratch slot %d", slot);
    ptm_status s = grow(&st->tmp[slot], bytes);
    if (s)
        return s;
    *out = st->tmp[slot].p;
    return PTM_OK;
}
