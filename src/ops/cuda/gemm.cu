// The GEMM of the CUDA ops: one cuBLASLt wrapper with fused epilogues, plus a plain tiled
// kernel for the shapes cuBLASLt has no plan for (odd leading dims of tiny test models,
// misaligned views). See ops_cuda.h for the contract.
//
// Row-major to cuBLASLt's column-major: a row-major (m, n) matrix with leading dim ld is the
// column-major (n, m) matrix with the same ld, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T: cuBLASLt's "A" is our B, its "B" our A, and its M, N = n, m.
// cuBLASLt's bias (length M) is then our bias over the n columns, and its aux matrix (M, N)
// our row-major (m, n) pre-activation.
//
// Per GPU a context (the only mutable state, behind a mutex): the cuBLASLt handle, a 32 MiB
// workspace and a cache of plans (matmul descriptor, layouts, the heuristic's algorithm) keyed
// by everything but the pointers; bias and aux pointers are set on the cached descriptor per call.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "base/cuda_check.h"
#include "ops/cuda/ops_cuda.h"
#include "ops/cuda/ops_cuda_common.cuh"

#define GEMM_MAX_DEVICES 16
#define GEMM_PLAN_CACHE 256
#define GEMM_WORKSPACE_BYTES ((size_t)32 << 20)

typedef struct gemm_key {
  int trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc, ldaux;
  int c_dtype, bias_dtype;
  int epilogue; // cublasLtEpilogue_t
  int align_a, align_b, align_c;
} gemm_key;

typedef struct gemm_plan {
  gemm_key key;
  int usable; // 0: cuBLASLt offered no algorithm: the fallback kernel runs
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t layout_a, layout_b, layout_c;
  cublasLtMatmulAlgo_t algo;
} gemm_plan;

typedef struct gemm_context {
  int ready;
  cublasLtHandle_t handle;
  void *workspace;
  gemm_plan plans[GEMM_PLAN_CACHE];
  int plan_count, next_evict;
  uint64_t cublaslt_calls, fallback_calls;
} gemm_context;

// The per-device backend context (see the file comment).
static gemm_context contexts[GEMM_MAX_DEVICES];
static pthread_mutex_t contexts_lock = PTHREAD_MUTEX_INITIALIZER;

