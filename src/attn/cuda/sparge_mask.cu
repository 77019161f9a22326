// SpargeAttention2's mask prediction on the GPU: the CPU predictor (src/attn/sparge_mask.c)
// step for step, with every sum in the order sparge_exact.h fixes, so the maps are identical.
//   1. block_sums   one thread block per (Q or K block, b*H + h); thread d sums its channel
//                   over the block's tokens in order
//   2. block_stats  per block: K's global mean (block sums in order / Sk), the block mean
//                   (K smoothed), and the self-similarity: a warp per token computes the
//                   cosine with the mean (lane partials + butterfly), thread 0 averages them
//   3. select       per query block: pooled scores (a warp per key block), rank of each key
//                   block (descending score, ties to the lower index), Top-k count, Top-p
//                   prefix (thread 0 sums exp in rank order), bitmap row and count
//   4. scan + fill  offsets and ascending column lists (attn_block_map.cu)
#include "attn/cuda/attn_block_map.cuh"
#include "attn/cuda/attn_cuda_common.cuh"
#include "attn/sparge_exact.h"

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

// workspace: sums (BH * (qb + kb) * D), means (same), sims (BH * (qb + kb)) fp32, bitmap (BH * qb * kb bytes)
extern "C" size_t vdit_attn_cuda_sparge_workspace_bytes(const vdit_attn_cuda_sparge_args *a) {
  const size_t blocks = (size_t)a->BH * (size_t)(a->q_blocks + a->k_blocks);
  return 2 * align256(blocks * a->D * sizeof(float)) + align256(blocks * sizeof(float)) +
         align256((size_t)a->BH * a->q_blocks * a->k_blocks) + 256;
}

template <typename T> static __device__ __forceinline__ float load_elem(const void *base, int64_t off) {
  return attn_dtype_traits<T>::to_float(reinterpret_cast<const T *>(base)[off]);
}

// (is_k, pointer offset of token 0 of the (b, h) slice, token stride, tokens, first token, block tokens)
struct block_ref {
  int is_k;
  int64_t base, ss;
  int t0, n;
};

static __device__ __forceinline__ block_ref block_of(const vdit_attn_cuda_sparge_args &a, int blk, int bh) {
  const int b = bh / a.H, h = bh % a.H;
  block_ref r;
  r.is_k = blk >= a.q_blocks;
  if (!r.is_k) {
    r.base = b * a.q_sb + h * a.q_sh;
    r.ss = a.q_ss;
    r.t0 = blk * a.block_q;
    r.n = min(a.block_q, a.Sq - r.t0);
  } else {
    r.base = b * a.k_sb + h * a.k_sh;
    r.ss = a.k_ss;
    r.t0 = (blk - a.q_blocks) * a.block_k;
    r.n = min(a.block_k, a.Sk - r.t0);
  }
  return r;
}

template <typename T>
static __global__ void sparge_block_sums_kernel(const vdit_attn_cuda_sparge_args a, float *__restrict__ sums) {
  const int blk = blockIdx.x, bh = blockIdx.y;
  const block_ref r = block_of(a, blk, bh);
  const void *x = r.is_k ? a.k : a.q;
  for (int d = threadIdx.x; d < a.D; d += blockDim.x) {
    float sum = 0.0f;
    for (int t = 0; t < r.n; t++) sum = __fadd_rn(sum, load_elem<T>(x, r.base + (int64_t)(r.t0 + t) * r.ss + d));
    sums[((int64_t)bh * (a.q_blocks + a.k_blocks) + blk) * a.D + d] = sum;
  }
}

// sum over d of x[d] * y[d] by the warp: lane partials over d = lane, lane + 32, ..., then a butterfly
static __device__ __forceinline__ float warp_dot(const float *x, const float *y, int D, int lane) {
  float part = 0.0f;
  for (int d = lane; d < D; d += 32) part = __fadd_rn(part, __fmul_rn(x[d], y[d]));
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) part = __fadd_rn(part, __shfl_xor_sync(0xffffffffu, part, off));
  return part;
}

