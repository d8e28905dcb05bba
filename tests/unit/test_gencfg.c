/* SPDX-License-Identifier: Apache-2.0 */
/* test_gencfg.c - the generation config through the C API on the bundled
 * model: ptm_model_generation_config, ptm_generate_options_from_model and
 * ptm_model_generate's use_generation_config.  The expected ids are the
 * PyTorch greedy continuation the training script recorded
 * (models/gpt2-kjv/expected_greedy.json: prompt "And God said"). */
#include "check.h"

#include <ptm/ptm.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static ptm_context *ctx;
static ptm_exec *ex;
static char MODEL[1024], DIR_GEN[1100], DIR_NONE[1100];

static const int64_t PROMPT[12] = {68, 113, 103, 35, 74, 114, 103, 35, 118, 100, 108, 103};
/* expected_greedy.json's first 20 greedy ids (no 1 = eos among them) */
static const int64_t GREEDY[20] = {35, 120, 113, 119, 114, 35, 119, 107, 104, 35,
                                   79, 82,  85,  71,  47,  35, 100, 113, 103, 35};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A model folder: the bundled config.json and weights, and `gen` as
 * generation_config.json (NULL: none). */
static void make_folder(const char *dir, const char *gen)
{
    char src[2048], dst[2048];
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/config.json", MODEL);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int c;
    while (in && out && (c = fgetc(in)) != EOF)
        fputc(c, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    snprintf(src, sizeof src, "%s/model.safetensors", MODEL);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    unlink(dst);
    if (symlink(src, dst) != 0)
        perror(dst);
    snprintf(dst, sizeof dst, "%s/generation_config.json", dir);
    unlink(dst);
    if (gen)
        write_text(dst, gen);
}

static ptm_model *load(const char *dir, const char *cls)
{
    ptm_load_options lo;
    ptm_load_options_init(&lo);
    lo.class_name = cls;
    ptm_model *m = NULL;
    CHECK_OK(ptm_model_from_pretrained(ctx, dir, &lo, &m));
    return m;
}

static ptm_tensor *prompt_tensor(int64_t batch, const int64_t *rows)
{
    int64_t shape[2] = {batch, 12};
    ptm_tensor *t = NULL;
    CHECK_OK(ptm_tensor_from_data(PTM_I64, 2, shape, rows, (size_t)(batch * 12) * sizeof *rows, &t));
    return t;
}

/* The new ids of row 0 equal GREEDY[0, n). */
static int row0_is_greedy(const ptm_tensor *g, int64_t n)
{
    if (!g || ptm_tensor_dim(g, 1) != 12 + n)
        return 0;
    const int64_t *d = ptm_tensor_data(g);
    for (int64_t i = 0; i < n; i++)
        if (d[12 + i] != GREEDY[i])
            return 0;
    return 1;
}

TEST(accessor)
{
    ptm_model *m = load(DIR_GEN, NULL), *base = load(DIR_GEN, "GPT2Model"), *none = load(DIR_NONE, NULL);
    const ptm_config *g = m ? ptm_model_generation_config(m) : NULL;
    char want[2048];
    snprintf(want, sizeof want, "%s/generation_config.json", DIR_GEN);
    CHECK(g && ptm_config_origin(g) && !strcmp(ptm_config_origin(g), want));
    CHECK(g && ptm_config_int(g, "max_new_tokens", 0) == 9 && ptm_config_int(g, "custom", 0) == 42);
    CHECK(base && !ptm_model_generation_config(base)); /* cannot generate */
    const ptm_config *d = none ? ptm_model_generation_config(none) : NULL;
    CHECK(d && !ptm_config_origin(d) && ptm_config_bool(d, "_from_model_config", 0) &&
          ptm_config_int(d, "eos_token_id", 0) == 1 && ptm_config_size(d) == 3);
    CHECK(!ptm_model_generation_config(NULL));
    ptm_model_free(m);
    ptm_model_free(base);
    ptm_model_free(none);
}

TEST(options_from_model)
{
    ptm_model *m = load(DIR_GEN, NULL);
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    CHECK(o.use_generation_config == 1 && o.pad_token_id == -1);
    CHECK_OK(ptm_generate_options_from_model(m, 12, &o));
    CHECK(o.use_generation_config == 0 && o.max_new_tokens == 9 && o.pad_token_id == 0 && o.n_eos_token_ids == 2 &&
          o.eos_token_ids && o.eos_token_ids[0] == 500 && o.eos_token_ids[1] == 119 && !o.do_sample &&
          o.temperature == 1.0f && o.top_k == 50);
    /* fields the caller changed stay */
    int64_t mine = 7;
    ptm_generate_options_init(&o);
    o.max_new_tokens = 3;
    o.eos_token_ids = &mine;
    o.n_eos_token_ids = 1;
    o.pad_token_id = 5;
    CHECK_OK(ptm_generate_options_from_model(m, 12, &o));
    CHECK(o.max_new_tokens == 3 && o.eos_token_ids == &mine && o.pad_token_id == 5);
    /* options from before use_generation_config cannot take it */
    ptm_generate_options_init(&o);
    o.struct_size = offsetof(ptm_generate_options, use_generation_config);
    CHECK_ERR(ptm_generate_options_from_model(m, 12, &o), PTM_ERR_INVALID_ARG, "use_generation_config");
    ptm_model_free(m);
}

TEST(generate_uses_it)
{
    ptm_model *m = load(DIR_GEN, NULL);
    ptm_tensor *in = prompt_tensor(1, PROMPT), *g = NULL;
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    /* eos [500, 119] from the file: 119 is the 4th greedy token */
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &g));
    CHECK(row0_is_greedy(g, 4));
    ptm_tensor_release(g);
    g = NULL;
    /* off: 20 tokens, config.json's eos 1 (never produced) */
    o.use_generation_config = 0;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &g));
    CHECK(row0_is_greedy(g, 20));
    ptm_tensor_release(g);
    g = NULL;
    /* a caller of an older ABI (struct without the new fields) gets it too */
    ptm_generate_options_init(&o);
    o.struct_size = offsetof(ptm_generate_options, use_generation_config);
    o.max_new_tokens = 2;
    CHECK_OK(ptm_model_generate(m, ex, in, NULL, &o, &g));
    CHECK(row0_is_greedy(g, 2));
    ptm_tensor_release(g);
    g = NULL;
    /* pad_token_id 0 from the file fills row 0 after its eos while row 1
     * (another prompt) goes on */
    int64_t rows[24];
    for (int i = 0; i < 12; i++) {
        rows[i] = PROMPT[i];
        rows[12 + i] = PROMPT[11 - i];
    }
    ptm_tensor *in2 = prompt_tensor(2, rows);
    ptm_generate_options_init(&o);
    CHECK_OK(ptm_model_generate(m, ex, in2, NULL, &o, &g));
    const int64_t *d = g ? ptm_tensor_data(g) : NULL;
    int64_t W = g ? ptm_tensor_dim(g, 1) : 0;
    CHECK(W > 12 + 4);
    for (int64_t i = 0; d && i < 4; i++)
        CHECK(d[12 + i] == GREEDY[i]);
    for (int64_t t = 12 + 4; d && t < W; t++)
        CHECK(d[t] == 0);
    ptm_tensor_release(g);
    ptm_tensor_release(in2);
    ptm_tensor_release(in);
    ptm_model_free(m);
}

