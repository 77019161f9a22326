// Tensor layer on the CPU: descriptors, views, permute/reshape, strided copies for every
// element size, conversion between every pair of float dtypes (bit-exact against the scalar
// num functions), NaN poison, Philox fills (bits against the base RNG, and statistics),
// arenas, and the errors for bad input (including CUDA without a GPU).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor/convert_inputs.h"
#include "vdit/tensor.h"

#define CHECK_ERROR_CONTAINS(text)                                                        \
  do {                                                                                    \
    if (strstr(vdit_last_error(), (text)) == NULL)                                        \
      CHECK_FAIL_("last error '%s' does not contain '%s'", vdit_last_error(), (text));    \
  } while (0)

static void test_alloc(void) {
  vdit_tensor t;
  int64_t shape[3] = {2, 3, 4};
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 3, shape));
  CHECK(t.data != NULL && t.allocation == t.data);
  CHECK_EQ_INT((uintptr_t)t.data % 64, 0);
  CHECK_EQ_INT(vdit_tensor_numel(&t), 24);
  CHECK_EQ_INT(vdit_tensor_bytes(&t), 96);
  CHECK_EQ_INT(t.stride[0], 12);
  CHECK_EQ_INT(t.stride[1], 4);
  CHECK_EQ_INT(t.stride[2], 1);
  CHECK(vdit_tensor_is_contiguous(&t));
  float *data = t.data;
  for (int i = 0; i < 24; i++) data[i] = (float)i;
  vdit_tensor_free(&t);
  CHECK(t.data == NULL && t.allocation == NULL && t.ndim == 0);
  vdit_tensor_free(&t); // freeing a cleared descriptor is harmless

  // A scalar has one element; a zero dim gives no elements and no memory.
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F64, VDIT_CPU, 0, NULL));
  CHECK_EQ_INT(vdit_tensor_numel(&t), 1);
  CHECK_EQ_INT(vdit_tensor_bytes(&t), 8);
  CHECK(t.data != NULL);
  vdit_tensor_free(&t);
  int64_t empty[3] = {3, 0, 2};
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 3, empty));
  CHECK_EQ_INT(vdit_tensor_numel(&t), 0);
  CHECK_EQ_INT(vdit_tensor_bytes(&t), 0);
  CHECK(t.data == NULL);
  CHECK(vdit_tensor_is_contiguous(&t));
  vdit_tensor_free(&t);
  // A zero dim next to huge ones is still a valid empty tensor.
  int64_t empty_huge[3] = {0, (int64_t)1 << 40, (int64_t)1 << 20};
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 3, empty_huge));
  CHECK_EQ_INT(vdit_tensor_numel(&t), 0);
  vdit_tensor_free(&t);
  // f4 packs two per byte and rounds up.
  int64_t odd[2] = {3, 5};
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, odd));
  CHECK_EQ_INT(vdit_tensor_bytes(&t), 8);
  vdit_tensor_free(&t);
}

static void test_bad_input(void) {
  vdit_tensor t;
  int64_t shape[6] = {1, 2, 3, 4, 5, 6};
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 6, shape), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("ndim 6");
  CHECK(t.data == NULL && t.ndim == 0);
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, -1, shape), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 2, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  int64_t negative[2] = {4, -3};
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 2, negative), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("(4, -3)");
  int64_t too_many[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 1};
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 3, too_many), VDIT_ERROR_INVALID_ARGUMENT);
  int64_t too_many_bytes[2] = {(int64_t)1 << 62, 1};
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 2, too_many_bytes), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("overflows");
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_COUNT, VDIT_CPU, 1, shape), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, (vdit_device){(vdit_device_type)7, 0}, 1, shape),
               VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_alloc(NULL, VDIT_DTYPE_F32, VDIT_CPU, 1, shape), VDIT_ERROR_INVALID_ARGUMENT);
  // A view needs data when it has elements.
  CHECK_STATUS(vdit_tensor_view(&t, NULL, VDIT_DTYPE_F32, VDIT_CPU, 2, shape, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  float storage[4];
  int64_t wild_stride[2] = {INT64_MAX / 2, 1};
  int64_t wild_shape[2] = {4, 1};
  CHECK_STATUS(vdit_tensor_view(&t, storage, VDIT_DTYPE_F32, VDIT_CPU, 2, wild_shape, wild_stride),
               VDIT_ERROR_INVALID_ARGUMENT);
}

static void test_no_device(void) {
  int count = -1;
  CHECK_OK(vdit_gpu_count(&count));
  vdit_tensor t;
  int64_t shape[1] = {16};
  vdit_device missing = count == 0 ? VDIT_CUDA(0) : VDIT_CUDA(count + 3);
  const char *hint = count > 0 ? "no GPU with index" : vdit_built_with_cuda() ? "no CUDA GPU found" : "built without CUDA";
  CHECK_STATUS(vdit_device_check(missing), VDIT_ERROR_NO_DEVICE);
  CHECK_ERROR_CONTAINS(hint);
  CHECK_STATUS(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, missing, 1, shape), VDIT_ERROR_NO_DEVICE);
  CHECK_ERROR_CONTAINS(hint);
  void *p = (void *)&t;
  CHECK_STATUS(vdit_device_alloc(missing, 64, &p), VDIT_ERROR_NO_DEVICE);
  CHECK(p == NULL);
  float a[4] = {0}, b[4] = {0};
  CHECK_STATUS(vdit_memcpy(missing, a, VDIT_CPU, b, sizeof a), VDIT_ERROR_NO_DEVICE);
  CHECK_STATUS(vdit_device_synchronize(missing), VDIT_ERROR_NO_DEVICE);
  vdit_arena arena;
  CHECK_STATUS(vdit_arena_init(&arena, missing, 1024), VDIT_ERROR_NO_DEVICE);
  CHECK_STATUS(vdit_tensor_view(&t, a, VDIT_DTYPE_F32, missing, 1, shape, NULL), VDIT_ERROR_NO_DEVICE);
  CHECK_OK(vdit_device_synchronize(VDIT_CPU));
}

