// The CUDA ops other than the GEMM (ops_cuda.h): norms (with the fused modulation), activations,
// modulation, gated residual, 3D RoPE, patches, timestep embedding, adds and column sums.
// fp32 arithmetic on bf16 or f32 storage; every reduction in a fixed order (block reductions
// over a row; column sums in fixed chunks of rows, then over the chunks), so results repeat
// bit for bit. The formulas are those of the CPU kernels (src/ops/cpu/), which the GPU tests
// compare against.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/cuda_check.h"
#include "ops/cuda/ops_cuda.h"
#include "ops/cuda/ops_cuda_common.cuh"

// A row view on the device: element (r, c) at p[r * ld + c].
typedef struct dview {
  void *p;
  int bf16;
  int64_t ld;
} dview;

static dview view_of(const ops_rows *v) {
  dview d;
  d.p = v ? (void *)v->data : NULL;
  d.bf16 = v && v->dtype == VDIT_DTYPE_BF16;
  d.ld = v ? ops_rows_ld(v) : 0;
  return d;
}

__device__ __forceinline__ float at(const dview &v, int64_t r, int64_t c) { return load_value(v.p, v.bf16, r * v.ld + c); }
__device__ __forceinline__ void put(const dview &v, int64_t r, int64_t c, float x) { store_value(v.p, v.bf16, r * v.ld + c, x); }
__device__ __forceinline__ void put_acc(const dview &v, int64_t r, int64_t c, float x, int accumulate) {
  if (accumulate) x += at(v, r, c);
  put(v, r, c, x);
}

static unsigned blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return (unsigned)(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

static vdit_status select_device(const ops_rows *v) {
  VDIT_CUDA_TRY(cudaSetDevice(v->device.index));
  return VDIT_OK;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
__device__ float block_sum(float v, float *shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; w++) total += shared[w];
  return total;
}

// ---------------------------------------------------------------- norms
#define NORM_THREADS 256

__global__ void norm_forward_kernel(dview x, dview w, dview b, float eps, dview scale, dview shift, int64_t tokens,
                                    dview y, int64_t cols, int rms) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  float mean = 0.0f;
  if (!rms) {
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += at(x, r, c);
    mean = block_sum(s, shared) / (float)cols;
  }
  float q = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = at(x, r, c) - mean;
    q += d * d;
  }
  const float rstd = 1.0f / sqrtf(block_sum(q, shared) / (float)cols + eps);
  const int64_t batch = r / tokens;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = (at(x, r, c) - mean) * rstd;
    if (w.p) v *= at(w, 0, c);
    if (b.p) v += at(b, 0, c);
    if (scale.p) v = v * (1.0f + at(scale, batch, c)) + at(shift, batch, c);
    put(y, r, c, v);
  }
}

// dx (+)= rstd (g - mean(g) - xhat mean(g xhat)), g = dy w (LayerNorm; RMSNorm without the
// mean(g) term and with mean 0). stats[r] = (mean, rstd) when stats is not NULL.
__global__ void norm_backward_kernel(dview x, dview w, float eps, dview dy, dview dx, float *stats, int64_t cols,
                                     int rms, int accumulate) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  float mean = 0.0f;
  if (!rms) {
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += at(x, r, c);
    mean = block_sum(s, shared) / (float)cols;
  }
  float q = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = at(x, r, c) - mean;
    q += d * d;
  }
  const float rstd = 1.0f / sqrtf(block_sum(q, shared) / (float)cols + eps);
  if (stats && threadIdx.x == 0) {
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
  }
  if (!dx.p) return;
  float sg = 0.0f, sgx = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float g = at(dy, r, c) * (w.p ? at(w, 0, c) : 1.0f);
    sg += g;
    sgx += g * (at(x, r, c) - mean) * rstd;
  }
  const float mean_g = rms ? 0.0f : block_sum(sg, shared) / (float)cols;
  const float mean_gx = block_sum(sgx, shared) / (float)cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float g = at(dy, r, c) * (w.p ? at(w, 0, c) : 1.0f);
    const float xhat = (at(x, r, c) - mean) * rstd;
    put_acc(dx, r, c, rstd * (g - mean_g - xhat * mean_gx), accumulate);
  }
}

