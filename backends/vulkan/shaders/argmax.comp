// SPDX-License-Identifier: Apache-2.0
// argmax.comp - out[r] = index of the maximum of x[r, :] (first on ties;
// NaN ignored; a row of NaN only gives 0), one workgroup per row.  out is
// I64 (index in the low word, 0 in the high word) or I32.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { uint ow[]; };

layout(push_constant) uniform P {
    uint x_off, o_off, rows, N, o64;
} p;

shared float bv_[256];
shared uint bi_[256];

const uint NONE = 0xffffffffu;

void main()
{
    uint row = flat_group();
    if (row >= p.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    float bv = NEG_INF;
    uint bi = NONE;
    for (uint i = t; i < p.N; i += 256u) {
        float v = x[p.x_off + row * p.N + i];
        if (v > bv || (bi == NONE && v == v)) { // v == v: not NaN
            bv = v;
            bi = i;
        }
    }
    bv_[t] = bv;
    bi_[t] = bi;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) {
            float ov = bv_[t + s];
            uint oi = bi_[t + s];
            uint mi = bi_[t];
            float mv = bv_[t];
            if (oi != NONE && (mi == NONE || ov > mv || (ov == mv && oi < mi))) {
                bv_[t] = ov;
                bi_[t] = oi;
            }
        }
        barrier();
    }
    if (t == 0u) {
        uint best = bi_[0] == NONE ? 0u : bi_[0];
        if (p.o64 != 0u) {
            ow[p.o_off + 2u * row] = best;
            ow[p.o_off + 2u * row + 1u] = 0u;
        } else {
            ow[p.o_off + row] = best;
        }
    }
}
