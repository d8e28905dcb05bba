/* SPDX-License-Identifier: Apache-2.0 */
/* ptm_bench.c - the ptm side of the benchmark (bench/run.sh runs it once per
 * dtype, each in its own process so the peak RSS figures do not mix).
 *
 *   load     the ptm_model_from_pretrained call, from entry to return (plugins
 *            already loaded, file in the page cache), median of --loads
 *   first    the first --prefill-token forward right after the first load
 *            (it pays whatever the load left lazy: page faults of mapped
 *            weights, arena and cache growth)
 *   prefill  one forward of --prefill tokens with use_cache=1 (cache emptied
 *            before each), median of --reps after a warm-up
 *   decode   tokens/s of --decode one-token forwards (greedy, argmax on the
 *            host) after an untimed --prefill prefill, median of --decode-reps
 *   peak RSS getrusage ru_maxrss and /proc/self/status VmHWM (one exec alive)
 *   threads  --threads N, or (default) each count 1..nproc probed briefly and
 *            the best taken for prefill and for decode, as on the torch side
 *
 * --profile adds a pass on "cpu-timed", a backend registered in-process that
 * forwards every op to the real "cpu" backend and times it: per-op totals for
 * prefill and decode and, for matmul, per-shape GFLOP/s and GB/s of weights.
 *
 * Output: a JSON object (--json FILE, else stdout); progress on stderr.
 * This is a benchmark: it reports figures and never judges them. */
#include <ptm/ptm.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    size_t n = strlen(key);
    long v = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double t[64];
    if (n > 64)
        n = 64;
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void die(const char *what, ptm_status s)
{
    fprintf(stderr, "ptm_bench: %s: %s: %s\n", what, ptm_status_str(s), ptm_last_error());
    exit(1);
}

/* Read the file once so load timings start from a warm page cache (as the
 * PyTorch side does). */
static void warm_page_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "ptm_bench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    static char buf[1 << 20];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
}

static const char *g_backend; /* --backend NAME (default: cpu) */

/* ------------------------------------------------ the timing backend */

enum { PHASE_OFF = 0, PHASE_PREFILL = 1, PHASE_DECODE = 2, NPHASE = 3 };

typedef struct mm_shape {
    int64_t m, k, n, batch;
    int trans_b, bias;
    ptm_dtype bdt;
    int64_t calls;
    double sec, best; /* total and fastest call */
} mm_shape;

enum { MAX_SHAPES = 64 };

static struct {
    const ptm_backend *real;
    int phase;
    int64_t calls[NPHASE][PTM_OP_COUNT];
    double sec[NPHASE][PTM_OP_COUNT];
    mm_shape shapes[NPHASE][MAX_SHAPES];
    int nshapes[NPHASE];
} P;

/* The real backend's kernel, or NULL (absent, or beyond its table's size). */
#define REAL(member)                                                                                        \
    (P.real && P.real->ops &&                                                                               \
             P.real->ops->struct_size >= offsetof(ptm_backend_ops, member) + sizeof(P.real->ops->member) &&  \
             P.real->ops->member                                                                            \
         ? P.real->ops->member                                                                              \
         : NULL)
