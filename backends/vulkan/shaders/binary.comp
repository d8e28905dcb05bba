// SPDX-License-Identifier: Apache-2.0
// binary.comp - out = a + b or a * b (f32), b equal to a or to a's trailing
// dims (broadcast over the leading ones: b index = i mod numel(b)).  out may
// alias a.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer O { float o[]; };

layout(push_constant) uniform P {
    uint a_off, b_off, o_off, n;
    uint nb;
    uint mul;
} p;

void main()
{
    uint stride = grid_threads(256u);
    for (uint i = flat_group() * 256u + gl_LocalInvocationID.x; i < p.n; i += stride) {
        float u = a[p.a_off + i];
        float v = b[p.b_off + (p.nb == p.n ? i : i % p.nb)];
        o[p.o_off + i] = p.mul != 0u ? u * v : u + v;
    }
}
