// Tensor layer on a GPU: host <-> device copies (contiguous and strided, every element size),
// device poison and NaN count, device arenas, and the Philox streams: the CUDA uniform and
// normal draws and the device fills must equal the CPU bit for bit; conversions between every
// pair of float dtypes with a GPU on either side give the host's bits.
// Skips (exit 77) without the CUDA backend or without a GPU.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor/convert_inputs.h"
#include "vdit/tensor.h"

#ifdef VDIT_HAVE_CUDA
#include "base/cuda/rng_cuda.h"

#define GPU VDIT_CUDA(0)

// Bytes of element e of a contiguous tensor: a pattern derived from e.
static void write_codes(vdit_tensor *t) {
  int bytes = vdit_dtype_bits(t->dtype) / 8;
  uint8_t *d = t->data;
  for (int64_t e = 0; e < vdit_tensor_numel(t); e++)
    for (int b = 0; b < bytes; b++) d[e * bytes + b] = (uint8_t)(e * 13 + b * 71 + 3);
}

static void test_round_trip(void) {
  // Contiguous: host -> device -> device -> host, 10^6 + 3 f32.
  int64_t n = 1000003;
  vdit_tensor host, device, device2, back;
  CHECK_OK(vdit_tensor_alloc(&host, VDIT_DTYPE_F32, VDIT_CPU, 1, &n));
  CHECK_OK(vdit_tensor_alloc(&device, VDIT_DTYPE_F32, GPU, 1, &n));
  CHECK_OK(vdit_tensor_alloc(&device2, VDIT_DTYPE_F32, GPU, 1, &n));
  CHECK_OK(vdit_tensor_alloc(&back, VDIT_DTYPE_F32, VDIT_CPU, 1, &n));
  CHECK_EQ_INT((uintptr_t)device.data % 256, 0);
  CHECK_OK(vdit_tensor_fill_normal(&host, 3, 0, 0.0, 1.0));
  CHECK_OK(vdit_tensor_poison(&back));
  CHECK_OK(vdit_tensor_copy(&device, &host));
  CHECK_OK(vdit_tensor_copy(&device2, &device));
  CHECK_OK(vdit_tensor_copy(&back, &device2));
  CHECK(memcmp(back.data, host.data, vdit_tensor_bytes(&host)) == 0);
  // Raw memory helpers.
  void *raw = NULL;
  CHECK_OK(vdit_device_alloc(GPU, 4096, &raw));
  CHECK_OK(vdit_memcpy(GPU, raw, VDIT_CPU, host.data, 4096));
  memset(back.data, 0, 4096);
  CHECK_OK(vdit_memcpy(VDIT_CPU, back.data, GPU, raw, 4096));
  CHECK(memcmp(back.data, host.data, 4096) == 0);
  CHECK_OK(vdit_device_synchronize(GPU));
  vdit_device_free(GPU, raw);
  vdit_tensor_free(&host);
  vdit_tensor_free(&device);
  vdit_tensor_free(&device2);
  vdit_tensor_free(&back);
}

