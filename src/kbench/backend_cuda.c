// The CUDA backend: <dir>/<task>.cu compiled with NVRTC at run time for this GPU's
// architecture (a failure keeps the log), loaded with cuModuleLoadData and launched with
// cuLaunchKernel on the evaluator's own stream. Timing: CUDA events after a device
// synchronize, the persisting L2 lines reset and L2 flushed (a memset over twice its size)
// before each repetition.
//
// Side streams: candidates never see a stream; work outside the evaluator's stream needs a
// device-side launch (CUDA dynamic parallelism), which this backend refuses (the NVRTC log or
// the cubin's symbols show it). Outputs are read after the evaluator's stream alone has
// finished, and again after a device-wide synchronize: a difference is work that ran
// outside the stream, also reported as side_stream.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbench/kbench_internal.h"

#ifndef VDIT_HAVE_CUDA

vdit_status kb_backend_cuda_init(kb_backend *b, const vdit_kbench_options *o) {
  memset(b, 0, sizeof *b);
  (void)o;
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "kbench: this build has no CUDA backend (rebuild with nvcc found, or use --device cpu)");
}

void kb_backend_cuda_free(kb_backend *b) { (void)b; }

vdit_status kb_backend_cuda_precompile(kb_backend *b, int count, const char *const *paths, int threads) {
  (void)b, (void)count, (void)paths, (void)threads;
  return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "kbench: this build has no CUDA backend");
}

#else

#include <cuda.h>
#include <dlfcn.h>
#include <nvrtc.h>
#include <pthread.h>

// The driver API is loaded with dlopen (libcuda.so.1), so that programs linking vdit start
// on machines without a GPU driver; kbench's CUDA mode then reports no device.
#define KB_DRIVER_FUNCTIONS(X)                                                                     \
  X(cuCtxResetPersistingL2Cache) X(cuCtxSetCurrent) X(cuCtxSynchronize) X(cuDeviceGet)              \
  X(cuDeviceGetAttribute) X(cuDeviceGetCount) X(cuDeviceGetName) X(cuDevicePrimaryCtxRelease)       \
  X(cuDevicePrimaryCtxRetain) X(cuEventCreate) X(cuEventDestroy) X(cuEventElapsedTime)              \
  X(cuEventRecord) X(cuEventSynchronize) X(cuFuncSetAttribute) X(cuGetErrorName) X(cuInit)          \
  X(cuLaunchKernel) X(cuMemAlloc) X(cuMemFree) X(cuMemcpyDtoH) X(cuMemcpyDtoHAsync)                \
  X(cuMemcpyHtoDAsync) X(cuMemsetD16Async) X(cuMemsetD32Async) X(cuMemsetD8Async)                 \
  X(cuModuleGetFunction) X(cuModuleLoadData) X(cuModuleUnload) X(cuStreamCreate) X(cuStreamDestroy) \
  X(cuStreamSynchronize)

// cuda.h maps some names to versioned symbols (cuMemAlloc -> cuMemAlloc_v2): the member names
// and the dlsym strings both go through that mapping.
#define KB_STRING(x) KB_STRING_(x)
#define KB_STRING_(x) #x
#define KB_DRIVER_MEMBER(name) __typeof__(&name) name;

typedef struct kb_driver {
  int loaded;
  char error[256];
  KB_DRIVER_FUNCTIONS(KB_DRIVER_MEMBER)
} kb_driver;

// Loaded once per process (the table is read-only afterwards, like the driver itself).
static kb_driver kb_driver_table;
static pthread_once_t kb_driver_once = PTHREAD_ONCE_INIT;

static void kb_driver_load(void) {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    snprintf(kb_driver_table.error, sizeof kb_driver_table.error, "no CUDA driver (libcuda.so.1): %s", dlerror());
    return;
  }