#define LT_TRY(call)                                                                                     \
  do {                                                                                                   \
    cublasStatus_t lt_status_ = (call);                                                                  \
    if (lt_status_ != CUBLAS_STATUS_SUCCESS)                                                             \
      return vdit_error_set(VDIT_ERROR_CUDA, __FILE__, __LINE__, "%s:%d: %s failed: cuBLAS status %d", \
                            __FILE__, __LINE__, #call, (int)lt_status_);                                 \
  } while (0)

static vdit_status context_init(gemm_context *ctx) {
  if (ctx->ready) return VDIT_OK;
  LT_TRY(cublasLtCreate(&ctx->handle));
  VDIT_CUDA_TRY(cudaMalloc(&ctx->workspace, GEMM_WORKSPACE_BYTES));
  ctx->ready = 1;
  return VDIT_OK;
}

static int alignment_of(const void *p) {
  uintptr_t v = (uintptr_t)p;
  int a = 256;
  while (a > 1 && v % (uintptr_t)a) a /= 2;
  return a;
}

static cudaDataType_t cuda_type(vdit_dtype dtype) { return dtype == VDIT_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

static void plan_release(gemm_plan *p) {
  if (p->desc) cublasLtMatmulDescDestroy(p->desc);
  if (p->layout_a) cublasLtMatrixLayoutDestroy(p->layout_a);
  if (p->layout_b) cublasLtMatrixLayoutDestroy(p->layout_b);
  if (p->layout_c) cublasLtMatrixLayoutDestroy(p->layout_c);
  memset(p, 0, sizeof *p);
}

// Builds the descriptor and layouts of `key` and asks the heuristic for one algorithm.
static vdit_status plan_build(gemm_context *ctx, const gemm_key *key, gemm_plan *p) {
  memset(p, 0, sizeof *p);
  p->key = *key;
  LT_TRY(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // cuBLASLt's A is our B, its B our A (file comment).
  cublasOperation_t op_a = key->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = key->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  cublasLtEpilogue_t epilogue = (cublasLtEpilogue_t)key->epilogue;
  LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
  if (key->bias_dtype >= 0) {
    cudaDataType_t bias_type = cuda_type((vdit_dtype)key->bias_dtype);
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
  }
  if (key->ldaux > 0) {
    int64_t ld = key->ldaux;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
  }
  const int64_t M = key->n, N = key->m, K = key->k;
  // Stored shapes (column-major rows x cols) of cuBLASLt's A (our B) and B (our A).
  LT_TRY(cublasLtMatrixLayoutCreate(&p->layout_a, CUDA_R_16BF, key->trans_b ? (uint64_t)K : (uint64_t)M,
                                    key->trans_b ? (uint64_t)M : (uint64_t)K, key->ldb));
  LT_TRY(cublasLtMatrixLayoutCreate(&p->layout_b, CUDA_R_16BF, key->trans_a ? (uint64_t)N : (uint64_t)K,
                                    key->trans_a ? (uint64_t)K : (uint64_t)N, key->lda));
  LT_TRY(cublasLtMatrixLayoutCreate(&p->layout_c, cuda_type((vdit_dtype)key->c_dtype), (uint64_t)M, (uint64_t)N,
                                    key->ldc));
  cublasLtMatmulPreference_t pref;
  LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
  size_t workspace = GEMM_WORKSPACE_BYTES;
  uint32_t align_a = (uint32_t)key->align_b, align_b = (uint32_t)key->align_a, align_c = (uint32_t)key->align_c;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c);
  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(ctx->handle, p->desc, p->layout_a, p->layout_b, p->layout_c,
                                                         p->layout_c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status == CUBLAS_STATUS_SUCCESS && found > 0) {
    p->algo = result.algo;
    p->usable = 1;
  }
  return VDIT_OK;
}

// The cached plan of `key` (built on first use). Called with the lock held.
static vdit_status plan_get(gemm_context *ctx, const gemm_key *key, gemm_plan **out) {
  for (int i = 0; i < ctx->plan_count; i++)
    if (memcmp(&ctx->plans[i].key, key, sizeof *key) == 0) {
      *out = &ctx->plans[i];
      return VDIT_OK;
    }
  gemm_plan *p;
  if (ctx->plan_count < GEMM_PLAN_CACHE) {
    p = &ctx->plans[ctx->plan_count++];
  } else { // full: replace the oldest entries in turn
    p = &ctx->plans[ctx->next_evict];
    ctx->next_evict = (ctx->next_evict + 1) % GEMM_PLAN_CACHE;
    plan_release(p);
  }
  vdit_status status = plan_build(ctx, key, p);
  if (status != VDIT_OK) {
    plan_release(p);
    p->key = *key; // usable 0: the fallback serves this key from now on
  }
  *out = p;
  return VDIT_OK;
}

// ---------------------------------------------------------------- the fallback kernel
// 64 x 64 tiles of C, 16 x 16 threads of 4 x 4 outputs, k in steps of 16 through shared memory.
#define FB_TILE 64
#define FB_K 16

__device__ __forceinline__ float gelu_tanh_value(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + __expf(-2.0f * u));
}

__device__ __forceinline__ float gelu_tanh_slope(float x) {
  const float x2 = x * x, z = 2.0f * 0.7978845608028654f * (x + 0.044715f * x2 * x);
  const float e = __expf(-z), s = 1.0f / (1.0f + e);
  const float one_minus = s < 0.5f ? 1.0f - s : e * s;
  return s + 2.0f * x * s * one_minus * 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x2);
}

typedef struct fb_params {
  int trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc, ldaux, ld_pre;
  const __nv_bfloat16 *a, *b;
  void *c;
  int c_bf16, bias_bf16, accumulate, epilogue;
  const void *bias;
  void *aux;
  const void *pre;
} fb_params;

