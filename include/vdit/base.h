// vdit base layer: status codes and error messages, logging, aligned allocation,
// the Philox random number generator, timers and a progress display.
#ifndef VDIT_BASE_H
#define VDIT_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------- status and errors
// Every fallible call returns a vdit_status. On failure the detail (one line: what went
// wrong and, where there is one, a hint) is kept per thread and read with vdit_last_error().
typedef enum vdit_status {
  VDIT_OK = 0,
  VDIT_ERROR_INVALID_ARGUMENT, // a wrong shape, dtype, flag value or null pointer
  VDIT_ERROR_OUT_OF_MEMORY,    // host or device allocation failed
  VDIT_ERROR_IO,               // a file could not be opened, read, mapped or written
  VDIT_ERROR_CORRUPT_FILE,     // a file's contents break its format
  VDIT_ERROR_UNSUPPORTED,      // a valid request this build or device does not implement
  VDIT_ERROR_NO_DEVICE,        // CUDA asked for, but not built or no GPU present
  VDIT_ERROR_CUDA,             // a CUDA runtime, driver, cuBLAS or NVRTC call failed
  VDIT_ERROR_INTERNAL,         // a broken invariant: a bug in vdit
  VDIT_STATUS_COUNT
} vdit_status;

// "invalid argument", "corrupt file", ...
const char *vdit_status_string(vdit_status status);

// The message of the last failure on this thread ("" if none). Stays valid until the next
// failure on the same thread.
const char *vdit_last_error(void);

// Records a failure and returns `status`, so that `return vdit_error_set(...)` reports and
// propagates in one line. Use the VDIT_ERROR macro, which adds file and line in debug logs.
vdit_status vdit_error_set(vdit_status status, const char *file, int line, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
#define VDIT_ERROR(status, ...) vdit_error_set((status), __FILE__, __LINE__, __VA_ARGS__)

// Clears the thread's last error (tests use it between cases).
void vdit_error_clear(void);

// Propagates a failing status from a callee without rewriting its message.
#define VDIT_TRY(expr)                    \
  do {                                    \
    vdit_status vdit_try_status_ = (expr); \
    if (vdit_try_status_ != VDIT_OK) return vdit_try_status_; \
  } while (0)

// ---------------------------------------------------------------- logging
// Level from the environment variable VDIT_LOG (error|warn|info|debug; default warn),
// read at each call so that no global state is kept. Messages go to stderr.
typedef enum vdit_log_level {
  VDIT_LOG_ERROR = 0,
  VDIT_LOG_WARN,
  VDIT_LOG_INFO,
  VDIT_LOG_DEBUG
} vdit_log_level;

void vdit_log(vdit_log_level level, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int vdit_log_enabled(vdit_log_level level);

// ---------------------------------------------------------------- host memory
// Aligned host allocation (alignment a power of two >= sizeof(void*)); size 0 gives NULL.
// Free with vdit_host_free. Failure sets the last error and returns NULL.
#define VDIT_HOST_ALIGNMENT 64
void *vdit_host_alloc(size_t bytes, size_t alignment);
void vdit_host_free(void *pointer);

// Overflow-checked size arithmetic: returns 0 and leaves *out unchanged on overflow.
int vdit_size_mul(size_t a, size_t b, size_t *out);
int vdit_size_add(size_t a, size_t b, size_t *out);

// ---------------------------------------------------------------- random numbers
// Philox4x32-10 (Salmon et al., SC'11), counter based: element i of the stream
// (seed, offset) depends only on (seed, offset + i), and the CUDA kernels produce the same
// bits. Uniform floats lie in (0, 1); normals come from Box-Muller with vdit's own
// exactly-rounded log/sin/cos, so CPU and GPU give bit-identical values.
typedef struct vdit_philox_key { uint32_t k0, k1; } vdit_philox_key;

// One Philox4x32-10 call: four 32-bit outputs for a 128-bit counter.
void vdit_philox4x32_10(const uint32_t counter[4], vdit_philox_key key, uint32_t out[4]);

// Fill out[0..n) with element (offset + i) of the stream `seed`.
void vdit_rng_uniform(uint64_t seed, uint64_t offset, size_t n, float *out);
void vdit_rng_normal(uint64_t seed, uint64_t offset, size_t n, float *out);
void vdit_rng_u32(uint64_t seed, uint64_t offset, size_t n, uint32_t *out);

// ---------------------------------------------------------------- time and progress
double vdit_time_seconds(void); // monotonic clock

// A progress display: a redrawn line on a terminal, a plain line every `plain_every`
// seconds otherwise. Holds no global state; one per long task.
typedef struct vdit_progress {
  const char *label;
  uint64_t total;
  uint64_t done;
  double start_time;
  double last_draw_time;
  int is_terminal;
  FILE *stream;
} vdit_progress;

void vdit_progress_begin(vdit_progress *progress, const char *label, uint64_t total, FILE *stream);
// Advances to `done` units; `extra` (may be NULL) is printed after the counts (e.g. "loss 0.41").
void vdit_progress_update(vdit_progress *progress, uint64_t done, const char *extra);
void vdit_progress_end(vdit_progress *progress, const char *extra);

// ---------------------------------------------------------------- GPUs
// 1 if this build has the CUDA backend (it may still find no GPU).
int vdit_built_with_cuda(void);

typedef struct vdit_gpu_info {
  char name[256];
  int compute_major, compute_minor;
  int sm_count;
  size_t memory_total_bytes;
  size_t memory_free_bytes;
  size_t l2_cache_bytes;
  size_t shared_memory_per_block_optin_bytes;
  int clock_mhz;        // SM clock
  int memory_clock_mhz;
  int memory_bus_bits;
} vdit_gpu_info;

// Number of usable CUDA devices; 0 (and VDIT_OK) without the CUDA backend or a driver.
vdit_status vdit_gpu_count(int *count);
vdit_status vdit_gpu_query(int index, vdit_gpu_info *info);

#ifdef __cplusplus
}
#endif

#endif // VDIT_BASE_H
