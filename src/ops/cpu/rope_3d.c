// Wan's 3D rotary embedding on the CPU. Rows are the B * S * H head vectors of D channels;
// row r is token s = (r / H) mod S at grid position (f, h, w) with s = (f * height + h) * width + w.
// Channel pair i lies in the frame part (i < D_t / 2), the height part or the width part;
// within a part of size d, its pair index k gives the frequency theta^(-2k / d), and the
// angle is position * frequency with the part's position (frame_offset + f, h or w).
// cos and sin come from per-axis tables computed in double and rounded to float, as
// diffusers' WanRotaryPosEmbed builds them (fp64 table, cast to fp32).
#include <math.h>

#include "ops/ops_internal.h"

void vdit_ops_rope_3d_split(int64_t head_dim, int64_t parts[3]) {
  const int64_t hw = 2 * (head_dim / 6);
  parts[0] = head_dim - 2 * hw;
  parts[1] = hw;
  parts[2] = hw;
}

// table[(p * (d / 2) + k) * 2 + {0, 1}] = {cos, sin} of (first + p) theta^(-2k / d) for
// positions p < count.
static void fill_table(float *table, int64_t count, int64_t first, int64_t d, double theta) {
  for (int64_t k = 0; k < d / 2; k++) {
    const double frequency = 1.0 / pow(theta, (double)(2 * k) / (double)d);
    for (int64_t p = 0; p < count; p++) {
      const double angle = (double)(first + p) * frequency;
      table[(p * (d / 2) + k) * 2 + 0] = (float)cos(angle);
      table[(p * (d / 2) + k) * 2 + 1] = (float)sin(angle);
    }
  }
}

// Rotates the n pairs of x by the angles of `table` into y (y may be x).
static inline void rotate(const float *x, float *y, const float *table, int64_t n, int inverse, int accumulate) {
  for (int64_t k = 0; k < n; k++) {
    const float c = table[2 * k], s = inverse ? -table[2 * k + 1] : table[2 * k + 1];
    const float x0 = x[2 * k], x1 = x[2 * k + 1];
    const float y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
    if (accumulate) {
      y[2 * k] += y0;
      y[2 * k + 1] += y1;
    } else {
      y[2 * k] = y0;
      y[2 * k + 1] = y1;
    }
  }
}

vdit_status vdit_ops_cpu_rope_3d(const vdit_rope_3d *rope, int64_t heads, const ops_rows *x, const ops_rows *y,
                                 int inverse, int accumulate) {
  const int64_t dim = x->cols, tokens = rope->frames * rope->height * rope->width;
  const double theta = rope->theta > 0 ? rope->theta : 10000.0;
  int64_t parts[3];
  vdit_ops_rope_3d_split(dim, parts);
  const int64_t counts[3] = {rope->frames, rope->height, rope->width};
  const int64_t firsts[3] = {rope->frame_offset, 0, 0};
  size_t floats = 0, offsets[3];
  for (int a = 0; a < 3; a++) {
    offsets[a] = floats;
    floats += (size_t)(counts[a] * parts[a]); // (count, d / 2) pairs of floats
  }
  float *table = vdit_host_alloc((floats ? floats : 1) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!table) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "rope_3d: no memory for a %zu-float table", floats);
  for (int a = 0; a < 3; a++) fill_table(table + offsets[a], counts[a], firsts[a], parts[a], theta);

#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x->rows; r++) {
    const int64_t s = (r / heads) % tokens;
    const int64_t position[3] = {s / (rope->height * rope->width), (s / rope->width) % rope->height, s % rope->width};
    const float *xr = ops_row(x, r);
    float *yr = ops_row(y, r); // may be xr
    int64_t channel = 0;
    for (int a = 0; a < 3; a++) {
      const float *axis = table + offsets[a] + (size_t)(position[a] * parts[a]);
      rotate(xr + channel, yr + channel, axis, parts[a] / 2, inverse, accumulate);
      channel += parts[a];
    }
  }
  vdit_host_free(table);
  return VDIT_OK;
}