// 128 threads; shared: mean[D], shift[D], token[4][D], cosines[block tokens]
template <typename T>
static __global__ void __launch_bounds__(128) sparge_block_stats_kernel(const vdit_attn_cuda_sparge_args a, const float *__restrict__ sums,
                                                                          float *__restrict__ means, float *__restrict__ sims) {
  extern __shared__ float sh[];
  float *mean = sh, *shift = sh + a.D, *token = sh + 2 * a.D, *cosines = token + 4 * a.D;
  __shared__ float norm2_mean;
  const int blk = blockIdx.x, bh = blockIdx.y, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const block_ref r = block_of(a, blk, bh);
  const int64_t pair = (int64_t)bh * (a.q_blocks + a.k_blocks);
  for (int d = tid; d < a.D; d += 128) {
    float s = 0.0f;
    if (r.is_k) {
      float total = 0.0f;
      for (int j = 0; j < a.k_blocks; j++) total = __fadd_rn(total, sums[(pair + a.q_blocks + j) * a.D + d]);
      s = __fdiv_rn(total, (float)a.Sk);
    }
    shift[d] = s;
    float m = __fdiv_rn(sums[(pair + blk) * a.D + d], (float)r.n);
    if (r.is_k) m = __fsub_rn(m, s);
    mean[d] = m;
    means[(pair + blk) * a.D + d] = m;
  }
  __syncthreads();
  if (warp == 0) {
    const float n2 = warp_dot(mean, mean, a.D, lane);
    if (lane == 0) norm2_mean = n2;
  }
  __syncthreads();
  const void *x = r.is_k ? a.k : a.q;
  float *tok = token + warp * a.D;
  for (int t = warp; t < r.n; t += 4) {
    for (int d = lane; d < a.D; d += 32) {
      const float v = load_elem<T>(x, r.base + (int64_t)(r.t0 + t) * r.ss + d);
      tok[d] = r.is_k ? __fsub_rn(v, shift[d]) : v;
    }
    __syncwarp();
    const float dot = warp_dot(tok, mean, a.D, lane);
    const float n2 = warp_dot(tok, tok, a.D, lane);
    if (lane == 0) cosines[t] = sparge_cosine(dot, n2, norm2_mean);
    __syncwarp();
  }
  __syncthreads();
  if (tid == 0) {
    float total = 0.0f;
    for (int t = 0; t < r.n; t++) total = __fadd_rn(total, cosines[t]);
    sims[pair + blk] = __fdiv_rn(total, (float)r.n);
  }
}

