/* SPDX-License-Identifier: Apache-2.0 */
/* test_safetensors.c - the safetensors format plugin, through the context
 * API: every validation rule of formats.md §1.6 on hand-built bad files
 * (status and message), the spec's worked examples byte for byte in both
 * directions, the edge cases the reference reader accepts, and the writer's
 * order, escaping, padding and refusals.  Expected bytes are written out by
 * hand here from the spec, never produced by the plugin itself. */
#include "check.h"
#define FMT_TEST_PREFIX "st_"
#include "fmt_test.h"

#include <ptm/ptm.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------- helpers */


/* A file: u64 LE `declared`, then `hlen` header bytes, then `dlen` data bytes. */
static void write_raw_st(const char *path, uint64_t declared, const char *hdr, size_t hlen, const void *data,
                         size_t dlen)
{
    unsigned char *b = malloc(8 + hlen + dlen + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(declared >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    if (dlen)
        memcpy(b + 8 + hlen, data, dlen);
    write_bytes(path, b, 8 + hlen + dlen);
    free(b);
}

/* A file whose declared length is the header's length; data is `dlen`
 * bytes 0, 1, 2, ... */
static const char *st_file(const char *name, const char *hdr, size_t dlen)
{
    const char *path = tpath(name);
    unsigned char *d = malloc(dlen + 1);
    for (size_t i = 0; i < dlen; i++)
        d[i] = (unsigned char)i;
    write_raw_st(path, strlen(hdr), hdr, strlen(hdr), d, dlen);
    free(d);
    return path;
}

static int expect_fail(const char *path, ptm_status want, const char *needle, int line)
{
    int dummy;
    void *src = &dummy;
    ptm_status s = fmt->open(path, &src);
    const char *msg = ptm_last_error();
    int ok = s == want && strstr(msg, path) && strstr(msg, needle) && src == &dummy;
    if (!ok) {
        fprintf(stderr, "%s:%d: open(%s) -> %d \"%s\", wanted %d with the path and \"%s\"\n", __FILE__, line, path,
                (int)s, msg, (int)want, needle);
        check_failed_in_test = 1;
    }
    if (s == PTM_OK && src != &dummy)
        fmt->close(src);
    return ok;
}
#define EXPECT_FAIL(path, st, needle) expect_fail((path), (st), (needle), __LINE__)

static void *open_ok(const char *path, int line)
{
    void *src = NULL;
    ptm_status s = fmt->open(path, &src);
    if (s != PTM_OK) {
        fprintf(stderr, "%s:%d: open(%s) -> %d \"%s\"\n", __FILE__, line, path, (int)s, ptm_last_error());
        check_failed_in_test = 1;
        return NULL;
    }
    return src;
}
#define OPEN_OK(path) open_ok((path), __LINE__)

static int shape_is(const ptm_tensor_info *ti, int ndim, const int64_t *dims)
{
    if (ti->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (ti->shape[i] != dims[i])
            return 0;
    return 1;
}

static ptm_tensor *f32_tensor(int ndim, const int64_t *shape, float start)
{
    ptm_tensor *t = NULL;
    CHECK_OK(ptm_tensor_new(PTM_F32, ndim, shape, &t));
    if (!t)
        return NULL;
    float *p = ptm_tensor_data_mut(t);
    for (int64_t i = 0; i < ptm_tensor_numel(t); i++)
        p[i] = start + (float)i;
    return t;
}

/* The spec's worked example: attn.0, F32 [1,2,3] = 0..5 (formats.md §1.1). */
static const char ATTN0_HDR[] = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";

static size_t f32_bytes_0_to_5(unsigned char *out)
{
    /* 0.0f 1.0f ... 5.0f in IEEE 754 little endian, written by hand */
    static const unsigned char b[24] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
        0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40,
    };
    memcpy(out, b, 24);
    return 24;
}

/* -------------------------------------------------------------- plugin */

TEST(descriptor)
{
    CHECK(fmt != NULL);
    if (!fmt)
        return;
    CHECK(fmt->struct_size == sizeof(ptm_format));
    CHECK(strcmp(fmt->name, "safetensors") == 0);
    CHECK(fmt->weight_names && strcmp(fmt->weight_names[0], "model.safetensors") == 0 &&
          strcmp(fmt->weight_names[1], "model.safetensors.index.json") == 0 && fmt->weight_names[2] == NULL);
    CHECK(fmt->extension && strcmp(fmt->extension, ".safetensors") == 0);
    CHECK(fmt->probe && fmt->open && fmt->close && fmt->count && fmt->info && fmt->load && fmt->metadata &&
          fmt->save);
}

TEST(probe)
{
    unsigned char head[80];
    size_t hl = strlen(ATTN0_HDR);
    memset(head, 0, sizeof head);
    head[0] = (unsigned char)hl;
    memcpy(head + 8, ATTN0_HDR, 60);
    CHECK(fmt->probe("/x/model.safetensors", head, 68) == 100);
    CHECK(fmt->probe("/x/weights.bin", head, 68) == 60);
    /* leading whitespace is plausible too */
    memcpy(head + 8, "  {\"a\"", 6);
    CHECK(fmt->probe("m.safetensors", head, 14) == 100);
    /* a zip (pytorch) named .bin: not ours */
    CHECK(fmt->probe("pytorch_model.bin", (const uint8_t *)"PK\x03\x04\x14\x00\x00\x00\x08\x00", 10) == 0);
    /* ours by name only: low but non-zero, so open can explain the problem */
    CHECK(fmt->probe("model.safetensors", (const uint8_t *)"", 0) == 10);
    CHECK(fmt->probe("model.safetensors", (const uint8_t *)"PK\x03\x04\x14\x00\x00\x00\x08\x00", 10) == 10);
    /* implausible header length (> 100,000,000) */
    unsigned char big[16] = {0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{', '"'}; /* 100000001 */
    CHECK(fmt->probe("a.bin", big, 10) == 0);
    /* through the registry: detect by name and bytes */
    const char *path = st_file("probe.safetensors", ATTN0_HDR, 24);
    CHECK(ptm_context_detect_format(ctx, path) == fmt);
}

/* ------------------------------------------------------ the worked examples */

TEST(spec_example_read)
{
    CHECK(strlen(ATTN0_HDR) == 64);
    unsigned char data[24];
    f32_bytes_0_to_5(data);
    const char *path = tpath("spec1.safetensors");
    write_raw_st(path, 64, ATTN0_HDR, 64, data, 24);
    void *src = OPEN_OK(path);
    if (!src)
        return;
    CHECK(fmt->count(src) == 1);
    ptm_tensor_info ti;
    CHECK_OK(fmt->info(src, 0, &ti));
    CHECK(strcmp(ti.name, "attn.0") == 0);
    CHECK(ti.dtype == PTM_F32);
    CHECK(shape_is(&ti, 3, (const int64_t[]){1, 2, 3}));
    CHECK(fmt->metadata(src, "format") == NULL);
    ptm_tensor *t = NULL;
    CHECK_OK(fmt->load(src, 0, &t));
    fmt->close(src); /* the tensor keeps the mapping alive */
    if (t) {
        CHECK(ptm_tensor_numel(t) == 6);
        CHECK(ptm_tensor_nbytes(t) == 24);
        const float *v = ptm_tensor_data(t);
        for (int i = 0; i < 6; i++)
            CHECK(v[i] == (float)i);
        /* zero copy: the tensor views the file mapping, read-only, at 8+64 */
        CHECK(ptm_buffer_is_mapped(ptm_tensor_buffer(t)));
        CHECK(ptm_tensor_offset(t) == 72);
        CHECK(ptm_tensor_data_mut(t) == NULL);
        ptm_tensor_release(t);
    }
}

TEST(spec_example_write)
{
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    ptm_tensor *t = f32_tensor(3, (const int64_t[]){1, 2, 3}, 0.0f);
    CHECK_OK(ptm_state_dict_set(sd, "attn.0", t));
    ptm_tensor_release(t);
    const char *path = tpath("spec1_w.safetensors");
    CHECK_OK(fmt->save(path, sd, NULL));
    ptm_state_dict_free(sd);
    unsigned char want[8 + 64 + 24] = {0x40, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want + 8, ATTN0_HDR, 64);
    f32_bytes_0_to_5(want + 72);
    size_t len = 0;
    unsigned char *got = read_bytes(path, &len);
    CHECK(got && len == sizeof want && memcmp(got, want, sizeof want) == 0);
    free(got);
}

TEST(spec_empty_file)
{
    static const unsigned char want[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    const char *path = tpath("empty_w.safetensors");
    CHECK_OK(fmt->save(path, sd, NULL));
    ptm_state_dict_free(sd);
    size_t len = 0;
    unsigned char *got = read_bytes(path, &len);
    CHECK(got && len == 16 && memcmp(got, want, 16) == 0);
    free(got);
    /* and the hand-made 16 bytes read as zero tensors */
    const char *p2 = tpath("empty_r.safetensors");
    write_bytes(p2, want, 16);
    void *src = OPEN_OK(p2);
    if (src) {
        CHECK(fmt->count(src) == 0);
        fmt->close(src);
    }
}

TEST(spec_padding_72)
{
    static const char hdr[] = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}";
    CHECK(strlen(hdr) == 65);
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    ptm_tensor *t = f32_tensor(4, (const int64_t[]){1, 1, 2, 3}, 0.0f);
    CHECK_OK(ptm_state_dict_set(sd, "attn0", t));
    ptm_tensor_release(t);
    const char *path = tpath("pad72.safetensors");
    CHECK_OK(fmt->save(path, sd, NULL));
    ptm_state_dict_free(sd);
    unsigned char want[8 + 72 + 24] = {72, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want + 8, hdr, 65);
    memset(want + 8 + 65, ' ', 7);
    f32_bytes_0_to_5(want + 80);
    size_t len = 0;
    unsigned char *got = read_bytes(path, &len);
    CHECK(got && len == sizeof want && memcmp(got, want, sizeof want) == 0);
    free(got);
}

TEST(spec_metadata_only)
{
    /* {"framework":"pt"} and no tensors: N = 40 = 35 bytes + 5 spaces */
    static const char want[] = "(\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"}}     ";
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    const char *md[] = {"framework", "pt", NULL};
    const char *path = tpath("meta40.safetensors");
    CHECK_OK(fmt->save(path, sd, md));
    ptm_state_dict_free(sd);
    size_t len = 0;
    unsigned char *got = read_bytes(path, &len);
    CHECK(got && len == 48 && memcmp(got, want, 48) == 0);
    free(got);
    void *src = OPEN_OK(path);
    if (src) {
        CHECK(fmt->metadata(src, "framework") && strcmp(fmt->metadata(src, "framework"), "pt") == 0);
        CHECK(fmt->metadata(src, "format") == NULL);
        fmt->close(src);
    }
}

/* ------------------------------------------------------------ bad input */

TEST(bad_sizes)
{
    const char *p = tpath("empty.safetensors");
    write_bytes(p, "", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "header too small");
    p = tpath("seven.safetensors");
    write_bytes(p, "\x02\0\0\0\0\0\0", 7);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "7 bytes");
    /* header length past the end of the file */
    p = tpath("hdr_past_eof.safetensors");
    write_raw_st(p, 1000, "{}", 2, NULL, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "runs past the end of the file");
    /* declared > 100,000,000 */
    p = tpath("hdr_huge.safetensors");
    write_raw_st(p, 100000001, "{}", 2, NULL, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "header too large");
    write_raw_st(p, UINT64_MAX, "{}", 2, NULL, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "header too large");
    /* exactly 100,000,000 is allowed by the size rule: the next rule fails */
    write_raw_st(p, 100000000, "{}", 2, NULL, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "runs past the end of the file");
    /* missing file */
    EXPECT_FAIL(tpath("no_such_file.safetensors"), PTM_ERR_NOT_FOUND, "cannot open");
}

TEST(bad_utf8)
{
    static const char *const bad[] = {
        "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",      /* 0xFF */
        "{\"a\xc0\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",  /* overlong NUL */
        "{\"a\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", /* surrogate */
        "{\"a\xf4\x90\x80\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", /* > U+10FFFF */
        "{\"a\xe2\x82\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",   /* truncated seq */
        "{\"a\xe0\x80\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", /* overlong, 3 bytes */
        "{\"a\xf0\x80\x80\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", /* overlong, 4 bytes */
        "{\"a\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",         /* stray continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = st_file("bad_utf8.safetensors", bad[i], 4);
        EXPECT_FAIL(p, PTM_ERR_FORMAT, "not valid UTF-8");
        EXPECT_FAIL(p, PTM_ERR_FORMAT, "at file offset 11)");
    }
    /* valid multi-byte UTF-8 (2, 3 and 4 bytes) is fine */
    const char *p = st_file("good_utf8.safetensors",
                            "{\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                            4);
    void *src = OPEN_OK(p);
    if (src) {
        ptm_tensor_info ti;
        CHECK_OK(fmt->info(src, 0, &ti));
        CHECK(strcmp(ti.name, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
        fmt->close(src);
    }
}

TEST(bad_json)
{
    static const struct {
        const char *hdr;
        const char *needle;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{", "unexpected end of header"},
        {"{}x", "trailing characters"},
        {"{} {}", "trailing characters"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", "expected a string key"},
        {"{\"a\" {}}", "expected ':'"},
        {"{\"a\":{\"dtype\":\"F32\" \"shape\":[]}}", "expected ',' or '}'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1 2],\"data_offsets\":[0,4]}}", "expected ',' or ']'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", "leading zero"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", "holds 1.0, not an unsigned"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e2],\"data_offsets\":[0,4]}}", "holds 1e2"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[-0,4]}}", "holds -0"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[-1,4]}}", "holds -1"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]}}",
         "holds 18446744073709551616"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", "not an unsigned"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", "must be an array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0]}}", "has 1 entries, not 2"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4,4]}}", "has 3 entries, not 2"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", "has no data_offsets"},
        {"{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", "has no dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "has no shape"},
        {"{\"a\":{\"dtype\":32,\"shape\":[],\"data_offsets\":[0,4]}}", "dtype of tensor \"a\" must be a string"},
        {"{\"a\":[0,4]}", "tensor \"a\" must be an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":tru}}", "invalid literal"},
        {"{\"a\\x\":{}}", "invalid escape"},
        {"{\"a\\u12\":{}}", "invalid \\u escape"},
        {"{\"a\\ud800\":{}}", "unpaired surrogate"},
        {"{\"a\\udc00\\ud800\":{}}", "unpaired surrogate"},
        {"{\"a\\ud800\\u0041\":{}}", "unpaired surrogate"},
        {"{\"a\tb\":{}}", "unescaped control character"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":+1}}", "unexpected character"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":1.}}", "no digit after '.'"},
        {"{\"a", "unterminated string"},
        {"", "unexpected end of header"},
        {"   ", "unexpected end of header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = st_file("bad_json.safetensors", cases[i].hdr, 4);
        if (!EXPECT_FAIL(p, PTM_ERR_FORMAT, cases[i].needle))
            fprintf(stderr, "  (case %zu: %s)\n", i, cases[i].hdr);
    }
    /* the message says where */
    const char *p = st_file("bad_json_off.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5]}}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "(file offset 37)");
}

TEST(bad_dtype)
{
    const char *p = st_file("dtype_unknown.safetensors", "{\"w\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "unknown dtype \"F17\" for tensor \"w\"");
    /* dtype names are case-sensitive */
    p = st_file("dtype_lower.safetensors", "{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "unknown dtype \"f32\"");
    /* known to safetensors but not to ptm */
    p = st_file("dtype_u16.safetensors", "{\"w\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "unsupported dtype U16 for tensor \"w\"");
    p = st_file("dtype_u64.safetensors", "{\"w\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "unsupported dtype U64");
    p = st_file("dtype_c64.safetensors", "{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "unsupported dtype C64");
    /* ... but a broken file with such a dtype is a format error first */
    p = st_file("dtype_u16_bad.safetensors", "{\"w\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,6]}}", 6);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "needs 4 bytes");
    /* sub-byte dtypes: 3 F4 elements are 12 bits, not whole bytes */
    p = st_file("dtype_f4.safetensors", "{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}", 1);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "do not fill whole bytes");
    p = st_file("dtype_f4b.safetensors", "{\"w\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 2);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "unsupported dtype F4");
}

TEST(bad_offsets)
{
    /* overlapping */
    const char *p = st_file("overlap.safetensors",
                            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                            12);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "invalid offset for tensor \"b\": data_offsets [4, 12] overlap tensor \"a\"");
    /* gapped */
    p = st_file("gap.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                12);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "invalid offset for tensor \"b\": data_offsets [8, 12] leave a gap");
    /* the first tensor must start at 0 */
    p = st_file("gap0.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "must start at data offset 0");
    /* end before begin */
    p = st_file("backwards.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "end before they begin");
    /* tied weights: two names on the same bytes */
    p = st_file("tied.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "overlap");
    /* offsets past the data section */
    p = st_file("past_data.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "file truncated: the tensor data needs 16 bytes");
    /* byte size disagreeing with the shape */
    p = st_file("size.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "tensor \"a\": data_offsets [0, 8] hold 8 bytes but dtype F32 with shape [3] needs 12");
    p = st_file("size2.safetensors", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "needs 8 bytes");
}

TEST(bad_overflow)
{
    /* the shape product overflows 64 bits */
    const char *p = st_file("ovf1.safetensors",
                            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0);
    EXPECT_FAIL(p, PTM_ERR_OVERFLOW, "tensor \"a\": the byte size of shape [4294967296, 4294967296] with dtype F32 overflows");
    /* the product fits but times 32 bits does not */
    p = st_file("ovf2.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}",
                0);
    EXPECT_FAIL(p, PTM_ERR_OVERFLOW, "overflows 64 bits");
    /* checked left to right like the reference: overflow before the 0 */
    p = st_file("ovf3.safetensors",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615,2,0],\"data_offsets\":[0,0]}}", 0);
    EXPECT_FAIL(p, PTM_ERR_OVERFLOW, "overflows");
    /* no overflow, zero elements, but a dimension int64 cannot hold */
    p = st_file("bigdim.safetensors",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615,0],\"data_offsets\":[0,0]}}", 0);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "dimension above 2^63-1");
    /* more dims than ptm has */
    p = st_file("ninedims.safetensors",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "has 9 dimensions");
}

TEST(bad_length)
{
    unsigned char data[24];
    f32_bytes_0_to_5(data);
    /* truncated by one byte */
    const char *p = tpath("trunc.safetensors");
    write_raw_st(p, 64, ATTN0_HDR, 64, data, 23);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "file truncated");
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "needs 24 bytes");
    /* truncated inside the header */
    write_raw_st(p, 64, ATTN0_HDR, 40, NULL, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "runs past the end of the file");
    /* one trailing byte after the data */
    unsigned char more[25];
    memcpy(more, data, 24);
    more[24] = 0;
    p = tpath("trailing.safetensors");
    write_raw_st(p, 64, ATTN0_HDR, 64, more, 25);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "1 trailing bytes after the tensor data");
    /* an empty header followed by bytes */
    p = tpath("trailing2.safetensors");
    write_raw_st(p, 2, "{}", 2, "xyz", 3);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "3 trailing bytes");
}