#define TIMED(op, member, ...)                                                                              \
    do {                                                                                                   \
        if (!REAL(member))                                                                                 \
            return ptm_error(PTM_ERR_UNSUPPORTED, "cpu-timed: the cpu backend has no %s", #member);        \
        double t0_ = now_s();                                                                              \
        ptm_status s_ = P.real->ops->member(__VA_ARGS__);                                                  \
        P.calls[P.phase][op]++;                                                                            \
        P.sec[P.phase][op] += now_s() - t0_;                                                               \
        return s_;                                                                                         \
    } while (0)

static ptm_status t_matmul(void *bs, const ptm_tensor *a, const ptm_tensor *b, const ptm_tensor *bias, int trans_b,
                           ptm_tensor *out)
{
    if (!REAL(matmul))
        return ptm_error(PTM_ERR_UNSUPPORTED, "cpu-timed: the cpu backend has no matmul");
    double t0 = now_s();
    ptm_status s = P.real->ops->matmul(bs, a, b, bias, trans_b, out);
    double dt = now_s() - t0;
    P.calls[P.phase][PTM_OP_MATMUL]++;
    P.sec[P.phase][PTM_OP_MATMUL] += dt;
    int bnd = ptm_tensor_ndim(b);
    mm_shape key = {0};
    key.k = ptm_tensor_dim(a, -1);
    key.m = key.k ? ptm_tensor_numel(a) / key.k : 0;
    key.n = trans_b ? ptm_tensor_dim(b, -2) : ptm_tensor_dim(b, -1);
    key.batch = 1;
    if (bnd > 2) { /* batched operands (attention-style): m rows per batch */
        key.batch = ptm_tensor_numel(b) / (ptm_tensor_dim(b, -1) * ptm_tensor_dim(b, -2));
        key.m /= key.batch;
    }
    key.trans_b = trans_b;
    key.bias = bias != NULL;
    key.bdt = ptm_tensor_dtype(b);
    mm_shape *tab = P.shapes[P.phase];
    int i;
    for (i = 0; i < P.nshapes[P.phase]; i++)
        if (tab[i].m == key.m && tab[i].k == key.k && tab[i].n == key.n && tab[i].batch == key.batch &&
            tab[i].trans_b == key.trans_b && tab[i].bias == key.bias && tab[i].bdt == key.bdt)
            break;
    if (i == P.nshapes[P.phase]) {
        if (i == MAX_SHAPES)
            return s;
        tab[i] = key;
        tab[i].best = dt;
        P.nshapes[P.phase]++;
    }
    tab[i].calls++;
    tab[i].sec += dt;
    if (dt < tab[i].best)
        tab[i].best = dt;
    return s;
}
static ptm_status t_add(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    TIMED(PTM_OP_ADD, add, bs, a, b, out);
}
static ptm_status t_mul(void *bs, const ptm_tensor *a, const ptm_tensor *b, ptm_tensor *out)
{
    TIMED(PTM_OP_MUL, mul, bs, a, b, out);
}
static ptm_status t_scale(void *bs, const ptm_tensor *a, float s, ptm_tensor *out)
{
    TIMED(PTM_OP_SCALE, scale, bs, a, s, out);
}
static ptm_status t_gelu(void *bs, const ptm_tensor *a, int tanh_approx, ptm_tensor *out)
{
    TIMED(PTM_OP_GELU, gelu, bs, a, tanh_approx, out);
}
static ptm_status t_silu(void *bs, const ptm_tensor *a, ptm_tensor *out)
{
    TIMED(PTM_OP_SILU, silu, bs, a, out);
}
static ptm_status t_relu(void *bs, const ptm_tensor *a, ptm_tensor *out)
{
    TIMED(PTM_OP_RELU, relu, bs, a, out);
}
static ptm_status t_swiglu(void *bs, const ptm_tensor *g, const ptm_tensor *u, ptm_tensor *out)
{
    TIMED(PTM_OP_SWIGLU, swiglu, bs, g, u, out);
}
static ptm_status t_layer_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, const ptm_tensor *b, float eps,
                               ptm_tensor *out)
{
    TIMED(PTM_OP_LAYER_NORM, layer_norm, bs, x, w, b, eps, out);
}
static ptm_status t_rms_norm(void *bs, const ptm_tensor *x, const ptm_tensor *w, float eps, ptm_tensor *out)
{
    TIMED(PTM_OP_RMS_NORM, rms_norm, bs, x, w, eps, out);
}
static ptm_status t_softmax(void *bs, const ptm_tensor *x, float scale, const ptm_tensor *mask, int causal,
                            ptm_tensor *out)
{
    TIMED(PTM_OP_SOFTMAX, softmax, bs, x, scale, mask, causal, out);
}
static ptm_status t_embedding(void *bs, const ptm_tensor *w, const ptm_tensor *ids, ptm_tensor *out)
{
    TIMED(PTM_OP_EMBEDDING, embedding, bs, w, ids, out);
}
static ptm_status t_rope(void *bs, const ptm_tensor *x, const ptm_tensor *pos, float theta, int rot_dim,
                         ptm_tensor *out)
{
    TIMED(PTM_OP_ROPE, rope, bs, x, pos, theta, rot_dim, out);
}
static ptm_status t_attention(void *bs, const ptm_tensor *q, const ptm_tensor *k, const ptm_tensor *v,
                              int64_t kv_len, const ptm_tensor *mask, int causal, float scale, ptm_tensor *out)
{
    TIMED(PTM_OP_ATTENTION, attention, bs, q, k, v, kv_len, mask, causal, scale, out);
}
static ptm_status t_kv_append(void *bs, ptm_tensor *cache, int64_t pos, const ptm_tensor *x)
{
    TIMED(PTM_OP_KV_APPEND, kv_append, bs, cache, pos, x);
}
static ptm_status t_convert(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    TIMED(PTM_OP_CONVERT, convert, bs, x, out);
}
static ptm_status t_copy(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    TIMED(PTM_OP_COPY, copy, bs, x, out);
}
static ptm_status t_fill(void *bs, ptm_tensor *out, float v)
{
    TIMED(PTM_OP_FILL, fill, bs, out, v);
}
static ptm_status t_transpose(void *bs, const ptm_tensor *x, int d0, int d1, ptm_tensor *out)
{
    TIMED(PTM_OP_CONTIGUOUS, transpose, bs, x, d0, d1, out);
}
static ptm_status t_concat(void *bs, const ptm_tensor *a, const ptm_tensor *b, int dim, ptm_tensor *out)
{
    TIMED(PTM_OP_CONCAT, concat, bs, a, b, dim, out);
}
static ptm_status t_argmax(void *bs, const ptm_tensor *x, ptm_tensor *out)
{
    TIMED(PTM_OP_ARGMAX, argmax, bs, x, out);
}

