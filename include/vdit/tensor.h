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

// ---------------------------------------------------------------- devices and device memory
// Without the CUDA backend, or without a GPU, any request for a CUDA device fails with
// VDIT_ERROR_NO_DEVICE and a one-line hint. Host memory from these calls is 64-byte aligned
// (VDIT_HOST_ALIGNMENT), device memory 256-byte aligned (cudaMalloc).

// VDIT_OK if `device` can be used now: always for the CPU; for CUDA, a build with CUDA and a
// GPU of that index.
vdit_status vdit_device_check(vdit_device device);
// "cpu" or "cuda:<index>" into `buffer` (16 bytes are enough); returns `buffer`.
char *vdit_device_string(vdit_device device, char *buffer, size_t size);
int vdit_device_equal(vdit_device a, vdit_device b);

// `bytes` == 0 gives *ptr = NULL and VDIT_OK. Release with vdit_device_free on the same device.
vdit_status vdit_device_alloc(vdit_device device, size_t bytes, void **ptr);
void vdit_device_free(vdit_device device, void *ptr);
// Copies `bytes` between any two devices (host->host, host->device, device->host,
// device->device, also between two GPUs). Returns when the copy is complete. The two
// ranges must not overlap (host->host tolerates overlap).
vdit_status vdit_memcpy(vdit_device dst_device, void *dst, vdit_device src_device, const void *src, size_t bytes);
// Waits for all work on `device` (nothing to wait for on the CPU).
vdit_status vdit_device_synchronize(vdit_device device);

// ---------------------------------------------------------------- tensors
// Ownership: a tensor from vdit_tensor_alloc owns its memory (`allocation` != NULL) and is
// released with vdit_tensor_free. Views (vdit_tensor_view, _permute, _reshape) and arena
// tensors own nothing; they stay valid while the memory they point into does. Calling
// vdit_tensor_free on a view or an arena tensor only clears the descriptor.
//
// Shapes have 0..VDIT_MAX_DIMS dims (0 dims: a scalar of one element); a dim may be 0 (a
// tensor of no elements, data NULL). Strides are in elements and may be negative or 0 in a
// view; a tensor written to (copy, convert, fill) must not map two elements to one address.

// Contiguous (row-major) tensor: 64-byte aligned host memory or cudaMalloc on a GPU.
// On failure *t is zeroed.
vdit_status vdit_tensor_alloc(vdit_tensor *t, vdit_dtype dtype, vdit_device device, int ndim, const int64_t *shape);
void vdit_tensor_free(vdit_tensor *t);

// Wraps existing memory; `stride` NULL means contiguous. For f4_e2m1 (packed two per byte,
// element 2i in the low nibble of byte i) the innermost stride must be 1 and none negative.
// A device view's data must be aligned to its element size.
vdit_status vdit_tensor_view(vdit_tensor *t, void *data, vdit_dtype dtype, vdit_device device, int ndim,
                             const int64_t *shape, const int64_t *stride);

// Product of the shape (1 for 0 dims).
int64_t vdit_tensor_numel(const vdit_tensor *t);
// Bytes of numel elements stored contiguously (f4 rounds up to a whole byte).
size_t vdit_tensor_bytes(const vdit_tensor *t);
// 1 if the strides are the row-major ones (dims of size 1 may have any stride; a tensor of
// no elements is contiguous).
int vdit_tensor_is_contiguous(const vdit_tensor *t);
// 1 if both have the same ndim and shape (dtype, device and strides are not compared).
int vdit_tensor_same_shape(const vdit_tensor *a, const vdit_tensor *b);
// "(2, 3, 4)", "()" for a scalar; truncated to `size`. Returns `buffer`.
#define VDIT_SHAPE_STRING_SIZE 128
char *vdit_tensor_shape_string(const vdit_tensor *t, char *buffer, size_t size);

// A view whose dim i is dim order[i] of `t` (order is a permutation of 0..ndim-1).
// `out` may be `t`.
vdit_status vdit_tensor_permute(const vdit_tensor *t, const int *order, vdit_tensor *out);
// A view of contiguous `t` with a new shape of the same numel; one entry may be -1 (inferred).
// A non-contiguous `t` is an error (copy it first). `out` may be `t`.
vdit_status vdit_tensor_reshape(const vdit_tensor *t, int ndim, const int64_t *shape, vdit_tensor *out);

