/* SPDX-License-Identifier: Apache-2.0 */
/* test_gpt2_basic.c - the gpt2 plugin and ptm_model_generate on small random
 * GPT-2 checkpoints that this test writes itself (config.json and a
 * hand-made safetensors file).
 *
 * Checked against: a naive double-precision GPT-2 written here from the
 * transformers 4.37 definition (loops, no ops, no head reshaping); the
 * parameter-count formula V*H + P*H + L*(12H^2 + 13H) + 2H; the model's own
 * full forward pass for KV-cached decoding and for greedy generation (the
 * cache and the generation loop are what is tested there).  Agreement with
 * PyTorch itself is tested by tests/reference/gpt2_ref.py. */
#include "check.h"

#include <ptm/ptm.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

static ptm_context *ctx;
static ptm_exec *ex;

/* ------------------------------------------------------------ a model */

typedef struct spec {
    int V, P, H, L, nh, I;
    const char *act; /* "gelu_new" or "relu" */
    int inner_null, scale_w, scale_layer, tie;
} spec;

static const spec SPEC_A = {40, 16, 12, 2, 3, 48, "gelu_new", 1, 1, 0, 1};
static const spec SPEC_B = {37, 12, 8, 3, 1, 20, "relu", 0, 0, 1, 0}; /* one head */

#define MAXW 64
typedef struct weights {
    int n;
    char name[MAXW][64];
    int ndim[MAXW];
    int64_t shape[MAXW][4];
    float *data[MAXW];
} weights;

static uint64_t lcg = 88172645463325252ull;
static float rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(lcg >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void add_w(weights *w, const char *name, int ndim, int64_t a, int64_t b, float base, float amp)
{
    int i = w->n++;
    snprintf(w->name[i], sizeof w->name[i], "%s", name);
    w->ndim[i] = ndim;
    w->shape[i][0] = a;
    w->shape[i][1] = b;
    int64_t n = ndim == 1 ? a : a * b;
    w->data[i] = malloc((size_t)n * sizeof(float));
    for (int64_t j = 0; j < n; j++)
        w->data[i][j] = base + amp * rnd();
}

static void make_weights(const spec *s, weights *w)
{
    memset(w, 0, sizeof *w);
    int64_t H = s->H, I = s->I;
    add_w(w, "wte.weight", 2, s->V, H, 0, 0.5f);
    add_w(w, "wpe.weight", 2, s->P, H, 0, 0.3f);
    for (int l = 0; l < s->L; l++) {
        char n[64];
#define W(suffix, nd, a, b, base, amp)                                                                         \
    snprintf(n, sizeof n, "h.%d.%s", l, suffix);                                                               \
    add_w(w, n, nd, a, b, base, amp)
        W("ln_1.weight", 1, H, 0, 1.0f, 0.2f);
        W("ln_1.bias", 1, H, 0, 0, 0.1f);
        W("attn.c_attn.weight", 2, H, 3 * H, 0, 0.4f);
        W("attn.c_attn.bias", 1, 3 * H, 0, 0, 0.1f);
        W("attn.c_proj.weight", 2, H, H, 0, 0.3f);
        W("attn.c_proj.bias", 1, H, 0, 0, 0.1f);
        W("ln_2.weight", 1, H, 0, 1.0f, 0.2f);
        W("ln_2.bias", 1, H, 0, 0, 0.1f);
        W("mlp.c_fc.weight", 2, H, I, 0, 0.3f);
        W("mlp.c_fc.bias", 1, I, 0, 0, 0.1f);
        W("mlp.c_proj.weight", 2, I, H, 0, 0.3f);
        W("mlp.c_proj.bias", 1, H, 0, 0, 0.1f);
#undef W
    }
    add_w(w, "ln_f.weight", 1, H, 0, 1.0f, 0.2f);
    add_w(w, "ln_f.bias", 1, H, 0, 0, 0.1f);
    if (!s->tie)
        add_w(w, "lm_head.weight", 2, s->V, H, 0, 0.5f);
}

static void free_weights(weights *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->data[i]);
}

static const float *wget(const weights *w, const char *name)
{
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->name[i], name))
            return w->data[i];
    fprintf(stderr, "no weight %s\n", name);
    abort();
}

/* ---------------------------------------------------- the files */

enum { LAYOUT_PREFIXED = 1, LAYOUT_LEGACY = 2 };

typedef struct entry {
    char name[96];
    int ndim;
    int64_t shape[4];
    const float *data; /* NULL: fill with fillv */
    float fillv;
} entry;

