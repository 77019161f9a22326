// Argument checks shared by the CPU quantizers (src/num/quant.c) and their CUDA twins
// (src/num/cuda/quant.cu), so that both reject the same shapes with the same message.
#ifndef VDIT_NUM_QUANT_INTERNAL_H
#define VDIT_NUM_QUANT_INTERNAL_H

#include <stddef.h>

#include "vdit/num.h"

#ifdef __cplusplus
extern "C" {
#endif

// Checks a (rows, cols) tensor cut into blocks of `block` elements along cols (block 0: any
// cols >= 1) and that the pointers are set when there are elements; *count = rows * cols.
vdit_status vdit_quant_check_shape(const char *what, size_t rows, size_t cols, int block, const void *in,
                                   const void *out, size_t *count);
// VDIT_DTYPE_F8_E4M3 -> 0, VDIT_DTYPE_F8_E5M2 -> 1, anything else an error.
vdit_status vdit_quant_mxfp8_element_kind(const char *what, vdit_dtype element, int *is_e5m2);

#ifdef __cplusplus
}
#endif

#endif // VDIT_NUM_QUANT_INTERNAL_H
