// What the safetensors reader and writer share: the format's dtype names and sizes, sorting
// names, and quoting of untrusted names for one-line messages.
#ifndef VDIT_TENSOR_SAFETENSORS_FORMAT_H
#define VDIT_TENSOR_SAFETENSORS_FORMAT_H

#include <stddef.h>

#include "vdit/num.h"

// One dtype of the safetensors format (huggingface/safetensors, Dtype). Sizes are in bits:
// a tensor's bytes are element_count * bits / 8, and that product must be whole bytes
// (so an F4 tensor has an even number of elements, an F6 one a multiple of 4).
typedef struct safetensors_dtype {
  const char *name; // "BF16"
  int bits;
  vdit_dtype dtype; // VDIT_DTYPE_COUNT where vdit has no such type
} safetensors_dtype;

// The entry for the name text[0..length), or NULL if the format has no such dtype.
const safetensors_dtype *safetensors_dtype_from_name(const char *text, size_t length);
// The entry for a vdit dtype (every vdit dtype has one), or NULL for an invalid value.
const safetensors_dtype *safetensors_dtype_from_vdit(vdit_dtype dtype);
// "F64, F32, ..." for messages.
const char *safetensors_dtype_list(void);

// A name and its index, sorted by name with safetensors_compare_names (qsort has no context
// argument): how the reader indexes names and the writer finds duplicates.
typedef struct safetensors_name_ref {
  const char *name;
  size_t index;
} safetensors_name_ref;
int safetensors_compare_names(const void *a, const void *b);

// Writes `text` into out[0..size) for a message: at most `max_chars` characters, control
// characters, quotes, backslashes and bytes >= 0x7f escaped (\n, \x1b, ...), "..." when
// cut. Returns `out`.
char *safetensors_quote(const char *text, size_t length, size_t max_chars, char *out, size_t size);

#endif // VDIT_TENSOR_SAFETENSORS_FORMAT_H