static void write_safetensors(const char *path, const entry *e, int n)
{
    char *hdr = malloc(65536);
    size_t len = 0, off = 0;
    len += (size_t)sprintf(hdr + len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        int64_t cnt = 1;
        len += (size_t)sprintf(hdr + len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", e[i].name);
        for (int d = 0; d < e[i].ndim; d++) {
            cnt *= e[i].shape[d];
            len += (size_t)sprintf(hdr + len, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
        }
        len += (size_t)sprintf(hdr + len, "],\"data_offsets\":[%zu,%zu]}", off, off + (size_t)cnt * 4);
        off += (size_t)cnt * 4;
    }
    hdr[len++] = '}';
    while (len % 8)
        hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    uint64_t hl = len; /* little-endian host assumed (x86-64, aarch64) */
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, len, f);
    for (int i = 0; i < n; i++) {
        int64_t cnt = 1;
        for (int d = 0; d < e[i].ndim; d++)
            cnt *= e[i].shape[d];
        if (e[i].data)
            fwrite(e[i].data, 4, (size_t)cnt, f);
        else
            for (int64_t j = 0; j < cnt; j++)
                fwrite(&e[i].fillv, 4, 1, f);
    }
    fclose(f);
    free(hdr);
}

/* A model folder: config.json + model.safetensors in `layout`. */
static void write_model(const char *dir, const spec *s, const weights *w, int layout, const char *cls)
{
    mkdir(PTM_TEST_TMP "/gpt2_basic", 0777);
    mkdir(dir, 0777);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"architectures\": [\"%s\"], \"model_type\": \"gpt2\", \"vocab_size\": %d, \"n_positions\": %d,\n"
            " \"n_embd\": %d, \"n_layer\": %d, \"n_head\": %d, \"n_inner\": ",
            cls, s->V, s->P, s->H, s->L, s->nh);
    if (s->inner_null)
        fprintf(f, "null");
    else
        fprintf(f, "%d", s->I);
    fprintf(f,
            ", \"activation_function\": \"%s\", \"layer_norm_epsilon\": 1e-05,\n"
            " \"scale_attn_weights\": %s, \"scale_attn_by_inverse_layer_idx\": %s, \"tie_word_embeddings\": %s,\n"
            " \"reorder_and_upcast_attn\": false, \"eos_token_id\": 7, \"bos_token_id\": 7, \"torch_dtype\": "
            "\"float32\"}\n",
            s->act, s->scale_w ? "true" : "false", s->scale_layer ? "true" : "false", s->tie ? "true" : "false");
    fclose(f);
    entry *e = calloc(MAXW * 2, sizeof *e);
    int n = 0;
    const char *pfx = (layout & LAYOUT_PREFIXED) ? "transformer." : "";
    for (int i = 0; i < w->n; i++) {
        int is_head = !strcmp(w->name[i], "lm_head.weight");
        snprintf(e[n].name, sizeof e[n].name, "%s%s", is_head ? "" : pfx, w->name[i]);
        e[n].ndim = w->ndim[i];
        memcpy(e[n].shape, w->shape[i], sizeof e[n].shape);
        e[n].data = w->data[i];
        n++;
        /* the legacy buffers after each block's c_proj, as old checkpoints hold them */
        int layer;
        size_t nl = strlen(w->name[i]);
        if ((layout & LAYOUT_LEGACY) && nl > 17 && !strcmp(w->name[i] + nl - 17, ".attn.c_proj.bias") &&
            sscanf(w->name[i], "h.%d.", &layer) == 1) {
            snprintf(e[n].name, sizeof e[n].name, "%sh.%d.attn.bias", pfx, layer);
            e[n].ndim = 4;
            e[n].shape[0] = e[n].shape[1] = 1;
            e[n].shape[2] = e[n].shape[3] = s->P;
            e[n].fillv = 1.0f;
            n++;
            snprintf(e[n].name, sizeof e[n].name, "%sh.%d.attn.masked_bias", pfx, layer);
            e[n].ndim = 0;
            e[n].fillv = -1e4f;
            n++;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_safetensors(path, e, n);
    free(e);
}

static ptm_model *load(const char *dir, const char *cls, const char *const *overrides)
{
    ptm_load_options o;
    ptm_load_options_init(&o);
    o.class_name = cls;
    o.config_overrides = overrides;
    ptm_model *m = NULL;
    if (ptm_model_from_pretrained(ctx, dir, &o, &m) != PTM_OK)
        fprintf(stderr, "load %s: %s\n", dir, ptm_last_error());
    return m;
}

/* ------------------------------------------------ the naive reference */

static void ref_ln(const double *x, const float *w, const float *b, int H, double *out)
{
    double mu = 0, var = 0;
    for (int i = 0; i < H; i++)
        mu += x[i];
    mu /= H;
    for (int i = 0; i < H; i++)
        var += (x[i] - mu) * (x[i] - mu);
    var /= H;
    for (int i = 0; i < H; i++)
        out[i] = (x[i] - mu) / sqrt(var + 1e-5) * w[i] + b[i];
}

/* y[N] = x[K] @ W[K, N] + b */
static void ref_lin(const double *x, const float *W, const float *b, int K, int N, double *y)
{
    for (int n = 0; n < N; n++) {
        double acc = b ? b[n] : 0;
        for (int k = 0; k < K; k++)
            acc += x[k] * W[(size_t)k * N + n];
        y[n] = acc;
    }
}

/* Logits [T, V] of one sequence; keymask[t] = 0 hides key t. */
static void ref_forward(const spec *s, const weights *w, int T, const int64_t *ids, const int64_t *pos,
                        const int *keymask, double *logits)
{
    int H = s->H, hd = s->H / s->nh, I = s->I;
    double *h = calloc((size_t)T * H, 8), *x = calloc((size_t)T * H, 8), *qkv = calloc((size_t)T * 3 * H, 8);
    double *a = calloc((size_t)T * H, 8), *y = calloc((size_t)H, 8), *f = calloc((size_t)I, 8), *p = calloc((size_t)T, 8);
    const float *wte = wget(w, "wte.weight"), *wpe = wget(w, "wpe.weight");
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++)
            h[t * H + i] = (double)wte[ids[t] * H + i] + wpe[pos[t] * H + i];
    for (int l = 0; l < s->L; l++) {
        char n[64];
#define G(suffix) (snprintf(n, sizeof n, "h.%d.%s", l, suffix), wget(w, n))
        for (int t = 0; t < T; t++) {
            ref_ln(h + t * H, G("ln_1.weight"), G("ln_1.bias"), H, x + t * H);
            ref_lin(x + t * H, G("attn.c_attn.weight"), G("attn.c_attn.bias"), H, 3 * H, qkv + t * 3 * H);
        }
        double scale = s->scale_w ? 1.0 / sqrt((double)hd) : 1.0;
        if (s->scale_layer)
            scale /= (l + 1);
        for (int hh = 0; hh < s->nh; hh++)
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY, tot = 0;
                for (int u = 0; u <= t; u++) {
                    double d = 0;
                    for (int k = 0; k < hd; k++)
                        d += qkv[t * 3 * H + hh * hd + k] * qkv[u * 3 * H + H + hh * hd + k];
                    p[u] = keymask[u] ? d * scale : -INFINITY;
                    if (p[u] > mx)
                        mx = p[u];
                }
                for (int u = 0; u <= t; u++)
                    tot += p[u] = isinf(mx) ? 1.0 : exp(p[u] - mx); /* fully masked rows: uniform, unused */
                for (int k = 0; k < hd; k++) {
                    double acc = 0;
                    for (int u = 0; u <= t; u++)
                        acc += p[u] / tot * qkv[u * 3 * H + 2 * H + hh * hd + k];
                    a[t * H + hh * hd + k] = acc;
                }
            }
        for (int t = 0; t < T; t++) {
            ref_lin(a + t * H, G("attn.c_proj.weight"), G("attn.c_proj.bias"), H, H, y);
            for (int i = 0; i < H; i++)
                h[t * H + i] += y[i];
            ref_ln(h + t * H, G("ln_2.weight"), G("ln_2.bias"), H, x + t * H);
            ref_lin(x + t * H, G("mlp.c_fc.weight"), G("mlp.c_fc.bias"), H, I, f);
            for (int i = 0; i < I; i++)
                f[i] = !strcmp(s->act, "relu") ? (f[i] > 0 ? f[i] : 0)
                                               : 0.5 * f[i] * (1 + tanh(sqrt(2 / M_PI) * (f[i] + 0.044715 * f[i] * f[i] * f[i])));
            ref_lin(f, G("mlp.c_proj.weight"), G("mlp.c_proj.bias"), I, H, y);
            for (int i = 0; i < H; i++)
                h[t * H + i] += y[i];
        }
#undef G
    }
    const float *head = s->tie ? wte : wget(w, "lm_head.weight");
    for (int t = 0; t < T; t++) {
        ref_ln(h + t * H, wget(w, "ln_f.weight"), wget(w, "ln_f.bias"), H, x + t * H);
        for (int v = 0; v < s->V; v++) {
            double acc = 0;
            for (int i = 0; i < H; i++)
                acc += x[t * H + i] * head[v * H + i];
            logits[t * s->V + v] = acc;
        }
    }
    free(h), free(x), free(qkv), free(a), free(y), free(f), free(p);
}

