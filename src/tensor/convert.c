// dtype conversion of tensors (vdit_tensor_convert). Every pair of float dtypes (f64, f32,
// f16, bf16, f8_e4m3, f8_e5m2, f4_e2m1, e8m0) goes through fp32 with the num layer's bulk
// conversions, so each element gets exactly the bits of the scalar functions of vdit/num.h:
// x -> vdit_<src>_to_float -> vdit_<dst>_from_float. No conversion arithmetic lives here.
//
//   host  the simplified walk of copy.c (layout.h), row by row over its innermost dim, in
//         pieces of CONVERT_PIECE elements: a piece is gathered into a contiguous buffer when
//         it is strided, misaligned or starts mid-byte (f4), decoded to fp32, encoded, and
//         scattered back the same way. Contiguous pieces are read and written in place.
//   GPU   a dst on a GPU (neither dtype f64): src is brought to that GPU and strided sides
//         are staged into contiguous tensors there (vdit_tensor_copy), then the kernels of
//         vdit_cuda_convert_* run through an fp32 buffer. Strided f4 on a GPU cannot be
//         staged (vdit_tensor_copy says so: VDIT_ERROR_UNSUPPORTED).
//   f64   the num layer has no f64 format: f64 -> x rounds to f32 first (round to nearest
//         even) and then to x. That is a double rounding: an f64 value just off a midpoint of
//         x but within half an f32 ulp of it lands on the midpoint in f32 and then ties to
//         even, where a direct rounding would go the other way (1 + 2^-8 + 2^-40 -> bf16 1.0,
//         not 1 + 2^-7). Values beyond the f32 range become +-inf (then x's overflow rule)
//         or +-0 first. f64 on a GPU, and a GPU src with a host dst, are converted on the host.
#include <stdint.h>
#include <string.h>

#include "tensor/tensor_internal.h"
#include "vdit/num.h"
#include "vdit/tensor.h"

// Elements converted at once: the fp32 buffer (16 KiB) stays in the L1/L2 cache, and a
// contiguous tensor splits into enough pieces to keep every thread busy.
#define CONVERT_PIECE 4096
#define CONVERT_PARALLEL_MIN (1 << 18) // elements below which threads cost more than they give

// The dtypes vdit_tensor_convert handles: those with a float value (vdit_dtype_is_float).
static int convertible(vdit_dtype dtype) { return vdit_dtype_is_float(dtype); }

// Per-thread buffers of the host path.
typedef struct convert_scratch {
  float *values;   // CONVERT_PIECE fp32 values
  char *src_codes; // CONVERT_PIECE src elements, gathered
  char *dst_codes; // CONVERT_PIECE dst elements, to be scattered
} convert_scratch;

// One side of a piece: element j lives at element offset + j * step of data.
typedef struct piece_side {
  char *data;
  vdit_dtype dtype;
  int64_t offset, step;
} piece_side;

// The address of a piece that can be used in place (contiguous, aligned to its element size,
// for f4 starting on a byte), or NULL. A written f4 piece of odd length would also zero the
// nibble after it, so it is never written in place.
static char *piece_in_place(const piece_side *side, int64_t count, int writing) {
  if (side->step != 1 && count > 1) return NULL;
  int bytes = vdit_dtype_element_bytes(side->dtype);
  if (bytes == 0) {
    if (side->offset % 2 != 0 || (writing && count % 2 != 0)) return NULL;
    return side->data + side->offset / 2;
  }
  char *address = side->data + side->offset * bytes;
  return (uintptr_t)address % (uintptr_t)bytes == 0 ? address : NULL;
}

