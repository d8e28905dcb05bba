/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - the "cpu" backend plugin: descriptor, device description,
 * per-exec state (thread pool, scratch, kernel path) and the op table.
 *
 * Kernel path: AVX2+FMA+F16C when the CPU has them, else portable C;
 * PTM_CPU_PORTABLE=1 in the environment forces portable C (read at init, so
 * a test can run both paths in one process).
 *
 * BLAS threads: with the pthreads build of OpenBLAS (Debian's default),
 * init sets OpenBLAS to one thread (process-wide) and matmul/attention split
 * their sgemm calls across this backend's own pool: one set of threads, no
 * oversubscription, and single-threaded OpenBLAS calls run concurrently
 * (its level-3 lock only serialises multi-threaded calls).  With a
 * sequential build (which may lack locking) or an OpenMP build (whose
 * thread count is per calling thread), BLAS is only called from the exec's
 * own thread, with the exec's thread count for OpenMP.  The build is
 * checked at run time (openblas_get_parallel), since the libopenblas.so.0
 * loaded may be another variant than the one linked. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cpu.h"

#include <cblas.h>
#include <cpuid.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------- features */

static int cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return (c & bit_F16C) != 0;
#else
    return 0;
#endif
}

static int portable_forced(void)
{
    const char *e = getenv("PTM_CPU_PORTABLE");
    return e && *e && strcmp(e, "0") != 0;
}

static int use_avx2(void) { return !portable_forced() && cpu_has_avx2(); }

static int available_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int default_threads(void)
{
    const char *e = getenv("PTM_NUM_THREADS");
    if (e && *e) {
        long n = strtol(e, NULL, 10);
        if (n > 0 && n <= 4096)
            return (int)n;
    }
    return available_cores();
}

void cpu_blas_caller_threads(const cpu_state *st)
{
    if (!st->blas_in_pool && openblas_get_parallel() == OPENBLAS_OPENMP)
        openblas_set_num_threads(st->nthreads);
}

/* -------------------------------------------------------------- devices */

static int cpu_device_count(void) { return 1; }

static ptm_status cpu_device_name(int index, char *buf, size_t buflen)
{
    if (index != 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: no device %d (there is one, 0)", index);
    if (!buf || buflen == 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: empty name buffer");
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) != 0)
                continue;
            const char *p = strchr(line, ':');
            if (!p)
                continue;
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            size_t n = strcspn(p, "\r\n");
            if (n >= sizeof model)
                n = sizeof model - 1;
            memcpy(model, p, n);
            model[n] = '\0';
            break;
        }
        fclose(f);
    }
    int t = default_threads();
    snprintf(buf, buflen, "%s (%s, %d thread%s)", model, use_avx2() ? "AVX2+FMA" : "portable", t,
             t == 1 ? "" : "s");
    return PTM_OK;
}

static int cpu_supports(ptm_op op, ptm_dtype dt)
{
    if ((int)op < 0 || op >= PTM_OP_COUNT)
        return 0;
    switch (op) {
    case PTM_OP_ALLOC:
    case PTM_OP_FREE:
    case PTM_OP_UPLOAD:
    case PTM_OP_DOWNLOAD:
    case PTM_OP_COPY:
    case PTM_OP_FILL:
    case PTM_OP_CONVERT:
    case PTM_OP_CONTIGUOUS:
    case PTM_OP_CONCAT:
    case PTM_OP_KV_APPEND:
        return ptm_dtype_size(dt) != 0; /* data movement: any dtype */
    default:
        /* f32 compute; f16/bf16 operands are storage for weights */
        return dt == PTM_F32 || dt == PTM_F16 || dt == PTM_BF16;
    }
}

/* ----------------------------------------------------------------- state */

static void cpu_shutdown(void *state)
{
    cpu_state *st = state;
    if (!st)
        return;
    cpu_pool_free(st->pool);
    if (st->thr)
        for (int i = 0; i < st->nthreads; i++)
            free(st->thr[i].p);
    free(st->thr);
    for (int i = 0; i < CPU_TMP_SLOTS; i++)
        free(st->tmp[i].p);
    free(st);
}

static ptm_status cpu_init(int device, int num_threads, void **state)
{
    if (!state)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: init without a state pointer");
    *state = NULL;
    if (device != 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: no device %d (there is one, 0)", device);
    if (num_threads <= 0)
        num_threads = default_threads();
    if (num_threads > 4096)
        return ptm_error(PTM_ERR_INVALID_ARG, "cpu backend: %d threads is too many", num_threads);
    cpu_state *st = calloc(1, sizeof *st);
    if (!st)
        return ptm_error(PTM_ERR_NOMEM, "cpu backend: out of memory");
    st->nthreads = num_threads;
    st->avx2 = use_avx2();
    st->thr = calloc((size_t)num_threads, sizeof *st->thr);
    if (!st->thr) {
        cpu_shutdown(st);
        return ptm_error(PTM_ERR_NOMEM, "cpu backend: out of memory");
    }
    if (num_threads > 1) {
        ptm_status s = cpu_pool_new(num_threads, &st->pool);
        if (s) {
            cpu_shutdown(st);
            return s;
        }
    }
    st->blas_in_pool = openblas_get_parallel() == OPENBLAS_THREAD;
    if (st->blas_in_pool)
        openblas_set_num_threads(1);
    *state = st;
    return PTM_OK;
}

/* ---------------------------------------------------------------- tables */

static const ptm_backend_ops cpu_ops = {
    .struct_size = sizeof(ptm_backend_ops),
    .matmul = cpu_matmul,
    .add = cpu_add,
    .mul = cpu_mul,
    .scale = cpu_scale,
    .gelu = cpu_gelu,
    .silu = cpu_silu,
    .relu = cpu_relu,
    .swiglu = cpu_swiglu,
    .layer_norm = cpu_layer_norm,
    .rms_norm = cpu_rms_norm,
    .softmax = cpu_softmax,
    .embedding = cpu_embedding,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .kv_append = cpu_kv_append,
    .convert = cpu_convert,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .transpose = cpu_transpose,
    .concat = cpu_concat,
    .argmax = cpu_argmax,
};

static const ptm_backend cpu_backend = {
    .struct_size = sizeof(ptm_backend),
    .name = "cpu",
    .description = "CPU kernels (AVX2+FMA or portable C, OpenBLAS sgemm, thread pool)",
    .device_count = cpu_device_count,
    .device_name = cpu_device_name,
    .supports = cpu_supports,
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .ops = &cpu_ops,
};

static ptm_status cpu_register(ptm_registrar *reg) { return ptm_registrar_add_backend(reg, &cpu_backend); }

static const ptm_plugin cpu_plugin = {
    PTM_PLUGIN_HEADER, "cpu", "0.1.0", "CPU compute backend (OpenBLAS + AVX2/portable kernels)", "Apache-2.0",
    cpu_register,
};

PTM_PLUGIN_EXPORT const ptm_plugin *ptm_plugin_entry(void) { return &cpu_plugin; }
