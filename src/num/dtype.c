// Element type table: sizes and names.
#include <string.h>

#include "vdit/num.h"

typedef struct dtype_entry {
  const char *name;
  int bits;
  int is_float;
} dtype_entry;

static const dtype_entry dtype_table[VDIT_DTYPE_COUNT] = {
    [VDIT_DTYPE_F64] = {"f64", 64, 1},        [VDIT_DTYPE_F32] = {"f32", 32, 1},
    [VDIT_DTYPE_F16] = {"f16", 16, 1},        [VDIT_DTYPE_BF16] = {"bf16", 16, 1},
    [VDIT_DTYPE_F8_E4M3] = {"f8_e4m3", 8, 1}, [VDIT_DTYPE_F8_E5M2] = {"f8_e5m2", 8, 1},
    [VDIT_DTYPE_F4_E2M1] = {"f4_e2m1", 4, 1}, [VDIT_DTYPE_E8M0] = {"e8m0", 8, 1},
    [VDIT_DTYPE_I64] = {"i64", 64, 0},        [VDIT_DTYPE_I32] = {"i32", 32, 0},
    [VDIT_DTYPE_I16] = {"i16", 16, 0},        [VDIT_DTYPE_I8] = {"i8", 8, 0},
    [VDIT_DTYPE_U64] = {"u64", 64, 0},        [VDIT_DTYPE_U32] = {"u32", 32, 0},
    [VDIT_DTYPE_U16] = {"u16", 16, 0},        [VDIT_DTYPE_U8] = {"u8", 8, 0},
    [VDIT_DTYPE_BOOL] = {"bool", 8, 0},
};

static int dtype_valid(vdit_dtype dtype) { return (unsigned)dtype < VDIT_DTYPE_COUNT; }

int vdit_dtype_bits(vdit_dtype dtype) { return dtype_valid(dtype) ? dtype_table[dtype].bits : 0; }

int vdit_dtype_element_bytes(vdit_dtype dtype) {
  int bits = vdit_dtype_bits(dtype);
  return bits >= 8 ? bits / 8 : 0;
}

const char *vdit_dtype_name(vdit_dtype dtype) { return dtype_valid(dtype) ? dtype_table[dtype].name : "invalid"; }

int vdit_dtype_is_float(vdit_dtype dtype) { return dtype_valid(dtype) && dtype_table[dtype].is_float; }

vdit_status vdit_dtype_parse(const char *name, vdit_dtype *dtype) {
  static const struct { const char *alias; vdit_dtype dtype; } aliases[] = {
      {"fp64", VDIT_DTYPE_F64},   {"float64", VDIT_DTYPE_F64}, {"fp32", VDIT_DTYPE_F32},
      {"float32", VDIT_DTYPE_F32}, {"fp16", VDIT_DTYPE_F16},   {"float16", VDIT_DTYPE_F16},
      {"half", VDIT_DTYPE_F16},   {"bfloat16", VDIT_DTYPE_BF16}, {"fp8_e4m3", VDIT_DTYPE_F8_E4M3},
      {"e4m3", VDIT_DTYPE_F8_E4M3}, {"fp8_e5m2", VDIT_DTYPE_F8_E5M2}, {"e5m2", VDIT_DTYPE_F8_E5M2},
      {"fp4", VDIT_DTYPE_F4_E2M1}, {"e2m1", VDIT_DTYPE_F4_E2M1}, {"int8", VDIT_DTYPE_I8},
      {"int32", VDIT_DTYPE_I32},  {"int64", VDIT_DTYPE_I64},
  };
  for (int i = 0; i < VDIT_DTYPE_COUNT; i++)
    if (strcmp(name, dtype_table[i].name) == 0) {
      *dtype = (vdit_dtype)i;
      return VDIT_OK;
    }
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(name, aliases[i].alias) == 0) {
      *dtype = aliases[i].dtype;
      return VDIT_OK;
    }
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                    "unknown dtype '%s' (one of f32, f16, bf16, f8_e4m3, f8_e5m2, f4_e2m1, e8m0, i8, ...)", name);
}

vdit_status vdit_dtype_storage_bytes(vdit_dtype dtype, size_t count, size_t *bytes) {
  *bytes = 0;
  if (!dtype_valid(dtype)) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "invalid dtype %d", (int)dtype);
  size_t bits;
  if (!vdit_size_mul(count, (size_t)dtype_table[dtype].bits, &bits))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%zu elements of %s overflow the address space", count,
                      dtype_table[dtype].name);
  *bytes = bits / 8 + (bits % 8 != 0);
  return VDIT_OK;
}
