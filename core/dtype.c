/* SPDX-License-Identifier: Apache-2.0 */
/* dtype.c - dtype names and sizes, scalar and bulk conversions. */
#include "internal.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *st;    /* safetensors name */
    const char *torch; /* torch name */
    size_t size;
    int is_float;
} dtypes[PTM_DTYPE_COUNT] = {
    [PTM_F64] = {"F64", "float64", 8, 1},          [PTM_F32] = {"F32", "float32", 4, 1},
    [PTM_F16] = {"F16", "float16", 2, 1},          [PTM_BF16] = {"BF16", "bfloat16", 2, 1},
    [PTM_I64] = {"I64", "int64", 8, 0},            [PTM_I32] = {"I32", "int32", 4, 0},
    [PTM_I16] = {"I16", "int16", 2, 0},            [PTM_I8] = {"I8", "int8", 1, 0},
    [PTM_U8] = {"U8", "uint8", 1, 0},              [PTM_BOOL] = {"BOOL", "bool", 1, 0},
    [PTM_F8_E4M3] = {"F8_E4M3", "float8_e4m3fn", 1, 1}, [PTM_F8_E5M2] = {"F8_E5M2", "float8_e5m2", 1, 1},
};

static int valid(ptm_dtype dt) { return (int)dt >= 0 && dt < PTM_DTYPE_COUNT; }

size_t ptm_dtype_size(ptm_dtype dt) { return valid(dt) ? dtypes[dt].size : 0; }
const char *ptm_dtype_name(ptm_dtype dt) { return valid(dt) ? dtypes[dt].st : "?"; }
const char *ptm_dtype_torch_name(ptm_dtype dt) { return valid(dt) ? dtypes[dt].torch : "?"; }
int ptm_dtype_is_float(ptm_dtype dt) { return valid(dt) && dtypes[dt].is_float; }

ptm_status ptm_dtype_parse(const char *name, ptm_dtype *out)
{
    static const struct {
        const char *alias;
        ptm_dtype dt;
    } aliases[] = {
        {"f64", PTM_F64},   {"double", PTM_F64}, {"f32", PTM_F32},    {"float", PTM_F32},
        {"fp32", PTM_F32},  {"f16", PTM_F16},    {"fp16", PTM_F16},   {"half", PTM_F16},
        {"bf16", PTM_BF16}, {"i64", PTM_I64},    {"long", PTM_I64},   {"i32", PTM_I32},
        {"int", PTM_I32},   {"i16", PTM_I16},    {"short", PTM_I16},  {"i8", PTM_I8},
        {"u8", PTM_U8},
    };
    if (!name || !out)
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_dtype_parse: NULL argument");
    for (int i = 0; i < PTM_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].st) == 0) {
            *out = (ptm_dtype)i;
            return PTM_OK;
        }
    const char *n = strncmp(name, "torch.", 6) == 0 ? name + 6 : name;
    for (int i = 0; i < PTM_DTYPE_COUNT; i++)
        if (strcmp(n, dtypes[i].torch) == 0) {
            *out = (ptm_dtype)i;
            return PTM_OK;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(n, aliases[i].alias) == 0) {
            *out = aliases[i].dt;
            return PTM_OK;
        }
    return ptm_error(PTM_ERR_NOT_FOUND, "unknown dtype \"%s\" (expected one of f32, f16, bf16, f64, "
                                        "i64, i32, i16, i8, u8, bool, or a torch/safetensors name)", name);
}