__global__ void gemm_fallback_kernel(fb_params p) {
  __shared__ float as[FB_K][FB_TILE + 1], bs[FB_K][FB_TILE + 1];
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
  const int64_t row0 = (int64_t)blockIdx.y * FB_TILE, col0 = (int64_t)blockIdx.x * FB_TILE;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.k; k0 += FB_K) {
    for (int e = tid; e < FB_K * FB_TILE; e += 256) {
      const int kk = e / FB_TILE, ii = e % FB_TILE;
      const int64_t i = row0 + ii, kx = k0 + kk, j = col0 + ii;
      float av = 0.0f, bv = 0.0f;
      if (i < p.m && kx < p.k) av = __bfloat162float(p.trans_a ? p.a[kx * p.lda + i] : p.a[i * p.lda + kx]);
      if (j < p.n && kx < p.k) bv = __bfloat162float(p.trans_b ? p.b[j * p.ldb + kx] : p.b[kx * p.ldb + j]);
      as[kk][ii] = av;
      bs[kk][ii] = bv;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < FB_K; kk++)
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[r][c] += as[kk][ty * 4 + r] * bs[kk][tx * 4 + c];
    __syncthreads();
  }
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) {
      const int64_t i = row0 + ty * 4 + r, j = col0 + tx * 4 + c;
      if (i >= p.m || j >= p.n) continue;
      float v = acc[r][c];
      if (p.epilogue >= 1 && p.bias) v += load_value(p.bias, p.bias_bf16, j);
      if (p.epilogue == 2) {
        if (p.aux) store_value(p.aux, p.c_bf16, i * p.ldaux + j, v);
        v = gelu_tanh_value(p.c_bf16 ? round_bf16(v) : v); // GELU of the stored pre-activation
      }
      if (p.pre) v *= gelu_tanh_slope(load_value(p.pre, p.c_bf16, i * p.ld_pre + j));
      if (p.accumulate) v += load_value(p.c, p.c_bf16, i * p.ldc + j);
      store_value(p.c, p.c_bf16, i * p.ldc + j, v);
    }
}

static vdit_status gemm_fallback(const ops_cuda_gemm *g) {
  fb_params p;
  memset(&p, 0, sizeof p);
  p.trans_a = g->trans_a;
  p.trans_b = g->trans_b;
  p.m = g->m;
  p.n = g->n;
  p.k = g->k;
  p.lda = g->lda;
  p.ldb = g->ldb;
  p.ldc = g->ldc;
  p.ldaux = g->ldaux;
  p.ld_pre = g->ld_pre;
  p.a = (const __nv_bfloat16 *)g->a;
  p.b = (const __nv_bfloat16 *)g->b;
  p.c = g->c;
  p.c_bf16 = g->c_dtype == VDIT_DTYPE_BF16;
  p.bias_bf16 = g->bias_dtype == VDIT_DTYPE_BF16;
  p.accumulate = g->accumulate;
  p.epilogue = (int)g->epilogue;
  p.bias = g->bias;
  p.aux = g->aux;
  p.pre = g->dgelu_pre;
  dim3 grid((unsigned)((g->n + FB_TILE - 1) / FB_TILE), (unsigned)((g->m + FB_TILE - 1) / FB_TILE));
  gemm_fallback_kernel<<<grid, dim3(16, 16)>>>(p);
  VDIT_CUDA_TRY_LAUNCH();
  return VDIT_OK;
}

