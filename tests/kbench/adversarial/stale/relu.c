// Adversarial: computes once, then returns the cached first result for every later call.
#include <stdlib.h>
#include <string.h>

#include "kb.h"

int kb_run(const kb_args *a);
int kb_run(const kb_args *a) {
  static float *cache;
  static kb_i64 cached_count;
  kb_i64 n = a->n[0] * a->n[1];
  if (!cache || cached_count != n) {
    free(cache);
    cache = malloc((size_t)n * sizeof *cache);
    cached_count = n;
    for (kb_i64 i = 0; i < n; i++) cache[i] = KB_IN(float, 0)[i] > 0 ? KB_IN(float, 0)[i] : 0.0f;
  }
  memcpy(a->out[0], cache, (size_t)n * sizeof *cache);
  return 0;
}
