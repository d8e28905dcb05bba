/* SPDX-License-Identifier: Apache-2.0 */
/* test_msgpack.c - the Flax msgpack format plugin through the context API.
 * Files are built here byte by byte with a small msgpack emitter written
 * from the msgpack spec (independent of msgpack-c and of the plugin); the
 * spec's worked example (formats.md §3.2) is checked in both directions.
 * Checked: the Flax -> PyTorch names and layouts of §3.6 (kernel .T, conv
 * (3,2,0,1), scale/embedding -> weight, params/batch_stats levels,
 * mean/var), zero-copy views, dtypes, chunked arrays (§3.3), every hostile
 * input the brief lists (status + a message naming the file and the key),
 * every truncation of a valid file, the writer's inverse mapping and its
 * refusals, and, through the gpt2 plugin, from_flax and ptm_model_cast. */
#include "check.h"
#define FMT_TEST_PREFIX "mp_"
#include "fmt_test.h"

#include <ptm/arch.h>
#include <ptm/format.h>
#include <ptm/ptm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


/* ------------------------------------------------------- msgpack emitter */

typedef struct bb {
    unsigned char *p;
    size_t n, cap;
} bb;

static void put(bb *b, const void *d, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(2);
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put1(bb *b, unsigned c)
{
    unsigned char x = (unsigned char)c;
    put(b, &x, 1);
}
static void putbe(bb *b, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        put1(b, (unsigned)(v >> (8 * i)) & 0xff);
}
static void m_map(bb *b, uint32_t n)
{
    if (n < 16)
        put1(b, 0x80 | n);
    else if (n < 65536)
        put1(b, 0xde), putbe(b, n, 2);
    else
        put1(b, 0xdf), putbe(b, n, 4);
}
static void m_arr(bb *b, uint32_t n)
{
    if (n < 16)
        put1(b, 0x90 | n);
    else
        put1(b, 0xdc), putbe(b, n, 2);
}
static void m_strn(bb *b, const char *s, size_t n)
{
    if (n < 32)
        put1(b, 0xa0 | (unsigned)n);
    else
        put1(b, 0xd9), put1(b, (unsigned)n);
    put(b, s, n);
}
static void m_str(bb *b, const char *s) { m_strn(b, s, strlen(s)); }
static void m_uint(bb *b, uint64_t v)
{
    if (v < 128)
        put1(b, (unsigned)v);
    else if (v < 256)
        put1(b, 0xcc), put1(b, (unsigned)v);
    else if (v < 65536)
        put1(b, 0xcd), putbe(b, v, 2);
    else
        put1(b, 0xcf), putbe(b, v, 8);
}
static void m_bin(bb *b, const void *d, size_t n)
{
    if (n < 256)
        put1(b, 0xc4), put1(b, (unsigned)n);
    else
        put1(b, 0xc6), putbe(b, n, 4);
    put(b, d, n);
}
static void m_ext(bb *b, int type, const void *d, size_t n)
{
    static const unsigned fix[17] = {[1] = 0xd4, [2] = 0xd5, [4] = 0xd6, [8] = 0xd7, [16] = 0xd8};
    if (n <= 16 && fix[n])
        put1(b, fix[n]);
    else if (n < 256)
        put1(b, 0xc7), put1(b, (unsigned)n);
    else if (n < 65536)
        put1(b, 0xc8), putbe(b, n, 2);
    else
        put1(b, 0xc9), putbe(b, n, 4);
    put1(b, (unsigned)type & 0xff);
    put(b, d, n);
}
/* ext 1 ndarray [shape, dtype, data] */
static void m_nd(bb *b, const char *dtype, int nd, const int64_t *shape, const void *data, size_t nbytes)
{
    bb pl = {0};
    m_arr(&pl, 3);
    m_arr(&pl, (uint32_t)nd);
    for (int i = 0; i < nd; i++)
        m_uint(&pl, (uint64_t)shape[i]);
    m_str(&pl, dtype);
    m_bin(&pl, data, nbytes);
    m_ext(b, 1, pl.p, pl.n);
    free(pl.p);
}
static void m_f32(bb *b, int nd, const int64_t *shape, const float *v)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)shape[i];
    m_nd(b, "float32", nd, shape, v, n * 4);
}

/* ------------------------------------------------------------- helpers */


static const char *file_of(const char *name, bb *b)
{
    const char *p = tpath(name);
    write_bytes(p, b->p, b->n);
    free(b->p);
    memset(b, 0, sizeof *b);
    return p;
}

static int expect_fail(const char *path, ptm_status want, const char *key, const char *needle, int line)
{
    int dummy;
    void *src = &dummy;
    ptm_status s = fmt->open(path, &src);
    const char *msg = ptm_last_error();
    int ok = s == want && strstr(msg, path) && (!key || strstr(msg, key)) && strstr(msg, needle) && src == &dummy;
    if (!ok) {
        fprintf(stderr, "%s:%d: open(%s) -> %d \"%s\", wanted %d with the path, key \"%s\" and \"%s\"\n", __FILE__,
                line, path, (int)s, msg, (int)want, key ? key : "", needle);
        check_failed_in_test = 1;
    }
    if (s == PTM_OK && src != &dummy)
        fmt->close(src);
    return ok;
}
#define EXPECT_FAIL(path, st, key, needle) expect_fail((path), (st), (key), (needle), __LINE__)

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

/* The tensor named `name` of an open source, loaded; NULL (and a failed
 * check) if absent. */
static ptm_tensor *load_named(void *src, const char *name, ptm_tensor_info *ti_out, int line)
{
    size_t n = fmt->count(src);
    for (size_t i = 0; i < n; i++) {
        ptm_tensor_info ti;
        if (fmt->info(src, i, &ti) != PTM_OK)
            break;
        if (strcmp(ti.name, name) == 0) {
            ptm_tensor *t = NULL;
            if (fmt->load(src, i, &t) != PTM_OK) {
                fprintf(stderr, "%s:%d: load(%s): %s\n", __FILE__, line, name, ptm_last_error());
                check_failed_in_test = 1;
                return NULL;
            }
            if (ti_out)
                *ti_out = ti;
            return t;
        }
    }
    fprintf(stderr, "%s:%d: no tensor \"%s\"\n", __FILE__, line, name);
    check_failed_in_test = 1;
    return NULL;
}
#define LOAD(src, name, ti) load_named((src), (name), (ti), __LINE__)

static int shape_eq(const ptm_tensor *t, int nd, const int64_t *s)
{
    if (!t || ptm_tensor_ndim(t) != nd)
        return 0;
    for (int i = 0; i < nd; i++)
        if (ptm_tensor_dim(t, i) != s[i])
            return 0;
    return 1;
}

