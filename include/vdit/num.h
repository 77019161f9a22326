// vdit num layer: element types (the dtype every tensor carries), scalar conversions
// between float and each format, and block quantizers.
#ifndef VDIT_NUM_H
#define VDIT_NUM_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------- element types
typedef enum vdit_dtype {
  VDIT_DTYPE_F64 = 0,
  VDIT_DTYPE_F32,
  VDIT_DTYPE_F16,     // IEEE binary16
  VDIT_DTYPE_BF16,    // bfloat16
  VDIT_DTYPE_F8_E4M3, // OCP fp8 e4m3 (max 448, NaN 0x7f/0xff, no inf)
  VDIT_DTYPE_F8_E5M2, // OCP fp8 e5m2 (IEEE-like, max 57344)
  VDIT_DTYPE_F4_E2M1, // OCP fp4 e2m1, two per byte, element 2i in the low nibble
  VDIT_DTYPE_E8M0,    // OCP e8m0 scale: 2^(code - 127), 0xff NaN
  VDIT_DTYPE_I64,
  VDIT_DTYPE_I32,
  VDIT_DTYPE_I16,
  VDIT_DTYPE_I8,
  VDIT_DTYPE_U64,
  VDIT_DTYPE_U32,
  VDIT_DTYPE_U16,
  VDIT_DTYPE_U8,
  VDIT_DTYPE_BOOL,
  VDIT_DTYPE_COUNT
} vdit_dtype;

// Bits per element (4 for fp4, 8 for fp8, ...).
int vdit_dtype_bits(vdit_dtype dtype);
// Short lower-case name used on the command line and in messages: "bf16", "f8_e4m3", ...
const char *vdit_dtype_name(vdit_dtype dtype);
// Parses a name as vdit_dtype_name writes it (also "fp32", "fp16", "float32", ...).
vdit_status vdit_dtype_parse(const char *name, vdit_dtype *dtype);
int vdit_dtype_is_float(vdit_dtype dtype);
// Bytes for `count` elements (fp4 rounds up to whole bytes); 0 and an error on overflow.
vdit_status vdit_dtype_storage_bytes(vdit_dtype dtype, size_t count, size_t *bytes);

// ---------------------------------------------------------------- error metrics
// How far a result is from its fp64 reference, each relative to the reference's magnitude:
//   rel_l1  = sum|x - r| / sum|r|           (1 for an all-zero x)
//   rel_rms = ||x - r||_2 / ||r||_2
//   cos     = <x, r> / (||x|| ||r||)         (0 when either is all zero)
//   max_err = max|x - r| / max|r|
// Non-finite values of x are counted and make every metric NaN, so no tolerance passes them.
typedef struct vdit_error_stats {
  double rel_l1, rel_rms, cos, max_err;
  int64_t nonfinite;
  int64_t count;
} vdit_error_stats;

vdit_error_stats vdit_error_stats_f32(size_t n, const float *x, const double *reference);
vdit_error_stats vdit_error_stats_f64(size_t n, const double *x, const double *reference);

#ifdef __cplusplus
}
#endif

#endif // VDIT_NUM_H
