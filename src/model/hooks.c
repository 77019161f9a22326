// The self-attention hooks of a block (run_internal.h): the observer sees Q, K, V and O, the
// tamper callback may change them in place before they are used (vdit_model_run_options).
#include <inttypes.h>
#include <stdio.h>

#include "model/run_internal.h"

static vdit_status tamper(const run_context *run, vdit_tensor *t, int64_t n, const char *what) {
  if (!run->tamper) return VDIT_OK;
  char name[96];
  snprintf(name, sizeof name, "blocks.%" PRId64 ".attn1.%s", n, what);
  return run->tamper(run->tamper_user, name, t);
}

vdit_status model_attn_inputs_hook(const run_context *run, int64_t n, vdit_tensor *q, vdit_tensor *k, vdit_tensor *v) {
  VDIT_TRY(model_emit(run, q, "blocks.%" PRId64 ".attn1.q", n));
  VDIT_TRY(model_emit(run, k, "blocks.%" PRId64 ".attn1.k", n));
  VDIT_TRY(model_emit(run, v, "blocks.%" PRId64 ".attn1.v", n));
  VDIT_TRY(tamper(run, q, n, "q"));
  VDIT_TRY(tamper(run, k, n, "k"));
  return tamper(run, v, n, "v");
}

vdit_status model_attn_output_hook(const run_context *run, int64_t n, vdit_tensor *o) {
  VDIT_TRY(model_emit(run, o, "blocks.%" PRId64 ".attn1.o", n));
  return tamper(run, o, n, "o");
}