static void test_device_memory(void) {
  void *p = NULL;
  CHECK_OK(vdit_device_alloc(VDIT_CPU, 100, &p));
  CHECK(p != NULL);
  CHECK_EQ_INT((uintptr_t)p % 64, 0);
  char source[100];
  for (int i = 0; i < 100; i++) source[i] = (char)i;
  CHECK_OK(vdit_memcpy(VDIT_CPU, p, VDIT_CPU, source, sizeof source));
  CHECK(memcmp(p, source, sizeof source) == 0);
  vdit_device_free(VDIT_CPU, p);
  CHECK_OK(vdit_device_alloc(VDIT_CPU, 0, &p));
  CHECK(p == NULL);
  CHECK_OK(vdit_memcpy(VDIT_CPU, NULL, VDIT_CPU, NULL, 0));
  CHECK_STATUS(vdit_memcpy(VDIT_CPU, NULL, VDIT_CPU, source, 4), VDIT_ERROR_INVALID_ARGUMENT);
  char name[32];
  CHECK(strcmp(vdit_device_string(VDIT_CPU, name, sizeof name), "cpu") == 0);
  CHECK(strcmp(vdit_device_string(VDIT_CUDA(3), name, sizeof name), "cuda:3") == 0);
  CHECK(vdit_device_equal(VDIT_CUDA(1), VDIT_CUDA(1)) && !vdit_device_equal(VDIT_CUDA(0), VDIT_CUDA(1)));
  CHECK(!vdit_device_equal(VDIT_CPU, VDIT_CUDA(0)));
}

static void test_shape_string(void) {
  float storage[24];
  vdit_tensor t;
  char text[VDIT_SHAPE_STRING_SIZE];
  int64_t shape[3] = {2, 3, 4};
  CHECK_OK(vdit_tensor_view(&t, storage, VDIT_DTYPE_F32, VDIT_CPU, 3, shape, NULL));
  CHECK(strcmp(vdit_tensor_shape_string(&t, text, sizeof text), "(2, 3, 4)") == 0);
  CHECK_OK(vdit_tensor_view(&t, storage, VDIT_DTYPE_F32, VDIT_CPU, 0, NULL, NULL));
  CHECK(strcmp(vdit_tensor_shape_string(&t, text, sizeof text), "()") == 0);
  CHECK_OK(vdit_tensor_view(&t, storage, VDIT_DTYPE_F32, VDIT_CPU, 1, shape + 2, NULL));
  CHECK(strcmp(vdit_tensor_shape_string(&t, text, sizeof text), "(4)") == 0);
  int64_t big[5] = {INT64_MAX, 0, 0, 0, 0};
  CHECK_OK(vdit_tensor_view(&t, NULL, VDIT_DTYPE_U8, VDIT_CPU, 5, big, NULL));
  CHECK(strcmp(vdit_tensor_shape_string(&t, text, sizeof text), "(9223372036854775807, 0, 0, 0, 0)") == 0);
  char tiny[6];
  CHECK(strcmp(vdit_tensor_shape_string(&t, tiny, sizeof tiny), "(9223") == 0);
}

// Element (i, j, k) of a (2, 3, 4) tensor holds 100 i + 10 j + k.
static float code3(int64_t i, int64_t j, int64_t k) { return (float)(100 * i + 10 * j + k); }

