// The CPU conversions against NVIDIA's own description of its cvt instructions: the host
// emulation in cuda_fp16.hpp, cuda_bf16.hpp, cuda_fp8.hpp and cuda_fp4.hpp (the code those
// headers run when no GPU instruction is available). Host-only, so it runs in every CUDA
// build, GPU or not; test_formats_gpu then checks the instructions themselves.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp8.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "num/test_inputs.h"
#include "vdit/num.h"

typedef struct counts {
  long f16, bf16, e4m3, e5m2, e2m1, e8m0;
} counts;

static void report(const char *format, float x, unsigned nvidia, unsigned vdit, long *count) {
  if ((*count)++ < 4)
    fprintf(stderr, "  %s: x = %.9g (0x%08x): cuda headers 0x%x, vdit 0x%x\n", format, (double)x,
            (unsigned)test_float_bits(x), nvidia, vdit);
}

static void encode_one(float x, counts *bad) {
  __half_raw h = (__half_raw)__float2half_rn(x);
  if (h.x != vdit_f16_from_float(x)) report("f16", x, h.x, vdit_f16_from_float(x), &bad->f16);
  __nv_bfloat16_raw b = (__nv_bfloat16_raw)__float2bfloat16_rn(x);
  if (b.x != vdit_bf16_from_float(x)) report("bf16", x, b.x, vdit_bf16_from_float(x), &bad->bf16);
  unsigned e4m3 = __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
  if (e4m3 != vdit_f8_e4m3_from_float(x)) report("f8_e4m3", x, e4m3, vdit_f8_e4m3_from_float(x), &bad->e4m3);
  unsigned e5m2 = __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2);
  if (e5m2 != vdit_f8_e5m2_from_float(x)) report("f8_e5m2", x, e5m2, vdit_f8_e5m2_from_float(x), &bad->e5m2);
  unsigned e2m1 = __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest);
  if (e2m1 != vdit_f4_e2m1_from_float(x)) report("f4_e2m1", x, e2m1, vdit_f4_e2m1_from_float(x), &bad->e2m1);
  unsigned e8m0 = __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundZero);
  if (e8m0 != vdit_e8m0_from_float(x)) report("e8m0", x, e8m0, vdit_e8m0_from_float(x), &bad->e8m0);
}

// Same value, or both NaN (the headers widen some NaNs through a bf16/f16 intermediate).
static int same_value(float a, float b) {
  return test_float_bits(a) == test_float_bits(b) || (isnan(a) && isnan(b));
}

int main(void) {
  counts bad = {0, 0, 0, 0, 0, 0};
  const size_t n = 10 * 1000 * 1000;
  float *x = (float *)malloc(n * sizeof(float));
  test_random_floats(424242, n, x);
  for (size_t i = 0; i < n; i++) encode_one(x[i], &bad);
  free(x);
  // Every f16 and bf16 value and the floats next to them.
  for (uint32_t c = 0; c < 65536; c++) {
    float values[2] = {vdit_f16_to_float((uint16_t)c), vdit_bf16_to_float((uint16_t)c)};
    for (int k = 0; k < 2; k++) {
      encode_one(values[k], &bad);
      encode_one(nextafterf(values[k], INFINITY), &bad);
      encode_one(nextafterf(values[k], -INFINITY), &bad);
    }
  }
  CHECK_EQ_INT(bad.f16, 0);
  CHECK_EQ_INT(bad.bf16, 0);
  CHECK_EQ_INT(bad.e4m3, 0);
  CHECK_EQ_INT(bad.e5m2, 0);
  CHECK_EQ_INT(bad.e2m1, 0);
  CHECK_EQ_INT(bad.e8m0, 0);

  // Decoding every code.
  for (uint32_t c = 0; c < 65536; c++) {
    __half_raw h;
    h.x = (unsigned short)c;
    float nvidia = __half2float(__half(h));
    if (!same_value(nvidia, vdit_f16_to_float((uint16_t)c))) CHECK_EQ_FLOAT_BITS(nvidia, vdit_f16_to_float((uint16_t)c));
    if (isnan(nvidia)) CHECK_EQ_HEX(test_float_bits(nvidia), 0x7fffffffu); // the canonical NaN vdit uses too
  }
  for (uint32_t c = 0; c < 256; c++) {
    float e4m3 = __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, __NV_E4M3)));
    float e5m2 = __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, __NV_E5M2)));
    float e8m0 = __bfloat162float(__nv_bfloat16(__nv_cvt_e8m0_to_bf16raw((__nv_fp8_storage_t)c)));
    CHECK_EQ_FLOAT_BITS(e4m3, vdit_f8_e4m3_to_float((uint8_t)c));
    CHECK_EQ_FLOAT_BITS(e5m2, vdit_f8_e5m2_to_float((uint8_t)c));
    CHECK(same_value(e8m0, vdit_e8m0_to_float((uint8_t)c)));
  }
  for (uint32_t c = 0; c < 16; c++) {
    float e2m1 = __half2float(__half(__nv_cvt_fp4_to_halfraw((__nv_fp4_storage_t)c, __NV_E2M1)));
    CHECK_EQ_FLOAT_BITS(e2m1, vdit_f4_e2m1_to_float((uint8_t)c));
  }
  return check_finish("test_nvidia_emulation");
}