/* ------------------------------------------------------------ scalars */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ptm_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0)
            return u2f(sign);
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400u));
        mant &= 0x3ffu;
        return u2f(sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13));
    }
    if (exp == 0x1f)
        return u2f(sign | 0x7f800000u | (mant << 13));
    return u2f(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t ptm_f32_to_f16(float f)
{
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
    if (exp == 0xff) /* inf or NaN (kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return sign;
        uint32_t m = mant | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent, up to infinity: correct */
    return (uint16_t)(sign | half);
}

float ptm_bf16_to_f32(uint16_t b) { return u2f((uint32_t)b << 16); }

uint16_t ptm_f32_to_bf16(float f)
{
    uint32_t x = f2u(f);
    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu))
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Generic small-float decode/encode: 1 sign bit, ebits, mbits. */
static float f8_decode(uint8_t v, int ebits, int mbits, int bias, int ieee_specials)
{
    int sign = v >> 7;
    int exp = (v >> mbits) & ((1 << ebits) - 1);
    int mant = v & ((1 << mbits) - 1);
    float r;
    if (ieee_specials && exp == (1 << ebits) - 1)
        r = mant ? NAN : INFINITY;
    else if (!ieee_specials && exp == (1 << ebits) - 1 && mant == (1 << mbits) - 1)
        r = NAN;
    else if (exp == 0)
        r = ldexpf((float)mant, 1 - bias - mbits);
    else
        r = ldexpf((float)((1 << mbits) + mant), exp - bias - mbits);
    return sign ? -r : r;
}

static uint8_t f8_encode(float f, int ebits, int mbits, int bias, float maxv, int ieee_specials)
{
    uint8_t sign = signbit(f) ? 0x80 : 0;
    uint8_t nan = ieee_specials ? (uint8_t)(((1 << ebits) - 1) << mbits | (1 << (mbits - 1)))
                                : (uint8_t)0x7f;
    uint8_t inf = ieee_specials ? (uint8_t)(((1 << ebits) - 1) << mbits) : nan;
    float a = fabsf(f);
    if (isnan(f))
        return (uint8_t)(sign | nan);
    if (a == 0.0f)
        return sign;
    int e;
    frexpf(a, &e);
    int E = e - 1;
    if (E < 1 - bias)
        E = 1 - bias;
    float quantum = ldexpf(1.0f, E - mbits);
    float q = nearbyintf(a / quantum); /* round half to even */
    if (q >= (float)(1 << (mbits + 1))) {
        E++;
        q = q / 2.0f;
    }
    if (q * ldexpf(1.0f, E - mbits) > maxv || isinf(a))
        return (uint8_t)(sign | inf);
    int qi = (int)q;
    if (qi < (1 << mbits))
        return (uint8_t)(sign | qi);
    return (uint8_t)(sign | ((E + bias) << mbits) | (qi - (1 << mbits)));
}

float ptm_f8e4m3_to_f32(uint8_t v) { return f8_decode(v, 4, 3, 7, 0); }
uint8_t ptm_f32_to_f8e4m3(float f) { return f8_encode(f, 4, 3, 7, 448.0f, 0); }
float ptm_f8e5m2_to_f32(uint8_t v) { return f8_decode(v, 5, 2, 15, 1); }
uint8_t ptm_f32_to_f8e5m2(float f) { return f8_encode(f, 5, 2, 15, 57344.0f, 1); }

/* ---------------------------------------------------------------- bulk */

static double load_elem(const void *p, ptm_dtype dt, size_t i)
{
    const unsigned char *b = (const unsigned char *)p;
    switch (dt) {
    case PTM_F64: { double v; memcpy(&v, b + i * 8, 8); return v; }
    case PTM_F32: { float v; memcpy(&v, b + i * 4, 4); return v; }
    case PTM_F16: { uint16_t v; memcpy(&v, b + i * 2, 2); return ptm_f16_to_f32(v); }
    case PTM_BF16: { uint16_t v; memcpy(&v, b + i * 2, 2); return ptm_bf16_to_f32(v); }
    case PTM_I64: { int64_t v; memcpy(&v, b + i * 8, 8); return (double)v; }
    case PTM_I32: { int32_t v; memcpy(&v, b + i * 4, 4); return v; }
    case PTM_I16: { int16_t v; memcpy(&v, b + i * 2, 2); return v; }
    case PTM_I8: return (int8_t)b[i];
    case PTM_U8: return b[i];
    case PTM_BOOL: return b[i] != 0;
    case PTM_F8_E4M3: return ptm_f8e4m3_to_f32(b[i]);
    case PTM_F8_E5M2: return ptm_f8e5m2_to_f32(b[i]);
    default: return 0;
    }
}

