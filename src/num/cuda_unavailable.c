// The CUDA entry points of vdit/num.h in a build without the CUDA backend: each says so.
// With CUDA they live in src/num/cuda/*.cu and this file is empty.
#include "vdit/num.h"

#ifndef VDIT_HAVE_CUDA

#define NO_CUDA(name) VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "%s: this vdit was built without CUDA", name)

vdit_status vdit_cuda_convert_from_float(vdit_dtype dtype, size_t n, const float *in, void *out) {
  return NO_CUDA("vdit_cuda_convert_from_float");
}
vdit_status vdit_cuda_convert_to_float(vdit_dtype dtype, size_t n, const void *in, float *out) {
  return NO_CUDA("vdit_cuda_convert_to_float");
}
vdit_status vdit_cuda_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                     float *tensor_scale) {
  return NO_CUDA("vdit_cuda_quantize_nvfp4");
}
vdit_status vdit_cuda_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                       const float *tensor_scale, float *y) {
  return NO_CUDA("vdit_cuda_dequantize_nvfp4");
}
vdit_status vdit_cuda_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks) {
  return NO_CUDA("vdit_cuda_quantize_mxfp4");
}
vdit_status vdit_cuda_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y) {
  return NO_CUDA("vdit_cuda_dequantize_mxfp4");
}
vdit_status vdit_cuda_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                     vdit_block_mxfp8 *blocks) {
  return NO_CUDA("vdit_cuda_quantize_mxfp8");
}
vdit_status vdit_cuda_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                       const vdit_block_mxfp8 *blocks, float *y) {
  return NO_CUDA("vdit_cuda_dequantize_mxfp8");
}
vdit_status vdit_cuda_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q,
                                         float *row_scales) {
  return NO_CUDA("vdit_cuda_quantize_int8_rows");
}
vdit_status vdit_cuda_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q,
                                           const float *row_scales, float *y) {
  return NO_CUDA("vdit_cuda_dequantize_int8_rows");
}
vdit_status vdit_cuda_quantize_int8_blocks(size_t rows, size_t cols, const float *x, vdit_block_int8 *blocks) {
  return NO_CUDA("vdit_cuda_quantize_int8_blocks");
}
vdit_status vdit_cuda_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks,
                                             float *y) {
  return NO_CUDA("vdit_cuda_dequantize_int8_blocks");
}
vdit_status vdit_cuda_quant_round_trip(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x,
                                       float *y) {
  return NO_CUDA("vdit_cuda_quant_round_trip");
}

#else
typedef int vdit_num_cuda_unavailable_unused; // ISO C wants a declaration in every file
#endif