static ptm_status t_begin_pass(void *bs)
{
    return REAL(begin_pass) ? P.real->ops->begin_pass(bs) : PTM_OK;
}
static ptm_status t_end_pass(void *bs)
{
    return REAL(end_pass) ? P.real->ops->end_pass(bs) : PTM_OK;
}

/* Host memory only (alloc/upload/download stay NULL, as the cpu backend's). */
static const ptm_backend_ops timed_ops = {
    .struct_size = sizeof(ptm_backend_ops),
    .matmul = t_matmul,
    .add = t_add,
    .mul = t_mul,
    .scale = t_scale,
    .gelu = t_gelu,
    .silu = t_silu,
    .relu = t_relu,
    .swiglu = t_swiglu,
    .layer_norm = t_layer_norm,
    .rms_norm = t_rms_norm,
    .softmax = t_softmax,
    .embedding = t_embedding,
    .rope = t_rope,
    .attention = t_attention,
    .kv_append = t_kv_append,
    .convert = t_convert,
    .copy = t_copy,
    .fill = t_fill,
    .transpose = t_transpose,
    .concat = t_concat,
    .argmax = t_argmax,
    .begin_pass = t_begin_pass,
    .end_pass = t_end_pass,
};

static int t_device_count(void)
{
    return P.real && P.real->device_count ? P.real->device_count() : 0;
}
static int t_supports(ptm_op op, ptm_dtype dt)
{
    return P.real && P.real->supports ? P.real->supports(op, dt) : 1;
}
static ptm_status t_init(int device, int num_threads, void **state)
{
    *state = NULL;
    return P.real && P.real->init ? P.real->init(device, num_threads, state) : PTM_OK;
}
static void t_shutdown(void *state)
{
    if (P.real && P.real->shutdown)
        P.real->shutdown(state);
}

static const ptm_backend timed_backend = {
    .struct_size = sizeof(ptm_backend),
    .name = "cpu-timed",
    .description = "the cpu backend with every op timed (ptm_bench --profile)",
    .device_count = t_device_count,
    .supports = t_supports,
    .init = t_init,
    .shutdown = t_shutdown,
    .ops = &timed_ops,
};

static ptm_status timed_register(ptm_registrar *reg)
{
    return ptm_registrar_add_backend(reg, &timed_backend);
}

static const ptm_plugin timed_plugin = {
    PTM_PLUGIN_HEADER, "ptm-bench-timed", "0.1.0", "per-op timing around the cpu backend", "Apache-2.0",
    timed_register,
};

/* ------------------------------------------------------------- running */

