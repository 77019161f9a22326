// Adversarial: does not compile (the log must be kept).
#include "kb.h"

int kb_run(const kb_args *a) { return undefined_function(a) }
