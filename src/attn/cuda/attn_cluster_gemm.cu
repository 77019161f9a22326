// Clustered attention's routing steps as GEMMs (cuBLASLt, fp32 in and out) plus light
// elementwise kernels: the centroid scores Qbar Kbar^T (svg mass and EAR probe) and the centroid
// compensation (the k-means assignment, once a GEMM here, is attn_cluster_kmeans.cu's fused
// kernel; the EAR probe, once GEMMs here, is attn_cluster_probe.cu's two fused passes).
// The dot products these steps need are all of one form, rows of X against rows of Y, so they
// run as strided-batched GEMMs over the (b, h) slices instead of SIMT loops:
//   centroid scores: cscore (cq, ck) = Qbar Kbar^T (three TF32 GEMMs on hi / lo splits).
//   compensation (the GEMM path, VDIT_CLUSTER_COMP=gemm; the default is attn_cluster_comp.cu's
//                 fused kernel after the same counts): G (Sq, ck) = Qp Kbar^T (two TF32 GEMMs on a hi / lo split of Kbar); per query tile i the skipped tokens of each key
//                 cluster, n_ic = sum of |f| over the skipped fragments f of cluster c (one
//                 exponent per cluster: the fragments of one cluster share q . kbar); per
//                 permuted query p: m = max_c (G scale + log n_ic), W = n_ic exp(G scale - m),
//                 extra_sum = sum W, extra_num (Sq, D) = W Vbar (full fp32: these terms are
//                 part of the attention output and are checked against the fp64 reference).
#include <cublasLt.h>

#include "attn/cuda/attn_cluster.h"
#include "vdit/attn.h"

#define GEMM_TILE 128

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

static __device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

static __device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// ---------------------------------------------------------------- gathers
// dst row (bh, p) = src row (bh, perm[bh, p]) for p < S; dst has Sd >= S rows per slice.
static __global__ void gather_kernel(const float *__restrict__ src, const int32_t *__restrict__ perm, int64_t S,
                                     int64_t Sd, int64_t D, float *__restrict__ dst) {
  const int64_t bh = blockIdx.y, p = blockIdx.x;
  const float *s = src + (bh * S + perm[bh * S + p]) * D;
  float *d = dst + (bh * Sd + p) * D;
  for (int64_t e = threadIdx.x; e < D; e += blockDim.x) d[e] = s[e];
}

static cudaError_t gather(const float *src, const int32_t *perm, int64_t BH, int64_t S, int64_t Sd, int64_t D, float *dst,
                          cudaStream_t stream) {
  if (BH == 0 || S == 0) return cudaSuccess;
  gather_kernel<<<dim3((unsigned)S, (unsigned)BH), 128, 0, stream>>>(src, perm, S, Sd, D, dst);
  return cudaGetLastError();
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
  const size_t split = vdit_attn_cuda_cluster_comp_split_floats(bh, ck);
  const size_t compensation = (size_t)(bh * seq_q * ck) > split ? (size_t)(bh * seq_q * ck) : split;
  const size_t scores = vdit_attn_cuda_cluster_centroid_scratch_floats(bh, cq, dim) + vdit_attn_cuda_cluster_probe_floats(bh, cq, k_tiles, dim);
  return scores > compensation ? scores : compensation;
}

// cscore = Qbar Kbar^T as Qh Kh^T + Qh Kl^T + Ql Kh^T on TF32 tensor cores (h, l: the hi / lo
// split; the products of TF32 values are exact in fp32, Ql Kl^T ~2^-22 of the sum is left out):
// fp32 accuracy. Qbar's split goes to the scratch's head, Kbar's to k_split (which the
// compensation rewrites with the same values).
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

