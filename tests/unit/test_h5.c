/* SPDX-License-Identifier: Apache-2.0 */
/* test_h5.c - the TF/Keras h5 format plugin through the context API: probe
 * scores, writer/reader round trips with roles (values checked against the
 * hand-transposed expectation), refusals of the writer (bfloat16, names
 * that cannot read back) and of the reader (missing, not HDF5, truncated).
 * The Keras-layout files transformers writes are checked against h5py in
 * tests/reference/h5_ref.py, which also uses this program as a driver:
 *
 *   test_h5 dump FILE     open FILE with h5.so and print one line per
 *                         tensor: NAME DTYPE DIMS(d0,d1|-) F32-VALUES(a,b|-)
 *                         (values widened to double, "%.9g"); on failure
 *                         "error STATUS MESSAGE" and exit 1.
 *   test_h5 mutate FILE OUT TRUNC FLIP
 *                         write FILE cut after every TRUNC bytes, and with
 *                         every FLIP-th byte inverted, to OUT and open and
 *                         load each: it must load, or fail with a message
 *                         naming OUT (a crash fails the test); prints the
 *                         counts, exit 1 on a message that does not.
 *
 * Exits 77 (skipped) when the build has no h5 plugin (no libhdf5). */
#include "check.h"
#define FMT_TEST_PREFIX "h5_"
#include "fmt_test.h"

#include <ptm/ptm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int setup(void)
{
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR "/h5.so"};
    if (access(paths[0], R_OK) != 0)
        return 0;
    if (fmt_test_setup(paths, 1, "h5"))
        exit(1);
    return 1;
}

static double elem(const ptm_tensor *t, int64_t i)
{
    const void *p = ptm_tensor_data(t);
    switch (ptm_tensor_dtype(t)) {
    case PTM_F32: return ((const float *)p)[i];
    case PTM_F64: return ((const double *)p)[i];
    case PTM_F16: return ptm_f16_to_f32(((const uint16_t *)p)[i]);
    case PTM_I64: return (double)((const int64_t *)p)[i];
    case PTM_I32: return ((const int32_t *)p)[i];
    case PTM_I16: return ((const int16_t *)p)[i];
    case PTM_I8: return ((const int8_t *)p)[i];
    case PTM_U8:
    case PTM_BOOL: return ((const uint8_t *)p)[i];
    default: return 0;
    }
}

static int dump(const char *path)
{
    void *src = NULL;
    ptm_status s = fmt->open(path, &src);
    if (s) {
        printf("error %d %s\n", (int)s, ptm_last_error());
        return 1;
    }
    for (size_t i = 0; i < fmt->count(src); i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        if ((s = fmt->info(src, i, &ti)) || (s = fmt->load(src, i, &t))) {
            printf("error %d %s\n", (int)s, ptm_last_error());
            fmt->close(src);
            return 1;
        }
        printf("%s %s ", ti.name, ptm_dtype_name(ti.dtype));
        for (int d = 0; d < ti.ndim; d++)
            printf("%s%lld", d ? "," : "", (long long)ti.shape[d]);
        printf("%s ", ti.ndim ? "" : "-");
        int64_t n = ptm_tensor_numel(t);
        for (int64_t k = 0; k < n; k++)
            printf("%s%.9g", k ? "," : "", elem(t, k));
        printf("%s\n", n ? "" : "-");
        ptm_tensor_release(t);
    }
    fmt->close(src);
    return 0;
}

/* Open `path` and load every tensor: 0 loaded, 1 refused with a message
 * naming the file, 2 refused without. */
static int try_load(const char *path)
{
    void *src = NULL;
    ptm_status s = fmt->open(path, &src);
    for (size_t i = 0; !s && i < fmt->count(src); i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        if (!(s = fmt->info(src, i, &ti)) && !(s = fmt->load(src, i, &t))) {
            const volatile unsigned char *b = ptm_tensor_data(t);
            unsigned sum = 0;
            for (size_t k = 0; k < ptm_tensor_nbytes(t); k++)
                sum += b[k];
            (void)sum;
            ptm_tensor_release(t);
        }
    }
    if (src)
        fmt->close(src);
    if (!s)
        return 0;
    if (!strstr(ptm_last_error(), path)) {
        printf("message does not name %s: %s\n", path, ptm_last_error());
        return 2;
    }
    return 1;
}

