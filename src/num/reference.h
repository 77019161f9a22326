// Reference conversions and quantizers: the specification that the fast paths
// (src/num/format_convert.h, src/num/quant.c, src/num/cuda/) are tested against.
//
// The conversions share no code with the fast ones: a code's value comes from its sign,
// exponent and mantissa fields as a double, and float -> code is a search for the nearest
// value, ties to the even code, with the saturation and NaN rules written out per format.
// The quantizers are plain loops over blocks with fabsf, isfinite and these conversions.
#ifndef VDIT_NUM_REFERENCE_H
#define VDIT_NUM_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/num.h"

// Number of codes of a format (65536 for f16/bf16, 256 for f8/e8m0/i8, 16 for f4_e2m1);
// 0 for a dtype without a reference here.
uint32_t vdit_reference_code_count(vdit_dtype dtype);
// The value of a code (i8: the byte as two's complement); NaN codes give NAN.
double vdit_reference_to_double(vdit_dtype dtype, uint32_t code);
// The value as a float with the NaN contract (every NaN -> 0x7fffffff).
float vdit_reference_to_float(vdit_dtype dtype, uint32_t code);
// The code for x (exact: x is not rounded to float first).
uint32_t vdit_reference_from_double(vdit_dtype dtype, double x);

// Reference quantizers with the signatures of the fast ones in vdit/num.h.
void vdit_reference_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                   float *tensor_scale);
void vdit_reference_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                     const float *tensor_scale, float *y);
void vdit_reference_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks);
void vdit_reference_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y);
void vdit_reference_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                   vdit_block_mxfp8 *blocks);
void vdit_reference_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                     const vdit_block_mxfp8 *blocks, float *y);
void vdit_reference_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q, float *row_scales);
void vdit_reference_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q, const float *row_scales,
                                         float *y);
void vdit_reference_quantize_int8_blocks(size_t rows, size_t cols, const float *x, vdit_block_int8 *blocks);
void vdit_reference_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks, float *y);

#endif // VDIT_NUM_REFERENCE_H
