// quant_mxfp4 (engine): vdit_quantize_mxfp4.
#include "engine_cpu.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  return vdit_quantize_mxfp4((size_t)a->n[0], (size_t)a->n[1], a->in[0], a->out[0]) != VDIT_OK;
}
