// SPDX-License-Identifier: Apache-2.0
// common.glsl - helpers shared by the compute shaders of the vulkan backend:
// dtype codes, exact f16/bf16 <-> f32 conversions (integer arithmetic, so
// no 16-bit storage or arithmetic extension is needed and the results match
// the core's ptm_f16_to_f32 / ptm_f32_to_f16 / ptm_f32_to_bf16 bit for
// bit), the flat workgroup index of a 2-d grid, and element loads of
// f32/f16/bf16 data stored in uint arrays.

const uint DT_F32 = 0u;
const uint DT_F16 = 1u;
const uint DT_BF16 = 2u;
const uint DT_NONE = 3u; // optional operand absent

#define NEG_INF uintBitsToFloat(0xff800000u)

float f16_to_f32(uint h)
{
    uint s = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu;
    uint m = h & 0x3ffu;
    if (e == 0u) {
        float v = float(m) * 5.9604644775390625e-8; // m * 2^-24, exact
        return s != 0u ? -v : v;
    }
    if (e == 31u)
        return uintBitsToFloat(s | 0x7f800000u | (m << 13));
    return uintBitsToFloat(s | ((e + 112u) << 23) | (m << 13));
}

// round to nearest even; NaN stays NaN (quiet); overflow gives infinity
uint f32_to_f16(float f)
{
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint ex = (x >> 23) & 0xffu;
    uint mant = x & 0x7fffffu;
    if (ex == 0xffu)
        return sign | 0x7c00u | (mant != 0u ? (0x200u | (mant >> 13)) : 0u);
    int e = int(ex) - 127 + 15;
    if (e >= 0x1f)
        return sign | 0x7c00u;
    if (e <= 0) {
        if (e < -10)
            return sign;
        uint m = mant | 0x800000u;
        uint shift = uint(14 - e);
        uint half_ = m >> shift;
        uint rem = m & ((1u << shift) - 1u);
        uint mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half_ & 1u) != 0u))
            half_++;
        return sign | half_;
    }
    uint half_ = (uint(e) << 10) | (mant >> 13);
    uint rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half_ & 1u) != 0u))
        half_++;
    return sign | half_;
}

uint f32_to_bf16(float f)
{
    uint x = floatBitsToUint(f);
    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu) != 0u)
        return ((x >> 16) | 0x40u) & 0xffffu;
    x += 0x7fffu + ((x >> 16) & 1u);
    return x >> 16;
}

float half_to_f32(uint h, uint dt)
{
    return dt == DT_BF16 ? uintBitsToFloat(h << 16) : f16_to_f32(h);
}

// element e (in elements of dt, counted from the start of the binding) of
// a uint array holding f32, f16 or bf16 values
#define LOAD_ELEM(arr, e, dt)                                                                      \
    ((dt) == DT_F32 ? uintBitsToFloat(arr[e])                                                      \
                    : half_to_f32((arr[(e) >> 1] >> (((e) & 1u) * 16u)) & 0xffffu, dt))

// flat workgroup index over a 2-d grid (x up to 65535 groups, then y)
uint flat_group()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

// total invocations of a 1-d workgroup size `ls` over the 2-d grid
uint grid_threads(uint ls)
{
    return gl_NumWorkGroups.x * gl_NumWorkGroups.y * ls;
}
