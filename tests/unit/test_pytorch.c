/* SPDX-License-Identifier: Apache-2.0 */
/* test_pytorch.c - the pytorch format plugin.
 *
 * Without arguments: unit checks that need no Python (probe scores, refusals
 * of hand-made non-checkpoints with their messages, the writer's sharing of
 * tied and overlapping tensors, its zip layout checked byte by byte against
 * the zip specification, and a writer -> reader round trip of every dtype
 * whose expected values are computed here by formula).
 *
 * With arguments it is the driver of the Python reference checks
 * (tests/reference/pytorch_*.py), which compare against real torch:
 *   dump FILE               open FILE, print "ok N" then one line per tensor:
 *                           tensor NAMEHEX DTYPE NDIM DIMS MAPPED DATAHEX
 *                           (DIMS "d0,d1" or "-"; MAPPED 1 = zero-copy view)
 *   expect-error FILE TEXT  opening (and loading) FILE must fail with a
 *                           message naming FILE and containing TEXT
 *   convert IN OUT          load IN (any format), save it as pytorch to OUT
 *   fixture OUT             write the writer fixture (see fixture()) to OUT
 *   fixture-f8 OUT          float8 tensors (raw byte patterns) to OUT
 * Failures print "error STATUS MESSAGE" and exit 1. */
#include "check.h"
#define FMT_TEST_PREFIX "pt_"
#include "fmt_test.h"

#include <ptm/ptm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* ------------------------------------------------------------ fixtures */

static ptm_tensor *tensor(ptm_dtype dt, int ndim, const int64_t *shape)
{
    ptm_tensor *t = NULL;
    if (ptm_tensor_new(dt, ndim, shape, &t) != PTM_OK) {
        fprintf(stderr, "tensor: %s\n", ptm_last_error());
        exit(2);
    }
    return t;
}

/* Element k of the fixture tensor of dtype dt, exact in that dtype: floats
 * (k * 3 - 7) / 4, wider ints k * 3 - 7, i8 (k * 5) % 200 - 100, u8
 * (k * 7) % 256, bool k % 3 == 0. */
static double fixture_value(ptm_dtype dt, int64_t k)
{
    switch (dt) {
    case PTM_BOOL: return k % 3 == 0;
    case PTM_U8: return (double)((k * 7) % 256);
    case PTM_I8: return (double)((k * 5) % 200 - 100);
    case PTM_I16: case PTM_I32: case PTM_I64: return (double)(k * 3 - 7);
    default: return (double)(k * 3 - 7) * 0.25;
    }
}

static ptm_tensor *fixture_tensor(ptm_dtype dt, int ndim, const int64_t *shape)
{
    ptm_tensor *t = tensor(dt, ndim, shape);
    int64_t n = ptm_tensor_numel(t);
    double *v = malloc(((size_t)n + 1) * sizeof *v);
    for (int64_t k = 0; k < n; k++)
        v[k] = fixture_value(dt, k);
    if (ptm_convert(v, PTM_F64, ptm_tensor_data_mut(t), dt, (size_t)n) != PTM_OK)
        exit(2);
    free(v);
    return t;
}

static const ptm_dtype all_dtypes[] = {PTM_F64, PTM_F32, PTM_F16, PTM_BF16, PTM_I64,
                                       PTM_I32, PTM_I16, PTM_I8,  PTM_U8,   PTM_BOOL};

/* The writer fixture (pytorch_c_writes.py recomputes every value):
 *   "t.<torch dtype name>"  [2, 3, 4] of fixture_value for each dtype
 *   "scalar"                f32 scalar 2.5
 *   "empty"                 f32 [0, 3]
 *   "tied.a", "tied.b"      the same f32 [5] tensor under two names
 *   "whole", "part"         "whole" f32 [4, 6] = 0..23; "part" views its
 *                           elements 8..15 as [2, 4] (same buffer)
 *   "many.N"                N = 0..69 f16 [N % 5 + 1] of fixture_value */
