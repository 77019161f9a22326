// Clustered attention's CUDA kernels (attn_cluster.cu), internal: moving rows between the
// caller's tensors (any strides, head dim contiguous) and the contiguous cluster-ordered
// (B, H, S, D) copies the executor runs on.
#ifndef VDIT_ATTN_CUDA_CLUSTER_H
#define VDIT_ATTN_CUDA_CLUSTER_H

#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

// Row (bh, p) of the contiguous side (element (bh * S + p) * D + d) and row (b, perm[bh * S + p],
// h) of the strided side (element b * sb + t * ss + h * sh + d), b = bh / H, h = bh % H.
// gather: contiguous[p] = strided[perm[p]]; scatter (gather = 0): strided[perm[p]] = contiguous[p].
typedef struct vdit_attn_cuda_cluster_rows {
  const void *src;
  void *dst;
  int element_bytes; // 2 or 4
  int gather;
  int64_t bh, heads, seq, dim;
  int64_t sb, ss, sh; // element strides of the strided side
  const int32_t *perm;
} vdit_attn_cuda_cluster_rows;

cudaError_t vdit_attn_cuda_cluster_rows_move(const vdit_attn_cuda_cluster_rows *rows, cudaStream_t stream);

// A 16-bit input as the caller gave it (bf16, or fp16 with half_inputs), head dim contiguous:
// row t of slice bh at data + (bh / heads) sb + t ss + (bh % heads) sh (element strides).
typedef struct vdit_attn_cuda_cluster_x16 {
  const uint16_t *data;
  int64_t sb, ss, sh, heads;
} vdit_attn_cuda_cluster_x16;

#ifdef __CUDACC__
static __device__ __forceinline__ const uint16_t *x16_row(const vdit_attn_cuda_cluster_x16 &x, int64_t bh, int64_t t) {
  return x.data + (bh / x.heads) * x.sb + t * x.ss + (bh % x.heads) * x.sh;
}
// 16-byte pieces of rows possible: D, the strides and the base multiples of 8 elements
static __host__ __device__ __forceinline__ int x16_vec(const vdit_attn_cuda_cluster_x16 &x, int64_t D) {
  return D % 8 == 0 && x.sb % 8 == 0 && x.ss % 8 == 0 && x.sh % 8 == 0 && (uintptr_t)x.data % 16 == 0;
}
#endif

// The routing on the GPU (steps 1-5 of src/attn/cluster.h): arrays as in vdit_attn_cluster_state,
// on the device; q16, k16 the 16-bit inputs (k-means, means, probe, compensation read them
// directly; no fp32 copies since round 17). Needs D <= 128, ck and cq <= 8192,
// k_tiles <= 8192. The GEMM steps (attn_cluster_gemm.cu) run on cuBLASLt (lt, workspace).
typedef struct vdit_attn_cuda_cluster_args {
  int64_t bh, seq_q, seq_k, dim;
  int cq, ck, q_tiles, k_tiles, max_fragments;
  float scale;
  unsigned long long seed;
  vdit_attn_cuda_cluster_x16 q16, k16;
  float *q_centroids, *k_centroids, *v_means, *norms;   // norms: (BH, max(cq, ck))
  int32_t *q_assign, *k_assign, *q_count, *k_count;
  int32_t *q_offsets, *k_offsets;                        // (BH, cq + 1), (BH, ck + 1)
  int32_t *q_perm, *k_perm;
  int32_t *frag_offsets, *frag_cluster, *frag_count;
  float *mass, *err, *score;                             // (BH, cq, k_tiles) x 2, (BH, q_tiles, k_tiles)
  unsigned char *selected;                               // (BH, q_tiles, k_tiles)
  float *extra_max, *extra_sum, *extra_num;
  void *lt;                                              // cublasLtHandle_t
  void *workspace;
  size_t workspace_bytes;
  float *scratch;                                        // vdit_attn_cuda_cluster_scratch_floats
  float *cscore;                                         // (BH, cq, ck): Qbar Kbar^T
  float *probe_o;                                        // (BH, cq, D): the probe's o_hat (from the centroids)
  int32_t *comp_count;                                   // (BH, q_tiles, ck)
  int32_t *sort_work;                                    // vdit_attn_cuda_cluster_sort_ints
  float *k_split;                                        // (2, BH, ck, D): Kbar's TF32 hi and lo parts
  float *assign_work;                                    // vdit_attn_cuda_cluster_assign_floats(bh, max(cq, ck))
  struct vdit_attn_cuda_cluster_marks *marks;            // per-step CUDA events, or NULL
  int half_inputs;                                       // Q, K were fp16 (else bf16): the assignment's MMA type
  const uint16_t *v16;                                   // V as given (16-bit), element strides v_sb, v_ss, v_sh, heads a batch:
  int64_t v_sb, v_ss, v_sh, heads;                       // the probe's P V and the V means read it
} vdit_attn_cuda_cluster_args;