// ---------------------------------------------------------------- the entry
vdit_status vdit_ops_cuda_gemm(const char *op, int device, const ops_cuda_gemm *g) {
  if (g->m == 0 || g->n == 0) return VDIT_OK;
  if (g->m > INT32_MAX || g->n > INT32_MAX || g->k > INT32_MAX)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: GEMM (%lld, %lld, %lld) is beyond 32-bit sizes", op,
                      (long long)g->m, (long long)g->n, (long long)g->k);
  if (device < 0 || device >= GEMM_MAX_DEVICES)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: GPU %d is beyond the %d the GEMM context serves", op, device,
                      GEMM_MAX_DEVICES);
  VDIT_CUDA_TRY(cudaSetDevice(device));
  if (g->k == 0) { // C = 0 (+ bias ...): the fallback handles the empty sum
    return gemm_fallback(g);
  }
  gemm_key key;
  memset(&key, 0, sizeof key);
  key.trans_a = g->trans_a;
  key.trans_b = g->trans_b;
  key.m = g->m;
  key.n = g->n;
  key.k = g->k;
  key.lda = g->lda;
  key.ldb = g->ldb;
  key.ldc = g->ldc;
  key.c_dtype = (int)g->c_dtype;
  key.bias_dtype = -1;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (g->dgelu_pre) {
    epilogue = CUBLASLT_EPILOGUE_DGELU;
    key.ldaux = g->ld_pre;
  } else if (g->epilogue == OPS_CUDA_EPILOGUE_BIAS_GELU) {
    epilogue = g->bias ? (g->aux ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_BIAS)
                       : (g->aux ? CUBLASLT_EPILOGUE_GELU_AUX : CUBLASLT_EPILOGUE_GELU);
    if (g->aux) key.ldaux = g->ldaux;
  } else if (g->epilogue == OPS_CUDA_EPILOGUE_BIAS && g->bias) {
    epilogue = CUBLASLT_EPILOGUE_BIAS;
  }
  if (g->bias && epilogue != CUBLASLT_EPILOGUE_DEFAULT && epilogue != CUBLASLT_EPILOGUE_DGELU)
    key.bias_dtype = (int)g->bias_dtype;
  key.epilogue = (int)epilogue;
  key.align_a = alignment_of(g->a);
  key.align_b = alignment_of(g->b);
  key.align_c = alignment_of(g->c);
  // cuBLASLt's epilogues want 16-byte aligned bias/aux and an aux ld of a multiple of 8; the
  // accumulate path has no epilogue. Anything else runs in the fallback kernel.
  const void *aux_ptr = g->dgelu_pre ? g->dgelu_pre : g->aux;
  int lt_ok = !(g->accumulate && epilogue != CUBLASLT_EPILOGUE_DEFAULT);
  if (aux_ptr && (alignment_of(aux_ptr) < 16 || key.ldaux % 8 != 0)) lt_ok = 0;
  if (key.bias_dtype >= 0 && alignment_of(g->bias) < 16) lt_ok = 0;
  if (key.align_a < 2 || key.align_b < 2 || key.align_c < 4) lt_ok = 0;

  gemm_context *ctx = &contexts[device];
  if (lt_ok) {
    pthread_mutex_lock(&contexts_lock);
    vdit_status status = context_init(ctx);
    gemm_plan *plan = NULL;
    if (status == VDIT_OK) status = plan_get(ctx, &key, &plan);
    if (status == VDIT_OK && plan->usable) {
      cublasStatus_t lt = CUBLAS_STATUS_SUCCESS;
      if (key.bias_dtype >= 0)
        lt = cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias);
      if (lt == CUBLAS_STATUS_SUCCESS && aux_ptr)
        lt = cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux_ptr,
                                            sizeof aux_ptr);
      const float alpha = 1.0f, beta = g->accumulate ? 1.0f : 0.0f;
      if (lt == CUBLAS_STATUS_SUCCESS)
        lt = cublasLtMatmul(ctx->handle, plan->desc, &alpha, g->b, plan->layout_a, g->a, plan->layout_b, &beta, g->c,
                            plan->layout_c, g->c, plan->layout_c, &plan->algo, ctx->workspace, GEMM_WORKSPACE_BYTES,
                            0);
      if (lt == CUBLAS_STATUS_SUCCESS) ctx->cublaslt_calls++;
      pthread_mutex_unlock(&contexts_lock);
      if (lt != CUBLAS_STATUS_SUCCESS)
        return VDIT_ERROR(VDIT_ERROR_CUDA, "%s: cublasLtMatmul (%lld x %lld x %lld) failed: cuBLAS status %d", op,
                          (long long)g->m, (long long)g->n, (long long)g->k, (int)lt);
      VDIT_CUDA_TRY_LAUNCH();
      return VDIT_OK;
    }
    pthread_mutex_unlock(&contexts_lock);
    VDIT_TRY(status);
  }
  pthread_mutex_lock(&contexts_lock);
  ctx->fallback_calls++;
  pthread_mutex_unlock(&contexts_lock);
  return gemm_fallback(g);
}

void vdit_ops_cuda_gemm_counts(int device, uint64_t *cublaslt, uint64_t *fallback) {
  *cublaslt = *fallback = 0;
  if (device < 0 || device >= GEMM_MAX_DEVICES) return;
  pthread_mutex_lock(&contexts_lock);
  *cublaslt = contexts[device].cublaslt_calls;
  *fallback = contexts[device].fallback_calls;
  pthread_mutex_unlock(&contexts_lock);
}

