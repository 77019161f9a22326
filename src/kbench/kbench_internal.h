// Internal structures of vdit kbench: tasks, their families, problems (one shape with its
// inputs, reference and baseline) and the backends that run candidates (CPU shared objects,
// CUDA through NVRTC). docs/kbench.md describes the method.
#ifndef VDIT_KBENCH_INTERNAL_H
#define VDIT_KBENCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kb.h"
#include "vdit/kbench.h"
#include "vdit/num.h"

#define KB_MAX_SHAPES 4

// How an input is drawn (Philox, seeded per task, shape and trial).
typedef enum kb_gen {
  KB_GEN_NONE = 0,   // filled by the family's prepare step
  KB_GEN_NORMAL,     // N(0, scale^2); outlier mode: a few channels (last dim) 10-50x larger
  KB_GEN_UNIFORM,    // U(low, high)
  KB_GEN_INDEX,      // integers in [0, high) (i32)
  KB_GEN_BF16,       // N(0, scale^2) stored as bf16 codes; outliers as for NORMAL
  KB_GEN_MASK,       // bytes 0 or 1 with P(1) = high
} kb_gen;

typedef struct kb_tensor {
  vdit_dtype dtype;  // F32, BF16, I32, I8, U8 (bytes of packed formats), U32
  size_t count;      // elements (bytes for U8)
  int64_t rows;      // leading rows, for the partial-rows diagnosis (1: a single row)
  int64_t channels;  // the last dim, where outliers go (0: no outliers)
  kb_gen gen;
  double low, high, scale;
  void *data;        // host copy
} kb_tensor;

struct kb_task;

typedef struct kb_problem {
  const struct kb_task *task;
  int64_t n[8];
  float f[8];
  int64_t i[4];
  int in_count, out_count;
  kb_tensor in[KB_MAX_IN], out[KB_MAX_OUT];
  double *reference[KB_MAX_OUT]; // fp64 reference (tolerance tasks)
  double *baseline[KB_MAX_OUT];  // the same algorithm in fp32 arithmetic (tolerance tasks)
  void *expected[KB_MAX_OUT];    // exact tasks: the contract's bytes
  double unit_roundoff[KB_MAX_OUT]; // of the output's dtype: 2^-24 for f32
  size_t work_bytes;
  double flops, bytes;
  uint64_t seed; // of the current inputs (prepare steps draw extra values from it)
} kb_problem;

typedef struct kb_family {
  // From p->n, p->f: tensor specs (dtype, count, rows, generator), work bytes, FLOPs, bytes.
  void (*setup)(kb_problem *p);
  // Optional: inputs that depend on others (quantized weights, ...), after the generators.
  void (*prepare)(kb_problem *p);
  // Tolerance tasks: the outputs into out[k] (count doubles each) in fp64 (f32 == 0) or with
  // every operation rounded to f32 (f32 == 1, the same-dtype baseline). Exact tasks: the
  // contract's bytes into p->expected (f32 ignored, out NULL).
  void (*compute)(kb_problem *p, int f32, double **out);
} kb_family;

typedef struct kb_task {
  const char *name;
  vdit_kbench_category category;
  int difficulty;
  const kb_family *family;
  int op;                        // which operation of the family
  int exact;
  double k;                      // tolerance multiplier (0: 8)
  int64_t shapes[KB_MAX_SHAPES][8]; // n[] of each correctness shape; the first is the standard
  int shape_count;
  int64_t timing[8];             // n[] of the timing shape
  float f[8];                    // scalar parameters
  const char *summary;
} kb_task;

const kb_task *kb_task_at(int index);

// Rounds to f32 when f32 is set: one rounding per operation gives f32 arithmetic exactly
// for + - * / sqrt (double holds every product and quotient's rounding correctly).
static inline double kb_r(double x, int f32) { return f32 ? (double)(float)x : x; }

// Families (src/kbench/fam_*.c).
extern const kb_family kb_family_unary, kb_family_binary, kb_family_row_reduce, kb_family_row_map,
    kb_family_loss, kb_family_channel_norm, kb_family_matmul, kb_family_linalg, kb_family_conv,
    kb_family_pool, kb_family_quant, kb_family_qlinear, kb_family_index, kb_family_optimizer,
    kb_family_spatial, kb_family_random, kb_family_fusion, kb_family_attention;