// Per-step timing: an event recorded after each step (stage = what ran since the previous
// mark; the stage ids are VDIT_ATTN_CLUSTER_STAGE_* of include/vdit/attn.h). Marks past
// VDIT_ATTN_CUDA_CLUSTER_MARKS are dropped (count stays at the limit, overflow set).
#define VDIT_ATTN_CUDA_CLUSTER_MARKS 128
typedef struct vdit_attn_cuda_cluster_marks {
  cudaEvent_t event[VDIT_ATTN_CUDA_CLUSTER_MARKS];
  int stage[VDIT_ATTN_CUDA_CLUSTER_MARKS];
  int count, overflow;
} vdit_attn_cuda_cluster_marks;
// Records the end of `stage` on the stream (nothing without a->marks).
cudaError_t vdit_attn_cuda_cluster_mark(const vdit_attn_cuda_cluster_args *a, int stage, cudaStream_t stream);

// Step 4's selection on the GPU from a->score into a->selected (the CPU's results) and the
// block map (offsets, index: BH x q_tiles rows); ear, or svg with p bisected to the budget
// (budget < 0: top_p). used, p_used: host arrays (BH) of the cost taken and svg's p. work:
// vdit_attn_cuda_cluster_select_bytes on the device. svg needs k_tiles <= 4096.
size_t vdit_attn_cuda_cluster_select_bytes(int64_t bh, int q_tiles, int k_tiles);
cudaError_t vdit_attn_cuda_cluster_select(const vdit_attn_cuda_cluster_args *a, int ear, double budget, float top_p,
                                          float min_fraction, void *work, int32_t *map_offsets, int32_t *map_index,
                                          long long *used, float *p_used, cudaStream_t stream);
// A cuBLASLt handle for args.lt (per plan), and its release.
cudaError_t vdit_attn_cuda_cluster_lt_create(void **lt);
void vdit_attn_cuda_cluster_lt_destroy(void *lt);
// Floats of args.scratch: the larger of the compensation's 16-bit Kbar / Vbar split and the
// scores' needs (Qbar's hi / lo split, the probe's per-chunk partials and tile differences).
size_t vdit_attn_cuda_cluster_scratch_floats(int64_t bh, int64_t seq_q, int64_t seq_k, int64_t dim, int cq, int ck,
                                             int k_tiles);
// k-means assignment of x (BH, S, D: the 16-bit input itself, read through its strides) to
// centroids (BH, C, D) with a->norms = |c|^2: one
// tensor-core kernel (wgmma), the argmin fused (attn_cluster_kmeans.cu); uses a->bh, a->dim
// (1..128), a->half_inputs. What it must agree on with the CPU (exact fp32 products summed
// in order): x holds bf16 values (fp16 with half_inputs), exact in the MMA's type; each centroid
// enters as hi + lo, two 16-bit values (rounded to nearest: |c - hi - lo| <= 2^-16 |c| for bf16,
// 2^-22 |c| + 2^-25 for fp16), and the 2 D products x_d hi_d, x_d lo_d are summed in fp32 in
// the tensor cores' order. So with A_tc = sum_d |x_td c_d| and X_t = sum_d |x_td| the GPU's score
// s_tc = |c|^2 - 2 x_t . c is within
//   e_tc = 2 A_tc (2^-16 + 2 D 2^-23) + 2 X_t 2^-25 + |c|^2 D 2^-23 + |s_tc| 2^-23
// of the exact one (the CPU's within the last two terms and 2 A_tc D 2^-24). Hence: (1) the exact score of the GPU's choice exceeds the
// exact minimum by at most e_tc + e_tc* (objective within the bound), (2) where the exact best
// cluster beats every other c by more than e_tc + e_tc*, GPU and CPU pick it (assignments equal
// where the margin exceeds the bound). tests/attn/test_attn_cluster_kmeans_gpu.c checks both
// against fp64 scores, for both input types.
// Needs a->assign_work: vdit_attn_cuda_cluster_assign_floats(a->bh, C) floats on the device.
size_t vdit_attn_cuda_cluster_assign_floats(int64_t bh, int C);
cudaError_t vdit_attn_cuda_cluster_assign(const vdit_attn_cuda_cluster_args *a, vdit_attn_cuda_cluster_x16 x, int64_t S, int C,
                                          const float *centroids, int32_t *assign, cudaStream_t stream);
