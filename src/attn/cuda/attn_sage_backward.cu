// SageBwd on Hopper: the INT8 backward of VDIT_ATTN_SAGE (the contract: src/attn/attn_sage.h,
// which the CPU emulation attn_sage_cpu.c follows too). Launches on one stream:
//   memset  K sums, dK column sums, the dQ accumulator
//   stats   per (b, h) and channel: sum of K over keys < n (fp32 atomics) -> mu
//   quant K (K - mu) INT8 per 128-key block: rows (Sk_pad, D) and transposed (D, Sk_pad) with
//           the keys of each 16 stored in the order the dS fragment holds them (see
//           sage_bwd_key_position)
//   quant Q Q INT8 per 64-query block: rows (Sq_pad, D) and transposed (D, Sq_pad); dO INT8
//           per 64-query block, transposed; both transposes store the queries of each 32 in
//           the order the P^T / dS^T A fragment holds them (sage_fragment_position);
//           l2 = (LSE - scale q.mu) log2 e and Delta = rowsum(dO O) per query
//   main    one block of two warpgroups per 128 keys (the dense wgmma backward's structure,
//           attn_backward_wgmma.cu), warpgroup w keys 64w..; 64-query tiles in two stages. The
//           quantization stores every stage tile contiguous and already 128B-swizzled (Q code
//           rows, the transposed codes per 128-query chunk, a copy of dO), so one thread loads
//           a stage by six bulk copies (cp.async.bulk on an mbarrier, issued after the
//           tile-maxima barrier: no cp.async on the warps' path, no loop-top barrier). Per tile:
//             S^T = K' Q^T     wgmma m64n64k32 s8 (both K-major from shared memory)
//             dP^T = V dO^T    wgmma m64n64k16 bf16/fp16 (as dense)
//             P^T = 2^(dot c - l2) (one FFMA + MUFU), dS^T = P^T (dP^T - Delta)
//             P^T, dS^T codes  per key over the tile: one quad reduction of the row max
//             dV += P^T dO     wgmma m64n64k32 s8 in head-dim halves, A = P^T codes from
//                              registers, B = dO^T; one half's dequantization (key scale *
//                              block scale, into fp32 registers) overlaps the next product
//             dK += dS^T Q     the same with dS^T codes and Q^T
//             dS codes         one scale per tile (a block-wide max) into shared memory
//             dQ_acc += dS K'  wgmma m64n64k32 s8 (warpgroup w: head-dim half w over all 128
//                              keys), dequantized, staged per warpgroup as two 64 x 32-float
//                              swizzled boxes and added by two bulk tensor reductions
//                              (cp.reduce.async.bulk.tensor .add, one thread after a
//                              128-thread named barrier): no atomics. VDIT_SAGE_BWD=atomic
//                              (and a driver without a tensor-map encoder) adds them by float2
//                              atomics instead.
//           H200 run 13: 48.56 ms (tensor), 50.05 (atomic); the cp.async kernel (53.68) and
//           per-warp 256-byte row reductions (54.76) were deleted after it (in commit d08c8c7).
//           Round 6 (H200 runs 22a-b, 48.97 -> 40.79 ms) cut the work inside the tile loop: the
//           warpgroup index, tile count and tile index broadcast from lane 0 (the descriptors on
//           the uniform datapath, no R2UR per wgmma), the key limits and the mask test only on
//           tiles that need them, x / 127 by a product and one FMA correction, the int32 tiles
//           converted by I2FP, the descriptors as base + offset / 16. The dS codes by stmatrix
//           lost (+1.1 ms: spills); the lab commits are 7e5c7e6 / d2820c0 (SAGE_BWD_LAB).
//           Round 9 (H200 run 25, 38.66 -> 36.52 ms): 127 / amax without the IEEE division's
//           branches (sage_bwd_inv127, exact on all 2^32 inputs), and the block barrier that
//           published the dS codes replaced by an mbarrier: every thread arrives after its codes,
//           dQ's product waits on it (lab commit 4226b45).
//   finish  dQ = scale * dQ_acc; dK = dK' - mean over keys < n of dK' (the gradient through mu)
// Head dim 128, bf16/fp16, 16-byte aligned tensors, strides multiples of 8 (as the forward).
// H200 runs 9-11 (docs/attention.md, dev/sage/README.md) timed other orders of the products
// (dV issued before the dS barrier, dQ's product under dK's or the next tile's barrier, S^T and
// dP^T in separate groups) and the dQ reductions from distinct registers or as float4: none
// was faster (order +1.5%, lag and split +4%, float4 +1.3%); they are in commit 78c0e37.
#include <string.h>

#include "attn/attn_sage.h"
#include "attn/cuda/attn_sage_cuda.h"
#include "attn/cuda/attn_sage_wgmma.cuh"
#include "attn/cuda/attn_tma.cuh"
#include "attn/cuda/attn_wgmma_tiles.cuh"
#include "base/cuda_check.h"
#include "num/format_convert.h"

#define SAGE_D 128
#define SAGE_BM SAGE_BWD_BM // 64 queries a tile
#define SAGE_BN SAGE_BWD_BN // 128 keys a block

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

// Workspace pieces (per (b, h) strides: Sq_pad, Sk_pad = Sq, Sk rounded up to 128).
typedef struct sage_bwd_ws {
  int8_t *q8, *qt8, *dot8, *k8, *kt8; // (Sq_pad, D), (D, Sq_pad), (D, Sq_pad), (Sk_pad, D), (D, Sk_pad)
  float *qs, *dos, *ks;               // per 64-query block, per 64-query block, per 128-key block
  float *ksum, *dksum;                // (D) per (b, h): sum of K over keys < n, sum of dK' over keys < n
  float *l2, *delta;                  // (Sq_pad)
  float *dq;                          // (Sq_pad, D) fp32 accumulator
  float *dk;                          // (Sk_pad, D) fp32 dK' = scale * sum, before the mean
  uint8_t *do16;                      // dO copied as the stage tiles (Sq_pad / 64 tiles, 2 halves, 64 rows, 128 B), swizzled
  int sq_pad, sk_pad;
} sage_bwd_ws;

static size_t sage_bwd_layout(int64_t B, int64_t H, int64_t Sq, int64_t Sk, void *base, sage_bwd_ws *w) {
  const int64_t bh = B * H, sq = (Sq + 127) / 128 * 128, sk = (Sk + 127) / 128 * 128, D = SAGE_D;
  const size_t sizes[15] = {align256((size_t)(bh * sq * D)),     align256((size_t)(bh * sq * D)),
                            align256((size_t)(bh * sq * D)),     align256((size_t)(bh * sk * D)),
                            align256((size_t)(bh * sk * D)),     align256((size_t)(bh * sq / 64) * 4),
                            align256((size_t)(bh * sq / 64) * 4), align256((size_t)(bh * sk / 128) * 4),
                            align256((size_t)(bh * D) * 4),      align256((size_t)(bh * D) * 4),
                            align256((size_t)(bh * sq) * 4),     align256((size_t)(bh * sq) * 4),
                            align256((size_t)(bh * sq * D) * 4), align256((size_t)(bh * sk * D) * 4),
                            align256((size_t)(bh * sq * D) * 2)};
  size_t off[15], total = 0;
  for (int i = 0; i < 15; i++) off[i] = total, total += sizes[i];
  if (w) {
    char *c = (char *)base;
    w->q8 = (int8_t *)(c + off[0]);
    w->qt8 = (int8_t *)(c + off[1]);
    w->dot8 = (int8_t *)(c + off[2]);
    w->k8 = (int8_t *)(c + off[3]);
    w->kt8 = (int8_t *)(c + off[4]);
    w->qs = (float *)(c + off[5]);
    w->dos = (float *)(c + off[6]);
    w->ks = (float *)(c + off[7]);
    w->ksum = (float *)(c + off[8]);
    w->dksum = (float *)(c + off[9]);
    w->l2 = (float *)(c + off[10]);
    w->delta = (float *)(c + off[11]);
    w->dq = (float *)(c + off[12]);
    w->dk = (float *)(c + off[13]);
    w->do16 = (uint8_t *)(c + off[14]);
    w->sq_pad = (int)sq;
    w->sk_pad = (int)sk;
  }
  return total > 0 ? total : 256;
}

