/* SPDX-License-Identifier: Apache-2.0 */
/* generate.c - ptm_model_generate: transformers' generate() for decoder
 * models, greedy search and sampling, with the exec's KV cache.
 *
 * One prefill pass over the whole prompt, then one pass per new token.
 * Positions follow transformers' prepare_inputs_for_generation: with an
 * attention mask, cumsum(mask) - 1 with masked positions set to 1 (left
 * padding); without one, 0, 1, 2, ...  Sampling applies transformers' logits
 * warpers in their order (temperature, top-k, top-p), then draws from the
 * softmax with a seeded splitmix64 stream (same seed, same output). */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ptm_generate_options_init(ptm_generate_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_new_tokens = 20;
    o->do_sample = 0;
    o->temperature = 1.0f;
    o->top_k = 50;
    o->top_p = 1.0f;
    o->seed = 0;
    o->use_generation_config = 1;
    o->pad_token_id = -1;
}

/* ------------------------------------------------------------- helpers */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

/* config "eos_token_id": an integer or a list of integers (malloc'd). */
static ptm_status config_eos(const ptm_config *cfg, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    int64_t one;
    if (ptm_config_get_int(cfg, "eos_token_id", &one) == PTM_OK) {
        if (!(*ids = malloc(sizeof **ids)))
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        (*ids)[0] = one;
        *n = 1;
        return PTM_OK;
    }
    ptm_clear_error();
    if (ptm_config_array_size(cfg, "eos_token_id") == 0)
        return PTM_OK;
    size_t cnt = ptm_config_array_size(cfg, "eos_token_id");
    if (!(*ids = malloc(cnt * sizeof **ids)))
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++)
        if (!ptm_config_array_int(cfg, "eos_token_id", i, &(*ids)[(*n)++])) {
            free(*ids);
            *ids = NULL;
            *n = 0;
            return ptm_error(PTM_ERR_CONFIG, "%s: eos_token_id[%zu] is not an integer",
                             ptm_config_origin(cfg) ? ptm_config_origin(cfg) : "config", i);
        }
    return PTM_OK;
}

typedef struct scored {
    float v;
    int32_t i;
} scored;

