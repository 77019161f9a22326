// The CUDA side of a dense attention plan: its device resources (key lengths as int32, the
// backward workspace) and the launch of src/attn/cuda's kernels on the tensors' memory, with
// the kernel parameters read from the tensors' strides in either layout. Kernels run on the
// plan's GPU in the default stream. Without the CUDA backend every call is VDIT_ERROR_NO_DEVICE.
#include <stdlib.h>
#include <string.h>

#include "attn/attn_kernels.h"

#ifdef VDIT_HAVE_CUDA
#include "attn/cuda/attn_cuda.h"
#include "base/cuda_check.h"
#endif

// Kernel indices are 32-bit and the grid's y and z dims are heads and batch.
#define ATTN_CUDA_MAX_SEQ ((int64_t)1 << 30)
#define ATTN_CUDA_MAX_GRID_YZ 65535

vdit_status vdit_attn_cuda_resources_init(vdit_attn_cuda_resources *r, const vdit_attn_problem *problem, vdit_dtype dtype,
                                          vdit_device device) {
  memset(r, 0, sizeof *r);
  r->device = device;
  VDIT_TRY(vdit_device_check(device));
  if (dtype != VDIT_DTYPE_BF16 && dtype != VDIT_DTYPE_F16)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "attention: %s is not supported on CUDA (use bf16 or f16, or the CPU for f32)",
                      vdit_dtype_name(dtype));
  const vdit_attn_shape s = problem->shape;
  if (s.batch > ATTN_CUDA_MAX_GRID_YZ || s.heads > ATTN_CUDA_MAX_GRID_YZ || s.seq_q > ATTN_CUDA_MAX_SEQ ||
      s.seq_k > ATTN_CUDA_MAX_SEQ)
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "attention: B=%lld H=%lld Sq=%lld Sk=%lld beyond the CUDA kernels' limits (B, H <= %d; S <= 2^30)",
                      (long long)s.batch, (long long)s.heads, (long long)s.seq_q, (long long)s.seq_k, ATTN_CUDA_MAX_GRID_YZ);
  if (!problem->config.key_lengths || s.batch == 0) return VDIT_OK;
  int32_t *host = malloc((size_t)s.batch * sizeof *host);
  if (!host) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "attention: no memory for %lld key lengths", (long long)s.batch);
  for (int64_t b = 0; b < s.batch; b++) host[b] = (int32_t)problem->config.key_lengths[b]; // 0..Sk, checked by the plan
  vdit_status status = vdit_device_alloc(device, (size_t)s.batch * sizeof *host, (void **)&r->key_lengths);
  if (status == VDIT_OK) status = vdit_memcpy(device, r->key_lengths, VDIT_CPU, host, (size_t)s.batch * sizeof *host);
  free(host);
  if (status != VDIT_OK) vdit_attn_cuda_resources_free(r);
  return status;
}

void vdit_attn_cuda_resources_free(vdit_attn_cuda_resources *r) {
  vdit_device_free(r->device, r->key_lengths);
  vdit_device_free(r->device, r->workspace);
  vdit_device_free(r->device, r->sage_workspace);
  r->sage_workspace = NULL;
  r->sage_workspace_bytes = 0;
  vdit_device_free(r->device, r->sage_bwd_workspace);
  r->sage_bwd_workspace = NULL;
  r->sage_bwd_workspace_bytes = 0;
  r->key_lengths = NULL;
  r->workspace = NULL;
  r->workspace_bytes = 0;
}

#ifdef VDIT_HAVE_CUDA
// Element strides over (batch, sequence, head) of a (B, S, H, D) or (B, H, S, D) tensor.
void vdit_attn_cuda_strides_bsh(const vdit_tensor *t, vdit_attn_layout layout, int64_t *sb, int64_t *ss, int64_t *sh) {
  *sb = t->stride[0];
  *ss = layout == VDIT_ATTN_LAYOUT_BSHD ? t->stride[1] : t->stride[2];
  *sh = layout == VDIT_ATTN_LAYOUT_BSHD ? t->stride[2] : t->stride[1];
}

vdit_status vdit_attn_cuda_check_lse(const vdit_tensor *lse, vdit_device device) {
  if (!vdit_device_equal(lse->device, device))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: LSE must be on the GPU of Q");
  if (!vdit_tensor_is_contiguous(lse))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention: LSE must be contiguous on CUDA");
  return VDIT_OK;
}

