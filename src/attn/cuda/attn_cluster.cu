// Clustered attention on CUDA: the row moves of attn_cluster.h (one thread block per row,
// threads over the head dim).
#include "attn/cuda/attn_cluster.h"
#include "vdit/attn.h"

template <typename T>
static __global__ void rows_move_kernel(const T *__restrict__ src, T *__restrict__ dst, int gather, int64_t heads,
                                        int64_t seq, int64_t dim, int64_t sb, int64_t ss, int64_t sh,
                                        const int32_t *__restrict__ perm) {
  const int64_t bh = blockIdx.y, p = blockIdx.x;
  const int64_t t = perm[bh * seq + p];
  const int64_t strided = (bh / heads) * sb + t * ss + (bh % heads) * sh;
  const int64_t contiguous = (bh * seq + p) * dim;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    if (gather) dst[contiguous + d] = src[strided + d];
    else dst[strided + d] = src[contiguous + d];
  }
}

extern "C" cudaError_t vdit_attn_cuda_cluster_rows_move(const vdit_attn_cuda_cluster_rows *a, cudaStream_t stream) {
  if (a->bh == 0 || a->seq == 0) return cudaSuccess;
  if (a->bh > 65535) return cudaErrorInvalidValue;
  const dim3 grid((unsigned)a->seq, (unsigned)a->bh);
  const unsigned threads = a->dim >= 128 ? 128 : a->dim >= 64 ? 64 : 32;
  if (a->element_bytes == 2)
    rows_move_kernel<unsigned short><<<grid, threads, 0, stream>>>((const unsigned short *)a->src, (unsigned short *)a->dst,
                                                                   a->gather, a->heads, a->seq, a->dim, a->sb, a->ss,
                                                                   a->sh, a->perm);
  else if (a->element_bytes == 4)
    rows_move_kernel<float><<<grid, threads, 0, stream>>>((const float *)a->src, (float *)a->dst, a->gather, a->heads,
                                                          a->seq, a->dim, a->sb, a->ss, a->sh, a->perm);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

// ---------------------------------------------------------------- routing on the GPU
// The same steps as the CPU specification (src/attn/cluster_cpu.c). k-means: the assignment's
// distances come from TF32 tensor cores and the stable sort runs in parallel
// (attn_cluster_kmeans.cu), so near-ties may resolve otherwise than on the CPU (the bound is in
// attn_cluster.h); the rest is the CPU's operations in its order: centroid norms with exactly
// rounded multiply and add, means summed in double over the members in token order (the
// permutation is stable), Philox draws at the same offsets. Scores use expf / logf, so they may
// differ from the host's in the last bits. The centroid scores, mass, probe, compensation and
// selection live in attn_cluster_gemm.cu, attn_cluster_probe.cu and attn_cluster_select.cu.
#include <cuda_fp16.h>

#include "base/philox.h"

#define CLUSTER_TILE 128

static __device__ __forceinline__ float dot_rn(const float *a, const float *b, int64_t D) {
  float sum = 0.0f;
  for (int64_t d = 0; d < D; d++) sum = __fadd_rn(sum, __fmul_rn(a[d], b[d]));
  return sum;
}

static __device__ __forceinline__ uint64_t kmeans_stream(int which, int64_t bh, int iteration) {
  return (1ull << 46) + ((uint64_t)which << 45) + ((uint64_t)bh << 28) + ((uint64_t)(iteration + 1) << 20);
}

// A 16-bit input value as fp32 (exact).
template <int F16> static __device__ __forceinline__ float x16_float(uint16_t bits) {
  return F16 ? __half2float(__ushort_as_half(bits)) : __uint_as_float((unsigned)bits << 16);
}

// Block-wide: centroid row c = token floor((c + u_c) S / C) of slice bh of x.
template <int F16>
static __device__ void seed_row(unsigned long long seed, uint64_t stream, int c, int C, int64_t S,
                                const vdit_attn_cuda_cluster_x16 &x, int64_t bh, int64_t D, float *centroid) {
  const float u = vdit_philox_uniform_at(seed, stream + (uint64_t)c);
  int64_t t = (int64_t)floor(((double)c + (double)u) * (double)S / (double)C);
  if (t >= S) t = S - 1;
  if (t < 0) t = 0;
  const uint16_t *row = x16_row(x, bh, t);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) centroid[d] = x16_float<F16>(row[d]);
}

