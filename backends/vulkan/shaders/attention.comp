// SPDX-License-Identifier: Apache-2.0
// attention.comp - out[b, h, i, :] = softmax(q k^T * scale + mask) v for one
// (batch, query head, query row) per workgroup.  q [B, Hq, Tq, D], k and v
// [B, Hkv, Tk, D] of which the first kv_len rows are used; query head h
// reads kv head h / (Hq / Hkv).  mask: [B, mask_stride] additive, or
// absent.  causal: query i sees keys j <= (kv_len - Tq) + i.
// Keys are taken 256 at a time (one per invocation) with an online
// softmax: running max m and sum l, the accumulator rescaled by
// exp(m_old - m_new) when the max grows.  Each invocation owns output
// dims tid, tid + 256, ... (D <= 1024).  A row that sees no key, or only
// -inf scores, is zeros (as the CPU backend).
#version 450
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer M { float mk[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
    uint q_off, k_off, v_off, m_off, o_off;
    uint Hq, Hkv, Tq, Tk, D, kv_len;
    uint causal, has_mask, mask_stride;
    float scale;
    uint rows;
} p;

const uint MAXD = 1024u;
shared float qs[MAXD];
shared float sc[256];

void main()
{
    uint r = flat_group();
    if (r >= p.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint qi = r % p.Tq, bh = r / p.Tq;
    uint h = bh % p.Hq, b = bh / p.Hq;
    uint n = p.kv_len;
    if (p.causal != 0u) {
        int last = int(p.kv_len) - int(p.Tq) + int(qi);
        n = uint(clamp(last + 1, 0, int(p.kv_len)));
    }
    uint D = p.D;
    uint kvbase = (b * p.Hkv + h / (p.Hq / p.Hkv)) * p.Tk * D;
    for (uint d = t; d < D; d += 256u)
        qs[d] = q[p.q_off + r * D + d];
    barrier();

    float m = NEG_INF, l = 0.0;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (uint c0 = 0u; c0 < n; c0 += 256u) {
        uint j = c0 + t;
        float s = NEG_INF;
        if (j < n) {
            uint kr = p.k_off + kvbase + j * D;
            float dot_ = 0.0;
            for (uint d = 0u; d < D; d++)
                dot_ = fma(qs[d], k[kr + d], dot_);
            s = dot_ * p.scale;
            if (p.has_mask != 0u)
                s += mk[p.m_off + b * p.mask_stride + j];
        }
        float cmax = wg_max(s);
        if (cmax == NEG_INF)
            continue; // uniform: every key of this chunk is hidden
        float nm = max(m, cmax);
        float e = exp(s - nm); // exp(-inf) = 0 for hidden keys
        sc[t] = e;
        float csum = wg_sum(e); // its barriers publish sc
        float alpha = exp(m - nm); // 0 while m is -inf
        l = l * alpha + csum;
        uint cnt = min(256u, n - c0);
        for (uint dd = 0u; dd < 4u; dd++) {
            uint d = t + 256u * dd;
            if (d < D) {
                float a = acc[dd] * alpha;
                uint vb = p.v_off + kvbase + c0 * D + d;
                for (uint u = 0u; u < cnt; u++)
                    a = fma(sc[u], v[vb + u * D], a);
                acc[dd] = a;
            }
        }
        m = nm;
        barrier(); // sc is rewritten by the next chunk
    }
    float inv = (m == NEG_INF || l == 0.0) ? 0.0 : 1.0 / l;
    for (uint dd = 0u; dd < 4u; dd++) {
        uint d = t + 256u * dd;
        if (d < D)
            o[p.o_off + r * D + d] = acc[dd] * inv;
    }
}