static int mutate(const char *in, const char *out, long trunc, long flip)
{
    FILE *f = fopen(in, "rb");
    if (!f || trunc <= 0 || flip <= 0)
        return 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = n > 0 ? malloc((size_t)n) : NULL;
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        return 2;
    fclose(f);
    long cases = 0, loaded = 0, bad = 0;
    for (int pass = 0; pass < 2; pass++)
        for (long at = 0; at < n; at += pass ? flip : trunc) {
            if (pass)
                b[at] ^= 0xFF;
            FILE *g = fopen(out, "wb");
            size_t len = pass ? (size_t)n : (size_t)at;
            if (!g || (len && fwrite(b, 1, len, g) != len) || fclose(g) != 0)
                return 2;
            if (pass)
                b[at] ^= 0xFF;
            int r = try_load(out);
            cases++;
            loaded += r == 0;
            bad += r == 2;
        }
    free(b);
    printf("%ld cases: %ld loaded, %ld refused naming the file, %ld refused without\n", cases, loaded,
           cases - loaded - bad, bad);
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- tests */

TEST(probe)
{
    static const uint8_t magic[8] = {0x89, 'H', 'D', 'F', 0x0d, 0x0a, 0x1a, 0x0a};
    static const uint8_t junk[8] = {'P', 'K', 3, 4, 0, 0, 0, 0};
    CHECK(fmt->probe("x/tf_model.h5", magic, 8) == 100);
    CHECK(fmt->probe("x/weights.bin", magic, 8) == 90);
    CHECK(fmt->probe("x/tf_model.h5", junk, 8) == 10);
    CHECK(fmt->probe("x/model.safetensors", junk, 8) == 0);
    CHECK(fmt->probe("x/y", magic, 4) == 0);
}

static ptm_tensor *f32(int nd, const int64_t *shape, float base)
{
    ptm_tensor *t = NULL;
    CHECK_OK(ptm_tensor_new(PTM_F32, nd, shape, &t));
    float *p = ptm_tensor_data_mut(t);
    for (int64_t i = 0; t && i < ptm_tensor_numel(t); i++)
        p[i] = base + (float)i;
    return t;
}

/* GPT-2-shaped names and roles: Conv1D weights stay [in, out], a BERT-like
 * dense weight is stored as a kernel and read back transposed. */
TEST(round_trip_roles)
{
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s32[2] = {3, 2}, s4d[4] = {2, 1, 2, 3};
    struct { const char *n; int role, nd; const int64_t *shape; } T[] = {
        {"transformer.wte.weight", PTM_ROLE_EMBEDDING, 2, s23},
        {"transformer.wpe.weight", PTM_ROLE_EMBEDDING, 2, s32},
        {"transformer.h.0.ln_1.weight", PTM_ROLE_NORM_WEIGHT, 1, s3},
        {"transformer.h.0.ln_1.bias", PTM_ROLE_NORM_BIAS, 1, s3},
        {"transformer.h.0.attn.c_attn.weight", PTM_ROLE_WEIGHT, 2, s23},
        {"transformer.h.0.attn.c_attn.bias", PTM_ROLE_BIAS, 1, s3},
        {"transformer.h.0.dense.weight", PTM_ROLE_WEIGHT, 2, s23},
        {"transformer.conv.weight", PTM_ROLE_WEIGHT, 4, s4d},
        {"lm_head.weight", PTM_ROLE_OUTPUT_EMBEDDING, 2, s32},
    };
    enum { N = sizeof T / sizeof T[0] };
    int roles[N];
    for (int i = 0; i < N; i++) {
        ptm_tensor *t = f32(T[i].nd, T[i].shape, (float)(100 * i));
        CHECK_OK(ptm_state_dict_set(sd, T[i].n, t));
        ptm_tensor_release(t);
        roles[i] = T[i].role;
    }
    ptm_save_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.model_type = "gpt2";
    info.class_name = "GPT2LMHeadModel";
    info.base_model_prefix = "transformer";
    info.roles = roles;
    const char *p = tpath("roles.h5");
    CHECK_OK(fmt->save_model(p, sd, &info));
    void *src = NULL;
    CHECK_OK(fmt->open(p, &src));
    CHECK(src && fmt->count(src) == N);
    for (size_t i = 0; src && i < fmt->count(src); i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        CHECK_OK(fmt->info(src, i, &ti));
        CHECK_OK(fmt->load(src, i, &t));
        const ptm_tensor *want = ptm_state_dict_get(sd, ti.name);
        CHECK(want != NULL);
        if (!want || !t)
            continue;
        CHECK(ti.ndim == ptm_tensor_ndim(want));
        for (int d = 0; d < ti.ndim; d++)
            CHECK(ti.shape[d] == ptm_tensor_dim(want, d));
        CHECK(ptm_tensor_nbytes(t) == ptm_tensor_nbytes(want) &&
              memcmp(ptm_tensor_data(t), ptm_tensor_data(want), ptm_tensor_nbytes(t)) == 0);
        ptm_tensor_release(t);
    }
    if (src)
        fmt->close(src);
    ptm_state_dict_free(sd);
}

/* A base-model state dict gains base_model_prefix; a hand-transposed
 * check of a dense weight through a non-role save is in h5_ref.py. */
TEST(base_prefix_added)
{
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    int64_t s2[1] = {2};
    ptm_tensor *t = f32(1, s2, 1);
    CHECK_OK(ptm_state_dict_set(sd, "ln_f.weight", t));
    ptm_tensor_release(t);
    int roles[1] = {PTM_ROLE_NORM_WEIGHT};
    ptm_save_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.model_type = "gpt2";
    info.class_name = "GPT2Model";
    info.base_model_prefix = "transformer";
    info.roles = roles;
    const char *p = tpath("base.h5");
    CHECK_OK(fmt->save_model(p, sd, &info));
    void *src = NULL;
    CHECK_OK(fmt->open(p, &src));
    ptm_tensor_info ti;
    if (src) {
        CHECK_OK(fmt->info(src, 0, &ti));
        CHECK(!strcmp(ti.name, "transformer.ln_f.weight"));
        fmt->close(src);
    }
    ptm_state_dict_free(sd);
}

TEST(writer_refusals)
{
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    int64_t s2[1] = {2};
    ptm_tensor *t = NULL;
    CHECK_OK(ptm_tensor_new(PTM_BF16, 1, s2, &t));
    CHECK_OK(ptm_state_dict_set(sd, "x.weight", t));
    ptm_tensor_release(t);
    CHECK_ERR(fmt->save(tpath("bf16.h5"), sd, NULL), PTM_ERR_UNSUPPORTED, "BF16");
    ptm_state_dict_free(sd);

    CHECK_OK(ptm_state_dict_new(&sd));
    t = f32(1, s2, 0);
    CHECK_OK(ptm_state_dict_set(sd, "x.gamma", t)); /* would read back as x.weight */
    ptm_tensor_release(t);
    CHECK_ERR(fmt->save(tpath("gamma.h5"), sd, NULL), PTM_ERR_UNSUPPORTED, "x.gamma");
    ptm_state_dict_free(sd);
}

TEST(reader_refusals)
{
    void *src = NULL;
    const char *missing = tpath("missing.h5");
    unlink(missing);
    CHECK_ERR(fmt->open(missing, &src), PTM_ERR_IO, missing);
    const char *junk = tpath("junk.h5");
    FILE *f = fopen(junk, "wb");
    fputs("not an hdf5 file at all", f);
    fclose(f);
    CHECK_ERR(fmt->open(junk, &src), PTM_ERR_FORMAT, "no HDF5 signature");

    /* a good file truncated in the middle of its data */
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    int64_t s[2] = {64, 64};
    ptm_tensor *t = f32(2, s, 0);
    CHECK_OK(ptm_state_dict_set(sd, "big.weight", t));
    ptm_tensor_release(t);
    const char *p = tpath("trunc.h5");
    CHECK_OK(fmt->save(p, sd, NULL));
    ptm_state_dict_free(sd);
    FILE *g = fopen(p, "rb");
    char *buf = malloc(1 << 16);
    size_t n = g ? fread(buf, 1, 1 << 16, g) : 0;
    if (g)
        fclose(g);
    CHECK(n > 8000);
    g = fopen(p, "wb");
    fwrite(buf, 1, n - 4000, g);
    fclose(g);
    free(buf);
    CHECK_ERR(fmt->open(p, &src), PTM_ERR_FORMAT, p);
    CHECK(src == NULL);
}

int main(int argc, char **argv)
{
    if (!setup()) {
        printf("h5 plugin not built (no libhdf5): skipped\n");
        return 77;
    }
    if (argc == 3 && !strcmp(argv[1], "dump"))
        return dump(argv[2]);
    if (argc == 6 && !strcmp(argv[1], "mutate"))
        return mutate(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
    RUN(probe);
    RUN(round_trip_roles);
    RUN(base_prefix_added);
    RUN(writer_refusals);
    RUN(reader_refusals);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
