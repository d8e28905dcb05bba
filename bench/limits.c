/* SPDX-License-Identifier: Apache-2.0 */
/* limits.c - the machine's limits the ptm figures are compared with:
 *
 *   bandwidth  memory read bandwidth: sum a --mib MiB buffer (default 1024)
 *              with all cores (and with one), best of --passes (10), GB/s (1e9)
 *   sgemm      OpenBLAS cblas_sgemm (row-major, f32) at the shapes of
 *              GPT-2-small's 128-token prefill, GFLOP/s = 2*M*N*K / time,
 *              best of several runs, with 1..nproc OpenBLAS threads (the
 *              best count is the limit; the benchmarked sides also get theirs)
 *
 * Output: a JSON object on stdout.  No assertions. */
#include <cblas.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} job;

/* Eight independent accumulators so the loads, not an add chain, bound it;
 * the compiler vectorises this at -O3. */
static void *sum_job(void *arg)
{
    job *j = arg;
    uint64_t s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= j->n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += j->p[i + k];
    for (; i < j->n; i++)
        s[0] += j->p[i];
    j->sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    return NULL;
}

static double bandwidth(const uint64_t *buf, size_t n, int threads, int passes, uint64_t *sink)
{
    double best = 0;
    job jobs[256];
    pthread_t tid[256];
    for (int pass = 0; pass < passes; pass++) {
        size_t per = (n / (size_t)threads) & ~(size_t)7;
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            jobs[t].p = buf + (size_t)t * per;
            jobs[t].n = t == threads - 1 ? n - (size_t)t * per : per;
            if (t)
                pthread_create(&tid[t], NULL, sum_job, &jobs[t]);
        }
        sum_job(&jobs[0]);
        for (int t = 1; t < threads; t++)
            pthread_join(tid[t], NULL);
        double dt = now_s() - t0;
        for (int t = 0; t < threads; t++)
            *sink += jobs[t].sum;
        double gbs = (double)(n * sizeof *buf) / dt / 1e9;
        if (gbs > best)
            best = gbs;
    }
    return best;
}

typedef struct shape {
    const char *what;
    int m, k, n, trans_b;
} shape;

static double sgemm_rate(const shape *s, double min_s)
{
    float *a = malloc((size_t)s->m * s->k * sizeof *a);
    float *b = malloc((size_t)s->k * s->n * sizeof *b);
    float *c = malloc((size_t)s->m * s->n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "limits: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)s->m * s->k; i++)
        a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)s->k * s->n; i++)
        b[i] = (float)(i % 7) * 0.01f;
    int ldb = s->trans_b ? s->k : s->n;
    CBLAS_TRANSPOSE tb = s->trans_b ? CblasTrans : CblasNoTrans;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, s->m, s->n, s->k, 1.0f, a, s->k, b, ldb, 0.0f, c, s->n);
    double best = 1e30, spent = 0;
    int runs = 0;
    while (spent < min_s || runs < 3) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, s->m, s->n, s->k, 1.0f, a, s->k, b, ldb, 0.0f, c, s->n);
        double dt = now_s() - t0;
        spent += dt;
        runs++;
        if (dt < best)
            best = dt;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * s->m * s->n * (double)s->k / best / 1e9;
}

int main(int argc, char **argv)
{
    size_t mib = 1024;
    int passes = 10, tokens = 128;
    double min_s = 0.3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mib"))
            mib = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--passes"))
            passes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens"))
            tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--min-s"))
            min_s = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: limits [--mib 1024] [--passes 10] [--tokens 128] [--min-s 0.3]\n");
            return 2;
        }
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (int)ncpu;

    size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *buf = aligned_alloc(4096, n * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "limits: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = i;
    uint64_t sink = 0;
    double bw_all = bandwidth(buf, n, threads, passes, &sink);
    double bw_one = bandwidth(buf, n, 1, passes > 5 ? 5 : passes, &sink);
    free(buf);

    /* GPT-2 small, prefill of `tokens`: the four per-layer GEMMs and the
     * tied LM head (hidden @ wte^T). */
    shape shapes[] = {
        {"c_fc", tokens, 768, 3072, 0},     {"c_attn", tokens, 768, 2304, 0}, {"attn.c_proj", tokens, 768, 768, 0},
        {"mlp.c_proj", tokens, 3072, 768, 0}, {"lm_head", tokens, 768, 50257, 1},
    };
    int nsh = (int)(sizeof shapes / sizeof shapes[0]);
    printf("{\n  \"threads\": %d,\n  \"openblas_config\": \"%s\",\n", threads, openblas_get_config());
    printf("  \"bandwidth_mib\": %zu,\n  \"bandwidth_gbs\": %.3f,\n  \"bandwidth_1t_gbs\": %.3f,\n", mib, bw_all,
           bw_one);
    printf("  \"sgemm\": [");
    for (int i = 0; i < nsh; i++) {
        double best = 0;
        int best_t = 1;
        printf("%s\n    {\"what\": \"%s\", \"m\": %d, \"k\": %d, \"n\": %d, \"trans_b\": %d, \"by_threads\": [",
               i ? "," : "", shapes[i].what, shapes[i].m, shapes[i].k, shapes[i].n, shapes[i].trans_b);
        for (int t = 1; t <= threads; t++) {
            openblas_set_num_threads(t);
            double r = sgemm_rate(&shapes[i], min_s);
            printf("%s%.3f", t > 1 ? ", " : "", r);
            if (r > best) {
                best = r;
                best_t = t;
            }
        }
        fprintf(stderr, "sgemm %-11s M=%d K=%d N=%d%s: %.1f GFLOP/s (%d threads)\n", shapes[i].what, shapes[i].m,
                shapes[i].k, shapes[i].n, shapes[i].trans_b ? " (B^T)" : "", best, best_t);
        printf("], \"gflops\": %.3f, \"threads\": %d}", best, best_t);
    }
    printf("\n  ],\n  \"sink\": %llu\n}\n", (unsigned long long)(sink & 1));
    fprintf(stderr, "bandwidth: %.2f GB/s (%d threads), %.2f GB/s (1 thread)\n", bw_all, threads, bw_one);
    return 0;
}
