/* SPDX-License-Identifier: Apache-2.0 */
/* test_tensor.c - dtypes, conversions (hand-computed IEEE bit patterns),
 * buffers (heap, mmap, views, wraps), tensors, the state dict. */
#include "check.h"

#include <ptm/ptm.h>

#include <math.h>

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

TEST(dtype_names)
{
    ptm_dtype dt;
    CHECK(ptm_dtype_size(PTM_F64) == 8 && ptm_dtype_size(PTM_BF16) == 2 && ptm_dtype_size(PTM_BOOL) == 1);
    CHECK(ptm_dtype_size(PTM_F8_E4M3) == 1 && ptm_dtype_size((ptm_dtype)99) == 0);
    CHECK(!strcmp(ptm_dtype_name(PTM_F8_E5M2), "F8_E5M2") && !strcmp(ptm_dtype_torch_name(PTM_BF16), "bfloat16"));
    CHECK_OK(ptm_dtype_parse("BF16", &dt));
    CHECK(dt == PTM_BF16);
    CHECK_OK(ptm_dtype_parse("torch.float16", &dt));
    CHECK(dt == PTM_F16);
    CHECK_OK(ptm_dtype_parse("f32", &dt));
    CHECK(dt == PTM_F32);
    CHECK_ERR(ptm_dtype_parse("bf32", &dt), PTM_ERR_NOT_FOUND, "bf32");
    CHECK_ERR(ptm_dtype_parse("f16 ", &dt), PTM_ERR_NOT_FOUND, "unknown dtype");
}

