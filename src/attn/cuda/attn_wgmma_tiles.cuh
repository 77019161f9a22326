// Typed wgmma calls and the tile loader of the wgmma kernels.
// Tiles are [D/64][rows][64] with the 128-byte swizzle: 16-byte chunk c of a 128-byte row r sits
// at chunk c ^ (r % 8); the tile base must be 1024-byte aligned. Read K-major (rows = M or N,
// 64-element blocks of the reduction dim) or N/M-major (the 64-element blocks are N or M and the
// rows the reduction dim), so one layout serves both uses of K, V, Q and dO.
#ifndef VDIT_ATTN_WGMMA_TILES_CUH
#define VDIT_ATTN_WGMMA_TILES_CUH

#include "attn/cuda/attn_cuda_common.cuh"
#include "attn/cuda/attn_wgmma.cuh"

template <typename T> static __device__ __forceinline__ void wg_ss_n128(float d[64], uint64_t da, uint64_t db, int scale_d) {
  if (attn_dtype_traits<T>::is_bf16) wgmma_ss_n128_bf16(d, da, db, scale_d);
  else wgmma_ss_n128_f16(d, da, db, scale_d);
}
template <typename T, int N> static __device__ __forceinline__ void wg_rs(float *d, const uint32_t a[4], uint64_t db) {
  if (N == 128) {
    if (attn_dtype_traits<T>::is_bf16) wgmma_rs_n128_bf16(d, a, db);
    else wgmma_rs_n128_f16(d, a, db);
  } else {
    if (attn_dtype_traits<T>::is_bf16) wgmma_rs_n64_bf16(d, a, db);
    else wgmma_rs_n64_f16(d, a, db);
  }
}

// rows [row0, row0 + ROWS) of a (nrows, D) matrix into a [D/64][ROWS][64] 128B-swizzled tile
template <typename T, int ROWS, int D, int NT>
static __device__ __forceinline__ void load_tile_gmma(T *tile, const T *g, int64_t rs, int row0, int nrows) {
  constexpr int CH = D / 8, TOTAL = ROWS * CH;
  static_assert(TOTAL % NT == 0, "tile chunks must divide evenly among threads");
#pragma unroll
  for (int it = 0; it < TOTAL / NT; it++) {
    const int idx = it * NT + (int)threadIdx.x;
    const int r = idx / CH, c = idx % CH;
    const bool ok = row0 + r < nrows;
    const T *src = ok ? g + (int64_t)(row0 + r) * rs + c * 8 : g;
    cp_async16(smem_u32(tile + (c >> 3) * ROWS * 64 + r * 64 + (((c & 7) ^ (r & 7)) << 3)), src, ok);
  }
}

template <typename T> static __device__ __forceinline__ void wg_ss_n64(float d[32], uint64_t da, uint64_t db, int scale_d) {
  if (attn_dtype_traits<T>::is_bf16) wgmma_ss_n64_bf16(d, da, db, scale_d);
  else wgmma_ss_n64_f16(d, da, db, scale_d);
}
template <typename T> static __device__ __forceinline__ void wg_ss_n64_tt(float d[32], uint64_t da, uint64_t db, int scale_d) {
  if (attn_dtype_traits<T>::is_bf16) wgmma_ss_n64_tt_bf16(d, da, db, scale_d);
  else wgmma_ss_n64_tt_f16(d, da, db, scale_d);
}

#endif // VDIT_ATTN_WGMMA_TILES_CUH
