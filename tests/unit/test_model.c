/* SPDX-License-Identifier: Apache-2.0 */
/* test_model.c - from_pretrained / save_pretrained / num_parameters /
 * memory footprint on ptm-tiny fixtures written by the independent Python
 * writer (tests/reference/tiny_model.py), compared with the values that
 * script computed (expected.json). */
#include "check.h"

#include <ptm/ptm.h>

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static ptm_context *ctx;

static ptm_context *make_ctx(void)
{
    ptm_context_options o;
    ptm_context_options_init(&o);
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR};
    o.plugin_paths = paths;
    o.n_plugin_paths = 1;
    o.ignore_env = 1;
    o.skip_install_dir = 1;
    ptm_context *c = NULL;
    if (ptm_context_new(&o, &c) != PTM_OK)
        fprintf(stderr, "context: %s\n", ptm_last_error());
    return c;
}

static ptm_model *load(const char *fixture, ptm_dtype dt, const char *cls)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", PTM_FIXTURES, fixture);
    ptm_load_options o;
    ptm_load_options_init(&o);
    o.dtype = dt;
    o.class_name = cls;
    ptm_model *m = NULL;
    ptm_status s = ptm_model_from_pretrained(ctx, path, &o, &m);
    if (s)
        fprintf(stderr, "load %s: %s\n", fixture, ptm_last_error());
    return m;
}

static ptm_status load_err(const char *fixture)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", PTM_FIXTURES, fixture);
    ptm_model *m = NULL;
    ptm_status s = ptm_model_from_pretrained(ctx, path, NULL, &m);
    ptm_model_free(m);
    return s;
}

static ptm_config *expected(const char *fixture)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/expected.json", PTM_FIXTURES, fixture);
    ptm_config *c = NULL;
    if (ptm_config_load(path, &c) != PTM_OK)
        fprintf(stderr, "%s\n", ptm_last_error());
    return c;
}

static double tensor_sum(const ptm_tensor *t)
{
    size_t n = (size_t)ptm_tensor_numel(t);
    double *v = malloc((n ? n : 1) * sizeof *v);
    double s = 0;
    if (v && ptm_convert(ptm_tensor_data(t), ptm_tensor_dtype(t), v, PTM_F64, n) == PTM_OK)
        for (size_t i = 0; i < n; i++)
            s += v[i];
    free(v);
    return s;
}

TEST(head_counts_and_values)
{
    ptm_model *m = load("head", PTM_F32, NULL);
    ptm_config *exp = expected("head");
    CHECK(m && exp);
    if (!m || !exp)
        goto out;
    CHECK(!strcmp(ptm_model_class(m), "TinyForCausalLM"));
    CHECK(!strcmp(ptm_model_type(m), "ptm-tiny"));
    CHECK(ptm_model_num_parameters(m, 0, 0) == ptm_config_int(exp, "num_parameters", -1));
    CHECK(ptm_model_num_parameters(m, 0, 1) == ptm_config_int(exp, "num_parameters_non_embedding", -1));
    CHECK(ptm_model_num_parameters(m, 1, 0) == ptm_config_int(exp, "num_parameters", -1));
    CHECK(ptm_model_memory_footprint(m, 1) == ptm_config_int(exp, "memory_footprint", -1));
    CHECK(ptm_model_memory_footprint(m, 0) == ptm_config_int(exp, "memory_footprint_params", -1));
    CHECK(ptm_model_can_generate(m));
    /* tied: lm_head is the embedding tensor itself */
    CHECK(ptm_model_param(m, "lm_head.weight") == ptm_model_param(m, "model.embed.weight"));
    /* zero copy: f32 weights view the file mapping */
    ptm_tensor *w = ptm_model_param(m, "model.layers.0.proj.weight");
    CHECK(w && ptm_buffer_is_mapped(ptm_tensor_buffer(w)) && ptm_tensor_data_mut(w) == NULL);
    /* values: the sums numpy computed */
    const ptm_state_dict *sd = ptm_model_state_dict(m);
    size_t nsum = 0;
    for (size_t i = 0; i < ptm_state_dict_size(sd); i++) {
        const char *name = ptm_state_dict_name(sd, i);
        /* expected.json holds {"sums": {name: value}}; tensor names contain dots,
         * so find the entry in the serialised text */
        char *all = NULL;
        if (ptm_config_to_json(exp, &all) == PTM_OK) {
            char needle[300];
            snprintf(needle, sizeof needle, "\"%s\": ", name);
            const char *p = strstr(all, needle);
            if (p) {
                double want = strtod(p + strlen(needle), NULL);
                double got = tensor_sum(ptm_state_dict_tensor(sd, i));
                CHECK(fabs(got - want) <= 1e-6 * (1 + fabs(want)));
                nsum++;
            }
        }
        ptm_free(all);
    }
    CHECK(nsum >= 12); /* every stored tensor was compared */
    /* buffers: causal mask is lower triangular, position ids 0..P-1 */
    ptm_tensor *mask = ptm_model_param(m, "model.causal_mask");
    CHECK(mask && ptm_tensor_dtype(mask) == PTM_BOOL);
    if (mask) {
        const unsigned char *p = ptm_tensor_data(mask);
        CHECK(p[0] == 1 && p[1] == 0 && p[16 + 1] == 1 && p[15 * 16 + 15] == 1 && p[15] == 0);
    }
    CHECK(ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 0);
    CHECK(ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 0);
out:
    ptm_config_free(exp);
    ptm_model_free(m);
}

