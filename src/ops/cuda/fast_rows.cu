// Fast paths of the row ops for the model's common case (kernels.cu keeps the general ones):
// bf16 rows whose width is a multiple of 256 (so cols / 8 threads are whole warps, at most
// 1024), 16-byte aligned rows, f32 parameters. One block per row, each thread holding 8
// channels in registers after one 16-byte load, so a norm reads its row once (not three
// times) and a residual update is one pass with vector loads and stores.
//   - LayerNorm / RMSNorm with optional affine weight and bias, optional modulation
//     (1 + scale[b]) and + shift[b], and optional 3D RoPE on the normalized row (the head
//     dim a multiple of 8: a thread's 8 channels stay in one head): Wan's norm1/norm3 +
//     modulate, and norm_q/norm_k + RoPE.
//   - y = x + gate[b] h and y = x + h.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include "base/cuda_check.h"
#include "ops/cuda/ops_cuda.h"

typedef struct fast_norm_params {
  const __nv_bfloat16 *x;
  __nv_bfloat16 *y;
  int64_t ldx, ldy;
  const float *w, *b, *scale, *shift;
  int64_t ld_mod, tokens;
  int cols, rms;
  float eps;
  // RoPE (table NULL: none): rows are tokens b * S + s of heads * head_dim channels
  const float2 *table;
  int head_dim;
  int64_t frames, height, width;
  int64_t parts[3], offsets[3];
} fast_norm_params;

__device__ static float fast_block_sum(float v, float *shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < warps; i++) total += shared[i];
  return total;
}

__global__ void fast_norm_kernel(fast_norm_params p) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const int c0 = threadIdx.x * 8;
  uint4 raw = *(const uint4 *)(p.x + r * p.ldx + c0);
  const __nv_bfloat162 *in = (const __nv_bfloat162 *)&raw;
  float v[8];
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const float2 f = __bfloat1622float2(in[j]);
    v[2 * j] = f.x;
    v[2 * j + 1] = f.y;
  }
  float mean = 0.0f;
  if (!p.rms) {
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; j++) s += v[j];
    mean = fast_block_sum(s, shared) / (float)p.cols;
  }
  float q = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; j++) q += (v[j] - mean) * (v[j] - mean);
  const float rstd = 1.0f / sqrtf(fast_block_sum(q, shared) / (float)p.cols + p.eps);
#pragma unroll
  for (int j = 0; j < 8; j++) {
    float o = (v[j] - mean) * rstd;
    if (p.w) o *= p.w[c0 + j];
    if (p.b) o += p.b[c0 + j];
    v[j] = o;
  }
  if (p.scale) {
    const int64_t batch = r / p.tokens;
    const float *sc = p.scale + batch * p.ld_mod + c0, *sh = p.shift + batch * p.ld_mod + c0;
#pragma unroll
    for (int j = 0; j < 8; j++) v[j] = v[j] * (1.0f + sc[j]) + sh[j];
  }
  if (p.table) {
    const int64_t s = r % (p.frames * p.height * p.width);
    const int64_t position[3] = {s / (p.height * p.width), (s / p.width) % p.height, s % p.width};
    const int pair0 = (c0 % p.head_dim) / 2;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int k = pair0 + j;
      const int a = k < p.parts[0] / 2 ? 0 : k < (p.parts[0] + p.parts[1]) / 2 ? 1 : 2;
      const int local = k - (a == 0 ? 0 : a == 1 ? (int)(p.parts[0] / 2) : (int)((p.parts[0] + p.parts[1]) / 2));
      const float2 cs = p.table[p.offsets[a] + position[a] * (p.parts[a] / 2) + local];
      const float x0 = v[2 * j], x1 = v[2 * j + 1];
      v[2 * j] = x0 * cs.x - x1 * cs.y;
      v[2 * j + 1] = x0 * cs.y + x1 * cs.x;
    }
  }
  uint4 packed;
  __nv_bfloat162 *out = (__nv_bfloat162 *)&packed;