static const void *mem_find(const void *hay, size_t n, const void *needle, size_t k)
{
    const unsigned char *h = hay;
    for (size_t i = 0; k <= n && i + k <= n; i++)
        if (!memcmp(h + i, needle, k))
            return h + i;
    return NULL;
}

static float seqf(size_t i) { return (float)i * 0.5f - 3.0f; }

/* -------------------------------------------------------------- tests */

TEST(descriptor)
{
    CHECK(strcmp(fmt->name, "msgpack") == 0);
    CHECK(fmt->weight_names && strcmp(fmt->weight_names[0], "flax_model.msgpack") == 0);
    CHECK(strcmp(fmt->weight_names[1], "flax_model.msgpack.index.json") == 0);
    CHECK(fmt->save_model != NULL && fmt->save != NULL);
}

TEST(probe)
{
    const uint8_t good[] = {0x81, 0xa3, 'w', 't', 'e', 0x81};
    const uint8_t map16[] = {0xde, 0x00, 0x20, 0xd9, 0x30};
    const uint8_t st_head[] = {0x88, 0, 0, 0, 0, 0, 0, 0, '{', '"'};
    const uint8_t empty_map[] = {0x80};
    CHECK(fmt->probe("x/flax_model.msgpack", good, sizeof good) == 100);
    CHECK(fmt->probe("x/flax_model.msgpack", map16, sizeof map16) == 100);
    CHECK(fmt->probe("x/flax_model.msgpack", empty_map, 1) == 100);
    CHECK(fmt->probe("x/weights.bin", good, sizeof good) == 40);
    CHECK(fmt->probe("x/model.safetensors", st_head, sizeof st_head) == 0);
    CHECK(fmt->probe("x/flax_model.msgpack", st_head, sizeof st_head) == 10);
    CHECK(fmt->probe("x/flax_model.msgpack", NULL, 0) == 10);
    CHECK(fmt->probe("x/other", (const uint8_t *)"PK\3\4", 4) == 0);
}

/* formats.md §3.2: a float32 (2,3) kernel is c7 26 01 93 92 02 03 a7
 * 'float32' c4 18 <24 bytes>. */
static const unsigned char spec_kernel_hdr[] = {0xc7, 0x26, 0x01, 0x93, 0x92, 0x02, 0x03, 0xa7, 'f', 'l',
                                                'o',  'a',  't',  '3',  '2',  0xc4, 0x18};

TEST(spec_example_read)
{
    float v[6] = {1, 2, 3, 4, 5, 6}; /* (2,3) row-major */
    bb b = {0};
    put1(&b, 0x81);
    m_str(&b, "dense");
    put1(&b, 0x81);
    m_str(&b, "kernel");
    put(&b, spec_kernel_hdr, sizeof spec_kernel_hdr);
    put(&b, v, sizeof v);
    const char *p = file_of("spec.msgpack", &b);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    CHECK(fmt->count(src) == 1);
    ptm_tensor_info ti;
    ptm_tensor *t = LOAD(src, "dense.weight", &ti);
    const int64_t want[2] = {3, 2};
    CHECK(ti.dtype == PTM_F32 && ti.ndim == 2 && ti.shape[0] == 3 && ti.shape[1] == 2);
    CHECK(shape_eq(t, 2, want));
    if (t) {
        const float *d = ptm_tensor_data(t);
        const float exp[6] = {1, 4, 2, 5, 3, 6}; /* .T */
        CHECK(memcmp(d, exp, sizeof exp) == 0);
    }
    ptm_tensor_release(t);
    fmt->close(src);
}

TEST(spec_example_write)
{
    /* PyTorch (3,2) weight -> Flax (2,3) kernel, bytes as in the spec */
    const float w[6] = {1, 4, 2, 5, 3, 6};
    const int64_t shape[2] = {3, 2};
    ptm_tensor *t = NULL;
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_tensor_from_data(PTM_F32, 2, shape, w, sizeof w, &t));
    CHECK_OK(ptm_state_dict_new(&sd));
    CHECK_OK(ptm_state_dict_set(sd, "dense.weight", t));
    int roles[1] = {PTM_ROLE_WEIGHT};
    ptm_save_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.roles = roles;
    const char *p = tpath("spec_w.msgpack");
    CHECK_OK(fmt->save_model(p, sd, &info));
    size_t len = 0;
    unsigned char *got = read_bytes(p, &len);
    bb want = {0};
    put1(&want, 0x81);
    m_str(&want, "dense");
    put1(&want, 0x81);
    m_str(&want, "kernel");
    put(&want, spec_kernel_hdr, sizeof spec_kernel_hdr);
    const float flax[6] = {1, 2, 3, 4, 5, 6};
    put(&want, flax, sizeof flax);
    CHECK(got && len == want.n && memcmp(got, want.p, len) == 0);
    free(got);
    free(want.p);
    ptm_tensor_release(t);
    ptm_state_dict_free(sd);
}

