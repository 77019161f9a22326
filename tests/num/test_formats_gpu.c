// The CUDA conversions and quantizers give the CPU's bits: every code of every format
// decoded, every code's value and every midpoint between neighbouring codes (and the floats
// next to it) encoded, 10^7 random floats from every exponent range encoded, through the
// hardware cvt path (the public API) and the shared software path; and every quantizer on
// Gaussian, outlier, wide-range, tiny, non-finite and tie inputs. Skips (exit 77) without
// CUDA or a GPU.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "num/reference.h"
#include "num/test_inputs.h"
#include "vdit/num.h"

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "num/cuda/num_cuda.h"

#define CUDA_CHECK(call)                                                                      \
  do {                                                                                        \
    cudaError_t check_error_ = (call);                                                        \
    if (check_error_ != cudaSuccess) CHECK_FAIL_("%s: %s", #call, cudaGetErrorString(check_error_)); \
  } while (0)

static void *device_alloc(size_t bytes) {
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  CUDA_CHECK(cudaMemset(p, 0xa5, bytes ? bytes : 1)); // poison: unwritten bytes show
  return p;
}

static const vdit_dtype conversion_dtypes[] = {VDIT_DTYPE_BF16, VDIT_DTYPE_F16, VDIT_DTYPE_F8_E4M3,
                                               VDIT_DTYPE_F8_E5M2, VDIT_DTYPE_F4_E2M1, VDIT_DTYPE_E8M0,
                                               VDIT_DTYPE_I8, VDIT_DTYPE_F32};
enum { CONVERSION_DTYPE_COUNT = sizeof conversion_dtypes / sizeof conversion_dtypes[0] };

typedef vdit_status (*encode_fn)(vdit_dtype, size_t, const float *, void *);
typedef vdit_status (*decode_fn)(vdit_dtype, size_t, const void *, float *);

static const struct {
  const char *name;
  encode_fn encode;
  decode_fn decode;
} paths[] = {
    {"cvt", vdit_cuda_convert_from_float, vdit_cuda_convert_to_float},
    {"software", vdit_cuda_convert_from_float_software, vdit_cuda_convert_to_float_software},
};

// Encodes x[0..n) on the CPU and on the GPU by both paths, compares the bytes, then decodes
// the CPU's codes on both and compares the floats.
static void compare_conversions(const char *what, vdit_dtype dtype, size_t n, const float *x) {
  size_t bytes;
  CHECK_OK(vdit_dtype_storage_bytes(dtype, n, &bytes));
  uint8_t *cpu_codes = (uint8_t *)malloc(bytes + 1), *gpu_codes = (uint8_t *)malloc(bytes + 1);
  float *cpu_values = (float *)malloc(n * sizeof(float) + 1), *gpu_values = (float *)malloc(n * sizeof(float) + 1);
  CHECK_OK(vdit_convert_from_float(dtype, n, x, cpu_codes));
  CHECK_OK(vdit_convert_to_float(dtype, n, cpu_codes, cpu_values));
  float *device_x = (float *)device_alloc(n * sizeof(float));
  uint8_t *device_codes = (uint8_t *)device_alloc(bytes);
  float *device_values = (float *)device_alloc(n * sizeof(float));
  CUDA_CHECK(cudaMemcpy(device_x, x, n * sizeof(float), cudaMemcpyHostToDevice));
  for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
    CUDA_CHECK(cudaMemset(device_codes, 0xa5, bytes ? bytes : 1));
    CHECK_OK(paths[p].encode(dtype, n, device_x, device_codes));
    CUDA_CHECK(cudaMemcpy(gpu_codes, device_codes, bytes, cudaMemcpyDeviceToHost));
    int elements_per_byte = dtype == VDIT_DTYPE_F4_E2M1 ? 2 : 1;
    size_t element_bytes = (size_t)(vdit_dtype_bits(dtype) / 8);
    uint64_t bad = 0;
    for (size_t b = 0; b < bytes; b++) {
      if (gpu_codes[b] == cpu_codes[b]) continue;
      size_t element = elements_per_byte == 2 ? 2 * b : b / element_bytes;
      if (bad++ < 8)
        fprintf(stderr, "  %s %s encode (%s): byte %zu (element %zu, x = %.9g = 0x%08x): gpu 0x%02x, cpu 0x%02x\n",
                what, vdit_dtype_name(dtype), paths[p].name, b, element, (double)x[element],
                (unsigned)test_float_bits(x[element]), gpu_codes[b], cpu_codes[b]);
    }
    if (bad) fprintf(stderr, "  %s %s encode (%s): %llu bytes differ\n", what, vdit_dtype_name(dtype), paths[p].name,
                     (unsigned long long)bad);
    CHECK_EQ_INT(bad, 0);

    CUDA_CHECK(cudaMemcpy(device_codes, cpu_codes, bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(device_values, 0xff, n * sizeof(float)));
    CHECK_OK(paths[p].decode(dtype, n, device_codes, device_values));
    CUDA_CHECK(cudaMemcpy(gpu_values, device_values, n * sizeof(float), cudaMemcpyDeviceToHost));
    bad = 0;
    for (size_t i = 0; i < n; i++) {
      if (test_float_bits(gpu_values[i]) == test_float_bits(cpu_values[i])) continue;
      if (bad++ < 8)
        fprintf(stderr, "  %s %s decode (%s): element %zu: gpu 0x%08x, cpu 0x%08x\n", what, vdit_dtype_name(dtype),
                paths[p].name, i, (unsigned)test_float_bits(gpu_values[i]), (unsigned)test_float_bits(cpu_values[i]));
    }
    CHECK_EQ_INT(bad, 0);
  }
  CUDA_CHECK(cudaFree(device_x));
  CUDA_CHECK(cudaFree(device_codes));
  CUDA_CHECK(cudaFree(device_values));
  free(cpu_codes);
  free(gpu_codes);
  free(cpu_values);
  free(gpu_values);
}

// Every code's value (so every code is decoded and re-encoded), each midpoint between
// neighbouring codes and the floats on either side of it, plus NaN, inf and zeros.
static void test_all_codes_and_midpoints(void) {
  for (int d = 0; d < CONVERSION_DTYPE_COUNT; d++) {
    vdit_dtype dtype = conversion_dtypes[d];
    uint32_t codes = vdit_reference_code_count(dtype);
    if (codes == 0) continue; // f32: covered by the random floats
    size_t n = 0, capacity = 8 * (size_t)codes + 32;
    float *x = (float *)malloc(capacity * sizeof(float));
    for (uint32_t c = 0; c < codes; c++) {
      double value = vdit_reference_to_double(dtype, c);
      x[n++] = (float)value;
      double next = vdit_reference_to_double(dtype, c + 1 < codes ? c + 1 : c);
      if (!isfinite(value) || !isfinite(next) || next <= value) continue;
      float midpoint = (float)((value + next) / 2);
      x[n++] = midpoint;
      x[n++] = nextafterf(midpoint, -INFINITY);
      x[n++] = nextafterf(midpoint, INFINITY);
    }
    static const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-45f, -1e-45f, 3.4e38f, -3.4e38f};
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) x[n++] = specials[s];
    // Negative values of the codes above (e8m0 and the sign-symmetric formats).
    size_t positive = n;
    for (size_t i = 0; i < positive; i++) x[n++] = -x[i];
    compare_conversions("codes and midpoints", dtype, n, x);
    compare_conversions("odd length", dtype, n - 1, x); // fp4: a half-filled last byte
    free(x);
  }
}

