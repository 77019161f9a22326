// Clustered attention's centroid scores as GEMMs (cuBLASLt, fp32 in and out), and the
// compensation's skipped counts before the fused kernel (attn_cluster_comp.cu). (The k-means
// assignment, once a GEMM here, is attn_cluster_kmeans.cu's fused kernel; the EAR probe, once
// GEMMs here, is attn_cluster_probe.cu's fused pass; the compensation's GEMM path, G = Qp Kbar^T
// written out, a row pass and W Vbar, 5.15 ms against the fused kernel's 2.40 on the H200, was the
// lab switch VDIT_CLUSTER_COMP=gemm until round 17.)
//   centroid scores: cscore (cq, ck) = Qbar Kbar^T (three TF32 GEMMs on hi / lo splits), one
//   strided-batched GEMM over the (b, h) slices each.
#include <cublasLt.h>

#include "attn/cuda/attn_cluster.h"
#include "vdit/attn.h"

// One strided-batched row-major GEMM: C[b] (m, n) = A[b] (m, k) op(B[b]), op(B) = B^T with B
// stored (n, k) when trans_b, else B stored (k, n). Leading dims and batch strides in floats.
typedef struct cluster_gemm {
  int64_t m, n, k, batch;
  const float *a;
  int64_t lda, stride_a;
  const float *b;
  int64_t ldb, stride_b;
  int trans_b;
  float *c;
  int64_t ldc, stride_c;
  int tf32;
  int accumulate; // C += A op(B) (else C = A op(B))
} cluster_gemm;

// The largest power of two <= 256 dividing the address and the byte sizes of ld and stride
// (cuBLASLt assumes 256-byte alignment unless told).
static uint32_t alignment_of(const void *p, int64_t ld, int64_t stride) {
  const uint64_t v = (uint64_t)(uintptr_t)p | (uint64_t)(ld * 4) | (uint64_t)(stride * 4) | 256u;
  return (uint32_t)(v & (~v + 1u));
}

// Row-major C = A op(B) is column-major C^T = op(B)^T A^T: cuBLASLt's A is our B, its B our A,
// its M, N = n, m. cuBLAS failures come back as cudaErrorUnknown (the caller names the step).
static cudaError_t gemm_run(const vdit_attn_cuda_cluster_args *x, const cluster_gemm *g, cudaStream_t stream) {
  if (g->m == 0 || g->n == 0 || g->batch == 0) return cudaSuccess;
  cublasLtHandle_t handle = (cublasLtHandle_t)x->lt;
  cublasLtMatmulDesc_t desc = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  cudaError_t result = cudaErrorUnknown;
  const cublasComputeType_t compute = g->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const cublasOperation_t op_a = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = CUBLAS_OP_N;
  const int32_t batch = (int32_t)g->batch;
  const int64_t sa = g->stride_b, sb = g->stride_a, sc = g->stride_c;
  size_t workspace = x->workspace_bytes;
  cublasLtMatmulHeuristicResult_t heuristic;
  int found = 0;
  const float alpha = 1.0f, beta = g->accumulate ? 1.0f : 0.0f;
  if (cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) goto done;
  if (cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b) != CUBLAS_STATUS_SUCCESS)
    goto done;
  if (cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, g->trans_b ? (uint64_t)g->k : (uint64_t)g->n,
                                 g->trans_b ? (uint64_t)g->n : (uint64_t)g->k, g->ldb) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, (uint64_t)g->k, (uint64_t)g->m, g->lda) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, (uint64_t)g->n, (uint64_t)g->m, g->ldc) != CUBLAS_STATUS_SUCCESS)
    goto done;
  if (batch > 1) {
    const cublasLtMatrixLayout_t layouts[3] = {la, lb, lc};
    const int64_t strides[3] = {sa, sb, sc};
    for (int i = 0; i < 3; i++)
      if (cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch) !=
              CUBLAS_STATUS_SUCCESS ||
          cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                           sizeof strides[i]) != CUBLAS_STATUS_SUCCESS)
        goto done;
  }
  if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace) !=
          CUBLAS_STATUS_SUCCESS)
    goto done;
  {
    const uint32_t align[3] = {alignment_of(g->b, g->ldb, g->stride_b), alignment_of(g->a, g->lda, g->stride_a),
                               alignment_of(g->c, g->ldc, g->stride_c)};
    const cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++)
      if (cublasLtMatmulPreferenceSetAttribute(pref, which[i], &align[i < 3 ? i : 2], sizeof align[0]) !=
          CUBLAS_STATUS_SUCCESS)
        goto done;
  }
  if (cublasLtMatmulAlgoGetHeuristic(handle, desc, la, lb, lc, lc, pref, 1, &heuristic, &found) != CUBLAS_STATUS_SUCCESS ||
      found == 0)
    goto done;
  if (cublasLtMatmul(handle, desc, &alpha, g->b, la, g->a, lb, &beta, g->c, lc, g->c, lc, &heuristic.algo, x->workspace,
                     x->workspace_bytes, stream) == CUBLAS_STATUS_SUCCESS)
    result = cudaSuccess;
done:
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (lc) cublasLtMatrixLayoutDestroy(lc);
  if (lb) cublasLtMatrixLayoutDestroy(lb);
  if (la) cublasLtMatrixLayoutDestroy(la);
  if (desc) cublasLtMatmulDescDestroy(desc);
  return result;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_lt_create(void **lt) {
  cublasLtHandle_t handle = NULL;
  if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  *lt = handle;
  return cudaSuccess;
}

