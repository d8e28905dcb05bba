// SPDX-License-Identifier: Apache-2.0
// embedding.comp - out[r, c] = weight[ids[r], c] as f32; weight [V, H] f32,
// f16 or bf16; ids I64 (low word read) or I32.  The dispatcher validated
// the ids on the host when it could; here an id outside [0, V) reads row 0
// instead of memory out of bounds.  A weight larger than the device can
// bind is gathered in several dispatches, each binding rows [r0, r1) and
// writing the outputs whose id falls there.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer W { uint ww[]; };
layout(std430, binding = 1) readonly buffer I { uint iw[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
    uint w_off, i_off, o_off;
    uint total, H, V;
    uint w_dt, ids64;
    uint r0, r1; // rows of weight this dispatch binds (w_off is row r0)
} p;

void main()
{
    uint stride = grid_threads(256u);
    for (uint e = flat_group() * 256u + gl_LocalInvocationID.x; e < p.total; e += stride) {
        uint r = e / p.H, c = e % p.H;
        uint id = p.ids64 != 0u ? iw[p.i_off + 2u * r] : iw[p.i_off + r];
        bool bad = p.ids64 != 0u ? (iw[p.i_off + 2u * r + 1u] != 0u || id >= p.V) : id >= p.V;
        if (bad)
            id = 0u;
        if (id < p.r0 || id >= p.r1)
            continue; // another dispatch's window
        o[p.o_off + e] = LOAD_ELEM(ww, p.w_off + (id - p.r0) * p.H + c, p.w_dt);
    }
}