template <int F16>
static __global__ void seed_kernel(vdit_attn_cuda_cluster_x16 x, int64_t S, int C, int64_t D, float *centroids,
                                   unsigned long long seed, int which) {
  const int64_t bh = blockIdx.y;
  seed_row<F16>(seed, kmeans_stream(which, bh, -1), blockIdx.x, C, S, x, bh, D, centroids + (bh * C + blockIdx.x) * D);
}

static __global__ void norms_kernel(const float *centroids, int C, int64_t D, float *norms) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t bh = blockIdx.y;
  if (c >= C) return;
  const float *x = centroids + (bh * C + c) * D;
  norms[bh * C + c] = dot_rn(x, x, D);
}

// Means of the members (double sums in token order, x read from the 16-bit input: its values
// are exact in fp32, so the sums are the CPU's); empty clusters re-seeded (reseed) or 0.
// (H200, round 20, one call: one warp a cluster with 8 rows in flight, 8-byte loads, took 0.152 ms
// for Q and K against this kernel's 0.146-0.147: not kept.)
template <int F16>
static __global__ void means_kernel(vdit_attn_cuda_cluster_x16 x, const int32_t *perm, const int32_t *offsets, int64_t S,
                                    int C, int64_t D, float *out, int reseed, unsigned long long seed, int which,
                                    int iteration) {
  const int c = blockIdx.x;
  const int64_t bh = blockIdx.y;
  const int32_t begin = offsets[bh * (C + 1) + c], end = offsets[bh * (C + 1) + c + 1];
  float *o = out + (bh * C + c) * D;
  if (end == begin) {
    if (reseed) seed_row<F16>(seed, kmeans_stream(which, bh, iteration), c, C, S, x, bh, D, o);
    else
      for (int64_t d = threadIdx.x; d < D; d += blockDim.x) o[d] = 0.0f;
    return;
  }
  const int32_t *p = perm + bh * S;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    double sum = 0.0;
    for (int32_t e = begin; e < end; e++) sum += (double)x16_float<F16>(x16_row(x, bh, p[e])[d]);
    o[d] = (float)(sum / (double)(end - begin));
  }
}

// Runs of one cluster inside each key tile. Shared: k_tiles + 1 ints. One warp per tile at a
// time, 32 consecutive keys per round (a run starts where a key's cluster differs from the key
// before it in the tile): the runs counted by ballots, their offsets scanned over the tiles (by
// warp 0, 32 tiles a step), then each run's cluster and start written, and the starts turned into
// lengths. A tile's clusters are read before its rounds (frag_tile_clusters: the permutation
// loads, then the assignment loads, each CLUSTER_TILE / 32 in flight; until round 19 two
// dependent loads a round and one thread scanned the counts). Block: FRAG_THREADS.
#define FRAG_THREADS 1024
#define FRAG_ROUNDS (CLUSTER_TILE / 32)
static __device__ __forceinline__ void frag_tile_clusters(const int32_t *a, const int32_t *p, int64_t begin, int64_t end,
                                                          int lane, int c[FRAG_ROUNDS]) {
  int32_t tok[FRAG_ROUNDS];
#pragma unroll
  for (int r = 0; r < FRAG_ROUNDS; r++) tok[r] = begin + 32 * r + lane < end ? p[begin + 32 * r + lane] : -1;
#pragma unroll
  for (int r = 0; r < FRAG_ROUNDS; r++) c[r] = tok[r] >= 0 ? a[tok[r]] : -1;
}