TEST(bad_duplicates)
{
    const char *p = st_file("dup_tensor.safetensors",
                            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                            4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"a\" at file offset 62");
    /* the same name spelled with an escape is still the same key */
    p = st_file("dup_escaped.safetensors",
                "{\"ab\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\\u0062\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"ab\"");
    p = st_file("dup_field.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"dtype\"");
    p = st_file("dup_meta.safetensors", "{\"__metadata__\":{\"f\":\"pt\"},\"__metadata__\":{\"f\":\"pt\"}}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"__metadata__\"");
    p = st_file("dup_meta_key.safetensors", "{\"__metadata__\":{\"f\":\"pt\",\"f\":\"tf\"}}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"f\"");
    p = st_file("dup_nested.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[{\"k\":1,\"k\":2}]}}", 4);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"k\"");
    /* keys equal in two different objects are fine */
    p = st_file("nodup.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[{\"k\":1},{\"k\":2}]}}", 4);
    void *src = OPEN_OK(p);
    if (src)
        fmt->close(src);
    /* many keys (the hash set grows) and a late duplicate */
    size_t cap = 300 * 80, o = 0;
    char *h = malloc(cap);
    o += (size_t)snprintf(h + o, cap - o, "{");
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(h + o, cap - o, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                              i ? "," : "", i == 299 ? 17 : i, i, i + 1);
    snprintf(h + o, cap - o, "}");
    p = st_file("dup_late.safetensors", h, 300);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "duplicate key \"t17\"");
    free(h);
}

