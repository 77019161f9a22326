// Adversarial: tuned for the standard shape only (16 rows of 256), ignores n[].
#include <math.h>

#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  for (int r = 0; r < 16; r++) {
    const float *x = KB_IN(float, 0) + r * 256;
    float *y = KB_OUT(float, 0) + r * 256, best = x[0], sum = 0;
    for (int c = 1; c < 256; c++) best = fmaxf(best, x[c]);
    for (int c = 0; c < 256; c++) sum += expf(x[c] - best);
    for (int c = 0; c < 256; c++) y[c] = expf(x[c] - best) / sum;
  }
  return 0;
}
