// SPDX-License-Identifier: Apache-2.0
// norm.comp - layer_norm ((x - mean) / sqrt(var + eps) * w + b, the biased
// variance of the deviations as torch computes it) and rms_norm
// (x / sqrt(mean(x^2) + eps) * w) over the last dim, one workgroup per row.
// w and b are f32, f16 or bf16, or absent.  out may alias x: each
// invocation writes only the elements it read, after the reductions.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint ww[]; };
layout(std430, binding = 2) readonly buffer B { uint bw[]; };
layout(std430, binding = 3) buffer O { float o[]; };

layout(push_constant) uniform P {
    uint x_off, w_off, b_off, o_off;
    uint rows, D;
    float eps;
    uint rms, w_dt, b_dt;
} p;

void main()
{
    uint row = flat_group();
    if (row >= p.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint base = row * p.D;
    float mean = 0.0;
    if (p.rms == 0u) {
        float s = 0.0;
        for (uint i = t; i < p.D; i += 256u)
            s += x[p.x_off + base + i];
        mean = wg_sum(s) / float(p.D);
    }
    float q = 0.0;
    for (uint i = t; i < p.D; i += 256u) {
        float d = x[p.x_off + base + i] - mean;
        q = fma(d, d, q);
    }
    float r = 1.0 / sqrt(wg_sum(q) / float(p.D) + p.eps);
    for (uint i = t; i < p.D; i += 256u) {
        float y = (x[p.x_off + base + i] - mean) * r;
        if (p.w_dt != DT_NONE)
            y *= LOAD_ELEM(ww, p.w_off + i, p.w_dt);
        if (p.b_dt != DT_NONE)
            y += LOAD_ELEM(bw, p.b_off + i, p.b_dt);
        o[p.o_off + base + i] = y;
    }
}