// dst piece = src piece converted, `count` <= CONVERT_PIECE elements.
static vdit_status convert_piece(const piece_side *dst, const piece_side *src, int64_t count,
                                 const convert_scratch *scratch) {
  size_t n = (size_t)count;
  const char *codes = piece_in_place(src, count, 0);
  if (codes == NULL) {
    vdit_host_copy_row(scratch->src_codes, 0, 1, src->data, src->offset, src->step, count,
                       vdit_dtype_element_bytes(src->dtype));
    codes = scratch->src_codes;
  }
  const float *values = scratch->values;
  if (src->dtype == VDIT_DTYPE_F64) {
    const double *in = (const double *)codes;
    for (size_t j = 0; j < n; j++) scratch->values[j] = (float)in[j]; // round to nearest even
  } else if (src->dtype == VDIT_DTYPE_F32) {
    values = (const float *)codes;
  } else {
    VDIT_TRY(vdit_convert_to_float(src->dtype, n, codes, scratch->values));
  }

  char *in_place = piece_in_place(dst, count, 1);
  char *out = in_place ? in_place : scratch->dst_codes;
  if (dst->dtype == VDIT_DTYPE_F64) {
    double *o = (double *)out;
    for (size_t j = 0; j < n; j++) o[j] = (double)values[j]; // exact
  } else if (dst->dtype == VDIT_DTYPE_F32) {
    memcpy(out, values, n * sizeof(float));
  } else {
    VDIT_TRY(vdit_convert_from_float(dst->dtype, n, values, out));
  }
  if (in_place == NULL)
    vdit_host_copy_row(dst->data, dst->offset, dst->step, scratch->dst_codes, 0, 1, count,
                       vdit_dtype_element_bytes(dst->dtype));
  return VDIT_OK;
}

// Both tensors on the host, any strides.
static vdit_status convert_host(vdit_tensor *dst, const vdit_tensor *src) {
  vdit_copy_layout layout;
  vdit_copy_layout_init(&layout, dst, src);
  if (layout.numel == 0) return VDIT_OK;
  int last = layout.ndim - 1;
  int64_t row_length = layout.ndim ? layout.shape[last] : 1;
  int64_t dst_step = layout.ndim ? layout.dst_stride[last] : 1, src_step = layout.ndim ? layout.src_stride[last] : 1;
  int64_t rows = layout.numel / row_length, pieces = (row_length + CONVERT_PIECE - 1) / CONVERT_PIECE;
  int64_t items = rows * pieces;
  int no_memory = 0, failed = 0;
  // f4 rows may share a byte at their ends, so an f4 dst is written by one thread.
#pragma omp parallel if (layout.numel > CONVERT_PARALLEL_MIN && dst->dtype != VDIT_DTYPE_F4_E2M1) \
    reduction(| : no_memory, failed)
  {
    // One block: fp32 values, then the src and dst codes (8 bytes an element at most).
    char *block = vdit_host_alloc((size_t)CONVERT_PIECE * (sizeof(float) + 16), VDIT_HOST_ALIGNMENT);
    convert_scratch scratch = {NULL, NULL, NULL};
    if (block != NULL)
      scratch = (convert_scratch){(float *)block, block + CONVERT_PIECE * sizeof(float),
                                  block + CONVERT_PIECE * (sizeof(float) + 8)};
    no_memory |= block == NULL;
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; item++) {
      if (block == NULL) continue;
      int64_t row = item / pieces, first = (item % pieces) * CONVERT_PIECE;
      int64_t count = row_length - first < CONVERT_PIECE ? row_length - first : CONVERT_PIECE;
      int64_t dst_offset = 0, src_offset = 0;
      if (layout.ndim > 0) vdit_copy_layout_row_offsets(&layout, row, &dst_offset, &src_offset);
      piece_side d = {dst->data, dst->dtype, dst_offset + first * dst_step, dst_step};
      piece_side s = {src->data, src->dtype, src_offset + first * src_step, src_step};
      failed |= convert_piece(&d, &s, count, &scratch) != VDIT_OK;
    }
    vdit_host_free(block);
  }
  if (no_memory)
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "vdit_tensor_convert: no memory for the conversion buffers");
  if (failed)
    return VDIT_ERROR(VDIT_ERROR_INTERNAL, "vdit_tensor_convert: converting %s to %s failed",
                      vdit_dtype_name(src->dtype), vdit_dtype_name(dst->dtype));
  return VDIT_OK;
}

