// The training check of issue 6: the same small attention model (attn_train.h) trained the
// same steps on the same batches with dense and with sage attention (default options: INT8
// Q K^T per block, FP8 P V, SageBwd INT8 backward) must end within 1% in loss (mean of the
// last 10 steps), and training must have worked (final loss well under the first).
#include <math.h>
#include <stdio.h>

#include "attn/attn_train.h"
#include "check.h"
#include "vdit/vdit.h"

static double tail_mean(const float *losses, int steps) {
  double s = 0.0;
  for (int i = steps - 10; i < steps; i++) s += losses[i];
  return s / 10.0;
}

int main(void) {
  vdit_attn_train_spec dense = vdit_attn_train_default(VDIT_ATTN_DENSE);
  vdit_attn_train_spec sage = vdit_attn_train_default(VDIT_ATTN_SAGE);
  static float ld[1000], ls[1000];
  CHECK(dense.steps <= 1000);
  CHECK_OK(vdit_attn_train_run(&dense, ld));
  CHECK_OK(vdit_attn_train_run(&sage, ls));
  const double d = tail_mean(ld, dense.steps), s = tail_mean(ls, sage.steps);
  printf("loss: first %.5f, final dense %.5f, sage %.5f (%+.3f%%)\n", ld[0], d, s, 100.0 * (s - d) / d);

  CHECK(d < 0.5 * ld[0]);
  CHECK(fabs(s - d) <= 0.01 * d);
  return check_finish("test_attn_sage_train");
}
