// Sage attention's quantization on CUDA, shared by both forward versions (attn_sage_forward.cu,
// attn_sage_forward_tma.cu): the codes and scales of the contract in src/attn/attn_sage.h, which
// the CPU emulation follows too, written into the forward workspace (attn_sage_cuda.h). Two
// launches after a memset:
//   stats   per (b, h) and channel: sum of K and max |V| over keys < n, in a fixed order
//   codes   one grid of Q blocks, K blocks and (FP8 P V only) V blocks of 128 tokens:
//             Q   int8 codes; Q scale * softmax scale * log2 e per group; scale * (q . mu) per row
//             K   int8 codes of K - mu; K scale per group
//             V   V^T e4m3 codes, per-channel scale amax / 448, keys permuted per 32
// The per-channel divisions (mu = sum / n, v_scale = amax / 448) are made once per CTA, not per
// element; the stats read 16-byte chunks. Head dim 128.
#include "attn/attn_sage.h"
#include "attn/cuda/attn_sage_cuda.h"
#include "attn/cuda/attn_sage_wgmma.cuh"
#include "attn/cuda/attn_wgmma_tiles.cuh"

// Eight consecutive 16-bit elements at src (16-byte aligned) as floats; zeros when !valid.
template <typename T> static __device__ __forceinline__ void sage_load8(const T *src, bool valid, float out[8]) {
  union {
    uint4 u;
    T e[8];
  } chunk;
  chunk.u = valid ? *reinterpret_cast<const uint4 *>(src) : make_uint4(0, 0, 0, 0);
#pragma unroll
  for (int e = 0; e < 8; e++) out[e] = attn_dtype_traits<T>::to_float(chunk.e[e]);
}

// Sum of K and max |V| per (b, h) and channel over keys < n: one CTA per 256 keys (chunk c);
// thread (rg, cc) = (tid / 16, tid % 16) reads channels 8cc..8cc+7 of keys j0 + rg, j0 + rg + 16,
// ... The chunk's K sums go to partial[(bh * chunks + c) * 128 + d] and sage_stats_finish adds
// them in chunk order (fp32 atomics would add them in arrival order: K's mean, and with it the
// codes and the LSE, would change from run to run); the V maxima are order-free (atomicMax on
// the non-negative floats' bits).
template <typename T>
static __global__ void __launch_bounds__(256) sage_stats_kernel(const vdit_attn_cuda_params p, float *kstat, float *partial) {
  const int b = blockIdx.z, h = blockIdx.y, tid = threadIdx.x, rg = tid >> 4, cc = tid & 15;
  const int n = attn_key_len(p, b), j0 = blockIdx.x * 256, j1 = min(j0 + 256, n);
  if (j0 >= j1) return; // the whole CTA: the barrier below is not reached by anyone
  const T *kg = reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh + cc * 8;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh + cc * 8;
  float s[8], a[8];
#pragma unroll
  for (int e = 0; e < 8; e++) s[e] = a[e] = 0.0f;
  for (int j = j0 + rg; j < j1; j += 16) {
    float kf[8], vf[8];
    sage_load8(kg + (int64_t)j * p.k_ss, true, kf);
    sage_load8(vg + (int64_t)j * p.v_ss, true, vf);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      s[e] += kf[e];
      a[e] = fmaxf(a[e], fabsf(vf[e]));
    }
  }
  __shared__ float ss[16][128], sa[16][128];
#pragma unroll
  for (int e = 0; e < 8; e++) ss[rg][cc * 8 + e] = s[e], sa[rg][cc * 8 + e] = a[e];
  __syncthreads();
  float *st = kstat + ((int64_t)b * p.H + h) * 2 * 128;
  const int d = tid & 127;
  if (tid < 128) {
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < 16; r++) sum += ss[r][d];
    partial[(((int64_t)b * p.H + h) * gridDim.x + blockIdx.x) * 128 + d] = sum;
  } else {
    float m = 0.0f;
#pragma unroll
    for (int r = 0; r < 16; r++) m = fmaxf(m, sa[r][d]);
    atomicMax(reinterpret_cast<int *>(st + 128 + d), __float_as_int(m));
  }
}

// K's channel sums from the chunks' partials, in chunk order (grid (H, B), 128 threads)
static __global__ void __launch_bounds__(128) sage_stats_finish(const vdit_attn_cuda_params p, float *kstat,
                                                                 const float *partial, int chunks) {
  const int b = blockIdx.y, h = blockIdx.x, d = threadIdx.x;
  const int used = (attn_key_len(p, b) + 255) / 256; // chunks past the key length wrote nothing
  const float *part = partial + ((int64_t)b * p.H + h) * chunks * 128 + d;
  float sum = 0.0f;
  for (int c = 0; c < used; c++) sum += part[(int64_t)c * 128];
  kstat[((int64_t)b * p.H + h) * 2 * 128 + d] = sum;
}