/* ------------------------------------------------------- helpers */

static ptm_tensor *ids_tensor(int64_t B, int64_t T, const int64_t *v)
{
    int64_t shape[2] = {B, T};
    ptm_tensor *t = NULL;
    ptm_tensor_from_data(PTM_I64, 2, shape, v, (size_t)(B * T) * 8, &t);
    return t;
}

static ptm_status fwd(ptm_model *m, ptm_tensor *ids, ptm_tensor *mask, ptm_tensor *pos, int cache, ptm_tensor **out)
{
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.input_ids = ids;
    a.attention_mask = mask;
    a.position_ids = pos;
    a.use_cache = cache;
    return ptm_model_forward(m, ex, &a, out);
}

static double max_diff_row(const float *a, const double *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > d)
            d = fabs(a[i] - b[i]);
    return d;
}

static weights WA, WB;
static char DIR_A[256], DIR_A_PFX[256], DIR_B[256];

/* ------------------------------------------------------------ tests */

TEST(config_errors_name_the_key)
{
    ptm_model *m = NULL;
    ptm_load_options o;
    ptm_load_options_init(&o);
    const char *const no_head[] = {"n_head", "null", NULL};
    o.config_overrides = no_head;
    CHECK_ERR(ptm_model_from_pretrained(ctx, DIR_A, &o, &m), PTM_ERR_CONFIG, "\"n_head\"");
    const char *const no_vocab[] = {"vocab_size", "null", NULL};
    o.config_overrides = no_vocab;
    CHECK_ERR(ptm_model_from_pretrained(ctx, DIR_A, &o, &m), PTM_ERR_CONFIG, "\"vocab_size\"");
    const char *const bad_heads[] = {"n_head", "5", NULL};
    o.config_overrides = bad_heads;
    CHECK_ERR(ptm_model_from_pretrained(ctx, DIR_A, &o, &m), PTM_ERR_CONFIG, "n_head");
    const char *const bad_act[] = {"activation_function", "\"quick_gelu\"", NULL};
    o.config_overrides = bad_act;
    CHECK_ERR(ptm_model_from_pretrained(ctx, DIR_A, &o, &m), PTM_ERR_UNSUPPORTED, "quick_gelu");
    const char *const bad_inner[] = {"n_inner", "\"big\"", NULL};
    o.config_overrides = bad_inner;
    CHECK_ERR(ptm_model_from_pretrained(ctx, DIR_A, &o, &m), PTM_ERR_CONFIG, "n_inner");
    CHECK(m == NULL);
}