static __global__ void __launch_bounds__(FRAG_THREADS) fragments_kernel(const int32_t *assign, const int32_t *perm, int64_t S,
                                                                       int kt, int maxf, int32_t *fo, int32_t *fc,
                                                                       int32_t *fn) {
  extern __shared__ int32_t runs[];
  const int64_t bh = blockIdx.x;
  const int32_t *a = assign + bh * S, *p = perm + bh * S;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const unsigned below = (1u << lane) - 1u;
  for (int j = warp; j < kt; j += warps) {
    const int64_t begin = (int64_t)j * CLUSTER_TILE;
    const int64_t end = begin + CLUSTER_TILE < S ? begin + CLUSTER_TILE : S;
    int cv[FRAG_ROUNDS];
    frag_tile_clusters(a, p, begin, end, lane, cv);
    int n = 0, previous = -1;
#pragma unroll
    for (int r = 0; r < FRAG_ROUNDS; r++) {
      const int64_t q = begin + 32 * r + lane;
      const int c = cv[r];
      int before = __shfl_up_sync(0xffffffffu, c, 1);
      if (lane == 0) before = previous;
      n += __popc(__ballot_sync(0xffffffffu, q < end && c != before));
      previous = __shfl_sync(0xffffffffu, c, 31);
    }
    if (lane == 0) runs[j] = n;
  }
  __syncthreads();
  if (warp == 0) { // exclusive scan of the counts, 32 tiles a step
    int32_t running = 0;
    for (int j0 = 0; j0 < kt; j0 += 32) {
      const int j = j0 + lane;
      const int32_t n = j < kt ? runs[j] : 0;
      int32_t inclusive = n;
      for (int o = 1; o < 32; o *= 2) {
        const int32_t y = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += y;
      }
      if (j < kt) {
        fo[bh * (kt + 1) + j] = running + inclusive - n;
        runs[j] = running + inclusive - n;
      }
      running += __shfl_sync(0xffffffffu, inclusive, 31);
    }
    if (lane == 0) fo[bh * (kt + 1) + kt] = running;
  }
  __syncthreads();
  int32_t *cluster = fc + bh * maxf, *count = fn + bh * maxf;
  for (int j = warp; j < kt; j += warps) {
    const int64_t begin = (int64_t)j * CLUSTER_TILE;
    const int64_t end = begin + CLUSTER_TILE < S ? begin + CLUSTER_TILE : S;
    int cv[FRAG_ROUNDS];
    frag_tile_clusters(a, p, begin, end, lane, cv);
    int e = runs[j], previous = -1;
    // the runs' clusters, and their starts (key offsets in the tile) in count for now
#pragma unroll
    for (int r = 0; r < FRAG_ROUNDS; r++) {
      const int64_t q = begin + 32 * r + lane;
      const int c = cv[r];
      int before = __shfl_up_sync(0xffffffffu, c, 1);
      if (lane == 0) before = previous;
      const unsigned starts = __ballot_sync(0xffffffffu, q < end && c != before);
      if ((starts >> lane) & 1u) {
        const int f = e + __popc(starts & below);
        cluster[f] = c;
        count[f] = (int)(q - begin);
      }
      e += __popc(starts);
      previous = __shfl_sync(0xffffffffu, c, 31);
    }
    __syncwarp();
    // start -> length: the next run's start (or the tile's end) minus this one's; all of a
    // round's reads before its writes
    const int e_end = e, tile_keys = (int)(end - begin);
    for (int f0 = runs[j]; f0 < e_end; f0 += 32) {
      const int f = f0 + lane;
      const int start = f < e_end ? count[f] : 0;
      const int next = f + 1 < e_end ? count[f + 1] : tile_keys;
      __syncwarp();
      if (f < e_end) count[f] = next - start;
      __syncwarp();
    }
  }
}

