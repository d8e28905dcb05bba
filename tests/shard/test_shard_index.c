/* SPDX-License-Identifier: Apache-2.0 */
/* test_shard_index.c - the shard split and the index JSON (core/shard.c,
 * linked directly) against outputs worked out by hand from transformers
 * 4.37's shard_checkpoint and Python's json.dumps(indent=2, sort_keys=True):
 * bool tensors count 1/8 byte and make total_size a float, names are
 * escaped with ensure_ascii, an oversized tensor sits alone. */
#include "check.h"
#include "shard.h"

static ptm_state_dict *dict(const char *const *names, const ptm_dtype *dts, const int64_t *numel, size_t n)
{
    ptm_state_dict *sd = NULL;
    if (ptm_state_dict_new(&sd) != PTM_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        ptm_tensor *t = NULL;
        int64_t shape[1] = {numel[i]};
        if (ptm_tensor_new(dts[i], 1, shape, &t) != PTM_OK || ptm_state_dict_set(sd, names[i], t) != PTM_OK) {
            ptm_tensor_release(t);
            ptm_state_dict_free(sd);
            return NULL;
        }
        ptm_tensor_release(t);
    }
    return sd;
}

static int index_is(const ptm_state_dict *sd, uint64_t max, const size_t *want_shards, size_t want_n,
                    const char *want_json)
{
    ptm__shard_plan_t plan;
    if (ptm__shard_plan(sd, max, &plan) != PTM_OK)
        return 0;
    int ok = plan.nshards == want_n;
    for (size_t i = 0; ok && i < ptm_state_dict_size(sd); i++)
        ok = plan.shard_of[i] == want_shards[i];
    char *names[8] = {0};
    for (size_t k = 0; k < plan.nshards && k < 8; k++)
        names[k] = ptm__shard_file_name("model.safetensors", ".safetensors", k, plan.nshards);
    char *json = NULL;
    if (ok && want_json) {
        ok = ptm__shard_index_json(sd, &plan, names, &json) == PTM_OK && !strcmp(json, want_json);
        if (!ok)
            fprintf(stderr, "got:\n%s\nwant:\n%s\n", json ? json : "(null)", want_json);
    } else if (!ok) {
        fprintf(stderr, "%zu shards, want %zu\n", plan.nshards, want_n);
    }
    free(json);
    for (size_t k = 0; k < 8; k++)
        free(names[k]);
    ptm__shard_plan_free(&plan);
    return ok;
}

TEST(bool_total_is_a_float)
{
    /* f32[10] = 40 bytes, bool[12] = 1.5, f16[3] = 6: total 47.5; max 41:
     * 40 | 1.5 + 6 */
    const char *const n[] = {"w", "mask", "h"};
    const ptm_dtype d[] = {PTM_F32, PTM_BOOL, PTM_F16};
    const int64_t e[] = {10, 12, 3};
    ptm_state_dict *sd = dict(n, d, e, 3);
    CHECK(sd != NULL);
    const size_t want[] = {0, 1, 1};
    CHECK(index_is(sd, 41, want, 2,
                   "{\n  \"metadata\": {\n    \"total_size\": 47.5\n  },\n  \"weight_map\": {\n"
                   "    \"h\": \"model-00002-of-00002.safetensors\",\n"
                   "    \"mask\": \"model-00002-of-00002.safetensors\",\n"
                   "    \"w\": \"model-00001-of-00002.safetensors\"\n  }\n}\n"));
    /* 40 + 1.5 = 41.5 > 41.4 bytes?  sizes compare in eighths: max 41 means
     * 41.0, and bool[8] (1 byte) still fits next to 40 */
    const int64_t e2[] = {10, 8, 0};
    ptm_state_dict *sd2 = dict(n, d, e2, 3);
    const size_t want2[] = {0, 0, 0};
    CHECK(index_is(sd2, 41, want2, 1, NULL));
    /* an integral float total still prints ".0" */
    const int64_t e3[] = {10, 16, 1};
    ptm_state_dict *sd3 = dict(n, d, e3, 3);
    const size_t want3[] = {0, 1, 1};
    CHECK(index_is(sd3, 40, want3, 2,
                   "{\n  \"metadata\": {\n    \"total_size\": 44.0\n  },\n  \"weight_map\": {\n"
                   "    \"h\": \"model-00002-of-00002.safetensors\",\n"
                   "    \"mask\": \"model-00002-of-00002.safetensors\",\n"
                   "    \"w\": \"model-00001-of-00002.safetensors\"\n  }\n}\n"));
    ptm_state_dict_free(sd);
    ptm_state_dict_free(sd2);
    ptm_state_dict_free(sd3);
}

TEST(oversized_alone_and_order)
{
    /* max 100: a (40) | big (400) | b (40) c (40) | d (80) */
    const char *const n[] = {"a", "big", "b", "c", "d"};
    const ptm_dtype d[] = {PTM_F32, PTM_F32, PTM_F32, PTM_F32, PTM_I64};
    const int64_t e[] = {10, 100, 10, 10, 10};
    ptm_state_dict *sd = dict(n, d, e, 5);
    const size_t want[] = {0, 1, 2, 2, 3};
    CHECK(index_is(sd, 100, want, 4, NULL));
    /* a first tensor bigger than the limit: alone in shard 1 */
    const size_t want2[] = {0, 1, 2, 3, 4};
    CHECK(index_is(sd, 1, want2, 5, NULL));
    ptm_state_dict_free(sd);
}

TEST(names_escaped_and_sorted)
{
    /* sort_keys compares code points: "Z" < "a" < "\u00e9" < "\U0001f600";
     * ensure_ascii: \u00e9, a surrogate pair, \" and \\ */
    const char *const n[] = {"a.\xc3\xa9", "a.\xf0\x9f\x98\x80", "Z\"q\\", "a.b"};
    const ptm_dtype d[] = {PTM_U8, PTM_U8, PTM_U8, PTM_U8};
    const int64_t e[] = {1, 2, 3, 4};
    ptm_state_dict *sd = dict(n, d, e, 4);
    /* max 6: 1 + 2 + 3 | 4 */
    const size_t want[] = {0, 0, 0, 1};
    CHECK(index_is(sd, 6, want, 2,
                   "{\n  \"metadata\": {\n    \"total_size\": 10\n  },\n  \"weight_map\": {\n"
                   "    \"Z\\\"q\\\\\": \"model-00001-of-00002.safetensors\",\n"
                   "    \"a.b\": \"model-00002-of-00002.safetensors\",\n"
                   "    \"a.\\u00e9\": \"model-00001-of-00002.safetensors\",\n"
                   "    \"a.\\ud83d\\ude00\": \"model-00001-of-00002.safetensors\"\n  }\n}\n"));
    ptm_state_dict_free(sd);
}

TEST(file_names)
{
    char *a = ptm__shard_file_name("model.safetensors", ".safetensors", 0, 3);
    char *b = ptm__shard_file_name("pytorch_model.bin", ".bin", 11, 12);
    char *c = ptm__shard_file_name("model.safetensors", ".safetensors", 99999, 100000);
    CHECK(a && !strcmp(a, "model-00001-of-00003.safetensors"));
    CHECK(b && !strcmp(b, "pytorch_model-00012-of-00012.bin"));
    CHECK(c && !strcmp(c, "model-100000-of-100000.safetensors"));
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    RUN(bool_total_is_a_float);
    RUN(oversized_alone_and_order);
    RUN(names_escaped_and_sorted);
    RUN(file_names);
    return CHECK_DONE();
}
