/* SPDX-License-Identifier: Apache-2.0 */
/* test_device.c - the core's device-memory path on the fakedev backend
 * (device-style memory, only matmul/add/fill/copy implemented, the rest on the CPU
 * with staging): GPT-2 logits and greedy generation equal the cpu backend's
 * (which test_gpt2 checks against PyTorch), parameters are uploaded once per
 * exec, and a device exec cannot be fed another exec's device tensors. */
#include "check.h"

#include <ptm/ptm.h>

#include <math.h>
#include <stdlib.h>

static ptm_context *ctx;
static size_t uploaded;

static void count_uploads(ptm_log_level lv, const char *msg, void *ud)
{
    (void)lv;
    (void)ud;
    if (!strncmp(msg, "fakedev upload ", 15))
        uploaded += strtoull(msg + 15, NULL, 10);
}

static ptm_exec *exec_on(const char *backend)
{
    ptm_exec_options o;
    ptm_exec_options_init(&o);
    o.backend = backend;
    o.num_threads = 2;
    ptm_exec *ex = NULL;
    if (ptm_exec_new(ctx, &o, &ex) != PTM_OK)
        fprintf(stderr, "exec %s: %s\n", backend, ptm_last_error());
    return ex;
}

static ptm_tensor *ids_tensor(void)
{
    static const int64_t ids[2][5] = {{1, 5, 9, 2, 7}, {3, 3, 8, 0, 4}};
    int64_t shape[2] = {2, 5};
    ptm_tensor *t = NULL;
    ptm_tensor_from_data(PTM_I64, 2, shape, ids, sizeof ids, &t);
    return t;
}

TEST(gpt2_on_device_memory)
{
    ptm_model *m = NULL;
    CHECK_OK(ptm_model_from_pretrained(ctx, PTM_GPT2_FIXTURES "/head", NULL, &m));
    ptm_exec *cpu = exec_on("cpu"), *dev = exec_on("fakedev");
    ptm_tensor *ids = ids_tensor();
    CHECK(m && cpu && dev && ids);
    if (!m || !cpu || !dev || !ids)
        goto out;
    CHECK(ptm_exec_is_device(dev) && !ptm_exec_is_device(cpu));
    ptm_forward_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.input_ids = ids;
    ptm_tensor *lc, *ld;
    CHECK_OK(ptm_model_forward(m, cpu, &a, &lc));
    uploaded = 0;
    CHECK_OK(ptm_model_forward(m, dev, &a, &ld));
    size_t first = uploaded;
    CHECK(!ptm_tensor_backend(ld) && ptm_tensor_data(ld)); /* results come back to the host */
    if (ptm_tensor_data(lc) && ptm_tensor_data(ld)) {
        const float *x = ptm_tensor_data(lc), *y = ptm_tensor_data(ld);
        double worst = 0;
        for (int64_t i = 0; i < ptm_tensor_numel(lc); i++)
            worst = fmax(worst, fabs((double)x[i] - y[i]));
        CHECK(worst <= 1e-4); /* fakedev's matmul sums in double */
        printf("device path vs cpu: max abs diff %.3g\n", worst);
    }
    /* the second pass uploads no parameter again */
    int64_t params = ptm_model_memory_footprint(m, 0);
    uploaded = 0;
    CHECK_OK(ptm_model_forward(m, dev, &a, &ld));
    printf("uploaded: first pass %zu bytes, second pass %zu bytes, all parameters %lld bytes\n", first, uploaded,
           (long long)params);
    /* fakedev runs matmul itself: exactly the matmul weights and biases
     * (c_attn, c_proj, c_fc, mlp c_proj, and wte as the tied LM head) became
     * resident in the first pass and are not uploaded again */
    const ptm_state_dict *sd = ptm_model_state_dict(m);
    size_t resident = 0;
    for (size_t i = 0; i < ptm_state_dict_size(sd); i++) {
        const char *n = ptm_state_dict_name(sd, i);
        if (strstr(n, ".c_attn.") || strstr(n, ".c_proj.") || strstr(n, ".c_fc.") || !strcmp(n, "transformer.wte.weight"))
            resident += ptm_tensor_nbytes(ptm_state_dict_tensor(sd, i));
    }
    CHECK(first - uploaded == resident);
    CHECK(resident < (size_t)params);

    /* greedy generation through the KV cache in device memory */
    ptm_generate_options g;
    ptm_generate_options_init(&g);
    g.max_new_tokens = 8;
    ptm_tensor *gc = NULL, *gd = NULL;
    CHECK_OK(ptm_model_generate(m, cpu, ids, NULL, &g, &gc));
    CHECK_OK(ptm_model_generate(m, dev, ids, NULL, &g, &gd));
    CHECK(gc && gd && !memcmp(ptm_tensor_data(gc), ptm_tensor_data(gd), ptm_tensor_nbytes(gc)));
    ptm_tensor_release(gc);
    ptm_tensor_release(gd);

    /* a device tensor of one exec is refused by another exec's ops */
    ptm_exec *dev2 = exec_on("fakedev");
    int64_t sh[1] = {4};
    ptm_tensor *t = NULL, *o = NULL;
    CHECK_OK(ptm_exec_scratch(dev, PTM_F32, 1, sh, &t));
    CHECK_OK(ptm_exec_scratch(cpu, PTM_F32, 1, sh, &o));
    if (t && o)
        CHECK_ERR(ptm_op_scale(cpu, t, 2.0f, o), PTM_ERR_INVALID_ARG, "device memory of backend \"fakedev\"");
    ptm_exec_free(dev2);
out:
    ptm_tensor_release(ids);
    ptm_exec_free(cpu);
    ptm_exec_free(dev);
    ptm_model_free(m);
}

int main(void)
{
    ptm_context_options o;
    ptm_context_options_init(&o);
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR, PTM_FAKEDEV_DIR};
    o.plugin_paths = paths;
    o.n_plugin_paths = 2;
    o.ignore_env = 1;
    o.skip_install_dir = 1;
    if (ptm_context_new(&o, &ctx) != PTM_OK)
        return 1;
    ptm_set_log_callback(count_uploads, NULL, PTM_LOG_DEBUG);
    RUN(gpt2_on_device_memory);
    ptm_set_log_callback(NULL, NULL, PTM_LOG_INFO);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