static ptm_state_dict *fixture(void)
{
    ptm_state_dict *sd = NULL;
    if (ptm_state_dict_new(&sd) != PTM_OK)
        exit(2);
    int64_t s234[] = {2, 3, 4};
    for (size_t i = 0; i < sizeof all_dtypes / sizeof all_dtypes[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "t.%s", ptm_dtype_torch_name(all_dtypes[i]));
        ptm_tensor *t = fixture_tensor(all_dtypes[i], 3, s234);
        ptm_state_dict_set(sd, name, t);
        ptm_tensor_release(t);
    }
    ptm_tensor *sc = tensor(PTM_F32, 0, NULL);
    *(float *)ptm_tensor_data_mut(sc) = 2.5f;
    ptm_state_dict_set(sd, "scalar", sc);
    ptm_tensor_release(sc);
    int64_t s03[] = {0, 3};
    ptm_tensor *em = tensor(PTM_F32, 2, s03);
    ptm_state_dict_set(sd, "empty", em);
    ptm_tensor_release(em);
    int64_t s5[] = {5};
    ptm_tensor *ti = fixture_tensor(PTM_F32, 1, s5);
    ptm_state_dict_set(sd, "tied.a", ti);
    ptm_state_dict_set(sd, "tied.b", ti);
    ptm_tensor_release(ti);
    ptm_buffer *buf = NULL;
    if (ptm_buffer_alloc(24 * sizeof(float), &buf) != PTM_OK)
        exit(2);
    float *f = ptm_buffer_data_mut(buf);
    for (int i = 0; i < 24; i++)
        f[i] = (float)i;
    int64_t s46[] = {4, 6}, s24[] = {2, 4};
    ptm_tensor *whole = NULL, *part = NULL;
    if (ptm_tensor_from_buffer(buf, 0, PTM_F32, 2, s46, &whole) ||
        ptm_tensor_from_buffer(buf, 8 * sizeof(float), PTM_F32, 2, s24, &part))
        exit(2);
    ptm_state_dict_set(sd, "whole", whole);
    ptm_state_dict_set(sd, "part", part);
    ptm_tensor_release(whole);
    ptm_tensor_release(part);
    ptm_buffer_release(buf);
    for (int i = 0; i < 70; i++) {
        char name[32];
        snprintf(name, sizeof name, "many.%d", i);
        int64_t sh[] = {i % 5 + 1};
        ptm_tensor *t = fixture_tensor(PTM_F16, 1, sh);
        ptm_state_dict_set(sd, name, t);
        ptm_tensor_release(t);
    }
    return sd;
}

/* float8 tensors with raw byte patterns k * 37 + 1 (e4m3) and k * 11 + 3 (e5m2). */
static ptm_state_dict *fixture_f8(void)
{
    ptm_state_dict *sd = NULL;
    if (ptm_state_dict_new(&sd) != PTM_OK)
        exit(2);
    int64_t s[] = {3, 5};
    ptm_tensor *a = tensor(PTM_F8_E4M3, 2, s), *b = tensor(PTM_F8_E5M2, 2, s);
    uint8_t *pa = ptm_tensor_data_mut(a), *pb = ptm_tensor_data_mut(b);
    for (int k = 0; k < 15; k++) {
        pa[k] = (uint8_t)(k * 37 + 1);
        pb[k] = (uint8_t)(k * 11 + 3);
    }
    ptm_state_dict_set(sd, "e4m3", a);
    ptm_state_dict_set(sd, "e5m2", b);
    ptm_tensor_release(a);
    ptm_tensor_release(b);
    return sd;
}

/* --------------------------------------------------------------- tool */

static int tool_fail(ptm_status s)
{
    printf("error %d %s\n", (int)s, ptm_last_error());
    return 1;
}

