// Adversarial: launches a kernel that writes nothing.
#include "kb.h"

KB_EXTERN_C __global__ void kb_plan(kb_args a, kb_launch *l) {
  l->stages = 1;
  kb_launch_1d(l, 0, a.n[0] * a.n[1], 256);
}
KB_EXTERN_C __global__ void kb_stage0(kb_args a) {}
