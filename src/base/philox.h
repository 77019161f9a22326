// Philox4x32-10 and the float draws built on it, shared by the CPU (src/base/rng.c) and the
// CUDA kernels (src/base/cuda/rng.cu) so that both produce the same bits.
//
// Stream layout: element e of stream `seed` comes from the Philox block with counter
// (e / 4 as 64 bits in words 0-1, 0, 0) and key (seed low, seed high), lane e % 4.
// A normal at lane 2j or 2j+1 is the cosine or sine half of the Box-Muller pair built from
// lanes 2j and 2j+1 of its block.
#ifndef VDIT_PHILOX_H
#define VDIT_PHILOX_H

#include "base/fp_exact.h"

#define VDIT_PHILOX_M0 0xD2511F53u
#define VDIT_PHILOX_M1 0xCD9E8D57u
#define VDIT_PHILOX_W0 0x9E3779B9u
#define VDIT_PHILOX_W1 0xBB67AE85u

VDIT_HOST_DEVICE void vdit_philox_block(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                        uint32_t k0, uint32_t k1, uint32_t out[4]) {
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)VDIT_PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)VDIT_PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += VDIT_PHILOX_W0;
    k1 += VDIT_PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// The four raw outputs of the block holding element `element` of stream `seed`.
VDIT_HOST_DEVICE void vdit_philox_stream_block(uint64_t seed, uint64_t element, uint32_t out[4]) {
  uint64_t block = element >> 2;
  vdit_philox_block((uint32_t)block, (uint32_t)(block >> 32), 0u, 0u,
                    (uint32_t)seed, (uint32_t)(seed >> 32), out);
}

// A uniform in (0, 1): the odd multiples of 2^-24, exact in float on any machine.
VDIT_HOST_DEVICE float vdit_philox_uniform(uint32_t bits) {
  return (float)((bits >> 8) | 1u) * 0x1p-24f;
}

// ln(u) for u in (0, 1], from +, -, *, / alone: u = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, series to s^9.
VDIT_HOST_DEVICE float vdit_exact_logf(float u) {
  uint32_t bits = vdit_float_bits(u);
  int exponent = (int)((bits >> 23) & 0xffu) - 127;
  float m = vdit_bits_float((bits & 0x007fffffu) | 0x3f800000u);
  if (m > 1.41421356f) {
    m = VDIT_FMUL(m, 0.5f);
    exponent += 1;
  }
  float f = VDIT_FSUB(m, 1.0f);
  float s = VDIT_FDIV(f, VDIT_FADD(m, 1.0f));
  float s2 = VDIT_FMUL(s, s);
  float series = VDIT_FADD(1.0f / 7.0f, VDIT_FMUL(s2, 1.0f / 9.0f));
  series = VDIT_FADD(1.0f / 5.0f, VDIT_FMUL(s2, series));
  series = VDIT_FADD(1.0f / 3.0f, VDIT_FMUL(s2, series));
  float log_m = VDIT_FADD(VDIT_FMUL(2.0f, s), VDIT_FMUL(VDIT_FMUL(2.0f, s), VDIT_FMUL(s2, series)));
  float e = (float)exponent;
  // ln 2 split so that e * ln2_hi is exact for |e| < 2^8.
  return VDIT_FADD(VDIT_FMUL(e, 0.693145751953125f),
                   VDIT_FADD(VDIT_FMUL(e, 1.42860682030941723212e-06f), log_m));
}