// Strided copies through every path (device kernel, host strided -> device, device strided
// -> host, strided on both sides of different devices) against the host strided copy.
static void test_strided_copies(void) {
  const vdit_dtype dtypes[4] = {VDIT_DTYPE_U8, VDIT_DTYPE_BF16, VDIT_DTYPE_F32, VDIT_DTYPE_F64};
  int64_t shape[4] = {3, 17, 5, 33}, permuted[4] = {33, 3, 5, 17};
  int order[4] = {3, 0, 2, 1};
  for (int d = 0; d < 4; d++) {
    vdit_dtype dtype = dtypes[d];
    vdit_tensor host, expected, device, device_out, host_out, host_scatter, device_scatter, back;
    vdit_tensor host_view, device_view, host_scatter_view, device_scatter_view;
    CHECK_OK(vdit_tensor_alloc(&host, dtype, VDIT_CPU, 4, shape));
    CHECK_OK(vdit_tensor_alloc(&expected, dtype, VDIT_CPU, 4, permuted));
    CHECK_OK(vdit_tensor_alloc(&device, dtype, GPU, 4, shape));
    CHECK_OK(vdit_tensor_alloc(&device_out, dtype, GPU, 4, permuted));
    CHECK_OK(vdit_tensor_alloc(&host_out, dtype, VDIT_CPU, 4, permuted));
    CHECK_OK(vdit_tensor_alloc(&host_scatter, dtype, VDIT_CPU, 4, shape));
    CHECK_OK(vdit_tensor_alloc(&device_scatter, dtype, GPU, 4, shape));
    CHECK_OK(vdit_tensor_alloc(&back, dtype, VDIT_CPU, 4, shape));
    size_t bytes = vdit_tensor_bytes(&host);
    write_codes(&host);
    CHECK_OK(vdit_tensor_permute(&host, order, &host_view));
    CHECK_OK(vdit_tensor_copy(&expected, &host_view)); // the CPU reference
    CHECK_OK(vdit_tensor_copy(&device, &host));

    // Device strided -> device contiguous (kernel), then back.
    CHECK_OK(vdit_tensor_permute(&device, order, &device_view));
    CHECK_OK(vdit_tensor_copy(&device_out, &device_view));
    memset(host_out.data, 0, bytes);
    CHECK_OK(vdit_tensor_copy(&host_out, &device_out));
    CHECK(memcmp(host_out.data, expected.data, bytes) == 0);
    // Device strided -> host contiguous (staged on the device).
    memset(host_out.data, 0, bytes);
    CHECK_OK(vdit_tensor_copy(&host_out, &device_view));
    CHECK(memcmp(host_out.data, expected.data, bytes) == 0);
    // Host strided -> device contiguous (staged on the host).
    CHECK_OK(vdit_tensor_poison(&device_out));
    CHECK_OK(vdit_tensor_copy(&device_out, &host_view));
    memset(host_out.data, 0, bytes);
    CHECK_OK(vdit_tensor_copy(&host_out, &device_out));
    CHECK(memcmp(host_out.data, expected.data, bytes) == 0);
    // Host contiguous -> device strided (scatter on the device): device_scatter permuted = expected.
    CHECK_OK(vdit_tensor_poison(&device_scatter));
    CHECK_OK(vdit_tensor_permute(&device_scatter, order, &device_scatter_view));
    CHECK_OK(vdit_tensor_copy(&device_scatter_view, &expected));
    memset(back.data, 0, bytes);
    CHECK_OK(vdit_tensor_copy(&back, &device_scatter));
    CHECK(memcmp(back.data, host.data, bytes) == 0);
    // Strided on both sides, different devices: device view -> host view.
    memset(host_scatter.data, 0, bytes);
    CHECK_OK(vdit_tensor_permute(&host_scatter, order, &host_scatter_view));
    CHECK_OK(vdit_tensor_copy(&host_scatter_view, &device_view));
    CHECK(memcmp(host_scatter.data, host.data, bytes) == 0);
    // Mismatches stay errors across devices.
    CHECK_STATUS(vdit_tensor_copy(&device_out, &device), VDIT_ERROR_INVALID_ARGUMENT);

    vdit_tensor_free(&host);
    vdit_tensor_free(&expected);
    vdit_tensor_free(&device);
    vdit_tensor_free(&device_out);
    vdit_tensor_free(&host_out);
    vdit_tensor_free(&host_scatter);
    vdit_tensor_free(&device_scatter);
    vdit_tensor_free(&back);
  }
  // f4 contiguous across devices works; strided on the device is refused, not wrong.
  int64_t f4_shape[2] = {4, 6};
  vdit_tensor f4_host, f4_device, f4_back, f4_view;
  CHECK_OK(vdit_tensor_alloc(&f4_host, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, f4_shape));
  CHECK_OK(vdit_tensor_alloc(&f4_device, VDIT_DTYPE_F4_E2M1, GPU, 2, f4_shape));
  CHECK_OK(vdit_tensor_alloc(&f4_back, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, f4_shape));
  for (int i = 0; i < 12; i++) ((uint8_t *)f4_host.data)[i] = (uint8_t)(i * 37 + 5);
  CHECK_OK(vdit_tensor_copy(&f4_device, &f4_host));
  CHECK_OK(vdit_tensor_copy(&f4_back, &f4_device));
  CHECK(memcmp(f4_back.data, f4_host.data, 12) == 0);
  int64_t rows[2] = {2, 6}, row_stride[2] = {12, 1};
  CHECK_OK(vdit_tensor_view(&f4_view, f4_device.data, VDIT_DTYPE_F4_E2M1, GPU, 2, rows, row_stride));
  vdit_tensor f4_rows;
  CHECK_OK(vdit_tensor_alloc(&f4_rows, VDIT_DTYPE_F4_E2M1, GPU, 2, rows));
  CHECK_STATUS(vdit_tensor_copy(&f4_rows, &f4_view), VDIT_ERROR_UNSUPPORTED);
  vdit_tensor_free(&f4_rows);
  vdit_tensor_free(&f4_host);
  vdit_tensor_free(&f4_device);
  vdit_tensor_free(&f4_back);
}