extern "C" size_t vdit_attn_sage_cuda_backward_workspace_bytes(int64_t batch, int64_t heads, int64_t seq_q, int64_t seq_k) {
  return sage_bwd_layout(batch, heads, seq_q, seq_k, NULL, NULL);
}

extern "C" int vdit_attn_sage_cuda_backward_fits(const vdit_attn_cuda_params *p) {
  if (!vdit_attn_sage_cuda_fits(p)) return 0;
  const int64_t strides[] = {p->do_sb, p->do_ss, p->do_sh, p->dq_sb, p->dq_ss, p->dq_sh,
                             p->dk_sb, p->dk_ss, p->dk_sh, p->dv_sb, p->dv_ss, p->dv_sh};
  for (size_t i = 0; i < sizeof strides / sizeof strides[0]; i++)
    if (strides[i] % 8) return 0;
  const void *bases[] = {p->d_o, p->dq, p->dk, p->dv};
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
    if ((uintptr_t)bases[i] % 16) return 0;
  return 1;
}

// ---------------------------------------------------------------- helpers
// Position of key r (0..127) in a stored K^T row and in a dS row of shared memory: thread g of
// a warp holds keys g and g + 8 of its 16, stored side by side (one 16-bit store of two codes).
static __device__ __forceinline__ int sage_bwd_key_position(int r) { return (r & ~15) + 2 * (r & 7) + ((r >> 3) & 1); }

// exact float of |x| < 2^24: one I2FP on sm_90 (H200 run 22b: faster than the IADD + FADD of the
// 2^23 + 2^22 trick; run 23: S^T's too, fma(float(dot), c, -l2) without the bias FFMA per pair)
static __device__ __forceinline__ float sage_bwd_i2f(int32_t x) { return __int2float_rn(x); }
static __device__ __forceinline__ float sage_bwd_ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
// The in-loop INT8 rule (attn_sage.h): code = round_half_even(x * inv), the product exact: the
// low byte of fma(x, inv, 2^23 + 2^22)'s bits (|x * inv| <= 127 (1 + 2^-24)).
static __device__ __forceinline__ uint32_t sage_bwd_code(float x, float inv) {
  return __float_as_uint(fmaf(x, inv, SAGE_EXP_BIAS));
}
static __device__ __forceinline__ uint32_t sage_bwd_pack4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}
// 127 / x rounded to nearest even (IEEE) for finite x > 0, else 0 (x <= 0, inf, NaN): equal bit for
// bit to x > 0 ? 127.0f / x : 0.0f on every input (the CPU emulation's division), without the IEEE
// division's range check and slow-path branch. x = m 2^(E - 127) with m in [1, 2): q = 127 / m by
// the reciprocal, one Newton step and one remainder correction (the division's own fast path, valid
// for every m, an exhaustive check in vdit_attn_sage_cuda_inv127_check), then E moved into q's
// exponent field (q in (63.5, 127], so the field stays >= 5); a field past 254 is an overflow: inf
// (subnormal x lands there too: 127 / x > FLT_MAX for every x < 3.7e-37). H200 run 25: the five
// divisions a tile (four per-key scales and the tile's, each a branch region of its own) were
// serialized; branch-free they interleave: 38.66 -> 37.23 ms.
static __device__ __forceinline__ float sage_bwd_inv127(float x) {
  const uint32_t u = __float_as_uint(x);
  const float m = __uint_as_float((u & 0x007fffffu) | 0x3f800000u);
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(m));
  r = fmaf(fmaf(-m, r, 1.0f), r, r);
  const float q0 = __fmul_rn(127.0f, r);
  const float q = fmaf(fmaf(-q0, m, 127.0f), r, q0);
  const uint32_t v = min(__float_as_uint(q) + 0x3f800000u - (u & 0x7f800000u), 0x7f800000u);
  return u - 1u < 0x7f7fffffu ? __uint_as_float(v) : 0.0f;
}
// x / 127 correctly rounded for every finite x >= 0 (subnormals too; checked exhaustively on the
// CPU against x / 127.0f): q0 = x * RN(1/127), the remainder x - 127 q0 exact by an FMA, one
// correction step. Three instructions instead of the division's ~12 and its slow-path branch.
static __device__ __forceinline__ float sage_bwd_div127(float x) {
  const float y = 1.0f / 127.0f, q0 = __fmul_rn(x, y);
  return fmaf(fmaf(-q0, 127.0f, x), y, q0);
}

// sage_bwd_inv127 against the IEEE division on all 2^32 inputs (bit patterns): mismatches counted,
// the smallest mismatching pattern kept (0xffffffff where none)
static __global__ void __launch_bounds__(256) sage_bwd_inv127_check_kernel(unsigned long long *bad, unsigned int *first) {
  unsigned long long n = 0;
  unsigned int f = 0xffffffffu;
  for (uint64_t i = (uint64_t)blockIdx.x * 256 + threadIdx.x; i < (1ull << 32); i += (uint64_t)gridDim.x * 256) {
    const uint32_t u = (uint32_t)i;
    const float x = __uint_as_float(u), ref = x > 0.0f ? __fdiv_rn(127.0f, x) : 0.0f;
    if (__float_as_uint(sage_bwd_inv127(x)) != __float_as_uint(ref)) n++, f = min(f, u);
  }
  if (n) atomicAdd(bad, n), atomicMin(first, f);
}