TEST(bad_metadata)
{
    const char *p = st_file("meta_num.safetensors", "{\"__metadata__\":{\"format\":\"pt\",\"n\":1}}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "__metadata__ value of key \"n\" is not a string");
    p = st_file("meta_obj.safetensors", "{\"__metadata__\":{\"o\":{}}}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "__metadata__ value of key \"o\" is not a string");
    p = st_file("meta_null_val.safetensors", "{\"__metadata__\":{\"o\":null}}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "is not a string");
    p = st_file("meta_arr.safetensors", "{\"__metadata__\":[\"pt\"]}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "__metadata__ must be an object");
    p = st_file("meta_str.safetensors", "{\"__metadata__\":\"pt\"}", 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "__metadata__ must be an object");
    /* null is "no metadata" */
    p = st_file("meta_null.safetensors", "{\"__metadata__\":null}", 0);
    void *src = OPEN_OK(p);
    if (src) {
        CHECK(fmt->count(src) == 0);
        CHECK(fmt->metadata(src, "format") == NULL);
        fmt->close(src);
    }
    /* NUL inside names or metadata cannot become a C string */
    p = st_file("nul_name.safetensors", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "contains a NUL character");
    p = st_file("nul_meta.safetensors", "{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0);
    EXPECT_FAIL(p, PTM_ERR_UNSUPPORTED, "contains a NUL character");
}

TEST(bad_nesting)
{
    /* top object (1) + tensor object (2) + k arrays: 64 levels fit, 65 do not */
    for (int k = 62; k <= 63; k++) {
        char hdr[512];
        size_t o = (size_t)snprintf(hdr, sizeof hdr, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":");
        for (int i = 0; i < k; i++)
            hdr[o++] = '[';
        for (int i = 0; i < k; i++)
            hdr[o++] = ']';
        snprintf(hdr + o, sizeof hdr - o, "}}");
        const char *p = st_file("deep.safetensors", hdr, 1);
        if (k == 62) {
            void *src = OPEN_OK(p);
            if (src)
                fmt->close(src);
        } else {
            EXPECT_FAIL(p, PTM_ERR_FORMAT, "nested deeper than 64 levels");
        }
    }
    /* very deep input: refused without recursion trouble */
    size_t n = 1000000;
    char *h = malloc(n + 1);
    memcpy(h, "{\"a\":{\"x\":", 10);
    memset(h + 10, '[', n - 10);
    h[n] = '\0';
    const char *p = st_file("deeper.safetensors", h, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "nested deeper than 64 levels");
    size_t i = 1;
    h[0] = '{';
    for (; i + 5 < n; i += 5)
        memcpy(h + i, "\"a\":{", 5);
    h[i] = '\0';
    p = st_file("deeper2.safetensors", h, 0);
    EXPECT_FAIL(p, PTM_ERR_FORMAT, "nested deeper than 64 levels");
    free(h);
}

/* ----------------------------------------------------------- good input */

TEST(zero_size_and_scalar)
{
    /* zero-size tensors share offsets; a scalar holds one element */
    unsigned char data[12];
    double v = 3.5;
    memcpy(data, &v, 8);
    float f = -2.0f;
    memcpy(data + 8, &f, 4);
    const char *hdr = "{\"z1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                      "\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
                      "\"z2\":{\"dtype\":\"I64\",\"shape\":[3,0,2],\"data_offsets\":[8,8]},"
                      "\"z3\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                      "\"z4\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[12,12]}}";
    const char *p = tpath("zero.safetensors");
    write_raw_st(p, strlen(hdr), hdr, strlen(hdr), data, 12);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    /* offset order, ties in header order: z1 s z2 z3 f z4 */
    static const char *const order[] = {"z1", "s", "z2", "z3", "f", "z4"};
    CHECK(fmt->count(src) == 6);
    for (size_t i = 0; i < 6 && i < fmt->count(src); i++) {
        ptm_tensor_info ti;
        CHECK_OK(fmt->info(src, i, &ti));
        CHECK(strcmp(ti.name, order[i]) == 0);
        ptm_tensor *t = NULL;
        CHECK_OK(fmt->load(src, i, &t));
        if (!t)
            continue;
        if (i == 1) {
            CHECK(ti.ndim == 0 && ti.dtype == PTM_F64);
            double d = 0;
            memcpy(&d, ptm_tensor_data(t), 8); /* the data may be unaligned */
            CHECK(ptm_tensor_numel(t) == 1 && d == 3.5);
        } else if (i == 4) {
            float x = 0;
            memcpy(&x, ptm_tensor_data(t), 4);
            CHECK(x == -2.0f);
        } else {
            CHECK(ptm_tensor_numel(t) == 0 && ptm_tensor_nbytes(t) == 0);
        }
        if (i == 2)
            CHECK(shape_is(&ti, 3, (const int64_t[]){3, 0, 2}) && ti.dtype == PTM_I64);
        ptm_tensor_release(t);
    }
    CHECK(fmt->info(src, 6, &(ptm_tensor_info){0}) == PTM_ERR_INVALID_ARG);
    ptm_tensor *t = NULL;
    CHECK(fmt->load(src, 6, &t) == PTM_ERR_INVALID_ARG && t == NULL);
    fmt->close(src);
}

TEST(unaligned_and_whitespace)
{
    /* N = 61, not a multiple of 8: the F32 data starts at file offset 69 */
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    char h2[128];
    snprintf(h2, sizeof h2, "%s      ", hdr); /* trailing spaces: odd length */
    size_t hl = strlen(h2);
    CHECK(hl % 8 != 0);
    unsigned char data[8];
    float a = 1.25f, b = -7.5f;
    memcpy(data, &a, 4);
    memcpy(data + 4, &b, 4);
    const char *p = tpath("unaligned.safetensors");
    write_raw_st(p, hl, h2, hl, data, 8);
    void *src = OPEN_OK(p);
    if (src) {
        ptm_tensor *t = NULL;
        CHECK_OK(fmt->load(src, 0, &t));
        if (t) {
            CHECK(ptm_tensor_offset(t) == 8 + hl);
            float x[2];
            memcpy(x, ptm_tensor_data(t), 8);
            CHECK(x[0] == 1.25f && x[1] == -7.5f);
            ptm_tensor_release(t);
        }
        fmt->close(src);
    }
    /* leading whitespace (space, tab, CR, LF) and inner whitespace */
    snprintf(h2, sizeof h2, " \t\r\n{ \"w\" : { \"dtype\" : \"F32\" ,\n\"shape\":[ 2 ],\"data_offsets\":[0 , 8] } }\n\t");
    p = tpath("leading_ws.safetensors");
    write_raw_st(p, strlen(h2), h2, strlen(h2), data, 8);
    src = OPEN_OK(p);
    if (src) {
        CHECK(fmt->count(src) == 1);
        fmt->close(src);
    }
}

TEST(every_dtype)
{
    /* one tensor of each ptm dtype, element bytes 0x01.. so each tensor's
     * bytes are known; header order differs from offset order */
    static const struct {
        const char *st;
        ptm_dtype dt;
        size_t size;
    } dts[] = {
        {"F64", PTM_F64, 8},  {"F32", PTM_F32, 4},   {"F16", PTM_F16, 2},         {"BF16", PTM_BF16, 2},
        {"I64", PTM_I64, 8},  {"I32", PTM_I32, 4},   {"I16", PTM_I16, 2},         {"I8", PTM_I8, 1},
        {"U8", PTM_U8, 1},    {"BOOL", PTM_BOOL, 1}, {"F8_E4M3", PTM_F8_E4M3, 1}, {"F8_E5M2", PTM_F8_E5M2, 1},
    };
    size_t nd = sizeof dts / sizeof dts[0];
    CHECK(nd == PTM_DTYPE_COUNT);
    char hdr[2048];
    size_t o = 0, off = 0;
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "{");
    for (size_t k = nd; k-- > 0;) {
        /* written in reverse, offsets assigned in table order: 2 elements each */
        size_t begin = 0;
        for (size_t j = 0; j < k; j++)
            begin += 2 * dts[j].size;
        o += (size_t)snprintf(hdr + o, sizeof hdr - o, "%s\"t_%s\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[%zu,%zu]}",
                              k == nd - 1 ? "" : ",", dts[k].st, dts[k].st, begin, begin + 2 * dts[k].size);
        off += 2 * dts[k].size;
    }
    snprintf(hdr + o, sizeof hdr - o, "}");
    unsigned char data[256];
    for (size_t i = 0; i < off; i++)
        data[i] = (unsigned char)(i * 7 + 1);
    const char *p = tpath("dtypes.safetensors");
    write_raw_st(p, strlen(hdr), hdr, strlen(hdr), data, off);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    CHECK(fmt->count(src) == nd);
    size_t begin = 0;
    for (size_t k = 0; k < nd && k < fmt->count(src); k++) {
        ptm_tensor_info ti;
        CHECK_OK(fmt->info(src, k, &ti));
        char want[32];
        snprintf(want, sizeof want, "t_%s", dts[k].st);
        CHECK(strcmp(ti.name, want) == 0);
        CHECK(ti.dtype == dts[k].dt);
        CHECK(shape_is(&ti, 1, (const int64_t[]){2}));
        ptm_tensor *t = NULL;
        CHECK_OK(fmt->load(src, k, &t));
        if (t) {
            CHECK(ptm_tensor_dtype(t) == dts[k].dt);
            CHECK(ptm_tensor_nbytes(t) == 2 * dts[k].size);
            CHECK(memcmp(ptm_tensor_data(t), data + begin, 2 * dts[k].size) == 0);
            ptm_tensor_release(t);
        }
        begin += 2 * dts[k].size;
    }
    fmt->close(src);
}

TEST(extras_and_escapes)
{
    /* unknown members are ignored; escapes decode; metadata is kept */
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"},"
                      "\"x\\/y\\t\\u0041\":{\"extra\":{\"a\":[1,-2.5e3,true,false,null,\"s\",{}]},"
                      "\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"more\":0.5}}";
    const char *p = st_file("extras.safetensors", hdr, 2);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    ptm_tensor_info ti;
    CHECK_OK(fmt->info(src, 0, &ti));
    CHECK(strcmp(ti.name, "x/y\tA") == 0);
    CHECK(fmt->metadata(src, "format") && strcmp(fmt->metadata(src, "format"), "pt") == 0);
    CHECK(fmt->metadata(src, "note") && strcmp(fmt->metadata(src, "note"), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80") == 0);
    CHECK(fmt->metadata(src, "nope") == NULL);
    fmt->close(src);
}

/* --------------------------------------------------------------- writer */

static char *saved_header(const char *path, size_t *n_out)
{
    size_t len = 0;
    unsigned char *b = read_bytes(path, &len);
    if (!b || len < 8)
        return NULL;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | b[i];
    if (n > len - 8) {
        free(b);
        return NULL;
    }
    char *h = malloc(n + 1);
    memcpy(h, b + 8, n);
    h[n] = '\0';
    *n_out = n;
    free(b);
    return h;
}

TEST(writer_order_and_escapes)
{
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    struct {
        const char *name;
        ptm_dtype dt;
        int64_t n;
    } ts[] = {
        {"b", PTM_F16, 3}, {"a", PTM_BOOL, 1}, {"z", PTM_I64, 1}, {"c", PTM_F32, 2}, {"a", PTM_F32, 1},
        {"e", PTM_F8_E4M3, 1}, {"d", PTM_F8_E5M2, 1}, {"q\"\\\n\b\f\r\x01\x1f\x7f\xc3\xa9", PTM_U8, 2},
        {"B", PTM_BF16, 1}, {"i8", PTM_I8, 1}, {"i16", PTM_I16, 1}, {"i32", PTM_I32, 1}, {"f64", PTM_F64, 1},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        ptm_tensor *t = NULL;
        CHECK_OK(ptm_tensor_new(ts[i].dt, 1, &ts[i].n, &t));
        if (!t)
            continue;
        unsigned char *d = ptm_tensor_data_mut(t);
        for (size_t k = 0; k < ptm_tensor_nbytes(t); k++)
            d[k] = (unsigned char)(16 * i + k);
        const char *name = ts[i].name;
        if (i == 4)
            name = "a2"; /* a second F32 */
        CHECK_OK(ptm_state_dict_set(sd, name, t));
        ptm_tensor_release(t);
    }
    const char *path = tpath("order.safetensors");
    const char *md[] = {"format", "pt", "z", "1", "a", "\t", NULL};
    CHECK_OK(fmt->save(path, sd, md));
    /* The v0.4 enum is BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32
     * F32 F64 I64 U64, so descending: I64, F64, F32, I32, BF16, F16, I16,
     * F8_E4M3, F8_E5M2, I8, U8, BOOL; names ascending (bytes) within a
     * dtype ("B" < "b"); metadata in the given order. */
    const char *want =
        "{\"__metadata__\":{\"format\":\"pt\",\"z\":\"1\",\"a\":\"\\t\"},"
        "\"z\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
        "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]},"
        "\"a2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]},"
        "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[28,32]},"
        "\"B\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[32,34]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[34,40]},"
        "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[40,42]},"
        "\"e\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[42,43]},"
        "\"d\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[43,44]},"
        "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[44,45]},"
        "\"q\\\"\\\\\\n\\b\\f\\r\\u0001\\u001f\x7f\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[45,47]},"
        "\"a\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[47,48]}}";
    size_t n = 0;
    char *h = saved_header(path, &n);
    size_t wl = strlen(want), pad = (8 - wl % 8) % 8;
    CHECK(h && n == wl + pad && n % 8 == 0);
    if (h) {
        CHECK(strncmp(h, want, wl) == 0);
        if (strncmp(h, want, wl) != 0)
            fprintf(stderr, "got:  %s\nwant: %s\n", h, want);
        for (size_t i = wl; i < n; i++)
            CHECK(h[i] == ' ');
        free(h);
    }
    /* the data: each tensor's bytes in that order */
    size_t len = 0;
    unsigned char *b = read_bytes(path, &len);
    CHECK(b && len == 8 + n + 48);
    if (b && len == 8 + n + 48) {
        const unsigned char *d = b + 8 + n;
        CHECK(d[0] == 16 * 2 && d[7] == 16 * 2 + 7);   /* z */
        CHECK(d[16] == 16 * 4 && d[20] == 16 * 3);      /* a2, c */
        CHECK(d[45] == 16 * 7 && d[46] == 16 * 7 + 1);  /* q... */
        CHECK(d[47] == 16 * 1);                         /* a */
    }
    free(b);
    /* read back through the reader */
    void *src = OPEN_OK(path);
    if (src) {
        CHECK(fmt->count(src) == 13);
        CHECK(fmt->metadata(src, "a") && strcmp(fmt->metadata(src, "a"), "\t") == 0);
        ptm_tensor_info ti;
        CHECK_OK(fmt->info(src, 11, &ti));
        CHECK(strcmp(ti.name, "q\"\\\n\b\f\r\x01\x1f\x7f\xc3\xa9") == 0);
        fmt->close(src);
    }
    /* empty metadata list: "__metadata__":{} as the reference writes Some({}) */
    const char *none[] = {NULL};
    ptm_state_dict *e = NULL;
    CHECK_OK(ptm_state_dict_new(&e));
    CHECK_OK(fmt->save(path, e, none));
    h = saved_header(path, &n);
    CHECK(h && strcmp(h, "{\"__metadata__\":{}}     ") == 0);
    free(h);
    ptm_state_dict_free(e);
    ptm_state_dict_free(sd);
}

TEST(writer_refusals)
{
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    ptm_tensor *t = f32_tensor(1, (const int64_t[]){4}, 1.0f);
    CHECK_OK(ptm_state_dict_set(sd, "w", t));
    CHECK_OK(ptm_state_dict_set(sd, "w_tied", t));
    const char *path = tpath("refuse.safetensors");
    CHECK_ERR(fmt->save(path, sd, NULL), PTM_ERR_INVALID_ARG, "tensors \"w\" and \"w_tied\" share memory");
    CHECK(strstr(ptm_last_error(), path) != NULL);
    CHECK_OK(ptm_state_dict_remove(sd, "w_tied"));
    /* overlapping views of one buffer share memory; disjoint ones do not */
    ptm_buffer *buf = NULL;
    CHECK_OK(ptm_buffer_alloc(64, &buf));
    ptm_tensor *v1 = NULL, *v2 = NULL, *v3 = NULL;
    CHECK_OK(ptm_tensor_from_buffer(buf, 0, PTM_F32, 1, (const int64_t[]){4}, &v1));
    CHECK_OK(ptm_tensor_from_buffer(buf, 16, PTM_F32, 1, (const int64_t[]){4}, &v2));
    CHECK_OK(ptm_tensor_from_buffer(buf, 28, PTM_U8, 1, (const int64_t[]){8}, &v3));
    CHECK_OK(ptm_state_dict_set(sd, "v1", v1));
    CHECK_OK(ptm_state_dict_set(sd, "v2", v2));
    CHECK_OK(fmt->save(path, sd, NULL));
    CHECK_OK(ptm_state_dict_set(sd, "v3", v3));
    CHECK_ERR(fmt->save(path, sd, NULL), PTM_ERR_INVALID_ARG, "tensors \"v2\" and \"v3\" share memory");
    CHECK_OK(ptm_state_dict_remove(sd, "v3"));
    ptm_tensor_release(v1);
    ptm_tensor_release(v2);
    ptm_tensor_release(v3);
    ptm_buffer_release(buf);
    /* the reserved name */
    CHECK_OK(ptm_state_dict_set(sd, "__metadata__", t));
    CHECK_ERR(fmt->save(path, sd, NULL), PTM_ERR_INVALID_ARG, "__metadata__");
    CHECK_OK(ptm_state_dict_remove(sd, "__metadata__"));
    /* names must be UTF-8 */
    CHECK_OK(ptm_state_dict_set(sd, "bad\xff", t));
    CHECK_ERR(fmt->save(path, sd, NULL), PTM_ERR_INVALID_ARG, "not valid UTF-8");
    CHECK_OK(ptm_state_dict_remove(sd, "bad\xff"));
    ptm_tensor_release(t);
    /* metadata: duplicate keys, missing value */
    const char *dup[] = {"format", "pt", "format", "tf", NULL};
    CHECK_ERR(fmt->save(path, sd, dup), PTM_ERR_INVALID_ARG, "metadata key \"format\" is given twice");
    const char *odd[] = {"format", NULL};
    CHECK_ERR(fmt->save(path, sd, odd), PTM_ERR_INVALID_ARG, "has no value");
    /* an unwritable path */
    const char *nodir = PTM_TEST_TMP "/no/such/dir/x.safetensors";
    CHECK_ERR(fmt->save(nodir, sd, NULL), PTM_ERR_IO, "cannot create the file");
    CHECK(strstr(ptm_last_error(), nodir) != NULL);
    /* a header over 100,000,000 bytes is refused before anything is written */
    size_t big = 100000000;
    char *v = malloc(big + 1);
    if (v) {
        memset(v, 'x', big);
        v[big] = '\0';
        const char *md[] = {"k", v, NULL};
        remove(path);
        CHECK_ERR(fmt->save(path, sd, md), PTM_ERR_UNSUPPORTED, "more than the 100000000");
        FILE *f = fopen(path, "rb");
        CHECK(f == NULL);
        if (f)
            fclose(f);
        /* just under the limit is fine: header {"__metadata__":{"k":"x..."}} */
        ptm_state_dict *e = NULL;
        CHECK_OK(ptm_state_dict_new(&e));
        size_t fixed = strlen("{\"__metadata__\":{\"k\":\"\"}}");
        v[big - fixed] = '\0';
        CHECK_OK(fmt->save(path, e, md));
        size_t n = 0;
        char *h = saved_header(path, &n);
        CHECK(h && n == big);
        free(h);
        v[big - fixed] = 'x';
        v[big - fixed + 1] = '\0';
        CHECK_ERR(fmt->save(path, e, md), PTM_ERR_UNSUPPORTED, "100000008 bytes");
        ptm_state_dict_free(e);
        remove(path);
        free(v);
    }
    ptm_state_dict_free(sd);
}

TEST(roundtrip_values)
{
    /* values survive save -> open -> load bit for bit, incl. NaN payloads */
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    ptm_tensor *a = f32_tensor(2, (const int64_t[]){3, 5}, -7.0f);
    ((float *)ptm_tensor_data_mut(a))[3] = NAN;
    ((float *)ptm_tensor_data_mut(a))[4] = -INFINITY;
    ptm_tensor *s = NULL;
    CHECK_OK(ptm_tensor_new(PTM_I64, 0, NULL, &s));
    *(int64_t *)ptm_tensor_data_mut(s) = INT64_MIN;
    ptm_tensor *z = NULL;
    CHECK_OK(ptm_tensor_new(PTM_BF16, 2, (const int64_t[]){0, 4}, &z));
    CHECK_OK(ptm_state_dict_set(sd, "layer.0.weight", a));
    CHECK_OK(ptm_state_dict_set(sd, "step", s));
    CHECK_OK(ptm_state_dict_set(sd, "empty", z));
    const char *path = tpath("roundtrip.safetensors");
    const char *md[] = {"format", "pt", NULL};
    CHECK_OK(fmt->save(path, sd, md));
    void *src = OPEN_OK(path);
    if (src) {
        CHECK(fmt->count(src) == 3);
        for (size_t i = 0; i < fmt->count(src); i++) {
            ptm_tensor_info ti;
            CHECK_OK(fmt->info(src, i, &ti));
            ptm_tensor *orig = ptm_state_dict_get(sd, ti.name), *t = NULL;
            CHECK(orig != NULL);
            CHECK_OK(fmt->load(src, i, &t));
            if (orig && t) {
                CHECK(ptm_tensor_dtype(t) == ptm_tensor_dtype(orig));
                CHECK(ptm_tensor_ndim(t) == ptm_tensor_ndim(orig));
                CHECK(ptm_tensor_nbytes(t) == ptm_tensor_nbytes(orig));
                CHECK(memcmp(ptm_tensor_data(t), ptm_tensor_data(orig), ptm_tensor_nbytes(t)) == 0);
            }
            ptm_tensor_release(t);
        }
        const char *f = fmt->metadata(src, "format");
        CHECK(f && strcmp(f, "pt") == 0);
        fmt->close(src);
    }
    ptm_tensor_release(a);
    ptm_tensor_release(s);
    ptm_tensor_release(z);
    ptm_state_dict_free(sd);
}

int main(void)
{
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR "/safetensors.so"};
    if (fmt_test_setup(paths, 1, "safetensors"))
        return 1;
    RUN(descriptor);
    RUN(probe);
    RUN(spec_example_read);
    RUN(spec_example_write);
    RUN(spec_empty_file);
    RUN(spec_padding_72);
    RUN(spec_metadata_only);
    RUN(bad_sizes);
    RUN(bad_utf8);
    RUN(bad_json);
    RUN(bad_dtype);
    RUN(bad_offsets);
    RUN(bad_overflow);
    RUN(bad_length);
    RUN(bad_duplicates);
    RUN(bad_metadata);
    RUN(bad_nesting);
    RUN(zero_size_and_scalar);
    RUN(unaligned_and_whitespace);
    RUN(every_dtype);
    RUN(extras_and_escapes);
    RUN(writer_order_and_escapes);
    RUN(writer_refusals);
    RUN(roundtrip_values);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