static void test_device_poison(void) {
  static const struct { vdit_dtype dtype; uint64_t pattern; } cases[] = {
      {VDIT_DTYPE_F64, 0x7ff8000000000000ull}, {VDIT_DTYPE_F32, 0x7fc00000u}, {VDIT_DTYPE_F16, 0x7e00u},
      {VDIT_DTYPE_BF16, 0x7fc0u},              {VDIT_DTYPE_F8_E4M3, 0x7fu},   {VDIT_DTYPE_F8_E5M2, 0x7eu},
      {VDIT_DTYPE_I32, 0xaaaaaaaau},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t shape[2] = {333, 77};
    vdit_tensor device, host;
    CHECK_OK(vdit_tensor_alloc(&device, cases[c].dtype, GPU, 2, shape));
    CHECK_OK(vdit_tensor_alloc(&host, cases[c].dtype, VDIT_CPU, 2, shape));
    CHECK_OK(vdit_tensor_poison(&device));
    memset(host.data, 0, vdit_tensor_bytes(&host));
    CHECK_OK(vdit_tensor_copy(&host, &device));
    int bytes = vdit_dtype_bits(cases[c].dtype) / 8, wrong = 0;
    for (int64_t e = 0; e < 333 * 77; e++) {
      uint64_t value = 0;
      memcpy(&value, (uint8_t *)host.data + e * bytes, (size_t)bytes);
      wrong += value != cases[c].pattern;
    }
    if (wrong) CHECK_FAIL_("device poison of %s: %d elements wrong", vdit_dtype_name(cases[c].dtype), wrong);
    if (cases[c].dtype != VDIT_DTYPE_I32) {
      int64_t nan_count = -1;
      CHECK_OK(vdit_tensor_count_nan(&device, &nan_count));
      CHECK_EQ_INT(nan_count, 333 * 77);
    }
    vdit_tensor_free(&device);
    vdit_tensor_free(&host);
  }
  // Strided: poison every other column of a device matrix, count through the whole.
  int64_t shape[2] = {64, 40}, half[2] = {64, 20}, half_stride[2] = {40, 2};
  vdit_tensor device, columns;
  CHECK_OK(vdit_tensor_alloc(&device, VDIT_DTYPE_F32, GPU, 2, shape));
  CHECK_OK(vdit_tensor_fill_uniform(&device, 1, 0, 0.0, 1.0));
  CHECK_OK(vdit_tensor_view(&columns, device.data, VDIT_DTYPE_F32, GPU, 2, half, half_stride));
  CHECK_OK(vdit_tensor_poison(&columns));
  int64_t nan_count = -1;
  CHECK_OK(vdit_tensor_count_nan(&device, &nan_count));
  CHECK_EQ_INT(nan_count, 64 * 20);
  CHECK_OK(vdit_tensor_count_nan(&columns, &nan_count));
  CHECK_EQ_INT(nan_count, 64 * 20);
  vdit_tensor_free(&device);
}

