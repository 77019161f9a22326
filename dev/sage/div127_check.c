// Exhaustive check of SageBwd's x / 127 (attn_sage_backward.cu, sage_bwd_div127): for every finite
// float x >= 0 (subnormals included), q0 = x * RN(1/127), r = fma(-q0, 127, x), q = fma(r, RN(1/127), q0)
// equals x / 127.0f correctly rounded (the CPU emulation's sage_int8_scale). 2^31 values, ~4 s.
// Build: cc -O2 -mfma -ffp-contract=off dev/sage/div127_check.c -lm && ./a.out
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  const float y = 1.0f / 127.0f;
  uint64_t bad = 0;
  for (uint64_t u = 0; u < 0x7F800000u; u++) {
    const uint32_t bits = (uint32_t)u;
    float x;
    memcpy(&x, &bits, 4);
    const float ref = x / 127.0f, q0 = x * y, q = fmaf(fmaf(-q0, 127.0f, x), y, q0);
    if (memcmp(&q, &ref, 4) && bad++ < 5) printf("x = %a: x / 127 = %a, sequence %a\n", x, ref, q);
  }
  printf("%llu mismatches over every finite x >= 0\n", (unsigned long long)bad);
  return bad != 0;
}