TEST(bad_values_name_the_file)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/gencfg_unit/bad", PTM_TEST_TMP);
    make_folder(dir, "{\"do_sample\": \"yes\"}");
    ptm_model *m = load(dir, NULL);
    ptm_tensor *in = prompt_tensor(1, PROMPT), *g = NULL;
    ptm_generate_options o;
    ptm_generate_options_init(&o);
    CHECK_ERR(ptm_model_generate(m, ex, in, NULL, &o, &g), PTM_ERR_CONFIG, "generation_config.json: \"do_sample\"");
    CHECK(!g);
    ptm_model_free(m);
    make_folder(dir, "{\"do_sample\": true, \"top_p\": 0}");
    m = load(dir, NULL);
    CHECK_ERR(ptm_model_generate(m, ex, in, NULL, &o, &g), PTM_ERR_INVALID_ARG, "bad/generation_config.json: generate: top_p");
    ptm_model_free(m);
    /* a wrong eos_token_id: the load fails naming the file */
    make_folder(dir, "{\"eos_token_id\": \"x\"}");
    ptm_model *bad = NULL;
    CHECK_ERR(ptm_model_from_pretrained(ctx, dir, NULL, &bad), PTM_ERR_CONFIG, "bad/generation_config.json");
    CHECK(!bad);
    /* damaged JSON: transformers falls back to the config-derived defaults */
    make_folder(dir, "{\"eos_token_id\": ");
    CHECK_OK(ptm_model_from_pretrained(ctx, dir, NULL, &bad));
    CHECK(bad && ptm_model_generation_config(bad) != NULL);
    ptm_model_free(bad);
    ptm_tensor_release(in);
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
    snprintf(MODEL, sizeof MODEL, "%s", PTM_BUNDLED_MODEL);
    char root[1024];
    snprintf(root, sizeof root, "%s/gencfg_unit", PTM_TEST_TMP);
    mkdir(root, 0755);
    snprintf(DIR_GEN, sizeof DIR_GEN, "%s/gen", root);
    snprintf(DIR_NONE, sizeof DIR_NONE, "%s/none", root);
    make_folder(DIR_GEN, "{\"eos_token_id\": [500, 119], \"max_new_tokens\": 9, \"pad_token_id\": 0, "
                         "\"custom\": 42}\n");
    make_folder(DIR_NONE, NULL);
    RUN(accessor);
    RUN(options_from_model);
    RUN(generate_uses_it);
    RUN(bad_values_name_the_file);
    ptm_exec_free(ex);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