typedef struct runner {
    const ptm_model *m;
    ptm_exec *ex;
    ptm_tensor *ids;  /* [1, T] prompt */
    ptm_tensor *tok;  /* [1, 1] */
    int64_t T, ndec, vocab;
} runner;

static int64_t argmax_last(const ptm_tensor *logits)
{
    int64_t V = ptm_tensor_dim(logits, -1), rows = ptm_tensor_numel(logits) / V;
    const float *p = (const float *)ptm_tensor_data(logits) + (rows - 1) * V;
    int64_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (p[i] > p[best])
            best = i;
    return best;
}

static ptm_tensor *forward(runner *r, const ptm_tensor *ids)
{
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.input_ids = ids;
    a.use_cache = 1;
    a.cache_capacity = r->T + r->ndec;
    a.logits_to_keep = 1; /* as generate: only the last position's logits */
    ptm_tensor *out = NULL;
    ptm_status s = ptm_model_forward(r->m, r->ex, &a, &out);
    if (s)
        die("forward", s);
    return out;
}

static double time_prefill(runner *r)
{
    ptm_exec_kv_set_length(r->ex, 0);
    double t0 = now_s();
    forward(r, r->ids);
    return now_s() - t0;
}

/* Untimed prefill, then ndec greedy steps; returns seconds of the steps. */
static double time_decode(runner *r, int64_t ndec, int64_t *toks)
{
    ptm_exec_kv_set_length(r->ex, 0);
    int64_t t = argmax_last(forward(r, r->ids));
    if (toks)
        toks[0] = t;
    int64_t *tp = ptm_tensor_data_mut(r->tok);
    double t0 = now_s();
    for (int64_t i = 0; i < ndec; i++) {
        *tp = t;
        t = argmax_last(forward(r, r->tok));
        if (toks)
            toks[i + 1] = t;
    }
    return now_s() - t0;
}

/* The prompt (the same ids as torch_bench.py) and the one-token input. */
static void runner_inputs(runner *r)
{
    ptm_status s;
    r->vocab = ptm_tensor_dim(ptm_model_param(r->m, "transformer.wte.weight"), 0);
    if (r->vocab <= 0)
        r->vocab = 50257;
    int64_t shape[2] = {1, r->T}, one[2] = {1, 1};
    if ((s = ptm_tensor_new(PTM_I64, 2, shape, &r->ids)) || (s = ptm_tensor_new(PTM_I64, 2, one, &r->tok)))
        die("inputs", s);
    int64_t *ip = ptm_tensor_data_mut(r->ids);
    for (int64_t j = 0; j < r->T; j++)
        ip[j] = (j * 7919 + 13) % r->vocab;
}

/* In a child process: load, and time a prefill (after a warm-up) and 8
 * decode steps with `threads` threads.  res = {prefill s, decode tok/s}. */
static int probe_child(ptm_context *ctx, const char *dir, const ptm_load_options *lo, int threads, int64_t T,
                       int64_t ndec, double res[2])
{
    int fds[2];
    if (pipe(fds))
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        runner r = {0};
        r.T = T;
        r.ndec = ndec;
        ptm_exec_options eo;
        ptm_exec_options_init(&eo);
        eo.num_threads = threads;
        eo.backend = g_backend;
        ptm_model *m;
        ptm_status s;
        if ((s = ptm_model_from_pretrained(ctx, dir, lo, &m)))
            die(dir, s);
        if ((s = ptm_exec_new(ctx, &eo, &r.ex)))
            die("exec", s);
        r.m = m;
        runner_inputs(&r);
        time_prefill(&r);
        double out[2];
        out[0] = time_prefill(&r);
        int64_t k = ndec < 8 ? ndec : 8;
        out[1] = (double)k / time_decode(&r, k, NULL);
        _exit(write(fds[1], out, sizeof out) == (ssize_t)sizeof out ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], res, 2 * sizeof *res);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return got == (ssize_t)(2 * sizeof *res) && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void print_profile(FILE *f, int phase, double wall, int nfwd)
{
    double tot = 0;
    for (int op = 0; op < PTM_OP_COUNT; op++)
        tot += P.sec[phase][op];
    fprintf(f, "    \"%s\": {\"forwards\": %d, \"wall_s\": %.6f, \"ops_s\": %.6f, \"ops\": {",
            phase == PHASE_PREFILL ? "prefill" : "decode", nfwd, wall, tot);
    int first = 1;
    for (int op = 0; op < PTM_OP_COUNT; op++) {
        if (!P.calls[phase][op])
            continue;
        fprintf(f, "%s\"%s\": [%lld, %.6f]", first ? "" : ", ", ptm_op_name((ptm_op)op),
                (long long)P.calls[phase][op], P.sec[phase][op]);
        first = 0;
    }
    fprintf(f, "},\n      \"matmul_shapes\": [");
    for (int i = 0; i < P.nshapes[phase]; i++) {
        const mm_shape *s = &P.shapes[phase][i];
        fprintf(f,
                "%s\n        {\"m\": %lld, \"k\": %lld, \"n\": %lld, \"batch\": %lld, \"trans_b\": %d, \"bias\": %d, "
                "\"b_dtype\": \"%s\", \"calls\": %lld, \"s\": %.6f, \"best_s\": %.6f}",
                i ? "," : "", (long long)s->m, (long long)s->k, (long long)s->n, (long long)s->batch, s->trans_b,
                s->bias, ptm_dtype_name(s->bdt), (long long)s->calls, s->sec, s->best);
    }
    fprintf(f, "]}");
}

