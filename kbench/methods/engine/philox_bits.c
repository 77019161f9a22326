// philox_bits (engine): vdit_rng_u32.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  vdit_rng_u32((uint64_t)a->i[0], (uint64_t)a->i[1], (size_t)(a->n[0] * a->n[1]), a->out[0]);
  return 0;
}
