// Exhaustive CPU check of the exponent logic of SageBwd's branch-free 127 / x (attn_sage_backward.cu,
// sage_bwd_inv127): x = m 2^(E - 127) with m in [1, 2) from the mantissa bits, q = 127 / m (here the
// IEEE division; on the GPU the reciprocal sequence, checked against the division on every input by
// vdit_attn_sage_cuda_inv127_check in test_attn_sage_gpu), then bits(q) + 127 << 23 - E << 23 clamped
// to +inf, and 0 unless 0 < bits(x) < bits(inf). Equal to x > 0 ? 127.0f / x : 0.0f on all 2^32
// inputs (negative, zero, subnormal, inf and NaN included). ~10 s.
// Build: cc -O2 -ffp-contract=off dev/sage/inv127_check.c && ./a.out
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static float from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}
static uint32_t to_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}

int main(void) {
  uint64_t bad = 0;
  for (uint64_t i = 0; i < (1ull << 32); i++) {
    const uint32_t u = (uint32_t)i;
    const float x = from_bits(u), ref = x > 0.0f ? 127.0f / x : 0.0f;
    const float m = from_bits((u & 0x007fffffu) | 0x3f800000u), q = 127.0f / m;
    uint32_t v = to_bits(q) + 0x3f800000u - (u & 0x7f800000u);
    if (v > 0x7f800000u) v = 0x7f800000u;
    const uint32_t got = u - 1u < 0x7f7fffffu ? v : 0u;
    if (got != to_bits(ref) && bad++ < 5) printf("x = %a (0x%08x): 127 / x = %a, sequence %a\n", x, u, ref, from_bits(got));
  }
  printf("%llu mismatches over all 2^32 inputs\n", (unsigned long long)bad);
  return bad != 0;
}
