// Device helpers shared by the attention kernels: dtype traits around mma.sync m16n8k16,
// ldmatrix, cp.async, the swizzled shared-memory tile layout, tile loaders and the mask.
// Every function has internal linkage (static), so other kernels of the library may reuse
// these short names.
#ifndef VDIT_ATTN_CUDA_COMMON_CUH
#define VDIT_ATTN_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "attn/cuda/attn_cuda.h"

#define ATTN_LOG2E 1.4426950408889634f
#define ATTN_LN2 0.6931471805599453f

// ---------------------------------------------------------------- dtype traits
template <typename T> struct attn_dtype_traits;

template <> struct attn_dtype_traits<__nv_bfloat16> {
  static constexpr bool is_bf16 = true;
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
  }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  // c += a * b, a 16x16 row-major fragment, b 16x8 column fragment, c 16x8 fp32.
  static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

template <> struct attn_dtype_traits<__half> {
  static constexpr bool is_bf16 = false;
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
  }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// ---------------------------------------------------------------- shared memory primitives
static __device__ __forceinline__ uint32_t smem_u32(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}

// Four 8x8 b16 matrices; lane l gives the row address for matrix l / 8, row l % 8, and gets
// element (row l / 4, columns 2 (l % 4), +1) of each matrix (transposed with .trans).
static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
static __device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16-byte asynchronous copy; with valid false the 16 bytes are zero-filled and nothing is read.
static __device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool valid) {
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
static __device__ __forceinline__ void cp_async4(uint32_t dst, const void *src, bool valid) {
  int bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Tiles of ROWS x COLS b16 elements, COLS a multiple of 64: 16-byte chunk c of row r is stored
// at chunk c ^ (r % 8), so the 8 row addresses of one ldmatrix hit 8 different bank groups.
template <int COLS> static __device__ __forceinline__ int swz(int row, int chunk) {
  static_assert(COLS % 64 == 0, "swizzled tiles need at least 8 chunks per row");
  return row * COLS + ((chunk ^ (row & 7)) << 3);
}

// Loads rows [row0, row0 + ROWS) of a (nrows, D) matrix with row stride rs (elements) into a
// swizzled ROWS x DPAD tile; rows >= nrows and columns >= D are zero. VEC: 16-byte cp.async
// (needs D % 8 == 0, rs % 8 == 0 and a 16-byte aligned base); otherwise plain element loads.
template <typename T, int ROWS, int DPAD, int NTHREADS, bool VEC>
static __device__ __forceinline__ void load_tile(T *tile, const T *g, int64_t rs, int row0, int nrows, int D) {
  constexpr int CH = DPAD / 8;
  constexpr int TOTAL = ROWS * CH;
  static_assert(TOTAL % NTHREADS == 0, "tile chunks must divide evenly among threads");
#pragma unroll
  for (int it = 0; it < TOTAL / NTHREADS; it++) {
    int idx = it * NTHREADS + (int)threadIdx.x;
    int r = idx / CH, c = idx % CH;
    int row = row0 + r;
    if (VEC) {
      bool ok = row < nrows && c * 8 < D;
      const T *src = ok ? g + (int64_t)row * rs + c * 8 : g;
      cp_async16(smem_u32(tile + swz<DPAD>(r, c)), src, ok);
    } else {
      union {
        uint4 u;
        T e[8];
      } chunk;
#pragma unroll
      for (int e = 0; e < 8; e++) {
        int d = c * 8 + e;
        chunk.e[e] = (row < nrows && d < D) ? g[(int64_t)row * rs + d] : attn_dtype_traits<T>::from_float(0.0f);
      }
      *reinterpret_cast<uint4 *>(tile + swz<DPAD>(r, c)) = chunk.u;
    }
  }
}

// ---------------------------------------------------------------- mask
static __device__ __forceinline__ int attn_key_len(const vdit_attn_cuda_params &p, int b) {
  int len = p.key_lens ? p.key_lens[b] : p.Sk;
  return len < 0 ? 0 : (len > p.Sk ? p.Sk : len);
}

// Query i attends keys [0, limit); key_len from attn_key_len. Non-decreasing in i.
static __device__ __forceinline__ int attn_key_limit(const vdit_attn_cuda_params &p, int key_len, int i) {
  int64_t limit = key_len;
  int64_t pos = (int64_t)i + p.Sk - p.Sq;
  if (p.mask == VDIT_ATTN_MASK_CAUSAL) {
    if (pos + 1 < limit) limit = pos + 1;
  } else if (p.mask == VDIT_ATTN_MASK_BLOCK_CAUSAL) {
    int64_t m = pos < 0 ? 0 : (pos / p.block_len + 1) * p.block_len;
    if (m < limit) limit = m;
  }
  return limit < 0 ? 0 : (int)limit;
}

#endif // VDIT_ATTN_CUDA_COMMON_CUH
