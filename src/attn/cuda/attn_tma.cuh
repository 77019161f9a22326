// mbarrier, bulk tensor copy (TMA) and named-barrier helpers of the version 3 forward kernels
// (sm_90a): attn_forward_tma.cu (dense, 16-bit tiles) and attn_sage_forward_tma.cu (8-bit tiles).
// Compiler note (ptxas 13.0): an mbarrier retry loop written in C, a branch the compiler takes
// for divergent between wgmma issues, makes it serialize every wgmma of the kernel (C7520), so
// the wait loop lives in the asm and branches with bra.uni on a warp vote.
#ifndef VDIT_ATTN_TMA_CUH
#define VDIT_ATTN_TMA_CUH

#include <cuda.h>
#include <stdint.h>

static __device__ __forceinline__ void tma_mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
static __device__ __forceinline__ void tma_mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// waits for the completion of the barrier's phase with this parity (see the compiler note above)
static __device__ __forceinline__ void tma_mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile("{\n.reg .pred p, q;\nVDIT_TMA_WAIT:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
               "vote.sync.all.pred q, p, 0xffffffff;\n"
               "@!q bra.uni VDIT_TMA_WAIT;\n}\n" ::"r"(bar),
               "r"(parity)
               : "memory");
}
// box (c0 = innermost coordinate, c1 = row) of a 2-d tensor map into shared memory
static __device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
               "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}
// box (c0 = head-dim offset, c1 = row, c2 = head, c3 = batch) of a 4-d tensor map into shared memory
static __device__ __forceinline__ void tma_load_4d(uint32_t dst, const CUtensorMap *map, int c0, int c1, int c2, int c3,
                                                   uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
      "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}
static __device__ __forceinline__ void named_bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
static __device__ __forceinline__ void named_bar_arrive(int id, int n) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

// cuTensorMapEncodeTiled, looked up through the runtime so that vdit does not need the driver
// library to start (a CPU-only machine runs the CUDA build's CPU paths).
typedef CUresult (*tma_encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *, const cuuint64_t *,
                                  const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                                  CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// The encoder, or NULL when the driver lacks it (the CUDA error state is left clear).
static inline tma_encode_fn tma_encoder(void) {
  void *fn = NULL;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess || !fn) {
    (void)cudaGetLastError(); // a fallback's launch check must not see this
    return NULL;
  }
  return (tma_encode_fn)fn;
}

// A 16-bit (D, rows, H, B) tensor (bf16 when `bf16`, else fp16) with element strides (1, ss, sh,
// sb): boxes of 64 head-dim elements x 128 rows, 128-byte swizzle, zero fill past the end (the
// version 3 forwards' Q, K, V tiles and SLA2's Hc). 0 when the driver refuses.
static inline int tma_map_16bit(tma_encode_fn encode, CUtensorMap *map, int bf16, const void *base, int D, int rows, int H, int B,
                                int64_t ss, int64_t sh, int64_t sb) {
  const cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)rows, (cuuint64_t)H, (cuuint64_t)B};
  cuuint64_t strides[3] = {(cuuint64_t)(ss * 2), (cuuint64_t)(sh * 2), (cuuint64_t)(sb * 2)};
  const int sizes[3] = {rows, H, B};
  for (int i = 0; i < 3; i++) // the stride of a dimension of size 1 is never used: any legal value
    if (sizes[i] == 1 && strides[i] == 0) strides[i] = 16;
  const cuuint32_t box[4] = {64, 128, 1, 1};
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  const CUresult r = encode(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4, (void *)base, dims,
                            strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS;
}

#endif // VDIT_ATTN_TMA_CUH
