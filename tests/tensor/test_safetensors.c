// Safetensors read and write: round trips of every dtype (0-d and empty tensors included)
// and metadata, a file from the reference implementation (tests/data/safetensors), the
// writer's refusals, and a hostile corpus (hand-made cases plus thousands of seeded random
// mutations of a valid file), each of which must give one clear error and never a crash or
// an out-of-bounds read: the CPU tests run under ASan and UBSan, every range an opened file
// hands out is checked against the file's real length and read in full, and the mutated
// files are a whole number of pages long, so a read past the map's end is likely to fault
// rather than see zeros. (tests/tensor/test_json.c fuzzes the header parser on heap copies
// of exact size, where ASan sees every byte past the end.)
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vdit/tensor.h"

static char temp_folder[512];
static char scratch_path[600]; // the file each hostile case is written to

static void make_path(char *out, size_t size, const char *name) {
  snprintf(out, size, "%s/%s", temp_folder, name);
}

static int write_bytes(const char *path, const void *data, size_t length) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    CHECK_FAIL_("cannot write %s", path);
    return 0;
  }
  int ok = fwrite(data, 1, length, f) == length;
  ok = (fclose(f) == 0) && ok;
  if (!ok) CHECK_FAIL_("cannot write %s", path);
  return ok;
}

// A file: 8-byte length, `header` (padded with `pad` spaces), then `data_bytes` bytes.
typedef struct byte_buffer {
  unsigned char *data;
  size_t length;
} byte_buffer;

static byte_buffer make_file(const char *header, size_t header_length, size_t pad, size_t data_bytes) {
  byte_buffer b;
  uint64_t n = header_length + pad;
  b.length = 8 + (size_t)n + data_bytes;
  b.data = malloc(b.length ? b.length : 1);
  if (!b.data) {
    b.length = 0;
    return b;
  }
  for (int i = 0; i < 8; i++) b.data[i] = (unsigned char)(n >> (8 * i));
  memcpy(b.data + 8, header, header_length);
  memset(b.data + 8 + header_length, ' ', pad);
  for (size_t i = 0; i < data_bytes; i++) b.data[8 + n + i] = (unsigned char)(i * 37 + 11);
  return b;
}

// The error must be one line that names the file.
static void check_message(const char *path, const char *case_name) {
  const char *message = vdit_last_error();
  if (message[0] == '\0') CHECK_FAIL_("%s: empty error message", case_name);
  if (strchr(message, '\n')) CHECK_FAIL_("%s: message has a newline: %s", case_name, message);
  if (!strstr(message, path)) CHECK_FAIL_("%s: message does not name the file: %s", case_name, message);
}

// Opens `bytes` as a file and expects `expected` with `fragment` in the message.
static void expect_open(const char *case_name, const void *bytes, size_t length, vdit_status expected,
                        const char *fragment) {
  if (!write_bytes(scratch_path, bytes, length)) return;
  vdit_error_clear();
  vdit_safetensors *file = (vdit_safetensors *)&file; // must come back NULL on failure
  vdit_status s = vdit_safetensors_open(scratch_path, &file);
  if (s != expected) {
    CHECK_FAIL_("%s: got '%s' (%s), want '%s'", case_name, vdit_status_string(s), vdit_last_error(),
                vdit_status_string(expected));
    if (s == VDIT_OK) vdit_safetensors_close(file);
    return;
  }
  if (s == VDIT_OK) {
    vdit_safetensors_close(file);
    return;
  }
  CHECK(file == NULL);
  check_message(scratch_path, case_name);
  if (fragment && !strstr(vdit_last_error(), fragment))
    CHECK_FAIL_("%s: message lacks '%s': %s", case_name, fragment, vdit_last_error());
}

// A header case: `header` with `data_bytes` bytes of data after it.
static void expect_header(const char *case_name, const char *header, size_t data_bytes, const char *fragment) {
  byte_buffer b = make_file(header, strlen(header), 0, data_bytes);
  expect_open(case_name, b.data, b.length, VDIT_ERROR_CORRUPT_FILE, fragment);
  free(b.data);
}

// ---------------------------------------------------------------- round trip
typedef struct sample {
  const char *name;
  vdit_dtype dtype;
  int ndim;
  int64_t shape[VDIT_MAX_DIMS];
} sample;

static void fill_contiguous(vdit_tensor *t, void *data, const sample *s) {
  memset(t, 0, sizeof *t);
  t->data = data;
  t->dtype = s->dtype;
  t->device = VDIT_CPU;
  t->ndim = s->ndim;
  int64_t step = 1;
  for (int i = s->ndim - 1; i >= 0; i--) {
    t->shape[i] = s->shape[i];
    t->stride[i] = step;
    if (s->shape[i] > 0) step *= s->shape[i];
  }
}