static void usage(void)
{
    fprintf(stderr, "usage: ptm_bench --model DIR [--backend NAME] [--dtype f32|bf16|f16|auto] [--threads N|0] [--prefill 128]\n"
                    "                 [--decode 64] [--reps 5] [--decode-reps 3] [--loads 3] [--profile]\n"
                    "                 [--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *json = NULL, *dtype_name = "f32";
    int threads = 0, reps = 5, decode_reps = 3, loads = 3, profile = 0;
    int64_t T = 128, ndec = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--profile")) {
            profile = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--model"))
            model_dir = v;
        else if (!strcmp(a, "--json"))
            json = v;
        else if (!strcmp(a, "--backend"))
            g_backend = v;
        else if (!strcmp(a, "--dtype"))
            dtype_name = v;
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--prefill"))
            T = atoll(v);
        else if (!strcmp(a, "--decode"))
            ndec = atoll(v);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v);
        else if (!strcmp(a, "--decode-reps"))
            decode_reps = atoi(v);
        else if (!strcmp(a, "--loads"))
            loads = atoi(v);
        else
            usage();
    }
    if (!model_dir || T < 1 || ndec < 1 || reps < 1 || reps > 64 || decode_reps < 1 || decode_reps > 64 ||
        loads < 1 || loads > 64)
        usage();
    ptm_dtype want;
    if (!strcmp(dtype_name, "auto"))
        want = PTM_DTYPE_AUTO;
    else if (ptm_dtype_parse(dtype_name, &want))
        die("--dtype", PTM_ERR_INVALID_ARG);

    /* Context and plugins first: the equivalent of `import torch`. */
    double t0 = now_s();
    ptm_context *ctx;
    ptm_status s = ptm_context_new(NULL, &ctx);
    if (s)
        die("context", s);
    if (profile && (s = ptm_context_register_plugin(ctx, &timed_plugin)))
        die("registering cpu-timed", s);
    if ((s = ptm_context_load_plugins(ctx)))
        die("loading plugins", s);
    double plugins_s = now_s() - t0;
    if (profile)
        P.real = ptm_context_find_backend(ctx, "cpu");
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    warm_page_cache(path);
    ptm_load_options lo;
    ptm_load_options_init(&lo);
    lo.dtype = want;
    ptm_exec_options eo;
    ptm_exec_options_init(&eo);
    eo.backend = g_backend;
    runner r = {0};
    r.T = T;
    r.ndec = ndec;

    /* Thread count: --threads N, or probe 1..nproc, each in a child process
     * (so the probes leave nothing in this one's peak RSS): load, a warm-up
     * and one prefill, 8 decode steps.  The best count is taken for prefill
     * and for decode separately, as on the PyTorch side. */
    int default_threads = 0, tp = threads, td = threads, nprobe = 0;
    double probe_p[256], probe_d[256];
    {
        ptm_exec *ex0;
        if ((s = ptm_exec_new(ctx, &eo, &ex0)))
            die("exec", s);
        default_threads = ptm_exec_num_threads(ex0);
        ptm_exec_free(ex0);
    }
    if (threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        nprobe = nc < 1 ? 1 : nc > 256 ? 256 : (int)nc;
        for (int t = 1; t <= nprobe; t++) {
            double res[2];
            if (probe_child(ctx, model_dir, &lo, t, T, ndec, res))
                die("probe", PTM_ERR_STATE);
            probe_p[t - 1] = res[0];
            probe_d[t - 1] = res[1];
            fprintf(stderr, "ptm probe threads=%d: prefill %.1f ms, decode %.2f tok/s\n", t, res[0] * 1e3, res[1]);
            if (t == 1 || probe_p[t - 1] < probe_p[tp - 1])
                tp = t;
            if (t == 1 || probe_d[t - 1] > probe_d[td - 1])
                td = t;
        }
    }

    eo.num_threads = tp;
    if ((s = ptm_exec_new(ctx, &eo, &r.ex)))
        die("exec", s);
    long rss_base = status_kb("VmRSS");
    double load_s[64], first_prefill = 0;
    ptm_model *m = NULL;
    for (int i = 0; i < loads; i++) {
        ptm_model_free(m);
        m = NULL;
        t0 = now_s();
        s = ptm_model_from_pretrained(ctx, model_dir, &lo, &m);
        load_s[i] = now_s() - t0;
        if (s)
            die(model_dir, s);
        if (i == 0) {
            r.m = m;
            runner_inputs(&r);
            first_prefill = time_prefill(&r);
        }
        fprintf(stderr, "ptm load %d: %.1f ms\n", i, load_s[i] * 1e3);
    }
    r.m = m;

    time_prefill(&r); /* warm-up */
    double pre[64];
    for (int i = 0; i < reps; i++)
        pre[i] = time_prefill(&r);
    if (td != tp) {
        ptm_exec_free(r.ex);
        eo.num_threads = td;
        if ((s = ptm_exec_new(ctx, &eo, &r.ex)))
            die("exec", s);
    }
    ptm_exec *ex = r.ex;
    time_decode(&r, ndec < 8 ? ndec : 8, NULL); /* warm-up */
    double dec[64];
    int64_t *toks = calloc((size_t)ndec + 1, sizeof *toks);
    for (int i = 0; i < decode_reps; i++)
        dec[i] = (double)ndec / time_decode(&r, ndec, i ? NULL : toks);
    fprintf(stderr, "ptm %s: prefill %.1f ms (threads %d), decode %.2f tok/s (threads %d)\n",
            ptm_dtype_name(ptm_model_dtype(m)), median(pre, reps) * 1e3, tp, median(dec, decode_reps), td);
    long maxrss = maxrss_kb(), hwm = status_kb("VmHWM");
    long rss_end = status_kb("VmRSS"), rss_file = status_kb("RssFile"), rss_anon = status_kb("RssAnon");

    /* Profile pass: after the peak-RSS reading, on its own exec. */
    double prof_wall[NPHASE] = {0};
    int prof_n[NPHASE] = {0};
    if (profile) {
        ptm_exec *pex;
        eo.backend = "cpu-timed";
        eo.num_threads = tp;
        if ((s = ptm_exec_new(ctx, &eo, &pex)))
            die("exec cpu-timed", s);
        runner pr = r;
        pr.ex = pex;
        P.phase = PHASE_OFF;
        time_prefill(&pr);
        P.phase = PHASE_PREFILL;
        for (int i = 0; i < reps; i++)
            prof_wall[PHASE_PREFILL] += time_prefill(&pr);
        prof_n[PHASE_PREFILL] = reps;
        P.phase = PHASE_OFF;
        if (td != tp) {
            ptm_exec_free(pex);
            eo.num_threads = td;
            if ((s = ptm_exec_new(ctx, &eo, &pex)))
                die("exec cpu-timed", s);
            pr.ex = pex;
        }
        time_decode(&pr, 4, NULL);
        ptm_exec_kv_set_length(pex, 0);
        forward(&pr, pr.ids);
        P.phase = PHASE_DECODE;
        int64_t *tokp = ptm_tensor_data_mut(pr.tok);
        double d0 = now_s();
        for (int64_t i = 0; i < ndec; i++) {
            *tokp = toks[i]; /* the greedy tokens of the measured run */
            forward(&pr, pr.tok);
        }
        prof_wall[PHASE_DECODE] = now_s() - d0;
        prof_n[PHASE_DECODE] = (int)ndec;
        P.phase = PHASE_OFF;
        ptm_exec_free(pex);
    }

    FILE *f = json ? fopen(json, "w") : stdout;
    if (!f) {
        fprintf(stderr, "ptm_bench: %s: %s\n", json, strerror(errno));
        return 1;
    }
    fprintf(f, "{\n  \"backend\": \"%s\",\n", g_backend ? g_backend : "cpu");
    fprintf(f, "  \"impl\": \"ptm\",\n  \"ptm_version\": \"%s\",\n  \"model\": \"%s\",\n", ptm_version(),
            model_dir);
    fprintf(f, "  \"dtype\": \"%s\",\n  \"default_threads\": %d,\n", ptm_dtype_name(ptm_model_dtype(m)),
            default_threads);
    fprintf(f, "  \"prefill_threads\": \"%d\",\n  \"decode_threads\": \"%d\",\n  \"probe\": {", tp, td);
    for (int t = 1; t <= nprobe; t++)
        fprintf(f, "%s\"%d\": {\"prefill_s\": %.6f, \"decode_tok_s\": %.4f}", t > 1 ? ", " : "", t, probe_p[t - 1],
                probe_d[t - 1]);
    fprintf(f, "},\n");
    fprintf(f, "  \"params\": %lld,\n  \"weight_bytes\": %lld,\n", (long long)ptm_model_num_parameters(m, 0, 0),
            (long long)ptm_model_memory_footprint(m, 0));
    fprintf(f, "  \"plugins_s\": %.6f,\n  \"load_s\": %.6f,\n  \"load_all\": [", plugins_s, median(load_s, loads));
    for (int i = 0; i < loads; i++)
        fprintf(f, "%s%.6f", i ? ", " : "", load_s[i]);
    fprintf(f, "],\n  \"first_prefill_s\": %.6f,\n  \"prefill_tokens\": %lld,\n  \"prefill_s\": %.6f,\n",
            first_prefill, (long long)T, median(pre, reps));
    fprintf(f, "  \"prefill_all\": [");
    for (int i = 0; i < reps; i++)
        fprintf(f, "%s%.6f", i ? ", " : "", pre[i]);
    fprintf(f, "],\n  \"decode_tokens\": %lld,\n  \"decode_tok_s\": %.4f,\n  \"decode_all\": [", (long long)ndec,
            median(dec, decode_reps));
    for (int i = 0; i < decode_reps; i++)
        fprintf(f, "%s%.4f", i ? ", " : "", dec[i]);
    fprintf(f, "],\n  \"greedy_tokens\": [");
    for (int64_t i = 0; i <= ndec; i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)toks[i]);
    fprintf(f, "],\n  \"scratch_bytes\": %zu,\n", ptm_exec_scratch_capacity(ex));
    fprintf(f, "  \"rss_base_kb\": %ld,\n  \"maxrss_kb\": %ld,\n  \"vmhwm_kb\": %ld,\n", rss_base, maxrss, hwm);
    fprintf(f, "  \"rss_end_kb\": %ld,\n  \"rss_file_kb\": %ld,\n  \"rss_anon_kb\": %ld", rss_end, rss_file,
            rss_anon);
    if (profile) {
        fprintf(f, ",\n  \"profile\": {\n");
        print_profile(f, PHASE_PREFILL, prof_wall[PHASE_PREFILL], prof_n[PHASE_PREFILL]);
        fprintf(f, ",\n");
        print_profile(f, PHASE_DECODE, prof_wall[PHASE_DECODE], prof_n[PHASE_DECODE]);
        fprintf(f, "\n  }");
    }
    fprintf(f, "\n}\n");
    if (json)
        fclose(f);

    free(toks);
    ptm_tensor_release(r.ids);
    ptm_tensor_release(r.tok);
    ptm_model_free(m);
    ptm_exec_free(ex);
    ptm_context_free(ctx);
    return 0;
}