extern "C" cudaError_t vdit_attn_sage_cuda_inv127_check(unsigned long long *mismatches, unsigned int *first_bad) {
  unsigned long long *d_bad = NULL;
  unsigned int *d_first = NULL;
  cudaError_t err = cudaMalloc((void **)&d_bad, sizeof *d_bad);
  if (err == cudaSuccess) err = cudaMalloc((void **)&d_first, sizeof *d_first);
  if (err == cudaSuccess) err = cudaMemset(d_bad, 0, sizeof *d_bad);
  if (err == cudaSuccess) err = cudaMemset(d_first, 0xff, sizeof *d_first);
  if (err == cudaSuccess) {
    sage_bwd_inv127_check_kernel<<<132 * 16, 256>>>(d_bad, d_first);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(mismatches, d_bad, sizeof *d_bad, cudaMemcpyDeviceToHost);
  if (err == cudaSuccess) err = cudaMemcpy(first_bad, d_first, sizeof *d_first, cudaMemcpyDeviceToHost);
  cudaFree(d_bad);
  cudaFree(d_first);
  return err;
}

// ROWS rows of an 8-bit matrix (pitch bytes apart) into a 128B-swizzled [ROWS][128] tile.
template <int ROWS, int NT>
static __device__ __forceinline__ void load_b8(uint8_t *tile, const int8_t *g, int64_t pitch) {
  static_assert(ROWS * 8 % NT == 0, "tile chunks must divide evenly among threads");
#pragma unroll
  for (int it = 0; it < ROWS * 8 / NT; it++) {
    const int idx = it * NT + (int)threadIdx.x;
    const int r = idx >> 3, c = idx & 7;
    cp_async16(smem_u32(tile + r * 128 + ((c ^ (r & 7)) << 4)), g + (int64_t)r * pitch + c * 16, true);
  }
}

// ---------------------------------------------------------------- preparation kernels
template <typename T>
static __global__ void __launch_bounds__(256) sage_bwd_ksum_kernel(const vdit_attn_cuda_params p, float *ksum, int chunk) {
  typedef attn_dtype_traits<T> tt;
  const int b = blockIdx.z, h = blockIdx.y, tid = threadIdx.x;
  const int n = attn_key_len(p, b);
  const int j0 = blockIdx.x * chunk, j1 = min(j0 + chunk, n);
  const int d = tid % SAGE_D, phase = tid / SAGE_D;
  const T *kg = reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  float s = 0.0f;
  for (int j = j0 + phase; j < j1; j += 2) s += tt::to_float(kg[(int64_t)j * p.k_ss + d]);
  __shared__ float ss[256];
  ss[tid] = s;
  __syncthreads();
  if (tid < SAGE_D && j0 < j1) atomicAdd(ksum + ((int64_t)b * p.H + h) * SAGE_D + d, ss[tid] + ss[tid + SAGE_D]);
}

// INT8 codes of one token's 64 channels (scale > 0, else 0), four per word.
static __device__ __forceinline__ void sage_bwd_codes64(const float *x, float scale, uint32_t out[16]) {
#pragma unroll
  for (int k = 0; k < 16; k++) out[k] = sage_pack_i8x4(x + 4 * k, scale);
}

// One 128-key block per CTA: thread 2r + hf handles channels 64 hf.. of key r.
template <typename T>
static __global__ void __launch_bounds__(256) sage_bwd_quant_k_kernel(const vdit_attn_cuda_params p, const sage_bwd_ws w) {
  typedef attn_dtype_traits<T> tt;
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, tid = threadIdx.x;
  const int r = tid >> 1, hf = tid & 1, j0 = blockIdx.x * 128, tok = j0 + r;
  const int n = attn_key_len(p, b);
  const float *ksum = w.ksum + (int64_t)bh * SAGE_D;
  const T *kg = reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  float x[64], amax = 0.0f;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    union {
      uint4 u;
      T e[8];
    } chunk;
    chunk.u = make_uint4(0, 0, 0, 0);
    if (tok < p.Sk) chunk.u = *reinterpret_cast<const uint4 *>(kg + (int64_t)tok * p.k_ss + hf * 64 + c * 8);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const int d = hf * 64 + c * 8 + e;
      const float mu = n > 0 ? __fdiv_rn(ksum[d], (float)n) : 0.0f;
      x[c * 8 + e] = tok < p.Sk ? __fsub_rn(tt::to_float(chunk.e[e]), mu) : 0.0f;
      amax = fmaxf(amax, fabsf(x[c * 8 + e]));
    }
  }
  __shared__ float red[8];
  __shared__ __align__(16) uint8_t tile[SAGE_D][128 + 16];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if ((tid & 31) == 0) red[tid >> 5] = amax;
  __syncthreads();
  float m = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; i++) m = fmaxf(m, red[i]);
  const float scale = __fdiv_rn(m, 127.0f);
  if (tid == 0) w.ks[(int64_t)bh * (w.sk_pad / 128) + blockIdx.x] = scale;
  uint32_t codes[16];
  sage_bwd_codes64(x, scale, codes);
  int8_t *rows = w.k8 + ((int64_t)bh * w.sk_pad + tok) * SAGE_D + hf * 64;
#pragma unroll
  for (int c = 0; c < 4; c++)
    *reinterpret_cast<uint4 *>(rows + c * 16) = make_uint4(codes[4 * c], codes[4 * c + 1], codes[4 * c + 2], codes[4 * c + 3]);
  const int pos = sage_bwd_key_position(r);
#pragma unroll
  for (int k = 0; k < 16; k++)
#pragma unroll
    for (int e = 0; e < 4; e++) tile[hf * 64 + 4 * k + e][pos] = (uint8_t)(codes[k] >> (8 * e));
  __syncthreads();
  int8_t *cols = w.kt8 + (int64_t)bh * SAGE_D * w.sk_pad + j0;
#pragma unroll
  for (int it = 0; it < 4; it++) {
    const int idx = it * 256 + tid, d = idx >> 3, c = idx & 7;
    *reinterpret_cast<uint4 *>(cols + (int64_t)d * w.sk_pad + c * 16) = *reinterpret_cast<const uint4 *>(&tile[d][c * 16]);
  }
}

// One 128-query chunk per CTA (two 64-query scale blocks): thread 2r + hf handles channels
// 64 hf.. of query r. Q codes as rows and transposed, dO codes transposed, l2 and Delta.
// The layouts are the main kernel's stage tiles, each one contiguous piece that a bulk copy moves
// into shared memory as it is: Q code rows with the 16-byte chunks 128B-swizzled (chunk c of row i
// at c ^ (i % 8)); the transposed codes per 128-query chunk [chunk][d][128 B], swizzled by d;
// and dO copied into do16 as the 64-row tiles the dense loader builds (two 64-channel halves).
template <typename T>
static __global__ void __launch_bounds__(256) sage_bwd_quant_q_kernel(const vdit_attn_cuda_params p, const sage_bwd_ws w) {
  typedef attn_dtype_traits<T> tt;
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, tid = threadIdx.x;
  const int r = tid >> 1, hf = tid & 1, i0 = blockIdx.x * 128, tok = i0 + r;
  const int n = attn_key_len(p, b);
  const float *ksum = w.ksum + (int64_t)bh * SAGE_D;
  const T *qg = reinterpret_cast<const T *>(p.q) + b * p.q_sb + h * p.q_sh;
  const T *dog = reinterpret_cast<const T *>(p.d_o) + b * p.do_sb + h * p.do_sh;
  const T *og = reinterpret_cast<const T *>(p.o) + b * p.o_sb + h * p.o_sh;
  float xq[64], xd[64], aq = 0.0f, ad = 0.0f, qmu = 0.0f, delta = 0.0f;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    union {
      uint4 u;
      T e[8];
    } cq, cd, co;
    cq.u = cd.u = co.u = make_uint4(0, 0, 0, 0);
    if (tok < p.Sq) {
      cq.u = *reinterpret_cast<const uint4 *>(qg + (int64_t)tok * p.q_ss + hf * 64 + c * 8);
      cd.u = *reinterpret_cast<const uint4 *>(dog + (int64_t)tok * p.do_ss + hf * 64 + c * 8);
      co.u = *reinterpret_cast<const uint4 *>(og + (int64_t)tok * p.o_ss + hf * 64 + c * 8);
    }
    { // rows past Sq are zeros, as the dense loader's
      const int tile = tok >> 6, rt = tok & 63;
      *reinterpret_cast<uint4 *>(w.do16 + (((int64_t)bh * (w.sq_pad / 64) + tile) * 2 + hf) * 8192 + rt * 128 + ((c ^ (rt & 7)) << 4)) = cd.u;
    }
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const int d = hf * 64 + c * 8 + e;
      const float mu = n > 0 ? __fdiv_rn(ksum[d], (float)n) : 0.0f;
      const float q = tt::to_float(cq.e[e]), dov = tt::to_float(cd.e[e]);
      xq[c * 8 + e] = q;
      xd[c * 8 + e] = dov;
      aq = fmaxf(aq, fabsf(q));
      ad = fmaxf(ad, fabsf(dov));
      qmu = fmaf(q, mu, qmu);
      delta = fmaf(dov, tt::to_float(co.e[e]), delta);
    }
  }
  // per 64-query block maxima: warps 0-3 hold queries 0..63 of the chunk, warps 4-7 64..127
  __shared__ float red[2][8];
  __shared__ __align__(16) uint8_t tile[2][SAGE_D][128 + 16];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    aq = fmaxf(aq, __shfl_xor_sync(0xffffffffu, aq, o));
    ad = fmaxf(ad, __shfl_xor_sync(0xffffffffu, ad, o));
  }
  qmu += __shfl_xor_sync(0xffffffffu, qmu, 1);
  delta += __shfl_xor_sync(0xffffffffu, delta, 1);
  if ((tid & 31) == 0) red[0][tid >> 5] = aq, red[1][tid >> 5] = ad;
  if (hf == 0 && tok < p.Sq) {
    const float lse = p.lse[(int64_t)bh * p.Sq + tok];
    w.l2[(int64_t)bh * w.sq_pad + tok] = __fmul_rn(__fsub_rn(lse, __fmul_rn(p.scale, qmu)), SAGE_LOG2E);
    w.delta[(int64_t)bh * w.sq_pad + tok] = delta;
  } else if (hf == 0) { // padding rows: the main kernel copies whole 64-query tiles
    w.l2[(int64_t)bh * w.sq_pad + tok] = 0.0f;
    w.delta[(int64_t)bh * w.sq_pad + tok] = 0.0f;
  }
  __syncthreads();
  const int blk = r >> 6, wb = blk * 4;
  const float mq = fmaxf(fmaxf(red[0][wb], red[0][wb + 1]), fmaxf(red[0][wb + 2], red[0][wb + 3]));
  const float md = fmaxf(fmaxf(red[1][wb], red[1][wb + 1]), fmaxf(red[1][wb + 2], red[1][wb + 3]));
  const float sq = __fdiv_rn(mq, 127.0f), sd = __fdiv_rn(md, 127.0f);
  if ((tid & 127) == 0) {
    w.qs[(int64_t)bh * (w.sq_pad / 64) + blockIdx.x * 2 + blk] = sq;
    w.dos[(int64_t)bh * (w.sq_pad / 64) + blockIdx.x * 2 + blk] = sd;
  }
  uint32_t codes[16];
  const int pos = sage_fragment_position(r);
  sage_bwd_codes64(xq, sq, codes);
  int8_t *rows = w.q8 + ((int64_t)bh * w.sq_pad + tok) * SAGE_D;