static void test_random_floats_gpu(void) {
  const size_t n = 10 * 1000 * 1000;
  float *x = (float *)malloc(n * sizeof(float));
  test_random_floats(20240602, n, x);
  for (int d = 0; d < CONVERSION_DTYPE_COUNT; d++) compare_conversions("random", conversion_dtypes[d], n, x);
  free(x);
}

// ---------------------------------------------------------------- quantizers
static vdit_dtype mxfp8_element(vdit_quant_scheme scheme) {
  return scheme == VDIT_QUANT_MXFP8_E5M2 ? VDIT_DTYPE_F8_E5M2 : VDIT_DTYPE_F8_E4M3;
}

// Bytes of the quantized data (blocks, or int8 elements) and the scale count (NVFP4: 1,
// INT8_ROW: rows).
static void quantized_size(vdit_quant_scheme scheme, size_t rows, size_t cols, size_t *bytes, size_t *scales) {
  size_t n = rows * cols;
  *scales = scheme == VDIT_QUANT_NVFP4 ? 1 : scheme == VDIT_QUANT_INT8_ROW ? rows : 0;
  switch (scheme) {
    case VDIT_QUANT_NVFP4: *bytes = n / 16 * sizeof(vdit_block_nvfp4); break;
    case VDIT_QUANT_MXFP4: *bytes = n / 32 * sizeof(vdit_block_mxfp4); break;
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2: *bytes = n / 32 * sizeof(vdit_block_mxfp8); break;
    case VDIT_QUANT_INT8_ROW: *bytes = n; break;
    default: *bytes = n / 32 * sizeof(vdit_block_int8); break;
  }
}

