// The kbench candidate interface, for C (CPU mode, built as a shared object) and CUDA
// (compiled at run time with NVRTC). docs/kbench.md describes every task's arguments.
//
// A candidate for task T is one file, T.c (CPU) or T.cu (CUDA), that includes this header.
//   C:    int kb_run(const kb_args *a);      returns 0 on success
//   CUDA: extern "C" __global__ void kb_plan(kb_args a, kb_launch *launch);
//         extern "C" __global__ void kb_stage0(kb_args a);   (and kb_stage1..3 if needed)
// The evaluator runs kb_plan with one thread, reads the launch configuration it wrote, then
// launches kb_stage0.. kb_stage<stages-1> in order on its own stream. a.work is scratch
// memory of a.work_bytes bytes (contents undefined on entry).
//
// The KB_ITEMS / KB_ITEMS2 macros write both entry points for the simplest kernels: one
// call of kb_item(a, i) per output item i (a thread each on the GPU, a loop on the CPU).
#ifndef KB_H
#define KB_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define KB_CUDA 1
#define KB_FN static __device__ __forceinline__
#define KB_EXTERN_C extern "C"
typedef long long kb_i64;
typedef unsigned long long kb_u64;
typedef unsigned int kb_u32;
typedef int kb_i32;
typedef unsigned short kb_u16;
typedef unsigned char kb_u8;
typedef signed char kb_i8;
#define KB_FMUL(a, b) __fmul_rn((a), (b))
#define KB_FADD(a, b) __fadd_rn((a), (b))
#define KB_FDIV(a, b) __fdiv_rn((a), (b))
KB_FN kb_u32 kb_bits(float x) { return __float_as_uint(x); }
KB_FN float kb_float(kb_u32 u) { return __uint_as_float(u); }
#define KB_INF __int_as_float(0x7f800000)
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
#define KB_FN static inline
#define KB_EXTERN_C
typedef int64_t kb_i64;
typedef uint64_t kb_u64;
typedef uint32_t kb_u32;
typedef int32_t kb_i32;
typedef uint16_t kb_u16;
typedef uint8_t kb_u8;
typedef int8_t kb_i8;
// C candidates are compiled with -ffp-contract=off: each operation is one rounding.
#define KB_FMUL(a, b) ((a) * (b))
#define KB_FADD(a, b) ((a) + (b))
#define KB_FDIV(a, b) ((a) / (b))
KB_FN kb_u32 kb_bits(float x) { kb_u32 u; memcpy(&u, &x, 4); return u; }
KB_FN float kb_float(kb_u32 u) { float x; memcpy(&x, &u, 4); return x; }
#define KB_INF INFINITY
#endif

#define KB_MAX_IN 8
#define KB_MAX_OUT 3
#define KB_MAX_STAGES 4

// Tensors are raw pointers in the layout docs/kbench.md gives per task; n[] holds the shape
// numbers, f[] and i[] the scalar parameters (eps, learning rate, seed, ...).
typedef struct kb_args {
  const void *in[KB_MAX_IN];
  void *out[KB_MAX_OUT];
  void *work;
  kb_i64 work_bytes;
  kb_i64 n[8];
  float f[8];
  kb_i64 i[4];
} kb_args;

typedef struct kb_launch {
  int stages;
  kb_u32 grid[KB_MAX_STAGES][3];
  kb_u32 block[KB_MAX_STAGES][3];
  kb_u32 shared_bytes[KB_MAX_STAGES];
} kb_launch;

#define KB_IN(type, k) ((const type *)a->in[k])
#define KB_OUT(type, k) ((type *)a->out[k])

#ifdef KB_CUDA
KB_FN void kb_launch_1d(kb_launch *l, int stage, kb_i64 items, kb_u32 threads) {
  kb_i64 blocks = (items + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > 1048576) blocks = 1048576; // the stage loops over the rest
  l->grid[stage][0] = (kb_u32)blocks, l->grid[stage][1] = 1, l->grid[stage][2] = 1;
  l->block[stage][0] = threads, l->block[stage][1] = 1, l->block[stage][2] = 1;
  l->shared_bytes[stage] = 0;
}
#define KB_GRID_LOOP(i, count) \
  for (kb_i64 i = (kb_i64)blockIdx.x * blockDim.x + threadIdx.x; i < (count); i += (kb_i64)gridDim.x * blockDim.x)