static void test_device_arena(void) {
  vdit_arena arena;
  CHECK_OK(vdit_arena_init(&arena, GPU, 1 << 20));
  CHECK_EQ_INT((uintptr_t)arena.base % VDIT_ARENA_ALIGNMENT, 0);
  vdit_tensor a, b, host;
  int64_t shape[2] = {100, 1000};
  CHECK_OK(vdit_arena_tensor(&arena, &a, VDIT_DTYPE_F32, 2, shape));
  CHECK_OK(vdit_arena_tensor(&arena, &b, VDIT_DTYPE_F32, 2, shape));
  CHECK(a.device.type == VDIT_DEVICE_CUDA && a.allocation == NULL);
  CHECK_EQ_INT((uintptr_t)b.data % VDIT_ARENA_ALIGNMENT, 0);
  CHECK(b.data != a.data);
  CHECK_OK(vdit_tensor_fill_normal(&a, 4, 0, 0.0, 1.0));
  CHECK_OK(vdit_tensor_copy(&b, &a));
  CHECK_OK(vdit_tensor_alloc(&host, VDIT_DTYPE_F32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_copy(&host, &b));
  float *z = malloc(100000 * sizeof *z);
  vdit_rng_normal(4, 0, 100000, z);
  CHECK(memcmp(host.data, z, 100000 * sizeof *z) == 0);
  free(z);
  CHECK_STATUS(vdit_arena_tensor(&arena, &a, VDIT_DTYPE_F32, 2, shape), VDIT_ERROR_OUT_OF_MEMORY);
  CHECK(strstr(vdit_last_error(), "capacity 1048576") != NULL);
  CHECK(strstr(vdit_last_error(), "cuda:0") != NULL);
  vdit_arena_reset(&arena);
  CHECK_OK(vdit_arena_tensor(&arena, &a, VDIT_DTYPE_F32, 2, shape));
  CHECK(a.data == arena.base);
  CHECK(arena.peak >= 800000);
  vdit_arena_free(&arena);
  vdit_tensor_free(&host);
}

// First index where two float arrays differ in bits, or -1.
static int64_t first_difference(const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], 4) != 0) return (int64_t)i;
  return -1;
}

static void test_rng_matches_cpu(void) {
  static const uint64_t seeds[4] = {0, 1, 0x0123456789abcdefull, UINT64_MAX};
  static const uint64_t offsets[6] = {0, 1, 2, 3, 5 + ((uint64_t)1 << 32), UINT64_MAX - 6}; // the last wraps
  static const size_t counts[5] = {1, 2, 3, 1001, 4099};
  size_t big = 10000003; // >= 10^7, not a multiple of 4
  void *device_memory = NULL;
  float *cpu = malloc(big * sizeof *cpu), *gpu = malloc(big * sizeof *gpu);
  CHECK_OK(vdit_device_alloc(GPU, big * sizeof(float), &device_memory));
  float *device = device_memory;
  for (int normal = 0; normal < 2; normal++) {
    for (int s = 0; s < 4; s++)
      for (int o = 0; o < 6; o++)
        for (int c = 0; c < 5; c++) {
          size_t n = counts[c];
          if (normal)
            CHECK_OK(vdit_cuda_rng_normal(seeds[s], offsets[o], n, device));
          else
            CHECK_OK(vdit_cuda_rng_uniform(seeds[s], offsets[o], n, device));
          CHECK_OK(vdit_memcpy(VDIT_CPU, gpu, GPU, device, n * sizeof(float)));
          (normal ? vdit_rng_normal : vdit_rng_uniform)(seeds[s], offsets[o], n, cpu);
          int64_t at = first_difference(cpu, gpu, n);
          if (at >= 0)
            CHECK_FAIL_("%s seed %llx offset %llu n %zu: element %lld: cpu %.9g gpu %.9g", normal ? "normal" : "uniform",
                        (unsigned long long)seeds[s], (unsigned long long)offsets[o], n, (long long)at,
                        (double)cpu[at], (double)gpu[at]);
        }
    // 10^7 values at an odd offset.
    uint64_t offset = 12345;
    if (normal)
      CHECK_OK(vdit_cuda_rng_normal(2024, offset, big, device));
    else
      CHECK_OK(vdit_cuda_rng_uniform(2024, offset, big, device));
    CHECK_OK(vdit_memcpy(VDIT_CPU, gpu, GPU, device, big * sizeof(float)));
    (normal ? vdit_rng_normal : vdit_rng_uniform)(2024, offset, big, cpu);
    int64_t at = first_difference(cpu, gpu, big);
    if (at >= 0)
      CHECK_FAIL_("%s 10^7 draws: element %lld differs: cpu %.9g gpu %.9g", normal ? "normal" : "uniform",
                  (long long)at, (double)cpu[at], (double)gpu[at]);
  }
  // A zero count writes nothing.
  CHECK_OK(vdit_cuda_rng_uniform(1, 0, 0, device));
  vdit_device_free(GPU, device);
  free(cpu);
  free(gpu);
}