// dst = src for the same dtype and shape on any pair of devices, any strides on both sides
// (contiguous pairs take one memcpy; strided device tensors go through a CUDA kernel, and
// between different devices through a contiguous staging buffer). The two must not overlap.
vdit_status vdit_tensor_copy(vdit_tensor *dst, const vdit_tensor *src);
// dst = src converted to dst's dtype, for the same shape on any pair of devices, any strides.
// Same dtype is a copy. Every pair of float dtypes (f64, f32, f16, bf16, f8_e4m3, f8_e5m2,
// f4_e2m1, e8m0) goes through fp32 with the num layer's conversions: each element gets the
// bits of vdit_<dst>_from_float(vdit_<src>_to_float(x)) (round to nearest even, each format's
// overflow and NaN rule, see vdit/num.h). f64 rounds to f32 first, so f64 -> a narrower
// format rounds twice (a value within half an f32 ulp of a midpoint can tie the other way).
// With dst on a GPU the num layer's kernels do the work (strided tensors are staged into
// contiguous ones on that GPU; strided f4 on a GPU is VDIT_ERROR_UNSUPPORTED); f64 on a GPU
// and a GPU src with a host dst are converted on the host. Integer and bool dtypes give
// VDIT_ERROR_UNSUPPORTED. The two must not overlap.
vdit_status vdit_tensor_convert(vdit_tensor *dst, const vdit_tensor *src);

// ---------------------------------------------------------------- test fills
// Writes a quiet NaN into every element so that an output a kernel forgets to write shows:
// f64 0x7ff8000000000000, f32 0x7fc00000, f16 0x7e00, bf16 0x7fc0, f8_e4m3 0x7f,
// f8_e5m2 0x7e, e8m0 0xff; formats without NaN (f4_e2m1, integers, bool) get 0xAA bytes.
vdit_status vdit_tensor_poison(vdit_tensor *t);
// Number of NaN elements (any NaN encoding) of a tensor of a dtype that has NaNs; other
// dtypes are an error. Device tensors are staged through host memory.
vdit_status vdit_tensor_count_nan(const vdit_tensor *t, int64_t *count);

// Philox fills of f32 and f64 tensors on the CPU or a GPU, the same bits on both: the element
// at row-major index i takes element offset + i of the stream `seed` (see vdit_rng_uniform,
// vdit_rng_normal) as v, then x = a + b * v with each operation rounded once:
//   uniform: f32: a = (float)low, b = (float)high - (float)low (in float); f64: a = low,
//            b = high - low (in double), v = (double)u. x lies in [low, high]
//            up to the rounding of a + b * u at the ends.
//   normal:  f32: a = (float)mean, b = (float)std; f64: a = mean, b = std, v = (double)z.
vdit_status vdit_tensor_fill_uniform(vdit_tensor *t, uint64_t seed, uint64_t offset, double low, double high);
vdit_status vdit_tensor_fill_normal(vdit_tensor *t, uint64_t seed, uint64_t offset, double mean, double std);

// ---------------------------------------------------------------- arenas
// A bump allocator over one block of host or device memory: allocations are carved in
// order and released all at once by vdit_arena_reset. `peak` is the largest `used` seen
// since init (reset keeps it), for sizing the arena of a workload.
#define VDIT_ARENA_ALIGNMENT 256 // alignment of the block and of vdit_arena_tensor data
typedef struct vdit_arena {
  vdit_device device;
  void *base;      // the block (NULL when capacity is 0)
  size_t capacity; // bytes
  size_t used;     // bytes from base to the end of the last allocation
  size_t peak;     // largest `used` since init
} vdit_arena;

vdit_status vdit_arena_init(vdit_arena *arena, vdit_device device, size_t capacity);
// `alignment` a power of two (0 means VDIT_ARENA_ALIGNMENT); `bytes` 0 gives *ptr = NULL.
// Running out is VDIT_ERROR_OUT_OF_MEMORY naming the capacity, the bytes used and requested.
vdit_status vdit_arena_alloc(vdit_arena *arena, size_t bytes, size_t alignment, void **ptr);
// A contiguous tensor in the arena (owns nothing), data aligned to VDIT_ARENA_ALIGNMENT.
vdit_status vdit_arena_tensor(vdit_arena *arena, vdit_tensor *t, vdit_dtype dtype, int ndim, const int64_t *shape);
void vdit_arena_reset(vdit_arena *arena);
void vdit_arena_free(vdit_arena *arena);

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
