// placeholder, replaced below
#include "kbench/kbench_internal.h"
vdit_status vdit_kbench_report(int dir_count, const char *const *dirs, const char *out_dir, double fast_p, FILE *log) {
  (void)dir_count, (void)dirs, (void)out_dir, (void)fast_p, (void)log;
  return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "kbench report: not yet");
}
vdit_status vdit_kbench_logistic_fit(int n, int p, const double *x, const double *y, double *beta, double *deviance,
                                     double *null_deviance) {
  (void)n, (void)p, (void)x, (void)y, (void)beta, (void)deviance, (void)null_deviance;
  return VDIT_ERROR(VDIT_ERROR_UNSUPPORTED, "not yet");
}
