// vdit_ops_timestep_embedding against (1) fp64 math that replays diffusers'
// get_timestep_embedding fp32 steps (exponent, frequency and angle rounded to float in
// torch's order), which must agree to one float ulp, and (2) the exact formula (Wan's own
// fp64 code), within the bound that those fp32 roundings of the angle allow. Plus t = 0,
// odd dims and dims 1 and 2.
#include <float.h>

#include "ops_test_util.h"

// diffusers: exponent = -ln(10000) * arange(half) (fp32) / half (fp32), emb = exp(exponent)
// (fp32), angle = t * emb (fp32), [cos, sin] (flip_sin_to_cos), zero pad for an odd dim.
// This file is compiled without contraction, so each float cast below is one rounding.
static void replay_diffusers(float t, int64_t dim, double *out) {
  const int64_t half = dim / 2;
  const float log_period = (float)-log(10000.0);
  for (int64_t i = 0; i < half; i++) {
    const float exponent = (float)(log_period * (float)i) / (float)half;
    const float frequency = (float)exp((double)exponent);
    const float angle = t * frequency;
    out[i] = cos((double)angle);
    out[half + i] = sin((double)angle);
  }
  if (dim % 2) out[dim - 1] = 0.0;
}

static void test_dims(int64_t n, int64_t dim, uint64_t seed) {
  vdit_tensor t = test_alloc(1, (int64_t[]){n}), out = test_alloc(2, (int64_t[]){n, dim});
  CHECK_OK(vdit_tensor_fill_uniform(&t, seed, 0, 0.0, 1000.0));
  float *ts = t.data;
  ts[0] = 0.0f; // cos 0 = 1, sin 0 = 0
  if (n > 1) ts[1] = 999.0f;
  if (n > 2) ts[2] = 1.0f;
  CHECK_OK(vdit_ops_timestep_embedding(&t, &out));
  const int64_t half = dim / 2;
  double *replay = malloc((size_t)(dim + 1) * 8);
  int failures = 0;
  for (int64_t r = 0; r < n; r++) {
    const float *row = (const float *)out.data + r * dim;
    replay_diffusers(ts[r], dim, replay);
    for (int64_t i = 0; i < dim; i++) {
      // (1) the replay, rounded to float, within one ulp (exp/cos/sin rounded once).
      const double ulp = fabs(replay[i]) * FLT_EPSILON + FLT_MIN;
      if (!(fabs(row[i] - replay[i]) <= ulp) && failures++ < 5)
        CHECK_FAIL_("timestep %g dim %lld element %lld: %.9g vs diffusers replay %.9g", (double)ts[r], (long long)dim,
                    (long long)i, (double)row[i], replay[i]);
      // (2) the exact formula: the fp32 angle a = t f_i differs from the exact one by at most
      // |a| (|e_i| + 3) 2^-24 (the exponent's rounding scaled by exp, exp's and the product's
      // roundings), and cos/sin move no more than the angle, plus their own rounding.
      if (i < 2 * half) {
        const int64_t k = i % half;
        const double exact_angle = (double)ts[r] * exp(-log(10000.0) * (double)k / (double)half);
        const double exact = i < half ? cos(exact_angle) : sin(exact_angle);
        const double bound = fabs(exact_angle) * (log(10000.0) * (double)k / (double)half + 3) * 0x1p-24 + 0x1p-23;
        if (!(fabs(row[i] - exact) <= bound) && failures++ < 5)
          CHECK_FAIL_("timestep %g dim %lld element %lld: %.9g vs exact %.9g (bound %.3g)", (double)ts[r],
                      (long long)dim, (long long)i, (double)row[i], exact, bound);
      } else {
        CHECK_EQ_FLOAT_BITS(row[i], 0.0f); // the pad of an odd dim
      }
    }
  }
  // t = 0: exactly cos = 1, sin = 0.
  for (int64_t i = 0; i < half; i++) {
    CHECK_EQ_FLOAT_BITS(((float *)out.data)[i], 1.0f);
    CHECK_EQ_FLOAT_BITS(((float *)out.data)[half + i], 0.0f);
  }
  // t = 1, i = 0: frequency 1, so cos 1 and sin 1.
  if (n > 2 && half > 0) {
    CHECK_NEAR(((float *)out.data)[2 * dim], cos(1.0), 6e-8);
    CHECK_NEAR(((float *)out.data)[2 * dim + half], sin(1.0), 6e-8);
  }
  free(replay);
  vdit_tensor_free(&t);
  vdit_tensor_free(&out);
}

int main(void) {
  const int64_t dims[] = {256, 1, 2, 7, 33, 130}; // Wan's freq_dim is 256
  for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) test_dims(9, dims[i], 6000 + i);
  test_dims(1, 256, 6100);
  return check_finish("test_ops_timestep");
}