#pragma unroll
  for (int c = 0; c < 4; c++) {
    const int at = (hf * 4 + c) ^ (tok & 7);
    *reinterpret_cast<uint4 *>(rows + at * 16) = make_uint4(codes[4 * c], codes[4 * c + 1], codes[4 * c + 2], codes[4 * c + 3]);
  }
#pragma unroll
  for (int k = 0; k < 16; k++)
#pragma unroll
    for (int e = 0; e < 4; e++) tile[0][hf * 64 + 4 * k + e][pos] = (uint8_t)(codes[k] >> (8 * e));
  sage_bwd_codes64(xd, sd, codes);
#pragma unroll
  for (int k = 0; k < 16; k++)
#pragma unroll
    for (int e = 0; e < 4; e++) tile[1][hf * 64 + 4 * k + e][pos] = (uint8_t)(codes[k] >> (8 * e));
  __syncthreads();
  int8_t *qcols = w.qt8 + (int64_t)bh * SAGE_D * w.sq_pad + (int64_t)i0 * SAGE_D;
  int8_t *dcols = w.dot8 + (int64_t)bh * SAGE_D * w.sq_pad + (int64_t)i0 * SAGE_D;
#pragma unroll
  for (int it = 0; it < 4; it++) {
    const int idx = it * 256 + tid, d = idx >> 3, c = idx & 7;
    const int at = d * 128 + ((c ^ (d & 7)) << 4);
    *reinterpret_cast<uint4 *>(qcols + at) = *reinterpret_cast<const uint4 *>(&tile[0][d][c * 16]);
    *reinterpret_cast<uint4 *>(dcols + at) = *reinterpret_cast<const uint4 *>(&tile[1][d][c * 16]);
  }
}

// The stage loads: one thread, six bulk copies (the tiles are contiguous and already swizzled
// in the workspace, see sage_bwd_quant_q_kernel) completing on mbarrier bar.
// The stage's key limits are written by the issuing warp's lanes before lane 0 arrives.
#define SAGE_BWD_STAGE_BYTES (8192 + 3 * 16384 + 2 * SAGE_BM * 4)
static __device__ __forceinline__ void sage_bwd_bulk_g2s(uint32_t dst, const void *src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}
static __device__ __forceinline__ void sage_bwd_issue(uint8_t *st, float *l2s, float *deltas, uint32_t bar,
                                                            const int8_t *q8, const int8_t *qt8, const int8_t *dot8,
                                                            const uint8_t *do16, const float *l2g, const float *delta_g, int qt) {
  tma_mbar_expect_tx(bar, SAGE_BWD_STAGE_BYTES);
  sage_bwd_bulk_g2s(smem_u32(st), q8 + (int64_t)qt * 8192, 8192, bar);
  sage_bwd_bulk_g2s(smem_u32(st + 8192), do16 + (int64_t)qt * 16384, 16384, bar);
  sage_bwd_bulk_g2s(smem_u32(st + 8192 + 16384), qt8 + (int64_t)(qt >> 1) * 16384, 16384, bar);
  sage_bwd_bulk_g2s(smem_u32(st + 8192 + 2 * 16384), dot8 + (int64_t)(qt >> 1) * 16384, 16384, bar);
  sage_bwd_bulk_g2s(smem_u32(l2s), l2g + qt * SAGE_BM, SAGE_BM * 4, bar);
  sage_bwd_bulk_g2s(smem_u32(deltas), delta_g + qt * SAGE_BM, SAGE_BM * 4, bar);
}

// P^T and dS^T of one thread's 32 elements (element 4n + 2r + e: key key0 + 8r, query 8n + 2t + e)
// and the per-key maxima; MASK: keys at or past the query's limit get P = 0.
template <bool MASK>
static __device__ __forceinline__ void sage_bwd_softmax(const int32_t sacc[32], float dp[32], float pr[32], float amp[2], float amd[2],
                                                        const float *l2_b, const float *delta_b, const int *lim_b, float c,
                                                        int key0, int t) {
#pragma unroll
  for (int n = 0; n < 8; n++) {
    const float2 l2p = *reinterpret_cast<const float2 *>(l2_b + n * 8 + 2 * t);
    const float2 dlp = *reinterpret_cast<const float2 *>(delta_b + n * 8 + 2 * t);
    int2 limp = make_int2(0, 0);
    if (MASK) limp = *reinterpret_cast<const int2 *>(lim_b + n * 8 + 2 * t);
#pragma unroll
    for (int e = 0; e < 2; e++) {
      const float l2 = e ? l2p.y : l2p.x, dl = e ? dlp.y : dlp.x;
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int i = 4 * n + 2 * r + e;
        float pv = sage_bwd_ex2(fmaf(sage_bwd_i2f(sacc[i]), c, -l2));
        if (MASK && key0 + 8 * r >= (e ? limp.y : limp.x)) pv = 0.0f;
        const float ds = __fmul_rn(pv, __fsub_rn(dp[i], dl));
        pr[i] = pv;
        dp[i] = ds;
        amp[r] = fmaxf(amp[r], pv);
        amd[r] = fmaxf(amd[r], fabsf(ds));
      }
    }
  }
}