void vdit_attn_cuda_params_init(vdit_attn_cuda_params *p, const vdit_attn_problem *problem, const vdit_attn_cuda_resources *r,
                        const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v, const vdit_tensor *o,
                        const vdit_tensor *lse) {
  const vdit_attn_layout layout = problem->config.layout;
  memset(p, 0, sizeof *p);
  p->dtype = q->dtype;
  p->B = (int)problem->shape.batch;
  p->H = (int)problem->shape.heads;
  p->Sq = (int)problem->shape.seq_q;
  p->Sk = (int)problem->shape.seq_k;
  p->D = (int)problem->shape.head_dim;
  p->scale = problem->scale;
  p->mask = problem->config.mask;
  p->block_len = problem->config.mask_block_length;
  p->key_lens = r->key_lengths;
  p->q = q->data;
  p->k = k->data;
  p->v = v->data;
  p->o = o->data;
  p->lse = (float *)lse->data;
  vdit_attn_cuda_strides_bsh(q, layout, &p->q_sb, &p->q_ss, &p->q_sh);
  vdit_attn_cuda_strides_bsh(k, layout, &p->k_sb, &p->k_ss, &p->k_sh);
  vdit_attn_cuda_strides_bsh(v, layout, &p->v_sb, &p->v_ss, &p->v_sh);
  vdit_attn_cuda_strides_bsh(o, layout, &p->o_sb, &p->o_ss, &p->o_sh);
  if (problem->map) {
    p->map_offsets = problem->map->row_offsets;
    p->map_index = problem->map->col_index;
    p->map_rows = problem->map->q_blocks;
  }
  if (problem->map_t) {
    p->mapt_offsets = problem->map_t->row_offsets;
    p->mapt_index = problem->map_t->col_index;
    p->mapt_rows = problem->map_t->q_blocks;
  }
  p->extra_max = problem->extras.row_max;
  p->extra_sum = problem->extras.row_sum;
  p->extra_num = problem->extras.numerator;
  p->pv_threshold = problem->extras.pv_threshold;
}

// Makes the plan's GPU current; device_leave restores the caller's and passes `status` on.
vdit_status vdit_attn_cuda_device_enter(vdit_device device, int *previous) {
  VDIT_CUDA_TRY(cudaGetDevice(previous));
  if (*previous != device.index) VDIT_CUDA_TRY(cudaSetDevice(device.index));
  return VDIT_OK;
}

vdit_status vdit_attn_cuda_device_leave(int previous, vdit_status status) {
  int current = previous;
  cudaError_t error = cudaGetDevice(&current);
  if (error == cudaSuccess && current != previous) error = cudaSetDevice(previous);
  if (status != VDIT_OK) return status;
  if (error != cudaSuccess)
    return VDIT_ERROR(VDIT_ERROR_CUDA, "attention: cannot restore the current GPU to %d: %s", previous,
                      cudaGetErrorString(error));
  return VDIT_OK;
}
#endif

vdit_status vdit_attn_cuda_dense_forward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *r, const vdit_tensor *q,
                                         const vdit_tensor *k, const vdit_tensor *v, vdit_tensor *o, vdit_tensor *lse) {
#ifdef VDIT_HAVE_CUDA
  VDIT_TRY(vdit_attn_cuda_check_lse(lse, r->device));
  vdit_attn_cuda_params p;
  vdit_attn_cuda_params_init(&p, problem, r, q, k, v, o, lse);
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(r->device, &previous));
  return vdit_attn_cuda_device_leave(previous, vdit_attn_cuda_forward(&p, 0));
#else
  (void)problem, (void)q, (void)k, (void)v, (void)o, (void)lse;
  return vdit_device_check(r->device);
#endif
}

vdit_status vdit_attn_cuda_dense_backward(const vdit_attn_problem *problem, vdit_attn_cuda_resources *r,
                                          const vdit_tensor *q, const vdit_tensor *k, const vdit_tensor *v,
                                          const vdit_tensor *o, const vdit_tensor *lse, const vdit_tensor *d_o,
                                          vdit_tensor *dq, vdit_tensor *dk, vdit_tensor *dv) {
#ifdef VDIT_HAVE_CUDA
  VDIT_TRY(vdit_attn_cuda_check_lse(lse, r->device));
  const vdit_attn_shape s = problem->shape;
  if (!r->workspace) { // once per plan, at its first backward: a forward-only plan never pays for it
    size_t bytes = vdit_attn_cuda_backward_workspace_bytes(s.batch, s.heads, s.seq_q, s.head_dim);
    VDIT_TRY(vdit_device_alloc(r->device, bytes, &r->workspace)); // cudaMalloc: 256-byte aligned
    r->workspace_bytes = bytes;
  }
  vdit_attn_cuda_params p;
  vdit_attn_cuda_params_init(&p, problem, r, q, k, v, o, lse);
  const vdit_attn_layout layout = problem->config.layout;
  p.d_o = d_o->data;
  p.dq = dq->data;
  p.dk = dk->data;
  p.dv = dv->data;
  vdit_attn_cuda_strides_bsh(d_o, layout, &p.do_sb, &p.do_ss, &p.do_sh);
  vdit_attn_cuda_strides_bsh(dq, layout, &p.dq_sb, &p.dq_ss, &p.dq_sh);
  vdit_attn_cuda_strides_bsh(dk, layout, &p.dk_sb, &p.dk_ss, &p.dk_sh);
  vdit_attn_cuda_strides_bsh(dv, layout, &p.dv_sb, &p.dv_ss, &p.dv_sh);
  p.workspace = r->workspace;
  int previous = 0;
  VDIT_TRY(vdit_attn_cuda_device_enter(r->device, &previous));
  return vdit_attn_cuda_device_leave(previous, vdit_attn_cuda_backward(&p, 0));
#else
  (void)problem, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)d_o, (void)dq, (void)dk, (void)dv;
  return vdit_device_check(r->device);
#endif
}