static vdit_status cpu_quantize(vdit_quant_scheme s, size_t rows, size_t cols, const float *x, void *data, float *scales) {
  switch (s) {
    case VDIT_QUANT_NVFP4: return vdit_quantize_nvfp4(rows, cols, x, (vdit_block_nvfp4 *)data, scales);
    case VDIT_QUANT_MXFP4: return vdit_quantize_mxfp4(rows, cols, x, (vdit_block_mxfp4 *)data);
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2:
      return vdit_quantize_mxfp8(mxfp8_element(s), rows, cols, x, (vdit_block_mxfp8 *)data);
    case VDIT_QUANT_INT8_ROW: return vdit_quantize_int8_rows(rows, cols, x, (int8_t *)data, scales);
    default: return vdit_quantize_int8_blocks(rows, cols, x, (vdit_block_int8 *)data);
  }
}

static vdit_status cpu_dequantize(vdit_quant_scheme s, size_t rows, size_t cols, const void *data, const float *scales,
                                  float *y) {
  switch (s) {
    case VDIT_QUANT_NVFP4: return vdit_dequantize_nvfp4(rows, cols, (const vdit_block_nvfp4 *)data, scales, y);
    case VDIT_QUANT_MXFP4: return vdit_dequantize_mxfp4(rows, cols, (const vdit_block_mxfp4 *)data, y);
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2:
      return vdit_dequantize_mxfp8(mxfp8_element(s), rows, cols, (const vdit_block_mxfp8 *)data, y);
    case VDIT_QUANT_INT8_ROW: return vdit_dequantize_int8_rows(rows, cols, (const int8_t *)data, scales, y);
    default: return vdit_dequantize_int8_blocks(rows, cols, (const vdit_block_int8 *)data, y);
  }
}

static vdit_status gpu_quantize(vdit_quant_scheme s, size_t rows, size_t cols, const float *x, void *data, float *scales) {
  switch (s) {
    case VDIT_QUANT_NVFP4: return vdit_cuda_quantize_nvfp4(rows, cols, x, (vdit_block_nvfp4 *)data, scales);
    case VDIT_QUANT_MXFP4: return vdit_cuda_quantize_mxfp4(rows, cols, x, (vdit_block_mxfp4 *)data);
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2:
      return vdit_cuda_quantize_mxfp8(mxfp8_element(s), rows, cols, x, (vdit_block_mxfp8 *)data);
    case VDIT_QUANT_INT8_ROW: return vdit_cuda_quantize_int8_rows(rows, cols, x, (int8_t *)data, scales);
    default: return vdit_cuda_quantize_int8_blocks(rows, cols, x, (vdit_block_int8 *)data);
  }
}

static vdit_status gpu_dequantize(vdit_quant_scheme s, size_t rows, size_t cols, const void *data, const float *scales,
                                  float *y) {
  switch (s) {
    case VDIT_QUANT_NVFP4: return vdit_cuda_dequantize_nvfp4(rows, cols, (const vdit_block_nvfp4 *)data, scales, y);
    case VDIT_QUANT_MXFP4: return vdit_cuda_dequantize_mxfp4(rows, cols, (const vdit_block_mxfp4 *)data, y);
    case VDIT_QUANT_MXFP8_E4M3: case VDIT_QUANT_MXFP8_E5M2:
      return vdit_cuda_dequantize_mxfp8(mxfp8_element(s), rows, cols, (const vdit_block_mxfp8 *)data, y);
    case VDIT_QUANT_INT8_ROW: return vdit_cuda_dequantize_int8_rows(rows, cols, (const int8_t *)data, scales, y);
    default: return vdit_cuda_dequantize_int8_blocks(rows, cols, (const vdit_block_int8 *)data, y);
  }
}

