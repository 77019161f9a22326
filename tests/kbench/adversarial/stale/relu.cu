// Adversarial: computes once into a device global, then returns the cached result.
#include "kb.h"

__device__ float kb_cache[1 << 20];
__device__ long long kb_cached_count;

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 2;
  kb_launch_1d(l, 0, a.n[0] * a.n[1], 256);
  kb_launch_1d(l, 1, 1, 1);
}
KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  kb_i64 n = a.n[0] * a.n[1];
  int fresh = kb_cached_count != n;
  KB_GRID_LOOP(i, n) {
    if (fresh) kb_cache[i] = fmaxf(((const float *)a.in[0])[i], 0.0f);
    ((float *)a.out[0])[i] = kb_cache[i];
  }
}
KB_EXTERN_C __global__ void kb_stage1(kb_args a) { kb_cached_count = a.n[0] * a.n[1]; }