extern "C" void vdit_attn_cuda_cluster_lt_destroy(void *lt) {
  if (lt) cublasLtDestroy((cublasLtHandle_t)lt);
}

// ---------------------------------------------------------------- centroid scores
// hi = x rounded to TF32 (nearest), lo = x - hi (exact in fp32).
static __global__ void split_tf32_kernel(const float *__restrict__ x, int64_t n, float *__restrict__ hi,
                                         float *__restrict__ lo) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  uint32_t bits;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(bits) : "f"(x[i]));
  const float h = __uint_as_float(bits);
  hi[i] = h;
  lo[i] = __fsub_rn(x[i], h);
}

extern "C" size_t vdit_attn_cuda_cluster_centroid_scratch_floats(int64_t bh, int cq, int64_t dim) {
  return (size_t)(2 * bh * cq * dim);
}

extern "C" size_t vdit_attn_cuda_cluster_scratch_floats(int64_t bh, int64_t seq_q, int64_t seq_k, int64_t dim, int cq,
                                                        int ck, int k_tiles) {
  (void)seq_k;
  (void)seq_q;
  const size_t compensation = vdit_attn_cuda_cluster_comp_split_floats(bh, ck);
  const size_t scores = vdit_attn_cuda_cluster_centroid_scratch_floats(bh, cq, dim) + vdit_attn_cuda_cluster_probe_floats(bh, cq, ck, k_tiles, dim);
  return scores > compensation ? scores : compensation;
}

// cscore = Qbar Kbar^T as Qh Kh^T + Qh Kl^T + Ql Kh^T on TF32 tensor cores (h, l: the hi / lo
// split; the products of TF32 values are exact in fp32, Ql Kl^T ~2^-22 of the sum is left out):
// fp32 accuracy. Qbar's split goes to the scratch's head, Kbar's to k_split.
extern "C" cudaError_t vdit_attn_cuda_cluster_centroid_scores(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  const int64_t BH = a->bh, D = a->dim, cq = a->cq, ck = a->ck;
  if (BH == 0 || cq == 0 || ck == 0) return cudaSuccess;
  const int64_t nq = BH * cq * D, nk = BH * ck * D;
  float *q_hi = a->scratch, *q_lo = a->scratch + nq, *k_hi = a->k_split, *k_lo = a->k_split + nk;
  split_tf32_kernel<<<(unsigned)((nq + 255) / 256), 256, 0, stream>>>(a->q_centroids, nq, q_hi, q_lo);
  split_tf32_kernel<<<(unsigned)((nk + 255) / 256), 256, 0, stream>>>(a->k_centroids, nk, k_hi, k_lo);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const cluster_gemm parts[3] = {
      {cq, ck, D, BH, q_hi, D, cq * D, k_hi, D, ck * D, 1, a->cscore, ck, cq * ck, 1, 0},
      {cq, ck, D, BH, q_hi, D, cq * D, k_lo, D, ck * D, 1, a->cscore, ck, cq * ck, 1, 1},
      {cq, ck, D, BH, q_lo, D, cq * D, k_hi, D, ck * D, 1, a->cscore, ck, cq * ck, 1, 1},
  };
  for (int i = 0; i < 3; i++)
    if ((e = gemm_run(a, &parts[i], stream)) != cudaSuccess) return e;
  return cudaSuccess;
}

// ---------------------------------------------------------------- compensation
// One block per (query tile i, bh): count[c] = skipped tokens of key cluster c in row i.
// Shared: ck ints.
static __global__ void comp_count_kernel(vdit_attn_cuda_cluster_args a) {
  extern __shared__ int32_t counts[];
  const int i = blockIdx.x;
  const int64_t bh = blockIdx.y;
  for (int c = threadIdx.x; c < a.ck; c += blockDim.x) counts[c] = 0;
  __syncthreads();
  const unsigned char *sel = a.selected + (bh * a.q_tiles + i) * a.k_tiles;
  const int32_t *fo = a.frag_offsets + bh * (a.k_tiles + 1);
  const int32_t *fc = a.frag_cluster + bh * a.max_fragments, *fn = a.frag_count + bh * a.max_fragments;
  for (int j = threadIdx.x; j < a.k_tiles; j += blockDim.x)
    if (!sel[j])
      for (int32_t f = fo[j]; f < fo[j + 1]; f++) atomicAdd(&counts[fc[f]], fn[f]);
  __syncthreads();
  int32_t *out = a.comp_count + (bh * a.q_tiles + i) * a.ck;
  for (int c = threadIdx.x; c < a.ck; c += blockDim.x) out[c] = counts[c];
}

extern "C" cudaError_t vdit_attn_cuda_cluster_compensate(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  const int64_t BH = a->bh, Sq = a->seq_q, ck = a->ck;
  if (BH == 0 || Sq == 0) return cudaSuccess;
  if ((size_t)ck * sizeof(int32_t) > 48 * 1024) return cudaErrorInvalidValue;
  comp_count_kernel<<<dim3((unsigned)a->q_tiles, (unsigned)BH), 256, (size_t)ck * sizeof(int32_t), stream>>>(*a);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  return vdit_attn_cuda_cluster_compensate_fused(a, stream);
}