// score[i][j] = sum over the query-cluster runs of tile i of share x mass (x D, + share x err for ear).
// Block of CLUSTER_TILE threads: thread t reads row t's cluster, a run starts where it differs
// from the row before; the runs are numbered by ballots (in row order), and each run's share is
// its length / rows as before. Until round 19 one thread walked the tile's rows (two dependent
// loads a row): 0.062-0.065 ms against 0.013 for this kernel on the H200 at B=1, H=12, S=32760
// (round 20, same call).
static __global__ void __launch_bounds__(CLUSTER_TILE) aggregate_kernel(vdit_attn_cuda_cluster_args a, int ear) {
  __shared__ int row_cluster[CLUSTER_TILE], run_cluster[CLUSTER_TILE], run_start[CLUSTER_TILE + 1];
  __shared__ float run_share[CLUSTER_TILE];
  __shared__ int warp_runs[CLUSTER_TILE / 32];
  const int i = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t bh = blockIdx.y;
  const int64_t begin = (int64_t)i * CLUSTER_TILE;
  const int rows = a.seq_q - begin < CLUSTER_TILE ? (int)(a.seq_q - begin) : CLUSTER_TILE;
  const int32_t *qa = a.q_assign + bh * a.seq_q, *qp = a.q_perm + bh * a.seq_q;
  const int t = threadIdx.x;
  const int c = t < rows ? qa[qp[begin + t]] : -1;
  row_cluster[t] = c;
  __syncthreads();
  const int starts = t < rows && (t == 0 || row_cluster[t - 1] != c);
  const unsigned ballot = __ballot_sync(0xffffffffu, starts);
  if (lane == 0) warp_runs[warp] = __popc(ballot);
  __syncthreads();
  int before = 0, runs = 0;
  for (int w = 0; w < CLUSTER_TILE / 32; w++) {
    if (w < warp) before += warp_runs[w];
    runs += warp_runs[w];
  }
  if (starts) {
    const int r = before + __popc(ballot & ((1u << lane) - 1u));
    run_cluster[r] = c;
    run_start[r] = t;
  }
  if (t == 0) run_start[runs] = rows;
  __syncthreads();
  if (t < runs) run_share[t] = (float)(run_start[t + 1] - run_start[t]) / (float)rows;
  __syncthreads();
  for (int j = threadIdx.x; j < a.k_tiles; j += blockDim.x) {
    float s = 0.0f;
    for (int r = 0; r < runs; r++)
      s = __fadd_rn(s, __fmul_rn(run_share[r], a.mass[(bh * a.cq + run_cluster[r]) * a.k_tiles + j]));
    if (ear) {
      s = __fmul_rn(s, (float)a.dim);
      for (int r = 0; r < runs; r++)
        s = __fadd_rn(s, __fmul_rn(run_share[r], a.err[(bh * a.cq + run_cluster[r]) * a.k_tiles + j]));
    }
    a.score[(bh * a.q_tiles + i) * a.k_tiles + j] = s;
  }
}

extern "C" cudaError_t vdit_attn_cuda_cluster_mark(const vdit_attn_cuda_cluster_args *a, int stage, cudaStream_t stream) {
  vdit_attn_cuda_cluster_marks *m = a->marks;
  if (!m) return cudaSuccess;
  if (m->count >= VDIT_ATTN_CUDA_CLUSTER_MARKS) {
    m->overflow = 1;
    return cudaSuccess;
  }
  m->stage[m->count] = stage;
  return cudaEventRecord(m->event[m->count++], stream);
}