TEST(both_layouts_load_and_count)
{
    const int64_t V = SPEC_A.V, P = SPEC_A.P, H = SPEC_A.H, L = SPEC_A.L;
    const int64_t formula = V * H + P * H + L * (12 * H * H + 13 * H) + 2 * H;
    const char *dirs[2] = {DIR_A, DIR_A_PFX};
    const char *classes[2] = {"GPT2LMHeadModel", "GPT2Model"};
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < 2; c++) {
            ptm_model *m = load(dirs[d], classes[c], NULL);
            CHECK(m != NULL);
            if (!m)
                continue;
            CHECK(!strcmp(ptm_model_class(m), classes[c]));
            CHECK(ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 0);
            CHECK(ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 0); /* legacy attn.bias ignored */
            CHECK(ptm_model_num_parameters(m, 0, 0) == formula);
            CHECK(ptm_model_can_generate(m) == (c == 0));
            const char *name = c == 0 ? "transformer.h.1.mlp.c_fc.weight" : "h.1.mlp.c_fc.weight";
            ptm_tensor *t = ptm_model_param(m, name);
            CHECK(t && ptm_tensor_dim(t, 0) == H && ptm_tensor_dim(t, 1) == 4 * H);
            if (t)
                CHECK(((const float *)ptm_tensor_data(t))[5] == wget(&WA, "h.1.mlp.c_fc.weight")[5]);
            if (c == 0)
                CHECK(ptm_model_param(m, "lm_head.weight") == ptm_model_param(m, "transformer.wte.weight"));
            CHECK(ptm_model_param(m, c == 0 ? "transformer.h.0.attn.bias" : "h.0.attn.bias") == NULL);
            ptm_model_free(m);
        }
    ptm_model *m = load(DIR_B, NULL, NULL); /* untied: lm_head counts */
    CHECK(m != NULL);
    if (m) {
        const int64_t v = SPEC_B.V, p = SPEC_B.P, h = SPEC_B.H, l = SPEC_B.L, i = SPEC_B.I;
        CHECK(ptm_model_num_parameters(m, 0, 0) == v * h + p * h + l * (4 * h * h + 8 * h + 2 * h * i + i + h) +
                                                        2 * h + v * h);
        CHECK(ptm_model_param(m, "lm_head.weight") != ptm_model_param(m, "transformer.wte.weight"));
        CHECK(ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 0);
        ptm_model_free(m);
    }
}

