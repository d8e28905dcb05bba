// SPDX-License-Identifier: Apache-2.0
// rope.comp - rotary embedding (neox/llama: rotate the two halves of the
// first rot_dim dims) of x [B, H, T, D] at positions [B, T] (I64 or I32).
// inv_freq [half] comes from the host, computed in f32 exactly as the CPU
// backend does; angle = pos * inv_freq in f32, then reduced modulo 2 pi
// (three-part Cody-Waite, exact products for |angle| < 2^15 * 2 pi) before
// cos/sin, so large positions keep their accuracy.  One invocation per
// (row, pair) and per pass-through dim: out may alias x.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer PS { uint pw[]; };
layout(std430, binding = 2) readonly buffer IF { float invf[]; };
layout(std430, binding = 3) buffer O { float o[]; };

layout(push_constant) uniform P {
    uint x_off, p_off, i_off, o_off;
    uint H, T, D, half_;
    uint total, pos64, copy_tail;
} p;

const float TWO_PI_INV = 0.15915494309189535;
const float C1 = 6.28125;              // 201 / 32: 8 significant bits
const float C2 = 1.9353071795864769e-3; // 2 pi - C1, rounded to f32
const float C3 = 1.0253131677e-11;      // what that rounding lost

void main()
{
    uint W = p.D - p.half_; // half pairs + (D - 2 half) copied dims
    uint stride = grid_threads(256u);
    for (uint idx = flat_group() * 256u + gl_LocalInvocationID.x; idx < p.total; idx += stride) {
        uint r = idx / W, j = idx % W;
        uint base = p.x_off + r * p.D, obase = p.o_off + r * p.D;
        if (j >= p.half_) {
            uint d = j + p.half_;
            if (p.copy_tail != 0u)
                o[obase + d] = x[base + d];
            continue;
        }
        uint t = r % p.T, b = r / (p.H * p.T);
        uint pi = b * p.T + t;
        int pos = int(p.pos64 != 0u ? pw[p.p_off + 2u * pi] : pw[p.p_off + pi]);
        float ang = float(pos) * invf[p.i_off + j];
        float kq = round(ang * TWO_PI_INV);
        float red = fma(-kq, C3, fma(-kq, C2, fma(-kq, C1, ang)));
        float c = cos(red), s = sin(red);
        float x1 = x[base + j], x2 = x[base + j + p.half_];
        o[obase + j] = x1 * c - x2 * s;
        o[obase + j + p.half_] = x2 * c + x1 * s;
    }
}