static size_t sample_bytes(const sample *s) {
  size_t count = 1;
  for (int i = 0; i < s->ndim; i++) count *= (size_t)s->shape[i];
  size_t bytes = 0;
  vdit_dtype_storage_bytes(s->dtype, count, &bytes);
  return bytes;
}

static int count_temporaries(void) {
  DIR *dir = opendir(temp_folder);
  if (!dir) return -1;
  int count = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL)
    if (strstr(e->d_name, "roundtrip.safetensors.tmp-")) count++;
  closedir(dir);
  return count;
}

static void test_round_trip(void) {
  // Every vdit dtype; the order mixes element sizes so that the writer must reorder the data
  // section to keep each tensor aligned.
  static const sample samples[] = {
      {"odd.bf16", VDIT_DTYPE_BF16, 1, {3}},
      {"blocks.0.attn.q.weight", VDIT_DTYPE_F32, 2, {4, 3}},
      {"scalar.i64", VDIT_DTYPE_I64, 0, {0}},
      {"empty.u8", VDIT_DTYPE_U8, 2, {0, 5}},
      {"empty.f32", VDIT_DTYPE_F32, 3, {2, 0, 3}},
      {"f16", VDIT_DTYPE_F16, 3, {3, 1, 2}},
      {"packed.f4", VDIT_DTYPE_F4_E2M1, 2, {2, 3}},
      {"f8.e4m3", VDIT_DTYPE_F8_E4M3, 1, {5}},
      {"f8.e5m2", VDIT_DTYPE_F8_E5M2, 1, {2}},
      {"scales.e8m0", VDIT_DTYPE_E8M0, 1, {7}},
      {"f64", VDIT_DTYPE_F64, 2, {1, 2}},
      {"i32", VDIT_DTYPE_I32, 1, {3}},
      {"i16", VDIT_DTYPE_I16, 1, {1}},
      {"i8", VDIT_DTYPE_I8, 1, {9}},
      {"u64", VDIT_DTYPE_U64, 1, {1}},
      {"u32", VDIT_DTYPE_U32, 5, {1, 2, 1, 2, 1}},
      {"u16", VDIT_DTYPE_U16, 1, {3}},
      {"bool", VDIT_DTYPE_BOOL, 1, {4}},
      {"caf\xc3\xa9 \"quoted\"\\", VDIT_DTYPE_U8, 1, {1}}, // a name that needs escaping
  };
  enum { COUNT = sizeof samples / sizeof samples[0] };
  vdit_tensor tensors[COUNT];
  const char *names[COUNT];
  unsigned char *buffers[COUNT];
  for (int i = 0; i < COUNT; i++) {
    size_t bytes = sample_bytes(&samples[i]);
    buffers[i] = malloc(bytes ? bytes : 1);
    uint32_t *random = malloc((bytes ? bytes : 1) * sizeof *random);
    if (!buffers[i] || !random) {
      CHECK_FAIL_("out of memory");
      return;
    }
    vdit_rng_u32(7, (uint64_t)i * 1000, bytes, random);
    for (size_t b = 0; b < bytes; b++) buffers[i][b] = (unsigned char)random[b];
    free(random);
    fill_contiguous(&tensors[i], bytes ? buffers[i] : NULL, &samples[i]);
    names[i] = samples[i].name;
  }
  const char *keys[] = {"format", "note", "unicode"};
  const char *values[] = {"pt", "line one\nline \"two\"\t\\", "\xe2\x82\xac \xf0\x9f\x98\x80"};
  char path[600];
  make_path(path, sizeof path, "roundtrip.safetensors");
  // Written twice: the second write replaces the first atomically.
  CHECK_OK(vdit_safetensors_write(path, 2, names, tensors, 0, NULL, NULL));
  CHECK_OK(vdit_safetensors_write(path, COUNT, names, tensors, 3, keys, values));
  CHECK_EQ_INT(count_temporaries(), 0);

  vdit_safetensors *file = NULL;
  CHECK_OK(vdit_safetensors_open(path, &file));
  if (!file) return;
  CHECK_EQ_INT(vdit_safetensors_count(file), COUNT);
  CHECK_EQ_INT(vdit_safetensors_header_bytes(file) % 8, 0);
  CHECK(strcmp(vdit_safetensors_path(file), path) == 0);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == vdit_safetensors_file_bytes(file));
  uint64_t data_total = 0;
  for (int i = 0; i < COUNT; i++) {
    vdit_safetensors_info info;
    CHECK_OK(vdit_safetensors_entry(file, (size_t)i, &info));
    const sample *s = &samples[i];
    CHECK(strcmp(info.name, s->name) == 0); // header order is the given order
    CHECK_EQ_INT(info.dtype, s->dtype);
    CHECK_EQ_INT(info.ndim, s->ndim);
    uint64_t elements = 1;
    for (int d = 0; d < s->ndim; d++) {
      CHECK_EQ_INT(info.shape[d], s->shape[d]);
      elements *= (uint64_t)s->shape[d];
    }
    if (s->ndim == 0) CHECK(info.shape == NULL);
    CHECK_EQ_INT(info.element_count, elements);
    size_t bytes = sample_bytes(s);
    CHECK_EQ_INT(info.bytes, bytes);
    CHECK_EQ_INT(info.file_offset, 8 + vdit_safetensors_header_bytes(file) + info.offset);
    data_total += info.bytes;
    if (bytes) {
      CHECK(info.data != NULL && memcmp(info.data, buffers[i], bytes) == 0);
      int bits = vdit_dtype_bits(s->dtype);
      CHECK_EQ_INT((uintptr_t)info.data % (uintptr_t)(bits >= 8 ? bits / 8 : 1), 0);
    } else {
      CHECK(info.data == NULL);
    }
    size_t index = 999;
    CHECK_OK(vdit_safetensors_find(file, s->name, &index));
    CHECK_EQ_INT(index, i);
    vdit_tensor view;
    CHECK_OK(vdit_safetensors_tensor(file, s->name, &view));
    CHECK_EQ_INT(view.dtype, s->dtype);
    CHECK_EQ_INT(view.ndim, s->ndim);
    CHECK_EQ_INT(view.device.type, VDIT_DEVICE_CPU);
    CHECK(view.allocation == NULL);
    CHECK(view.data == (elements ? info.data : NULL));
    for (int d = 0; d < s->ndim; d++) {
      CHECK_EQ_INT(view.shape[d], tensors[i].shape[d]);
      CHECK_EQ_INT(view.stride[d], tensors[i].stride[d]);
    }
  }
  CHECK_EQ_INT(8 + vdit_safetensors_header_bytes(file) + data_total, vdit_safetensors_file_bytes(file));
  // The scalar holds its 8 bytes; the f32 view reads back the written floats.
  vdit_tensor view;
  CHECK_OK(vdit_safetensors_tensor(file, "blocks.0.attn.q.weight", &view));
  if (view.data) CHECK(memcmp(view.data, buffers[1], 48) == 0);
  CHECK_EQ_INT(vdit_safetensors_metadata_count(file), 3);
  for (size_t i = 0; i < 3; i++) {
    const char *key = NULL, *value = NULL;
    CHECK_OK(vdit_safetensors_metadata_entry(file, i, &key, &value));
    CHECK(key && strcmp(key, keys[i]) == 0);
    CHECK(value && strcmp(value, values[i]) == 0);
    CHECK(vdit_safetensors_metadata_get(file, keys[i]) == value);
  }
  CHECK(vdit_safetensors_metadata_get(file, "absent") == NULL);
  CHECK_STATUS(vdit_safetensors_metadata_entry(file, 3, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  size_t index;
  CHECK_STATUS(vdit_safetensors_find(file, "blocks.0.attn.k.weight", &index), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "has no tensor 'blocks.0.attn.k.weight'") != NULL);
  CHECK_STATUS(vdit_safetensors_tensor(file, "nope", &view), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_safetensors_info info;
  CHECK_STATUS(vdit_safetensors_entry(file, COUNT, &info), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_safetensors_close(file);

  // A file with no tensors and no metadata.
  CHECK_OK(vdit_safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL));
  CHECK_OK(vdit_safetensors_open(path, &file));
  CHECK_EQ_INT(vdit_safetensors_count(file), 0);
  CHECK_EQ_INT(vdit_safetensors_metadata_count(file), 0);
  CHECK_EQ_INT(vdit_safetensors_file_bytes(file), 16); // "{}" padded to 8 bytes
  vdit_safetensors_close(file);
  vdit_safetensors_close(NULL);
  for (int i = 0; i < COUNT; i++) free(buffers[i]);
}

static void test_writer_refusals(void) {
  char path[600];
  make_path(path, sizeof path, "refused.safetensors");
  unlink(path);
  float data[6] = {1, 2, 3, 4, 5, 6};
  vdit_tensor t;
  sample s = {"x", VDIT_DTYPE_F32, 2, {2, 3}};
  fill_contiguous(&t, data, &s);
  vdit_tensor two[2] = {t, t};
  const char *duplicate[2] = {"w", "w"};
  CHECK_STATUS(vdit_safetensors_write(path, 2, duplicate, two, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "'w' appears twice") != NULL);
  const char *reserved[1] = {"__metadata__"};
  CHECK_STATUS(vdit_safetensors_write(path, 1, reserved, &t, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  const char *name[1] = {"w"};
  vdit_tensor transposed = t; // (3, 2) view of the (2, 3) data
  transposed.shape[0] = 3;
  transposed.shape[1] = 2;
  transposed.stride[0] = 1;
  transposed.stride[1] = 3;
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &transposed, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "not contiguous") != NULL);
  vdit_tensor on_gpu = t;
  on_gpu.device = VDIT_CUDA(0);
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &on_gpu, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_tensor odd_f4 = t;
  odd_f4.dtype = VDIT_DTYPE_F4_E2M1;
  odd_f4.ndim = 1;
  odd_f4.shape[0] = 3;
  odd_f4.stride[0] = 1;
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &odd_f4, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "whole bytes") != NULL);
  vdit_tensor no_data = t;
  no_data.data = NULL;
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &no_data, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_tensor negative = t;
  negative.shape[0] = -1;
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &negative, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  vdit_tensor bad_dtype = t;
  bad_dtype.dtype = VDIT_DTYPE_COUNT;
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &bad_dtype, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  const char *bad_utf8[1] = {"w\xff"};
  CHECK_STATUS(vdit_safetensors_write(path, 1, bad_utf8, &t, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  const char *keys[2] = {"k", "k"}, *values[2] = {"a", "b"};
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &t, 2, keys, values), VDIT_ERROR_INVALID_ARGUMENT);
  const char *null_value[1] = {NULL};
  CHECK_STATUS(vdit_safetensors_write(path, 1, name, &t, 1, keys, null_value), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_safetensors_write(NULL, 1, name, &t, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_safetensors_write(path, 1, NULL, &t, 0, NULL, NULL), VDIT_ERROR_INVALID_ARGUMENT);
  struct stat st;
  CHECK(stat(path, &st) != 0); // nothing was written by any refused call
  char missing_folder[700];
  snprintf(missing_folder, sizeof missing_folder, "%s/no/such/folder/x.safetensors", temp_folder);
  CHECK_STATUS(vdit_safetensors_write(missing_folder, 1, name, &t, 0, NULL, NULL), VDIT_ERROR_IO);
  CHECK(strstr(vdit_last_error(), "no/such/folder") != NULL);
  // A size-1 dim may have any stride; a tensor of no elements is contiguous whatever its strides.
  vdit_tensor loose = t;
  loose.shape[0] = 1;
  loose.stride[0] = 12345;
  CHECK_OK(vdit_safetensors_write(path, 1, name, &loose, 0, NULL, NULL));
  loose.shape[0] = 0;
  loose.stride[1] = 7;
  loose.data = NULL;
  CHECK_OK(vdit_safetensors_write(path, 1, name, &loose, 0, NULL, NULL));
  unlink(path);
}

