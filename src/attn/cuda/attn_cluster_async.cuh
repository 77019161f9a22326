// Small device helpers shared by the clustered-attention kernels that stage tiles with cp.async,
// load mma fragments by ldmatrix, multiply them by 16-bit mma.sync and reduce over the 4 lanes of
// a fragment's quad (attn_cluster_probe.cu, attn_cluster_comp.cu, attn_cluster_kmeans.cu).
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

// Four 8 x 8 b16 matrices from shared memory (row addresses from lanes 8i .. 8i + 7 for matrix
// i) into r[0..3]: the 16-bit mma fragment layout, or for 4-byte data (TF32) four 8-row x
// 4-float blocks with lane L getting float (L / 4, L % 4) of each.
static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *row) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(row);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

// c (16 x 8, fp32) += a (16 x 16, row) b (16 x 8, col); lane g = lane / 4, t = lane % 4:
// a regs: (g, 2t..), (g + 8, 2t..), (g, 2t + 8..), (g + 8, 2t + 8..); b regs: (k 2t.., n g),
// (k 2t + 8.., n g); c: (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1).
template <int HALF>
static __device__ __forceinline__ void mma16(float *c, const uint32_t a[4], uint32_t b0, uint32_t b1) {
  if (HALF)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void *row) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(row);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

#endif // VDIT_ATTN_CLUSTER_ASYNC_CUH