/* Full forward against the naive reference, both specs, B = 1. */
TEST(forward_matches_reference)
{
    const spec *specs[2] = {&SPEC_A, &SPEC_B};
    const weights *ws[2] = {&WA, &WB};
    const char *dirs[2] = {DIR_A, DIR_B};
    for (int k = 0; k < 2; k++) {
        const spec *s = specs[k];
        ptm_model *m = load(dirs[k], NULL, NULL);
        if (!m) {
            CHECK(0);
            continue;
        }
        int64_t ids[7] = {3, 1, 4, 1, 5, 9, 2}, pos[7] = {0, 1, 2, 3, 4, 5, 6};
        int km[7] = {1, 1, 1, 1, 1, 1, 1};
        double *ref = malloc(sizeof(double) * 7 * (size_t)s->V);
        ref_forward(s, ws[k], 7, ids, pos, km, ref);
        ptm_tensor *in = ids_tensor(1, 7, ids), *out = NULL;
        CHECK_OK(fwd(m, in, NULL, NULL, 0, &out));
        if (out) {
            CHECK(ptm_tensor_dim(out, 2) == s->V);
            double d = max_diff_row(ptm_tensor_data(out), ref, 7 * s->V);
            if (d > 1e-4)
                fprintf(stderr, "spec %d: max diff %g\n", k, d);
            CHECK(d <= 1e-4);
        }
        /* base class: the last hidden state, [1, 7, H] */
        ptm_model *base = load(dirs[k], "GPT2Model", NULL);
        CHECK(base && fwd(base, in, NULL, NULL, 0, &out) == PTM_OK && ptm_tensor_dim(out, 2) == s->H);
        ptm_model_free(base);
        ptm_tensor_release(in);
        free(ref);
        ptm_model_free(m);
    }
}

/* B = 2 with left padding and an attention mask: each row as the reference
 * computes it alone; then single-token decoding of both rows with the cache. */
TEST(batch_mask_and_cache)
{
    const spec *s = &SPEC_A;
    ptm_model *m = load(DIR_A, NULL, NULL);
    if (!m) {
        CHECK(0);
        return;
    }
    const int T = 6, V = s->V;
    int64_t ids[12] = {0, 0, 11, 12, 13, 14, 21, 22, 23, 24, 25, 26};
    int64_t mask[12] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int64_t pos[12] = {1, 1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5};
    int64_t shape[2] = {2, T};
    ptm_tensor *in = ids_tensor(2, T, ids), *mk = NULL, *ps = ids_tensor(2, T, pos), *out = NULL;
    ptm_tensor_from_data(PTM_I64, 2, shape, mask, sizeof mask, &mk);
    double *ref = malloc(sizeof(double) * (size_t)(T * V));
    int km[2][6] = {{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}};
    CHECK_OK(fwd(m, in, mk, ps, 0, &out));
    for (int b = 0; out && b < 2; b++) {
        ref_forward(s, &WA, T, ids + b * T, pos + b * T, km[b], ref);
        const float *got = (const float *)ptm_tensor_data(out) + (size_t)b * T * V;
        for (int t = 2; t < T; t++) /* padded query rows are not compared */
            CHECK(max_diff_row(got + t * V, ref + t * V, V) <= 1e-4);
    }
    /* the same through the cache: prefill T-1, then one token */
    float last_full[2][64];
    for (int b = 0; out && b < 2; b++)
        memcpy(last_full[b], (const float *)ptm_tensor_data(out) + ((size_t)b * T + T - 1) * V, (size_t)V * 4);
    int64_t ids5[10], mask5[10], pos5[10], id1[2] = {ids[5], ids[11]}, pos1[2] = {pos[5], pos[11]};
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < T - 1; t++) {
            ids5[b * 5 + t] = ids[b * T + t];
            mask5[b * 5 + t] = mask[b * T + t];
            pos5[b * 5 + t] = pos[b * T + t];
        }
    int64_t shape5[2] = {2, 5};
    ptm_tensor *in5 = ids_tensor(2, 5, ids5), *ps5 = ids_tensor(2, 5, pos5), *mk5 = NULL;
    ptm_tensor *in1 = ids_tensor(2, 1, id1), *ps1 = ids_tensor(2, 1, pos1);
    ptm_tensor_from_data(PTM_I64, 2, shape5, mask5, sizeof mask5, &mk5);
    ptm_exec_kv_clear(ex);
    CHECK_OK(fwd(m, in5, mk5, ps5, 1, &out));
    CHECK(ptm_exec_kv_length(ex) == 5);
    CHECK_OK(fwd(m, in1, mk, ps1, 1, &out));
    CHECK(ptm_exec_kv_length(ex) == 6);
    for (int b = 0; out && b < 2; b++) {
        const float *got = (const float *)ptm_tensor_data(out) + (size_t)b * V;
        double d = 0;
        for (int v = 0; v < V; v++)
            d = fmax(d, fabs(got[v] - last_full[b][v]));
        CHECK(d <= 1e-4);
    }
    ptm_exec_kv_clear(ex);
    ptm_tensor_release(in), ptm_tensor_release(mk), ptm_tensor_release(ps), ptm_tensor_release(in5);
    ptm_tensor_release(ps5), ptm_tensor_release(mk5), ptm_tensor_release(in1), ptm_tensor_release(ps1);
    free(ref);
    ptm_model_free(m);
}