// Operation ids of each family (the task table's `op`).
enum { // unary
  KB_U_RELU, KB_U_LEAKY_RELU, KB_U_GELU_TANH, KB_U_GELU_ERF, KB_U_SILU, KB_U_SIGMOID, KB_U_TANH,
  KB_U_SOFTPLUS, KB_U_ELU, KB_U_SELU, KB_U_HARDSWISH, KB_U_HARDSIGMOID, KB_U_MISH, KB_U_SOFTSIGN,
  KB_U_EXP, KB_U_LOG, KB_U_SQRT, KB_U_RSQRT, KB_U_ABS, KB_U_SIN, KB_U_COS, KB_U_SQUARE,
  KB_U_RECIPROCAL, KB_U_ERF, KB_U_COUNT
};
enum { KB_B_ADD, KB_B_MUL, KB_B_DIV, KB_B_MAXIMUM, KB_B_HYPOT, KB_B_AXPBY, KB_B_COUNT };
enum { KB_R_SUM, KB_R_MEAN, KB_R_MAX, KB_R_MIN, KB_R_L2, KB_R_VAR, KB_R_LOGSUMEXP, KB_R_ARGMAX, KB_R_ARGMIN };
enum { KB_M_LAYER_NORM, KB_M_RMS_NORM, KB_M_L2_NORMALIZE, KB_M_SOFTMAX, KB_M_LOG_SOFTMAX, KB_M_CUMSUM };
enum { KB_L_MSE, KB_L_L1, KB_L_HUBER, KB_L_BCE, KB_L_KL_DIV, KB_L_CROSS_ENTROPY };
enum { KB_CN_GROUP, KB_CN_INSTANCE, KB_CN_BATCH };
enum { KB_MM_MATMUL, KB_MM_LINEAR, KB_MM_LINEAR_BF16, KB_MM_BMM, KB_MM_MATMUL_TA };
enum { KB_LA_TRANSPOSE, KB_LA_GEMV, KB_LA_TRIL, KB_LA_OUTER, KB_LA_FROBENIUS, KB_LA_DIAG_SCALE };
enum { KB_CV_CONV1D, KB_CV_CONV2D, KB_CV_DEPTHWISE, KB_CV_POINTWISE, KB_CV_PATCH_EMBED };
enum { KB_P_MAX2D, KB_P_AVG2D, KB_P_GLOBAL_AVG, KB_P_MAX1D };
enum { KB_Q_INT8_ROW, KB_Q_INT8_BLOCK, KB_Q_NVFP4, KB_Q_MXFP4, KB_Q_MXFP8_E4M3, KB_Q_MXFP8_E5M2,
       KB_Q_CAST_BF16, KB_Q_CAST_E4M3, KB_Q_DEQUANT_NVFP4 };
enum { KB_QL_W8A8, KB_QL_W4A16, KB_QL_NVFP4 };
enum { KB_I_EMBEDDING, KB_I_GATHER, KB_I_SCATTER_ADD, KB_I_ONE_HOT, KB_I_MASKED_FILL };
enum { KB_O_ADAMW, KB_O_ADAM, KB_O_SGD_MOMENTUM, KB_O_RMSPROP, KB_O_ADAGRAD, KB_O_LION };
enum { KB_S_ROPE_3D, KB_S_PATCHIFY, KB_S_UNPATCHIFY, KB_S_UPSAMPLE_NEAREST, KB_S_UPSAMPLE_BILINEAR,
       KB_S_PAD, KB_S_FLIP };
enum { KB_RND_UNIFORM, KB_RND_BITS, KB_RND_DROPOUT, KB_RND_BERNOULLI };
enum { KB_F_MODULATE, KB_F_GATED_RESIDUAL, KB_F_MODULATE_LAYER_NORM, KB_F_LINEAR_GELU, KB_F_FFN,
       KB_F_ADD_RMS_NORM, KB_F_TIMESTEP_EMBEDDING };
enum { KB_A_DENSE, KB_A_CAUSAL, KB_A_ROPE, KB_A_W8A8 };