// ---------------------------------------------------------------- linear on rows
// The GEMM C (m, n) = op(A) op(B) over row operands: m and n from C, k the reduced extent,
// op() a transpose where asked; the rest of the struct zero (no epilogue, overwrite).
static ops_cuda_gemm rows_gemm(int trans_a, int trans_b, int64_t k, const ops_rows *a, const ops_rows *b,
                               const ops_rows *c) {
  ops_cuda_gemm g;
  memset(&g, 0, sizeof g);
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = c->rows;
  g.n = c->cols;
  g.k = k;
  g.a = a->data;
  g.lda = ops_rows_ld(a);
  g.b = b->data;
  g.ldb = ops_rows_ld(b);
  g.c = c->data;
  g.c_dtype = c->dtype;
  g.ldc = ops_rows_ld(c);
  return g;
}

// y (N, out) = x (N, in) W^T + b: C = A B^T with A = x (m = N, k = in), B = W (n = out).
vdit_status vdit_ops_cuda_linear(const char *op, const ops_rows *x, const ops_rows *weight, const ops_rows *bias,
                                 const ops_rows *pre, const ops_rows *y, ops_cuda_epilogue epilogue) {
  if (x->dtype != VDIT_DTYPE_BF16 || weight->dtype != VDIT_DTYPE_BF16)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: the CUDA GEMM takes bf16 x and weight (got %s, %s)", op,
                      vdit_dtype_name(x->dtype), vdit_dtype_name(weight->dtype));
  if (pre && pre->dtype != y->dtype)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: pre must have y's dtype", op);
  ops_cuda_gemm g = rows_gemm(0, 1, x->cols, x, weight, y);
  g.epilogue = epilogue;
  g.bias = bias ? bias->data : NULL;
  g.bias_dtype = bias ? bias->dtype : VDIT_DTYPE_F32;
  g.aux = pre ? pre->data : NULL;
  g.ldaux = pre ? ops_rows_ld(pre) : 0;
  return vdit_ops_cuda_gemm(op, y->device.index, &g);
}

vdit_status vdit_ops_cuda_linear_backward(const char *op, const ops_rows *x, const ops_rows *weight, const ops_rows *dy,
                                          const ops_rows *dx, const ops_rows *dweight, const ops_rows *dbias,
                                          int accumulate) {
  if (dy->dtype != VDIT_DTYPE_BF16 || (weight && weight->dtype != VDIT_DTYPE_BF16) ||
      (x && dweight && x->dtype != VDIT_DTYPE_BF16))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: the CUDA GEMM takes bf16 dy, x and weight", op);
  if (dbias) { // (out) = column sums of dy
    VDIT_TRY(vdit_ops_cuda_column_sums(op, dy, NULL, NULL, dy->rows, dbias, accumulate));
  }
  if (dx) { // dx (N, in) = dy (N, out) W (out, in)
    ops_cuda_gemm g = rows_gemm(0, 0, dy->cols, dy, weight, dx);
    g.accumulate = accumulate;
    VDIT_TRY(vdit_ops_cuda_gemm(op, dx->device.index, &g));
  }
  if (dweight) { // dW (out, in) = dy^T (out, N) x (N, in)
    ops_cuda_gemm g = rows_gemm(1, 0, dy->rows, dy, x, dweight);
    g.accumulate = accumulate;
    VDIT_TRY(vdit_ops_cuda_gemm(op, dweight->device.index, &g));
  }
  return VDIT_OK;
}

vdit_status vdit_ops_cuda_linear_dgelu(const char *op, const ops_rows *weight, const ops_rows *dy, const ops_rows *pre,
                                       const ops_rows *dx) {
  if (dy->dtype != VDIT_DTYPE_BF16 || weight->dtype != VDIT_DTYPE_BF16 || pre->dtype != dx->dtype)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "%s: the CUDA GEMM takes bf16 dy and weight, pre of dx's dtype", op);
  ops_cuda_gemm g = rows_gemm(0, 0, dy->cols, dy, weight, dx);
  g.dgelu_pre = pre->data;
  g.ld_pre = ops_rows_ld(pre);
  return vdit_ops_cuda_gemm(op, dx->device.index, &g);
}