#define KB_DRIVER_LOAD(name)                                                                      \
  {                                                                                              \
    void *symbol = dlsym(library, KB_STRING(name));                                              \
    if (!symbol) {                                                                               \
      snprintf(kb_driver_table.error, sizeof kb_driver_table.error, "the CUDA driver has no %s", KB_STRING(name)); \
      return;                                                                                    \
    }                                                                                            \
    memcpy(&kb_driver_table.name, &symbol, sizeof symbol);                                       \
  }
  KB_DRIVER_FUNCTIONS(KB_DRIVER_LOAD)
  kb_driver_table.loaded = 1;
}

#define KB_CU(name) (kb_driver_table.name)

#define CU_TRY(call)                                                                                 \
  do {                                                                                               \
    CUresult cu_result_ = (call);                                                                    \
    if (cu_result_ != CUDA_SUCCESS) {                                                                \
      const char *cu_name_ = NULL;                                                                   \
      KB_CU(cuGetErrorName)(cu_result_, &cu_name_);                                                         \
      return VDIT_ERROR(VDIT_ERROR_CUDA, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,          \
                        cu_name_ ? cu_name_ : "?");                                                 \
    }                                                                                                \
  } while (0)

typedef struct cuda_kernel {
  CUmodule module;
  CUfunction plan, stage[KB_MAX_STAGES];
  kb_launch launch; // the plan of the last problem run
} cuda_kernel;

// A compiled candidate, from the parallel NVRTC pass before the evaluation.
typedef struct compiled_entry {
  char path[2048];
  void *cubin;
  size_t size;
  vdit_kbench_reason reason;
  char detail[320];
  vdit_status status;
  char error[256];
} compiled_entry;

typedef struct cuda_state {
  const vdit_kbench_options *options;
  compiled_entry *cache;
  int cache_count;
  CUdevice device;
  CUcontext context;
  CUstream stream;
  CUevent start, stop, done;
  CUdeviceptr flush, plan_buffer;
  size_t flush_bytes;
  int major, minor, max_shared;
  char name[256];
} cuda_state;

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
  if (text && fread(text, 1, (size_t)size, f) != (size_t)size) free(text), text = NULL;
  if (text) text[size] = 0;
  fclose(f);
  return text;
}

static int contains(const char *data, size_t size, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= size; i++)
    if (data[i] == needle[0] && memcmp(data + i, needle, n) == 0) return 1;
  return 0;
}