// Tensor spec helpers for families.
void kb_spec(kb_tensor *t, vdit_dtype dtype, size_t count, int64_t rows, int64_t channels, kb_gen gen,
             double low, double high, double scale);

// ---------------------------------------------------------------- backends
typedef struct kb_buffers { // one problem's buffers on the backend's device
  void *in[KB_MAX_IN], *out[KB_MAX_OUT], *work;
} kb_buffers;

typedef struct kb_backend kb_backend;
struct kb_backend {
  void *state;
  const char *device_name;
  // Builds and loads the candidate of `task` from `dir` into *kernel. A missing file gives
  // VDIT_KBENCH_MISSING; failures set *reason and detail (VDIT_OK is still returned: the
  // failure is the candidate's, not the evaluator's).
  vdit_status (*load)(kb_backend *b, const char *dir, const char *task, void **kernel, vdit_kbench_reason *reason,
                      char *detail, size_t detail_size);
  void (*unload)(kb_backend *b, void *kernel);
  vdit_status (*alloc)(kb_backend *b, const kb_problem *p, kb_buffers *buf);
  void (*release)(kb_backend *b, const kb_problem *p, kb_buffers *buf);
  // Copies the inputs in and the poison (variant 0 or 1) over outputs and work, runs the
  // kernel, waits for the evaluator's stream, copies outputs and inputs back into out_host
  // and in_host. *reason != PASS on a candidate failure.
  vdit_status (*run)(kb_backend *b, void *kernel, const kb_problem *p, kb_buffers *buf, int poison,
                     void **out_host, void **in_host, vdit_kbench_reason *reason, char *detail, size_t detail_size);
  // Inputs in once (no poison); then time_once may be called many times.
  vdit_status (*upload)(kb_backend *b, const kb_problem *p, kb_buffers *buf);
  // One timed run after a device sync and an L2 flush: seconds.
  vdit_status (*time_once)(kb_backend *b, void *kernel, const kb_problem *p, kb_buffers *buf, double *seconds);
  double peak_tflops, peak_gbs;
};

vdit_status kb_backend_cpu_init(kb_backend *b, const vdit_kbench_options *o);
void kb_backend_cpu_free(kb_backend *b);
// NVRTC: compiles <path> for sm_<major><minor> into a cubin (free it); a failure is the
// candidate's (*reason, detail; the log goes to log_dir when given). CUDA builds only.
vdit_status kb_nvrtc_compile(const char *path, int major, int minor, const char *include_dir, const char *log_dir,
                             void **cubin, size_t *cubin_size, vdit_kbench_reason *reason, char *detail,
                             size_t detail_size);
vdit_status kb_backend_cuda_init(kb_backend *b, const vdit_kbench_options *o);
void kb_backend_cuda_free(kb_backend *b);
// Compiles the given .cu files with NVRTC on `threads` threads; later loads of those paths
// take the cached cubins (or the cached failure).
vdit_status kb_backend_cuda_precompile(kb_backend *b, int count, const char *const *paths, int threads);

// The poison element of dtype for variant 0 / 1 (its low element-size bytes).
uint32_t kb_poison_bits(vdit_dtype dtype, int variant);
size_t kb_tensor_bytes(const kb_tensor *t);
void kb_fill_poison(void *data, vdit_dtype dtype, size_t count, int variant);

// The kbench source root: $VDIT_KBENCH_ROOT, else the source tree this build came from
// (kbench/include and the bundled methods live under it).
const char *kb_source_root(void);

// The candidate's view of a problem's buffers.
void kb_make_args(const kb_problem *p, const kb_buffers *buf, kb_args *a);

// The evaluation of one task on one backend, in this process.
vdit_status kb_evaluate_with(kb_backend *backend, const vdit_kbench_options *o, int task,
                             vdit_kbench_result *result);

// Problem setup from a task and its n[] (allocates the host tensors), generation, free.
vdit_status kb_problem_init(kb_problem *p, const kb_task *task, const int64_t n[8]);
vdit_status kb_problem_generate(kb_problem *p, uint64_t seed, int outlier, int with_reference);
void kb_problem_free(kb_problem *p);

#endif // VDIT_KBENCH_INTERNAL_H
