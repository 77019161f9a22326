// Adversarial: does its work in a child grid on a stream of its own (device-side launch), so
// that the evaluator's stream, and its timing events, would see nothing.
#include "kb.h"

__global__ void kb_child(kb_args a) {
  KB_GRID_LOOP(i, a.n[0] * a.n[1]) ((float *)a.out[0])[i] = fmaxf(((const float *)a.in[0])[i], 0.0f);
}
KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_launch_1d(l, 0, 1, 1);
}
KB_EXTERN_C __global__ void kb_stage0(kb_args a) {
  cudaStream_t side;
  cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking);
  kb_child<<<256, 256, 0, side>>>(a);
  cudaStreamDestroy(side);
}