static void hex(const void *p, size_t n)
{
    const unsigned char *b = p;
    fputs("x", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

/* Open and load every tensor; returns the first failure. */
static ptm_status load_all(const ptm_format *f, const char *path, ptm_state_dict **out, int print)
{
    void *src = NULL;
    ptm_status s = f->open(path, &src);
    if (s)
        return s;
    ptm_state_dict *sd = NULL;
    ptm_state_dict_new(&sd);
    size_t n = f->count(src);
    if (print)
        printf("ok %zu\n", n);
    for (size_t i = 0; i < n && !s; i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = NULL;
        if ((s = f->info(src, i, &ti)) || (s = f->load(src, i, &t)))
            break;
        if (print) {
            printf("tensor ");
            hex(ti.name, strlen(ti.name));
            printf(" %s %d ", ptm_dtype_name(ti.dtype), ti.ndim);
            if (ti.ndim == 0)
                fputs("-", stdout);
            for (int d = 0; d < ti.ndim; d++)
                printf("%s%lld", d ? "," : "", (long long)ti.shape[d]);
            printf(" %d ", ptm_buffer_is_mapped(ptm_tensor_buffer(t)));
            hex(ptm_tensor_data(t), ptm_tensor_nbytes(t));
            printf("\n");
        }
        ptm_state_dict_set(sd, ti.name, t);
        ptm_tensor_release(t);
    }
    f->close(src);
    if (s)
        ptm_state_dict_free(sd);
    else
        *out = sd;
    return s;
}

static int tool(int argc, char **argv)
{
    const char *cmd = argv[1];
    ptm_status s;
    ptm_state_dict *sd = NULL;
    if (!strcmp(cmd, "dump") && argc == 3) {
        if ((s = load_all(fmt, argv[2], &sd, 1)))
            return tool_fail(s);
        ptm_state_dict_free(sd);
        return 0;
    }
    if (!strcmp(cmd, "expect-error") && argc == 4) {
        ptm_clear_error();
        s = load_all(fmt, argv[2], &sd, 0);
        if (s == PTM_OK) {
            ptm_state_dict_free(sd);
            printf("accepted: wanted an error containing \"%s\"\n", argv[3]);
            return 1;
        }
        const char *m = ptm_last_error();
        printf("error %d %s\n", (int)s, m);
        if (!strstr(m, argv[2]) || !strstr(m, argv[3])) {
            printf("the message does not name the file and \"%s\"\n", argv[3]);
            return 1;
        }
        return 0;
    }
    if (!strcmp(cmd, "convert") && argc == 4) {
        const ptm_format *in = ptm_context_detect_format(ctx, argv[2]);
        if (!in)
            return tool_fail(PTM_ERR_NOT_FOUND);
        if ((s = load_all(in, argv[2], &sd, 0)) || (s = fmt->save(argv[3], sd, NULL)))
            return tool_fail(s);
        ptm_state_dict_free(sd);
        printf("ok\n");
        return 0;
    }
    if ((!strcmp(cmd, "fixture") || !strcmp(cmd, "fixture-f8")) && argc == 3) {
        sd = !strcmp(cmd, "fixture") ? fixture() : fixture_f8();
        s = fmt->save(argv[2], sd, NULL);
        ptm_state_dict_free(sd);
        if (s)
            return tool_fail(s);
        printf("ok\n");
        return 0;
    }
    fprintf(stderr, "usage: test_pytorch [dump FILE | expect-error FILE TEXT | convert IN OUT | fixture OUT | "
                    "fixture-f8 OUT]\n");
    return 2;
}

/* --------------------------------------------------------------- tests */

TEST(probe)
{
    static const unsigned char zip[] = "PK\3\4\0\0";
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8,
                                           0x50, 0x19, 0x2e};
    static const char lfs[] = "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n";
    CHECK(fmt->probe("x/pytorch_model.bin", zip, 6) == 90);
    CHECK(fmt->probe("x/weights", zip, 6) == 60);
    CHECK(fmt->probe("x/pytorch_model.bin", legacy, sizeof legacy) == 90);
    CHECK(fmt->probe("x/pytorch_model.bin", (const uint8_t *)lfs, 64) == 50);
    CHECK(fmt->probe("x/pytorch_model.bin", (const uint8_t *)"garbage!", 8) == 10);
    CHECK(fmt->probe("x/model.safetensors", (const uint8_t *)"\x10\0\0\0\0\0\0\0{", 9) == 0);
    CHECK(fmt->probe("x/empty.bin", NULL, 0) == 10);
}

TEST(refusals)
{
    const char *p = tpath("lfs.bin");
    static const char lfs[] = "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n";
    write_bytes(p, lfs, sizeof lfs - 1);
    void *src = NULL;
    CHECK_ERR(fmt->open(p, &src), PTM_ERR_FORMAT, "Git LFS pointer");
    CHECK(strstr(ptm_last_error(), p) != NULL);
    p = tpath("empty.bin");
    write_bytes(p, "", 0);
    CHECK_ERR(fmt->open(p, &src), PTM_ERR_FORMAT, "empty file");
    p = tpath("garbage.bin");
    write_bytes(p, "hello world, not a zip", 22);
    CHECK_ERR(fmt->open(p, &src), PTM_ERR_FORMAT, "no zip signature");
    p = tpath("preview.bin");
    write_bytes(p, "PYTORCH1xxxxxxxx", 16);
    CHECK_ERR(fmt->open(p, &src), PTM_ERR_UNSUPPORTED, "preview");
    p = tpath("shortzip.bin");
    write_bytes(p, "PK\3\4", 4);
    CHECK_ERR(fmt->open(p, &src), PTM_ERR_FORMAT, "truncated zip");
    CHECK_ERR(fmt->open(tpath("does-not-exist.bin"), &src), PTM_ERR_NOT_FOUND, "does-not-exist.bin");
    CHECK(src == NULL);
}

/* Find "<any>/<name>" in a zip written by the plugin by walking the central
 * directory per the zip specification; returns the data offset or 0. */
static size_t zip_find(const unsigned char *b, size_t n, const char *name, uint32_t *size, int *count)
{
    size_t eocd = n - 22;
    CHECK(rd32(b + eocd) == 0x06054b50);
    CHECK(rd32(b + eocd - 20) == 0x07064b50); /* zip64 locator always present */
    size_t cd = rd32(b + eocd + 16), entries = rd16(b + eocd + 10), found = 0;
    *count = (int)entries;
    for (size_t i = 0; i < entries; i++) {
        CHECK(rd32(b + cd) == 0x02014b50);
        size_t nl = rd16(b + cd + 28), xl = rd16(b + cd + 30), cl = rd16(b + cd + 32);
        const char *nm = (const char *)b + cd + 46;
        const char *slash = memchr(nm, '/', nl);
        if (slash && (size_t)(nm + nl - slash - 1) == strlen(name) && !memcmp(slash + 1, name, strlen(name))) {
            size_t lho = rd32(b + cd + 42);
            CHECK(rd32(b + lho) == 0x04034b50);
            CHECK(rd16(b + lho + 6) == 0x0800 && rd16(b + lho + 8) == 0); /* UTF-8 names, stored */
            found = lho + 30 + rd16(b + lho + 26) + rd16(b + lho + 28);
            *size = rd32(b + cd + 24);
        }
        cd += 46 + nl + xl + cl;
    }
    return found;
}

TEST(writer_layout_and_ties)
{
    const char *p = tpath("fixture.bin");
    ptm_state_dict *sd = fixture();
    CHECK_OK(fmt->save(p, sd, NULL));
    size_t n = 0;
    unsigned char *b = read_bytes(p, &n);
    CHECK(b != NULL && n > 200);
    if (!b)
        return;
    uint32_t sz = 0;
    int count = 0;
    /* storages: 10 dtypes + scalar + empty + tied (one) + whole/part (one) + 70 */
    size_t off = zip_find(b, n, "data.pkl", &sz, &count);
    CHECK(off == 64); /* the first record's data at 64, as torch */
    CHECK(b[off] == 0x80 && b[off + 1] == 2 && b[off + sz - 1] == '.');
    CHECK(count == 10 + 1 + 1 + 1 + 1 + 70 + 3);
    off = zip_find(b, n, "version", &sz, &count);
    CHECK(off && sz == 2 && !memcmp(b + off, "3\n", 2));
    off = zip_find(b, n, "byteorder", &sz, &count);
    CHECK(off && sz == 6 && !memcmp(b + off, "little", 6));
    /* storage 13 is whole/part: 24 floats 0..23 */
    off = zip_find(b, n, "data/13", &sz, &count);
    CHECK(off % 64 == 0 && sz == 96);
    for (int i = 0; off && i < 24; i++) {
        float v;
        memcpy(&v, b + off + 4 * i, 4);
        CHECK(v == (float)i);
    }
    /* the archive folder is the file name without its extension */
    CHECK(memcmp(b + 30, "pt_fixture/data.pkl", 19) == 0);
    free(b);

    /* read back: values by formula; tied names share memory, part views whole */
    ptm_state_dict *rd = NULL;
    CHECK_OK(load_all(fmt, p, &rd, 0));
    if (rd) {
        CHECK(ptm_state_dict_size(rd) == ptm_state_dict_size(sd));
        for (size_t i = 0; i < sizeof all_dtypes / sizeof all_dtypes[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "t.%s", ptm_dtype_torch_name(all_dtypes[i]));
            ptm_tensor *t = ptm_state_dict_get(rd, name);
            CHECK(t && ptm_tensor_dtype(t) == all_dtypes[i] && ptm_tensor_numel(t) == 24);
            CHECK(t && ptm_buffer_is_mapped(ptm_tensor_buffer(t)));
            double v[24];
            if (t && ptm_convert(ptm_tensor_data(t), all_dtypes[i], v, PTM_F64, 24) == PTM_OK)
                for (int k = 0; k < 24; k++)
                    CHECK(v[k] == fixture_value(all_dtypes[i], k));
        }
        ptm_tensor *a = ptm_state_dict_get(rd, "tied.a"), *bb = ptm_state_dict_get(rd, "tied.b");
        CHECK(a && bb && ptm_tensor_shares_memory(a, bb));
        ptm_tensor *w = ptm_state_dict_get(rd, "whole"), *pp = ptm_state_dict_get(rd, "part");
        CHECK(w && pp && ptm_tensor_shares_memory(w, pp));
        CHECK(pp && ((const float *)ptm_tensor_data(pp))[0] == 8.0f && ((const float *)ptm_tensor_data(pp))[7] == 15.0f);
        ptm_tensor *sc = ptm_state_dict_get(rd, "scalar");
        CHECK(sc && ptm_tensor_ndim(sc) == 0 && *(const float *)ptm_tensor_data(sc) == 2.5f);
        ptm_tensor *em = ptm_state_dict_get(rd, "empty");
        CHECK(em && ptm_tensor_ndim(em) == 2 && ptm_tensor_dim(em, 0) == 0 && ptm_tensor_dim(em, 1) == 3);
        ptm_state_dict_free(rd);
    }
    ptm_state_dict_free(sd);
}

TEST(writer_f8_and_refusals)
{
    const char *p = tpath("f8.bin");
    ptm_state_dict *sd = fixture_f8(), *rd = NULL;
    CHECK_OK(fmt->save(p, sd, NULL));
    CHECK_OK(load_all(fmt, p, &rd, 0));
    if (rd) {
        ptm_tensor *a = ptm_state_dict_get(rd, "e4m3"), *b = ptm_state_dict_get(rd, "e5m2");
        CHECK(a && ptm_tensor_dtype(a) == PTM_F8_E4M3 && ptm_tensor_numel(a) == 15);
        CHECK(b && ptm_tensor_dtype(b) == PTM_F8_E5M2);
        for (int k = 0; a && b && k < 15; k++) {
            CHECK(((const uint8_t *)ptm_tensor_data(a))[k] == (uint8_t)(k * 37 + 1));
            CHECK(((const uint8_t *)ptm_tensor_data(b))[k] == (uint8_t)(k * 11 + 3));
        }
        ptm_state_dict_free(rd);
    }
    ptm_state_dict_free(sd);
    ptm_state_dict *one = NULL;
    ptm_state_dict_new(&one);
    ptm_tensor *t = tensor(PTM_F32, 0, NULL);
    ptm_state_dict_set(one, "x", t);
    ptm_tensor_release(t);
    CHECK_ERR(fmt->save(tpath("nodir/x.bin"), one, NULL), PTM_ERR_IO, "nodir/x.bin");
    ptm_state_dict_free(one);
}

int main(int argc, char **argv)
{
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR "/pytorch.so", PTM_BUILD_PLUGIN_DIR "/safetensors.so"};
    if (fmt_test_setup(paths, 2, "pytorch"))
        return 1;
    int rc;
    if (argc > 1) {
        rc = tool(argc, argv);
    } else {
        RUN(probe);
        RUN(refusals);
        RUN(writer_layout_and_ties);
        RUN(writer_f8_and_refusals);
        rc = CHECK_DONE();
    }
    ptm_context_free(ctx);
    return rc;
}