/* B = 1, no mask: prefill T-1 then 1 token equals the full pass; for both specs. */
TEST(kv_cache_decoding)
{
    const char *dirs[2] = {DIR_A, DIR_B};
    for (int k = 0; k < 2; k++) {
        ptm_model *m = load(dirs[k], NULL, NULL);
        if (!m) {
            CHECK(0);
            continue;
        }
        int64_t ids[9] = {5, 6, 7, 8, 9, 10, 11, 12, 13};
        int T = k ? 9 : 8;
        ptm_tensor *full = ids_tensor(1, T, ids), *pre = ids_tensor(1, T - 1, ids), *one = ids_tensor(1, 1, ids + T - 1);
        ptm_tensor *out = NULL;
        CHECK_OK(fwd(m, full, NULL, NULL, 0, &out));
        int64_t V = out ? ptm_tensor_dim(out, 2) : 0;
        float *want = malloc((size_t)V * 4 + 4);
        if (out)
            memcpy(want, (const float *)ptm_tensor_data(out) + (T - 1) * V, (size_t)V * 4);
        ptm_exec_kv_clear(ex);
        CHECK_OK(fwd(m, pre, NULL, NULL, 1, &out));
        CHECK_OK(fwd(m, one, NULL, NULL, 1, &out));
        double d = 0;
        for (int64_t v = 0; out && v < V; v++)
            d = fmax(d, fabs(((const float *)ptm_tensor_data(out))[v] - want[v]));
        CHECK(out && ptm_tensor_dim(out, 1) == 1 && d <= 1e-4);
        ptm_exec_kv_clear(ex);
        free(want);
        ptm_tensor_release(full), ptm_tensor_release(pre), ptm_tensor_release(one);
        ptm_model_free(m);
    }
}

typedef struct seen {
    int n;
    int64_t tok[64];
    int stop_after;
} seen;

static int collect(int64_t b, int64_t tok, void *ud)
{
    seen *s = ud;
    (void)b;
    if (s->n < 64)
        s->tok[s->n++] = tok;
    return s->stop_after && s->n >= s->stop_after;
}