static void one_line(char *text) {
  for (char *c = text; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
}

vdit_status kb_nvrtc_compile(const char *path, int major, int minor, const char *include_dir, const char *log_dir,
                             void **cubin_out, size_t *cubin_size_out, vdit_kbench_reason *reason, char *detail,
                             size_t detail_size) {
  *cubin_out = NULL, *cubin_size_out = 0;
  *reason = VDIT_KBENCH_PASS;
  char *source = read_text(path);
  if (!source) {
    *reason = VDIT_KBENCH_MISSING;
    snprintf(detail, detail_size, "no %s", path);
    return VDIT_OK;
  }
  nvrtcProgram program;
  if (nvrtcCreateProgram(&program, source, path, 0, NULL, NULL) != NVRTC_SUCCESS) {
    free(source);
    return VDIT_ERROR(VDIT_ERROR_CUDA, "kbench: nvrtcCreateProgram failed for %s", path);
  }
  char arch[64], include[1100];
  snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d%d", major, minor);
  char default_include[1024];
  snprintf(default_include, sizeof default_include, "%s/kbench/include", kb_source_root());
  snprintf(include, sizeof include, "-I%s", include_dir ? include_dir : default_include);
  const char *options[] = {arch, include, "--std=c++17"};
  nvrtcResult compiled = nvrtcCompileProgram(program, 3, options);
  size_t log_size = 0;
  nvrtcGetProgramLogSize(program, &log_size);
  char *log = malloc(log_size + 1);
  if (log) {
    log[0] = 0;
    nvrtcGetProgramLog(program, log);
    log[log_size] = 0;
  }
  if (compiled != NVRTC_SUCCESS) {
    // Keep the whole log next to the build products.
    if (log_dir && log) {
      const char *base = strrchr(path, '/');
      char log_path[2048];
      snprintf(log_path, sizeof log_path, "%s/%s.nvrtc.log", log_dir, base ? base + 1 : path);
      FILE *f = fopen(log_path, "w");
      if (f) fputs(log, f), fclose(f);
    }
    int device_launch = log && (strstr(log, "separate compilation") || strstr(log, "cudaStreamCreate") ||
                                strstr(log, "dynamic parallelism") || strstr(log, "relocatable device code"));
    *reason = device_launch ? VDIT_KBENCH_SIDE_STREAM : VDIT_KBENCH_COMPILE_ERROR;
    if (log) one_line(log);
    snprintf(detail, detail_size, "%s: %s", device_launch ? "device-side launch (work outside the evaluator's stream)"
                                                          : "NVRTC", log ? log : "(no log)");
    free(log), free(source);
    nvrtcDestroyProgram(&program);
    return VDIT_OK;
  }
  free(log), free(source);
  size_t cubin_size = 0;
  char *cubin = NULL;
  if (nvrtcGetCUBINSize(program, &cubin_size) == NVRTC_SUCCESS && (cubin = malloc(cubin_size)))
    nvrtcGetCUBIN(program, cubin);
  nvrtcDestroyProgram(&program);
  if (!cubin) return VDIT_ERROR(VDIT_ERROR_CUDA, "kbench: no cubin from NVRTC for %s", path);
  if (contains(cubin, cubin_size, "cudaLaunchDevice") || contains(cubin, cubin_size, "cudaStreamCreateWithFlags") ||
      contains(cubin, cubin_size, "cudaGetParameterBuffer")) {
    *reason = VDIT_KBENCH_SIDE_STREAM;
    snprintf(detail, detail_size, "the module launches kernels from the device (work outside the evaluator's stream)");
    free(cubin);
    return VDIT_OK;
  }
  *cubin_out = cubin, *cubin_size_out = cubin_size;
  return VDIT_OK;
}

static vdit_status cuda_load(kb_backend *b, const char *dir, const char *task, void **kernel,
                             vdit_kbench_reason *reason, char *detail, size_t detail_size) {
  cuda_state *s = b->state;
  char path[2048];
  snprintf(path, sizeof path, "%s/%s.cu", dir, task);
  *kernel = NULL;
  void *cubin = NULL;
  size_t cubin_size = 0;
  compiled_entry *cached = NULL;
  for (int i = 0; i < s->cache_count && !cached; i++)
    if (strcmp(s->cache[i].path, path) == 0) cached = &s->cache[i];
  if (cached) {
    if (cached->status != VDIT_OK) return VDIT_ERROR(cached->status, "%s", cached->error);
    *reason = cached->reason;
    snprintf(detail, detail_size, "%s", cached->detail);
    if (cached->cubin) {
      cubin = malloc(cached->size);
      if (!cubin) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
      memcpy(cubin, cached->cubin, cached->size);
      cubin_size = cached->size;
    }
  } else {
    VDIT_TRY(kb_nvrtc_compile(path, s->major, s->minor, s->options->include_dir, s->options->build_dir, &cubin,
                              &cubin_size, reason, detail, detail_size));
  }
  if (*reason != VDIT_KBENCH_PASS) return VDIT_OK;
  cuda_kernel *k = calloc(1, sizeof *k);
  if (!k) { free(cubin); return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory"); }
  CUresult loaded = KB_CU(cuModuleLoadData)(&k->module, cubin);
  free(cubin);
  if (loaded != CUDA_SUCCESS) {
    const char *name = NULL;
    KB_CU(cuGetErrorName)(loaded, &name);
    *reason = VDIT_KBENCH_LOAD_ERROR;
    snprintf(detail, detail_size, "cuModuleLoadData: %s", name ? name : "?");
    free(k);
    return VDIT_OK;
  }
  if (KB_CU(cuModuleGetFunction)(&k->plan, k->module, "kb_plan") != CUDA_SUCCESS ||
      KB_CU(cuModuleGetFunction)(&k->stage[0], k->module, "kb_stage0") != CUDA_SUCCESS) {
    *reason = VDIT_KBENCH_LOAD_ERROR;
    snprintf(detail, detail_size, "no extern \"C\" kb_plan / kb_stage0 kernels in %s", path);
    KB_CU(cuModuleUnload)(k->module);
    free(k);
    return VDIT_OK;
  }
  for (int i = 1; i < KB_MAX_STAGES; i++) {
    char name[16];
    snprintf(name, sizeof name, "kb_stage%d", i);
    if (KB_CU(cuModuleGetFunction)(&k->stage[i], k->module, name) != CUDA_SUCCESS) k->stage[i] = NULL;
  }
  *kernel = k;
  return VDIT_OK;
}

static void cuda_unload(kb_backend *b, void *kernel) {
  cuda_kernel *k = kernel;
  if (!k) return;
  KB_CU(cuModuleUnload)(k->module);
  free(k);
}

static vdit_status cuda_alloc(kb_backend *b, const kb_problem *p, kb_buffers *buf) {
  memset(buf, 0, sizeof *buf);
  for (int k = 0; k < p->in_count; k++) {
    CUdeviceptr d;
    CU_TRY(KB_CU(cuMemAlloc)(&d, kb_tensor_bytes(&p->in[k]) + 256));
    buf->in[k] = (void *)(uintptr_t)d;
  }
  for (int k = 0; k < p->out_count; k++) {
    CUdeviceptr d;
    CU_TRY(KB_CU(cuMemAlloc)(&d, kb_tensor_bytes(&p->out[k]) + 256));
    buf->out[k] = (void *)(uintptr_t)d;
  }
  CUdeviceptr w;
  CU_TRY(KB_CU(cuMemAlloc)(&w, p->work_bytes > 0 ? p->work_bytes : 1024));
  buf->work = (void *)(uintptr_t)w;
  return VDIT_OK;
}

static void cuda_release(kb_backend *b, const kb_problem *p, kb_buffers *buf) {
  for (int k = 0; k < KB_MAX_IN; k++) if (buf->in[k]) KB_CU(cuMemFree)((CUdeviceptr)(uintptr_t)buf->in[k]);
  for (int k = 0; k < KB_MAX_OUT; k++) if (buf->out[k]) KB_CU(cuMemFree)((CUdeviceptr)(uintptr_t)buf->out[k]);
  if (buf->work) KB_CU(cuMemFree)((CUdeviceptr)(uintptr_t)buf->work);
  memset(buf, 0, sizeof *buf);
}

static vdit_status cuda_upload(kb_backend *b, const kb_problem *p, kb_buffers *buf) {
  cuda_state *s = b->state;
  for (int k = 0; k < p->in_count; k++)
    CU_TRY(KB_CU(cuMemcpyHtoDAsync)((CUdeviceptr)(uintptr_t)buf->in[k], p->in[k].data, kb_tensor_bytes(&p->in[k]), s->stream));
  CU_TRY(KB_CU(cuStreamSynchronize)(s->stream));
  return VDIT_OK;
}

// Runs kb_plan and validates the launch configuration it wrote.
static vdit_status plan(cuda_state *s, cuda_kernel *k, kb_args *args, vdit_kbench_reason *reason, char *detail,
                        size_t detail_size) {
  CU_TRY(KB_CU(cuMemsetD8Async)(s->plan_buffer, 0, sizeof(kb_launch), s->stream));
  void *params[] = {args, &s->plan_buffer};
  CU_TRY(KB_CU(cuLaunchKernel)(k->plan, 1, 1, 1, 1, 1, 1, 0, s->stream, params, NULL));
  CU_TRY(KB_CU(cuMemcpyDtoHAsync)(&k->launch, s->plan_buffer, sizeof k->launch, s->stream));
  CU_TRY(KB_CU(cuStreamSynchronize)(s->stream));
  kb_launch *l = &k->launch;
  const char *problem = NULL;
  if (l->stages < 1 || l->stages > KB_MAX_STAGES) problem = "stages must be 1..4";
  for (int i = 0; i < l->stages && !problem; i++) {
    uint64_t threads = (uint64_t)l->block[i][0] * l->block[i][1] * l->block[i][2];
    if (!k->stage[i]) problem = "a planned stage has no kb_stage kernel";
    else if (threads == 0 || threads > 1024) problem = "a block must have 1..1024 threads";
    else if (!l->grid[i][0] || !l->grid[i][1] || !l->grid[i][2] || l->grid[i][1] > 65535 || l->grid[i][2] > 65535)
      problem = "a grid dimension is 0 or too large";
    else if ((int)l->shared_bytes[i] > s->max_shared) problem = "dynamic shared memory beyond the device's limit";
    else if (l->shared_bytes[i] > 48 * 1024)
      CU_TRY(KB_CU(cuFuncSetAttribute)(k->stage[i], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)l->shared_bytes[i]));
  }
  if (problem) {
    *reason = VDIT_KBENCH_LAUNCH_ERROR;
    snprintf(detail, detail_size, "bad launch plan: %s", problem);
  }
  return VDIT_OK;
}

static CUresult launch_stages(cuda_state *s, cuda_kernel *k, kb_args *args) {
  void *params[] = {args};
  for (int i = 0; i < k->launch.stages; i++) {
    const kb_launch *l = &k->launch;
    CUresult r = KB_CU(cuLaunchKernel)(k->stage[i], l->grid[i][0], l->grid[i][1], l->grid[i][2], l->block[i][0],
                                l->block[i][1], l->block[i][2], l->shared_bytes[i], s->stream, params, NULL);
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}

static void poison_device(cuda_state *s, void *ptr, vdit_dtype dtype, size_t count, int variant) {
  CUdeviceptr d = (CUdeviceptr)(uintptr_t)ptr;
  uint32_t bits = kb_poison_bits(dtype, variant);
  int size = vdit_dtype_element_bytes(dtype);
  if (size == 4) KB_CU(cuMemsetD32Async)(d, bits, count, s->stream);
  else if (size == 2) KB_CU(cuMemsetD16Async)(d, (unsigned short)bits, count, s->stream);
  else KB_CU(cuMemsetD8Async)(d, (unsigned char)bits, count, s->stream);
}

static vdit_status cuda_run(kb_backend *b, void *kernel, const kb_problem *p, kb_buffers *buf, int poison,
                            void **out_host, void **in_host, vdit_kbench_reason *reason, char *detail,
                            size_t detail_size) {
  cuda_state *s = b->state;
  cuda_kernel *k = kernel;
  VDIT_TRY(cuda_upload(b, p, buf));
  for (int o = 0; o < p->out_count; o++) poison_device(s, buf->out[o], p->out[o].dtype, p->out[o].count, poison);
  CU_TRY(KB_CU(cuMemsetD8Async)((CUdeviceptr)(uintptr_t)buf->work, poison ? 0x5a : 0xa5,
                         p->work_bytes > 0 ? p->work_bytes : 1024, s->stream));
  kb_args args;
  kb_make_args(p, buf, &args);
  VDIT_TRY(plan(s, k, &args, reason, detail, detail_size));
  if (*reason != VDIT_KBENCH_PASS) return VDIT_OK;
  CUresult r = launch_stages(s, k, &args);
  if (r == CUDA_SUCCESS) r = KB_CU(cuEventRecord)(s->done, s->stream);
  if (r == CUDA_SUCCESS) r = KB_CU(cuEventSynchronize)(s->done); // the evaluator's stream, nothing else
  for (int o = 0; o < p->out_count && r == CUDA_SUCCESS; o++)
    r = KB_CU(cuMemcpyDtoHAsync)(out_host[o], (CUdeviceptr)(uintptr_t)buf->out[o], kb_tensor_bytes(&p->out[o]), s->stream);
  for (int i = 0; i < p->in_count && r == CUDA_SUCCESS; i++)
    r = KB_CU(cuMemcpyDtoHAsync)(in_host[i], (CUdeviceptr)(uintptr_t)buf->in[i], kb_tensor_bytes(&p->in[i]), s->stream);
  if (r == CUDA_SUCCESS) r = KB_CU(cuStreamSynchronize)(s->stream);
  if (r == CUDA_SUCCESS) r = KB_CU(cuCtxSynchronize)();
  // Read again after the whole device is idle: late writes came from outside the stream.
  for (int o = 0; o < p->out_count && r == CUDA_SUCCESS; o++) {
    size_t bytes = kb_tensor_bytes(&p->out[o]);
    void *again = malloc(bytes);
    if (!again) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
    r = KB_CU(cuMemcpyDtoH)(again, (CUdeviceptr)(uintptr_t)buf->out[o], bytes);
    if (r == CUDA_SUCCESS && memcmp(again, out_host[o], bytes) != 0) {
      *reason = VDIT_KBENCH_SIDE_STREAM;
      snprintf(detail, detail_size, "output %d changed after the evaluator's stream had finished", o);
    }
    free(again);
  }
  if (r != CUDA_SUCCESS) {
    const char *name = NULL;
    KB_CU(cuGetErrorName)(r, &name);
    *reason = VDIT_KBENCH_LAUNCH_ERROR;
    snprintf(detail, detail_size, "CUDA error %s (the context may be unusable now)", name ? name : "?");
  }
  return VDIT_OK;
}

static vdit_status cuda_time_once(kb_backend *b, void *kernel, const kb_problem *p, kb_buffers *buf, double *seconds) {
  cuda_state *s = b->state;
  cuda_kernel *k = kernel;
  kb_args args;
  kb_make_args(p, buf, &args);
  vdit_kbench_reason reason = VDIT_KBENCH_PASS;
  char detail[128];
  VDIT_TRY(plan(s, k, &args, &reason, detail, sizeof detail));
  if (reason != VDIT_KBENCH_PASS) return VDIT_ERROR(VDIT_ERROR_INTERNAL, "kbench: %s: %s", p->task->name, detail);
  CU_TRY(KB_CU(cuCtxSynchronize)());
  CU_TRY(KB_CU(cuCtxResetPersistingL2Cache)());
  CU_TRY(KB_CU(cuMemsetD8Async)(s->flush, 0, s->flush_bytes, s->stream));
  CU_TRY(KB_CU(cuEventRecord)(s->start, s->stream));
  CU_TRY(launch_stages(s, k, &args));
  CU_TRY(KB_CU(cuEventRecord)(s->stop, s->stream));
  CU_TRY(KB_CU(cuEventSynchronize)(s->stop));
  float ms = 0;
  CU_TRY(KB_CU(cuEventElapsedTime)(&ms, s->start, s->stop));
  *seconds = ms * 1e-3;
  return VDIT_OK;
}

static vdit_status cuda_state_init(cuda_state *s) {
  pthread_once(&kb_driver_once, kb_driver_load);
  if (!kb_driver_table.loaded) return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "kbench: %s (use --device cpu)", kb_driver_table.error);
  CU_TRY(KB_CU(cuInit)(0));
  int count = 0;
  CU_TRY(KB_CU(cuDeviceGetCount)(&count));
  if (count < 1) return VDIT_ERROR(VDIT_ERROR_NO_DEVICE, "kbench: no GPU found (use --device cpu)");
  CU_TRY(KB_CU(cuDeviceGet)(&s->device, 0));
  CU_TRY(KB_CU(cuDevicePrimaryCtxRetain)(&s->context, s->device));
  CU_TRY(KB_CU(cuCtxSetCurrent)(s->context));
  CU_TRY(KB_CU(cuDeviceGetName)(s->name, sizeof s->name, s->device));
  CU_TRY(KB_CU(cuDeviceGetAttribute)(&s->major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s->device));
  CU_TRY(KB_CU(cuDeviceGetAttribute)(&s->minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s->device));
  CU_TRY(KB_CU(cuDeviceGetAttribute)(&s->max_shared, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, s->device));
  int l2 = 0;
  CU_TRY(KB_CU(cuDeviceGetAttribute)(&l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, s->device));
  s->flush_bytes = 2 * (size_t)(l2 > 0 ? l2 : 64 << 20);
  CU_TRY(KB_CU(cuStreamCreate)(&s->stream, CU_STREAM_NON_BLOCKING));
  CU_TRY(KB_CU(cuEventCreate)(&s->start, CU_EVENT_DEFAULT));
  CU_TRY(KB_CU(cuEventCreate)(&s->stop, CU_EVENT_DEFAULT));
  CU_TRY(KB_CU(cuEventCreate)(&s->done, CU_EVENT_DEFAULT));
  CU_TRY(KB_CU(cuMemAlloc)(&s->flush, s->flush_bytes));
  CU_TRY(KB_CU(cuMemAlloc)(&s->plan_buffer, sizeof(kb_launch)));
  return VDIT_OK;
}

typedef struct compile_job {
  cuda_state *state;
  int next, count;
  pthread_mutex_t lock;
} compile_job;

static void *compile_worker(void *argument) {
  compile_job *job = argument;
  for (;;) {
    pthread_mutex_lock(&job->lock);
    int i = job->next++;
    pthread_mutex_unlock(&job->lock);
    if (i >= job->count) return NULL;
    compiled_entry *e = &job->state->cache[i];
    cuda_state *s = job->state;
    e->status = kb_nvrtc_compile(e->path, s->major, s->minor, s->options->include_dir, s->options->build_dir, &e->cubin,
                                 &e->size, &e->reason, e->detail, sizeof e->detail);
    if (e->status != VDIT_OK) snprintf(e->error, sizeof e->error, "%s", vdit_last_error());
  }
}

vdit_status kb_backend_cuda_precompile(kb_backend *b, int count, const char *const *paths, int threads) {
  cuda_state *s = b->state;
  compiled_entry *cache = calloc(count > 0 ? (size_t)count : 1, sizeof *cache);
  if (!cache) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
  for (int i = 0; i < count; i++) snprintf(cache[i].path, sizeof cache[i].path, "%s", paths[i]);
  s->cache = cache, s->cache_count = count;
  compile_job job = {s, 0, count, PTHREAD_MUTEX_INITIALIZER};
  pthread_t workers[64];
  int started = 0;
  if (threads > 64) threads = 64;
  for (int t = 0; t < threads; t++)
    if (pthread_create(&workers[started], NULL, compile_worker, &job) == 0) started++;
  if (started == 0) compile_worker(&job);
  for (int t = 0; t < started; t++) pthread_join(workers[t], NULL);
  return VDIT_OK;
}

vdit_status kb_backend_cuda_init(kb_backend *b, const vdit_kbench_options *o) {
  memset(b, 0, sizeof *b);
  cuda_state *s = calloc(1, sizeof *s);
  if (!s) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory");
  s->options = o;
  vdit_status status = cuda_state_init(s);
  if (status != VDIT_OK) {
    free(s);
    return status;
  }
  b->state = s;
  b->device_name = s->name;
  b->load = cuda_load, b->unload = cuda_unload, b->alloc = cuda_alloc, b->release = cuda_release;
  b->run = cuda_run, b->upload = cuda_upload, b->time_once = cuda_time_once;
  // H100 SXM: 989 dense bf16 TFLOP/s, 3.35 TB/s (the roofline's generous side).
  b->peak_tflops = 989.0, b->peak_gbs = 3350.0;
  return VDIT_OK;
}

void kb_backend_cuda_free(kb_backend *b) {
  cuda_state *s = b->state;
  if (!s) return;
  KB_CU(cuMemFree)(s->flush), KB_CU(cuMemFree)(s->plan_buffer);
  KB_CU(cuEventDestroy)(s->start), KB_CU(cuEventDestroy)(s->stop), KB_CU(cuEventDestroy)(s->done);
  KB_CU(cuStreamDestroy)(s->stream);
  KB_CU(cuDevicePrimaryCtxRelease)(s->device);
  for (int i = 0; i < s->cache_count; i++) free(s->cache[i].cubin);
  free(s->cache);
  free(s);
  b->state = NULL;
}

#endif // VDIT_HAVE_CUDA
