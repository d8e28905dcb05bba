// SPDX-License-Identifier: Apache-2.0
// matvec.comp - the matmul of matmul.comp for a few rows of a (M <= 4,
// decoding): out[z, m, n] = a[z, m, :] . b column n (+ bias), b read once
// for all M rows.  Workgroups of 256 invocations:
//   trans_b (b [N, K]): 8 columns, 32 invocations per column striding over
//     k (consecutive invocations read consecutive memory), then a reduction
//     of the 32 partial sums;
//   b [K, N]: 64 columns, one per invocation, 4 invocations splitting k.
// ldb and ldo are the row strides of b ([K, N]) and out.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { uint bw[]; };
layout(std430, binding = 2) readonly buffer C { uint cw[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
    uint a_off, b_off, bias_off, o_off;
    uint M, N, K;
    uint b_bstride;
    uint trans_b, b_dt, bias_dt;
    uint batch0;
    uint ldb, ldo; // row strides of b (trans_b = 0) and out, in elements
} p;

const uint MAXM = 4u;

shared float part[MAXM][256];

void main()
{
    uint tid = gl_LocalInvocationID.x;
    uint z = p.batch0 + gl_WorkGroupID.z;
    uint abase = p.a_off + z * p.M * p.K;
    uint bbase = p.b_off + z * p.b_bstride;
    // column c of this workgroup's `cols`, split s of `splits`
    uint cols = p.trans_b != 0u ? 8u : 64u, splits = 256u / cols;
    uint c = p.trans_b != 0u ? tid / splits : tid % cols;
    uint s = p.trans_b != 0u ? tid % splits : tid / cols;
    uint n = gl_WorkGroupID.x * cols + c;
    float acc[MAXM] = float[MAXM](0.0, 0.0, 0.0, 0.0);
    if (n < p.N) {
        if (p.M == 1u) {
            for (uint k = s; k < p.K; k += splits) {
                uint e = bbase + (p.trans_b != 0u ? n * p.K + k : k * p.ldb + n);
                acc[0] = fma(a[abase + k], LOAD_ELEM(bw, e, p.b_dt), acc[0]);
            }
        } else {
            for (uint k = s; k < p.K; k += splits) {
                uint e = bbase + (p.trans_b != 0u ? n * p.K + k : k * p.ldb + n);
                float bv = LOAD_ELEM(bw, e, p.b_dt);
                for (uint m = 0u; m < MAXM; m++)
                    if (m < p.M)
                        acc[m] = fma(a[abase + m * p.K + k], bv, acc[m]);
            }
        }
    }
    for (uint m = 0u; m < MAXM; m++)
        part[m][tid] = acc[m];
    barrier();
    // sum the splits of each column: invocation t < cols * M sums column
    // t % cols of row t / cols
    if (tid < cols * p.M) {
        uint cc = tid % cols, m = tid / cols;
        uint nn = gl_WorkGroupID.x * cols + cc;
        if (nn < p.N) {
            float sum = 0.0;
            for (uint j = 0u; j < splits; j++)
                sum += part[m][p.trans_b != 0u ? cc * splits + j : j * cols + cc];
            float bias = p.bias_dt != DT_NONE ? LOAD_ELEM(cw, p.bias_off + nn, p.bias_dt) : 0.0;
            o[p.o_off + z * p.M * p.ldo + m * p.ldo + nn] = sum + bias;
        }
    }
}
