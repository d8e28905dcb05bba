// SPDX-License-Identifier: Apache-2.0
// fill.comp - out[i] = the 32-bit pattern `bits` (f32 fill).
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) writeonly buffer O { uint ow[]; };

layout(push_constant) uniform P {
    uint o_off, n, bits;
} p;

void main()
{
    uint stride = grid_threads(256u);
    for (uint i = flat_group() * 256u + gl_LocalInvocationID.x; i < p.n; i += stride)
        ow[p.o_off + i] = p.bits;
}
