// quant_int8_row (engine): vdit_quantize_int8_rows.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  return vdit_quantize_int8_rows((size_t)a->n[0], (size_t)a->n[1], a->in[0], a->out[0], a->out[1]) != VDIT_OK;
}