// ---------------------------------------------------------------- main kernel
// Shared memory (1024-byte aligned pieces):
//   sK8 [128 keys][128 B], sKt8 [128 d][128 keys, key positions], sV [2][128][64] T,
//   2 stages of { sQ8 [64][128 B], sdO [2][64][64] T, sQt8 [128 d][128 queries], sdOt8 the same }
//   (the transposed tiles hold the 128-query chunk of the tile; the tile is its half qt % 2),
//   sdS8 [64 queries][128 keys, key positions], sdQ [2 warpgroups][2 boxes][64][32] fp32, then
//   l2, Delta, limits of both stages, the tile maxima of the 8 warps and three mbarriers (two stages
//   full, dS codes written).
static constexpr size_t SAGE_BWD_SMEM = 2 * 16384 + 32768 + 2 * (8192 + 16384 + 16384 + 16384) + 8192 +
                                        (size_t)SAGE_BM * SAGE_D * 4 + 3 * 2 * SAGE_BM * 4 + 8 * 4 + 24 + 1024;

// ATOMIC_DQ: dQ tiles added by float2 atomics; else by per-warpgroup bulk tensor reductions (tdq:
// 64 x 32-float boxes of the fp32 accumulator, 128B swizzle)
template <typename T, bool ATOMIC_DQ>
static __global__ void __launch_bounds__(256, 1) sage_backward_kernel(const vdit_attn_cuda_params p, const sage_bwd_ws w,
                                                                      float sl2, const __grid_constant__ CUtensorMap tdq) {
  constexpr int BM = SAGE_BM, BN = SAGE_BN, D = SAGE_D, NT = 256;
  constexpr int STAGE = 8192 + 16384 + 16384 + 16384;
  typedef attn_dtype_traits<T> tt;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t pad = (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u;
  uint8_t *sK8 = smem_raw + pad;
  uint8_t *sKt8 = sK8 + 16384;
  T *sV = reinterpret_cast<T *>(sKt8 + 16384);
  uint8_t *sStage = reinterpret_cast<uint8_t *>(sV) + 32768; // + s * STAGE: sQ8, sdO, sQt8, sdOt8
  uint8_t *sdS8 = sStage + 2 * STAGE;
  float *sdQ = reinterpret_cast<float *>(sdS8 + 8192);
  float *sL2 = sdQ + BM * D;
  float *sDelta = sL2 + 2 * BM;
  int *sLim = reinterpret_cast<int *>(sDelta + 2 * BM);
  float *sRed = reinterpret_cast<float *>(sLim + 2 * BM);
  // 3 mbarriers, 8 bytes each: stage 0 full, stage 1 full, the tile's dS codes written (256 arrivals)
  const uint32_t bar_full = smem_u32(sRed + 8);

  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, kb = blockIdx.x;
  const int n0 = kb * BN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  // broadcast from lane 0, so that ptxas knows the value is the warp's: the shared-memory
  // descriptors built from it stay on the uniform datapath (no per-wgmma R2UR)
  const int wg = __shfl_sync(0xffffffffu, warp >> 2, 0);
  const int w4 = warp & 3, g = lane >> 2, t = lane & 3;
  const int8_t *q8 = w.q8 + (int64_t)bh * w.sq_pad * D;
  const int8_t *qt8 = w.qt8 + (int64_t)bh * D * w.sq_pad;
  const int8_t *dot8 = w.dot8 + (int64_t)bh * D * w.sq_pad;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  const float *l2g = w.l2 + (int64_t)bh * w.sq_pad, *delta_g = w.delta + (int64_t)bh * w.sq_pad;
  const float *qs = w.qs + (int64_t)bh * (w.sq_pad / 64), *dos = w.dos + (int64_t)bh * (w.sq_pad / 64);
  const float ks = w.ks[(int64_t)bh * (w.sk_pad / 128) + kb];
  float *dq_g = w.dq + (int64_t)bh * w.sq_pad * D;

  const int key_len = attn_key_len(p, b);
  const int nqt = (p.Sq + BM - 1) / BM;
  int lo = 0, hi = nqt;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (attn_key_limit(p, key_len, min(mid * BM + BM, p.Sq) - 1) > n0) hi = mid;
    else lo = mid + 1;
  }
  const int qt0 = lo;
  // the query tiles to visit (block-sparse walk): with the transposed block map
  // (p.mapt_offsets: per 128-key block, the ascending 128-query blocks that compute it) step e
  // is 64-query tile 2 list[e / 2] + e % 2, else tile qt0 + e; tiles past the last are dropped
  const int32_t *list = nullptr;
  int count = nqt - qt0;
  if (p.mapt_offsets) {
    const int row = bh * p.mapt_rows + kb;
    const int begin = p.mapt_offsets[row];
    list = p.mapt_index + begin;
    count = 2 * (p.mapt_offsets[row + 1] - begin);
    while (count > 0 && 2 * list[(count - 1) / 2] + (count - 1) % 2 >= nqt) count--;
  }
  count = __shfl_sync(0xffffffffu, count, 0);
#define SAGE_QTILE(e) (list ? 2 * list[(e) / 2] + (e) % 2 : qt0 + (e))

  float dk[64], dv[64];
#pragma unroll
  for (int i = 0; i < 64; i++) dk[i] = dv[i] = 0.0f;

  const uint8_t *do16 = w.do16 + (int64_t)bh * w.sq_pad * D * 2;
  // K', K'^T, V by cp.async (once); stage 0 by the bulk copies once the barriers are set up
  if (tid == 0) {
    tma_mbar_init(bar_full, 1);
    tma_mbar_init(bar_full + 8, 1);
    tma_mbar_init(bar_full + 16, NT); // the tile's dS codes written (every thread arrives)
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  if (count > 0) {
    load_b8<BN, NT>(sK8, w.k8 + ((int64_t)bh * w.sk_pad + n0) * D, D);
    load_b8<D, NT>(sKt8, w.kt8 + (int64_t)bh * D * w.sk_pad + n0, w.sk_pad);
    load_tile_gmma<T, BN, D, NT>(sV, vg, p.v_ss, n0, p.Sk);
    cp_async_commit();
    if (tid < BM) {
      const int row = SAGE_QTILE(0) * BM + tid;
      sLim[tid] = row < p.Sq ? attn_key_limit(p, key_len, row) : 0;
    }
  }
  __syncthreads();
  if (count > 0 && tid == 0)
    sage_bwd_issue(sStage, sL2, sDelta, bar_full, q8, qt8, dot8, do16, l2g, delta_g, SAGE_QTILE(0));
  cp_async_wait<0>();
  fence_proxy_async();
  __syncthreads();

  const uint32_t k_addr = smem_u32(sK8) + wg * 64 * 128, kt_addr = smem_u32(sKt8) + wg * 64 * 128;
  const uint32_t v_addr = smem_u32(sV), ds_addr = smem_u32(sdS8);
  const int key_local0 = wg * 64 + w4 * 16 + g; // this thread's keys (local): +0 and +8
  for (int it = 0; it < count; it++) {
    const int qt = __shfl_sync(0xffffffffu, SAGE_QTILE(it), 0), buf = it & 1;
    tma_mbar_wait(bar_full + 8 * buf, (it >> 1) & 1);
    const int m0 = qt * BM;
    const bool need_mask = attn_key_limit(p, key_len, m0) < n0 + BN || m0 + BM > p.Sq;
    const uint8_t *st = sStage + buf * STAGE;
    const uint32_t q_addr = smem_u32(st), do_addr = smem_u32(st + 8192);
    const uint32_t qt_addr = smem_u32(st + 8192 + 16384) + (qt & 1) * 64;
    const uint32_t dot_addr = smem_u32(st + 8192 + 2 * 16384) + (qt & 1) * 64;
    const float *l2_b = sL2 + buf * BM, *delta_b = sDelta + buf * BM;
    const int *lim_b = sLim + buf * BM;

    // S^T (int32) and dP^T (fp32), 64 keys x 64 queries per warpgroup, in flight together
    int32_t sacc[32];
    float dp[32];
#pragma unroll
    for (int i = 0; i < 32; i++) {
      sacc[i] = 0;
      dp[i] = 0.0f;
      reg_fence(sacc[i]);
      reg_fence(dp[i]);
    }
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 32; kk++)
      wgmma_ss_n64_s8(sacc, gmma_desc(k_addr + kk * 32, 16, 1024), gmma_desc(q_addr + kk * 32, 16, 1024), kk > 0);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      const uint32_t koff = (kk >> 2) * BN * 128 + wg * 64 * 128 + (kk & 3) * 32;
      const uint32_t qoff = (kk >> 2) * BM * 128 + (kk & 3) * 32;
      wg_ss_n64<T>(dp, gmma_desc(v_addr + koff, 16, 1024), gmma_desc(do_addr + qoff, 16, 1024), kk > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 32; i++) {
      reg_fence(sacc[i]);
      reg_fence(dp[i]);
    }

    // P^T and dS^T; element 4n + 2r + e: key key_local0 + 8r, query 8n + 2t + e
    const float qsc = qs[qt];
    const float c = __fmul_rn(__fmul_rn(qsc, sl2), ks);
    float pr[32], amp[2] = {0.0f, 0.0f}, amd[2] = {0.0f, 0.0f};
    // the key limits only on tiles that need them (a warp-uniform branch; unmasked tiles skip
    // 16 loads, 32 compares and 32 selects), l2 and Delta of the pair 2t, 2t + 1 by 8-byte loads
    if (need_mask) sage_bwd_softmax<true>(sacc, dp, pr, amp, amd, l2_b, delta_b, lim_b, c, n0 + key_local0, t);
    else sage_bwd_softmax<false>(sacc, dp, pr, amp, amd, l2_b, delta_b, lim_b, c, n0 + key_local0, t);
#pragma unroll
    for (int r = 0; r < 2; r++) {
      amp[r] = fmaxf(amp[r], __shfl_xor_sync(0xffffffffu, amp[r], 1));
      amp[r] = fmaxf(amp[r], __shfl_xor_sync(0xffffffffu, amp[r], 2));
      amd[r] = fmaxf(amd[r], __shfl_xor_sync(0xffffffffu, amd[r], 1));
      amd[r] = fmaxf(amd[r], __shfl_xor_sync(0xffffffffu, amd[r], 2));
    }
    {
      float tm = fmaxf(amd[0], amd[1]);
      tm = fmaxf(tm, __shfl_xor_sync(0xffffffffu, tm, 4));
      tm = fmaxf(tm, __shfl_xor_sync(0xffffffffu, tm, 8));
      tm = fmaxf(tm, __shfl_xor_sync(0xffffffffu, tm, 16));
      if (lane == 0) sRed[warp] = tm;
    }
    // codes of P^T and dS^T in the A fragment order (k step kq: queries 32kq.., stored order)
    uint32_t pa[2][4], dsa[2][4];
    {
      const float ip0 = sage_bwd_inv127(amp[0]), ip1 = sage_bwd_inv127(amp[1]);
      const float id0 = sage_bwd_inv127(amd[0]), id1 = sage_bwd_inv127(amd[1]);
#pragma unroll
      for (int kq = 0; kq < 2; kq++) {
        const int n = 16 * kq;
        pa[kq][0] = sage_bwd_pack4(sage_bwd_code(pr[n + 0], ip0), sage_bwd_code(pr[n + 1], ip0),
                                   sage_bwd_code(pr[n + 4], ip0), sage_bwd_code(pr[n + 5], ip0));
        pa[kq][1] = sage_bwd_pack4(sage_bwd_code(pr[n + 2], ip1), sage_bwd_code(pr[n + 3], ip1),
                                   sage_bwd_code(pr[n + 6], ip1), sage_bwd_code(pr[n + 7], ip1));
        pa[kq][2] = sage_bwd_pack4(sage_bwd_code(pr[n + 8], ip0), sage_bwd_code(pr[n + 9], ip0),
                                   sage_bwd_code(pr[n + 12], ip0), sage_bwd_code(pr[n + 13], ip0));
        pa[kq][3] = sage_bwd_pack4(sage_bwd_code(pr[n + 10], ip1), sage_bwd_code(pr[n + 11], ip1),
                                   sage_bwd_code(pr[n + 14], ip1), sage_bwd_code(pr[n + 15], ip1));
        dsa[kq][0] = sage_bwd_pack4(sage_bwd_code(dp[n + 0], id0), sage_bwd_code(dp[n + 1], id0),
                                    sage_bwd_code(dp[n + 4], id0), sage_bwd_code(dp[n + 5], id0));
        dsa[kq][1] = sage_bwd_pack4(sage_bwd_code(dp[n + 2], id1), sage_bwd_code(dp[n + 3], id1),
                                    sage_bwd_code(dp[n + 6], id1), sage_bwd_code(dp[n + 7], id1));
        dsa[kq][2] = sage_bwd_pack4(sage_bwd_code(dp[n + 8], id0), sage_bwd_code(dp[n + 9], id0),
                                    sage_bwd_code(dp[n + 12], id0), sage_bwd_code(dp[n + 13], id0));
        dsa[kq][3] = sage_bwd_pack4(sage_bwd_code(dp[n + 10], id1), sage_bwd_code(dp[n + 11], id1),
                                    sage_bwd_code(dp[n + 14], id1), sage_bwd_code(dp[n + 15], id1));
      }
    }
    const float dosc = dos[qt];
    const float cv0 = __fmul_rn(sage_bwd_div127(amp[0]), dosc), cv1 = __fmul_rn(sage_bwd_div127(amp[1]), dosc);
    const float ck0 = __fmul_rn(sage_bwd_div127(amd[0]), qsc), ck1 = __fmul_rn(sage_bwd_div127(amd[1]), qsc);

    __syncthreads(); // the 8 warps' tile maxima; the previous tile's dQ GEMM has read sdS8
    if (warp == 0 && it + 1 < count) {
      // every thread is done with the previous tile, so with the other stage: the next tile's
      // key limits, then its bulk copies
      const int nq = SAGE_QTILE(it + 1);
      int *lim_n = sLim + (buf ^ 1) * BM;
      // only a tile that needs the mask reads them (the test is the loop's need_mask)
      if (attn_key_limit(p, key_len, nq * BM) < n0 + BN || nq * BM + BM > p.Sq) {
#pragma unroll
        for (int r = 0; r < BM / 32; r++) {
          const int row = nq * BM + 32 * r + lane;
          lim_n[32 * r + lane] = row < p.Sq ? attn_key_limit(p, key_len, row) : 0;
        }
      }
      __syncwarp();
      if (lane == 0)
        sage_bwd_issue(sStage + (buf ^ 1) * STAGE, sL2 + (buf ^ 1) * BM, sDelta + (buf ^ 1) * BM, bar_full + 8 * (buf ^ 1),
                             q8, qt8, dot8, do16, l2g, delta_g, nq);
    }
    float atile = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++) atile = fmaxf(atile, sRed[i]);
    const float itile = sage_bwd_inv127(atile);
    const float cq = __fmul_rn(sage_bwd_div127(atile), ks);
    // dS codes to shared memory: row = query, keys at their stored positions (2g + r within
    // the warp's 16), one 16-bit store per (query, key pair), 128B swizzle
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int q = n * 8 + 2 * t + e;
        const uint32_t lo8 = sage_bwd_code(dp[4 * n + e], itile) & 0xFFu;
        const uint32_t hi8 = sage_bwd_code(dp[4 * n + 2 + e], itile) & 0xFFu;
        const int chunk = wg * 4 + w4;
        *reinterpret_cast<uint16_t *>(sdS8 + q * 128 + ((chunk ^ (q & 7)) << 4) + 2 * g) = (uint16_t)(lo8 | (hi8 << 8));
      }
    fence_proxy_async();
    // the codes are in: arrive now, wait only before dQ's product (run 23's profile: with a block barrier
    // after dK's issue instead, the first dQ wgmma held 6.6% of the stall samples)
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar_full + 16) : "memory");

    {
      // dV and dK tiles in head-dim halves (N = 64, 32 int32 registers each): one half's
      // dequantization runs while the tensor cores work on the next half
      int32_t ha[32], hb[32];
#pragma unroll
      for (int i = 0; i < 32; i++) {
        ha[i] = hb[i] = 0;
        reg_fence(ha[i]);
        reg_fence(hb[i]);
      }
#pragma unroll
      for (int kq = 0; kq < 2; kq++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          reg_fence(pa[kq][e]);
          reg_fence(dsa[kq][e]);
        }
      wgmma_fence();
#pragma unroll
      for (int kq = 0; kq < 2; kq++) wgmma_rs_n64_s8(ha, pa[kq], gmma_desc(dot_addr + kq * 32, 16, 1024), kq > 0);
      wgmma_commit();
#pragma unroll
      for (int kq = 0; kq < 2; kq++) wgmma_rs_n64_s8(hb, pa[kq], gmma_desc(dot_addr + 64 * 128 + kq * 32, 16, 1024), kq > 0);
      wgmma_commit();
      wgmma_wait<1>(); // dV, channels 0..63
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(ha[i]);
#pragma unroll
      for (int i = 0; i < 32; i++) dv[i] = fmaf(sage_bwd_i2f(ha[i]), (i >> 1) & 1 ? cv1 : cv0, dv[i]);
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(ha[i]);
      wgmma_fence();
#pragma unroll
      for (int kq = 0; kq < 2; kq++) wgmma_rs_n64_s8(ha, dsa[kq], gmma_desc(qt_addr + kq * 32, 16, 1024), kq > 0);
      wgmma_commit();
      wgmma_wait<1>(); // dV, channels 64..127
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(hb[i]);
#pragma unroll
      for (int i = 0; i < 32; i++) dv[32 + i] = fmaf(sage_bwd_i2f(hb[i]), (i >> 1) & 1 ? cv1 : cv0, dv[32 + i]);
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(hb[i]);
      wgmma_fence();
#pragma unroll
      for (int kq = 0; kq < 2; kq++) wgmma_rs_n64_s8(hb, dsa[kq], gmma_desc(qt_addr + 64 * 128 + kq * 32, 16, 1024), kq > 0);
      wgmma_commit();
      wgmma_wait<1>(); // dK, channels 0..63
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(ha[i]);
#pragma unroll
      for (int i = 0; i < 32; i++) dk[i] = fmaf(sage_bwd_i2f(ha[i]), (i >> 1) & 1 ? ck1 : ck0, dk[i]);
      wgmma_wait<0>(); // dK, channels 64..127
#pragma unroll
      for (int i = 0; i < 32; i++) reg_fence(hb[i]);
#pragma unroll
      for (int i = 0; i < 32; i++) dk[32 + i] = fmaf(sage_bwd_i2f(hb[i]), (i >> 1) & 1 ? ck1 : ck0, dk[32 + i]);
    }
    int32_t qacc[32];