#pragma unroll
  for (int j = 0; j < 4; j++) out[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
  *(uint4 *)(p.y + r * p.ldy + c0) = packed;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

// bf16 rows of cols % 256 == 0 (<= 8192), 16-byte aligned starts and strides.
static int fast_rows_ok(const ops_rows *v, int64_t cols) {
  return v && v->dtype == VDIT_DTYPE_BF16 && v->cols == cols && aligned16(v->data) && ops_rows_ld(v) % 8 == 0;
}

static int fast_width_ok(int64_t cols) { return cols > 0 && cols % 256 == 0 && cols / 8 <= 1024; }

static int f32_or_null(const ops_rows *v) { return !v || v->dtype == VDIT_DTYPE_F32; }

int vdit_ops_cuda_fast_norm(const ops_rows *x, const ops_rows *weight, const ops_rows *bias, float eps,
                            const ops_rows *scale, const ops_rows *shift, int64_t tokens_per_batch, const ops_rows *y,
                            int rms, const ops_cuda_rope_table *rope, vdit_status *status) {
  const int64_t cols = x->cols;
  if (!fast_width_ok(cols) || !fast_rows_ok(x, cols) || !fast_rows_ok(y, cols) || !f32_or_null(weight) ||
      !f32_or_null(bias) || !f32_or_null(scale) || !f32_or_null(shift) || x->rows > INT32_MAX || x->rows == 0)
    return 0;
  if (rope && (rope->head_dim % 8 != 0 || cols % rope->head_dim != 0)) return 0;
  fast_norm_params p;
  memset(&p, 0, sizeof p);
  p.x = (const __nv_bfloat16 *)x->data;
  p.y = (__nv_bfloat16 *)y->data;
  p.ldx = ops_rows_ld(x);
  p.ldy = ops_rows_ld(y);
  p.w = weight ? weight->data : NULL;
  p.b = bias ? bias->data : NULL;
  p.scale = scale ? scale->data : NULL;
  p.shift = shift ? shift->data : NULL;
  p.ld_mod = scale ? ops_rows_ld(scale) : 0;
  if (scale && ops_rows_ld(shift) != p.ld_mod) return 0;
  p.tokens = tokens_per_batch > 0 ? tokens_per_batch : 1;
  p.cols = (int)cols;
  p.rms = rms;
  p.eps = eps;
  if (rope) {
    p.table = (const float2 *)rope->table;
    p.head_dim = (int)rope->head_dim;
    p.frames = rope->frames;
    p.height = rope->height;
    p.width = rope->width;
    memcpy(p.parts, rope->parts, sizeof p.parts);
    memcpy(p.offsets, rope->offsets, sizeof p.offsets);
  }
  *status = VDIT_OK;
  if (cudaSetDevice(x->device.index) != cudaSuccess) {
    *status = VDIT_ERROR(VDIT_ERROR_CUDA, "cudaSetDevice(%d) failed", x->device.index);
    return 1;
  }
  fast_norm_kernel<<<(unsigned)x->rows, (unsigned)(cols / 8)>>>(p);
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess)
    *status = VDIT_ERROR(VDIT_ERROR_CUDA, "fast norm kernel launch failed: %s", cudaGetErrorString(error));
  return 1;
}

// y = x + gate[b] h (gate non-NULL) or x + h.
__global__ void fast_residual_kernel(const __nv_bfloat16 *x, int64_t ldx, const float *gate, int64_t ldg,
                                     int64_t tokens, const __nv_bfloat16 *h, int64_t ldh, __nv_bfloat16 *y,
                                     int64_t ldy) {
  const int64_t r = blockIdx.x;
  const int c0 = threadIdx.x * 8;
  uint4 xr = *(const uint4 *)(x + r * ldx + c0), hr = *(const uint4 *)(h + r * ldh + c0), packed;
  const __nv_bfloat162 *x2 = (const __nv_bfloat162 *)&xr, *h2 = (const __nv_bfloat162 *)&hr;
  __nv_bfloat162 *o2 = (__nv_bfloat162 *)&packed;
  const float *g = gate ? gate + (r / tokens) * ldg + c0 : NULL;
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const float2 a = __bfloat1622float2(x2[j]), b = __bfloat1622float2(h2[j]);
    const float g0 = g ? g[2 * j] : 1.0f, g1 = g ? g[2 * j + 1] : 1.0f;
    o2[j] = __floats2bfloat162_rn(a.x + g0 * b.x, a.y + g1 * b.y);
  }
  *(uint4 *)(y + r * ldy + c0) = packed;
}

int vdit_ops_cuda_fast_residual(const ops_rows *x, const ops_rows *gate, const ops_rows *h, int64_t tokens_per_batch,
                                const ops_rows *y, vdit_status *status) {
  const int64_t cols = y->cols;
  if (!fast_width_ok(cols) || !fast_rows_ok(x, cols) || !fast_rows_ok(h, cols) || !fast_rows_ok(y, cols) ||
      !f32_or_null(gate) || y->rows > INT32_MAX || y->rows == 0)
    return 0;
  *status = VDIT_OK;
  if (cudaSetDevice(y->device.index) != cudaSuccess) {
    *status = VDIT_ERROR(VDIT_ERROR_CUDA, "cudaSetDevice(%d) failed", y->device.index);
    return 1;
  }
  fast_residual_kernel<<<(unsigned)y->rows, (unsigned)(cols / 8)>>>(
      (const __nv_bfloat16 *)x->data, ops_rows_ld(x), gate ? gate->data : NULL, gate ? ops_rows_ld(gate) : 0,
      tokens_per_batch > 0 ? tokens_per_batch : 1, (const __nv_bfloat16 *)h->data, ops_rows_ld(h),
      (__nv_bfloat16 *)y->data, ops_rows_ld(y));
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess)
    *status = VDIT_ERROR(VDIT_ERROR_CUDA, "fast residual kernel launch failed: %s", cudaGetErrorString(error));
  return 1;
}
