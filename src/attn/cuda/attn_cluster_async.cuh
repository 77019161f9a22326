// Small device helpers shared by the clustered-attention kernels that stage tiles with cp.async
// and reduce over the 4 lanes of an mma fragment's quad (attn_cluster_probe.cu,
// attn_cluster_comp.cu).
#ifndef VDIT_ATTN_CLUSTER_ASYNC_CUH
#define VDIT_ATTN_CLUSTER_ASYNC_CUH

// bytes = 0 fills zeros (nothing is read; src must still be a valid address).
static __device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes));
}

static __device__ __forceinline__ void cp_async4(void *dst, const void *src, int bytes) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(bytes));
}

static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
static __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// sum / max over the 4 lanes of a quad (lanes 4 g .. 4 g + 3: one row of an mma fragment)
static __device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

static __device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

#endif // VDIT_ATTN_CLUSTER_ASYNC_CUH