TEST(f16_round_to_nearest_even)
{
    CHECK(ptm_f32_to_f16(1.0f) == 0x3c00);
    CHECK(ptm_f32_to_f16(-2.0f) == 0xc000);
    CHECK(ptm_f32_to_f16(65504.0f) == 0x7bff);            /* largest finite */
    CHECK(ptm_f32_to_f16(65519.0f) == 0x7bff);            /* below the midpoint */
    CHECK(ptm_f32_to_f16(65520.0f) == 0x7c00);            /* midpoint to 2^16: even is inf */
    CHECK(ptm_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);     /* tie, even stays */
    CHECK(ptm_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); /* tie, odd rounds up */
    CHECK(ptm_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01); /* above tie */
    CHECK(ptm_f32_to_f16(0x1p-24f) == 0x0001);            /* smallest subnormal */
    CHECK(ptm_f32_to_f16(0x1p-25f) == 0x0000);            /* tie to even: zero */
    CHECK(ptm_f32_to_f16(0x1.8p-25f) == 0x0001);
    CHECK(ptm_f32_to_f16(0x1p-14f) == 0x0400);            /* smallest normal */
    CHECK(ptm_f32_to_f16(0x1.ffcp-15f) == 0x0400);        /* subnormal rounding into normal */
    CHECK(ptm_f32_to_f16(-0.0f) == 0x8000);
    CHECK(ptm_f32_to_f16(INFINITY) == 0x7c00 && ptm_f32_to_f16(-INFINITY) == 0xfc00);
    uint16_t n = ptm_f32_to_f16(NAN);
    CHECK((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
    CHECK(ptm_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(ptm_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    CHECK(ptm_f16_to_f32(0x3555) == 0x1.554p-2f);
    CHECK(isinf(ptm_f16_to_f32(0xfc00)) && ptm_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(ptm_f16_to_f32(0x7e00)));
    /* every finite half: the value from the formula, and back to the same bits */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t e = (h >> 10) & 31, m = h & 1023;
        if (e == 31)
            continue;
        float want = e ? ldexpf(1.0f + m / 1024.0f, (int)e - 15) : ldexpf((float)m, -24);
        if (h & 0x8000)
            want = -want;
        float got = ptm_f16_to_f32((uint16_t)h);
        if (bits(got) != bits(want) || ptm_f32_to_f16(got) != h)
            bad++;
    }
    CHECK(bad == 0);
}

TEST(bf16_round_to_nearest_even)
{
    CHECK(ptm_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(ptm_f32_to_bf16(from_bits(0x3f808000)) == 0x3f80); /* tie, even */
    CHECK(ptm_f32_to_bf16(from_bits(0x3f818000)) == 0x3f82); /* tie, odd up */
    CHECK(ptm_f32_to_bf16(from_bits(0x3f808001)) == 0x3f81);
    CHECK(ptm_f32_to_bf16(from_bits(0x7f7fffff)) == 0x7f80); /* max float rounds to inf */
    CHECK((ptm_f32_to_bf16(NAN) & 0x7f80) == 0x7f80 && (ptm_f32_to_bf16(NAN) & 0x7f));
    CHECK(ptm_bf16_to_f32(0xc040) == -3.0f);
}

TEST(f8)
{
    CHECK(ptm_f32_to_f8e4m3(1.0f) == 0x38 && ptm_f8e4m3_to_f32(0x38) == 1.0f);
    CHECK(ptm_f32_to_f8e4m3(448.0f) == 0x7e && ptm_f8e4m3_to_f32(0x7e) == 448.0f);
    CHECK(ptm_f32_to_f8e4m3(464.0f) == 0x7e);               /* tie to even stays 448 */
    CHECK((ptm_f32_to_f8e4m3(470.0f) & 0x7f) == 0x7f);       /* beyond: NaN (e4m3fn has no inf) */
    CHECK(ptm_f32_to_f8e4m3(0x1p-9f) == 0x01 && ptm_f8e4m3_to_f32(0x01) == 0x1p-9f);
    CHECK(isnan(ptm_f8e4m3_to_f32(0x7f)) && isnan(ptm_f8e4m3_to_f32(0xff)));
    CHECK(ptm_f32_to_f8e4m3(-0.3125f) == 0xaa);              /* -1.25 * 2^-2 */
    CHECK(ptm_f32_to_f8e5m2(1.0f) == 0x3c && ptm_f8e5m2_to_f32(0x7b) == 57344.0f);
    CHECK(ptm_f32_to_f8e5m2(61440.0f) == 0x7c);              /* tie, odd mantissa up: inf */
    CHECK(ptm_f32_to_f8e5m2(0x1p-16f) == 0x01);
    CHECK(isinf(ptm_f8e5m2_to_f32(0x7c)) && isnan(ptm_f8e5m2_to_f32(0x7d)));
}

TEST(bulk_convert)
{
    float src[5] = {1.5f, -2.75f, 300.7f, -1e10f, NAN};
    int8_t i8[5];
    uint8_t u8[5], b[5];
    int64_t i64[5];
    CHECK_OK(ptm_convert(src, PTM_F32, i8, PTM_I8, 5));
    CHECK(i8[0] == 1 && i8[1] == -2 && i8[2] == 127 && i8[3] == -128 && i8[4] == 0);
    CHECK_OK(ptm_convert(src, PTM_F32, u8, PTM_U8, 5));
    CHECK(u8[0] == 1 && u8[1] == 0 && u8[2] == 255);
    CHECK_OK(ptm_convert(src, PTM_F32, b, PTM_BOOL, 4));
    CHECK(b[0] == 1 && b[1] == 1);
    CHECK_OK(ptm_convert(src, PTM_F32, i64, PTM_I64, 4));
    CHECK(i64[3] == -10000000000LL);
    uint16_t h[2];
    float back[2];
    CHECK_OK(ptm_convert(src, PTM_F32, h, PTM_F16, 2));
    CHECK(h[0] == 0x3e00 && h[1] == 0xc180);
    CHECK_OK(ptm_convert(h, PTM_F16, back, PTM_F32, 2));
    CHECK(back[0] == 1.5f && back[1] == -2.75f);
    uint16_t bf[2];
    CHECK_OK(ptm_convert(h, PTM_F16, bf, PTM_BF16, 2)); /* generic path */
    CHECK(bf[0] == 0x3fc0 && bf[1] == 0xc030);
    CHECK_ERR(ptm_convert(src, (ptm_dtype)77, h, PTM_F16, 1), PTM_ERR_DTYPE, "invalid dtype");
}

static int released;
static void on_release(void *data, void *user) { (void)data; released += *(int *)user; }

TEST(buffers_and_tensors)
{
    ptm_buffer *b;
    CHECK_OK(ptm_buffer_alloc(64, &b));
    CHECK(ptm_buffer_size(b) == 64 && ptm_buffer_data_mut(b) && !ptm_buffer_is_readonly(b));
    ptm_buffer *v;
    CHECK_OK(ptm_buffer_view(b, 16, 32, &v));
    CHECK((const char *)ptm_buffer_data(v) == (const char *)ptm_buffer_data(b) + 16);
    CHECK_ERR(ptm_buffer_view(b, 40, 32, &v), PTM_ERR_INVALID_ARG, "outside");
    CHECK_ERR(ptm_buffer_view(b, SIZE_MAX, 2, &v), PTM_ERR_INVALID_ARG, "outside");
    ptm_buffer_release(b); /* the view keeps the parent alive */
    int64_t shape[2] = {2, 4};
    ptm_tensor *t;
    CHECK_OK(ptm_tensor_from_buffer(v, 0, PTM_F32, 2, shape, &t));
    CHECK(ptm_tensor_numel(t) == 8 && ptm_tensor_nbytes(t) == 32 && ptm_tensor_dim(t, -1) == 4);
    CHECK_ERR(ptm_tensor_from_buffer(v, 4, PTM_F32, 2, shape, &t), PTM_ERR_INVALID_ARG, "does not fit");
    ptm_buffer_release(v);
    ((float *)ptm_tensor_data_mut(t))[7] = 2.5f;
    ptm_tensor *c;
    CHECK_OK(ptm_tensor_convert(t, PTM_BF16, &c));
    CHECK(((const uint16_t *)ptm_tensor_data(c))[7] == 0x4020);
    CHECK(!ptm_tensor_shares_memory(t, c) && ptm_tensor_shares_memory(t, t));
    ptm_tensor_release(c);
    ptm_tensor_release(t);

    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    CHECK_ERR(ptm_tensor_new(PTM_F32, 3, huge, &t), PTM_ERR_OVERFLOW, "overflow");
    int64_t neg[1] = {-1};
    CHECK_ERR(ptm_tensor_new(PTM_F32, 1, neg, &t), PTM_ERR_INVALID_ARG, "negative");
    CHECK_OK(ptm_tensor_new(PTM_F64, 0, NULL, &t)); /* scalar */
    CHECK(ptm_tensor_numel(t) == 1 && ptm_tensor_nbytes(t) == 8);
    ptm_tensor_release(t);

    static char mem[16];
    int inc = 1;
    released = 0;
    CHECK_OK(ptm_buffer_wrap(mem, sizeof mem, 1, on_release, &inc, &b));
    CHECK(ptm_buffer_data_mut(b) == NULL);
    ptm_buffer_retain(b);
    ptm_buffer_release(b);
    CHECK(released == 0);
    ptm_buffer_release(b);
    CHECK(released == 1);
}

TEST(mmap_files)
{
    const char *path = PTM_TEST_TMP "/mapped.bin";
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    float vals[4] = {1, 2, 3, 4};
    fwrite(vals, 4, 4, f);
    fclose(f);
    ptm_buffer *b;
    CHECK_OK(ptm_buffer_map_file(path, &b));
    CHECK(ptm_buffer_is_mapped(b) && ptm_buffer_is_readonly(b) && ptm_buffer_size(b) == 16);
    int64_t shape[1] = {2};
    ptm_tensor *t, *w;
    CHECK_OK(ptm_tensor_from_buffer(b, 8, PTM_F32, 1, shape, &t));
    ptm_buffer_release(b);
    CHECK(ptm_tensor_data_mut(t) == NULL && ((const float *)ptm_tensor_data(t))[1] == 4.0f);
    remove(path); /* the mapping outlives the file */
    CHECK(((const float *)ptm_tensor_data(t))[0] == 3.0f);
    CHECK_OK(ptm_tensor_writable(t, &w));
    CHECK(w != t && ptm_tensor_data_mut(w) && ((float *)ptm_tensor_data_mut(w))[0] == 3.0f);
    ptm_tensor_release(w);
    ptm_tensor_release(t);
    CHECK_ERR(ptm_buffer_map_file(PTM_TEST_TMP "/no_such_file", &b), PTM_ERR_NOT_FOUND, "no_such_file");
    CHECK_ERR(ptm_buffer_map_file(PTM_TEST_TMP, &b), PTM_ERR_IO, "not a regular file");
    /* an empty file maps to an empty buffer */
    f = fopen(path, "wb");
    if (f)
        fclose(f);
    CHECK_OK(ptm_buffer_map_file(path, &b));
    CHECK(ptm_buffer_size(b) == 0 && ptm_buffer_data(b) != NULL);
    ptm_buffer_release(b);
    remove(path);
}

TEST(state_dict)
{
    ptm_state_dict *sd;
    CHECK_OK(ptm_state_dict_new(&sd));
    int64_t shape[1] = {3};
    char name[32];
    ptm_tensor *shared = NULL;
    CHECK_OK(ptm_tensor_new(PTM_F32, 1, shape, &shared));
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "layer.%d.weight", i);
        CHECK_OK(ptm_state_dict_set(sd, name, shared));
    }
    CHECK(ptm_state_dict_size(sd) == 200);
    CHECK(!strcmp(ptm_state_dict_name(sd, 150), "layer.150.weight"));
    CHECK(ptm_state_dict_get(sd, "layer.199.weight") == shared && !ptm_state_dict_get(sd, "layer.200.weight"));
    CHECK_OK(ptm_state_dict_remove(sd, "layer.0.weight"));
    CHECK(!strcmp(ptm_state_dict_name(sd, 0), "layer.1.weight") && ptm_state_dict_get(sd, "layer.5.weight"));
    CHECK_ERR(ptm_state_dict_remove(sd, "layer.0.weight"), PTM_ERR_NOT_FOUND, "layer.0.weight");
    ptm_tensor *other;
    CHECK_OK(ptm_tensor_new(PTM_F16, 1, shape, &other));
    CHECK_OK(ptm_state_dict_set(sd, "layer.7.weight", other)); /* replace keeps the position */
    CHECK(ptm_state_dict_tensor(sd, 6) == other);
    ptm_tensor_release(other);
    ptm_tensor_release(shared);
    ptm_state_dict_free(sd);
}

TEST(errors_and_logging)
{
    ptm_clear_error();
    CHECK(ptm_last_error()[0] == '\0');
    CHECK(ptm_error(PTM_ERR_FORMAT, "file %s: bad byte at %d", "x.bin", 12) == PTM_ERR_FORMAT);
    CHECK(!strcmp(ptm_last_error(), "file x.bin: bad byte at 12"));
    ptm_error_prefix(PTM_ERR_FORMAT, "loading %s", "m");
    CHECK(!strcmp(ptm_last_error(), "loading m: file x.bin: bad byte at 12"));
    CHECK(!strcmp(ptm_status_str(PTM_ERR_OVERFLOW), "size overflow"));
    char longmsg[3000];
    memset(longmsg, 'a', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    ptm_error(PTM_ERR_IO, "%s", longmsg);
    CHECK(strlen(ptm_last_error()) == 1023);
    ptm_error_prefix(PTM_ERR_IO, "%s", longmsg); /* no overflow */
    CHECK(strlen(ptm_last_error()) <= 1023);
}

int main(void)
{
    RUN(dtype_names);
    RUN(f16_round_to_nearest_even);
    RUN(bf16_round_to_nearest_even);
    RUN(f8);
    RUN(bulk_convert);
    RUN(buffers_and_tensors);
    RUN(mmap_files);
    RUN(state_dict);
    RUN(errors_and_logging);
    return CHECK_DONE();
}