TEST(generate_greedy_and_sampling)
{
    ptm_model *m = load(DIR_A, NULL, NULL);
    if (!m) {
        CHECK(0);
        return;
    }
    int64_t prompt[3] = {2, 30, 17};
    ptm_tensor *in = ids_tensor(1, 3, prompt), *g = NULL;
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    CHECK(o.max_new_tokens == 20 && !o.do_sample && o.temperature == 1.0f && o.top_k == 50 && o.top_p == 1.0f);
    int64_t none = -1;
    o.max_new_tokens = 8;
    o.eos_token_ids = &none; /* no eos: always 8 tokens */
    o.n_eos_token_ids = 1;
    seen sn = {0};
    o.on_token = collect;
    o.user_data = &sn;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &g));
    CHECK(g && ptm_tensor_dim(g, 1) == 11 && sn.n == 8);
    /* greedy = argmax of a full forward pass over each prefix */
    const int64_t *gi = g ? ptm_tensor_data(g) : NULL;
    for (int t = 3; gi && t < 11; t++) {
        ptm_tensor *pre = ids_tensor(1, t, gi), *out = NULL;
        CHECK_OK(fwd(m, pre, NULL, NULL, 0, &out));
        const float *row = (const float *)ptm_tensor_data(out) + (size_t)(t - 1) * SPEC_A.V;
        int64_t best = 0;
        for (int v = 1; v < SPEC_A.V; v++)
            if (row[v] > row[best])
                best = v;
        CHECK(gi[t] == best && sn.tok[t - 3] == best);
        ptm_tensor_release(pre);
    }
    /* eos: config eos_token_id 7; stopping at the first greedy token */
    int64_t first = gi ? gi[3] : 0;
    ptm_tensor *g2 = NULL;
    o.eos_token_ids = &first;
    o.on_token = NULL;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &g2));
    CHECK(g2 && ptm_tensor_dim(g2, 1) == 4);
    ptm_tensor_release(g2);
    /* the callback stops it */
    seen stop = {0, {0}, 3};
    o.eos_token_ids = &none;
    o.on_token = collect;
    o.user_data = &stop;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &g2));
    CHECK(g2 && ptm_tensor_dim(g2, 1) == 6 && stop.n == 3);
    ptm_tensor_release(g2);
    /* sampling: the same seed gives the same tokens */
    ptm_tensor *s1 = NULL, *s2 = NULL, *s3 = NULL;
    o.on_token = NULL;
    o.do_sample = 1;
    o.temperature = 1.5f;
    o.top_k = 20;
    o.top_p = 0.9f;
    o.seed = 1234;
    o.max_new_tokens = 12;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &s1));
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &s2));
    o.seed = 99;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &s3));
    CHECK(s1 && s2 && s3 && !memcmp(ptm_tensor_data(s1), ptm_tensor_data(s2), 15 * 8));
    CHECK(s1 && s3 && memcmp(ptm_tensor_data(s1), ptm_tensor_data(s3), 15 * 8) != 0);
    /* top_k = 1 sampling is greedy whatever the seed */
    ptm_tensor *s4 = NULL;
    o.top_k = 1;
    o.max_new_tokens = 8;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &s4));
    CHECK(s4 && gi && !memcmp(ptm_tensor_data(s4), gi, 11 * 8));
    ptm_tensor_release(s1), ptm_tensor_release(s2), ptm_tensor_release(s3), ptm_tensor_release(s4);
    ptm_tensor_release(g);
    ptm_tensor_release(in);
    ptm_model_free(m);
}

/* Left padding with a mask: each row continues as it would alone; and an
 * eos_token_id list in the config. */
TEST(generate_padded_batch_and_eos_list)
{
    ptm_model *m = load(DIR_A, NULL, NULL);
    if (!m) {
        CHECK(0);
        return;
    }
    int64_t ids[10] = {0, 0, 5, 9, 33, 21, 22, 23, 24, 25}, mask[10] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    int64_t shape[2] = {2, 5}, none = -1;
    ptm_tensor *in = ids_tensor(2, 5, ids), *mk = NULL, *g = NULL, *a = ids_tensor(1, 3, ids + 2),
               *b = ids_tensor(1, 5, ids + 5), *ga = NULL, *gb = NULL;
    ptm_tensor_from_data(PTM_I64, 2, shape, mask, sizeof mask, &mk);
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    o.max_new_tokens = 6;
    o.eos_token_ids = &none;
    o.n_eos_token_ids = 1;
    CHECK_OK(ptm_model_generate(m, ex, in, mk, &o, &g));
    CHECK_OK(ptm_model_generate(m, ex, a, NULL, &o, &ga));
    CHECK_OK(ptm_model_generate(m, ex, b, NULL, &o, &gb));
    if (g && ga && gb) {
        const int64_t *d = ptm_tensor_data(g), *da = ptm_tensor_data(ga), *db = ptm_tensor_data(gb);
        CHECK(ptm_tensor_dim(g, 1) == 11 && !memcmp(d, ids, 5 * 8) && !memcmp(d + 11, ids + 5, 5 * 8));
        CHECK(!memcmp(d + 5, da + 3, 6 * 8));
        CHECK(!memcmp(d + 16, db + 5, 6 * 8));
        /* config eos_token_id as a list holding row 1's first new token
         * (and one no row makes): row 1 ends at once and keeps its eos, row 0
         * runs on as before */
        int clash = 0;
        for (int t = 3; t < 9; t++)
            clash |= da[t] == db[5];
        char eos[64];
        snprintf(eos, sizeof eos, "[-3, %lld]", (long long)db[5]);
        const char *const ov[] = {"eos_token_id", eos, NULL};
        ptm_model *m2 = load(DIR_A, NULL, ov);
        ptm_tensor *g2 = NULL;
        o.eos_token_ids = NULL;
        o.n_eos_token_ids = 0;
        CHECK(m2 && ptm_model_generate(m2, ex, in, mk, &o, &g2) == PTM_OK);
        if (g2 && !clash) {
            const int64_t *e = ptm_tensor_data(g2);
            CHECK(ptm_tensor_dim(g2, 1) == 11 && !memcmp(e + 5, da + 3, 6 * 8));
            for (int64_t t = 5; t < 11; t++)
                CHECK(e[11 + t] == db[5]);
        }
        ptm_tensor_release(g2);
        ptm_model_free(m2);
    }
    ptm_tensor_release(in), ptm_tensor_release(mk), ptm_tensor_release(g), ptm_tensor_release(a);
    ptm_tensor_release(b), ptm_tensor_release(ga), ptm_tensor_release(gb);
    ptm_model_free(m);
}