// 256 threads per query block; shared: qmean[D], scores[kb], ranks[kb] (int), sorted[kb] (int), forced[kb] (int)
static __global__ void __launch_bounds__(256) sparge_select_kernel(const vdit_attn_cuda_sparge_args a, const float *__restrict__ means,
                                                                     const float *__restrict__ sims, unsigned char *__restrict__ bitmap) {
  extern __shared__ float sh[];
  const int nk = a.k_blocks, D = a.D;
  float *qmean = sh, *scores = sh + D;
  int *rank = reinterpret_cast<int *>(scores + nk), *sorted = rank + nk, *forced = sorted + nk;
  __shared__ int keep_s, selected_s, candidates_s;
  const int i = blockIdx.x, bh = blockIdx.y, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int h = bh % a.H;
  const vdit_attn_sparge_head p = a.per_head ? a.head_table[h] : a.params;
  const int64_t pair = (int64_t)bh * (a.q_blocks + a.k_blocks);
  const int64_t row = (int64_t)bh * a.q_blocks + i;
  unsigned char *bits = bitmap + row * nk;
  if (tid == 0) {
    selected_s = 0;
    candidates_s = 0;
  }
  if (sims[pair + i] < p.theta) { // a dissimilar query block computes every key block
    for (int j = tid; j < nk; j += 256) bits[j] = 1;
    if (tid == 0) a.row_offsets[row + 1] = nk;
    return;
  }
  for (int d = tid; d < D; d += 256) qmean[d] = means[(pair + i) * D + d];
  int mine = 0;
  for (int j = tid; j < nk; j += 256) {
    forced[j] = sims[pair + a.q_blocks + j] < p.theta || (a.sink && j == 0);
    mine += !forced[j];
  }
  atomicAdd(&candidates_s, mine);
  __syncthreads();
  for (int j = warp; j < nk; j += 8) {
    const float dot = warp_dot(qmean, means + (pair + a.q_blocks + j) * D, D, lane);
    if (lane == 0) scores[j] = __fmul_rn(dot, a.scale);
  }
  __syncthreads();
  for (int j = tid; j < nk; j += 256) {
    int rk = -1;
    if (!forced[j]) {
      rk = 0;
      const float sj = scores[j];
      for (int c = 0; c < nk; c++)
        rk += !forced[c] && (scores[c] > sj || (scores[c] == sj && c < j));
      sorted[rk] = j;
    }
    rank[j] = rk;
  }
  __syncthreads();
  if (tid == 0) {
    const int n = candidates_s;
    int keep = a.rule != VDIT_ATTN_SPARGE_TOPP ? sparge_topk_count(p.topk, nk) : 0;
    if (a.rule != VDIT_ATTN_SPARGE_TOPK && p.topp > 0.0f && n > 0) {
      const float top = scores[sorted[0]];
      float total = 0.0f;
      for (int c = 0; c < n; c++) total = __fadd_rn(total, sparge_exp(__fsub_rn(scores[sorted[c]], top)));
      const float target = __fmul_rn(p.topp, total);
      int c = 0;
      float cum = sparge_exp(__fsub_rn(scores[sorted[0]], top));
      while (c < n - 1 && cum < target) {
        c++;
        cum = __fadd_rn(cum, sparge_exp(__fsub_rn(scores[sorted[c]], top)));
      }
      if (c + 1 > keep) keep = c + 1;
    }
    keep_s = min(keep, n);
  }
  __syncthreads();
  int count = 0;
  for (int j = tid; j < nk; j += 256) {
    const int sel = forced[j] || rank[j] < keep_s;
    bits[j] = (unsigned char)sel;
    count += sel;
  }
  atomicAdd(&selected_s, count);
  __syncthreads();
  if (tid == 0) a.row_offsets[row + 1] = selected_s;
}

template <typename T> static cudaError_t sparge_launch(const vdit_attn_cuda_sparge_args *a, void *workspace, cudaStream_t stream) {
  const size_t blocks = (size_t)a->BH * (size_t)(a->q_blocks + a->k_blocks);
  char *w = (char *)workspace;
  float *sums = (float *)w;
  float *means = (float *)(w + align256(blocks * a->D * sizeof(float)));
  float *sims = (float *)(w + 2 * align256(blocks * a->D * sizeof(float)));
  unsigned char *bitmap = (unsigned char *)(w + 2 * align256(blocks * a->D * sizeof(float)) + align256(blocks * sizeof(float)));
  if (a->BH == 0 || a->q_blocks == 0) return cudaSuccess;
  const dim3 grid_blocks((unsigned)(a->q_blocks + a->k_blocks), (unsigned)a->BH);
  sparge_block_sums_kernel<T><<<grid_blocks, 128, 0, stream>>>(*a, sums);
  const int max_block = a->block_q > a->block_k ? a->block_q : a->block_k;
  const size_t stats_smem = (size_t)(6 * a->D + max_block) * sizeof(float);
  sparge_block_stats_kernel<T><<<grid_blocks, 128, stats_smem, stream>>>(*a, sums, means, sims);
  const size_t select_smem = (size_t)(a->D + 4 * a->k_blocks) * sizeof(float);
  if (select_smem > 48 * 1024) {
    cudaError_t err = cudaFuncSetAttribute(sparge_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)select_smem);
    if (err != cudaSuccess) return err;
  }
  sparge_select_kernel<<<dim3((unsigned)a->q_blocks, (unsigned)a->BH), 256, select_smem, stream>>>(*a, means, sims, bitmap);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  vdit_attn_cuda_map m = {a->BH, a->q_blocks, a->k_blocks, a->row_offsets, a->col_index};
  return vdit_attn_cuda_bitmap_to_map(bitmap, &m, 0, 1, stream);
}

extern "C" cudaError_t vdit_attn_cuda_sparge(const vdit_attn_cuda_sparge_args *a, void *workspace, cudaStream_t stream) {
  if (a->dtype == VDIT_DTYPE_BF16) return sparge_launch<__nv_bfloat16>(a, workspace, stream);
  return sparge_launch<__half>(a, workspace, stream);
}
