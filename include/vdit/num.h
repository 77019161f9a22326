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
// Bytes per element: 1, 2, 4 or 8; 0 for the packed f4_e2m1 (two per byte) and an invalid dtype.
int vdit_dtype_element_bytes(vdit_dtype dtype);
// Short lower-case name used on the command line and in messages: "bf16", "f8_e4m3", ...
const char *vdit_dtype_name(vdit_dtype dtype);
// Parses a name as vdit_dtype_name writes it (also "fp32", "fp16", "float32", ...).
vdit_status vdit_dtype_parse(const char *name, vdit_dtype *dtype);
int vdit_dtype_is_float(vdit_dtype dtype);
// Bytes for `count` elements (fp4 rounds up to whole bytes); 0 and an error on overflow.
vdit_status vdit_dtype_storage_bytes(vdit_dtype dtype, size_t count, size_t *bytes);

// ---------------------------------------------------------------- scalar conversions
// float -> format rounds to nearest, ties to even, with each format's overflow and NaN rule;
// format -> float is exact. The contract matches the sm_90 hardware cvt instructions bit for
// bit (docs/formats.md has the full table):
//   bf16, f16   overflow -> +-inf (f16: |x| >= 65520), NaN -> 0x7fff
//   f8_e4m3     |x| > 448 and +-inf -> +-448 (satfinite), NaN -> 0x7f
//   f8_e5m2     |x| > 57344 and +-inf -> +-57344 (satfinite), NaN -> 0x7f
//   f4_e2m1     |x| > 6 and +-inf -> +-6, NaN -> 0x7 (+6); code in the low nibble
//   e8m0        rounds toward zero: 2^floor(log2|x|) (sign ignored), |x| < 2^-127 -> 0x00,
//               +-inf -> 0xfe, NaN -> 0xff
//   i8          ties to even, saturates to [-128, 127], NaN -> 0
// Small values keep their sign (-1e-30 -> f8_e4m3 0x80). Every NaN code decodes to the one
// float NaN 0x7fffffff.
uint16_t vdit_bf16_from_float(float x);
float vdit_bf16_to_float(uint16_t code);
uint16_t vdit_f16_from_float(float x);
float vdit_f16_to_float(uint16_t code);
uint8_t vdit_f8_e4m3_from_float(float x);
float vdit_f8_e4m3_to_float(uint8_t code);
uint8_t vdit_f8_e5m2_from_float(float x);
float vdit_f8_e5m2_to_float(uint8_t code);
uint8_t vdit_f4_e2m1_from_float(float x);
float vdit_f4_e2m1_to_float(uint8_t code); // low nibble; the high one is ignored
uint8_t vdit_e8m0_from_float(float x);
float vdit_e8m0_to_float(uint8_t code);
int8_t vdit_i8_from_float(float x);
float vdit_i8_to_float(int8_t value);

// Bulk conversions of n elements with the scalar rules above, on the CPU (OpenMP).
// dtype is one of f32 (a copy), f16, bf16, f8_e4m3, f8_e5m2, f4_e2m1, e8m0, i8; `out`/`in`
// hold vdit_dtype_storage_bytes(dtype, n) bytes. f4_e2m1 packs two per byte, element 2i in
// the low nibble; for odd n the last high nibble is written as 0 and ignored when read.
vdit_status vdit_convert_from_float(vdit_dtype dtype, size_t n, const float *in, void *out);
vdit_status vdit_convert_to_float(vdit_dtype dtype, size_t n, const void *in, float *out);