#pragma unroll
    for (int i = 0; i < 32; i++) {
      qacc[i] = 0;
      reg_fence(qacc[i]);
    }
    tma_mbar_wait(bar_full + 16, it & 1); // every warp's dS codes of this tile in sdS8 (phase it)
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 32; kk++)
      wgmma_ss_n64_s8(qacc, gmma_desc(ds_addr + kk * 32, 16, 1024), gmma_desc(kt_addr + kk * 32, 16, 1024), kk > 0);
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 32; i++) reg_fence(qacc[i]);
    // element 4n + 2r + e: query w4 * 16 + g + 8r of the tile, channel wg * 64 + 8n + 2t + e
    if (!ATOMIC_DQ) {
      // this warpgroup's 64 queries x 64 channels through sdQ (two 64 x 32-float boxes, 128B
      // swizzle), added by two bulk tensor reductions that one thread issues after the
      // warpgroup's named barrier; element (query q, channel wg * 64 + 8n + 2t + e) of box
      // 2wg + n / 4 at row q, 16-byte chunk (2 (n % 4) + t / 2) ^ (q % 8), byte 8 (t % 2) + 4e
      const bool issuer = w4 == 0 && lane == 0;
      if (issuer) asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); // the previous tile's boxes read
      named_bar_sync(1 + wg, 128);
      uint8_t *boxes = reinterpret_cast<uint8_t *>(sdQ) + wg * 2 * 8192;
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int q = w4 * 16 + g + 8 * r;
#pragma unroll
        for (int n = 0; n < 8; n++)
          *reinterpret_cast<float2 *>(boxes + (n >> 2) * 8192 + q * 128 + (((2 * (n & 3) + (t >> 1)) ^ (q & 7)) << 4) + 8 * (t & 1)) =
              make_float2(__fmul_rn(sage_bwd_i2f(qacc[4 * n + 2 * r]), cq), __fmul_rn(sage_bwd_i2f(qacc[4 * n + 2 * r + 1]), cq));
      }
      fence_proxy_async();
      named_bar_sync(1 + wg, 128);
      if (issuer) {
        const int row = bh * w.sq_pad + m0;
#pragma unroll
        for (int j = 0; j < 2; j++)
          asm volatile("cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
                           (uint64_t)&tdq),
                       "r"(wg * 64 + 32 * j), "r"(row), "r"(smem_u32(boxes + j * 8192))
                       : "memory");
        asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
      }
    } else {
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float *row = dq_g + (int64_t)(m0 + w4 * 16 + g + 8 * r) * D + wg * 64 + 2 * t;
#pragma unroll
        for (int n = 0; n < 8; n++)
          atomicAdd(reinterpret_cast<float2 *>(row + 8 * n),
                    make_float2(__fmul_rn(sage_bwd_i2f(qacc[4 * n + 2 * r]), cq), __fmul_rn(sage_bwd_i2f(qacc[4 * n + 2 * r + 1]), cq)));
      }
    }
  }
  if (!ATOMIC_DQ && w4 == 0 && lane == 0) asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");

  // epilogue: dV (T) and dK' = scale * dK (fp32) of this thread's keys; dK' column sums over
  // keys < n (the mean the finish kernel subtracts)
  T *dvg = reinterpret_cast<T *>(p.dv) + b * p.dv_sb + h * p.dv_sh;
  float *dkw = w.dk + ((int64_t)bh * w.sk_pad + n0) * D;
  float colsum[32];
