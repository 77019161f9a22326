// cast_fp8_e4m3 (engine): vdit_convert_from_float.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  return vdit_convert_from_float(VDIT_DTYPE_F8_E4M3, (size_t)(a->n[0] * a->n[1]), a->in[0], a->out[0]) != VDIT_OK;
}