static int64_t sat_int(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    if (v <= lo)
        return (int64_t)lo;
    if (v >= hi)
        return (int64_t)hi;
    return (int64_t)v; /* truncates toward zero */
}

static void store_elem(void *p, ptm_dtype dt, size_t i, double v)
{
    unsigned char *b = (unsigned char *)p;
    switch (dt) {
    case PTM_F64: memcpy(b + i * 8, &v, 8); break;
    case PTM_F32: { float f = (float)v; memcpy(b + i * 4, &f, 4); break; }
    case PTM_F16: { uint16_t h = ptm_f32_to_f16((float)v); memcpy(b + i * 2, &h, 2); break; }
    case PTM_BF16: { uint16_t h = ptm_f32_to_bf16((float)v); memcpy(b + i * 2, &h, 2); break; }
    case PTM_I64: {
        int64_t x = isnan(v) ? 0 : v >= 9223372036854775807.0 ? INT64_MAX : v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
        memcpy(b + i * 8, &x, 8);
        break;
    }
    case PTM_I32: { int32_t x = (int32_t)sat_int(v, INT32_MIN, INT32_MAX); memcpy(b + i * 4, &x, 4); break; }
    case PTM_I16: { int16_t x = (int16_t)sat_int(v, INT16_MIN, INT16_MAX); memcpy(b + i * 2, &x, 2); break; }
    case PTM_I8: b[i] = (unsigned char)(int8_t)sat_int(v, INT8_MIN, INT8_MAX); break;
    case PTM_U8: b[i] = (unsigned char)sat_int(v, 0, 255); break;
    case PTM_BOOL: b[i] = v != 0; break;
    case PTM_F8_E4M3: b[i] = ptm_f32_to_f8e4m3((float)v); break;
    case PTM_F8_E5M2: b[i] = ptm_f32_to_f8e5m2((float)v); break;
    default: break;
    }
}

ptm_status ptm_convert(const void *src, ptm_dtype sdt, void *dst, ptm_dtype ddt, size_t n)
{
    if (!valid(sdt) || !valid(ddt))
        return ptm_error(PTM_ERR_DTYPE, "ptm_convert: invalid dtype (%d -> %d)", (int)sdt, (int)ddt);
    if (n && (!src || !dst))
        return ptm_error(PTM_ERR_INVALID_ARG, "ptm_convert: NULL buffer");
    if (sdt == ddt) {
        if (n && src != dst)
            memmove(dst, src, n * dtypes[sdt].size);
        return PTM_OK;
    }
    /* Fast paths for the conversions model loading does in bulk. */
    if (sdt == PTM_F16 && ddt == PTM_F32) {
        const uint16_t *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + i, 2); float f = ptm_f16_to_f32(h); memcpy(d + i, &f, 4); }
        return PTM_OK;
    }
    if (sdt == PTM_BF16 && ddt == PTM_F32) {
        const uint16_t *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + i, 2); float f = ptm_bf16_to_f32(h); memcpy(d + i, &f, 4); }
        return PTM_OK;
    }
    if (sdt == PTM_F32 && (ddt == PTM_F16 || ddt == PTM_BF16)) {
        const float *s = src;
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, s + i, 4);
            uint16_t h = ddt == PTM_F16 ? ptm_f32_to_f16(f) : ptm_f32_to_bf16(f);
            memcpy(d + i, &h, 2);
        }
        return PTM_OK;
    }
    for (size_t i = 0; i < n; i++)
        store_elem(dst, ddt, i, load_elem(src, sdt, i));
    return PTM_OK;
}
