// SPDX-License-Identifier: Apache-2.0
// matmul.comp - out[z, M, N] = a[z, M, K] @ b (+ bias), tiled through
// shared memory: each workgroup of 16x16 invocations computes a 128x128
// tile of out, each invocation an 8x8 block (rows ty + 16i, columns
// tx + 16j), k in steps of 8.  b is [K, N] or (trans_b) [N, K], f32, f16 or
// bf16, shared by every batch entry (b_bstride = 0) or one per entry; bias
// [N] of any of those dtypes or absent.  Batch entry = batch0 +
// gl_WorkGroupID.z.  ldb and ldo are the row strides of b ([K, N] layout)
// and out, so that a dispatch can cover a block of columns of a larger
// product.
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

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

const uint BM = 128u, BN = 128u, BK = 8u, TM = 8u, TN = 8u;

shared float As[BK][BM];
shared float Bs[BK][BN];

void main()
{
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    uint z = p.batch0 + gl_WorkGroupID.z;
    uint abase = p.a_off + z * p.M * p.K;
    uint bbase = p.b_off + z * p.b_bstride;
    float acc[TM][TN];
    for (uint i = 0u; i < TM; i++)
        for (uint j = 0u; j < TN; j++)
            acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        for (uint r = 0u; r < 4u; r++) {
            uint l = tid + 256u * r;
            // a: row l / 8, k l % 8 (consecutive invocations read consecutive k)
            uint row = l >> 3, kk = l & 7u;
            uint gm = m0 + row, gk = k0 + kk;
            As[kk][row] = (gm < p.M && gk < p.K) ? a[abase + gm * p.K + gk] : 0.0;
            // b: consecutive invocations read consecutive memory in both layouts
            uint col, kb;
            if (p.trans_b != 0u) {
                kb = l & 7u;
                col = l >> 3;
            } else {
                kb = l >> 7;
                col = l & 127u;
            }
            uint gn = n0 + col, gkb = k0 + kb;
            float bv = 0.0;
            if (gn < p.N && gkb < p.K) {
                uint e = bbase + (p.trans_b != 0u ? gn * p.K + gkb : gkb * p.ldb + gn);
                bv = LOAD_ELEM(bw, e, p.b_dt);
            }
            Bs[kb][col] = bv;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            float av[TM], bv[TN];
            for (uint i = 0u; i < TM; i++)
                av[i] = As[kk][ty + 16u * i];
            for (uint j = 0u; j < TN; j++)
                bv[j] = Bs[kk][tx + 16u * j];
            for (uint i = 0u; i < TM; i++)
                for (uint j = 0u; j < TN; j++)
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        barrier();
    }

    uint obase = p.o_off + z * p.M * p.ldo;
    for (uint j = 0u; j < TN; j++) {
        uint n = n0 + tx + 16u * j;
        if (n >= p.N)
            continue;
        float bias = 0.0;
        if (p.bias_dt != DT_NONE)
            bias = LOAD_ELEM(cw, p.bias_off + n, p.bias_dt);
        for (uint i = 0u; i < TM; i++) {
            uint m = m0 + ty + 16u * i;
            if (m < p.M)
                o[obase + m * p.ldo + n] = acc[i][j] + bias;
        }
    }
}