#define KB_ITEMS(count_expr)                                                        \
  KB_EXTERN_C __global__ void kb_plan(kb_args args, kb_launch *l) {                 \
    const kb_args *a = &args;                                                       \
    l->stages = 1;                                                                  \
    kb_launch_1d(l, 0, (count_expr), 256);                                          \
  }                                                                                 \
  KB_EXTERN_C __global__ void kb_stage0(kb_args args) {                             \
    const kb_args *a = &args;                                                       \
    KB_GRID_LOOP(i, (count_expr)) kb_item(a, i);                                    \
  }
#define KB_ITEMS2(count0_expr, count1_expr)                                         \
  KB_EXTERN_C __global__ void kb_plan(kb_args args, kb_launch *l) {                 \
    const kb_args *a = &args;                                                       \
    l->stages = 2;                                                                  \
    kb_launch_1d(l, 0, (count0_expr), 256);                                         \
    kb_launch_1d(l, 1, (count1_expr), 256);                                         \
  }                                                                                 \
  KB_EXTERN_C __global__ void kb_stage0(kb_args args) {                             \
    const kb_args *a = &args;                                                       \
    KB_GRID_LOOP(i, (count0_expr)) kb_item0(a, i);                                  \
  }                                                                                 \
  KB_EXTERN_C __global__ void kb_stage1(kb_args args) {                             \
    const kb_args *a = &args;                                                       \
    KB_GRID_LOOP(i, (count1_expr)) kb_item1(a, i);                                  \
  }
#define KB_STAGE_KERNEL(k, count_expr, item)                                        \
  KB_EXTERN_C __global__ void kb_stage##k(kb_args args) {                           \
    const kb_args *a = &args;                                                       \
    KB_GRID_LOOP(i, (count_expr)) item(a, i);                                       \
  }
#define KB_ITEMS3(c0, c1, c2)                                                       \
  KB_EXTERN_C __global__ void kb_plan(kb_args args, kb_launch *l) {                 \
    const kb_args *a = &args;                                                       \
    l->stages = 3;                                                                  \
    kb_launch_1d(l, 0, (c0), 256), kb_launch_1d(l, 1, (c1), 256), kb_launch_1d(l, 2, (c2), 256); \
  }                                                                                 \
  KB_STAGE_KERNEL(0, c0, kb_item0) KB_STAGE_KERNEL(1, c1, kb_item1) KB_STAGE_KERNEL(2, c2, kb_item2)
#define KB_ITEMS4(c0, c1, c2, c3)                                                   \
  KB_EXTERN_C __global__ void kb_plan(kb_args args, kb_launch *l) {                 \
    const kb_args *a = &args;                                                       \
    l->stages = 4;                                                                  \
    kb_launch_1d(l, 0, (c0), 256), kb_launch_1d(l, 1, (c1), 256);                   \
    kb_launch_1d(l, 2, (c2), 256), kb_launch_1d(l, 3, (c3), 256);                   \
  }                                                                                 \
  KB_STAGE_KERNEL(0, c0, kb_item0) KB_STAGE_KERNEL(1, c1, kb_item1)                 \
  KB_STAGE_KERNEL(2, c2, kb_item2) KB_STAGE_KERNEL(3, c3, kb_item3)
#else
#define KB_ITEMS(count_expr)                                                        \
  int kb_run(const kb_args *a);                                                     \
  int kb_run(const kb_args *a) {                                                    \
    kb_i64 count = (count_expr);                                                    \
    for (kb_i64 i = 0; i < count; i++) kb_item(a, i);                               \
    return 0;                                                                       \
  }
#define KB_ITEMS2(count0_expr, count1_expr)                                         \
  int kb_run(const kb_args *a);                                                     \
  int kb_run(const kb_args *a) {                                                    \
    kb_i64 count0 = (count0_expr), count1 = (count1_expr);                          \
    for (kb_i64 i = 0; i < count0; i++) kb_item0(a, i);                             \
    for (kb_i64 i = 0; i < count1; i++) kb_item1(a, i);                             \
    return 0;                                                                       \
  }