// Device fills (f32 and f64, contiguous and strided, with mean/std and low/high) equal the
// host fills bit for bit.
static void test_fills_match_cpu(void) {
  int64_t shape[3] = {25, 401, 1001}; // 10,035,025 elements
  int64_t n = shape[0] * shape[1] * shape[2];
  const vdit_dtype dtypes[2] = {VDIT_DTYPE_F32, VDIT_DTYPE_F64};
  for (int d = 0; d < 2; d++) {
    vdit_tensor host, device, back;
    CHECK_OK(vdit_tensor_alloc(&host, dtypes[d], VDIT_CPU, 3, shape));
    CHECK_OK(vdit_tensor_alloc(&device, dtypes[d], GPU, 3, shape));
    CHECK_OK(vdit_tensor_alloc(&back, dtypes[d], VDIT_CPU, 3, shape));
    size_t bytes = vdit_tensor_bytes(&host);
    for (int normal = 0; normal < 2; normal++) {
      uint64_t seed = 99 + (uint64_t)normal, offset = 7;
      if (normal) {
        CHECK_OK(vdit_tensor_fill_normal(&host, seed, offset, -1.25, 3.7));
        CHECK_OK(vdit_tensor_fill_normal(&device, seed, offset, -1.25, 3.7));
      } else {
        CHECK_OK(vdit_tensor_fill_uniform(&host, seed, offset, -0.3, 2.9));
        CHECK_OK(vdit_tensor_fill_uniform(&device, seed, offset, -0.3, 2.9));
      }
      CHECK_OK(vdit_tensor_poison(&back));
      CHECK_OK(vdit_tensor_copy(&back, &device));
      if (memcmp(back.data, host.data, bytes) != 0)
        CHECK_FAIL_("device %s fill of %lld %s differs from the host", normal ? "normal" : "uniform", (long long)n,
                    vdit_dtype_name(dtypes[d]));
    }
    // Strided: fill a permuted view on each side.
    vdit_tensor host_view, device_view;
    int order[3] = {2, 0, 1};
    CHECK_OK(vdit_tensor_permute(&host, order, &host_view));
    CHECK_OK(vdit_tensor_permute(&device, order, &device_view));
    CHECK_OK(vdit_tensor_fill_normal(&host_view, 5, 3, 0.5, 2.0));
    CHECK_OK(vdit_tensor_fill_normal(&device_view, 5, 3, 0.5, 2.0));
    CHECK_OK(vdit_tensor_copy(&back, &device));
    CHECK(memcmp(back.data, host.data, bytes) == 0);
    vdit_tensor_free(&host);
    vdit_tensor_free(&device);
    vdit_tensor_free(&back);
  }
}