// One warp per permuted query row p: G row -> W row in place, extra_max, extra_sum.
static __global__ void __launch_bounds__(256) comp_rows_kernel(vdit_attn_cuda_cluster_args a, float *G) {
  const int64_t row = (int64_t)blockIdx.x * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= a.bh * a.seq_q) return;
  const int64_t bh = row / a.seq_q, p = row % a.seq_q, i = p / GEMM_TILE;
  const int32_t *n = a.comp_count + (bh * a.q_tiles + i) * a.ck;
  float *g = G + row * a.ck;
  float m = -INFINITY;
  for (int c = lane; c < a.ck; c += 32)
    if (n[c] > 0) m = fmaxf(m, g[c] * a.scale + logf((float)n[c]));
  m = warp_max(m);
  float l = 0.0f;
  for (int c = lane; c < a.ck; c += 32) {
    const float w = n[c] > 0 ? (float)n[c] * expf(g[c] * a.scale - m) : 0.0f;
    g[c] = w;
    l += w;
  }
  l = warp_sum(l);
  if (lane == 0) {
    a.extra_max[row] = m > -INFINITY ? m : 0.0f;
    a.extra_sum[row] = l;
  }
}

extern "C" cudaError_t vdit_attn_cuda_cluster_compensate(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  const int64_t BH = a->bh, D = a->dim, Sq = a->seq_q, ck = a->ck;
  if (BH == 0 || Sq == 0) return cudaSuccess;
  if ((size_t)ck * sizeof(int32_t) > 48 * 1024) return cudaErrorInvalidValue;
  cudaError_t e;
  if (!a->comp_gemm) { // the counts, then the fused kernel (attn_cluster_comp.cu)
    comp_count_kernel<<<dim3((unsigned)a->q_tiles, (unsigned)BH), 256, (size_t)ck * sizeof(int32_t), stream>>>(*a);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    return vdit_attn_cuda_cluster_compensate_fused(a, stream);
  }
  if ((e = gather(a->qf, a->q_perm, BH, Sq, Sq, D, a->qp, stream)) != cudaSuccess) return e;
  comp_count_kernel<<<dim3((unsigned)a->q_tiles, (unsigned)BH), 256, (size_t)ck * sizeof(int32_t), stream>>>(*a);
  if ((e = cudaGetLastError()) != cudaSuccess ||
      (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_COMP_PREPARE, stream)) != cudaSuccess)
    return e;
  // G = Qp Kbar_hi^T + Qp Kbar_lo^T on TF32 tensor cores: Qp (bf16 / fp16 values) is exact in
  // TF32, Kbar_hi = tf32(Kbar) exact, Kbar_lo = Kbar - Kbar_hi loses 2^-11 of itself, so G keeps
  // fp32 accuracy (relative ~2^-21 per product, fp32 sums) at tensor-core speed
  const int64_t nk = BH * ck * D;
  split_tf32_kernel<<<(unsigned)((nk + 255) / 256), 256, 0, stream>>>(a->k_centroids, nk, a->k_split, a->k_split + nk);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  float *G = a->scratch;
  cluster_gemm g = {Sq, ck, D, BH, a->qp, D, Sq * D, a->k_split, D, ck * D, 1, G, ck, Sq * ck, 1, 0};
  cluster_gemm g_lo = {Sq, ck, D, BH, a->qp, D, Sq * D, a->k_split + nk, D, ck * D, 1, G, ck, Sq * ck, 1, 1};
  if ((e = gemm_run(a, &g, stream)) != cudaSuccess || (e = gemm_run(a, &g_lo, stream)) != cudaSuccess ||
      (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_COMP_G, stream)) != cudaSuccess)
    return e;
  comp_rows_kernel<<<(unsigned)((BH * Sq + 7) / 8), 256, 0, stream>>>(*a, G);
  if ((e = cudaGetLastError()) != cudaSuccess ||
      (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_COMP_ROWS, stream)) != cudaSuccess)
    return e;
  cluster_gemm w = {Sq, D, ck, BH, G, ck, Sq * ck, a->v_means, D, ck * D, 0, a->extra_num, D, Sq * D, 0};
  if ((e = gemm_run(a, &w, stream)) != cudaSuccess) return e;
  return vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_COMP_W, stream);
}