#define KB_ITEMS3(c0, c1, c2)                                                       \
  int kb_run(const kb_args *a);                                                     \
  int kb_run(const kb_args *a) {                                                    \
    kb_i64 n0 = (c0), n1 = (c1), n2 = (c2);                                         \
    for (kb_i64 i = 0; i < n0; i++) kb_item0(a, i);                                 \
    for (kb_i64 i = 0; i < n1; i++) kb_item1(a, i);                                 \
    for (kb_i64 i = 0; i < n2; i++) kb_item2(a, i);                                 \
    return 0;                                                                       \
  }
#define KB_ITEMS4(c0, c1, c2, c3)                                                   \
  int kb_run(const kb_args *a);                                                     \
  int kb_run(const kb_args *a) {                                                    \
    kb_i64 n0 = (c0), n1 = (c1), n2 = (c2), n3 = (c3);                              \
    for (kb_i64 i = 0; i < n0; i++) kb_item0(a, i);                                 \
    for (kb_i64 i = 0; i < n1; i++) kb_item1(a, i);                                 \
    for (kb_i64 i = 0; i < n2; i++) kb_item2(a, i);                                 \
    for (kb_i64 i = 0; i < n3; i++) kb_item3(a, i);                                 \
    return 0;                                                                       \
  }
#endif

// Elementwise y = kb_op(x) over n[0] * n[1] floats (and y = kb_op2(x, z) for two inputs).
#define KB_UNARY_TASK()                                                             \
  KB_FN void kb_item(const kb_args *a, kb_i64 i) { KB_OUT(float, 0)[i] = kb_op(KB_IN(float, 0)[i], a); } \
  KB_ITEMS(a->n[0] * a->n[1])
#define KB_BINARY_TASK()                                                            \
  KB_FN void kb_item(const kb_args *a, kb_i64 i) {                                  \
    KB_OUT(float, 0)[i] = kb_op2(KB_IN(float, 0)[i], KB_IN(float, 1)[i], a);        \
  }                                                                                 \
  KB_ITEMS(a->n[0] * a->n[1])

// ---------------------------------------------------------------- element formats
// Bit-exact software conversions (round to nearest even, the saturation rules of
// docs/formats.md), the same on the CPU and the GPU.
KB_FN int kb_is_nan_bits(kb_u32 u) { return (u & 0x7fffffffu) > 0x7f800000u; }

KB_FN kb_u32 kb_round_to_format(kb_u32 a, int man_bits, int bias) {
  int exponent = (int)(a >> 23) - 127;
  if (exponent >= 1 - bias) {
    int drop = 23 - man_bits;
    kb_u32 code = ((kb_u32)(exponent + bias) << man_bits) | ((a & 0x007fffffu) >> drop);
    kb_u32 rest = a & ((1u << drop) - 1u), half = 1u << (drop - 1);
    code += (kb_u32)((rest > half) | ((rest == half) & (code & 1u)));
    return code;
  }
  int shift = 24 - bias - man_bits - exponent;
  if (shift > 24 || (a >> 23) == 0) return 0;
  kb_u32 significand = (a & 0x007fffffu) | 0x00800000u;
  kb_u32 code = significand >> shift;
  kb_u32 rest = significand & ((1u << shift) - 1u), half = 1u << (shift - 1);
  code += (kb_u32)((rest > half) | ((rest == half) & (code & 1u)));
  return code;
}

KB_FN float kb_format_value(kb_u32 magnitude, int man_bits, int bias) {
  kb_u32 exponent = magnitude >> man_bits, mantissa = magnitude & ((1u << man_bits) - 1u);
  if (exponent == 0) return KB_FMUL((float)mantissa, kb_float((kb_u32)(127 + 1 - bias - man_bits) << 23));
  return kb_float(((exponent - (kb_u32)bias + 127u) << 23) | (mantissa << (23 - man_bits)));
}

KB_FN float kb_with_sign(float m, kb_u32 negative) { return kb_float(kb_bits(m) | (negative ? 0x80000000u : 0u)); }