extern "C" cudaError_t vdit_attn_cuda_cluster_kmeans(const vdit_attn_cuda_cluster_args *a, int which, int iterations,
                                                     int warm, cudaStream_t stream) {
  const vdit_attn_cuda_cluster_x16 x = which ? a->k16 : a->q16;
  const int64_t S = which ? a->seq_k : a->seq_q;
  const int C = which ? a->ck : a->cq;
  float *centroids = which ? a->k_centroids : a->q_centroids;
  int32_t *assign = which ? a->k_assign : a->q_assign, *count = which ? a->k_count : a->q_count;
  int32_t *offsets = which ? a->k_offsets : a->q_offsets, *perm = which ? a->k_perm : a->q_perm;
  const unsigned BH = (unsigned)a->bh;
  cudaError_t e = cudaSuccess;
  if (!warm) {
    if (a->half_inputs) seed_kernel<1><<<dim3((unsigned)C, BH), 128, 0, stream>>>(x, S, C, a->dim, centroids, a->seed, which);
    else seed_kernel<0><<<dim3((unsigned)C, BH), 128, 0, stream>>>(x, S, C, a->dim, centroids, a->seed, which);
    if ((e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_KMEANS_MEANS, stream)) != cudaSuccess) return e;
  }
  for (int it = 0; it < iterations; it++) {
    norms_kernel<<<dim3((unsigned)((C + 127) / 128), BH), 128, 0, stream>>>(centroids, C, a->dim, a->norms);
    if ((e = vdit_attn_cuda_cluster_assign(a, x, S, C, centroids, assign, stream)) != cudaSuccess ||
        (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_KMEANS_ASSIGN, stream)) != cudaSuccess)
      return e;
    if ((e = vdit_attn_cuda_cluster_sort(assign, a->bh, S, C, a->sort_work, count, offsets, perm, stream)) != cudaSuccess ||
        (e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_KMEANS_SORT, stream)) != cudaSuccess)
      return e;
    if (a->half_inputs)
      means_kernel<1><<<dim3((unsigned)C, BH), 128, 0, stream>>>(x, perm, offsets, S, C, a->dim, centroids, 1, a->seed, which, it);
    else
      means_kernel<0><<<dim3((unsigned)C, BH), 128, 0, stream>>>(x, perm, offsets, S, C, a->dim, centroids, 1, a->seed, which, it);
    if ((e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_KMEANS_MEANS, stream)) != cudaSuccess) return e;
  }
  return cudaGetLastError();
}

extern "C" cudaError_t vdit_attn_cuda_cluster_prepare(const vdit_attn_cuda_cluster_args *a, cudaStream_t stream) {
  const unsigned BH = (unsigned)a->bh;
  const vdit_attn_cuda_cluster_x16 v = {a->v16, a->v_sb, a->v_ss, a->v_sh, a->heads};
  if (a->half_inputs)
    means_kernel<1><<<dim3((unsigned)a->ck, BH), 128, 0, stream>>>(v, a->k_perm, a->k_offsets, a->seq_k, a->ck, a->dim,
                                                                   a->v_means, 0, a->seed, 1, 0);
  else
    means_kernel<0><<<dim3((unsigned)a->ck, BH), 128, 0, stream>>>(v, a->k_perm, a->k_offsets, a->seq_k, a->ck, a->dim,
                                                                   a->v_means, 0, a->seed, 1, 0);
  fragments_kernel<<<BH, FRAG_THREADS, (size_t)(a->k_tiles + 1) * sizeof(int32_t), stream>>>(
      a->k_assign, a->k_perm, a->seq_k, a->k_tiles, a->max_fragments, a->frag_offsets, a->frag_cluster, a->frag_count);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_PREPARE, stream) : e;
}

extern "C" cudaError_t vdit_attn_cuda_cluster_scores(const vdit_attn_cuda_cluster_args *a, int ear, cudaStream_t stream) {
  const unsigned BH = (unsigned)a->bh;
  // centroid scores, svg mass (attn_cluster_gemm.cu, attn_cluster_probe.cu)
  cudaError_t e = vdit_attn_cuda_cluster_centroid_scores(a, stream);
  if (e == cudaSuccess) e = vdit_attn_cuda_cluster_mass(a, ear, stream);
  if (e == cudaSuccess) e = vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_MASS, stream);
  if (e == cudaSuccess && ear) e = vdit_attn_cuda_cluster_probe(a, stream);
  if (e != cudaSuccess) return e;
  aggregate_kernel<<<dim3((unsigned)a->q_tiles, BH), CLUSTER_TILE, 0, stream>>>(*a, ear);
  e = cudaGetLastError();
  return e == cudaSuccess ? vdit_attn_cuda_cluster_mark(a, VDIT_ATTN_CLUSTER_STAGE_AGGREGATE, stream) : e;
}
