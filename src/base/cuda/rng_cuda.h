// Philox streams on the GPU: the CUDA twins of vdit_rng_uniform / vdit_rng_normal, giving
// the same bits (src/base/philox.h is the one definition both use). Internal to vdit.
#ifndef VDIT_BASE_RNG_CUDA_H
#define VDIT_BASE_RNG_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef VDIT_HAVE_CUDA
// device_out[i] = element (offset + i) of stream `seed`, i < n, written by a kernel on the
// current CUDA device (default stream). device_out is device memory of n floats.
vdit_status vdit_cuda_rng_uniform(uint64_t seed, uint64_t offset, size_t n, float *device_out);
vdit_status vdit_cuda_rng_normal(uint64_t seed, uint64_t offset, size_t n, float *device_out);
#endif

#ifdef __cplusplus
}
#endif

#endif // VDIT_BASE_RNG_CUDA_H
