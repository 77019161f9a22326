// SLA2's linear branch in the epilogue of the low-bit sparse branch, sla(sage=1)
// (attn_sage_forward_tma.cu, LIN; sm_90a, D = 128): the arithmetic of the bf16 executor's
// epilogue (attn_forward_tma.cu, LIN, which keeps it as lambdas: see there). Both kernels hold
// a warp's rows g, g + 8 of the query tile in the wgmma accumulator layout (s[4 n + 2 r + e] =
// row g + 8 r, column 8 n + 2 t + e) and a 16-bit Q tile [D/64][128][64] with the 128-byte
// swizzle in shared memory.
#ifndef VDIT_ATTN_SLA_EPILOGUE_CUH
#define VDIT_ATTN_SLA_EPILOGUE_CUH

#include "attn/cuda/attn_cuda_common.cuh"

// 2^x by the special-function unit (as sla_cuda.cu's prepare computes phi(K))
static __device__ __forceinline__ float sla_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// phi(Q) of rows `row` (= the warp's first row + g) and row + 8 of the Q tile sQ into s (the S
// layout) and den = phi(Q) . zc per row (zc: the query block's 128 floats). The softmax phi is
// left unnormalised (e^(q - max q), no 1 / sum): the factor cancels in O_l = phi Hc / (phi . zc),
// which saves the row sum, two shuffles and 64 multiplies (round 19).
template <typename T>
static __device__ __forceinline__ void sla_lin_phi(const T *sQ, int row, int t, int feature, const float *zc, float s[64],
                                                   float den[2]) {
  typedef attn_dtype_traits<T> tt;
  constexpr int D = 128, BM = 128;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int rr = row + 8 * r;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      const uint32_t w = *reinterpret_cast<const uint32_t *>(sQ + (n >> 3) * BM * 64 + rr * 64 + (((n & 7) ^ (rr & 7)) << 3) + 2 * t);
      s[4 * n + 2 * r] = tt::to_float(*reinterpret_cast<const T *>(&w));
      s[4 * n + 2 * r + 1] = tt::to_float(*(reinterpret_cast<const T *>(&w) + 1));
    }
  }
#pragma unroll
  for (int r = 0; r < 2; r++) { // phi over the row (the quad holds it)
    if (feature == VDIT_ATTN_SLA_ELU) {
#pragma unroll
      for (int i = 0; i < D / 4; i++) {
        const int k = 4 * (i >> 1) + 2 * r + (i & 1);
        s[k] = s[k] > 0.0f ? s[k] + 1.0f : expf(s[k]);
      }
    } else {
      const float log2e = 1.4426950408889634f;
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < D / 8; n++) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float ml = mx * log2e;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        s[4 * n + 2 * r] = sla_ex2(fmaf(s[4 * n + 2 * r], log2e, -ml));
        s[4 * n + 2 * r + 1] = sla_ex2(fmaf(s[4 * n + 2 * r + 1], log2e, -ml));
      }
    }
  }
  // den = phi(Q) . zc per row (zc of this query block: 512 bytes, from L2)
#pragma unroll
  for (int n = 0; n < D / 8; n++) {
    const float2 z = __ldg(reinterpret_cast<const float2 *>(zc + 8 * n + 2 * t));
#pragma unroll
    for (int r = 0; r < 2; r++) den[r] += s[4 * n + 2 * r] * z.x + s[4 * n + 2 * r + 1] * z.y;
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    den[r] += __shfl_xor_sync(0xffffffffu, den[r], 1);
    den[r] += __shfl_xor_sync(0xffffffffu, den[r], 2);
  }
}

// O = alpha O_s + (1 - alpha) O_l on the first D / 2 accumulator registers (D = 128 where it
// runs; a template so that the kernels' D = 64 instances compile): o holds O_s (normalised), s
// the unnormalised phi(Q) Hc, den its row divisors, alpha = sigmoid(logit).
template <int D>
static __device__ __forceinline__ void sla_lin_mix(float *o, const float s[64], const float den[2], float alpha_logit) {
  const float alpha = 1.0f / (1.0f + expf(-alpha_logit));
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const float il = den[r] > 0.0f ? 1.0f / den[r] : 0.0f;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      o[4 * n + 2 * r] = alpha * o[4 * n + 2 * r] + (1.0f - alpha) * (s[4 * n + 2 * r] * il);
      o[4 * n + 2 * r + 1] = alpha * o[4 * n + 2 * r + 1] + (1.0f - alpha) * (s[4 * n + 2 * r + 1] * il);
    }
  }
}

#endif // VDIT_ATTN_SLA_EPILOGUE_CUH