TEST(generate_errors)
{
    ptm_model *m = load(DIR_A, NULL, NULL), *base = load(DIR_A, "GPT2Model", NULL);
    if (!m || !base) {
        CHECK(0);
        ptm_model_free(m);
        ptm_model_free(base);
        return;
    }
    int64_t bad[3] = {1, 40, 2};
    ptm_tensor *in = ids_tensor(1, 3, bad), *g = NULL, *out = NULL;
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    o.max_new_tokens = 4;
    CHECK_ERR(ptm_model_generate(m, ex, in, NULL, &o, &g), PTM_ERR_INVALID_ARG, "token id 40 at [0, 1]");
    CHECK_ERR(fwd(m, in, NULL, NULL, 0, &out), PTM_ERR_INVALID_ARG, "token id 40");
    bad[1] = 3;
    ptm_tensor *ok = ids_tensor(1, 3, bad);
    CHECK_ERR(ptm_model_generate(base, ex, ok, NULL, &o, &g), PTM_ERR_UNSUPPORTED, "GPT2Model");
    o.max_new_tokens = 14; /* 3 + 14 > n_positions 16 */
    CHECK_ERR(ptm_model_generate(m, ex, ok, NULL, &o, &g), PTM_ERR_INVALID_ARG, "16");
    o.max_new_tokens = 13; /* exactly fits */
    CHECK_OK(ptm_model_generate(m, ex, ok, NULL, &o, &g));
    CHECK(g && ptm_tensor_dim(g, 1) <= 16);
    ptm_tensor_release(g);
    g = NULL;
    o.do_sample = 1;
    o.top_p = 0.0f;
    CHECK_ERR(ptm_model_generate(m, ex, ok, NULL, &o, &g), PTM_ERR_INVALID_ARG, "top_p");
    CHECK(g == NULL);
    ptm_tensor_release(in), ptm_tensor_release(ok);
    ptm_model_free(m);
    ptm_model_free(base);
}

int main(void)
{
    ptm_context_options o;
    ptm_context_options_init(&o);
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR};
    o.plugin_paths = paths;
    o.n_plugin_paths = 1;
    o.ignore_env = 1;
    o.skip_install_dir = 1;
    if (ptm_context_new(&o, &ctx) != PTM_OK || ptm_exec_new(ctx, NULL, &ex) != PTM_OK) {
        fprintf(stderr, "setup: %s\n", ptm_last_error());
        return 1;
    }
    make_weights(&SPEC_A, &WA);
    make_weights(&SPEC_B, &WB);
    snprintf(DIR_A, sizeof DIR_A, "%s/gpt2_basic/a", PTM_TEST_TMP);
    snprintf(DIR_A_PFX, sizeof DIR_A_PFX, "%s/gpt2_basic/a_prefixed", PTM_TEST_TMP);
    snprintf(DIR_B, sizeof DIR_B, "%s/gpt2_basic/b", PTM_TEST_TMP);
    write_model(DIR_A, &SPEC_A, &WA, LAYOUT_LEGACY, "GPT2LMHeadModel");
    write_model(DIR_A_PFX, &SPEC_A, &WA, LAYOUT_PREFIXED | LAYOUT_LEGACY, "GPT2LMHeadModel");
    write_model(DIR_B, &SPEC_B, &WB, LAYOUT_PREFIXED, "GPT2LMHeadModel");
    RUN(config_errors_name_the_key);
    RUN(both_layouts_load_and_count);
    RUN(forward_matches_reference);
    RUN(batch_mask_and_cache);
    RUN(kv_cache_decoding);
    RUN(generate_greedy_and_sampling);
    RUN(generate_padded_batch_and_eos_list);
    RUN(generate_errors);
    free_weights(&WA);
    free_weights(&WB);
    ptm_exec_free(ex);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
