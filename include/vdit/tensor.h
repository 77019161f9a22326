// vdit tensor layer: the tensor descriptor (dtype, device, up to 5 dims, strides), host and
// device memory, arenas, copies between devices, test fills (Philox, NaN poison), and
// safetensors files.
#ifndef VDIT_TENSOR_H
#define VDIT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/base.h"
#include "vdit/num.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VDIT_MAX_DIMS 5

typedef enum vdit_device_type { VDIT_DEVICE_CPU = 0, VDIT_DEVICE_CUDA = 1 } vdit_device_type;

typedef struct vdit_device {
  vdit_device_type type;
  int index; // GPU ordinal for VDIT_DEVICE_CUDA, 0 for the CPU
} vdit_device;

#define VDIT_CPU ((vdit_device){VDIT_DEVICE_CPU, 0})
#define VDIT_CUDA(i) ((vdit_device){VDIT_DEVICE_CUDA, (i)})

// A view of memory. `stride` is in elements (for fp4: the innermost stride must be 1 and
// shapes are in elements). `allocation` is non-NULL when the tensor owns its memory
// (vdit_tensor_alloc); vdit_tensor_free releases it. Views and arena tensors own nothing.
typedef struct vdit_tensor {
  void *data;
  vdit_dtype dtype;
  vdit_device device;
  int ndim;
  int64_t shape[VDIT_MAX_DIMS];
  int64_t stride[VDIT_MAX_DIMS];
  void *allocation;
} vdit_tensor;

// ---------------------------------------------------------------- safetensors files
// Reading maps the file read-only and validates the whole header up front (docs/safetensors.md
// lists the checks): a corrupt or hostile file gives VDIT_ERROR_CORRUPT_FILE with one line
// naming the file and the offending tensor or field; a file that cannot be opened or mapped
// gives VDIT_ERROR_IO. After a successful open every entry's bytes lie inside the map.
// Tensors may have up to VDIT_SAFETENSORS_MAX_DIMS dims in a file; views
// (vdit_safetensors_tensor) need at most VDIT_MAX_DIMS.
#define VDIT_SAFETENSORS_MAX_DIMS 64
#define VDIT_SAFETENSORS_MAX_HEADER_BYTES 100000000 // as the reference implementation

typedef struct vdit_safetensors vdit_safetensors; // an open, validated file

typedef struct vdit_safetensors_info {
  const char *name;       // the tensor's name
  const char *dtype_name; // as the file spells it: "BF16", "F8_E4M3", "F4", ...
  // VDIT_DTYPE_COUNT for a valid safetensors dtype that vdit has no type for (F6_E2M3,
  // F6_E3M2, F8_E4M3FNUZ, F8_E5M2FNUZ, C64): such entries can be listed but not viewed.
  vdit_dtype dtype;
  int ndim;               // 0 for a scalar
  const int64_t *shape;   // ndim dims (NULL when ndim is 0)
  uint64_t element_count; // product of the shape (1 for a scalar)
  uint64_t offset;        // start of the bytes, from the start of the data section
  uint64_t bytes;
  uint64_t file_offset;   // start of the bytes, from the start of the file
  const void *data;       // into the read-only map (NULL when bytes is 0)
} vdit_safetensors_info;

// Opens and validates `path`. All pointers handed out stay valid until vdit_safetensors_close.
// The map is read-only: writing through a pointer or view from it faults. Another process
// truncating the file while it is mapped can still raise SIGBUS (as with any mmap).
vdit_status vdit_safetensors_open(const char *path, vdit_safetensors **file);
void vdit_safetensors_close(vdit_safetensors *file); // NULL is fine

// Tensors in the order the header lists them.
size_t vdit_safetensors_count(const vdit_safetensors *file);
vdit_status vdit_safetensors_entry(const vdit_safetensors *file, size_t index, vdit_safetensors_info *info);
// Index of the tensor `name`; VDIT_ERROR_INVALID_ARGUMENT when the file has none.
vdit_status vdit_safetensors_find(const vdit_safetensors *file, const char *name, size_t *index);
// A CPU view of the mapped data: contiguous strides, allocation NULL, data NULL for a tensor
// of no elements. VDIT_ERROR_UNSUPPORTED for a dtype vdit lacks, more than VDIT_MAX_DIMS dims,
// or data not aligned to its element size (a file written without the header padding).
vdit_status vdit_safetensors_tensor(const vdit_safetensors *file, const char *name, vdit_tensor *view);
vdit_status vdit_safetensors_tensor_at(const vdit_safetensors *file, size_t index, vdit_tensor *view);

// The "__metadata__" string map, in the header's order.
size_t vdit_safetensors_metadata_count(const vdit_safetensors *file);
vdit_status vdit_safetensors_metadata_entry(const vdit_safetensors *file, size_t index, const char **key,
                                            const char **value);
// The value for `key`, or NULL when absent.
const char *vdit_safetensors_metadata_get(const vdit_safetensors *file, const char *key);

const char *vdit_safetensors_path(const vdit_safetensors *file);
uint64_t vdit_safetensors_file_bytes(const vdit_safetensors *file);
uint64_t vdit_safetensors_header_bytes(const vdit_safetensors *file); // the JSON, without the 8-byte length

// Writes `count` CPU tensors (contiguous; any dtype vdit has) named names[i], and the
// metadata pairs (metadata_count may be 0 with NULL arrays), to `path` atomically: a
// temporary file in the same folder is written, fsynced and renamed over `path`.
// The header lists the tensors in the given order and is padded with spaces to a multiple of
// 8 bytes; the data section holds them without gaps (as the format requires), ordered by
// decreasing element size and then as given, so that every tensor is aligned to its element
// size. Tensor names and metadata keys must be unique; all strings valid UTF-8 without NUL;
// "__metadata__" is not a tensor name; f4 tensors need an even element count.
// Errors: VDIT_ERROR_INVALID_ARGUMENT for bad input, VDIT_ERROR_IO for the file system.
vdit_status vdit_safetensors_write(const char *path, size_t count, const char *const *names,
                                   const vdit_tensor *tensors, size_t metadata_count,
                                   const char *const *metadata_keys, const char *const *metadata_values);

#ifdef __cplusplus
}
#endif

#endif // VDIT_TENSOR_H