#ifdef VDIT_HAVE_CUDA
// Contiguous dst and src on one GPU, neither f64: the num layer's kernels, through an fp32
// buffer unless one side is f32.
static vdit_status convert_gpu(vdit_tensor *dst, const vdit_tensor *src) {
  vdit_tensor values;
  memset(&values, 0, sizeof values);
  if (src->dtype != VDIT_DTYPE_F32 && dst->dtype != VDIT_DTYPE_F32)
    VDIT_TRY(vdit_tensor_alloc(&values, VDIT_DTYPE_F32, dst->device, dst->ndim, dst->shape));
  size_t n = (size_t)vdit_tensor_numel(dst);
  int previous = 0;
  vdit_status status = vdit_cuda_device_enter(dst->device, &previous);
  if (status == VDIT_OK) {
    if (src->dtype == VDIT_DTYPE_F32) {
      status = vdit_cuda_convert_from_float(dst->dtype, n, src->data, dst->data);
    } else if (dst->dtype == VDIT_DTYPE_F32) {
      status = vdit_cuda_convert_to_float(src->dtype, n, src->data, dst->data);
    } else {
      status = vdit_cuda_convert_to_float(src->dtype, n, src->data, values.data);
      if (status == VDIT_OK) status = vdit_cuda_convert_from_float(dst->dtype, n, values.data, dst->data);
    }
    status = vdit_cuda_device_leave(previous, status);
  }
  vdit_tensor_free(&values); // waits for the kernels that read it
  return status;
}
#endif

// `core` converts tensors that are both on `device` (and, with `contiguous`, contiguous);
// a side that is not is staged into such a tensor there with vdit_tensor_copy.
static vdit_status convert_staged(vdit_tensor *dst, const vdit_tensor *src, vdit_device device, int contiguous,
                                  vdit_status (*core)(vdit_tensor *dst, const vdit_tensor *src)) {
  vdit_tensor src_staged, dst_staged;
  memset(&src_staged, 0, sizeof src_staged);
  memset(&dst_staged, 0, sizeof dst_staged);
  const vdit_tensor *from = src;
  vdit_tensor *to = dst;
  vdit_status status = VDIT_OK;
  if (!vdit_device_equal(src->device, device) || (contiguous && !vdit_tensor_is_contiguous(src))) {
    status = vdit_tensor_alloc_like(&src_staged, src, device);
    if (status == VDIT_OK) status = vdit_tensor_copy(&src_staged, src);
    from = &src_staged;
  }
  if (status == VDIT_OK &&
      (!vdit_device_equal(dst->device, device) || (contiguous && !vdit_tensor_is_contiguous(dst)))) {
    status = vdit_tensor_alloc_like(&dst_staged, dst, device);
    to = &dst_staged;
  }
  if (status == VDIT_OK) status = core(to, from);
  if (status == VDIT_OK && to != dst) status = vdit_tensor_copy(dst, to);
  vdit_tensor_free(&src_staged);
  vdit_tensor_free(&dst_staged);
  return status;
}

vdit_status vdit_tensor_convert(vdit_tensor *dst, const vdit_tensor *src) {
  VDIT_TRY(vdit_tensor_check_pair("vdit_tensor_convert", dst, src, 0));
  if (dst->dtype == src->dtype) return vdit_tensor_copy(dst, src);
  if (!convertible(dst->dtype) || !convertible(src->dtype))
    return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED,
                      "vdit_tensor_convert: %s -> %s is not implemented (float dtypes only: f64, f32, f16, bf16, "
                      "f8_e4m3, f8_e5m2, f4_e2m1, e8m0)",
                      vdit_dtype_name(src->dtype), vdit_dtype_name(dst->dtype));
  if (vdit_tensor_numel(dst) == 0) return VDIT_OK;
  if (vdit_tensor_ranges_overlap(dst, src))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_tensor_convert: dst and src overlap in memory");
#ifdef VDIT_HAVE_CUDA
  if (dst->device.type == VDIT_DEVICE_CUDA && dst->dtype != VDIT_DTYPE_F64 && src->dtype != VDIT_DTYPE_F64)
    return convert_staged(dst, src, dst->device, 1, convert_gpu);
#endif
  return convert_staged(dst, src, VDIT_CPU, 0, convert_host);
}