/* Every leaf kind of §3.6, under {"params", "batch_stats"}. */
TEST(names_and_layouts)
{
    float v[240];
    for (size_t i = 0; i < 240; i++)
        v[i] = seqf(i);
    const int64_t s_emb[2] = {5, 4}, s_vec[1] = {4}, s_conv[4] = {2, 3, 4, 5}, s_k3[3] = {2, 3, 4};
    bb b = {0};
    m_map(&b, 2);
    m_str(&b, "params");
    m_map(&b, 5);
    m_str(&b, "emb"), m_map(&b, 1), m_str(&b, "embedding"), m_f32(&b, 2, s_emb, v);
    m_str(&b, "ln"), m_map(&b, 2), m_str(&b, "scale"), m_f32(&b, 1, s_vec, v), m_str(&b, "bias"),
        m_f32(&b, 1, s_vec, v + 4);
    m_str(&b, "conv"), m_map(&b, 1), m_str(&b, "kernel"), m_f32(&b, 4, s_conv, v);
    m_str(&b, "k3"), m_map(&b, 1), m_str(&b, "kernel"), m_f32(&b, 3, s_k3, v);
    m_str(&b, "vec"), m_map(&b, 1), m_str(&b, "kernel"), m_f32(&b, 1, s_vec, v);
    m_str(&b, "batch_stats");
    m_map(&b, 1);
    m_str(&b, "bn"), m_map(&b, 2), m_str(&b, "mean"), m_f32(&b, 1, s_vec, v), m_str(&b, "var"),
        m_f32(&b, 1, s_vec, v + 8);
    const char *p = file_of("names.msgpack", &b);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    CHECK(fmt->count(src) == 8);
    const char *order[] = {"emb.weight", "ln.weight", "ln.bias", "conv.weight", "k3.weight", "vec.weight",
                           "bn.running_mean", "bn.running_var"};
    for (size_t i = 0; i < 8 && i < fmt->count(src); i++) {
        ptm_tensor_info ti;
        CHECK_OK(fmt->info(src, i, &ti));
        CHECK(strcmp(ti.name, order[i]) == 0);
    }
    ptm_tensor *t = LOAD(src, "emb.weight", NULL);
    CHECK(shape_eq(t, 2, s_emb) && memcmp(ptm_tensor_data(t), v, 80) == 0);
    ptm_tensor_release(t);
    t = LOAD(src, "bn.running_var", NULL);
    CHECK(shape_eq(t, 1, s_vec) && memcmp(ptm_tensor_data(t), v + 8, 16) == 0);
    ptm_tensor_release(t);
    /* conv: HWIO (2,3,4,5) -> OIHW (5,4,2,3): out[o][i][h][w] = in[h][w][i][o] */
    t = LOAD(src, "conv.weight", NULL);
    const int64_t s_oihw[4] = {5, 4, 2, 3};
    CHECK(shape_eq(t, 4, s_oihw));
    if (shape_eq(t, 4, s_oihw)) {
        const float *d = ptm_tensor_data(t);
        int bad = 0;
        for (int o = 0; o < 5; o++)
            for (int i = 0; i < 4; i++)
                for (int h = 0; h < 2; h++)
                    for (int w = 0; w < 3; w++)
                        bad += d[((o * 4 + i) * 2 + h) * 3 + w] != v[((h * 3 + w) * 4 + i) * 5 + o];
        CHECK(bad == 0);
    }
    ptm_tensor_release(t);
    /* 3-D kernel: axes reversed, out[c][b][a] = in[a][b][c] */
    t = LOAD(src, "k3.weight", NULL);
    const int64_t s_k3r[3] = {4, 3, 2};
    CHECK(shape_eq(t, 3, s_k3r));
    if (shape_eq(t, 3, s_k3r)) {
        const float *d = ptm_tensor_data(t);
        int bad = 0;
        for (int c = 0; c < 4; c++)
            for (int bq = 0; bq < 3; bq++)
                for (int a = 0; a < 2; a++)
                    bad += d[(c * 3 + bq) * 2 + a] != v[(a * 3 + bq) * 4 + c];
        CHECK(bad == 0);
    }
    ptm_tensor_release(t);
    t = LOAD(src, "vec.weight", NULL);
    CHECK(shape_eq(t, 1, s_vec) && memcmp(ptm_tensor_data(t), v, 16) == 0);
    ptm_tensor_release(t);
    fmt->close(src);
}

/* A plain leaf whose bytes are aligned is a view of the mapping; kernels and
 * unaligned leaves are copies with the right values. */
TEST(zero_copy)
{
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = seqf((size_t)i);
    const int64_t s4[1] = {4}, s34[2] = {3, 4};
    /* find a padding key length that puts the first bin data on a 4-byte boundary */
    for (int pad = 0; pad < 4; pad++) {
        char key[8] = "aaaa";
        key[pad + 1] = '\0';
        bb b = {0};
        m_map(&b, 2);
        m_str(&b, key), m_map(&b, 1), m_str(&b, "bias"), m_f32(&b, 1, s4, v);
        m_str(&b, "k"), m_map(&b, 1), m_str(&b, "kernel"), m_f32(&b, 2, s34, v);
        /* map, key, map, "bias", ext8 header, 93 91 04, "float32", c4 10 */
        size_t data_off = 1 + (1 + strlen(key)) + 1 + 5 + 3 + 3 + 8 + 2;
        CHECK(memcmp(b.p + data_off, v, 16) == 0);
        const char *p = file_of("zc.msgpack", &b);
        void *src = OPEN_OK(p);
        if (!src)
            return;
        char name[16];
        snprintf(name, sizeof name, "%s.bias", key);
        ptm_tensor *t = LOAD(src, name, NULL);
        CHECK(t && memcmp(ptm_tensor_data(t), v, 16) == 0);
        CHECK(t && ptm_buffer_is_mapped(ptm_tensor_buffer(t)) == (data_off % 4 == 0));
        ptm_tensor_release(t);
        t = LOAD(src, "k.weight", NULL);
        CHECK(t && !ptm_buffer_is_mapped(ptm_tensor_buffer(t)));
        CHECK(t && ((const float *)ptm_tensor_data(t))[1] == v[4]);
        ptm_tensor_release(t);
        fmt->close(src);
    }
}

TEST(dtypes)
{
    static const struct {
        const char *name;
        ptm_dtype dt;
    } cases[] = {{"float64", PTM_F64}, {"float32", PTM_F32}, {"float16", PTM_F16}, {"bfloat16", PTM_BF16},
                 {"int64", PTM_I64},   {"int32", PTM_I32},   {"int16", PTM_I16},   {"int8", PTM_I8},
                 {"uint8", PTM_U8},    {"bool", PTM_BOOL}};
    unsigned char data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (unsigned char)(i * 7 + 1);
    bb b = {0};
    m_map(&b, 10);
    for (int i = 0; i < 10; i++) {
        const int64_t sh[2] = {2, 2};
        m_str(&b, cases[i].name);
        m_nd(&b, cases[i].name, 2, sh, data, 4 * ptm_dtype_size(cases[i].dt));
    }
    const char *p = file_of("dtypes.msgpack", &b);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    for (int i = 0; i < 10; i++) {
        ptm_tensor_info ti;
        ptm_tensor *t = LOAD(src, cases[i].name, &ti);
        CHECK(ti.dtype == cases[i].dt && t && ptm_tensor_dtype(t) == cases[i].dt);
        CHECK(t && memcmp(ptm_tensor_data(t), data, 4 * ptm_dtype_size(cases[i].dt)) == 0);
        ptm_tensor_release(t);
    }
    fmt->close(src);
}

static void m_chunked(bb *b, int nd, const int64_t *shape, const float *v, const size_t *pieces, size_t np)
{
    m_map(b, 3);
    m_str(b, "__msgpack_chunked_array__");
    put1(b, 0xc3);
    m_str(b, "shape");
    m_map(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++) {
        char k[24];
        snprintf(k, sizeof k, "%d", i);
        m_str(b, k);
        m_uint(b, (uint64_t)shape[i]);
    }
    m_str(b, "chunks");
    m_map(b, (uint32_t)np);
    size_t off = 0;
    for (size_t c = 0; c < np; c++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", c);
        m_str(b, k);
        const int64_t cs[1] = {(int64_t)pieces[c]};
        m_f32(b, 1, cs, v + off);
        off += pieces[c];
    }
}