// ---------------------------------------------------------------- block quantizers
// A (rows, cols) row-major float tensor is cut into blocks of consecutive elements along the
// last dimension (cols must be a multiple of the block size); each block stores a shared
// scale and its elements. docs/formats.md gives the exact operation order; in short:
//   NVFP4   16 x e2m1, e4m3 block scale, one fp32 tensor scale
//           tensor_scale = max(amax(tensor) / 2688, 2^-126)          (2688 = 448 * 6)
//           scale_code   = e4m3((amax(block) / 6) / tensor_scale)
//           s            = e4m3_value(scale_code) * tensor_scale
//           element      = e2m1(x / s)       (0 when s is 0)        x' = e2m1_value * s
//   MXFP4   32 x e2m1, e8m0 scale 2^(floor(log2 amax(block)) - 2)  (OCP MX v1.0)
//   MXFP8   32 x f8_e4m3 (emax 8) or f8_e5m2 (emax 15), e8m0 scale 2^(floor(log2 amax) - emax)
//           element = format(x / scale) with saturation; a zero block gets scale code 0
//   INT8    symmetric, per row or per 32-element block: scale = amax / 127,
//           q = round_half_even(x / scale) clamped to [-127, 127] (0 when scale is 0)
// Every operation is one fp32 rounding, so the CPU and CUDA versions give the same bits.
// A block (or, for NVFP4, a tensor) that holds an inf or NaN gets a NaN scale and zero
// elements, and dequantizes to NaN.
#ifdef __cplusplus
#define VDIT_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define VDIT_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

#define VDIT_NVFP4_BLOCK 16
#define VDIT_MX_BLOCK 32
#define VDIT_INT8_BLOCK 32

typedef struct vdit_block_nvfp4 {
  uint8_t scale;                          // f8_e4m3, multiplied by the tensor scale
  uint8_t elements[VDIT_NVFP4_BLOCK / 2]; // f4_e2m1, element 2i in the low nibble of byte i
} vdit_block_nvfp4;
VDIT_STATIC_ASSERT(sizeof(vdit_block_nvfp4) == 9, "NVFP4 block is 9 bytes (4.5 bits per element)");

typedef struct vdit_block_mxfp4 {
  uint8_t scale;                       // e8m0
  uint8_t elements[VDIT_MX_BLOCK / 2]; // f4_e2m1, element 2i in the low nibble of byte i
} vdit_block_mxfp4;
VDIT_STATIC_ASSERT(sizeof(vdit_block_mxfp4) == 17, "MXFP4 block is 17 bytes (4.25 bits per element)");

typedef struct vdit_block_mxfp8 {
  uint8_t scale;                   // e8m0
  uint8_t elements[VDIT_MX_BLOCK]; // f8_e4m3 or f8_e5m2
} vdit_block_mxfp8;
VDIT_STATIC_ASSERT(sizeof(vdit_block_mxfp8) == 33, "MXFP8 block is 33 bytes (8.25 bits per element)");

typedef struct vdit_block_int8 {
  float scale;                       // amax / 127
  int8_t elements[VDIT_INT8_BLOCK];
} vdit_block_int8;
VDIT_STATIC_ASSERT(sizeof(vdit_block_int8) == 36, "INT8 block is 36 bytes (9 bits per element)");

// x: (rows, cols) floats; blocks: rows * cols / 16; tensor_scale: one float.
vdit_status vdit_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                float *tensor_scale);
vdit_status vdit_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                  const float *tensor_scale, float *y);
// blocks: rows * cols / 32.
vdit_status vdit_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks);
vdit_status vdit_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y);
// element: VDIT_DTYPE_F8_E4M3 or VDIT_DTYPE_F8_E5M2; blocks: rows * cols / 32.
vdit_status vdit_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                vdit_block_mxfp8 *blocks);
vdit_status vdit_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                  const vdit_block_mxfp8 *blocks, float *y);
// q: (rows, cols) int8; row_scales: rows floats. Any cols >= 1.
vdit_status vdit_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q, float *row_scales);
vdit_status vdit_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q, const float *row_scales,
                                      float *y);
// blocks: rows * cols / 32.
vdit_status vdit_quantize_int8_blocks(size_t rows, size_t cols, const float *x, vdit_block_int8 *blocks);
vdit_status vdit_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks, float *y);

// The quantizers by name, for tools and tables.
typedef enum vdit_quant_scheme {
  VDIT_QUANT_NVFP4 = 0,
  VDIT_QUANT_MXFP4,
  VDIT_QUANT_MXFP8_E4M3,
  VDIT_QUANT_MXFP8_E5M2,
  VDIT_QUANT_INT8_ROW,
  VDIT_QUANT_INT8_BLOCK,
  VDIT_QUANT_COUNT
} vdit_quant_scheme;