KB_FN kb_u16 kb_bf16_from_float(float x) {
  kb_u32 u = kb_bits(x);
  if (kb_is_nan_bits(u)) return 0x7fff;
  u += 0x7fffu + ((u >> 16) & 1u);
  return (kb_u16)(u >> 16);
}
KB_FN float kb_bf16_to_float(kb_u16 c) {
  if ((c & 0x7fffu) > 0x7f80u) return kb_float(0x7fffffffu);
  return kb_float((kb_u32)c << 16);
}
KB_FN kb_u8 kb_e4m3_from_float(float x) {
  kb_u32 u = kb_bits(x), a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7f;
  if (a > 0x43e00000u) a = 0x43e00000u;
  return (kb_u8)(((u >> 24) & 0x80u) | kb_round_to_format(a, 3, 7));
}
KB_FN float kb_e4m3_to_float(kb_u8 c) {
  if ((c & 0x7fu) == 0x7fu) return kb_float(0x7fffffffu);
  return kb_with_sign(kb_format_value(c & 0x7fu, 3, 7), c & 0x80u);
}
KB_FN kb_u8 kb_e5m2_from_float(float x) {
  kb_u32 u = kb_bits(x), a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7f;
  if (a > 0x47600000u) a = 0x47600000u;
  return (kb_u8)(((u >> 24) & 0x80u) | kb_round_to_format(a, 2, 15));
}
KB_FN kb_u8 kb_e2m1_from_float(float x) {
  kb_u32 u = kb_bits(x), a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7;
  if (a > 0x40c00000u) a = 0x40c00000u;
  return (kb_u8)(((u >> 28) & 0x8u) | kb_round_to_format(a, 1, 1));
}
KB_FN float kb_e2m1_to_float(kb_u8 c) { return kb_with_sign(kb_format_value(c & 0x7u, 1, 1), c & 0x8u); }
// e8m0 code of |x| toward zero (its f32 exponent field); inf 0xfe, NaN 0xff.
KB_FN kb_u8 kb_e8m0_from_float(float x) {
  kb_u32 a = kb_bits(x) & 0x7fffffffu;
  if (a > 0x7f800000u) return 0xff;
  if (a == 0x7f800000u) return 0xfe;
  return (kb_u8)(a >> 23);
}
KB_FN float kb_e8m0_to_float(kb_u8 c) {
  if (c == 0xffu) return kb_float(0x7fffffffu);
  if (c == 0) return kb_float(0x00400000u);
  return kb_float((kb_u32)c << 23);
}
// round half to even of x clamped to [low, high], NaN -> 0.
KB_FN int kb_round_clamp(float x, float low, float high) {
  if (kb_is_nan_bits(kb_bits(x))) return 0;
  float v = x < low ? low : (x > high ? high : x);
  return (int)(KB_FADD(v, 12582912.0f) - 12582912.0f);
}

// ---------------------------------------------------------------- Philox4x32-10
// Element e of stream `seed`: block e / 4 (counter words 0-1), key (seed low, seed high),
// lane e % 4. Uniform floats: ((bits >> 8) | 1) * 2^-24, the odd multiples of 2^-24 in (0, 1).
KB_FN void kb_philox(kb_u64 seed, kb_u64 element, kb_u32 out[4]) {
  kb_u64 block = element >> 2;
  kb_u32 c0 = (kb_u32)block, c1 = (kb_u32)(block >> 32), c2 = 0, c3 = 0;
  kb_u32 k0 = (kb_u32)seed, k1 = (kb_u32)(seed >> 32);
  for (int round = 0; round < 10; round++) {
    kb_u64 p0 = (kb_u64)0xD2511F53u * c0, p1 = (kb_u64)0xCD9E8D57u * c2;
    kb_u32 hi0 = (kb_u32)(p0 >> 32), lo0 = (kb_u32)p0, hi1 = (kb_u32)(p1 >> 32), lo1 = (kb_u32)p1;
    c0 = hi1 ^ c1 ^ k0, c1 = lo1, c2 = hi0 ^ c3 ^ k1, c3 = lo0;
    k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}
KB_FN kb_u32 kb_philox_u32(kb_u64 seed, kb_u64 element) {
  kb_u32 r[4];
  kb_philox(seed, element, r);
  return r[element & 3];
}
KB_FN float kb_uniform_from_bits(kb_u32 bits) { return (float)((bits >> 8) | 1u) * 5.9604644775390625e-8f; }

#endif // KB_H