static void test_device_convert(void) {
  int64_t shape[2] = {300, 200};
  vdit_tensor f32, f64_device, f32_back;
  CHECK_OK(vdit_tensor_alloc(&f32, VDIT_DTYPE_F32, GPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&f64_device, VDIT_DTYPE_F64, GPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&f32_back, VDIT_DTYPE_F32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_fill_normal(&f32, 8, 0, 0.0, 1.0));
  CHECK_OK(vdit_tensor_convert(&f64_device, &f32));
  CHECK_OK(vdit_tensor_convert(&f32_back, &f64_device));
  float *z = malloc(60000 * sizeof *z);
  vdit_rng_normal(8, 0, 60000, z);
  CHECK(memcmp(f32_back.data, z, 60000 * sizeof *z) == 0);
  free(z);
  vdit_tensor_free(&f32);
  vdit_tensor_free(&f64_device);
  vdit_tensor_free(&f32_back);
}

// Elements (f4: nibbles) of two contiguous arrays of `dtype` that differ.
static int64_t count_different_codes(vdit_dtype dtype, const void *a, const void *b, int64_t n) {
  int64_t different = 0;
  for (int64_t e = 0; e < n; e++) different += convert_code_get(dtype, a, e) != convert_code_get(dtype, b, e);
  return different;
}

// vdit_tensor_convert with a GPU on either side gives the host conversion's bits (test_tensor
// checks those against the scalar num functions) for every pair of float dtypes: device ->
// device (the num kernels; f64 through the host), host -> device, device -> host, strided
// device views on either side (staged on the GPU). Strided f4 on a GPU is refused.
static void test_convert_pairs_match_host(void) {
  enum { R = 37, C = 131, N = R * C };
  int64_t shape[2] = {R, C}, transposed[2] = {C, R};
  int order[2] = {1, 0};
  for (int a = 0; a < CONVERT_DTYPE_COUNT; a++)
    for (int b = 0; b < CONVERT_DTYPE_COUNT; b++) {
      vdit_dtype src = convert_dtypes[a], dst = convert_dtypes[b];
      const char *pair_name[2] = {vdit_dtype_name(src), vdit_dtype_name(dst)};
      vdit_tensor host_src, expected, device_src, device_dst, back;
      CHECK_OK(vdit_tensor_alloc(&host_src, src, VDIT_CPU, 2, shape));
      CHECK_OK(vdit_tensor_alloc(&expected, dst, VDIT_CPU, 2, shape));
      CHECK_OK(vdit_tensor_alloc(&device_src, src, GPU, 2, shape));
      CHECK_OK(vdit_tensor_alloc(&device_dst, dst, GPU, 2, shape));
      CHECK_OK(vdit_tensor_alloc(&back, dst, VDIT_CPU, 2, shape));
      convert_random_codes(src, 9000 + 16 * (uint64_t)a + (uint64_t)b, N, host_src.data);
      CHECK_OK(vdit_tensor_convert(&expected, &host_src));
      CHECK_OK(vdit_tensor_copy(&device_src, &host_src));
      int64_t wrong[5] = {0, 0, 0, 0, 0};
      // Device -> device.
      CHECK_OK(vdit_tensor_poison(&device_dst));
      CHECK_OK(vdit_tensor_convert(&device_dst, &device_src));
      CHECK_OK(vdit_tensor_copy(&back, &device_dst));
      wrong[0] = count_different_codes(dst, back.data, expected.data, N);
      // Host -> device.
      CHECK_OK(vdit_tensor_poison(&device_dst));
      CHECK_OK(vdit_tensor_convert(&device_dst, &host_src));
      CHECK_OK(vdit_tensor_copy(&back, &device_dst));
      wrong[1] = count_different_codes(dst, back.data, expected.data, N);
      // Device -> host.
      CHECK_OK(vdit_tensor_poison(&back));
      CHECK_OK(vdit_tensor_convert(&back, &device_src));
      wrong[2] = count_different_codes(dst, back.data, expected.data, N);
      if (src != VDIT_DTYPE_F4_E2M1 && dst != VDIT_DTYPE_F4_E2M1) {
        // Strided device src: the transposed view into a contiguous (C, R) device tensor.
        vdit_tensor host_view, device_view, expected_t, device_t, back_t, device_src_t, dst_view;
        CHECK_OK(vdit_tensor_permute(&host_src, order, &host_view));
        CHECK_OK(vdit_tensor_permute(&device_src, order, &device_view));
        CHECK_OK(vdit_tensor_alloc(&expected_t, dst, VDIT_CPU, 2, transposed));
        CHECK_OK(vdit_tensor_alloc(&device_t, dst, GPU, 2, transposed));
        CHECK_OK(vdit_tensor_alloc(&back_t, dst, VDIT_CPU, 2, transposed));
        CHECK_OK(vdit_tensor_convert(&expected_t, &host_view));
        CHECK_OK(vdit_tensor_poison(&device_t));
        CHECK_OK(vdit_tensor_convert(&device_t, &device_view));
        CHECK_OK(vdit_tensor_copy(&back_t, &device_t));
        wrong[3] = count_different_codes(dst, back_t.data, expected_t.data, N);
        // Strided device dst: a contiguous (C, R) device src scattered through a transposed
        // view of device_dst gives device_dst == expected.
        CHECK_OK(vdit_tensor_alloc(&device_src_t, src, GPU, 2, transposed));
        CHECK_OK(vdit_tensor_copy(&device_src_t, &host_view));
        CHECK_OK(vdit_tensor_poison(&device_dst));
        CHECK_OK(vdit_tensor_permute(&device_dst, order, &dst_view));
        CHECK_OK(vdit_tensor_convert(&dst_view, &device_src_t));
        CHECK_OK(vdit_tensor_copy(&back, &device_dst));
        wrong[4] = count_different_codes(dst, back.data, expected.data, N);
        vdit_tensor_free(&expected_t);
        vdit_tensor_free(&device_t);
        vdit_tensor_free(&back_t);
        vdit_tensor_free(&device_src_t);
      }
      for (int w = 0; w < 5; w++)
        if (wrong[w])
          CHECK_FAIL_("%s -> %s, case %d (device->device, host->device, device->host, strided src, strided dst): "
                      "%lld elements differ from the host conversion",
                      pair_name[0], pair_name[1], w, (long long)wrong[w]);
      vdit_tensor_free(&host_src);
      vdit_tensor_free(&expected);
      vdit_tensor_free(&device_src);
      vdit_tensor_free(&device_dst);
      vdit_tensor_free(&back);
    }

  // Strided f4 on the GPU cannot be staged: refused on either side, not wrong ...
  int64_t rows[2] = {R, 64}, wide[2] = {R, 128}, row_stride[2] = {C + 1, 1}, wide_stride[2] = {128, 1};
  vdit_tensor f4, f4_view, f16, f16_wide, f16_view, host_f16, f4_rows, f4_back, f4_expected;
  CHECK_OK(vdit_tensor_alloc(&f4, VDIT_DTYPE_F4_E2M1, GPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&f16, VDIT_DTYPE_F16, GPU, 2, rows));
  CHECK_OK(vdit_tensor_view(&f4_view, f4.data, VDIT_DTYPE_F4_E2M1, GPU, 2, rows, row_stride));
  CHECK_STATUS(vdit_tensor_convert(&f16, &f4_view), VDIT_ERROR_UNSUPPORTED);
  CHECK(strstr(vdit_last_error(), "f4_e2m1") != NULL);
  CHECK_STATUS(vdit_tensor_convert(&f4_view, &f16), VDIT_ERROR_UNSUPPORTED);
  // ... while a strided f16 view converts into a contiguous f4 tensor (staged on the GPU).
  CHECK_OK(vdit_tensor_alloc(&f16_wide, VDIT_DTYPE_F16, GPU, 2, wide));
  CHECK_OK(vdit_tensor_view(&f16_view, f16_wide.data, VDIT_DTYPE_F16, GPU, 2, rows, wide_stride));
  CHECK_OK(vdit_tensor_alloc(&host_f16, VDIT_DTYPE_F16, VDIT_CPU, 2, rows));
  CHECK_OK(vdit_tensor_alloc(&f4_rows, VDIT_DTYPE_F4_E2M1, GPU, 2, rows));
  CHECK_OK(vdit_tensor_alloc(&f4_back, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, rows));
  CHECK_OK(vdit_tensor_alloc(&f4_expected, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, rows));
  convert_random_codes(VDIT_DTYPE_F16, 4242, R * 64, host_f16.data);
  CHECK_OK(vdit_tensor_copy(&f16_view, &host_f16));
  CHECK_OK(vdit_tensor_convert(&f4_expected, &host_f16));
  CHECK_OK(vdit_tensor_convert(&f4_rows, &f16_view));
  CHECK_OK(vdit_tensor_copy(&f4_back, &f4_rows));
  CHECK_EQ_INT(count_different_codes(VDIT_DTYPE_F4_E2M1, f4_back.data, f4_expected.data, R * 64), 0);
  vdit_tensor_free(&f4);
  vdit_tensor_free(&f16);
  vdit_tensor_free(&f16_wide);
  vdit_tensor_free(&host_f16);
  vdit_tensor_free(&f4_rows);
  vdit_tensor_free(&f4_back);
  vdit_tensor_free(&f4_expected);

  // Large: 10^6 + 3 elements through the kernels, against the host.
  static const vdit_dtype large_pairs[][2] = {
      {VDIT_DTYPE_F32, VDIT_DTYPE_BF16}, {VDIT_DTYPE_BF16, VDIT_DTYPE_F8_E4M3}, {VDIT_DTYPE_F16, VDIT_DTYPE_F4_E2M1}};
  int64_t n = 1000003;
  for (size_t p = 0; p < sizeof large_pairs / sizeof large_pairs[0]; p++) {
    vdit_dtype src = large_pairs[p][0], dst = large_pairs[p][1];
    vdit_tensor host_src, expected, device_src, device_dst, back;
    CHECK_OK(vdit_tensor_alloc(&host_src, src, VDIT_CPU, 1, &n));
    CHECK_OK(vdit_tensor_alloc(&expected, dst, VDIT_CPU, 1, &n));
    CHECK_OK(vdit_tensor_alloc(&device_src, src, GPU, 1, &n));
    CHECK_OK(vdit_tensor_alloc(&device_dst, dst, GPU, 1, &n));
    CHECK_OK(vdit_tensor_alloc(&back, dst, VDIT_CPU, 1, &n));
    convert_random_codes(src, 31 + p, n, host_src.data);
    CHECK_OK(vdit_tensor_convert(&expected, &host_src));
    CHECK_OK(vdit_tensor_copy(&device_src, &host_src));
    CHECK_OK(vdit_tensor_poison(&device_dst));
    CHECK_OK(vdit_tensor_convert(&device_dst, &device_src));
    CHECK_OK(vdit_tensor_copy(&back, &device_dst));
    CHECK_EQ_INT(count_different_codes(dst, back.data, expected.data, n), 0);
    vdit_tensor_free(&host_src);
    vdit_tensor_free(&expected);
    vdit_tensor_free(&device_src);
    vdit_tensor_free(&device_dst);
    vdit_tensor_free(&back);
  }
}
#endif // VDIT_HAVE_CUDA

int main(void) {
#ifndef VDIT_HAVE_CUDA
  return check_skip("test_tensor_gpu", "vdit was built without CUDA");
#else
  int count = 0;
  CHECK_OK(vdit_gpu_count(&count));
  if (count == 0) return check_skip("test_tensor_gpu", "no CUDA GPU found");
  test_round_trip();
  test_strided_copies();
  test_device_poison();
  test_device_arena();
  test_rng_matches_cpu();
  test_fills_match_cpu();
  test_device_convert();
  test_convert_pairs_match_host();
  return check_finish("test_tensor_gpu");
#endif
}