TEST(chunked)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    const int64_t s23[2] = {2, 3};
    const size_t two[2] = {4, 2}, one[1] = {6};
    bb b = {0};
    m_map(&b, 3);
    m_str(&b, "big"), m_map(&b, 1), m_str(&b, "bias"), m_chunked(&b, 2, s23, v, two, 2);
    m_str(&b, "k"), m_map(&b, 1), m_str(&b, "kernel"), m_chunked(&b, 2, s23, v, two, 2);
    m_str(&b, "one"), m_map(&b, 1), m_str(&b, "bias"), m_chunked(&b, 2, s23, v, one, 1);
    const char *p = file_of("chunked.msgpack", &b);
    void *src = OPEN_OK(p);
    if (!src)
        return;
    ptm_tensor *t = LOAD(src, "big.bias", NULL);
    CHECK(shape_eq(t, 2, s23) && memcmp(ptm_tensor_data(t), v, sizeof v) == 0);
    ptm_tensor_release(t);
    t = LOAD(src, "one.bias", NULL);
    CHECK(shape_eq(t, 2, s23) && memcmp(ptm_tensor_data(t), v, sizeof v) == 0);
    ptm_tensor_release(t);
    t = LOAD(src, "k.weight", NULL);
    const int64_t s32[2] = {3, 2};
    const float tr[6] = {1, 4, 2, 5, 3, 6};
    CHECK(shape_eq(t, 2, s32) && memcmp(ptm_tensor_data(t), tr, sizeof tr) == 0);
    ptm_tensor_release(t);
    fmt->close(src);

    /* malformed chunked dicts */
    const size_t bad_sum[2] = {4, 1};
    b = (bb){0};
    m_map(&b, 1), m_str(&b, "c"), m_chunked(&b, 2, s23, v, bad_sum, 2);
    EXPECT_FAIL(file_of("ch_sum.msgpack", &b), PTM_ERR_FORMAT, "key \"c\"", "5 elements, the shape needs 6");
    b = (bb){0};
    m_map(&b, 1), m_str(&b, "c"), m_map(&b, 1), m_str(&b, "__msgpack_chunked_array__"), put1(&b, 0xc3);
    EXPECT_FAIL(file_of("ch_keys.msgpack", &b), PTM_ERR_FORMAT, "key \"c\"", "exactly the keys");
    b = (bb){0};
    m_map(&b, 1), m_str(&b, "c"), m_map(&b, 3), m_str(&b, "__msgpack_chunked_array__"), put1(&b, 0xc3);
    m_str(&b, "shape"), m_map(&b, 1), m_str(&b, "1"), m_uint(&b, 6);
    m_str(&b, "chunks"), m_map(&b, 1), m_str(&b, "0"), m_f32(&b, 1, (const int64_t[]){6}, v);
    EXPECT_FAIL(file_of("ch_order.msgpack", &b), PTM_ERR_FORMAT, "key \"c\"", "shape key 0");
    b = (bb){0};
    m_map(&b, 1), m_str(&b, "c"), m_map(&b, 3), m_str(&b, "__msgpack_chunked_array__"), put1(&b, 0xc3);
    m_str(&b, "shape"), m_map(&b, 1), m_str(&b, "0"), m_uint(&b, 6);
    m_str(&b, "chunks"), m_map(&b, 2), m_str(&b, "0"), m_f32(&b, 1, (const int64_t[]){3}, v);
    m_str(&b, "1"), m_nd(&b, "float16", 1, (const int64_t[]){3}, v, 6);
    EXPECT_FAIL(file_of("ch_dtype.msgpack", &b), PTM_ERR_FORMAT, "key \"c\"", "chunk 1 is not a 1-D float32");
    b = (bb){0};
    m_map(&b, 1), m_str(&b, "c"), m_map(&b, 3), m_str(&b, "__msgpack_chunked_array__"), put1(&b, 0xc3);
    m_str(&b, "shape"), m_map(&b, 1), m_str(&b, "0"), m_uint(&b, 6);
    m_str(&b, "chunks"), m_map(&b, 1), m_str(&b, "0"), m_ext(&b, 3, "\x93\x90\xa7" "float32\xc4\x04\0\0\0\0", 16);
    EXPECT_FAIL(file_of("ch_ext3.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"c/chunks/0\"", "ext type 3");
}

/* A small valid file used for the truncation sweep. */
static bb valid_file(void)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    const int64_t s23[2] = {2, 3};
    const size_t two[2] = {4, 2};
    bb b = {0};
    m_map(&b, 2);
    m_str(&b, "transformer"), m_map(&b, 2);
    m_str(&b, "wte"), m_map(&b, 1), m_str(&b, "embedding"), m_f32(&b, 2, s23, v);
    m_str(&b, "ln_f"), m_map(&b, 1), m_str(&b, "scale"), m_f32(&b, 1, (const int64_t[]){3}, v);
    m_str(&b, "c"), m_map(&b, 1), m_str(&b, "kernel"), m_chunked(&b, 2, s23, v, two, 2);
    return b;
}