// Stable counting sort of each slice's tokens by cluster (assign (bh, S) in [0, C)): count
// (bh, C), offsets (bh, C + 1), perm (bh, S): token order within a cluster, as the CPU's.
// work: vdit_attn_cuda_cluster_sort_ints(bh, S, C) ints on the device. C <= 12288.
size_t vdit_attn_cuda_cluster_sort_ints(int64_t bh, int64_t S, int C);
cudaError_t vdit_attn_cuda_cluster_sort(const int32_t *assign, int64_t bh, int64_t S, int C, int32_t *work, int32_t *count,
                                        int32_t *offsets, int32_t *perm, cudaStream_t stream);
// Centroid scores cscore (BH, cq, ck) = Qbar Kbar^T at fp32 accuracy (TF32 hi / lo GEMMs,
// attn_cluster_gemm.cu); uses the scratch's first vdit_attn_cuda_cluster_centroid_scratch_floats
// floats and k_split.
size_t vdit_attn_cuda_cluster_centroid_scratch_floats(int64_t bh, int cq, int64_t dim);
cudaError_t vdit_attn_cuda_cluster_centroid_scores(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream);
// svg mass (BH, cq, k_tiles) from cscore, counts and fragments (attn_cluster_probe.cu). ck <= 12288.
// ear: also the softmax weights that o_hat multiplies with the V means (into the probe's scratch).
// What it agrees on with the CPU: the same formula with the dot products at fp32 accuracy in
// another order (and expf / logf), so masses match the host's to a few ulps, and pair rankings
// (ties: lower index) equal where masses differ by more than that.
cudaError_t vdit_attn_cuda_cluster_mass(const vdit_attn_cuda_cluster_args *a, int ear, cudaStream_t stream);
// EAR probe: err (BH, cq, k_tiles) and probe_o (o_hat, each centroid's output estimated from the
// centroids) from q_centroids, k16 and v16 (through k_perm), cscore, v_means and the fragments:
// o_hat = W Vbar (W: the weights vdit_attn_cuda_cluster_mass with ear = 1 wrote, so it runs first),
// then one per-tile tensor-core kernel (scores and P V in the inputs' 16-bit type, the
// centroids as a hi / lo pair; every (centroid block, key tile) independent) writing 3 floats a
// (centroid, key tile), then a light combine (attn_cluster_probe.cu); D <= 128, ck <= 12288. Its
// scratch: the vdit_attn_cuda_cluster_probe_floats after the centroid scores' part (3 bh cq
// k_tiles + bh cq ck + 4 bh cq D floats: 7.1 M at B=1, H=12, S=32760).
size_t vdit_attn_cuda_cluster_probe_floats(int64_t bh, int cq, int ck, int k_tiles, int64_t dim);
cudaError_t vdit_attn_cuda_cluster_probe(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream);

// k-means on Q (which 0) or K (which 1): seeded start unless warm, `iterations` rounds of
// assignment and update; leaves counts, offsets and the stable permutation of the last round.
cudaError_t vdit_attn_cuda_cluster_kmeans(const vdit_attn_cuda_cluster_args *a, int which, int iterations, int warm,
                                          cudaStream_t stream);
// V means and key fragments.
cudaError_t vdit_attn_cuda_cluster_prepare(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream);
// Pair scores: svg mass (ear = 0) or D x mass + probe error (ear = 1), aggregated per query tile.
cudaError_t vdit_attn_cuda_cluster_scores(const vdit_attn_cuda_cluster_args *a, int ear, cudaStream_t stream);
// Compensation terms (softmax extras) from the selection: the skipped counts per (query tile, key
// cluster), then the fused tensor-core kernel (attn_cluster_comp.cu).
cudaError_t vdit_attn_cuda_cluster_compensate(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream);
// The fused compensation after the counts (a->comp_count): per query tile a flash forward of its
// rows (Q through the permutation) against the ck centroids with log n_ic added to the scores,
// mma.sync m16n8k16 in the inputs' 16-bit type, Kbar as a hi + lo 16-bit pair, Vbar rounded to 16
// bits (split into the scratch's first vdit_attn_cuda_cluster_comp_split_floats floats). Needs D <= 128, ck <= 8192.
size_t vdit_attn_cuda_cluster_comp_split_floats(int64_t bh, int ck);
cudaError_t vdit_attn_cuda_cluster_compensate_fused(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