extern "C" size_t vdit_attn_sage_stats_scratch_bytes(const vdit_attn_cuda_params *p) {
  return (size_t)p->B * (size_t)p->H * (size_t)((p->Sk + 255) / 256) * 128 * sizeof(float);
}

extern "C" cudaError_t vdit_attn_sage_stats(const vdit_attn_cuda_params *p, float *kstat, float *scratch, cudaStream_t stream) {
  cudaError_t err = cudaMemsetAsync(kstat, 0, (size_t)p->B * p->H * 2 * 128 * sizeof(float), stream);
  if (err != cudaSuccess || p->Sk == 0) return err;
  const int chunks = (p->Sk + 255) / 256;
  dim3 sgrid((unsigned)chunks, (unsigned)p->H, (unsigned)p->B);
  const bool bf16 = p->dtype == VDIT_DTYPE_BF16;
  if (bf16) sage_stats_kernel<__nv_bfloat16><<<sgrid, 256, 0, stream>>>(*p, kstat, scratch);
  else sage_stats_kernel<__half><<<sgrid, 256, 0, stream>>>(*p, kstat, scratch);
  sage_stats_finish<<<dim3((unsigned)p->H, (unsigned)p->B), 128, 0, stream>>>(*p, kstat, scratch, chunks);
  return cudaGetLastError();
}

// Group of token r of a 128-token block and the block's group count (attn_sage.h's maps).
template <bool IS_Q> static __device__ __forceinline__ int sage_local_group(int gran, int r) {
  if (gran == VDIT_ATTN_SAGE_PER_WARP) return IS_Q ? r / 16 : r / 64;
  if (gran == VDIT_ATTN_SAGE_PER_THREAD) return IS_Q ? (r / 16) * 8 + (r % 8) : (r % 8) / 2;
  return 0;
}
template <bool IS_Q> static __device__ __forceinline__ int sage_block_groups(int gran) {
  if (gran == VDIT_ATTN_SAGE_PER_WARP) return IS_Q ? 8 : 2;
  if (gran == VDIT_ATTN_SAGE_PER_THREAD) return IS_Q ? 64 : 4;
  return 1;
}

// Q or K codes of 128-token block blk: thread 2r + half handles channels 64 half.. of token r;
// mu[d] = the K mean (shared memory).
template <typename T, bool IS_Q>
static __device__ __forceinline__ void sage_quant_qk(const vdit_attn_cuda_params &p, const vdit_attn_sage_ws_view &w, int gran,
                                                      float sl2, int blk, const float *mu) {
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, tid = threadIdx.x;
  const int r = tid >> 1, hf = tid & 1, tok = blk * 128 + r;
  const int S = IS_Q ? p.Sq : p.Sk, spad = IS_Q ? w.sq_pad : w.sk_pad;
  const T *g = IS_Q ? reinterpret_cast<const T *>(p.q) + b * p.q_sb + h * p.q_sh
                    : reinterpret_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
  const int64_t ss = IS_Q ? p.q_ss : p.k_ss;
  float x[64];
  float amax = 0.0f, dot = 0.0f;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    float f[8];
    sage_load8(g + (int64_t)tok * ss + hf * 64 + c * 8, tok < S, f);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const int d = hf * 64 + c * 8 + e;
      const float v = f[e];
      if (IS_Q) {
        dot = __fadd_rn(dot, __fmul_rn(v, mu[d]));
        x[c * 8 + e] = v;
      } else {
        x[c * 8 + e] = tok < S ? __fsub_rn(v, mu[d]) : 0.0f;
      }
      amax = fmaxf(amax, fabsf(x[c * 8 + e]));
    }
  }
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  __shared__ float tok_amax[128], group_scale[64];
  if (hf == 0) tok_amax[r] = amax;
  if (IS_Q) {
    const float other = __shfl_xor_sync(0xffffffffu, dot, 1);
    if (hf == 0 && tok < S) w.qmu[(int64_t)bh * p.Sq + tok] = __fmul_rn(p.scale, __fadd_rn(dot, other));
  }
  __syncthreads();
  const int groups = sage_block_groups<IS_Q>(gran);
  if (tid < groups) {
    float m = 0.0f;
    for (int rr = 0; rr < 128; rr++)
      if (sage_local_group<IS_Q>(gran, rr) == tid) m = fmaxf(m, tok_amax[rr]);
    const float scale = __fdiv_rn(m, 127.0f);
    group_scale[tid] = scale;
    if (IS_Q) w.qsf[(int64_t)bh * w.qg_stride + blk * groups + tid] = __fmul_rn(scale, sl2);
    else w.ks[(int64_t)bh * w.kg_stride + blk * groups + tid] = scale;
  }
  __syncthreads();
  const float scale = group_scale[sage_local_group<IS_Q>(gran, r)];
  int8_t *out = (IS_Q ? w.q8 : w.k8) + ((int64_t)bh * spad + tok) * 128 + hf * 64;