TEST(untied_head_counts)
{
    ptm_model *m = load("head_untied", PTM_F32, NULL);
    ptm_config *exp = expected("head_untied");
    CHECK(m && exp);
    if (m && exp) {
        CHECK(ptm_model_num_parameters(m, 0, 0) == ptm_config_int(exp, "num_parameters", -1));
        /* lm_head is not an nn.Embedding: it stays in the non-embedding count */
        CHECK(ptm_model_num_parameters(m, 0, 1) == ptm_config_int(exp, "num_parameters_non_embedding", -1));
        CHECK(ptm_model_param(m, "lm_head.weight") != ptm_model_param(m, "model.embed.weight"));
    }
    ptm_config_free(exp);
    ptm_model_free(m);
}

TEST(base_checkpoint_into_head_class)
{
    /* keys without "model." (saved from the base model) load into the head class */
    ptm_model *m = load("head_prefixless", PTM_F32, NULL);
    ptm_model *ref = load("head", PTM_F32, NULL);
    CHECK(m && ref);
    if (m && ref) {
        CHECK(ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 0);
        CHECK(ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 0);
        ptm_tensor *a = ptm_model_param(m, "model.layers.1.proj.weight");
        ptm_tensor *b = ptm_model_param(ref, "model.layers.1.proj.weight");
        CHECK(a && b && !memcmp(ptm_tensor_data(a), ptm_tensor_data(b), ptm_tensor_nbytes(a)));
    }
    ptm_model_free(m);
    ptm_model_free(ref);
}

TEST(head_checkpoint_into_base_class)
{
    ptm_model *m = load("head", PTM_F32, "TinyModel");
    CHECK(m);
    if (m) {
        CHECK(!strcmp(ptm_model_class(m), "TinyModel"));
        CHECK(ptm_model_param(m, "embed.weight") != NULL);
        CHECK(ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 0);
        CHECK(ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 0);
        CHECK(!ptm_model_can_generate(m));
    }
    ptm_model_free(m);
    /* an untied head's lm_head has no place in the base model: unexpected */
    m = load("head_untied", PTM_F32, "TinyModel");
    CHECK(m && ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 1 &&
          !strcmp(ptm_model_key_report(m, PTM_KEYS_UNEXPECTED, 0), "lm_head.weight"));
    ptm_model_free(m);
}

TEST(missing_and_unexpected_keys)
{
    ptm_model *m = load("head_missing", PTM_F32, NULL);
    CHECK(m && ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 1 &&
          !strcmp(ptm_model_key_report(m, PTM_KEYS_MISSING, 0), "model.layers.0.proj.bias"));
    if (m) {
        ptm_tensor *b = ptm_model_param(m, "model.layers.0.proj.bias");
        CHECK(b && tensor_sum(b) == 0.0); /* biases start at zero */
    }
    ptm_model_free(m);
    m = load("head_missing_norm", PTM_F32, NULL);
    if (m) {
        ptm_tensor *w = ptm_model_param(m, "model.layers.1.norm.weight");
        CHECK(w && tensor_sum(w) == 8.0); /* norm scales start at one */
    }
    CHECK(m != NULL);
    ptm_model_free(m);
    m = load("head_extra", PTM_F32, NULL);
    CHECK(m && ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 1 &&
          !strcmp(ptm_model_key_report(m, PTM_KEYS_UNEXPECTED, 0), "unused.extra"));
    ptm_model_free(m);
}

TEST(dtypes)
{
    /* f16 checkpoint, default load dtype f32 (as transformers): converted */
    ptm_model *m = load("head_f16", PTM_F32, NULL);
    CHECK(m && ptm_model_dtype(m) == PTM_F32);
    if (m) {
        ptm_tensor *w = ptm_model_param(m, "model.embed.weight");
        CHECK(ptm_tensor_dtype(w) == PTM_F32);
        CHECK(ptm_tensor_dtype(ptm_model_param(m, "model.position_ids")) == PTM_I64); /* ints untouched */
        CHECK(ptm_model_memory_footprint(m, 0) == 576 * 4);
    }
    ptm_model_free(m);
    /* "auto" follows config.json's torch_dtype and keeps the mapping */
    m = load("head_f16", PTM_DTYPE_AUTO, NULL);
    CHECK(m && ptm_model_dtype(m) == PTM_F16);
    if (m) {
        ptm_tensor *w = ptm_model_param(m, "model.embed.weight");
        CHECK(ptm_tensor_dtype(w) == PTM_F16 && ptm_buffer_is_mapped(ptm_tensor_buffer(w)));
        CHECK(ptm_model_memory_footprint(m, 0) == 576 * 2);
    }
    ptm_model_free(m);
    /* auto without torch_dtype: the first floating tensor's dtype */
    m = load("head_auto", PTM_DTYPE_AUTO, NULL);
    CHECK(m && ptm_model_dtype(m) == PTM_BF16);
    ptm_model_free(m);
    /* explicit bf16 from f32 */
    m = load("head", PTM_BF16, NULL);
    CHECK(m && ptm_tensor_dtype(ptm_model_param(m, "lm_head.weight")) == PTM_BF16);
    ptm_model_free(m);
}