/* Descending by value, ties by ascending index (deterministic). */
static int by_score_desc(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Reorder buf so that its k largest values (by by_score_desc) come first:
 * quickselect, expected O(n). */
static void select_top(scored *buf, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        scored pivot = buf[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (by_score_desc(&buf[i], &pivot) < 0)
                i++;
            while (by_score_desc(&buf[j], &pivot) > 0)
                j--;
            if (i <= j) {
                scored t = buf[i];
                buf[i++] = buf[j];
                buf[j--] = t;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            return;
    }
}

static int64_t argmax_row(const float *row, int64_t V)
{
    int64_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (row[i] > row[best] || (isnan(row[best]) && !isnan(row[i])))
            best = i;
    return best;
}

/* temperature, top-k (ties with the k-th kept), top-p (the smallest
 * descending prefix whose mass reaches top_p, at least one), softmax, draw. */
static int64_t sample_row(const float *row, int64_t V, const ptm_generate_options *o, scored *buf, uint64_t *rng)
{
    for (int64_t i = 0; i < V; i++) {
        buf[i].v = o->temperature != 1.0f ? row[i] / o->temperature : row[i];
        if (isnan(buf[i].v))
            buf[i].v = -INFINITY;
        buf[i].i = (int32_t)i;
    }
    int64_t keep = V;
    if (o->top_k > 0 && o->top_k < V) {
        /* the k largest to the front (unordered), then those tied with the k-th */
        select_top(buf, V, o->top_k);
        float kth = buf[0].v;
        for (int64_t i = 1; i < o->top_k; i++)
            kth = buf[i].v < kth ? buf[i].v : kth;
        keep = o->top_k;
        for (int64_t i = keep; i < V; i++)
            if (buf[i].v >= kth) {
                scored t = buf[keep];
                buf[keep++] = buf[i];
                buf[i] = t;
            }
    }
    qsort(buf, (size_t)keep, sizeof *buf, by_score_desc);
    /* softmax over the kept ones (buf[0] is the maximum) */
    double mx = buf[0].v, total = 0.0;
    if (isinf(mx) && mx < 0)
        return buf[0].i; /* every logit is -inf: nothing to draw from */
    for (int64_t i = 0; i < keep; i++)
        total += exp((double)buf[i].v - mx);
    if (o->top_p < 1.0f) {
        double before = 0.0;
        int64_t n = 0;
        while (n < keep && (n == 0 || before < (double)o->top_p)) {
            before += exp((double)buf[n].v - mx) / total;
            n++;
        }
        keep = n;
        total = 0.0;
        for (int64_t i = 0; i < keep; i++)
            total += exp((double)buf[i].v - mx);
    }
    double u = uniform(rng) * total, cum = 0.0;
    for (int64_t i = 0; i < keep; i++) {
        cum += exp((double)buf[i].v - mx);
        if (u < cum)
            return buf[i].i;
    }
    return buf[keep - 1].i;
}

static int is_eos(const int64_t *eos, size_t n, int64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (eos[i] == t)
            return 1;
    return 0;
}

/* ------------------------------------------------------------- checks */

static ptm_status check_inputs(const ptm_model *m, const ptm_tensor *ids, const ptm_tensor *mask,
                               const ptm_generate_options *o)
{
    if (!ptm_model_can_generate(m))
        return ptm_error(PTM_ERR_UNSUPPORTED, "%s cannot generate (it has no language-modelling head)", m->class_name);
    if (ptm_tensor_dtype(ids) != PTM_I64 || ptm_tensor_ndim(ids) != 2 || ptm_tensor_dim(ids, 0) < 1 ||
        ptm_tensor_dim(ids, 1) < 1)
        return ptm_error(PTM_ERR_INVALID_ARG, "generate: input_ids must be a [batch, seq] I64 tensor with batch, seq >= 1");
    int64_t B = ptm_tensor_dim(ids, 0), T = ptm_tensor_dim(ids, 1);
    if (mask) {
        ptm_dtype dt = ptm_tensor_dtype(mask);
        if (ptm_tensor_ndim(mask) != 2 || ptm_tensor_dim(mask, 0) != B || ptm_tensor_dim(mask, 1) != T)
            return ptm_error(PTM_ERR_SHAPE, "generate: attention_mask must be [%lld, %lld] like input_ids",
                             (long long)B, (long long)T);
        if (dt != PTM_I64 && dt != PTM_I32 && dt != PTM_BOOL && dt != PTM_F32)
            return ptm_error(PTM_ERR_DTYPE, "generate: attention_mask must be I64, I32, BOOL or F32, not %s",
                             ptm_dtype_name(dt));
    }
    if (o->max_new_tokens < 0)
        return ptm_error(PTM_ERR_INVALID_ARG, "generate: max_new_tokens must be >= 0, not %lld",
                         (long long)o->max_new_tokens);
    if (o->do_sample) {
        if (!(o->temperature > 0.0f) || isinf(o->temperature))
            return ptm_error(PTM_ERR_INVALID_ARG, "generate: temperature must be a positive number, not %g",
                             (double)o->temperature);
        if (o->top_k < 0)
            return ptm_error(PTM_ERR_INVALID_ARG, "generate: top_k must be >= 0, not %lld", (long long)o->top_k);
        if (!(o->top_p > 0.0f && o->top_p <= 1.0f))
            return ptm_error(PTM_ERR_INVALID_ARG, "generate: top_p must be in (0, 1], not %g", (double)o->top_p);
    }
    int64_t V = ptm_config_int(m->config, "vocab_size", 0);
    const int64_t *d = ptm_tensor_data(ids);
    for (int64_t i = 0; V > 0 && i < B * T; i++)
        if (d[i] < 0 || d[i] >= V)
            return ptm_error(PTM_ERR_INVALID_ARG, "generate: token id %lld at [%lld, %lld] is outside the vocabulary "
                                                  "[0, %lld)", (long long)d[i], (long long)(i / T), (long long)(i % T),
                             (long long)V);
    int64_t maxp = PTM__HAS(m->arch, ptm_arch, max_positions) && m->arch->max_positions
                       ? m->arch->max_positions(m->state)
                       : 0;
    if (maxp > 0 && T + o->max_new_tokens > maxp)
        return ptm_error(PTM_ERR_INVALID_ARG, "generate: a prompt of %lld tokens plus max_new_tokens %lld exceeds the "
                                              "model's maximum of %lld positions", (long long)T,
                         (long long)o->max_new_tokens, (long long)maxp);
    return PTM_OK;
}

/* ------------------------------------------------------------ generate */

typedef struct gen {
    int64_t B, T, N, V;
    int64_t *out;        /* [B, T + N] */
    int64_t *mask;       /* [B, T + N] running mask (when one was given), else NULL */
    int64_t *count;      /* [B] ones in the mask so far */
    unsigned char *done; /* [B] */
    int64_t *eos;
    size_t neos;
    ptm_tensor *step_ids, *step_pos; /* [B, 1] I64 */
    ptm_tensor *prompt_pos;          /* [B, T] I64 (with a mask) */
    ptm_buffer *mask_buf;            /* packed [B, L] I64 for each step */
} gen;

static void gen_free(gen *g)
{
    free(g->out);
    free(g->mask);
    free(g->count);
    free(g->done);
    free(g->eos);
    ptm_tensor_release(g->step_ids);
    ptm_tensor_release(g->step_pos);
    ptm_tensor_release(g->prompt_pos);
    ptm_buffer_release(g->mask_buf);
}

static ptm_status gen_init(gen *g, const ptm_model *m, const ptm_tensor *ids, const ptm_tensor *mask,
                           const ptm_generate_options *o)
{
    g->B = ptm_tensor_dim(ids, 0);
    g->T = ptm_tensor_dim(ids, 1);
    g->N = o->max_new_tokens;
    const int64_t B = g->B, T = g->T, W = T + g->N;
    int64_t b1[2] = {B, 1}, bt[2] = {B, T};
    ptm_status s;
    g->out = malloc((size_t)(B * W) * sizeof *g->out);
    g->count = calloc((size_t)B, sizeof *g->count);
    g->done = calloc((size_t)B, 1);
    if (!g->out || !g->count || !g->done)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    const int64_t *src = ptm_tensor_data(ids);
    for (int64_t b = 0; b < B; b++)
        memcpy(g->out + b * W, src + b * T, (size_t)T * sizeof *src);
    if (o->eos_token_ids && o->n_eos_token_ids) {
        if (!(g->eos = malloc(o->n_eos_token_ids * sizeof *g->eos)))
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        memcpy(g->eos, o->eos_token_ids, o->n_eos_token_ids * sizeof *g->eos);
        g->neos = o->n_eos_token_ids;
    } else if ((s = config_eos(m->config, &g->eos, &g->neos))) {
        return s;
    }
    if ((s = ptm_tensor_new(PTM_I64, 2, b1, &g->step_ids)) || (s = ptm_tensor_new(PTM_I64, 2, b1, &g->step_pos)))
        return s;
    if (!mask)
        return PTM_OK;
    /* the running mask as I64, and the prompt's positions from it */
    g->mask = malloc((size_t)(B * W) * sizeof *g->mask);
    int64_t *tmp = malloc((size_t)(B * T) * sizeof *tmp);
    if (!g->mask || !tmp) {
        free(tmp);
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    if ((s = ptm_convert(ptm_tensor_data(mask), ptm_tensor_dtype(mask), tmp, PTM_I64, (size_t)(B * T))) ||
        (s = ptm_tensor_new(PTM_I64, 2, bt, &g->prompt_pos)) ||
        (s = ptm_buffer_alloc((size_t)(B * W) * sizeof(int64_t), &g->mask_buf))) {
        free(tmp);
        return s;
    }
    int64_t *pos = ptm_tensor_data_mut(g->prompt_pos);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            int64_t on = tmp[b * T + t] != 0;
            g->mask[b * W + t] = on;
            g->count[b] += on;
            pos[b * T + t] = on ? g->count[b] - 1 : 1;
        }
    free(tmp);
    return PTM_OK;
}

/* The next token of every row from logits [B, Tcur, V]. */
static ptm_status choose(gen *g, ptm_exec *ex, const ptm_tensor *logits, const ptm_generate_options *o,
                         uint64_t *rng, int64_t n)
{
    int64_t Tc = ptm_tensor_dim(logits, 1), V = ptm_tensor_dim(logits, 2), W = g->T + g->N;
    if (ptm_tensor_dtype(logits) != PTM_F32 || ptm_tensor_ndim(logits) != 3 || ptm_tensor_dim(logits, 0) != g->B ||
        V < 1 || V > INT32_MAX)
        return ptm_error(PTM_ERR_STATE, "generate: the forward pass did not return [batch, seq, vocab] f32 logits");
    scored *buf = NULL;
    if (o->do_sample) {
        ptm_tensor *t;
        int64_t shape[1] = {V * (int64_t)sizeof(scored)};
        ptm_status s = ptm_exec_scratch(ex, PTM_U8, 1, shape, &t); /* valid until the next pass */
        if (s)
            return s;
        buf = ptm_tensor_data_mut(t);
    }
    const float *data = ptm_tensor_data(logits);
    for (int64_t b = 0; b < g->B; b++) {
        const float *row = data + (b * Tc + Tc - 1) * V;
        int64_t tok;
        if (g->done[b]) /* pad_token_id, else it keeps its eos id */
            tok = o->pad_token_id >= 0 ? o->pad_token_id : g->out[b * W + g->T + n - 1];
        else
            tok = o->do_sample ? sample_row(row, V, o, buf, rng) : argmax_row(row, V);
        g->out[b * W + g->T + n] = tok;
    }
    return PTM_OK;
}

ptm_status ptm_model_generate(const ptm_model *m, ptm_exec *ex, const ptm_tensor *input_ids,
                              const ptm_tensor *attention_mask, const ptm_generate_options *opts, ptm_tensor **out)
{
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    o.struct_size = sizeof o;
    if (!m || !ex || !input_ids || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_model_generate: NULL argument");
    ptm_status s;
    int took = 0; /* some field came from the generation config */
    if (o.use_generation_config) {
        ptm_generate_options before = o;
        if ((s = ptm_generate_options_from_model(m, ptm_tensor_ndim(input_ids) == 2 ? ptm_tensor_dim(input_ids, 1) : 0,
                                                 &o)))
            return s;
        took = before.max_new_tokens != o.max_new_tokens || before.do_sample != o.do_sample ||
               before.temperature != o.temperature || before.top_k != o.top_k || before.top_p != o.top_p;
    }
    if ((s = check_inputs(m, input_ids, attention_mask, &o)))
        return took && m->gen_config
                   ? ptm_error_prefix(s, "with the defaults of %s",
                                      ptm_config_origin(m->gen_config)
                                          ? ptm_config_origin(m->gen_config)
                                          : "the generation config derived from config.json")
                   : s;
    gen g;
    memset(&g, 0, sizeof g);
    if ((s = gen_init(&g, m, input_ids, attention_mask, &o))) {
        gen_free(&g);
        return s;
    }
    const int64_t B = g.B, T = g.T, W = T + g.N;
    uint64_t rng = o.seed;
    int64_t n = 0; /* tokens generated */
    int stop = 0;
    ptm_exec_kv_clear(ex);
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.input_ids = input_ids;
    a.attention_mask = attention_mask;
    a.position_ids = g.prompt_pos;
    a.use_cache = 1;
    a.cache_capacity = W;
    a.logits_to_keep = 1; /* only the last position picks the next token */
    while (!s && n < g.N && !stop) {
        ptm_tensor *logits = NULL, *mask_view = NULL;
        if (n > 0) { /* one new token per row, the mask one longer */
            int64_t *ids = ptm_tensor_data_mut(g.step_ids), *pos = ptm_tensor_data_mut(g.step_pos);
            for (int64_t b = 0; b < B; b++)
                ids[b] = g.out[b * W + T + n - 1];
            a.input_ids = g.step_ids;
            a.position_ids = NULL;
            a.attention_mask = NULL;
            if (g.mask) {
                int64_t L = T + n, shape[2] = {B, L};
                int64_t *packed = ptm_buffer_data_mut(g.mask_buf);
                for (int64_t b = 0; b < B; b++) {
                    g.mask[b * W + L - 1] = 1;
                    g.count[b]++;
                    pos[b] = g.count[b] - 1;
                    memcpy(packed + b * L, g.mask + b * W, (size_t)L * sizeof *packed);
                }
                if ((s = ptm_tensor_from_buffer(g.mask_buf, 0, PTM_I64, 2, shape, &mask_view)))
                    break;
                a.attention_mask = mask_view;
                a.position_ids = g.step_pos;
            }
        }
        s = ptm_model_forward(m, ex, &a, &logits);
        ptm_tensor_release(mask_view);
        if (s || (s = choose(&g, ex, logits, &o, &rng, n)))
            break;
        int all_done = 1;
        for (int64_t b = 0; b < B; b++) {
            int64_t tok = g.out[b * W + T + n];
            if (!g.done[b]) {
                if (o.on_token && !stop && o.on_token(b, tok, o.user_data))
                    stop = 1;
                if (is_eos(g.eos, g.neos, tok))
                    g.done[b] = 1;
            }
            all_done &= g.done[b];
        }
        n++;
        if (all_done)
            break;
    }
    if (!s) {
        int64_t shape[2] = {B, T + n};
        s = ptm_tensor_new(PTM_I64, 2, shape, out);
        if (!s) {
            int64_t *d = ptm_tensor_data_mut(*out);
            for (int64_t b = 0; b < B; b++)
                memcpy(d + b * (T + n), g.out + b * W, (size_t)(T + n) * sizeof *d);
        }
    }
    if (s)
        ptm_exec_kv_clear(ex);
    gen_free(&g);
    return s;
}
