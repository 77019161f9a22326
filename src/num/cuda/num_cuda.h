// Internal CUDA entry points of the num layer, for tests: the bulk conversions through the
// shared software path alone (num/format_convert.h's *_sw functions, no cvt instruction), so
// a test can check that the very code the CPU runs gives the same bits on the device too.
// The public CUDA API (hardware cvt where sm_90 has one) is in vdit/num.h.
#ifndef VDIT_NUM_CUDA_H
#define VDIT_NUM_CUDA_H

#include <stddef.h>

#include "vdit/num.h"

#ifdef __cplusplus
extern "C" {
#endif

// Device pointers, default stream; same layouts and errors as vdit_cuda_convert_*.
vdit_status vdit_cuda_convert_from_float_software(vdit_dtype dtype, size_t n, const float *in, void *out);
vdit_status vdit_cuda_convert_to_float_software(vdit_dtype dtype, size_t n, const void *in, float *out);

#ifdef __cplusplus
}
#endif

#endif // VDIT_NUM_CUDA_H
