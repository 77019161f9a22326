// Rectified-flow timesteps: the logit-normal draw and the timestep shift.
#include <math.h>

#include "vdit/train.h"

float vdit_flow_shift(float t, float shift) { return (float)((double)shift * t / (1.0 + ((double)shift - 1.0) * t)); }

float vdit_flow_logit_normal(float z, float mean, float std) {
  return (float)(1.0 / (1.0 + exp(-((double)mean + (double)std * z))));
}