#pragma unroll
  for (int i = 0; i < 32; i++) colsum[i] = 0.0f;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int kl = key_local0 + 8 * r, key = n0 + kl;
    if (key >= p.Sk) continue;
    T *dv_row = dvg + (int64_t)key * p.dv_ss;
    const bool live = key < key_len;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      const int col = n * 8 + 2 * t;
      const float a = __fmul_rn(dk[4 * n + 2 * r], p.scale), bb = __fmul_rn(dk[4 * n + 2 * r + 1], p.scale);
      *reinterpret_cast<float2 *>(dkw + (int64_t)kl * D + col) = make_float2(a, bb);
      *reinterpret_cast<uint32_t *>(dv_row + col) = tt::pack(dv[4 * n + 2 * r], dv[4 * n + 2 * r + 1]);
      if (live) colsum[2 * n] += a, colsum[2 * n + 1] += bb;
    }
  }
#pragma unroll
  for (int i = 0; i < 32; i++) {
    colsum[i] += __shfl_xor_sync(0xffffffffu, colsum[i], 4);
    colsum[i] += __shfl_xor_sync(0xffffffffu, colsum[i], 8);
    colsum[i] += __shfl_xor_sync(0xffffffffu, colsum[i], 16);
  }
  if (g == 0 && n0 < key_len) {
    float *sums = w.dksum + (int64_t)bh * D;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      atomicAdd(sums + n * 8 + 2 * t, colsum[2 * n]);
      atomicAdd(sums + n * 8 + 2 * t + 1, colsum[2 * n + 1]);
    }
  }
