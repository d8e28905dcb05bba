// SPDX-License-Identifier: Apache-2.0
// softmax.comp - softmax over the last dim of x [..., Tq, Tk] * scale +
// mask, one workgroup per row.  The mask broadcasts numpy-style: its offset
// for a row is sum over x's leading dims of (index mod shape) * stride
// (stride 0 where the mask has size 1), and last_stride is 1 or 0.  causal
// hides keys j > (Tk - Tq) + i (their outputs are 0); a row with nothing
// visible (all -inf) is all zeros.  out may alias x.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer M { float mk[]; };
layout(std430, binding = 2) buffer O { float o[]; };

layout(push_constant) uniform P {
    uint x_off, m_off, o_off;
    uint rows, Tq, Tk;
    float scale;
    uint causal, has_mask, last_stride, nlead;
    uint shape[7];
    uint stride[7];
} p;

void main()
{
    uint row = flat_group();
    if (row >= p.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint n = p.Tk;
    if (p.causal != 0u) {
        int last = int(p.Tk) - int(p.Tq) + int(row % p.Tq);
        n = uint(clamp(last + 1, 0, int(p.Tk)));
    }
    uint moff = p.m_off;
    if (p.has_mask != 0u) {
        uint r = row;
        for (int i = int(p.nlead) - 1; i >= 0 && r > 0u; i--) {
            moff += (r % p.shape[i]) * p.stride[i];
            r /= p.shape[i];
        }
    }
    uint base = row * p.Tk;
    float mx = NEG_INF;
    for (uint i = t; i < n; i += 256u) {
        float v = x[p.x_off + base + i] * p.scale;
        if (p.has_mask != 0u)
            v += mk[moff + i * p.last_stride];
        o[p.o_off + base + i] = v;
        mx = max(mx, v);
    }
    mx = wg_max(mx);
    if (mx == NEG_INF) {
        for (uint i = t; i < p.Tk; i += 256u)
            o[p.o_off + base + i] = 0.0;
        return;
    }
    float s = 0.0;
    for (uint i = t; i < p.Tk; i += 256u) {
        float e = 0.0;
        if (i < n) {
            e = exp(o[p.o_off + base + i] - mx);
            s += e;
        }
        o[p.o_off + base + i] = e;
    }
    float inv = 1.0 / wg_sum(s);
    for (uint i = t; i < n; i += 256u)
        o[p.o_off + base + i] *= inv;
}