// cos(2 pi t) and sin(2 pi t) for t in [0, 1]: t = k/4 + r exactly, |r| <= 1/8, then Taylor
// polynomials on x = 2 pi r in [-pi/4, pi/4] and the quadrant k.
VDIT_HOST_DEVICE void vdit_exact_sincos_2pi(float t, float *sin_out, float *cos_out) {
  int k = (int)VDIT_FADD(VDIT_FMUL(t, 4.0f), 0.5f);
  float r = VDIT_FSUB(t, VDIT_FMUL((float)k, 0.25f));
  float x = VDIT_FMUL(r, 6.28318530717958647692f);
  float x2 = VDIT_FMUL(x, x);
  float sp = VDIT_FSUB(1.0f / 120.0f, VDIT_FMUL(x2, VDIT_FSUB(1.0f / 5040.0f, VDIT_FMUL(x2, 1.0f / 362880.0f))));
  float s = VDIT_FADD(x, VDIT_FMUL(VDIT_FMUL(x, x2), VDIT_FSUB(VDIT_FMUL(x2, sp), 1.0f / 6.0f)));
  float cp = VDIT_FSUB(1.0f / 720.0f, VDIT_FMUL(x2, VDIT_FSUB(1.0f / 40320.0f, VDIT_FMUL(x2, 1.0f / 3628800.0f))));
  float c = VDIT_FADD(1.0f, VDIT_FMUL(x2, VDIT_FSUB(VDIT_FMUL(x2, VDIT_FSUB(1.0f / 24.0f, VDIT_FMUL(x2, cp))), 0.5f)));
  switch (k & 3) {
    case 0: *cos_out = c; *sin_out = s; break;
    case 1: *cos_out = -s; *sin_out = c; break;
    case 2: *cos_out = -c; *sin_out = -s; break;
    default: *cos_out = s; *sin_out = -c; break;
  }
}

// Element `element` of the uniform stream `seed`.
VDIT_HOST_DEVICE float vdit_philox_uniform_at(uint64_t seed, uint64_t element) {
  uint32_t raw[4];
  vdit_philox_stream_block(seed, element, raw);
  return vdit_philox_uniform(raw[element & 3]);
}

// Both normals of the Box-Muller pair from lanes (2j, 2j+1) of a block.
VDIT_HOST_DEVICE void vdit_philox_normal_pair(uint32_t bits_radius, uint32_t bits_angle,
                                              float *z_cos, float *z_sin) {
  float u1 = vdit_philox_uniform(bits_radius);
  float u2 = vdit_philox_uniform(bits_angle);
  float radius = VDIT_FSQRT(VDIT_FMUL(-2.0f, vdit_exact_logf(u1)));
  float s, c;
  vdit_exact_sincos_2pi(u2, &s, &c);
  *z_cos = VDIT_FMUL(radius, c);
  *z_sin = VDIT_FMUL(radius, s);
}

// Element `element` of the standard normal stream `seed`.
VDIT_HOST_DEVICE float vdit_philox_normal_at(uint64_t seed, uint64_t element) {
  uint32_t raw[4];
  vdit_philox_stream_block(seed, element, raw);
  unsigned lane = (unsigned)(element & 3);
  float zc, zs;
  vdit_philox_normal_pair(raw[lane & 2u], raw[lane | 1u], &zc, &zs);
  return (lane & 1u) ? zs : zc;
}

// All four elements of Philox block `block` (stream elements 4*block .. 4*block+3) as
// uniforms (normal == 0) or standard normals (normal != 0): the same values as
// vdit_philox_uniform_at / vdit_philox_normal_at, one Philox call for four elements.
VDIT_HOST_DEVICE void vdit_philox_draw_block(uint64_t seed, uint64_t block, int normal, float out[4]) {
  uint32_t raw[4];
  vdit_philox_block((uint32_t)block, (uint32_t)(block >> 32), 0u, 0u, (uint32_t)seed, (uint32_t)(seed >> 32), raw);
  if (normal) {
    vdit_philox_normal_pair(raw[0], raw[1], &out[0], &out[1]);
    vdit_philox_normal_pair(raw[2], raw[3], &out[2], &out[3]);
  } else {
    for (int lane = 0; lane < 4; lane++) out[lane] = vdit_philox_uniform(raw[lane]);
  }
}

#endif // VDIT_PHILOX_H