static void compare_quantizer(vdit_quant_scheme scheme, input_kind kind, size_t rows, size_t cols, uint64_t seed) {
  size_t n = rows * cols, bytes, scale_count;
  quantized_size(scheme, rows, cols, &bytes, &scale_count);
  float *x = (float *)malloc(n * sizeof(float)), *cpu_y = (float *)malloc(n * sizeof(float));
  float *gpu_y = (float *)malloc(n * sizeof(float));
  uint8_t *cpu_data = (uint8_t *)malloc(bytes), *gpu_data = (uint8_t *)malloc(bytes);
  float *cpu_scales = (float *)malloc((rows + 1) * sizeof(float)), *gpu_scales = (float *)malloc((rows + 1) * sizeof(float));
  test_make_input(kind, seed, rows, cols, x);
  CHECK_OK(cpu_quantize(scheme, rows, cols, x, cpu_data, cpu_scales));
  CHECK_OK(cpu_dequantize(scheme, rows, cols, cpu_data, cpu_scales, cpu_y));

  float *device_x = (float *)device_alloc(n * sizeof(float)), *device_y = (float *)device_alloc(n * sizeof(float));
  uint8_t *device_data = (uint8_t *)device_alloc(bytes);
  float *device_scales = (float *)device_alloc((rows + 1) * sizeof(float));
  CUDA_CHECK(cudaMemcpy(device_x, x, n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK_OK(gpu_quantize(scheme, rows, cols, device_x, device_data, device_scales));
  CUDA_CHECK(cudaMemcpy(gpu_data, device_data, bytes, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(gpu_scales, device_scales, (rows + 1) * sizeof(float), cudaMemcpyDeviceToHost));
  int agree = memcmp(gpu_data, cpu_data, bytes) == 0;
  for (size_t i = 0; i < scale_count; i++) agree &= test_float_bits(gpu_scales[i]) == test_float_bits(cpu_scales[i]);
  // Dequantize the CPU's quantized data on the GPU, so the two halves are checked apart.
  CUDA_CHECK(cudaMemcpy(device_data, cpu_data, bytes, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(device_scales, cpu_scales, (rows + 1) * sizeof(float), cudaMemcpyHostToDevice));
  CHECK_OK(gpu_dequantize(scheme, rows, cols, device_data, device_scales, device_y));
  CUDA_CHECK(cudaMemcpy(gpu_y, device_y, n * sizeof(float), cudaMemcpyDeviceToHost));
  int dequantize_agrees = memcmp(gpu_y, cpu_y, n * sizeof(float)) == 0;
  // The device round trip equals the CPU's.
  CHECK_OK(vdit_cuda_quant_round_trip(scheme, rows, cols, device_x, device_y));
  CUDA_CHECK(cudaMemcpy(gpu_y, device_y, n * sizeof(float), cudaMemcpyDeviceToHost));
  int round_trip_agrees = memcmp(gpu_y, cpu_y, n * sizeof(float)) == 0;
  if (!agree || !dequantize_agrees || !round_trip_agrees) {
    fprintf(stderr, "  %s on %s input %zu x %zu (seed %llu): quantize %s, dequantize %s, round trip %s\n",
            vdit_quant_scheme_name(scheme), test_input_names[kind], rows, cols, (unsigned long long)seed,
            agree ? "agrees" : "DIFFERS", dequantize_agrees ? "agrees" : "DIFFERS", round_trip_agrees ? "agrees" : "DIFFERS");
    for (size_t b = 0, shown = 0; b < bytes && shown < 4; b++)
      if (gpu_data[b] != cpu_data[b]) {
        fprintf(stderr, "    byte %zu: gpu 0x%02x, cpu 0x%02x\n", b, gpu_data[b], cpu_data[b]);
        shown++;
      }
  }
  CHECK(agree && dequantize_agrees && round_trip_agrees);
  CUDA_CHECK(cudaFree(device_x));
  CUDA_CHECK(cudaFree(device_y));
  CUDA_CHECK(cudaFree(device_data));
  CUDA_CHECK(cudaFree(device_scales));
  free(x);
  free(cpu_y);
  free(gpu_y);
  free(cpu_data);
  free(gpu_data);
  free(cpu_scales);
  free(gpu_scales);
}

static void test_quantizers_gpu(void) {
  static const size_t shapes[][2] = {{1, 32}, {7, 96}, {64, 1024}, {1024, 4096}};
  uint64_t seed = 5000;
  for (int s = 0; s < VDIT_QUANT_COUNT; s++)
    for (int k = 0; k < INPUT_KIND_COUNT; k++)
      for (size_t h = 0; h < sizeof shapes / sizeof shapes[0]; h++)
        compare_quantizer((vdit_quant_scheme)s, (input_kind)k, shapes[h][0], shapes[h][1], seed++);
  for (int k = 0; k < INPUT_KIND_COUNT; k++) compare_quantizer(VDIT_QUANT_INT8_ROW, (input_kind)k, 9, 37, seed++);
  // Shape errors come back the same as on the CPU.
  CHECK_STATUS(vdit_cuda_quantize_nvfp4(1, 17, (const float *)8, (vdit_block_nvfp4 *)8, (float *)8),
               VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_cuda_convert_from_float(VDIT_DTYPE_F64, 1, (const float *)8, (void *)8), VDIT_ERROR_UNSUPPORTED);
}
#endif // VDIT_HAVE_CUDA

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip("test_formats_gpu", "built without CUDA");
#else
  int gpus = 0;
  CHECK_OK(vdit_gpu_count(&gpus));
  if (gpus == 0) return check_skip("test_formats_gpu", "no GPU found");
  vdit_gpu_info info;
  CHECK_OK(vdit_gpu_query(0, &info));
  printf("test_formats_gpu: %s (sm_%d%d)\n", info.name, info.compute_major, info.compute_minor);
  double start = vdit_time_seconds();
  test_all_codes_and_midpoints();
  test_random_floats_gpu();
  test_quantizers_gpu();
  printf("test_formats_gpu: %.1f s\n", vdit_time_seconds() - start);
  return check_finish("test_formats_gpu");
#endif
}
