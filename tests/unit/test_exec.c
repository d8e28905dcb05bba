/* SPDX-License-Identifier: Apache-2.0 */
/* test_exec.c - the exec context (scratch arena, KV cache) and the op
 * dispatcher's shape/dtype checks, which run before any kernel. */
#include "check.h"

#include <ptm/ptm.h>

static ptm_context *ctx;

static ptm_tensor *scratch(ptm_exec *ex, ptm_dtype dt, int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    ptm_tensor *t = NULL;
    if (ptm_exec_scratch(ex, dt, nd, s, &t) != PTM_OK)
        fprintf(stderr, "scratch: %s\n", ptm_last_error());
    return t;
}

TEST(exec_needs_a_backend)
{
    ptm_exec_options o;
    ptm_exec_options_init(&o);
    o.backend = "warp-drive";
    ptm_exec *ex = NULL;
    CHECK_ERR(ptm_exec_new(ctx, &o, &ex), PTM_ERR_NOT_FOUND, "warp-drive");
    CHECK(strstr(ptm_last_error(), "available"));
    o.backend = "cpu";
    o.device = 7;
    CHECK_ERR(ptm_exec_new(ctx, &o, &ex), PTM_ERR_BACKEND, "device 7 does not exist");
}

TEST(arena_and_kv)
{
    ptm_exec *ex = NULL;
    CHECK_OK(ptm_exec_new(ctx, NULL, &ex));
    if (!ex)
        return;
    CHECK(ptm_exec_num_threads(ex) >= 1);
    /* many allocations, then a reset: the next pass needs no new chunk */
    for (int i = 0; i < 100; i++) {
        ptm_tensor *t = scratch(ex, PTM_F32, 2, 64, 100 + i, 0, 0);
        CHECK(t && ((uintptr_t)ptm_tensor_data(t) % 64) == 0 && ptm_tensor_data_mut(t));
        ptm_tensor_release(t); /* allowed, does not free */
    }
    ptm_exec_reset(ex);
    size_t cap = ptm_exec_scratch_capacity(ex);
    for (int i = 0; i < 100; i++)
        CHECK(scratch(ex, PTM_F32, 2, 64, 100 + i, 0, 0) != NULL);
    CHECK(ptm_exec_scratch_capacity(ex) == cap);
    int64_t huge[2] = {INT64_MAX, 4};
    ptm_tensor *t;
    CHECK_ERR(ptm_exec_scratch(ex, PTM_F32, 2, huge, &t), PTM_ERR_OVERFLOW, "overflow");

    ptm_tensor *k, *v, *k2, *v2;
    CHECK_OK(ptm_exec_kv(ex, 1, 2, 4, 16, 8, &k, &v));
    CHECK(ptm_tensor_dim(k, 2) == 16 && ptm_tensor_dim(v, 3) == 8 && k != v);
    CHECK_OK(ptm_exec_kv(ex, 1, 2, 4, 16, 8, &k2, &v2));
    CHECK(k2 == k && v2 == v); /* reused while the dims match */
    ptm_exec_kv_set_length(ex, 5);
    CHECK(ptm_exec_kv_length(ex) == 5);
    ptm_exec_kv_clear(ex);
    CHECK(ptm_exec_kv_length(ex) == 0);
    ptm_exec_free(ex);
}

TEST(op_shape_checks)
{
    ptm_exec *ex = NULL;
    CHECK_OK(ptm_exec_new(ctx, NULL, &ex));
    if (!ex)
        return;
    ptm_tensor *a = scratch(ex, PTM_F32, 2, 3, 4, 0, 0), *b = scratch(ex, PTM_F32, 2, 5, 6, 0, 0);
    ptm_tensor *o = scratch(ex, PTM_F32, 2, 3, 6, 0, 0), *ids = scratch(ex, PTM_I64, 1, 2, 0, 0, 0);
    ptm_tensor *w = scratch(ex, PTM_I32, 2, 4, 6, 0, 0);
    CHECK_ERR(ptm_op_matmul(ex, a, b, NULL, 0, o), PTM_ERR_SHAPE, "matmul: a [3, 4] does not match b [5, 6]");
    CHECK_ERR(ptm_op_matmul(ex, a, w, NULL, 0, o), PTM_ERR_DTYPE, "matmul: b must be F32, F16 or BF16");
    CHECK_ERR(ptm_op_matmul(ex, a, NULL, NULL, 0, o), PTM_ERR_INVALID_ARG, "b is NULL");
    CHECK_ERR(ptm_op_add(ex, a, b, a), PTM_ERR_SHAPE, "add: b [5, 6] must equal a [3, 4]");
    CHECK_ERR(ptm_op_gelu(ex, a, 1, o), PTM_ERR_SHAPE, "gelu: input [3, 4] and output [3, 6]");
    CHECK_ERR(ptm_op_layer_norm(ex, a, b, NULL, 1e-5f, a), PTM_ERR_SHAPE, "layer_norm: weight must be [4]");
    /* token ids are checked against the table before any kernel runs */
    ptm_tensor *table = scratch(ex, PTM_F32, 2, 10, 4, 0, 0), *emb = scratch(ex, PTM_F32, 2, 2, 4, 0, 0);
    ((int64_t *)ptm_tensor_data_mut(ids))[0] = 3;
    ((int64_t *)ptm_tensor_data_mut(ids))[1] = 10;
    CHECK_ERR(ptm_op_embedding(ex, table, ids, emb), PTM_ERR_INVALID_ARG, "token id 10 at position 1");
    ptm_tensor *q = scratch(ex, PTM_F32, 4, 1, 3, 2, 8), *kv = scratch(ex, PTM_F32, 4, 1, 2, 5, 8);
    ptm_tensor *ao = scratch(ex, PTM_F32, 4, 1, 3, 2, 8);
    CHECK_ERR(ptm_op_attention(ex, q, kv, kv, 5, NULL, 1, 1.0f, ao), PTM_ERR_SHAPE, "multiple of Hkv");
    ptm_tensor *cache = scratch(ex, PTM_F32, 4, 1, 2, 4, 8);
    CHECK_ERR(ptm_op_kv_append(ex, cache, 3, kv), PTM_ERR_SHAPE, "does not fit cache");
    CHECK_ERR(ptm_op_transpose(ex, a, 0, 2, o), PTM_ERR_INVALID_ARG, "outside a 2-dim tensor");
    CHECK_ERR(ptm_op_argmax(ex, a, a), PTM_ERR_DTYPE, "argmax: output must be I64");
    /* a read-only output (a view of a file mapping) is refused */
    ptm_exec_free(ex);
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
    if (ptm_context_new(&o, &ctx) != PTM_OK)
        return 1;
    RUN(exec_needs_a_backend);
    RUN(arena_and_kv);
    RUN(op_shape_checks);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
