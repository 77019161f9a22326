// Argument checks shared by the CPU conversions and quantizers (src/num/convert.c, quant.c)
// and their CUDA twins (src/num/cuda/convert.cu, quant.cu), so that both reject the same
// arguments with the same message.
#ifndef VDIT_NUM_CHECKS_INTERNAL_H
#define VDIT_NUM_CHECKS_INTERNAL_H

#include <stddef.h>

#include "vdit/num.h"

#ifdef __cplusplus
extern "C" {
#endif

// Checks a bulk conversion of n elements of `dtype` (f32, f16, bf16, f8_e4m3, f8_e5m2,
// f4_e2m1, e8m0 or i8; VDIT_ERROR_UNSUPPORTED otherwise) and that the pointers are set when
// n > 0; *bytes = vdit_dtype_storage_bytes(dtype, n).
vdit_status vdit_convert_check_arguments(const char *what, vdit_dtype dtype, size_t n, const void *in, const void *out,
                                         size_t *bytes);

// Checks a (rows, cols) tensor cut into blocks of `block` elements along cols (block 0: any
// cols >= 1) and that the pointers are set when there are elements; *count = rows * cols.
vdit_status vdit_quant_check_shape(const char *what, size_t rows, size_t cols, int block, const void *in,
                                   const void *out, size_t *count);
// VDIT_DTYPE_F8_E4M3 -> 0, VDIT_DTYPE_F8_E5M2 -> 1, anything else an error.
vdit_status vdit_quant_mxfp8_element_kind(const char *what, vdit_dtype element, int *is_e5m2);

#ifdef __cplusplus
}
#endif

#endif // VDIT_NUM_CHECKS_INTERNAL_H