// "nvfp4", "mxfp4", "mxfp8_e4m3", "mxfp8_e5m2", "int8_row", "int8_block".
const char *vdit_quant_scheme_name(vdit_quant_scheme scheme);
vdit_status vdit_quant_scheme_parse(const char *name, vdit_quant_scheme *scheme);
// Elements per block (0 for INT8_ROW, whose block is the row).
int vdit_quant_block_size(vdit_quant_scheme scheme);
// Bytes of the quantized form of a (rows, cols) tensor, scales included (NVFP4: + 4 for the
// tensor scale; INT8_ROW: + 4 per row).
vdit_status vdit_quant_storage_bytes(vdit_quant_scheme scheme, size_t rows, size_t cols, size_t *bytes);
// Quantizes x and dequantizes into y (host memory; y may alias x): the error a scheme adds.
vdit_status vdit_quant_round_trip(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x, float *y);

// ---------------------------------------------------------------- the same on a GPU
// Device pointers, default stream, asynchronous with respect to the host (a later copy on
// the default stream waits for them). Bit-identical to the CPU functions above; where sm_90
// has a conversion instruction (bf16, f16, e4m3x2, e5m2x2, s8) it is used. A build without
// CUDA returns VDIT_ERROR_NO_DEVICE.
vdit_status vdit_cuda_convert_from_float(vdit_dtype dtype, size_t n, const float *in, void *out);
vdit_status vdit_cuda_convert_to_float(vdit_dtype dtype, size_t n, const void *in, float *out);
vdit_status vdit_cuda_quantize_nvfp4(size_t rows, size_t cols, const float *x, vdit_block_nvfp4 *blocks,
                                     float *tensor_scale);
vdit_status vdit_cuda_dequantize_nvfp4(size_t rows, size_t cols, const vdit_block_nvfp4 *blocks,
                                       const float *tensor_scale, float *y);
vdit_status vdit_cuda_quantize_mxfp4(size_t rows, size_t cols, const float *x, vdit_block_mxfp4 *blocks);
vdit_status vdit_cuda_dequantize_mxfp4(size_t rows, size_t cols, const vdit_block_mxfp4 *blocks, float *y);
vdit_status vdit_cuda_quantize_mxfp8(vdit_dtype element, size_t rows, size_t cols, const float *x,
                                     vdit_block_mxfp8 *blocks);
vdit_status vdit_cuda_dequantize_mxfp8(vdit_dtype element, size_t rows, size_t cols,
                                       const vdit_block_mxfp8 *blocks, float *y);
vdit_status vdit_cuda_quantize_int8_rows(size_t rows, size_t cols, const float *x, int8_t *q,
                                         float *row_scales);
vdit_status vdit_cuda_dequantize_int8_rows(size_t rows, size_t cols, const int8_t *q,
                                           const float *row_scales, float *y);
vdit_status vdit_cuda_quantize_int8_blocks(size_t rows, size_t cols, const float *x, vdit_block_int8 *blocks);
vdit_status vdit_cuda_dequantize_int8_blocks(size_t rows, size_t cols, const vdit_block_int8 *blocks,
                                             float *y);
// Device version of vdit_quant_round_trip (x, y on the device; takes its own scratch memory).
vdit_status vdit_cuda_quant_round_trip(vdit_quant_scheme scheme, size_t rows, size_t cols, const float *x,
                                       float *y);

// ---------------------------------------------------------------- error metrics
// How far a result is from its fp64 reference, each relative to the reference's magnitude:
//   rel_l1  = sum|x - r| / sum|r|           (1 for an all-zero x)
//   rel_rms = ||x - r||_2 / ||r||_2
//   cos     = <x, r> / (||x|| ||r||)         (0 when either is all zero)
//   max_err = max|x - r| / max|r|
// An all-zero reference (reference_max == 0) makes rel_l1, rel_rms and max_err absolute.
// Non-finite values of x are counted and make every metric NaN, so no tolerance passes them.
typedef struct vdit_error_stats {
  double rel_l1, rel_rms, cos, max_err;
  double reference_max; // max|r|
  int64_t nonfinite;
  int64_t count;
} vdit_error_stats;

vdit_error_stats vdit_error_stats_f32(size_t n, const float *x, const double *reference);
vdit_error_stats vdit_error_stats_f64(size_t n, const double *x, const double *reference);

#ifdef __cplusplus
}
#endif

#endif // VDIT_NUM_H
