// SPDX-License-Identifier: Apache-2.0
// reduce.glsl - workgroup-wide sum and max over 256 invocations through
// shared memory.  Every invocation of the workgroup must call them (uniform
// control flow); the result is returned to all.  The trailing barrier lets
// the shared array be reused at once.

shared float red_[256];

float wg_sum(float v)
{
    uint t = gl_LocalInvocationID.x;
    red_[t] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s)
            red_[t] += red_[t + s];
        barrier();
    }
    float r = red_[0];
    barrier();
    return r;
}

float wg_max(float v)
{
    uint t = gl_LocalInvocationID.x;
    red_[t] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s)
            red_[t] = max(red_[t], red_[t + s]);
        barrier();
    }
    float r = red_[0];
    barrier();
    return r;
}
