// SPDX-License-Identifier: Apache-2.0
// convert.comp - out = x converted between f32, f16 and bf16 (round to
// nearest even, as the core's scalar conversions).  Offsets count elements
// of each side's dtype.  16-bit outputs are written with atomicAnd/atomicOr
// on the containing word.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { uint xw[]; };
layout(std430, binding = 1) buffer O { uint ow[]; };

layout(push_constant) uniform P {
    uint x_off, o_off, n;
    uint x_dt, o_dt;
} p;

void main()
{
    uint stride = grid_threads(256u);
    for (uint i = flat_group() * 256u + gl_LocalInvocationID.x; i < p.n; i += stride) {
        float v = LOAD_ELEM(xw, p.x_off + i, p.x_dt);
        uint e = p.o_off + i;
        if (p.o_dt == DT_F32) {
            // f16/bf16 -> f32 is exact; f32 -> f32 copies the bits (NaN payloads too)
            ow[e] = p.x_dt == DT_F32 ? xw[p.x_off + i] : floatBitsToUint(v);
        } else {
            uint h;
            if (p.x_dt == p.o_dt)
                h = (xw[(p.x_off + i) >> 1] >> (((p.x_off + i) & 1u) * 16u)) & 0xffffu;
            else
                h = p.o_dt == DT_F16 ? f32_to_f16(v) : f32_to_bf16(v);
            uint sh = (e & 1u) * 16u;
            atomicAnd(ow[e >> 1], ~(0xffffu << sh));
            atomicOr(ow[e >> 1], h << sh);
        }
    }
}