#undef SAGE_QTILE
}

// dQ = scale * dQ_acc; dK = dK' - mean over keys < n (keys < n only), one 8-channel chunk a thread.
template <typename T>
static __global__ void __launch_bounds__(256) sage_bwd_finish_kernel(const vdit_attn_cuda_params p, const sage_bwd_ws w) {
  typedef attn_dtype_traits<T> tt;
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h;
  const int64_t idx = (int64_t)blockIdx.x * 256 + threadIdx.x;
  const int row = (int)(idx / 16), c8 = (int)(idx % 16) * 8;
  if (row < p.Sq) {
    const float *src = w.dq + ((int64_t)bh * w.sq_pad + row) * SAGE_D + c8;
    T *dst = reinterpret_cast<T *>(p.dq) + b * p.dq_sb + h * p.dq_sh + (int64_t)row * p.dq_ss + c8;
    uint32_t out[4];
#pragma unroll
    for (int e = 0; e < 4; e++) out[e] = tt::pack(__fmul_rn(src[2 * e], p.scale), __fmul_rn(src[2 * e + 1], p.scale));
    *reinterpret_cast<uint4 *>(dst) = make_uint4(out[0], out[1], out[2], out[3]);
  }
  if (row < p.Sk) {
    const int n = attn_key_len(p, b);
    const float *src = w.dk + ((int64_t)bh * w.sk_pad + row) * SAGE_D + c8;
    const float *sums = w.dksum + (int64_t)bh * SAGE_D + c8;
    T *dst = reinterpret_cast<T *>(p.dk) + b * p.dk_sb + h * p.dk_sh + (int64_t)row * p.dk_ss + c8;
    float x[8];
#pragma unroll
    for (int e = 0; e < 8; e++) x[e] = row < n ? __fsub_rn(src[e], __fdiv_rn(sums[e], (float)n)) : src[e];
    *reinterpret_cast<uint4 *>(dst) = make_uint4(tt::pack(x[0], x[1]), tt::pack(x[2], x[3]), tt::pack(x[4], x[5]), tt::pack(x[6], x[7]));
  }
}

template <typename T, bool ATOMIC_DQ>
static cudaError_t launch_backward(const vdit_attn_cuda_params *p, const sage_bwd_ws *w, float sl2, const CUtensorMap *tdq,
                                   cudaStream_t stream) {
  const size_t smem = SAGE_BWD_SMEM;
  void (*kernel)(const vdit_attn_cuda_params, const sage_bwd_ws, float, const CUtensorMap) = sage_backward_kernel<T, ATOMIC_DQ>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  dim3 grid((unsigned)(w->sk_pad / 128), (unsigned)p->H, (unsigned)p->B);
  if (grid.x == 0) return cudaSuccess;
  kernel<<<grid, 256, smem, stream>>>(*p, *w, sl2, *tdq);
  return cudaGetLastError();
}

template <typename T>
static cudaError_t sage_backward_all(const vdit_attn_cuda_params *p, const sage_bwd_ws *w, int atomic_dq, cudaStream_t stream) {
  const float sl2 = p->scale * SAGE_LOG2E;
  const int64_t bh = (int64_t)p->B * p->H;
  cudaError_t err = cudaMemsetAsync(w->ksum, 0, (size_t)bh * SAGE_D * sizeof(float), stream);
  if (err == cudaSuccess) err = cudaMemsetAsync(w->dksum, 0, (size_t)bh * SAGE_D * sizeof(float), stream);
  if (err == cudaSuccess) err = cudaMemsetAsync(w->dq, 0, (size_t)bh * w->sq_pad * SAGE_D * sizeof(float), stream);
  if (err != cudaSuccess) return err;
  const int chunk = 512;
  if (p->Sk > 0) {
    dim3 sgrid((unsigned)((p->Sk + chunk - 1) / chunk), (unsigned)p->H, (unsigned)p->B);
    sage_bwd_ksum_kernel<T><<<sgrid, 256, 0, stream>>>(*p, w->ksum, chunk);
    dim3 kgrid((unsigned)(w->sk_pad / 128), (unsigned)p->H, (unsigned)p->B);
    sage_bwd_quant_k_kernel<T><<<kgrid, 256, 0, stream>>>(*p, *w);
  }
  dim3 qgrid((unsigned)(w->sq_pad / 128), (unsigned)p->H, (unsigned)p->B);
  if (p->Sq > 0) sage_bwd_quant_q_kernel<T><<<qgrid, 256, 0, stream>>>(*p, *w);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  CUtensorMap tdq;
  memset(&tdq, 0, sizeof tdq);
  if (!atomic_dq) { // the fp32 dQ accumulator as (bh * Sq_pad, 128) floats in 64 x 32 boxes
    const tma_encode_fn encode = tma_encoder();
    const cuuint64_t dims[2] = {SAGE_D, (cuuint64_t)bh * (cuuint64_t)w->sq_pad};
    const cuuint64_t strides[1] = {SAGE_D * sizeof(float)};
    const cuuint32_t box[2] = {32, SAGE_BM}, elem_strides[2] = {1, 1};
    if (!encode || encode(&tdq, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, w->dq, dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                          CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      atomic_dq = 1; // no encoder in the driver: the atomics
  }
  err = atomic_dq ? launch_backward<T, true>(p, w, sl2, &tdq, stream) : launch_backward<T, false>(p, w, sl2, &tdq, stream);
  if (err != cudaSuccess) return err;
  const int rows = p->Sq > p->Sk ? p->Sq : p->Sk;
  dim3 fgrid((unsigned)((rows * 16 + 255) / 256), (unsigned)p->H, (unsigned)p->B);
  if (rows > 0) sage_bwd_finish_kernel<T><<<fgrid, 256, 0, stream>>>(*p, *w);
  return cudaGetLastError();
}

extern "C" vdit_status vdit_attn_sage_cuda_backward(const vdit_attn_sage_cuda_params *sp, cudaStream_t stream) {
  const vdit_attn_cuda_params *p = &sp->base;
  if (!vdit_attn_sage_cuda_backward_fits(p))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "sage attention backward on CUDA: needs head dim 128, 16-byte aligned tensors and strides in "
                      "multiples of 8 (got D = %d)", p->D);
  if (!sp->workspace || (uintptr_t)sp->workspace % 256)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "sage attention backward on CUDA: workspace missing or not 256-byte aligned");
  if (p->B == 0 || p->H == 0 || (p->Sq == 0 && p->Sk == 0)) return VDIT_OK;
  sage_bwd_ws w;
  sage_bwd_layout(p->B, p->H, p->Sq, p->Sk, sp->workspace, &w);
  if (p->dtype == VDIT_DTYPE_BF16) VDIT_CUDA_TRY(sage_backward_all<__nv_bfloat16>(p, &w, sp->bwd_atomic_dq, stream));
  else VDIT_CUDA_TRY(sage_backward_all<__half>(p, &w, sp->bwd_atomic_dq, stream));
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