#pragma unroll
  for (int c = 0; c < 4; c++) {
    uint32_t word[4];
#pragma unroll
    for (int k = 0; k < 4; k++) word[k] = sage_pack_i8x4(x + c * 16 + k * 4, scale);
    *reinterpret_cast<uint4 *>(out + c * 16) = make_uint4(word[0], word[1], word[2], word[3]);
  }
}

// V^T e4m3 codes of 128-key block blk, keys permuted (sage_fragment_position), rows of D;
// vs[d] = v_scale (shared memory).
template <typename T>
static __device__ __forceinline__ void sage_quant_v(const vdit_attn_cuda_params &p, const vdit_attn_sage_ws_view &w, int blk,
                                                     const float *vs) {
  const int b = blockIdx.z, h = blockIdx.y, bh = b * p.H + h, tid = threadIdx.x;
  const int r = tid >> 1, hf = tid & 1, j0 = blk * 128, tok = j0 + r;
  const T *vg = reinterpret_cast<const T *>(p.v) + b * p.v_sb + h * p.v_sh;
  __shared__ __align__(16) uint8_t tile[128][128 + 16];
  const int pos = sage_fragment_position(r);
#pragma unroll
  for (int c = 0; c < 8; c++) {
    float f[8];
    sage_load8(vg + (int64_t)tok * p.v_ss + hf * 64 + c * 8, tok < p.Sk, f);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const int d = hf * 64 + c * 8 + e;
      tile[d][pos] = (tok < p.Sk && vs[d] > 0.0f) ? vdit_num_encode_e4m3(__fdiv_rn(f[e], vs[d])) : (uint8_t)0;
    }
  }
  __syncthreads();
  uint8_t *out = w.vt8 + (int64_t)bh * 128 * w.sk_pad + j0;
#pragma unroll
  for (int it = 0; it < 4; it++) {
    const int idx = it * 256 + tid, d = idx >> 3, c = idx & 7;
    *reinterpret_cast<uint4 *>(out + (int64_t)d * w.sk_pad + c * 16) = *reinterpret_cast<const uint4 *>(&tile[d][c * 16]);
  }
}

// CTAs [0, qb): Q blocks; [qb, qb + kb): K blocks; [qb + kb, qb + 2 kb): V blocks.
template <typename T>
static __global__ void __launch_bounds__(256) sage_quant_kernel(const vdit_attn_cuda_params p, const vdit_attn_sage_ws_view w,
                                                                 int gran, float sl2, int qb, int kb) {
  const int b = blockIdx.z, h = blockIdx.y, tid = threadIdx.x, x = (int)blockIdx.x;
  const int role = x < qb ? 0 : x < qb + kb ? 1 : 2;
  const float *st = w.kstat + ((int64_t)b * p.H + h) * 2 * 128;
  __shared__ float chan[128]; // mu (Q, K) or v_scale (V) per channel
  if (tid < 128) {
    const int n = attn_key_len(p, b);
    chan[tid] = role == 2 ? __fdiv_rn(st[128 + tid], 448.0f) : (n > 0 ? __fdiv_rn(st[tid], (float)n) : 0.0f);
  }
  __syncthreads();
  if (role == 0) sage_quant_qk<T, true>(p, w, gran, sl2, x, chan);
  else if (role == 1) sage_quant_qk<T, false>(p, w, gran, sl2, x - qb, chan);
  else sage_quant_v<T>(p, w, x - qb - kb, chan);
}

template <typename T>
static cudaError_t sage_quantize_typed(const vdit_attn_sage_cuda_params *sp, const vdit_attn_sage_ws_view *w, cudaStream_t stream) {
  const vdit_attn_cuda_params *p = &sp->base;
  const float sl2 = p->scale * SAGE_LOG2E; // one fp32 rounding, as the CPU's VDIT_FMUL
  // the K codes' region is free until the codes launch: it holds the stats' partial sums
  cudaError_t err = vdit_attn_sage_stats(p, w->kstat, reinterpret_cast<float *>(w->k8), stream);
  if (err != cudaSuccess) return err;
  const int qb = w->sq_pad / 128, kb = w->sk_pad / 128, roles = sp->pv_fp8 ? 2 : 1; // V^T codes for FP8 P V only
  dim3 grid((unsigned)(qb + roles * kb), (unsigned)p->H, (unsigned)p->B);
  sage_quant_kernel<T><<<grid, 256, 0, stream>>>(*p, *w, sp->granularity, sl2, qb, kb);
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_sage_quantize(const vdit_attn_sage_cuda_params *sp, const vdit_attn_sage_ws_view *w,
                                               cudaStream_t stream) {
  if (sp->base.dtype == VDIT_DTYPE_BF16) return sage_quantize_typed<__nv_bfloat16>(sp, w, stream);
  return sage_quantize_typed<__half>(sp, w, stream);
}