vdit_status vdit_ops_cuda_layer_norm_forward(const char *op, const ops_rows *x, const ops_rows *weight,
                                             const ops_rows *bias, float eps, const ops_rows *scale,
                                             const ops_rows *shift, int64_t tokens_per_batch, const ops_rows *y) {
  if (x->rows == 0 || x->cols == 0) return VDIT_OK;
  if (x->rows > INT32_MAX) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: too many rows for the CUDA kernel", op);
  vdit_status fast;
  if (vdit_ops_cuda_fast_norm(x, weight, bias, eps, scale, shift, tokens_per_batch, y, 0, NULL, &fast)) return fast;
  VDIT_TRY(select_device(x));
  norm_forward_kernel<<<(unsigned)x->rows, NORM_THREADS>>>(view_of(x), view_of(weight), view_of(bias), eps,
                                                            view_of(scale), view_of(shift),
                                                            tokens_per_batch > 0 ? tokens_per_batch : 1, view_of(y),
                                                            x->cols, 0);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_rms_norm_forward(const char *op, const ops_rows *x, const ops_rows *weight, float eps,
                                           const ops_rows *y) {
  if (x->rows == 0 || x->cols == 0) return VDIT_OK;
  if (x->rows > INT32_MAX) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: too many rows for the CUDA kernel", op);
  vdit_status fast;
  if (vdit_ops_cuda_fast_norm(x, weight, NULL, eps, NULL, NULL, 1, y, 1, NULL, &fast)) return fast;
  VDIT_TRY(select_device(x));
  norm_forward_kernel<<<(unsigned)x->rows, NORM_THREADS>>>(view_of(x), view_of(weight), view_of(NULL), eps,
                                                            view_of(NULL), view_of(NULL), 1, view_of(y), x->cols, 1);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_layer_norm_backward(const char *op, const ops_rows *x, const ops_rows *weight, float eps,
                                              const ops_rows *dy, const ops_rows *dx, const ops_rows *dweight,
                                              const ops_rows *dbias, int rms, int accumulate) {
  if (x->rows == 0 || x->cols == 0) return VDIT_OK;
  if (x->rows > INT32_MAX) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: too many rows for the CUDA kernel", op);
  VDIT_TRY(select_device(x));
  float *stats = NULL;
  if (dweight) VDIT_CUDA_TRY(cudaMallocAsync((void **)&stats, (size_t)x->rows * 2 * sizeof(float), 0));
  norm_backward_kernel<<<(unsigned)x->rows, NORM_THREADS>>>(view_of(x), view_of(weight), eps, view_of(dy), view_of(dx),
                                                             stats, x->cols, rms, accumulate);
  vdit_status status = VDIT_OK;
  if (cudaGetLastError() != cudaSuccess)
    status = VDIT_ERROR(VDIT_ERROR_CUDA, "%s: the norm backward kernel failed to launch", op);
  if (status == VDIT_OK && dweight) status = vdit_ops_cuda_column_sums(op, dy, x, stats, x->rows, dweight, accumulate);
  if (status == VDIT_OK && dbias) status = vdit_ops_cuda_column_sums(op, dy, NULL, NULL, x->rows, dbias, accumulate);
  if (stats) cudaFreeAsync(stats, 0);
  VDIT_TRY(status);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// ---------------------------------------------------------------- column sums
#define SUM_CHUNK 256

__global__ void column_partials_kernel(dview a, dview b, const float *stats, int64_t rows, int64_t cols,
                                       int64_t group_rows, int64_t chunks, float *partials) {
  __shared__ float shared[8][33];
  const int64_t c = (int64_t)blockIdx.x * 32 + threadIdx.x;
  const int64_t group = blockIdx.y / chunks, chunk = blockIdx.y % chunks;
  const int64_t first = group * group_rows + chunk * SUM_CHUNK;
  int64_t last = first + SUM_CHUNK;
  if (last > (group + 1) * group_rows) last = (group + 1) * group_rows;
  if (last > rows) last = rows;
  float s = 0.0f;
  if (c < cols)
    for (int64_t r = first + threadIdx.y; r < last; r += 8) {
      float v = at(a, r, c);
      if (b.p) {
        float f = at(b, r, c);
        if (stats) f = (f - stats[2 * r]) * stats[2 * r + 1];
        v *= f;
      }
      s += v;
    }
  shared[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.0f;
    for (int k = 0; k < 8; k++) t += shared[k][threadIdx.x];
    partials[(int64_t)blockIdx.y * cols + c] = t;
  }
}

__global__ void column_finish_kernel(const float *partials, int64_t groups, int64_t chunks, int64_t cols, dview out,
                                     int accumulate) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= groups * cols) return;
  const int64_t g = i / cols, c = i % cols;
  float s = 0.0f;
  for (int64_t k = 0; k < chunks; k++) s += partials[(g * chunks + k) * cols + c];
  put_acc(out, g, c, s, accumulate);
}

vdit_status vdit_ops_cuda_column_sums(const char *op, const ops_rows *a, const ops_rows *b, const float *stats,
                                      int64_t group_rows, const ops_rows *out, int accumulate) {
  const int64_t rows = a->rows, cols = a->cols;
  if (cols == 0) return VDIT_OK;
  VDIT_TRY(select_device(a));
  if (group_rows < 1) group_rows = 1;
  const int64_t groups = rows == 0 ? out->rows : (rows + group_rows - 1) / group_rows;
  const int64_t chunks = rows == 0 ? 1 : (group_rows + SUM_CHUNK - 1) / SUM_CHUNK;
  if (groups * chunks > 65535 * 16 || (cols + 31) / 32 > INT32_MAX)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: column sum over %lld rows beyond the kernel's grid", op,
                      (long long)rows);
  float *partials = NULL;
  VDIT_CUDA_TRY(cudaMallocAsync((void **)&partials, (size_t)(groups * chunks * cols) * sizeof(float), 0));
  if (rows == 0) {
    cudaMemsetAsync(partials, 0, (size_t)(groups * chunks * cols) * sizeof(float), 0);
  } else {
    dim3 grid((unsigned)((cols + 31) / 32), (unsigned)(groups * chunks));
    column_partials_kernel<<<grid, dim3(32, 8)>>>(view_of(a), view_of(b), stats, rows, cols, group_rows, chunks,
                                                  partials);
  }
  column_finish_kernel<<<blocks_for(groups * cols, 256), 256>>>(partials, groups, chunks, cols, view_of(out),
                                                                 accumulate);
  cudaFreeAsync(partials, 0);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_sum_rows(const char *op, const ops_rows *x, const ops_rows *y, int accumulate) {
  return vdit_ops_cuda_column_sums(op, x, NULL, NULL, x->rows > 0 ? x->rows : 1, y, accumulate);
}

// ---------------------------------------------------------------- element-wise
__device__ __forceinline__ float gelu_tanh_of(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}

__device__ __forceinline__ float sigmoid_pair(float z, float *one_minus) {
  const float e = expf(-z), s = 1.0f / (1.0f + e);
  *one_minus = s < 0.5f ? 1.0f - s : e * s;
  return s;
}

__device__ __forceinline__ float gelu_tanh_derivative(float x) {
  const float x2 = x * x;
  float one_minus;
  const float s = sigmoid_pair(2.0f * 0.7978845608028654f * (x + 0.044715f * x2 * x), &one_minus);
  return s + 2.0f * x * s * one_minus * 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x2);
}

