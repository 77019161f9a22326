// The safetensors dtype table, name sorting and message quoting.
#include "tensor/safetensors_format.h"

#include <stdio.h>
#include <string.h>

// Names and sizes as in the reference implementation (safetensors/src/tensor.rs, Dtype).
static const safetensors_dtype dtype_table[] = {
    {"F64", 64, VDIT_DTYPE_F64},
    {"F32", 32, VDIT_DTYPE_F32},
    {"F16", 16, VDIT_DTYPE_F16},
    {"BF16", 16, VDIT_DTYPE_BF16},
    {"I64", 64, VDIT_DTYPE_I64},
    {"I32", 32, VDIT_DTYPE_I32},
    {"I16", 16, VDIT_DTYPE_I16},
    {"I8", 8, VDIT_DTYPE_I8},
    {"U64", 64, VDIT_DTYPE_U64},
    {"U32", 32, VDIT_DTYPE_U32},
    {"U16", 16, VDIT_DTYPE_U16},
    {"U8", 8, VDIT_DTYPE_U8},
    {"BOOL", 8, VDIT_DTYPE_BOOL},
    {"F8_E4M3", 8, VDIT_DTYPE_F8_E4M3}, // torch.float8_e4m3fn: the OCP e4m3
    {"F8_E5M2", 8, VDIT_DTYPE_F8_E5M2},
    {"F8_E8M0", 8, VDIT_DTYPE_E8M0},    // OCP MX scale
    {"F4", 4, VDIT_DTYPE_F4_E2M1},      // OCP MX fp4 e2m1, two per byte
    // Valid in the format, without a vdit type: listed by `vdit inspect`, not viewable.
    {"F6_E2M3", 6, VDIT_DTYPE_COUNT},
    {"F6_E3M2", 6, VDIT_DTYPE_COUNT},
    {"F8_E4M3FNUZ", 8, VDIT_DTYPE_COUNT},
    {"F8_E5M2FNUZ", 8, VDIT_DTYPE_COUNT},
    {"C64", 64, VDIT_DTYPE_COUNT},
};
enum { DTYPE_TABLE_SIZE = sizeof dtype_table / sizeof dtype_table[0] };

const safetensors_dtype *safetensors_dtype_from_name(const char *text, size_t length) {
  for (int i = 0; i < DTYPE_TABLE_SIZE; i++)
    if (strlen(dtype_table[i].name) == length && memcmp(dtype_table[i].name, text, length) == 0)
      return &dtype_table[i];
  return NULL;
}

const safetensors_dtype *safetensors_dtype_from_vdit(vdit_dtype dtype) {
  for (int i = 0; i < DTYPE_TABLE_SIZE; i++)
    if (dtype_table[i].dtype == dtype && dtype != VDIT_DTYPE_COUNT) return &dtype_table[i];
  return NULL;
}

const char *safetensors_dtype_list(void) {
  return "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2, F8_E8M0, F4, "
         "F6_E2M3, F6_E3M2, F8_E4M3FNUZ, F8_E5M2FNUZ, C64";
}

int safetensors_compare_names(const void *a, const void *b) {
  return strcmp(((const safetensors_name_ref *)a)->name, ((const safetensors_name_ref *)b)->name);
}

char *safetensors_quote(const char *text, size_t length, size_t max_chars, char *out, size_t size) {
  size_t used = 0, shown = 0;
  if (size == 0) return out;
  out[0] = '\0';
  for (size_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)text[i];
    char piece[8];
    size_t piece_length;
    if (c == '\\' || c == '\'' || c == '"') {
      piece[0] = '\\';
      piece[1] = (char)c;
      piece_length = 2;
    } else if (c == '\n') {
      memcpy(piece, "\\n", 2);
      piece_length = 2;
    } else if (c == '\t') {
      memcpy(piece, "\\t", 2);
      piece_length = 2;
    } else if (c < 0x20 || c == 0x7f) {
      piece_length = (size_t)snprintf(piece, sizeof piece, "\\x%02x", c);
    } else if (c >= 0x80) {
      // Keep a UTF-8 sequence whole (the header was validated as UTF-8 before names reach
      // a message; a broken sequence is escaped byte by byte).
      size_t n = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : (c >= 0xc0) ? 2 : 1;
      int whole = n > 1 && i + n <= length;
      for (size_t k = 1; whole && k < n; k++)
        if (((unsigned char)text[i + k] & 0xc0) != 0x80) whole = 0;
      if (whole) {
        memcpy(piece, text + i, n);
        piece_length = n;
        i += n - 1;
      } else {
        piece_length = (size_t)snprintf(piece, sizeof piece, "\\x%02x", c);
      }
    } else {
      piece[0] = (char)c;
      piece_length = 1;
    }
    if (shown >= max_chars || used + piece_length + 4 > size) {
      if (used + 4 <= size) memcpy(out + used, "...", 4);
      else if (size >= 4) memcpy(out + size - 4, "...", 4);
      return out;
    }
    memcpy(out + used, piece, piece_length);
    used += piece_length;
    shown++;
    out[used] = '\0';
  }
  return out;
}