// ---------------------------------------------------------------- the reference's file
static void test_reference_file(void) {
  const char *data_folder = getenv("VDIT_TEST_DATA");
  if (!data_folder) data_folder = "tests/data";
  char path[600];
  snprintf(path, sizeof path, "%s/safetensors/small.safetensors", data_folder);
  vdit_safetensors *file = NULL;
  CHECK_OK(vdit_safetensors_open(path, &file));
  if (!file) return;
  CHECK_EQ_INT(vdit_safetensors_count(file), 6);
  CHECK(strcmp(vdit_safetensors_metadata_get(file, "format"), "np") == 0);
  CHECK(strcmp(vdit_safetensors_metadata_get(file, "origin"), "vdit test fixture") == 0);
  vdit_tensor t;
  CHECK_OK(vdit_safetensors_tensor(file, "blocks.0.weight", &t));
  CHECK_EQ_INT(t.dtype, VDIT_DTYPE_F32);
  CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3 && t.stride[0] == 3 && t.stride[1] == 1);
  if (t.data)
    for (int i = 0; i < 6; i++) CHECK_EQ_FLOAT_BITS(((const float *)t.data)[i], (float)i * 0.5f - 1.0f);
  CHECK_OK(vdit_safetensors_tensor(file, "blocks.0.bias", &t));
  CHECK_EQ_INT(t.dtype, VDIT_DTYPE_F16);
  if (t.data) {
    const uint16_t *h = t.data;
    CHECK_EQ_HEX(h[0], 0x3e00); // 1.5
    CHECK_EQ_HEX(h[1], 0xc000); // -2
    CHECK_EQ_HEX(h[2], 0x7bff); // 65504
  }
  CHECK_OK(vdit_safetensors_tensor(file, "step", &t));
  CHECK(t.dtype == VDIT_DTYPE_I64 && t.ndim == 0);
  if (t.data) CHECK_EQ_INT(*(const int64_t *)t.data, 7);
  CHECK_OK(vdit_safetensors_tensor(file, "empty", &t));
  CHECK(t.dtype == VDIT_DTYPE_U8 && t.ndim == 2 && t.shape[0] == 0 && t.shape[1] == 4 && t.data == NULL);
  CHECK_OK(vdit_safetensors_tensor(file, "mask", &t));
  CHECK_EQ_INT(t.dtype, VDIT_DTYPE_BOOL);
  if (t.data) CHECK(memcmp(t.data, "\1\0\0\1", 4) == 0);
  CHECK_OK(vdit_safetensors_tensor(file, "ids", &t));
  if (t.data) {
    const int16_t *v = t.data;
    CHECK(v[0] == -3 && v[1] == 100 && v[2] == 32767 && v[3] == -32768);
  }
  vdit_safetensors_close(file);

  snprintf(path, sizeof path, "%s/safetensors/truncated.safetensors", data_folder);
  CHECK_STATUS(vdit_safetensors_open(path, &file), VDIT_ERROR_CORRUPT_FILE);
  CHECK(strstr(vdit_last_error(), "run past the data section") != NULL);
  CHECK(file == NULL);
}