TEST(single_file_and_errors)
{
    char path[512];
    snprintf(path, sizeof path, "%s/head/model.safetensors", PTM_FIXTURES);
    ptm_model *m = NULL;
    CHECK_OK(ptm_model_from_pretrained(ctx, path, NULL, &m));
    CHECK(m && ptm_model_file_count(m) == 1 && strstr(ptm_model_file(m, 0), "model.safetensors"));
    ptm_model_free(m);

    CHECK_ERR(load_err("bad_json"), PTM_ERR_CONFIG, "bad_json/config.json: not valid JSON");
    CHECK_ERR(load_err("no_model_type"), PTM_ERR_CONFIG, "no \"model_type\"");
    CHECK_ERR(load_err("unknown_arch"), PTM_ERR_NOT_FOUND, "MartianForEverything");
    CHECK(strstr(ptm_last_error(), "martian") && strstr(ptm_last_error(), "available: ") &&
          strstr(ptm_last_error(), "ptm-tiny"));
    CHECK_ERR(load_err("no_weights"), PTM_ERR_NOT_FOUND, "no weights found");
    CHECK_ERR(load_err("does_not_exist"), PTM_ERR_NOT_FOUND, "does_not_exist: no such file or folder");

    /* a config override that changes a shape is a mismatch naming the tensor */
    snprintf(path, sizeof path, "%s/head", PTM_FIXTURES);
    ptm_load_options o;
    ptm_load_options_init(&o);
    const char *ov[] = {"hidden_size", "4", NULL};
    o.config_overrides = ov;
    CHECK_ERR(ptm_model_from_pretrained(ctx, path, &o, &m), PTM_ERR_SHAPE, "model.safetensors: tensor \"model.embed.weight\" has shape [32, 8]");
    o.config_overrides = NULL;
    o.class_name = "NoSuchClass";
    CHECK_ERR(ptm_model_from_pretrained(ctx, path, &o, &m), PTM_ERR_NOT_FOUND, "NoSuchClass");
}

TEST(save_and_reload)
{
    ptm_model *m = load("head", PTM_F32, NULL);
    CHECK(m);
    if (!m)
        return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/saved_head", PTM_TEST_TMP);
    CHECK_OK(ptm_model_save_pretrained(m, dir, NULL));
    ptm_model *r = NULL;
    CHECK_OK(ptm_model_from_pretrained(ctx, dir, NULL, &r));
    if (r) {
        const ptm_state_dict *a = ptm_model_state_dict(m), *b = ptm_model_state_dict(r);
        CHECK(ptm_state_dict_size(a) == ptm_state_dict_size(b));
        for (size_t i = 0; i < ptm_state_dict_size(a); i++) {
            ptm_tensor *x = ptm_state_dict_tensor(a, i);
            ptm_tensor *y = ptm_state_dict_get(b, ptm_state_dict_name(a, i));
            CHECK(y && ptm_tensor_nbytes(x) == ptm_tensor_nbytes(y) &&
                  !memcmp(ptm_tensor_data(x), ptm_tensor_data(y), ptm_tensor_nbytes(x)));
        }
        /* saving over the folder the model was loaded from is safe */
        CHECK_OK(ptm_model_save_pretrained(r, dir, NULL));
        ptm_tensor *w = ptm_model_param(r, "model.layers.0.proj.weight");
        CHECK(w && tensor_sum(w) == tensor_sum(ptm_model_param(m, "model.layers.0.proj.weight")));
    }
    ptm_model_free(r);
    /* a failing save (the target is a file) leaves no files behind */
    char file[512];
    snprintf(file, sizeof file, "%s/not_a_dir", PTM_TEST_TMP);
    FILE *f = fopen(file, "w");
    if (f)
        fclose(f);
    CHECK_ERR(ptm_model_save_pretrained(m, file, NULL), PTM_ERR_IO, "not_a_dir");
    ptm_save_options so;
    ptm_save_options_init(&so);
    so.format = "nosuchformat";
    CHECK_ERR(ptm_model_save_pretrained(m, dir, &so), PTM_ERR_NOT_FOUND, "nosuchformat");
    ptm_model_free(m);
}

int main(void)
{
    ctx = make_ctx();
    if (!ctx)
        return 1;
    RUN(head_counts_and_values);
    RUN(untied_head_counts);
    RUN(base_checkpoint_into_head_class);
    RUN(head_checkpoint_into_base_class);
    RUN(missing_and_unexpected_keys);
    RUN(dtypes);
    RUN(single_file_and_errors);
    RUN(save_and_reload);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