__device__ __forceinline__ float silu_of(float x) { return x / (1.0f + expf(-x)); }

__device__ __forceinline__ float silu_derivative(float x) {
  float one_minus;
  const float s = sigmoid_pair(x, &one_minus);
  return s * (1.0f + x * one_minus);
}

#define GRID_STRIDE(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void activation_forward_kernel(int gelu, dview x, dview y, int64_t rows, int64_t cols) {
  GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i - r * cols;
    const float v = at(x, r, c);
    put(y, r, c, gelu ? gelu_tanh_of(v) : silu_of(v));
  }
}

__global__ void activation_backward_kernel(int gelu, dview x, dview dy, dview dx, int64_t rows, int64_t cols,
                                           int accumulate) {
  GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i - r * cols;
    const float v = at(x, r, c);
    put_acc(dx, r, c, at(dy, r, c) * (gelu ? gelu_tanh_derivative(v) : silu_derivative(v)), accumulate);
  }
}

vdit_status vdit_ops_cuda_activation_forward(const char *op, ops_activation activation, const ops_rows *x,
                                             const ops_rows *y) {
  (void)op;
  const int64_t n = x->rows * x->cols;
  if (n == 0) return VDIT_OK;
  VDIT_TRY(select_device(x));
  activation_forward_kernel<<<blocks_for(n, 256), 256>>>(activation == OPS_ACTIVATION_GELU_TANH, view_of(x), view_of(y),
                                                         x->rows, x->cols);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_activation_backward(const char *op, ops_activation activation, const ops_rows *x,
                                              const ops_rows *dy, const ops_rows *dx, int accumulate) {
  (void)op;
  const int64_t n = x->rows * x->cols;
  if (n == 0) return VDIT_OK;
  VDIT_TRY(select_device(x));
  activation_backward_kernel<<<blocks_for(n, 256), 256>>>(activation == OPS_ACTIVATION_GELU_TANH, view_of(x),
                                                          view_of(dy), view_of(dx), x->rows, x->cols, accumulate);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// mode 0: modulate y = x (1 + p[b]) + q[b]; 1: gated residual y = x + p[b] h;
// 2: dx (+)= dy (1 + p[b]); 3: dh (+)= dy p[b]; 4: y = x + p (broadcast row); 5: y = x + h; 6: y = x.
// One block per row (the batch index of a row computed once, no division per element).
__global__ void rowwise_kernel(int mode, dview x, dview p, dview q, dview h, int64_t tokens, dview y, int64_t cols,
                               int accumulate) {
  const int64_t r = blockIdx.x, b = r / tokens;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v;
    switch (mode) {
    case 0: v = at(x, r, c) * (1.0f + at(p, b, c)) + at(q, b, c); break;
    case 1: v = at(x, r, c) + at(p, b, c) * at(h, r, c); break;
    case 2: v = at(x, r, c) * (1.0f + at(p, b, c)); break;
    case 3: v = at(x, r, c) * at(p, b, c); break;
    case 4: v = at(x, r, c) + at(p, 0, c); break;
    case 5: v = at(x, r, c) + at(h, r, c); break;
    default: v = at(x, r, c); break;
    }
    put_acc(y, r, c, v, accumulate);
  }
}

static vdit_status rowwise(int mode, const ops_rows *x, const ops_rows *p, const ops_rows *q, const ops_rows *h,
                           int64_t tokens, const ops_rows *y, int accumulate) {
  const int64_t n = y->rows * y->cols;
  if (n == 0) return VDIT_OK;
  if (y->rows > INT32_MAX) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "too many rows for the CUDA row kernel");
  VDIT_TRY(select_device(y));
  const int threads = y->cols >= 512 ? 256 : y->cols >= 128 ? 128 : 32;
  rowwise_kernel<<<(unsigned)y->rows, threads>>>(mode, view_of(x), view_of(p), view_of(q), view_of(h),
                                                 tokens > 0 ? tokens : 1, view_of(y), y->cols, accumulate);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_modulate_forward(const char *op, const ops_rows *x, const ops_rows *scale,
                                           const ops_rows *shift, int64_t tokens_per_batch, const ops_rows *y) {
  (void)op;
  return rowwise(0, x, scale, shift, NULL, tokens_per_batch, y, 0);
}

vdit_status vdit_ops_cuda_modulate_backward(const char *op, const ops_rows *x, const ops_rows *scale, const ops_rows *dy,
                                            int64_t tokens_per_batch, const ops_rows *dx, const ops_rows *dscale,
                                            const ops_rows *dshift, int accumulate) {
  // The parameter gradients first: dx may be dy.
  if (dscale) VDIT_TRY(vdit_ops_cuda_column_sums(op, dy, x, NULL, tokens_per_batch, dscale, accumulate));
  if (dshift) VDIT_TRY(vdit_ops_cuda_column_sums(op, dy, NULL, NULL, tokens_per_batch, dshift, accumulate));
  if (dx) VDIT_TRY(rowwise(2, dy, scale, NULL, NULL, tokens_per_batch, dx, accumulate));
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_gated_residual_forward(const char *op, const ops_rows *x, const ops_rows *gate,
                                                 const ops_rows *h, int64_t tokens_per_batch, const ops_rows *y) {
  (void)op;
  vdit_status fast;
  if (vdit_ops_cuda_fast_residual(x, gate, h, tokens_per_batch, y, &fast)) return fast;
  return rowwise(1, x, gate, NULL, h, tokens_per_batch, y, 0);
}

vdit_status vdit_ops_cuda_gated_residual_backward(const char *op, const ops_rows *gate, const ops_rows *h,
                                                  const ops_rows *dy, int64_t tokens_per_batch, const ops_rows *dx,
                                                  const ops_rows *dgate, const ops_rows *dh, int accumulate) {
  if (dgate) VDIT_TRY(vdit_ops_cuda_column_sums(op, dy, h, NULL, tokens_per_batch, dgate, accumulate));
  if (dh) VDIT_TRY(rowwise(3, dy, gate, NULL, NULL, tokens_per_batch, dh, accumulate));
  if (dx && (dx->data != dy->data || accumulate)) {
    if (accumulate) {
      VDIT_TRY(rowwise(5, dx, NULL, NULL, dy, 1, dx, 0));
    } else {
      const size_t esize = dy->dtype == VDIT_DTYPE_BF16 ? 2 : 4;
      if (dx->dtype == dy->dtype) {
        VDIT_TRY(select_device(dy));
        VDIT_CUDA_TRY(cudaMemcpy2DAsync(dx->data, (size_t)ops_rows_ld(dx) * esize, dy->data,
                                        (size_t)ops_rows_ld(dy) * esize, (size_t)dy->cols * esize, (size_t)dy->rows,
                                        cudaMemcpyDeviceToDevice, 0));
      } else {
        VDIT_TRY(rowwise(6, dy, NULL, NULL, NULL, 1, dx, 0));
      }
    }
  }
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_add(const char *op, const ops_rows *a, const ops_rows *b, int broadcast, const ops_rows *y) {
  (void)op;
  vdit_status fast;
  if (!broadcast && vdit_ops_cuda_fast_residual(a, NULL, b, 1, y, &fast)) return fast;
  return broadcast ? rowwise(4, a, b, NULL, NULL, 1, y, 0) : rowwise(5, a, NULL, NULL, b, 1, y, 0);
}

vdit_status vdit_ops_cuda_zero(const char *op, const ops_rows *x) {
  (void)op;
  if (x->rows == 0 || x->cols == 0) return VDIT_OK;
  VDIT_TRY(select_device(x));
  const size_t esize = x->dtype == VDIT_DTYPE_BF16 ? 2 : 4;
  VDIT_CUDA_TRY(cudaMemset2DAsync(x->data, (size_t)ops_rows_ld(x) * esize, 0, (size_t)x->cols * esize,
                                  (size_t)x->rows, 0));
  return VDIT_OK;
}

// ---------------------------------------------------------------- 3D RoPE
typedef struct rope_params {
  int64_t frames, height, width, frame_offset, heads;
  int64_t parts[3];
  int64_t offsets[3]; // of each axis' (count, d / 2) entries in the table
  double theta;
} rope_params;

// The per-axis tables of the CPU kernel: table[offsets[a] + p * (d / 2) + k] = (cos, sin) of
// (first + p) theta^(-2k / d), in double, rounded to float.
__global__ void rope_table_kernel(rope_params p, float2 *table, int64_t entries) {
  GRID_STRIDE(i, entries) {
    const int a = i < p.offsets[1] ? 0 : i < p.offsets[2] ? 1 : 2;
    const int64_t half = p.parts[a] / 2, e = i - p.offsets[a], position = e / half, k = e % half;
    const double frequency = 1.0 / pow(p.theta, (double)(2 * k) / (double)p.parts[a]);
    const double angle = (double)((a == 0 ? p.frame_offset : 0) + position) * frequency;
    table[i] = make_float2((float)cos(angle), (float)sin(angle));
  }
}

// One block per head vector (row), a thread per channel pair.
__global__ void rope_kernel(rope_params p, const float2 *table, dview x, dview y, int64_t dim, int inverse,
                            int accumulate) {
  const int64_t r = blockIdx.x, tokens = p.frames * p.height * p.width;
  const int64_t s = (r / p.heads) % tokens;
  const int64_t position[3] = {s / (p.height * p.width), (s / p.width) % p.height, s % p.width};
  for (int64_t k = threadIdx.x; k < dim / 2; k += blockDim.x) {
    const int a = k < p.parts[0] / 2 ? 0 : k < (p.parts[0] + p.parts[1]) / 2 ? 1 : 2;
    const int64_t local = k - (a == 0 ? 0 : a == 1 ? p.parts[0] / 2 : (p.parts[0] + p.parts[1]) / 2);
    const float2 cs = table[p.offsets[a] + position[a] * (p.parts[a] / 2) + local];
    const float c = cs.x, sn = inverse ? -cs.y : cs.y;
    const float x0 = at(x, r, 2 * k), x1 = at(x, r, 2 * k + 1);
    put_acc(y, r, 2 * k, x0 * c - x1 * sn, accumulate);
    put_acc(y, r, 2 * k + 1, x0 * sn + x1 * c, accumulate);
  }
}

vdit_status vdit_ops_cuda_rope_3d(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x,
                                  const ops_rows *y, int inverse, int accumulate) {
  (void)op;
  const int64_t n = x->rows * (x->cols / 2);
  if (n == 0) return VDIT_OK;
  VDIT_TRY(select_device(x));
  if (x->rows > INT32_MAX) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: too many rows for the CUDA kernel", op);
  ops_cuda_rope_table t;
  VDIT_TRY(vdit_ops_cuda_rope_table_build(rope, x->cols, &t));
  rope_params p;
  memset(&p, 0, sizeof p);
  p.frames = t.frames;
  p.height = t.height;
  p.width = t.width;
  p.heads = heads;
  memcpy(p.parts, t.parts, sizeof p.parts);
  memcpy(p.offsets, t.offsets, sizeof p.offsets);
  rope_kernel<<<(unsigned)x->rows, 64>>>(p, (const float2 *)t.table, view_of(x), view_of(y), x->cols, inverse,
                                         accumulate);
  vdit_ops_cuda_rope_table_free(&t);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_rope_table_build(const vdit_rope_3d *rope, int64_t head_dim, ops_cuda_rope_table *t) {
  memset(t, 0, sizeof *t);
  rope_params p;
  memset(&p, 0, sizeof p);
  p.frames = rope->frames;
  p.height = rope->height;
  p.width = rope->width;
  p.frame_offset = rope->frame_offset;
  p.theta = rope->theta > 0 ? rope->theta : 10000.0;
  vdit_ops_rope_3d_split(head_dim, p.parts);
  p.offsets[0] = 0;
  p.offsets[1] = p.frames * (p.parts[0] / 2);
  p.offsets[2] = p.offsets[1] + p.height * (p.parts[1] / 2);
  const int64_t entries = p.offsets[2] + p.width * (p.parts[2] / 2);
  float2 *table = NULL;
  VDIT_CUDA_TRY(cudaMallocAsync((void **)&table, (size_t)(entries > 0 ? entries : 1) * sizeof *table, 0));
  if (entries > 0) rope_table_kernel<<<blocks_for(entries, 256), 256>>>(p, table, entries);
  t->table = table;
  t->head_dim = head_dim;
  t->frames = p.frames;
  t->height = p.height;
  t->width = p.width;
  memcpy(t->parts, p.parts, sizeof t->parts);
  memcpy(t->offsets, p.offsets, sizeof t->offsets);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

void vdit_ops_cuda_rope_table_free(ops_cuda_rope_table *t) {
  if (t->table) cudaFreeAsync(t->table, 0);
  t->table = NULL;
}

vdit_status vdit_ops_cuda_rms_norm_rope(const char *op, const vdit_rope_3d *rope, int64_t heads, const ops_rows *x,
                                        const ops_rows *weight, float eps, const ops_rows *y) {
  if (x->rows == 0 || x->cols == 0) return VDIT_OK;
  if (x->rows * heads > INT32_MAX) return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: too many rows for the CUDA kernel", op);
  const int64_t head_dim = x->cols / heads;
  VDIT_TRY(select_device(x));
  ops_cuda_rope_table t;
  VDIT_TRY(vdit_ops_cuda_rope_table_build(rope, head_dim, &t));
  vdit_status status;
  if (!vdit_ops_cuda_fast_norm(x, weight, NULL, eps, NULL, NULL, 1, y, 1, &t, &status)) {
    // The general kernels: RMSNorm into y, then RoPE on y's (rows * heads, head_dim) rows.
    norm_forward_kernel<<<(unsigned)x->rows, NORM_THREADS>>>(view_of(x), view_of(weight), view_of(NULL), eps,
                                                              view_of(NULL), view_of(NULL), 1, view_of(y), x->cols, 1);
    rope_params p;
    memset(&p, 0, sizeof p);
    p.frames = t.frames;
    p.height = t.height;
    p.width = t.width;
    p.heads = heads;
    memcpy(p.parts, t.parts, sizeof p.parts);
    memcpy(p.offsets, t.offsets, sizeof p.offsets);
    dview heads_view = view_of(y);
    heads_view.ld = head_dim; // contiguous rows: head h of token r is row r * heads + h
    rope_kernel<<<(unsigned)(x->rows * heads), 64>>>(p, (const float2 *)t.table, heads_view, heads_view, head_dim, 0,
                                                     0);
    status = cudaGetLastError() == cudaSuccess ? VDIT_OK
                                               : VDIT_ERROR(VDIT_ERROR_CUDA, "%s: kernel launch failed", op);
  }
  vdit_ops_cuda_rope_table_free(&t);
  VDIT_TRY(status);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// ---------------------------------------------------------------- patches
typedef struct patch_params {
  int64_t channels, frames, height, width, pt, ph, pw; // patches per axis
  int64_t stride[5];
  int channel_last, direction, accumulate, video_bf16;
  void *video;
} patch_params;

__global__ void patch_kernel(patch_params p, dview rows, int64_t row_count, int64_t k) {
  const int64_t tokens = p.frames * p.height * p.width;
  GRID_STRIDE(i, row_count * k) {
    const int64_t r = i / k, e = i - r * k;
    const int64_t b = r / tokens, s = r % tokens;
    const int64_t f = s / (p.height * p.width), h = (s / p.width) % p.height, w = s % p.width;
    int64_t c, ti, hj, wl;
    if (p.channel_last) {
      c = e % p.channels;
      const int64_t rest = e / p.channels;
      wl = rest % p.pw;
      hj = (rest / p.pw) % p.ph;
      ti = rest / (p.pw * p.ph);
    } else {
      wl = e % p.pw;
      hj = (e / p.pw) % p.ph;
      ti = (e / (p.pw * p.ph)) % p.pt;
      c = e / (p.pw * p.ph * p.pt);
    }
    const int64_t v = b * p.stride[0] + c * p.stride[1] + (f * p.pt + ti) * p.stride[2] + (h * p.ph + hj) * p.stride[3] +
                      (w * p.pw + wl) * p.stride[4];
    if (p.direction == 0) {
      put_acc(rows, r, e, load_value(p.video, p.video_bf16, v), p.accumulate);
    } else {
      float value = at(rows, r, e);
      if (p.accumulate) value += load_value(p.video, p.video_bf16, v);
      store_value(p.video, p.video_bf16, v, value);
    }
  }
}

vdit_status vdit_ops_cuda_patch_transfer(const char *op, const ops_video *video, const int64_t patch[3],
                                         int channel_last, const ops_rows *rows, int direction, int accumulate) {
  (void)op;
  const int64_t k = rows->cols, n = rows->rows * k;
  if (n == 0) return VDIT_OK;
  VDIT_TRY(select_device(rows));
  patch_params p;
  p.channels = video->shape[1];
  p.frames = video->shape[2] / patch[0];
  p.height = video->shape[3] / patch[1];
  p.width = video->shape[4] / patch[2];
  p.pt = patch[0];
  p.ph = patch[1];
  p.pw = patch[2];
  memcpy(p.stride, video->stride, sizeof p.stride);
  p.channel_last = channel_last;
  p.direction = direction;
  p.accumulate = accumulate;
  p.video_bf16 = video->dtype == VDIT_DTYPE_BF16;
  p.video = video->data;
  patch_kernel<<<blocks_for(n, 256), 256>>>(p, view_of(rows), rows->rows, k);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// A contiguous (rows, cols) scratch matrix on the GPU (stream-ordered allocation): bf16 as a
// GEMM operand, f32 as a GEMM output that is scattered on.
static vdit_status scratch_matrix(const char *op, const ops_rows *like, vdit_dtype dtype, int64_t rows, int64_t cols,
                                  ops_rows *m) {
  memset(m, 0, sizeof *m);
  m->rows = rows;
  m->cols = cols;
  m->lead = 1;
  m->shape[0] = rows;
  m->stride[0] = cols;
  m->dtype = dtype;
  m->device = like->device;
  void *p = NULL;
  const size_t esize = dtype == VDIT_DTYPE_BF16 ? 2 : 4;
  if (cudaMallocAsync(&p, (size_t)(rows * cols > 0 ? rows * cols : 1) * esize, 0) != cudaSuccess) {
    (void)cudaGetLastError();
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: no GPU memory for a %lld x %lld patch matrix", op,
                      (long long)rows, (long long)cols);
  }
  m->data = (float *)p;
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_patch_embed_forward(const char *op, const ops_video *video, const int64_t patch[3],
                                              const ops_rows *weight, const ops_rows *bias, const ops_rows *tokens) {
  ops_rows patches;
  VDIT_TRY(select_device(tokens));
  VDIT_TRY(scratch_matrix(op, tokens, VDIT_DTYPE_BF16, tokens->rows, weight->cols, &patches));
  vdit_status status = vdit_ops_cuda_patch_transfer(op, video, patch, 0, &patches, 0, 0);
  if (status == VDIT_OK) status = vdit_ops_cuda_linear(op, &patches, weight, bias, NULL, tokens, OPS_CUDA_EPILOGUE_BIAS);
  cudaFreeAsync(patches.data, 0);
  return status;
}

vdit_status vdit_ops_cuda_patch_embed_backward(const char *op, const ops_video *video, const int64_t patch[3],
                                               const ops_rows *weight, const ops_rows *dtokens,
                                               const ops_video *dvideo, const ops_rows *dweight,
                                               const ops_rows *dbias, int accumulate) {
  if (dbias) VDIT_TRY(vdit_ops_cuda_column_sums(op, dtokens, NULL, NULL, dtokens->rows, dbias, accumulate));
  if (!dweight && !dvideo) return VDIT_OK;
  const int64_t k = dweight ? dweight->cols : weight->cols;
  VDIT_TRY(select_device(dtokens));
  vdit_status status = VDIT_OK;
  if (dweight) { // dW (dim, K) = dtokens^T patches: the patches as a bf16 operand
    ops_rows patches;
    VDIT_TRY(scratch_matrix(op, dtokens, VDIT_DTYPE_BF16, dtokens->rows, k, &patches));
    status = vdit_ops_cuda_patch_transfer(op, video, patch, 0, &patches, 0, 0);
    if (status == VDIT_OK) status = vdit_ops_cuda_linear_backward(op, &patches, NULL, dtokens, NULL, dweight, NULL, accumulate);
    cudaFreeAsync(patches.data, 0);
  }
  if (status == VDIT_OK && dvideo) { // dpatches (N, K) = dtokens W in f32, scattered into dvideo
    ops_rows patches;
    VDIT_TRY(scratch_matrix(op, dtokens, VDIT_DTYPE_F32, dtokens->rows, k, &patches));
    status = vdit_ops_cuda_linear_backward(op, NULL, weight, dtokens, &patches, NULL, NULL, 0);
    if (status == VDIT_OK) status = vdit_ops_cuda_patch_transfer(op, dvideo, patch, 0, &patches, 1, accumulate);
    cudaFreeAsync(patches.data, 0);
  }
  return status;
}

// ---------------------------------------------------------------- timestep embedding
__global__ void timestep_kernel(dview t, dview out, int64_t rows, int64_t dim) {
  const int64_t half = dim / 2;
  const float log_period = (float)-log(10000.0);
  GRID_STRIDE(i, rows * (half + 1)) {
    const int64_t r = i / (half + 1), k = i - r * (half + 1);
    if (k == half) {
      if (dim % 2) put(out, r, dim - 1, 0.0f);
      continue;
    }
    const float exponent = __fmul_rn(log_period, (float)k);
    const float scaled = __fdiv_rn(exponent, (float)half);
    const float frequency = (float)exp((double)scaled);
    const float angle = __fmul_rn(at(t, 0, r), frequency);
    put(out, r, k, (float)cos((double)angle));
    put(out, r, half + k, (float)sin((double)angle));
  }
}

vdit_status vdit_ops_cuda_timestep_embedding(const char *op, const ops_rows *timesteps, const ops_rows *out) {
  (void)op;
  if (out->rows == 0 || out->cols == 0) return VDIT_OK;
  VDIT_TRY(select_device(out));
  // timesteps (N) is one row of N: element r at column r.
  dview t = view_of(timesteps);
  timestep_kernel<<<blocks_for(out->rows * (out->cols / 2 + 1), 256), 256>>>(t, view_of(out), out->rows, out->cols);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}
