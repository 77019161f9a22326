// modulate (engine, CUDA): float4 over channels when C is a multiple of 4.
#include "kb.h"

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_launch_1d(l, 0, a.n[0] * a.n[1] * a.n[2] / (a.n[2] % 4 == 0 ? 4 : 1), 256);
  if (l->grid[0][0] > 132 * 16) l->grid[0][0] = 132 * 16;
}

KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  kb_i64 S = a.n[1], C = a.n[2], n = a.n[0] * S * C;
  const float *x = (const float *)a.in[0], *scale = (const float *)a.in[1], *shift = (const float *)a.in[2];
  float *y = (float *)a.out[0];
  if (C % 4 == 0) {
    KB_GRID_LOOP(g, n / 4) {
      kb_i64 i = g * 4, bc = (i / (S * C)) * C + i % C;
      float4 v = ((const float4 *)x)[g], s = *(const float4 *)(scale + bc), t = *(const float4 *)(shift + bc);
      v.x = v.x * (1.0f + s.x) + t.x, v.y = v.y * (1.0f + s.y) + t.y;
      v.z = v.z * (1.0f + s.z) + t.z, v.w = v.w * (1.0f + s.w) + t.w;
      ((float4 *)y)[g] = v;
    }
  } else {
    KB_GRID_LOOP(i, n) {
      kb_i64 bc = (i / (S * C)) * C + i % C;
      y[i] = x[i] * (1.0f + scale[bc]) + shift[bc];
    }
  }
}
