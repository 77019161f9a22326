// Adversarial: does not compile (the log must be kept).
#include "kb.h"

KB_EXTERN_C __global__ void kb_stage0(kb_args a) { return undefined_function(a) }
