// SPDX-License-Identifier: Apache-2.0
// strided.comp - the data movement kernel behind copy, transpose, concat
// and kv_append: for every index (i0..i4) of a logical [s0..s4] space,
// dst[dst_off + sum i_k dst_stride_k] = src[src_off + sum i_k src_stride_k].
// Offsets and strides count units of `unit` bytes: 4 (plain word copies),
// 2 or 1 (sub-word elements, written with atomicAnd/atomicOr on the
// containing word so that neighbours written by other invocations survive).
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer S { uint sw[]; };
layout(std430, binding = 1) buffer D { uint dw[]; };

layout(push_constant) uniform P {
    uint src_off, dst_off, n, unit;
    uint shape[5];
    uint sstride[5];
    uint dstride[5];
} p;

void main()
{
    uint stride = grid_threads(256u);
    for (uint idx = flat_group() * 256u + gl_LocalInvocationID.x; idx < p.n; idx += stride) {
        uint r = idx, so = p.src_off, d = p.dst_off;
        for (int k = 4; k >= 0; k--) {
            uint c = r % p.shape[k];
            r /= p.shape[k];
            so += c * p.sstride[k];
            d += c * p.dstride[k];
        }
        if (p.unit == 4u) {
            dw[d] = sw[so];
        } else {
            uint per = 4u / p.unit, bits = 8u * p.unit;
            uint mask = p.unit == 2u ? 0xffffu : 0xffu;
            uint val = (sw[so / per] >> ((so % per) * bits)) & mask;
            uint sh = (d % per) * bits;
            atomicAnd(dw[d / per], ~(mask << sh));
            atomicOr(dw[d / per], val << sh);
        }
    }
}