TEST(hostile)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    const int64_t s23[2] = {2, 3};
    bb b = {0};
    EXPECT_FAIL(file_of("h_empty.msgpack", &b), PTM_ERR_FORMAT, NULL, "empty file");
    put(&b, "version https://git-lfs.github.com/spec/v1\n", 44);
    EXPECT_FAIL(file_of("h_lfs.msgpack", &b), PTM_ERR_FORMAT, NULL, "Git LFS");
    m_arr(&b, 1), m_uint(&b, 1);
    EXPECT_FAIL(file_of("h_toparr.msgpack", &b), PTM_ERR_FORMAT, NULL, "top-level object is an array");
    m_map(&b, 0), m_uint(&b, 1);
    EXPECT_FAIL(file_of("h_extra.msgpack", &b), PTM_ERR_FORMAT, NULL, "1 bytes of extra data");
    put1(&b, 0xc1);
    EXPECT_FAIL(file_of("h_c1.msgpack", &b), PTM_ERR_FORMAT, NULL, "0xc1");

    /* deep nesting: 40 nested maps {"a": {"a": ...}} */
    for (int i = 0; i < 40; i++)
        m_map(&b, 1), m_str(&b, "a");
    m_map(&b, 0);
    EXPECT_FAIL(file_of("h_deep.msgpack", &b), PTM_ERR_FORMAT, "a/a/a/a/a", "nested too deeply");
    /* huge declared lengths */
    const unsigned char huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a'};
    put(&b, huge_map, sizeof huge_map);
    EXPECT_FAIL(file_of("h_map32.msgpack", &b), PTM_ERR_FORMAT, NULL, "truncated");
    m_map(&b, 1), m_str(&b, "w"), put1(&b, 0xc9), putbe(&b, 0xfffffff0u, 4), put1(&b, 1), put(&b, "\x93", 1);
    EXPECT_FAIL(file_of("h_ext32.msgpack", &b), PTM_ERR_FORMAT, "key \"w\"", "truncated");
    m_map(&b, 1), put1(&b, 0xdb), putbe(&b, 0x7fffffffu, 4), put(&b, "abc", 3);
    EXPECT_FAIL(file_of("h_str32.msgpack", &b), PTM_ERR_FORMAT, NULL, "truncated");
    m_map(&b, 1), m_str(&b, "lst"), put1(&b, 0xdd), putbe(&b, 0xffffffffu, 4), put1(&b, 1);
    EXPECT_FAIL(file_of("h_arr32.msgpack", &b), PTM_ERR_FORMAT, "key \"lst\"", "truncated");
    /* a bin32 inside an ndarray payload that claims more than the payload */
    {
        bb pl = {0};
        m_arr(&pl, 3), m_arr(&pl, 1), m_uint(&pl, 4), m_str(&pl, "float32");
        put1(&pl, 0xc6), putbe(&pl, 0x40000000u, 4), put(&pl, v, 16);
        m_map(&b, 1), m_str(&b, "m"), m_map(&b, 1), m_str(&b, "bias"), m_ext(&b, 1, pl.p, pl.n);
        free(pl.p);
        EXPECT_FAIL(file_of("h_bin32.msgpack", &b), PTM_ERR_FORMAT, "key \"m/bias\"", "truncated");
    }
    /* wrong ext payloads */
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x01", 1);
    EXPECT_FAIL(file_of("h_pl_int.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "not [shape, dtype, data]");
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x92\x90\xa7" "float32", 10);
    EXPECT_FAIL(file_of("h_pl_two.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "wrong length");
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x93\x01\xa7" "float32\xc4\x00", 12);
    EXPECT_FAIL(file_of("h_pl_shape.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "shape is an integer");
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x93\x90\x05\xc4\x00", 5);
    EXPECT_FAIL(file_of("h_pl_dtype.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "dtype is an integer");
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x93\x90\xa7" "float32\xa4" "abcd", 15);
    EXPECT_FAIL(file_of("h_pl_data.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "data is a string");
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x93\x90\xa7" "float32\xc4\x04\0\0\0\0\x00", 17);
    EXPECT_FAIL(file_of("h_pl_trail.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "trailing bytes");
    m_map(&b, 1), m_str(&b, "x"), m_ext(&b, 1, "\x93\x91\xff\xa7" "float32\xc4\x04\0\0\0\0", 17);
    EXPECT_FAIL(file_of("h_pl_neg.msgpack", &b), PTM_ERR_FORMAT, "key \"x\"", "dimension 0 is negative");
    /* shape / byte-size mismatch, unknown and unsupported dtypes, too many dims */
    m_map(&b, 1), m_str(&b, "w"), m_map(&b, 1), m_str(&b, "kernel"), m_nd(&b, "float32", 2, s23, v, 20);
    EXPECT_FAIL(file_of("h_size.msgpack", &b), PTM_ERR_FORMAT, "key \"w/kernel\"",
                "shape [2, 3] and dtype float32 needs 24 bytes, the data has 20");
    m_map(&b, 1), m_str(&b, "w"), m_nd(&b, "float99", 2, s23, v, 24);
    EXPECT_FAIL(file_of("h_dtype.msgpack", &b), PTM_ERR_FORMAT, "key \"w\"", "unknown dtype \"float99\"");
    m_map(&b, 1), m_str(&b, "w"), m_nd(&b, "uint16", 1, (const int64_t[]){2}, v, 4);
    EXPECT_FAIL(file_of("h_u16.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"w\"", "\"uint16\" has no ptm");
    m_map(&b, 1), m_str(&b, "w"), m_nd(&b, "complex64", 1, (const int64_t[]){1}, v, 8);
    EXPECT_FAIL(file_of("h_c64.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"w\"", "\"complex64\" has no ptm");
    {
        const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        m_map(&b, 1), m_str(&b, "w"), m_nd(&b, "float32", 9, nine, v, 4);
        EXPECT_FAIL(file_of("h_9d.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"w\"", "9 dimensions");
        const int64_t ovf[4] = {INT64_MAX / 2, 4, 1 << 20, 1 << 20};
        m_map(&b, 1), m_str(&b, "w"), m_nd(&b, "float32", 4, ovf, v, 4);
        EXPECT_FAIL(file_of("h_ovf.msgpack", &b), PTM_ERR_FORMAT, "key \"w\"", "overflows");
    }
    /* ext 2 (complex), 3 (npscalar), others */
    m_map(&b, 1), m_str(&b, "enc"), m_map(&b, 1), m_str(&b, "c"), m_ext(&b, 2, "\x92\xcb\0\0\0\0\0\0\0\0\x01", 11);
    EXPECT_FAIL(file_of("h_ext2.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"enc/c\"", "ext type 2");
    m_map(&b, 1), m_str(&b, "s"), m_ext(&b, 3, "\x93\x90\xa7" "float32\xc4\x04\0\0\x80\x3f", 16);
    EXPECT_FAIL(file_of("h_ext3.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"s\"", "ext type 3 (a numpy scalar)");
    m_map(&b, 1), m_str(&b, "s"), m_ext(&b, -1, "\0\0\0\0", 4);
    EXPECT_FAIL(file_of("h_ext_m1.msgpack", &b), PTM_ERR_UNSUPPORTED, "key \"s\"", "unknown msgpack ext type -1");
    /* keys and values of the wrong type */
    m_map(&b, 1), m_str(&b, "m"), m_map(&b, 1), m_uint(&b, 7), m_f32(&b, 2, s23, v);
    EXPECT_FAIL(file_of("h_intkey.msgpack", &b), PTM_ERR_FORMAT, "key \"m\"", "map key 0 is an integer");
    m_map(&b, 1), m_strn(&b, "a\0b", 3), m_f32(&b, 2, s23, v);
    EXPECT_FAIL(file_of("h_nulkey.msgpack", &b), PTM_ERR_FORMAT, "key \"a\\x00b\"", "NUL byte");
    m_map(&b, 1), m_str(&b, "m"), m_map(&b, 1), m_str(&b, "lr"), put1(&b, 0xca), putbe(&b, 0x3f800000u, 4);
    EXPECT_FAIL(file_of("h_float.msgpack", &b), PTM_ERR_FORMAT, "key \"m/lr\"", "a float, not an ndarray");
    /* empty keys are kept as empty name components ("" / "n" / "bias" -> ".n.bias") */
    m_map(&b, 1), m_str(&b, ""), m_map(&b, 1), m_str(&b, "n"), m_map(&b, 1), m_str(&b, "bias"),
        m_f32(&b, 1, (const int64_t[]){3}, v);
    {
        void *es = OPEN_OK(file_of("h_emptykey.msgpack", &b));
        if (es) {
            ptm_tensor_info ti;
            CHECK(fmt->count(es) == 1 && fmt->info(es, 0, &ti) == PTM_OK && strcmp(ti.name, ".n.bias") == 0);
            fmt->close(es);
        }
    }
    /* two keys with one PyTorch name */
    m_map(&b, 1), m_str(&b, "m"), m_map(&b, 2), m_str(&b, "scale"), m_f32(&b, 1, (const int64_t[]){3}, v);
    m_str(&b, "embedding"), m_f32(&b, 1, (const int64_t[]){3}, v);
    EXPECT_FAIL(file_of("h_dup.msgpack", &b), PTM_ERR_FORMAT, "\"m/scale\" and \"m/embedding\"",
                "both map to the PyTorch name \"m.weight\"");

    /* every truncation of a valid file fails cleanly, naming the file */
    bb good = valid_file();
    const char *gp = tpath("h_trunc.msgpack");
    write_bytes(gp, good.p, good.n);
    void *src = OPEN_OK(gp);
    if (src) {
        CHECK(fmt->count(src) == 3);
        fmt->close(src);
    }
    int bad = 0;
    for (size_t n = 0; n < good.n; n++) {
        write_bytes(gp, good.p, n);
        int dummy;
        void *s2 = &dummy;
        ptm_status st = fmt->open(gp, &s2);
        if (st == PTM_OK || !strstr(ptm_last_error(), gp) || s2 != &dummy) {
            if (!bad)
                fprintf(stderr, "truncated at %zu: %d \"%s\"\n", n, (int)st, ptm_last_error());
            bad++;
            if (st == PTM_OK)
                fmt->close(s2);
        }
    }
    CHECK(bad == 0);
    free(good.p);
    free(b.p);
}

static ptm_tensor *f32_tensor(int nd, const int64_t *shape, size_t off)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)shape[i];
    float *v = malloc(n * sizeof *v + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = seqf(i + off);
    ptm_tensor *t = NULL;
    if (ptm_tensor_from_data(PTM_F32, nd, shape, v, n * sizeof *v, &t) != PTM_OK)
        exit(2);
    free(v);
    return t;
}

/* The writer's mapping, read back through the reader: names, shapes and
 * bytes come back as they were; the keys in the file are the Flax ones. */
TEST(writer_roundtrip)
{
    static const struct {
        const char *name;
        int role, nd;
        int64_t shape[4];
        const char *flax_key;
    } T[] = {
        {"transformer.wte.weight", PTM_ROLE_EMBEDDING, 2, {7, 4}, "embedding"},
        {"transformer.h.0.ln_1.weight", PTM_ROLE_NORM_WEIGHT, 1, {4}, "scale"},
        {"transformer.h.0.ln_1.bias", PTM_ROLE_NORM_BIAS, 1, {4}, NULL},
        {"transformer.h.0.attn.c_attn.weight", PTM_ROLE_WEIGHT, 2, {4, 12}, "kernel"},
        {"transformer.h.0.attn.c_attn.bias", PTM_ROLE_BIAS, 1, {12}, NULL},
        {"conv.weight", PTM_ROLE_WEIGHT, 4, {5, 4, 2, 3}, "kernel"},
        {"bn.running_mean", PTM_ROLE_OTHER, 1, {5}, "mean"},
        {"bn.running_var", PTM_ROLE_OTHER, 1, {5}, "var"},
        {"lm_head.weight", PTM_ROLE_OUTPUT_EMBEDDING, 2, {7, 4}, "kernel"},
    };
    const size_t n = sizeof T / sizeof T[0];
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    int roles[16];
    for (size_t i = 0; i < n; i++) {
        ptm_tensor *t = f32_tensor(T[i].nd, T[i].shape, i * 100);
        CHECK_OK(ptm_state_dict_set(sd, T[i].name, t));
        ptm_tensor_release(t);
        roles[i] = T[i].role;
    }
    /* num_batches_tracked is dropped */
    ptm_tensor *nbt = NULL;
    CHECK_OK(ptm_tensor_new(PTM_I64, 0, NULL, &nbt));
    CHECK_OK(ptm_state_dict_set(sd, "bn.num_batches_tracked", nbt));
    roles[n] = PTM_ROLE_OTHER;
    ptm_tensor_release(nbt);
    ptm_save_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.base_model_prefix = "transformer";
    info.roles = roles;
    const char *p = tpath("w_rt.msgpack");
    CHECK_OK(fmt->save_model(p, sd, &info));
    size_t len = 0;
    unsigned char *raw = read_bytes(p, &len);
    /* the top level is {"params": ..., "batch_stats": ...} because of the stats */
    CHECK(raw && len > 8 && raw[0] == 0x82 && memcmp(raw + 1, "\xa6params", 7) == 0);
    for (size_t i = 0; i < n && raw; i++) {
        if (!T[i].flax_key)
            continue;
        char key[24];
        key[0] = (char)(0xa0 | strlen(T[i].flax_key));
        strcpy(key + 1, T[i].flax_key);
        CHECK(mem_find(raw, len, key, strlen(key)) != NULL);
    }
    CHECK(raw && mem_find(raw, len, "\xab" "num_batches", 12) == NULL && mem_find(raw, len, "\xa6weight", 7) == NULL);
    CHECK(raw && mem_find(raw, len, "\xab" "batch_stats\x81\xa2" "bn\x82\xa4" "mean", 22) != NULL);
    free(raw);
    void *src = OPEN_OK(p);
    if (src) {
        CHECK(fmt->count(src) == n);
        for (size_t i = 0; i < n; i++) {
            ptm_tensor *t = LOAD(src, T[i].name, NULL);
            const ptm_tensor *o = ptm_state_dict_get(sd, T[i].name);
            CHECK(t && shape_eq(t, T[i].nd, T[i].shape) &&
                  memcmp(ptm_tensor_data(t), ptm_tensor_data(o), ptm_tensor_nbytes(o)) == 0);
            ptm_tensor_release(t);
        }
        fmt->close(src);
    }
    ptm_state_dict_free(sd);
}

TEST(writer_refusals)
{
    const int64_t s4[1] = {4};
    ptm_state_dict *sd = NULL;
    ptm_tensor *t = f32_tensor(1, s4, 0);
    int roles[2] = {PTM_ROLE_NORM_WEIGHT, PTM_ROLE_OTHER};
    ptm_save_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.roles = roles;
    const char *p = tpath("w_bad.msgpack");
    /* ln.weight (a norm) and ln.scale both become ln/scale */
    CHECK_OK(ptm_state_dict_new(&sd));
    CHECK_OK(ptm_state_dict_set(sd, "ln.weight", t));
    CHECK_OK(ptm_state_dict_set(sd, "ln.scale", t));
    CHECK_ERR(fmt->save_model(p, sd, &info), PTM_ERR_INVALID_ARG, "taken by ln.weight");
    ptm_state_dict_free(sd);
    /* a tensor and a module with one name */
    CHECK_OK(ptm_state_dict_new(&sd));
    CHECK_OK(ptm_state_dict_set(sd, "a.b", t));
    CHECK_OK(ptm_state_dict_set(sd, "a.b.c", t));
    CHECK_ERR(fmt->save_model(p, sd, &info), PTM_ERR_INVALID_ARG, "is also a tensor");
    ptm_state_dict_free(sd);
    /* a dtype numpy cannot name is impossible (all ptm dtypes have names);
     * an unwritable path is an I/O error naming it */
    CHECK_OK(ptm_state_dict_new(&sd));
    CHECK_OK(ptm_state_dict_set(sd, "x", t));
    CHECK_ERR(fmt->save_model(PTM_TEST_TMP "/no/such/dir/f.msgpack", sd, &info), PTM_ERR_IO, "no/such/dir");
    ptm_state_dict_free(sd);
    ptm_tensor_release(t);
}

/* flax's _chunk on write: a leaf over 2^30 bytes becomes a chunked dict of
 * 1-D slices of 2^30 / itemsize elements.  Needs ~3 GiB of memory and disk,
 * so it runs only with PTM_TEST_LARGE=1. */
TEST(writer_chunked_large)
{
    if (!getenv("PTM_TEST_LARGE")) {
        printf("     (writer_chunked_large skipped: set PTM_TEST_LARGE=1)\n");
        return;
    }
    const int64_t n = ((int64_t)1 << 30) + 1;
    ptm_tensor *t = NULL;
    CHECK_OK(ptm_tensor_new(PTM_U8, 1, &n, &t));
    if (!t)
        return;
    unsigned char *d = ptm_tensor_data_mut(t);
    d[0] = 1, d[n - 2] = 7, d[n - 1] = 9;
    ptm_state_dict *sd = NULL;
    CHECK_OK(ptm_state_dict_new(&sd));
    CHECK_OK(ptm_state_dict_set(sd, "big.bias", t));
    int roles[1] = {PTM_ROLE_BIAS};
    ptm_save_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.roles = roles;
    const char *p = tpath("big.msgpack");
    CHECK_OK(fmt->save_model(p, sd, &info));
    bb head = {0}, tail = {0};
    m_map(&head, 1), m_str(&head, "big"), m_map(&head, 1), m_str(&head, "bias");
    m_map(&head, 3), m_str(&head, "__msgpack_chunked_array__"), put1(&head, 0xc3);
    m_str(&head, "shape"), m_map(&head, 1), m_str(&head, "0"), put1(&head, 0xce), putbe(&head, (uint64_t)n, 4);
    m_str(&head, "chunks"), m_map(&head, 2), m_str(&head, "0");
    put1(&head, 0xc9), putbe(&head, ((uint64_t)1 << 30) + 18, 4), put1(&head, 1);
    put1(&head, 0x93), put1(&head, 0x91), put1(&head, 0xce), putbe(&head, (uint64_t)1 << 30, 4);
    m_str(&head, "uint8"), put1(&head, 0xc6), putbe(&head, (uint64_t)1 << 30, 4);
    m_str(&tail, "1"), m_nd(&tail, "uint8", 1, (const int64_t[]){1}, "\x09", 1);
    FILE *f = fopen(p, "rb");
    unsigned char buf[256];
    CHECK(f && fread(buf, 1, head.n, f) == head.n && memcmp(buf, head.p, head.n) == 0);
    CHECK(f && fseek(f, -(long)tail.n, SEEK_END) == 0 && fread(buf, 1, tail.n, f) == tail.n &&
          memcmp(buf, tail.p, tail.n) == 0);
    CHECK(f && fseek(f, 0, SEEK_END) == 0 && ftell(f) == (long)(head.n + ((size_t)1 << 30) + tail.n));
    if (f)
        fclose(f);
    free(head.p);
    free(tail.p);
    ptm_state_dict_free(sd);
    ptm_tensor_release(t);
    void *src = OPEN_OK(p);
    if (src) {
        ptm_tensor *r = LOAD(src, "big.bias", NULL);
        const unsigned char *q = r ? ptm_tensor_data(r) : NULL;
        CHECK(q && shape_eq(r, 1, &n) && q[0] == 1 && q[n - 2] == 7 && q[n - 1] == 9 && q[12345] == 0);
        ptm_tensor_release(r);
        fmt->close(src);
    }
    remove(p);
}

/* ------------------------------------------------ model level (gpt2 plugin) */

static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

/* A 1-layer GPT-2 (vocab 8, n_embd 4, 2 positions) as a Flax head model. */
static void write_flax_gpt2(const char *dir)
{
    mkdir(dir, 0777);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"vocab_size\": 8,"
                  " \"n_positions\": 2, \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 1,"
                  " \"layer_norm_epsilon\": 1e-5, \"activation_function\": \"gelu_new\"}");
    bb b = {0};
    float v[96]; /* the (16, 4) kernel starts at v + 9 */
    for (int i = 0; i < 96; i++)
        v[i] = seqf((size_t)i) * 0.1f;
    const int64_t s84[2] = {8, 4}, s24[2] = {2, 4}, s4[1] = {4}, s12[1] = {12}, s16[1] = {16};
    m_map(&b, 1), m_str(&b, "transformer"), m_map(&b, 4);
    m_str(&b, "wte"), m_map(&b, 1), m_str(&b, "embedding"), m_f32(&b, 2, s84, v);
    m_str(&b, "wpe"), m_map(&b, 1), m_str(&b, "embedding"), m_f32(&b, 2, s24, v + 1);
    m_str(&b, "h"), m_map(&b, 1), m_str(&b, "0"), m_map(&b, 4);
    m_str(&b, "ln_1"), m_map(&b, 2), m_str(&b, "scale"), m_f32(&b, 1, s4, v + 2), m_str(&b, "bias"),
        m_f32(&b, 1, s4, v + 3);
    m_str(&b, "attn"), m_map(&b, 2);
    /* FlaxConv1D kernels are (out, in) */
    m_str(&b, "c_attn"), m_map(&b, 2), m_str(&b, "kernel"), m_f32(&b, 2, (const int64_t[]){12, 4}, v),
        m_str(&b, "bias"), m_f32(&b, 1, s12, v + 4);
    m_str(&b, "c_proj"), m_map(&b, 2), m_str(&b, "kernel"), m_f32(&b, 2, (const int64_t[]){4, 4}, v + 5),
        m_str(&b, "bias"), m_f32(&b, 1, s4, v + 6);
    m_str(&b, "ln_2"), m_map(&b, 2), m_str(&b, "scale"), m_f32(&b, 1, s4, v + 7), m_str(&b, "bias"),
        m_f32(&b, 1, s4, v + 8);
    m_str(&b, "mlp"), m_map(&b, 2);
    m_str(&b, "c_fc"), m_map(&b, 2), m_str(&b, "kernel"), m_f32(&b, 2, (const int64_t[]){16, 4}, v + 9),
        m_str(&b, "bias"), m_f32(&b, 1, s16, v + 10);
    m_str(&b, "c_proj"), m_map(&b, 2), m_str(&b, "kernel"), m_f32(&b, 2, (const int64_t[]){4, 16}, v + 11),
        m_str(&b, "bias"), m_f32(&b, 1, s4, v + 12);
    m_str(&b, "ln_f"), m_map(&b, 2), m_str(&b, "scale"), m_f32(&b, 1, s4, v + 13), m_str(&b, "bias"),
        m_f32(&b, 1, s4, v + 14);
    snprintf(p, sizeof p, "%s/flax_model.msgpack", dir);
    write_bytes(p, b.p, b.n);
    free(b.p);
}

static uint16_t bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

TEST(from_flax_and_cast)
{
    const char *dir = tpath("flax_gpt2");
    write_flax_gpt2(dir);
    ptm_model *m = NULL;
    ptm_load_options o;
    ptm_load_options_init(&o);
    ptm_status s = ptm_model_from_pretrained(ctx, dir, &o, &m);
    CHECK(s != PTM_OK && strstr(ptm_last_error(), "Flax") && strstr(ptm_last_error(), "from_flax"));
    if (s == PTM_OK)
        ptm_model_free(m), m = NULL;
    o.from_flax = 1;
    CHECK_OK(ptm_model_from_pretrained(ctx, dir, &o, &m));
    if (!m)
        return;
    CHECK(ptm_model_key_report_size(m, PTM_KEYS_MISSING) == 0 && ptm_model_key_report_size(m, PTM_KEYS_UNEXPECTED) == 0);
    /* c_attn kernel (12, 4) of v -> weight (4, 12): w[i][j] = v[j * 4 + i] */
    ptm_tensor *w = ptm_model_param(m, "transformer.h.0.attn.c_attn.weight");
    const int64_t s412[2] = {4, 12};
    CHECK(w && shape_eq(w, 2, s412));
    if (w && shape_eq(w, 2, s412)) {
        const float *d = ptm_tensor_data(w);
        CHECK(d[1 * 12 + 5] == seqf(5 * 4 + 1) * 0.1f && d[3 * 12 + 11] == seqf(11 * 4 + 3) * 0.1f);
    }
    ptm_tensor *ln = ptm_model_param(m, "transformer.h.0.ln_1.weight");
    CHECK(ln && ((const float *)ptm_tensor_data(ln))[0] == seqf(2) * 0.1f);

    /* to_bf16 with a mask: layer norms stay f32, the rest is RNE-rounded */
    const char *keep[] = {"*ln_*", NULL};
    CHECK_OK(ptm_model_cast(m, PTM_BF16, keep));
    const ptm_state_dict *sd = ptm_model_state_dict(m);
    int checked = 0;
    for (size_t i = 0; i < ptm_state_dict_size(sd); i++) {
        const char *name = ptm_state_dict_name(sd, i);
        const ptm_tensor *t = ptm_state_dict_tensor(sd, i);
        int is_ln = strstr(name, "ln_") != NULL;
        if (!strcmp(name, "lm_head.weight"))
            continue; /* tied to wte */
        CHECK(ptm_tensor_dtype(t) == (is_ln ? PTM_F32 : PTM_BF16));
        if (!strcmp(name, "transformer.h.0.attn.c_attn.weight") && ptm_tensor_dtype(t) == PTM_BF16) {
            const uint16_t *d = ptm_tensor_data(t);
            CHECK(d[1 * 12 + 5] == bf16_rne(seqf(5 * 4 + 1) * 0.1f));
            checked++;
        }
        if (!strcmp(name, "transformer.h.0.ln_1.weight"))
            checked += ((const float *)ptm_tensor_data(t))[0] == seqf(2) * 0.1f;
    }
    CHECK(checked == 2);
    /* saved as msgpack: the Flax dtype names per tensor */
    ptm_save_options so;
    ptm_save_options_init(&so);
    so.format = "msgpack";
    const char *out = tpath("flax_gpt2_bf16");
    CHECK_OK(ptm_model_save_pretrained(m, out, &so));
    char fp[600];
    snprintf(fp, sizeof fp, "%s/flax_model.msgpack", out);
    size_t len = 0;
    unsigned char *raw = read_bytes(fp, &len);
    CHECK(raw && mem_find(raw, len, "\xa4ln_1\x82\xa5scale\xc7", 13) != NULL);
    CHECK(raw && mem_find(raw, len, "\xa8" "bfloat16", 9) != NULL && mem_find(raw, len, "\xa7" "float32", 8) != NULL);
    free(raw);
    ptm_model_free(m);
}

int main(void)
{
    const char *paths[] = {PTM_BUILD_PLUGIN_DIR};
    if (fmt_test_setup(paths, 1, "msgpack"))
        return 1;
    RUN(descriptor);
    RUN(probe);
    RUN(spec_example_read);
    RUN(spec_example_write);
    RUN(names_and_layouts);
    RUN(zero_copy);
    RUN(dtypes);
    RUN(chunked);
    RUN(hostile);
    RUN(writer_roundtrip);
    RUN(writer_refusals);
    RUN(writer_chunked_large);
    RUN(from_flax_and_cast);
    ptm_context_free(ctx);
    return CHECK_DONE();
}