// ---------------------------------------------------------------- hostile corpus
#define ENTRY(name, dtype, shape, begin, end) \
  "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #begin "," #end "]}"

static void test_hostile_headers(void) {
  // Length field and file size.
  unsigned char small[16] = {0};
  expect_open("empty file", small, 0, VDIT_ERROR_CORRUPT_FILE, "too short");
  expect_open("7 bytes", small, 7, VDIT_ERROR_CORRUPT_FILE, "too short");
  uint64_t lengths[] = {(uint64_t)1 << 63, (uint64_t)1 << 40, UINT64_MAX, 9};
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
    for (int b = 0; b < 8; b++) small[b] = (unsigned char)(lengths[i] >> (8 * b));
    memcpy(small + 8, "{}      ", 8);
    expect_open("header length past the end", small, 16, VDIT_ERROR_CORRUPT_FILE, "runs past the end");
  }
  {
    // A header length over the 100 MB limit inside a (sparse) file that is long enough.
    uint64_t n = VDIT_SAFETENSORS_MAX_HEADER_BYTES + 1;
    for (int b = 0; b < 8; b++) small[b] = (unsigned char)(n >> (8 * b));
    if (write_bytes(scratch_path, small, 16) && truncate(scratch_path, (off_t)(n + 16)) == 0) {
      vdit_safetensors *file = NULL;
      CHECK_STATUS(vdit_safetensors_open(scratch_path, &file), VDIT_ERROR_CORRUPT_FILE);
      CHECK(strstr(vdit_last_error(), "exceeds the 100000000-byte limit") != NULL);
    }
  }
  // JSON syntax.
  expect_header("zero-length header", "", 0, "empty input");
  expect_header("not JSON", "hello", 0, "not valid JSON");
  expect_header("JSON array", "[]", 0, "must be a JSON object");
  expect_header("JSON string", "\"x\"", 0, "got a string");
  expect_header("trailing garbage", "{} x", 0, "after the JSON value");
  expect_header("two objects", "{}{}", 0, "after the JSON value");
  expect_header("unterminated string", "{\"a", 0, "unterminated string");
  expect_header("unterminated object", "{\"a\":{\"dtype\":\"F32\"", 0, "unexpected end of input");
  expect_header("bad escape", "{\"a\\q\":1}", 0, "invalid escape");
  expect_header("lone surrogate", "{\"\\ud800\":1}", 0, "surrogate");
  expect_header("invalid UTF-8", "{\"a\xc0\x80\":1}", 0, "invalid UTF-8");
  expect_header("control character", "{\"a\x01\":1}", 0, "control character");
  {
    byte_buffer b = make_file("{}\0", 3, 0, 0);
    expect_open("NUL byte after the object", b.data, b.length, VDIT_ERROR_CORRUPT_FILE, "byte 0x00");
    free(b.data);
  }
  expect_header("byte-order mark", "\xef\xbb\xbf{}", 0, "byte 0xef");
  expect_header("single quotes", "{'a':1}", 0, "expected a string key");
  expect_header("trailing comma", "{\"a\":1,}", 0, "expected a string key");
  {
    size_t deep = 100000;
    char *brackets = malloc(deep + 1);
    if (brackets) {
      memset(brackets, '[', deep);
      brackets[deep] = '\0';
      expect_header("deep nesting", brackets, 0, "nesting deeper than");
      memset(brackets, '{', 1);
      for (size_t i = 1; i + 5 < deep; i += 5) memcpy(brackets + i, "\"a\":{", 5);
      expect_header("deep objects", brackets, 0, "nesting deeper than");
      free(brackets);
    }
  }
  // Entries.
  expect_header("huge number", "{" ENTRY("a", "F32", "[1e400]", 0, 4) "}", 4, "shape[0]: expected an integer");
  expect_header("huge integer", "{" ENTRY("a", "F32", "[99999999999999999999999]", 0, 4) "}", 4, "out of range");
  expect_header("fraction", "{" ENTRY("a", "F32", "[1.0]", 0, 4) "}", 4, "expected an integer");
  expect_header("negative shape", "{" ENTRY("a", "F32", "[-1]", 0, 4) "}", 4, "non-negative");
  expect_header("dim over 2^63", "{" ENTRY("a", "U8", "[9223372036854775808]", 0, 4) "}", 4, "exceeds 2^63");
  expect_header("elements overflow", "{" ENTRY("a", "U8", "[4294967296,4294967296]", 0, 4) "}", 4,
                "more than 2^63 elements");
  expect_header("bytes overflow", "{" ENTRY("a", "F64", "[4611686018427387904]", 0, 4) "}", 4,
                "overflows the byte count");
  expect_header("shape/offset mismatch", "{" ENTRY("a", "F32", "[2]", 0, 4) "}", 4, "needs 8 bytes");
  expect_header("F4 odd count", "{" ENTRY("a", "F4", "[3]", 0, 2) "}", 2, "not whole bytes");
  expect_header("F6 count not a multiple of 4", "{" ENTRY("a", "F6_E2M3", "[2]", 0, 2) "}", 2, "not whole bytes");
  expect_header("offsets out of bounds", "{" ENTRY("a", "U8", "[100]", 0, 100) "}", 8, "run past the data section");
  expect_header("offsets far out of bounds", "{" ENTRY("a", "U8", "[8]", 18446744073709551607, 18446744073709551615) "}",
                8, "run past the data section");
  expect_header("offset over 2^64", "{" ENTRY("a", "U8", "[8]", 0, 18446744073709551616) "}", 8, "out of range");
  expect_header("begin after end", "{" ENTRY("a", "U8", "[0]", 8, 0) "}", 8, "end before they begin");
  expect_header("overlap", "{" ENTRY("a", "U8", "[8]", 0, 8) "," ENTRY("b", "U8", "[8]", 4, 12) "}", 12, "overlap");
  expect_header("same range", "{" ENTRY("a", "U8", "[8]", 0, 8) "," ENTRY("b", "U8", "[8]", 0, 8) "}", 16, "overlap");
  expect_header("empty tensor inside another", "{" ENTRY("a", "U8", "[8]", 0, 8) "," ENTRY("b", "U8", "[0]", 4, 4) "}",
                8, "overlap");
  expect_header("gap", "{" ENTRY("a", "U8", "[4]", 0, 4) "," ENTRY("b", "U8", "[4]", 8, 12) "}", 12, "unused");
  expect_header("gap at start", "{" ENTRY("a", "U8", "[4]", 4, 8) "}", 8, "unused");
  expect_header("trailing data", "{" ENTRY("a", "U8", "[4]", 0, 4) "}", 8, "trailing bytes");
  expect_header("data without tensors", "{}", 8, "trailing bytes");
  expect_header("unknown dtype", "{" ENTRY("a", "F128", "[1]", 0, 16) "}", 16, "unknown dtype 'F128'");
  expect_header("lower-case dtype", "{" ENTRY("a", "f32", "[1]", 0, 4) "}", 4, "unknown dtype 'f32'");
  expect_header("dtype not a string", "{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "dtype must be a string, got a number");
  expect_header("shape not an array", "{\"a\":{\"dtype\":\"U8\",\"shape\":\"1\",\"data_offsets\":[0,1]}}", 1,
                "shape must be an array");
  expect_header("shape of strings", "{\"a\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1,
                "shape[0]: expected an integer, got a string");
  expect_header("shape null", "{\"a\":{\"dtype\":\"U8\",\"shape\":null,\"data_offsets\":[0,1]}}", 1,
                "shape must be an array, got null");
  expect_header("offsets not an array", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{}}}", 1,
                "data_offsets must be an array");
  expect_header("one offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, "2 elements");
  expect_header("three offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}", 1, "2 elements");
  expect_header("offset true", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[true,1]}}", 1,
                "data_offsets[0]: expected an integer, got a boolean");
  expect_header("entry not an object", "{\"a\":[1,2]}", 0, "expected an object with dtype");
  expect_header("missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "missing field 'dtype'");
  expect_header("missing shape", "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "missing field 'shape'");
  expect_header("missing offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "missing field 'data_offsets'");
  expect_header("extra field", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"foo\":1}}", 1,
                "unexpected field 'foo'");
  expect_header("field named with NUL", "{\"a\":{\"dtype\\u0000x\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "unexpected field");
  expect_header("repeated field", "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "duplicate key \"dtype\"");
  expect_header("duplicate names", "{" ENTRY("a", "U8", "[1]", 0, 1) "," ENTRY("a", "U8", "[1]", 1, 2) "}", 2,
                "duplicate key \"a\"");
  expect_header("NUL in name", "{" ENTRY("a\\u0000b", "U8", "[1]", 0, 1) "}", 1, "NUL character");
  expect_header("metadata not an object", "{\"__metadata__\":[]}", 0, "__metadata__ must be an object");
  expect_header("metadata number", "{\"__metadata__\":{\"a\":1}}", 0, "__metadata__ 'a' must be a string, got a number");
  expect_header("metadata nested", "{\"__metadata__\":{\"a\":{}}}", 0, "must be a string, got an object");
  expect_header("metadata NUL", "{\"__metadata__\":{\"a\":\"x\\u0000\"}}", 0, "NUL character");
  expect_header("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key");
  {
    char header[600] = "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,0],\"shape\":[";
    for (int i = 0; i < 65; i++) strcat(header, i ? ",1" : "1");
    strcat(header, "]}}");
    expect_header("65 dims", header, 0, "more than the 64");
  }
  // A name with a newline and escapes is quoted on one line in messages.
  expect_header("hostile name", "{" ENTRY("evil\\n\\u001b[31mname", "X", "[1]", 0, 1) "}", 1,
                "tensor 'evil\\n\\x1b[31mname'");
  // Missing and unreadable paths are i/o errors.
  char path[600];
  make_path(path, sizeof path, "does-not-exist.safetensors");
  vdit_safetensors *file = NULL;
  CHECK_STATUS(vdit_safetensors_open(path, &file), VDIT_ERROR_IO);
  check_message(path, "missing file");
  CHECK_STATUS(vdit_safetensors_open(temp_folder, &file), VDIT_ERROR_IO);
  CHECK(strstr(vdit_last_error(), "not a regular file") != NULL);
  CHECK_STATUS(vdit_safetensors_open(NULL, &file), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(vdit_safetensors_open(path, NULL), VDIT_ERROR_INVALID_ARGUMENT);
}

// Files the format accepts that vdit can list but not view.
static void test_valid_but_unviewable(void) {
  static const struct {
    const char *name;
    const char *header;
    size_t pad, data_bytes;
    const char *fragment;
  } cases[] = {
      {"C64", "{" ENTRY("c", "C64", "[2]", 0, 16) "}", 0, 16, "dtype C64"},
      {"F6_E2M3", "{" ENTRY("c", "F6_E2M3", "[4]", 0, 3) "}", 0, 3, "dtype F6_E2M3"},
      {"six dims", "{" ENTRY("c", "U8", "[1,1,1,1,1,2]", 0, 2) "}", 0, 2, "6 dims"},
      {"strides overflow", "{" ENTRY("c", "U8", "[0,4611686018427387904,4]", 0, 0) "}", 0, 0, "strides"},
      // 8 + a 54-byte header + 8 spaces put the f32 at file byte 70: not 4-byte aligned.
      {"misaligned", "{" ENTRY("c", "F32", "[1]", 0, 4) "}", 8, 4, "not aligned"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    byte_buffer b = make_file(cases[i].header, strlen(cases[i].header), cases[i].pad, cases[i].data_bytes);
    if (!write_bytes(scratch_path, b.data, b.length)) continue;
    free(b.data);
    vdit_safetensors *file = NULL;
    CHECK_OK(vdit_safetensors_open(scratch_path, &file));
    if (!file) continue;
    vdit_safetensors_info info;
    CHECK_OK(vdit_safetensors_entry(file, 0, &info));
    vdit_tensor view;
    CHECK_STATUS(vdit_safetensors_tensor(file, "c", &view), VDIT_ERROR_UNSUPPORTED);
    if (!strstr(vdit_last_error(), cases[i].fragment))
      CHECK_FAIL_("%s: message lacks '%s': %s", cases[i].name, cases[i].fragment, vdit_last_error());
    vdit_safetensors_close(file);
  }
}

// Seeded random mutations of a valid file whose size is a whole number of pages: byte
// changes (mostly in the length field and header), truncations, and inserted or deleted
// header bytes. Each must open cleanly or fail with a corrupt-file error; an opened file's
// every byte is read.
static void test_mutations(void) {
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  char header[512];
  // Fill bytes so that the file ends exactly on a page boundary.
  const char *prefix = "{\"__metadata__\":{\"format\":\"pt\"}," ENTRY("w", "F32", "[2,3]", 0, 24) ","
                       ENTRY("b", "BF16", "[3]", 24, 30) "," ENTRY("s", "I64", "[]", 32, 40) ","
                       ENTRY("e", "U8", "[0,7]", 30, 30) "," ENTRY("q", "F4", "[2,2]", 30, 32) ",";
  size_t header_guess = strlen(prefix) + 64;
  size_t pad_to = 8 + ((header_guess + 7) / 8) * 8 + 40; // data before the fill tensor
  size_t fill = (size_t)page * 2 - pad_to;
  snprintf(header, sizeof header, "%s" ENTRY("fill", "U8", "[%zu]", 40, %zu) "}", prefix, fill, 40 + fill);
  size_t header_length = strlen(header);
  size_t pad = (8 - header_length % 8) % 8;
  size_t total = 8 + header_length + pad + 40 + fill;
  if (total % (size_t)page != 0) { // adjust the fill once the header's real length is known
    fill -= total % (size_t)page;
    snprintf(header, sizeof header, "%s" ENTRY("fill", "U8", "[%zu]", 40, %zu) "}", prefix, fill, 40 + fill);
    header_length = strlen(header);
    pad = (8 - header_length % 8) % 8;
    total = 8 + header_length + pad + 40 + fill;
  }
  CHECK_EQ_INT(total % (size_t)page, 0);
  byte_buffer base = make_file(header, header_length, pad, 40 + fill);
  if (!base.data) return;
  expect_open("mutation base", base.data, base.length, VDIT_OK, NULL);
  size_t header_end = 8 + header_length + pad;

  enum { TRIALS = 4000, WORDS = 16 };
  unsigned char *mutant = malloc(base.length + 8);
  if (!mutant) return;
  int opened = 0, rejected = 0;
  for (int trial = 0; trial < TRIALS; trial++) {
    uint32_t r[WORDS];
    vdit_rng_u32(0x5afe7e45, (uint64_t)trial * WORDS, WORDS, r);
    memcpy(mutant, base.data, base.length);
    size_t length = base.length;
    int kind = (int)(r[0] % 10);
    if (kind < 6) { // change 1..4 bytes, mostly in the first 8 + header bytes
      int changes = 1 + (int)(r[1] % 4);
      for (int c = 0; c < changes; c++) {
        size_t where = (r[2 + 2 * c] % 8 != 0) ? r[3 + 2 * c] % header_end : r[3 + 2 * c] % length;
        unsigned char value = (unsigned char)(r[10 + c] >> 8);
        if (r[10 + c] % 3 == 0) value = (unsigned char)("{}[]\",:0123456789-e. \\u"[r[10 + c] % 24]);
        mutant[where] = value;
      }
    } else if (kind < 8) { // truncate
      length = r[1] % 3 == 0 ? r[2] % (header_end + 1) : r[2] % base.length;
    } else if (kind == 8) { // delete one header byte (the length field still says the old length)
      size_t where = 8 + r[1] % (header_end - 8);
      memmove(mutant + where, mutant + where + 1, length - where - 1);
      length--;
    } else { // insert one header byte
      size_t where = 8 + r[1] % (header_end - 8);
      memmove(mutant + where + 1, mutant + where, length - where);
      mutant[where] = (unsigned char)r[2];
      length++;
    }
    if (!write_bytes(scratch_path, mutant, length)) break;
    vdit_error_clear();
    vdit_safetensors *file = NULL;
    vdit_status s = vdit_safetensors_open(scratch_path, &file);
    if (s == VDIT_OK) {
      opened++;
      unsigned sum = 0;
      for (size_t i = 0; i < vdit_safetensors_count(file); i++) {
        vdit_safetensors_info info;
        CHECK_OK(vdit_safetensors_entry(file, i, &info));
        const unsigned char *p = info.data;
        for (uint64_t k = 0; k < info.bytes; k++) sum += p[k];
        CHECK(info.file_offset + info.bytes <= length);
        vdit_tensor view;
        vdit_status v = vdit_safetensors_tensor_at(file, i, &view);
        CHECK(v == VDIT_OK || v == VDIT_ERROR_UNSUPPORTED);
        size_t index;
        CHECK_OK(vdit_safetensors_find(file, info.name, &index));
      }
      for (size_t i = 0; i < vdit_safetensors_metadata_count(file); i++) {
        const char *key, *value;
        CHECK_OK(vdit_safetensors_metadata_entry(file, i, &key, &value));
        sum += (unsigned)strlen(key) + (unsigned)strlen(value);
      }
      (void)sum;
      vdit_safetensors_close(file);
    } else {
      rejected++;
      if (s != VDIT_ERROR_CORRUPT_FILE)
        CHECK_FAIL_("mutation %d (kind %d): status %s: %s", trial, kind, vdit_status_string(s), vdit_last_error());
      check_message(scratch_path, "mutation");
    }
  }
  printf("mutations: %d opened, %d rejected\n", opened, rejected);
  CHECK(opened > 0 && rejected > TRIALS / 2); // both outcomes occur: the corpus bites
  free(mutant);
  free(base.data);
}

int main(void) {
  const char *tmp = getenv("VDIT_TEST_TMP");
  snprintf(temp_folder, sizeof temp_folder, "%s/safetensors_test_%ld", tmp ? tmp : "/tmp", (long)getpid());
  if (mkdir(temp_folder, 0755) != 0) {
    fprintf(stderr, "cannot create %s\n", temp_folder);
    return 1;
  }
  make_path(scratch_path, sizeof scratch_path, "case.safetensors");
  test_round_trip();
  test_writer_refusals();
  test_reference_file();
  test_hostile_headers();
  test_valid_but_unviewable();
  test_mutations();
  // Clean up the folder's files.
  DIR *dir = opendir(temp_folder);
  if (dir) {
    struct dirent *e;
    char path[1200];
    while ((e = readdir(dir)) != NULL)
      if (e->d_name[0] != '.') {
        snprintf(path, sizeof path, "%s/%s", temp_folder, e->d_name);
        unlink(path);
      }
    closedir(dir);
    rmdir(temp_folder);
  }
  return check_finish("test_safetensors");
}