static void test_views(void) {
  float storage[24];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++) storage[i * 12 + j * 4 + k] = code3(i, j, k);
  vdit_tensor t, p, r;
  int64_t shape[3] = {2, 3, 4};
  CHECK_OK(vdit_tensor_view(&t, storage, VDIT_DTYPE_F32, VDIT_CPU, 3, shape, NULL));
  CHECK(t.allocation == NULL);
  CHECK(vdit_tensor_is_contiguous(&t));

  // permute (2, 0, 1): shape (4, 2, 3), strides (1, 12, 4).
  int order[3] = {2, 0, 1};
  CHECK_OK(vdit_tensor_permute(&t, order, &p));
  CHECK_EQ_INT(p.shape[0], 4);
  CHECK_EQ_INT(p.shape[1], 2);
  CHECK_EQ_INT(p.shape[2], 3);
  CHECK_EQ_INT(p.stride[0], 1);
  CHECK_EQ_INT(p.stride[1], 12);
  CHECK_EQ_INT(p.stride[2], 4);
  CHECK(!vdit_tensor_is_contiguous(&p));
  CHECK(!vdit_tensor_same_shape(&p, &t));
  float *base = p.data;
  CHECK_EQ_FLOAT_BITS(base[3 * p.stride[0] + 1 * p.stride[1] + 2 * p.stride[2]], code3(1, 2, 3));
  int bad_order[3] = {0, 0, 1}, out_of_range[3] = {0, 1, 3};
  CHECK_STATUS(vdit_tensor_permute(&t, bad_order, &r), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("permutation");
  CHECK_STATUS(vdit_tensor_permute(&t, out_of_range, &r), VDIT_ERROR_INVALID_ARGUMENT);
  // In place, and back: (4, 2, 3) permuted by (1, 2, 0) is the original.
  vdit_tensor q = p;
  int inverse[3] = {1, 2, 0};
  CHECK_OK(vdit_tensor_permute(&q, inverse, &q));
  CHECK(vdit_tensor_same_shape(&q, &t) && vdit_tensor_is_contiguous(&q));

  // reshape: (2, 3, 4) -> (6, -1) = (6, 4); not from the permuted view.
  int64_t new_shape[2] = {6, -1};
  CHECK_OK(vdit_tensor_reshape(&t, 2, new_shape, &r));
  CHECK_EQ_INT(r.ndim, 2);
  CHECK_EQ_INT(r.shape[1], 4);
  CHECK_EQ_INT(r.stride[0], 4);
  CHECK(r.data == t.data && r.allocation == NULL);
  CHECK_STATUS(vdit_tensor_reshape(&p, 2, new_shape, &r), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("not contiguous");
  int64_t wrong[2] = {5, 5}, two_free[2] = {-1, -1}, no_fit[2] = {5, -1};
  CHECK_STATUS(vdit_tensor_reshape(&t, 2, wrong, &r), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("(5, 5)");
  CHECK_STATUS(vdit_tensor_reshape(&t, 2, two_free, &r), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_reshape(&t, 2, no_fit, &r), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_reshape(&t, 0, NULL, &r), VDIT_ERROR_INVALID_ARGUMENT); // 24 elements into a scalar
  // Dims of size 1 do not break contiguity whatever their stride.
  int64_t ones_shape[3] = {1, 4, 1}, ones_stride[3] = {99, 1, 7};
  CHECK_OK(vdit_tensor_view(&r, storage, VDIT_DTYPE_F32, VDIT_CPU, 3, ones_shape, ones_stride));
  CHECK(vdit_tensor_is_contiguous(&r));
  // f4 is packed along its innermost dim.
  uint8_t packed[8];
  int64_t f4_shape[2] = {4, 4}, f4_bad[2] = {1, 4};
  CHECK_STATUS(vdit_tensor_view(&r, packed, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, f4_shape, f4_bad),
               VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_OK(vdit_tensor_view(&r, packed, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, f4_shape, NULL));
  int swap[2] = {1, 0};
  CHECK_STATUS(vdit_tensor_permute(&r, swap, &q), VDIT_ERROR_UNSUPPORTED);
}

// Fills element e (row-major) of a host tensor of any byte-sized dtype with a distinct
// pattern derived from e.
static void write_codes(vdit_tensor *t) {
  int bytes = vdit_dtype_bits(t->dtype) / 8;
  uint8_t *d = t->data;
  for (int64_t e = 0; e < vdit_tensor_numel(t); e++)
    for (int b = 0; b < bytes; b++) d[e * bytes + b] = (uint8_t)(e * 7 + b * 31 + 1);
}

// Strided copy of a (3, 4, 5) tensor permuted (2, 0, 1) into a contiguous one and back into
// a permuted view, for each element size; checked against direct index arithmetic.
static void test_copy_strided(void) {
  const vdit_dtype dtypes[4] = {VDIT_DTYPE_U8, VDIT_DTYPE_BF16, VDIT_DTYPE_F32, VDIT_DTYPE_F64};
  for (int d = 0; d < 4; d++) {
    vdit_dtype dtype = dtypes[d];
    int bytes = vdit_dtype_bits(dtype) / 8;
    int64_t shape[3] = {3, 4, 5}, permuted_shape[3] = {5, 3, 4};
    vdit_tensor a, b, c, view_a, view_c;
    CHECK_OK(vdit_tensor_alloc(&a, dtype, VDIT_CPU, 3, shape));
    CHECK_OK(vdit_tensor_alloc(&b, dtype, VDIT_CPU, 3, permuted_shape));
    CHECK_OK(vdit_tensor_alloc(&c, dtype, VDIT_CPU, 3, shape));
    write_codes(&a);
    int order[3] = {2, 0, 1};
    CHECK_OK(vdit_tensor_permute(&a, order, &view_a));
    CHECK_OK(vdit_tensor_copy(&b, &view_a)); // b[k, i, j] = a[i, j, k]
    const uint8_t *pa = a.data, *pb = b.data;
    int wrong = 0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 4; j++)
        for (int k = 0; k < 5; k++)
          wrong += memcmp(pb + ((k * 3 + i) * 4 + j) * bytes, pa + ((i * 4 + j) * 5 + k) * bytes, (size_t)bytes) != 0;
    CHECK_EQ_INT(wrong, 0);
    // Scatter back through a strided destination: c permuted (2, 0, 1) = b gives c == a.
    memset(c.data, 0, vdit_tensor_bytes(&c));
    CHECK_OK(vdit_tensor_permute(&c, order, &view_c));
    CHECK_OK(vdit_tensor_copy(&view_c, &b));
    CHECK(memcmp(c.data, a.data, vdit_tensor_bytes(&a)) == 0);
    vdit_tensor_free(&a);
    vdit_tensor_free(&b);
    vdit_tensor_free(&c);
  }

  // Negative strides (a flipped view), a column slice, and a broadcast source.
  float source[12], target[12];
  for (int i = 0; i < 12; i++) source[i] = (float)i;
  int64_t shape[2] = {3, 4}, flipped_stride[2] = {-4, -1};
  vdit_tensor flipped, dst, column, column_dst, broadcast;
  CHECK_OK(vdit_tensor_view(&flipped, source + 11, VDIT_DTYPE_F32, VDIT_CPU, 2, shape, flipped_stride));
  CHECK_OK(vdit_tensor_view(&dst, target, VDIT_DTYPE_F32, VDIT_CPU, 2, shape, NULL));
  CHECK_OK(vdit_tensor_copy(&dst, &flipped));
  for (int i = 0; i < 12; i++) CHECK_EQ_FLOAT_BITS(target[i], (float)(11 - i));
  int64_t column_shape[1] = {3}, column_stride[1] = {4};
  float column_out[3] = {-1, -1, -1};
  CHECK_OK(vdit_tensor_view(&column, source + 2, VDIT_DTYPE_F32, VDIT_CPU, 1, column_shape, column_stride));
  CHECK_OK(vdit_tensor_view(&column_dst, column_out, VDIT_DTYPE_F32, VDIT_CPU, 1, column_shape, NULL));
  CHECK_OK(vdit_tensor_copy(&column_dst, &column));
  CHECK(column_out[0] == 2 && column_out[1] == 6 && column_out[2] == 10);
  int64_t broadcast_stride[2] = {0, 1};
  CHECK_OK(vdit_tensor_view(&broadcast, source, VDIT_DTYPE_F32, VDIT_CPU, 2, shape, broadcast_stride));
  CHECK_OK(vdit_tensor_copy(&dst, &broadcast));
  for (int i = 0; i < 12; i++) CHECK_EQ_FLOAT_BITS(target[i], (float)(i % 4));
  // ... but a broadcast destination is refused.
  CHECK_STATUS(vdit_tensor_copy(&broadcast, &dst), VDIT_ERROR_INVALID_ARGUMENT);

  // f4: nibble-exact strided copies. Rows 0 and 2 of a (3, 5) matrix (row stride 10), and
  // its first 3 columns (rows start mid-byte) into a contiguous (3, 3) one.
  uint8_t packed_a[8], packed_c[8], packed_d[5];
  for (int i = 0; i < 8; i++) packed_a[i] = (uint8_t)(0x10 * ((i * 3 + 1) & 15) + ((i * 5 + 2) & 15));
  memset(packed_c, 0x5a, sizeof packed_c); // nibbles not written must keep 0xa / 0x5
  memset(packed_d, 0x5a, sizeof packed_d);
  int64_t sub_shape[2] = {2, 5}, sub_stride[2] = {10, 1};
  vdit_tensor every_other_a, every_other_c, columns_a, columns_d;
  CHECK_OK(vdit_tensor_view(&every_other_a, packed_a, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, sub_shape, sub_stride));
  CHECK_OK(vdit_tensor_view(&every_other_c, packed_c, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, sub_shape, sub_stride));
  CHECK_OK(vdit_tensor_copy(&every_other_c, &every_other_a));
  int wrong = 0;
  for (int e = 0; e < 15; e++) {
    unsigned got = (packed_c[e / 2] >> (4 * (e % 2))) & 15, want = (packed_a[e / 2] >> (4 * (e % 2))) & 15;
    wrong += e / 5 == 1 ? got != (e % 2 ? 0x5u : 0xau) : got != want;
  }
  CHECK_EQ_INT(wrong, 0);
  int64_t columns_shape[2] = {3, 3}, columns_stride[2] = {5, 1};
  CHECK_OK(vdit_tensor_view(&columns_a, packed_a, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, columns_shape, columns_stride));
  CHECK_OK(vdit_tensor_view(&columns_d, packed_d, VDIT_DTYPE_F4_E2M1, VDIT_CPU, 2, columns_shape, NULL));
  CHECK_OK(vdit_tensor_copy(&columns_d, &columns_a));
  wrong = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      int from = i * 5 + j, to = i * 3 + j;
      wrong += ((packed_d[to / 2] >> (4 * (to % 2))) & 15) != ((packed_a[from / 2] >> (4 * (from % 2))) & 15);
    }
  CHECK_EQ_INT(wrong, 0);
  CHECK_EQ_INT(packed_d[4] >> 4, 0x5); // the pad nibble after element 8 is untouched
}

static void test_copy_errors(void) {
  vdit_tensor a, b, c;
  int64_t shape[2] = {3, 4}, other[2] = {4, 3};
  CHECK_OK(vdit_tensor_alloc(&a, VDIT_DTYPE_F32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&b, VDIT_DTYPE_F64, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&c, VDIT_DTYPE_F32, VDIT_CPU, 2, other));
  CHECK_STATUS(vdit_tensor_copy(&b, &a), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("dtype mismatch");
  CHECK_STATUS(vdit_tensor_copy(&c, &a), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("dst (4, 3), src (3, 4)");
  CHECK_STATUS(vdit_tensor_copy(NULL, &a), VDIT_ERROR_INVALID_ARGUMENT);
  // Overlap: a shifted view of the same buffer.
  vdit_tensor first, second;
  int64_t row[1] = {8};
  CHECK_OK(vdit_tensor_view(&first, a.data, VDIT_DTYPE_F32, VDIT_CPU, 1, row, NULL));
  CHECK_OK(vdit_tensor_view(&second, (float *)a.data + 2, VDIT_DTYPE_F32, VDIT_CPU, 1, row, NULL));
  CHECK_STATUS(vdit_tensor_copy(&second, &first), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("overlap");
  CHECK_OK(vdit_tensor_copy(&first, &first)); // onto itself: nothing to do
  vdit_tensor_free(&a);
  vdit_tensor_free(&b);
  vdit_tensor_free(&c);
}

// f32 <-> f64 by hand: exact widening, round to nearest even, strided source, errors.
static void test_convert_f32_f64(void) {
  enum { N = 1000 };
  int64_t shape[2] = {40, 25}, shape_t[2] = {25, 40};
  vdit_tensor f32, f64, back, f64_t, view;
  CHECK_OK(vdit_tensor_alloc(&f32, VDIT_DTYPE_F32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&f64, VDIT_DTYPE_F64, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&back, VDIT_DTYPE_F32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_fill_normal(&f32, 11, 0, 0.0, 100.0));
  CHECK_OK(vdit_tensor_convert(&f64, &f32));
  const float *x = f32.data;
  double *y = f64.data;
  for (int i = 0; i < N; i++) CHECK(y[i] == (double)x[i]);
  CHECK_OK(vdit_tensor_convert(&back, &f64));
  CHECK(memcmp(back.data, f32.data, N * sizeof(float)) == 0);
  // f64 -> f32 rounds to nearest even.
  y[0] = 1.0 + 0x1p-30;
  y[1] = 1.0 + 0x1p-24;                // halfway between 1 and 1 + 2^-23: ties to even (1)
  y[2] = 1.0 + 0x1p-24 + 0x1p-40;      // just above halfway: up
  y[3] = -3.0;
  CHECK_OK(vdit_tensor_convert(&back, &f64));
  const float *z = back.data;
  CHECK_EQ_FLOAT_BITS(z[0], 1.0f);
  CHECK_EQ_FLOAT_BITS(z[1], 1.0f);
  CHECK_EQ_FLOAT_BITS(z[2], 1.0f + 0x1p-23f);
  CHECK_EQ_FLOAT_BITS(z[3], -3.0f);
  // Strided source: convert a transposed view.
  CHECK_OK(vdit_tensor_alloc(&f64_t, VDIT_DTYPE_F64, VDIT_CPU, 2, shape_t));
  int swap[2] = {1, 0};
  CHECK_OK(vdit_tensor_permute(&f32, swap, &view));
  CHECK_OK(vdit_tensor_convert(&f64_t, &view));
  const double *t = f64_t.data;
  int wrong = 0;
  for (int i = 0; i < 25; i++)
    for (int j = 0; j < 40; j++) wrong += t[i * 40 + j] != (double)x[j * 25 + i];
  CHECK_EQ_INT(wrong, 0);
  // Same dtype is a copy; integer dtypes say they are not converted.
  CHECK_OK(vdit_tensor_convert(&back, &f32));
  CHECK(memcmp(back.data, f32.data, N * sizeof(float)) == 0);
  vdit_tensor i32, i8;
  CHECK_OK(vdit_tensor_alloc(&i32, VDIT_DTYPE_I32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_alloc(&i8, VDIT_DTYPE_I8, VDIT_CPU, 2, shape));
  CHECK_STATUS(vdit_tensor_convert(&f32, &i32), VDIT_ERROR_UNSUPPORTED);
  CHECK_ERROR_CONTAINS("i32 -> f32 is not implemented (float dtypes only");
  CHECK_STATUS(vdit_tensor_convert(&i8, &f32), VDIT_ERROR_UNSUPPORTED);
  CHECK_STATUS(vdit_tensor_convert(&f64_t, &f32), VDIT_ERROR_INVALID_ARGUMENT); // shape
  // Overlap: a bf16 view over the first half of the f32 buffer.
  vdit_tensor bf16_alias;
  CHECK_OK(vdit_tensor_view(&bf16_alias, f32.data, VDIT_DTYPE_BF16, VDIT_CPU, 2, shape, NULL));
  CHECK_STATUS(vdit_tensor_convert(&bf16_alias, &f32), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_ERROR_CONTAINS("overlap");
  vdit_tensor_free(&i32);
  vdit_tensor_free(&i8);
  vdit_tensor_free(&f32);
  vdit_tensor_free(&f64);
  vdit_tensor_free(&back);
  vdit_tensor_free(&f64_t);
}


// The value of a code as vdit_tensor_convert sees it: the scalar num decoders; f64 rounds
// to f32 first.
static float scalar_value(vdit_dtype dtype, uint64_t code) {
  switch (dtype) {
    case VDIT_DTYPE_F64: {
      double d;
      memcpy(&d, &code, 8);
      return (float)d;
    }
    case VDIT_DTYPE_F32: {
      uint32_t u = (uint32_t)code;
      float f;
      memcpy(&f, &u, 4);
      return f;
    }
    case VDIT_DTYPE_F16: return vdit_f16_to_float((uint16_t)code);
    case VDIT_DTYPE_BF16: return vdit_bf16_to_float((uint16_t)code);
    case VDIT_DTYPE_F8_E4M3: return vdit_f8_e4m3_to_float((uint8_t)code);
    case VDIT_DTYPE_F8_E5M2: return vdit_f8_e5m2_to_float((uint8_t)code);
    case VDIT_DTYPE_F4_E2M1: return vdit_f4_e2m1_to_float((uint8_t)code);
    case VDIT_DTYPE_E8M0: return vdit_e8m0_to_float((uint8_t)code);
    default: return NAN;
  }
}

static uint64_t scalar_code(vdit_dtype dtype, float x) {
  switch (dtype) {
    case VDIT_DTYPE_F64: {
      double d = (double)x;
      uint64_t bits;
      memcpy(&bits, &d, 8);
      return bits;
    }
    case VDIT_DTYPE_F32: {
      uint32_t bits;
      memcpy(&bits, &x, 4);
      return bits;
    }
    case VDIT_DTYPE_F16: return vdit_f16_from_float(x);
    case VDIT_DTYPE_BF16: return vdit_bf16_from_float(x);
    case VDIT_DTYPE_F8_E4M3: return vdit_f8_e4m3_from_float(x);
    case VDIT_DTYPE_F8_E5M2: return vdit_f8_e5m2_from_float(x);
    case VDIT_DTYPE_F4_E2M1: return vdit_f4_e2m1_from_float(x);
    case VDIT_DTYPE_E8M0: return vdit_e8m0_from_float(x);
    default: return 0;
  }
}

// The code vdit_tensor_convert must write for a src code (same dtype: a copy).
static uint64_t expected_code(vdit_dtype dst, vdit_dtype src, uint64_t code) {
  return dst == src ? code : scalar_code(dst, scalar_value(src, code));
}

// A 2-D view into a buffer of `buffer` elements whose (0, 0) is element `first` (even for f4).
typedef struct view_spec {
  int64_t stride[2];
  int64_t first;
  int64_t buffer;
} view_spec;

// Converts a src view of `shape` over random codes into a dst view over a buffer of 0xa5
// bytes, with each data pointer moved `misalign` bytes off the buffer's alignment. Checks
// every element against the scalar functions and that the rest of dst's buffer is untouched;
// returns the number of wrong elements.
static int64_t check_convert_views(vdit_dtype dst_dtype, vdit_dtype src_dtype, const int64_t shape[2],
                                   const view_spec *d, const view_spec *s, int misalign, uint64_t seed) {
  size_t src_bytes = 0, dst_bytes = 0;
  CHECK_OK(vdit_dtype_storage_bytes(src_dtype, (size_t)s->buffer, &src_bytes));
  CHECK_OK(vdit_dtype_storage_bytes(dst_dtype, (size_t)d->buffer, &dst_bytes));
  uint8_t *src_memory = malloc(src_bytes + 8), *dst_memory = malloc(dst_bytes + 8), *dst_before = malloc(dst_bytes);
  char *covered = calloc((size_t)d->buffer, 1);
  uint8_t *src_buffer = src_memory + misalign, *dst_buffer = dst_memory + misalign;
  convert_random_codes(src_dtype, seed, s->buffer, src_buffer);
  memset(dst_buffer, 0xa5, dst_bytes);
  memcpy(dst_before, dst_buffer, dst_bytes);
  int src_size = vdit_dtype_element_bytes(src_dtype), dst_size = vdit_dtype_element_bytes(dst_dtype);
  void *src_data = src_size ? src_buffer + s->first * src_size : src_buffer + s->first / 2;
  void *dst_data = dst_size ? dst_buffer + d->first * dst_size : dst_buffer + d->first / 2;
  vdit_tensor src_view, dst_view;
  CHECK_OK(vdit_tensor_view(&src_view, src_data, src_dtype, VDIT_CPU, 2, shape, s->stride));
  CHECK_OK(vdit_tensor_view(&dst_view, dst_data, dst_dtype, VDIT_CPU, 2, shape, d->stride));
  CHECK_OK(vdit_tensor_convert(&dst_view, &src_view));
  int64_t wrong = 0;
  for (int64_t i = 0; i < shape[0]; i++)
    for (int64_t j = 0; j < shape[1]; j++) {
      int64_t se = s->first + i * s->stride[0] + j * s->stride[1], de = d->first + i * d->stride[0] + j * d->stride[1];
      covered[de] = 1;
      uint64_t code = convert_code_get(src_dtype, src_buffer, se);
      uint64_t want = expected_code(dst_dtype, src_dtype, code), got = convert_code_get(dst_dtype, dst_buffer, de);
      if (got != want && wrong++ < 3)
        CHECK_FAIL_("%s -> %s (%lld, %lld): src 0x%llx gave 0x%llx, want 0x%llx", vdit_dtype_name(src_dtype),
                    vdit_dtype_name(dst_dtype), (long long)i, (long long)j, (unsigned long long)code,
                    (unsigned long long)got, (unsigned long long)want);
    }
  for (int64_t e = 0; e < d->buffer; e++)
    if (!covered[e] && convert_code_get(dst_dtype, dst_buffer, e) != convert_code_get(dst_dtype, dst_before, e) &&
        wrong++ < 3)
      CHECK_FAIL_("%s -> %s wrote element %lld outside the dst view", vdit_dtype_name(src_dtype),
                  vdit_dtype_name(dst_dtype), (long long)e);
  free(src_memory);
  free(dst_memory);
  free(dst_before);
  free(covered);
  return wrong;
}

// Every pair of float dtypes, bit-exact against the scalar num functions on random codes
// (NaN, inf, overflow, subnormals, ties), contiguous and through strided, pitched, flipped
// and misaligned views (f4: rows that start mid-byte and have odd lengths).
static void test_convert_all_pairs(void) {
  enum { R = 37, C = 131, HALF = 65 };
  const int64_t full[2] = {R, C}, pitched[2] = {R, HALF}, transposed[2] = {C, R};
  const view_spec contiguous = {{C, 1}, 0, R * C}, pitch = {{C, 1}, 0, R * C}, narrow = {{HALF, 1}, 0, R * HALF};
  const view_spec column_major = {{1, C}, 0, R * C}, transposed_contiguous = {{R, 1}, 0, R * C};
  const view_spec flipped = {{-C, -1}, R * C - 1, R * C}, column_major_dst = {{1, R}, 0, R * C};
  for (int a = 0; a < CONVERT_DTYPE_COUNT; a++)
    for (int b = 0; b < CONVERT_DTYPE_COUNT; b++) {
      vdit_dtype src = convert_dtypes[a], dst = convert_dtypes[b];
      uint64_t seed = 5000 + 16 * (uint64_t)a + (uint64_t)b;
      int64_t wrong = check_convert_views(dst, src, full, &contiguous, &contiguous, 0, seed);
      wrong += check_convert_views(dst, src, pitched, &narrow, &pitch, 0, seed + 1000);
      wrong += check_convert_views(dst, src, pitched, &pitch, &narrow, 0, seed + 2000);
      if (src != VDIT_DTYPE_F4_E2M1 && dst != VDIT_DTYPE_F4_E2M1) {
        wrong += check_convert_views(dst, src, transposed, &transposed_contiguous, &column_major, 0, seed + 3000);
        wrong += check_convert_views(dst, src, full, &column_major_dst, &flipped, 0, seed + 4000);
        wrong += check_convert_views(dst, src, full, &contiguous, &contiguous, 1, seed + 5000);
      }
      if (wrong)
        CHECK_FAIL_("vdit_tensor_convert %s -> %s: %lld wrong elements", vdit_dtype_name(src), vdit_dtype_name(dst),
                    (long long)wrong);
    }
  // Large enough for the threaded path (and the single-threaded one of an f4 dst).
  static const vdit_dtype large_pairs[][2] = {
      {VDIT_DTYPE_F32, VDIT_DTYPE_BF16},     {VDIT_DTYPE_BF16, VDIT_DTYPE_F8_E4M3}, {VDIT_DTYPE_F64, VDIT_DTYPE_F16},
      {VDIT_DTYPE_F8_E5M2, VDIT_DTYPE_F64},  {VDIT_DTYPE_F16, VDIT_DTYPE_F4_E2M1}, {VDIT_DTYPE_F4_E2M1, VDIT_DTYPE_E8M0},
  };
  const int64_t big[2] = {601, 503}, big_transposed[2] = {503, 601};
  const view_spec big_contiguous = {{503, 1}, 0, 601 * 503}, big_column_major = {{1, 503}, 0, 601 * 503};
  const view_spec big_transposed_contiguous = {{601, 1}, 0, 601 * 503};
  for (size_t p = 0; p < sizeof large_pairs / sizeof large_pairs[0]; p++) {
    vdit_dtype src = large_pairs[p][0], dst = large_pairs[p][1];
    CHECK_EQ_INT(check_convert_views(dst, src, big, &big_contiguous, &big_contiguous, 0, 77 + p), 0);
    if (src != VDIT_DTYPE_F4_E2M1 && dst != VDIT_DTYPE_F4_E2M1)
      CHECK_EQ_INT(check_convert_views(dst, src, big_transposed, &big_transposed_contiguous, &big_column_major, 0,
                                       99 + p),
                   0);
  }
}

// f64 -> a narrow format rounds to f32 first (documented double rounding), and f64 beyond
// the f32 range overflows through f32's inf.
static void test_convert_f64_double_rounding(void) {
  double in[4] = {1.0 + 0x1p-8 + 0x1p-40, 1e300, -1e-300, NAN};
  vdit_tensor src, bf16, e4m3;
  int64_t shape[1] = {4};
  CHECK_OK(vdit_tensor_view(&src, in, VDIT_DTYPE_F64, VDIT_CPU, 1, shape, NULL));
  CHECK_OK(vdit_tensor_alloc(&bf16, VDIT_DTYPE_BF16, VDIT_CPU, 1, shape));
  CHECK_OK(vdit_tensor_alloc(&e4m3, VDIT_DTYPE_F8_E4M3, VDIT_CPU, 1, shape));
  CHECK_OK(vdit_tensor_convert(&bf16, &src));
  CHECK_OK(vdit_tensor_convert(&e4m3, &src));
  const uint16_t *b = bf16.data;
  const uint8_t *e = e4m3.data;
  CHECK_EQ_HEX(b[0], 0x3f80); // f32 rounds to the midpoint 1 + 2^-8, bf16 ties to even: 1.0 (direct: 0x3f81)
  CHECK_EQ_HEX(b[1], 0x7f80); // +inf
  CHECK_EQ_HEX(b[2], 0x8000); // -0
  CHECK_EQ_HEX(b[3], 0x7fff); // the NaN code
  CHECK_EQ_HEX(e[0], 0x38);   // 1.0
  CHECK_EQ_HEX(e[1], 0x7e);   // satfinite 448
  CHECK_EQ_HEX(e[2], 0x80);
  CHECK_EQ_HEX(e[3], 0x7f);
  vdit_tensor_free(&bf16);
  vdit_tensor_free(&e4m3);
}

static void test_poison(void) {
  static const struct { vdit_dtype dtype; uint64_t pattern; int has_nan; } cases[] = {
      {VDIT_DTYPE_F64, 0x7ff8000000000000ull, 1}, {VDIT_DTYPE_F32, 0x7fc00000u, 1},
      {VDIT_DTYPE_F16, 0x7e00u, 1},                {VDIT_DTYPE_BF16, 0x7fc0u, 1},
      {VDIT_DTYPE_F8_E4M3, 0x7fu, 1},              {VDIT_DTYPE_F8_E5M2, 0x7eu, 1},
      {VDIT_DTYPE_E8M0, 0xffu, 1},                 {VDIT_DTYPE_I32, 0xaaaaaaaau, 0},
      {VDIT_DTYPE_U8, 0xaau, 0},                   {VDIT_DTYPE_F4_E2M1, 0xaau, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    vdit_tensor t;
    int64_t shape[2] = {7, 9};
    CHECK_OK(vdit_tensor_alloc(&t, cases[c].dtype, VDIT_CPU, 2, shape));
    memset(t.data, 0, vdit_tensor_bytes(&t));
    CHECK_OK(vdit_tensor_poison(&t));
    int bytes = vdit_dtype_bits(cases[c].dtype) / 8;
    int64_t count = bytes ? 63 : (int64_t)vdit_tensor_bytes(&t);
    if (!bytes) bytes = 1;
    int wrong = 0;
    for (int64_t e = 0; e < count; e++) {
      uint64_t value = 0;
      memcpy(&value, (uint8_t *)t.data + e * bytes, (size_t)bytes);
      wrong += value != cases[c].pattern;
    }
    if (wrong) CHECK_FAIL_("poison of %s: %d elements wrong", vdit_dtype_name(cases[c].dtype), wrong);
    int64_t nan_count = -1;
    if (cases[c].has_nan) {
      CHECK_OK(vdit_tensor_count_nan(&t, &nan_count));
      CHECK_EQ_INT(nan_count, 63);
      // One written element is no longer NaN.
      memset(t.data, 0, (size_t)bytes);
      CHECK_OK(vdit_tensor_count_nan(&t, &nan_count));
      CHECK_EQ_INT(nan_count, 62);
    } else {
      CHECK_STATUS(vdit_tensor_count_nan(&t, &nan_count), VDIT_ERROR_INVALID_ARGUMENT);
    }
    vdit_tensor_free(&t);
  }
  // Other NaN encodings are counted too (f16 0xfc01 = negative signalling NaN; inf is not NaN).
  uint16_t halves[4] = {0xfc01u, 0x7c00u, 0x7fffu, 0x3c00u};
  vdit_tensor h;
  int64_t four[1] = {4};
  CHECK_OK(vdit_tensor_view(&h, halves, VDIT_DTYPE_F16, VDIT_CPU, 1, four, NULL));
  int64_t nan_count = 0;
  CHECK_OK(vdit_tensor_count_nan(&h, &nan_count));
  CHECK_EQ_INT(nan_count, 2);
  uint8_t e5m2[4] = {0x7cu, 0x7du, 0xffu, 0x7bu}, e4m3[4] = {0x7eu, 0x7fu, 0xffu, 0x00u};
  CHECK_OK(vdit_tensor_view(&h, e5m2, VDIT_DTYPE_F8_E5M2, VDIT_CPU, 1, four, NULL));
  CHECK_OK(vdit_tensor_count_nan(&h, &nan_count));
  CHECK_EQ_INT(nan_count, 2);
  CHECK_OK(vdit_tensor_view(&h, e4m3, VDIT_DTYPE_F8_E4M3, VDIT_CPU, 1, four, NULL));
  CHECK_OK(vdit_tensor_count_nan(&h, &nan_count));
  CHECK_EQ_INT(nan_count, 2);

  // A strided view poisons only its own elements: every other column of a (4, 6) matrix.
  float matrix[24];
  for (int i = 0; i < 24; i++) matrix[i] = 1.0f;
  int64_t view_shape[2] = {4, 3}, view_stride[2] = {6, 2};
  vdit_tensor columns, whole;
  CHECK_OK(vdit_tensor_view(&columns, matrix, VDIT_DTYPE_F32, VDIT_CPU, 2, view_shape, view_stride));
  CHECK_OK(vdit_tensor_poison(&columns));
  for (int i = 0; i < 24; i++) CHECK((i % 2 == 0) == (isnan(matrix[i]) != 0));
  CHECK_OK(vdit_tensor_count_nan(&columns, &nan_count));
  CHECK_EQ_INT(nan_count, 12);
  int64_t whole_shape[2] = {4, 6};
  CHECK_OK(vdit_tensor_view(&whole, matrix, VDIT_DTYPE_F32, VDIT_CPU, 2, whole_shape, NULL));
  CHECK_OK(vdit_tensor_count_nan(&whole, &nan_count));
  CHECK_EQ_INT(nan_count, 12);
}

static float *rng_reference(int normal, uint64_t seed, uint64_t offset, size_t n) {
  float *values = malloc(n * sizeof *values);
  if (normal)
    vdit_rng_normal(seed, offset, n, values);
  else
    vdit_rng_uniform(seed, offset, n, values);
  return values;
}

static void test_fill_bits(void) {
  // Element i of a contiguous fill is stream element offset + i, for offsets and counts
  // that are not multiples of 4, in f32 and f64, with a and b applied in one rounding each.
  static const uint64_t offsets[5] = {0, 1, 7, ((uint64_t)1 << 32) + 2, UINT64_MAX - 2}; // the last wraps
  static const int64_t counts[3] = {1, 3, 1001};
  for (int o = 0; o < 5; o++)
    for (int c = 0; c < 3; c++)
      for (int normal = 0; normal < 2; normal++) {
        uint64_t seed = 1000 + (uint64_t)o;
        int64_t n = counts[c];
        float *v = rng_reference(normal, seed, offsets[o], (size_t)n);
        vdit_tensor f32, f64;
        CHECK_OK(vdit_tensor_alloc(&f32, VDIT_DTYPE_F32, VDIT_CPU, 1, &n));
        CHECK_OK(vdit_tensor_alloc(&f64, VDIT_DTYPE_F64, VDIT_CPU, 1, &n));
        double a = normal ? 3.0 : -2.0, b = normal ? 0.5 : 5.0; // mean/std or low/range
        if (normal) {
          CHECK_OK(vdit_tensor_fill_normal(&f32, seed, offsets[o], a, b));
          CHECK_OK(vdit_tensor_fill_normal(&f64, seed, offsets[o], a, b));
        } else {
          CHECK_OK(vdit_tensor_fill_uniform(&f32, seed, offsets[o], a, a + b));
          CHECK_OK(vdit_tensor_fill_uniform(&f64, seed, offsets[o], a, a + b));
        }
        const float *x = f32.data;
        const double *y = f64.data;
        int wrong32 = 0, wrong64 = 0;
        for (int64_t i = 0; i < n; i++) {
          float want32 = (float)a + (float)b * v[i];
          double want64 = a + b * (double)v[i];
          wrong32 += memcmp(&x[i], &want32, 4) != 0;
          wrong64 += memcmp(&y[i], &want64, 8) != 0;
        }
        if (wrong32 || wrong64)
          CHECK_FAIL_("fill %s offset %llu n %lld: %d f32 and %d f64 elements differ", normal ? "normal" : "uniform",
                      (unsigned long long)offsets[o], (long long)n, wrong32, wrong64);
        free(v);
        vdit_tensor_free(&f32);
        vdit_tensor_free(&f64);
      }

  // Standard parameters reproduce the raw stream exactly.
  int64_t n = 257;
  vdit_tensor t;
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 1, &n));
  float *u = rng_reference(0, 5, 3, (size_t)n), *z = rng_reference(1, 5, 3, (size_t)n);
  CHECK_OK(vdit_tensor_fill_uniform(&t, 5, 3, 0.0, 1.0));
  CHECK(memcmp(t.data, u, (size_t)n * 4) == 0);
  CHECK_OK(vdit_tensor_fill_normal(&t, 5, 3, 0.0, 1.0));
  CHECK(memcmp(t.data, z, (size_t)n * 4) == 0);
  free(u);
  free(z);
  vdit_tensor_free(&t);

  // A strided tensor takes stream element offset + (row-major index in the view).
  float storage[12];
  int64_t view_shape[2] = {4, 3}, view_stride[2] = {1, 4}; // the transpose of a (3, 4) buffer
  vdit_tensor view;
  CHECK_OK(vdit_tensor_view(&view, storage, VDIT_DTYPE_F32, VDIT_CPU, 2, view_shape, view_stride));
  CHECK_OK(vdit_tensor_fill_uniform(&view, 9, 2, 0.0, 1.0));
  float *w = rng_reference(0, 9, 2, 12);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 3; c++) CHECK_EQ_FLOAT_BITS(storage[c * 4 + r], w[r * 3 + c]);
  free(w);

  // Errors.
  CHECK_STATUS(vdit_tensor_fill_uniform(&view, 1, 0, 1.0, 0.0), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_fill_normal(&view, 1, 0, 0.0, -1.0), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_fill_normal(&view, 1, 0, NAN, 1.0), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_tensor_fill_uniform(&view, 1, 0, -1e39, 1.0), VDIT_ERROR_INVALID_ARGUMENT);
  int32_t ints[4];
  int64_t four[1] = {4};
  vdit_tensor int_tensor;
  CHECK_OK(vdit_tensor_view(&int_tensor, ints, VDIT_DTYPE_I32, VDIT_CPU, 1, four, NULL));
  CHECK_STATUS(vdit_tensor_fill_normal(&int_tensor, 1, 0, 0.0, 1.0), VDIT_ERROR_UNSUPPORTED);
}

static void test_fill_statistics(void) {
  int64_t shape[2] = {1024, 1024};
  vdit_tensor t;
  CHECK_OK(vdit_tensor_alloc(&t, VDIT_DTYPE_F32, VDIT_CPU, 2, shape));
  CHECK_OK(vdit_tensor_poison(&t));
  CHECK_OK(vdit_tensor_fill_uniform(&t, 77, 13, -3.0, 5.0));
  int64_t nan_count = -1;
  CHECK_OK(vdit_tensor_count_nan(&t, &nan_count));
  CHECK_EQ_INT(nan_count, 0);
  const float *x = t.data;
  int64_t n = vdit_tensor_numel(&t);
  double sum = 0, sum2 = 0, low = 1e30, high = -1e30;
  for (int64_t i = 0; i < n; i++) {
    sum += x[i];
    sum2 += (double)x[i] * x[i];
    if (x[i] < low) low = x[i];
    if (x[i] > high) high = x[i];
  }
  double mean = sum / (double)n, var = sum2 / (double)n - mean * mean;
  CHECK(low >= -3.0 && high <= 5.0);
  CHECK(low < -2.99 && high > 4.99);
  CHECK_NEAR(mean, 1.0, 0.01);         // (low + high) / 2; 5 sigma = 0.011
  CHECK_NEAR(var, 64.0 / 12.0, 0.03);  // (high - low)^2 / 12
  CHECK_OK(vdit_tensor_fill_normal(&t, 78, 0, 2.5, 3.0));
  sum = sum2 = 0;
  double sum4 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = x[i];
    sum += d;
    sum2 += d * d;
  }
  mean = sum / (double)n;
  var = sum2 / (double)n - mean * mean;
  for (int64_t i = 0; i < n; i++) {
    double s = ((double)x[i] - mean) / 3.0;
    sum4 += s * s * s * s;
  }
  CHECK_NEAR(mean, 2.5, 0.015);
  CHECK_NEAR(sqrt(var), 3.0, 0.01);
  CHECK_NEAR(sum4 / (double)n, 3.0, 0.05);
  vdit_tensor_free(&t);
}

static void test_arena(void) {
  vdit_arena arena;
  CHECK_OK(vdit_arena_init(&arena, VDIT_CPU, 4096));
  CHECK(arena.base != NULL);
  CHECK_EQ_INT((uintptr_t)arena.base % VDIT_ARENA_ALIGNMENT, 0);
  void *a = NULL, *b = NULL, *c = NULL;
  CHECK_OK(vdit_arena_alloc(&arena, 100, 64, &a));
  CHECK(a == arena.base);
  CHECK_EQ_INT(arena.used, 100);
  CHECK_OK(vdit_arena_alloc(&arena, 1, 1024, &b));
  CHECK_EQ_INT((uintptr_t)b % 1024, 0);
  // The address is aligned, not the offset: the block is only 256-byte aligned.
  uintptr_t expected_b = ((uintptr_t)arena.base + 100 + 1023) & ~(uintptr_t)1023;
  CHECK(b == (void *)expected_b);
  CHECK_EQ_INT(arena.used, expected_b - (uintptr_t)arena.base + 1);
  CHECK_OK(vdit_arena_alloc(&arena, 8, 0, &c)); // default alignment
  CHECK_EQ_INT((uintptr_t)c % VDIT_ARENA_ALIGNMENT, 0);
  CHECK_OK(vdit_arena_alloc(&arena, 0, 64, &c));
  CHECK(c == NULL);
  CHECK_STATUS(vdit_arena_alloc(&arena, 8, 48, &c), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_tensor t;
  int64_t shape[2] = {10, 30};
  CHECK_OK(vdit_arena_tensor(&arena, &t, VDIT_DTYPE_F32, 2, shape));
  CHECK(t.allocation == NULL && t.data != NULL);
  CHECK_EQ_INT((uintptr_t)t.data % VDIT_ARENA_ALIGNMENT, 0);
  CHECK(vdit_tensor_is_contiguous(&t));
  CHECK_OK(vdit_tensor_fill_normal(&t, 1, 0, 0.0, 1.0));
  size_t used = arena.used;
  CHECK_EQ_INT(used, (uintptr_t)t.data - (uintptr_t)arena.base + 1200);
  // Out of memory names capacity, used and requested; nothing changes.
  CHECK_STATUS(vdit_arena_alloc(&arena, 4000, 64, &c), VDIT_ERROR_OUT_OF_MEMORY);
  CHECK_ERROR_CONTAINS("capacity 4096");
  CHECK_ERROR_CONTAINS("requested 4000");
  CHECK(c == NULL);
  CHECK_EQ_INT(arena.used, used);
  int64_t big[1] = {2000};
  CHECK_STATUS(vdit_arena_tensor(&arena, &t, VDIT_DTYPE_F32, 1, big), VDIT_ERROR_OUT_OF_MEMORY);
  int64_t negative[1] = {-1};
  CHECK_STATUS(vdit_arena_tensor(&arena, &t, VDIT_DTYPE_F32, 1, negative), VDIT_ERROR_INVALID_ARGUMENT);
  // Exactly to the end fits.
  size_t rest = arena.capacity - arena.used;
  CHECK_OK(vdit_arena_alloc(&arena, rest, 1, &c));
  CHECK_EQ_INT(arena.used, 4096);
  CHECK_EQ_INT(arena.peak, 4096);
  CHECK_STATUS(vdit_arena_alloc(&arena, 1, 1, &c), VDIT_ERROR_OUT_OF_MEMORY);
  vdit_arena_reset(&arena);
  CHECK_EQ_INT(arena.used, 0);
  CHECK_EQ_INT(arena.peak, 4096);
  CHECK_OK(vdit_arena_alloc(&arena, 16, 64, &a));
  CHECK(a == arena.base);
  vdit_arena_free(&arena);
  CHECK(arena.base == NULL && arena.capacity == 0);
  // An empty arena refuses everything but zero bytes.
  CHECK_OK(vdit_arena_init(&arena, VDIT_CPU, 0));
  CHECK_STATUS(vdit_arena_alloc(&arena, 1, 1, &a), VDIT_ERROR_OUT_OF_MEMORY);
  vdit_arena_free(&arena);
}

int main(void) {
  test_alloc();
  test_bad_input();
  test_no_device();
  test_device_memory();
  test_shape_string();
  test_views();
  test_copy_strided();
  test_copy_errors();
  test_convert_f32_f64();
  test_convert_all_pairs();
  test_convert_f64_double_rounding();
  test_poison();
  test_fill_bits();
  test_fill_statistics();
  test_arena();
  return check_finish("test_tensor");
}
