// SPDX-License-Identifier: Apache-2.0
// unary.comp - elementwise ops on f32: scale, gelu (erf and tanh forms),
// silu, relu, swiglu (silu(x) * y).  out may alias x.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 2) buffer O { float o[]; };

layout(push_constant) uniform P {
    uint x_off, y_off, o_off, n;
    uint kind;
    float param;
} p;

const uint U_SCALE = 0u, U_GELU_ERF = 1u, U_GELU_TANH = 2u, U_SILU = 3u, U_RELU = 4u, U_SWIGLU = 5u;

// erfc(z) with fractional error below 1.2e-7 everywhere (Numerical
// Recipes' erfcc, a Chebyshev fit); erf is 1 - erfc.  Computing gelu as
// 0.5 x erfc(-x / sqrt(2)) keeps its relative accuracy for negative x.
float erfc_(float z)
{
    float a = abs(z);
    float t = 1.0 / (1.0 + 0.5 * a);
    float r = t * exp(-a * a - 1.26551223 +
                      t * (1.00002368 +
                           t * (0.37409196 +
                                t * (0.09678418 +
                                     t * (-0.18628806 +
                                          t * (0.27886807 +
                                               t * (-1.13520398 +
                                                    t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return z >= 0.0 ? r : 2.0 - r;
}

// v * sigmoid(u) without overflow: exp(-u) may be +inf, giving 0
float mul_sigmoid(float v, float u)
{
    return v / (1.0 + exp(-u));
}

void main()
{
    uint stride = grid_threads(256u);
    for (uint i = flat_group() * 256u + gl_LocalInvocationID.x; i < p.n; i += stride) {
        float v = x[p.x_off + i], r;
        switch (p.kind) {
        case U_SCALE: r = v * p.param; break;
        case U_GELU_ERF: r = 0.5 * v * erfc_(-v * 0.70710678118654752); break;
        case U_GELU_TANH: {
            // 0.5 v (1 + tanh(u)) == v * sigmoid(2u)
            float u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
            r = mul_sigmoid(v, 2.0 * u);
            break;
        }
        case U_SILU: r = mul_sigmoid(v, v); break;
        case U_RELU: r = v > 0.0 ? v : 0.0; break;
        default: r = mul_sigmoid(v, v) * y[p.y_off + i]; break;
        }
        o[p.o_off + i] = r;
    }
}
