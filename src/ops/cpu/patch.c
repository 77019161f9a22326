// Patches on the CPU: gathering a video (B, C, F, H, W) into patch rows and scattering rows
// back, and the patch embedding (gather + GEMM) with its backward.
// Row r = b * S + s holds the patch of token s = (f * Hp + h) * Wp + w, whose element
// (c, i, j, l) is video[b, c, f p_t + i, h p_h + j, w p_w + l]; inside the row it sits at
//   ((c p_t + i) p_h + j) p_w + l     (channel first: Conv3d weight order)
//   ((i p_h + j) p_w + l) C + c       (channel last: diffusers' unpatchify order)
// Every video element belongs to exactly one (row, element), so rows are split over
// threads for both directions.
#include <string.h>

#include "ops/ops_internal.h"

typedef struct patch_grid {
  int64_t batch, channels, frames, height, width; // patches per axis: frames = F / p_t, ...
  int64_t pt, ph, pw;
} patch_grid;

static patch_grid grid_of(const ops_video *video, const int64_t patch[3]) {
  patch_grid g = {video->shape[0], video->shape[1], video->shape[2] / patch[0], video->shape[3] / patch[1],
                  video->shape[4] / patch[2], patch[0], patch[1], patch[2]};
  return g;
}

// Calls the copy between the video and a row for every (c, i, j) run of p_w elements.
// direction 0: video -> row; 1: row -> video. accumulate adds instead of writing.
static void transfer(const ops_video *video, const int64_t patch[3], int channel_last, const ops_rows *rows,
                     int direction, int accumulate) {
  const patch_grid g = grid_of(video, patch);
  const int64_t tokens = g.frames * g.height * g.width;
  const int64_t element_step = channel_last ? g.channels : 1; // distance between l and l + 1 in a row
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows->rows; r++) {
    const int64_t b = r / tokens, s = r % tokens;
    const int64_t f = s / (g.height * g.width), h = (s / g.width) % g.height, w = s % g.width;
    float *row = ops_row(rows, r);
    for (int64_t c = 0; c < g.channels; c++)
      for (int64_t i = 0; i < g.pt; i++)
        for (int64_t j = 0; j < g.ph; j++) {
          float *v = video->data + b * video->stride[0] + c * video->stride[1] + (f * g.pt + i) * video->stride[2] +
                     (h * g.ph + j) * video->stride[3] + w * g.pw;
          float *e = row + (channel_last ? ((i * g.ph + j) * g.pw) * g.channels + c : ((c * g.pt + i) * g.ph + j) * g.pw);
          if (direction == 0) {
            if (accumulate)
              for (int64_t l = 0; l < g.pw; l++) e[l * element_step] += v[l];
            else
              for (int64_t l = 0; l < g.pw; l++) e[l * element_step] = v[l];
          } else {
            if (accumulate)
              for (int64_t l = 0; l < g.pw; l++) v[l] += e[l * element_step];
            else
              for (int64_t l = 0; l < g.pw; l++) v[l] = e[l * element_step];
          }
        }
  }
}

void vdit_ops_cpu_patch_gather(const ops_video *video, const int64_t patch[3], int channel_last, const ops_rows *rows,
                               int accumulate) {
  transfer(video, patch, channel_last, rows, 0, accumulate);
}

void vdit_ops_cpu_patch_scatter(const ops_rows *rows, const int64_t patch[3], int channel_last, const ops_video *video,
                                int accumulate) {
  transfer(video, patch, channel_last, rows, 1, accumulate);
}

// A contiguous (rows, cols) scratch matrix.
static vdit_status scratch_rows(const char *op, int64_t rows, int64_t cols, ops_rows *v) {
  memset(v, 0, sizeof *v);
  v->rows = rows;
  v->cols = cols;
  v->lead = 1;
  v->shape[0] = rows;
  v->stride[0] = cols;
  size_t floats = 0;
  if (!vdit_size_mul((size_t)rows, (size_t)cols, &floats))
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: %lld x %lld patch matrix is too large", op, (long long)rows,
                      (long long)cols);
  v->data = vdit_host_alloc((floats ? floats : 1) * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!v->data)
    return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "%s: no memory for a %lld x %lld patch matrix", op, (long long)rows,
                      (long long)cols);
  return VDIT_OK;
}

vdit_status vdit_ops_cpu_patch_embed_forward(const ops_video *video, const int64_t patch[3], const ops_rows *weight,
                                             const float *bias, const ops_rows *tokens) {
  ops_rows patches;
  VDIT_TRY(scratch_rows("patch_embed", tokens->rows, weight->cols, &patches));
  vdit_ops_cpu_patch_gather(video, patch, 0, &patches, 0);
  const vdit_status status = vdit_ops_cpu_linear_forward(&patches, weight, bias, tokens);
  vdit_host_free(patches.data);
  return status;
}

vdit_status vdit_ops_cpu_patch_embed_backward(const ops_video *video, const int64_t patch[3], const ops_rows *weight,
                                              const ops_rows *dtokens, const ops_video *dvideo,
                                              const ops_rows *dweight, float *dbias, int accumulate) {
  static const char op[] = "patch_embed backward";
  const int64_t n = dtokens->rows, dim = dtokens->cols;
  if (dbias) ops_column_sums(dtokens, NULL, 0, n, dbias, accumulate);
  if (!dweight && !dvideo) return VDIT_OK;
  const int64_t k = dweight ? dweight->cols : weight->cols;
  ops_rows patches;
  VDIT_TRY(scratch_rows(op, n, k, &patches));
  vdit_status status = VDIT_OK;
  if (dweight) { // dW (dim, K) = dtokens^T (dim, N) patches (N, K)
    vdit_ops_cpu_patch_gather(video, patch, 0, &patches, 0);
    status = vdit_ops_cpu_gemm(1, 0, dim, k, n, dtokens->data, ops_rows_ld(dtokens), patches.data, k, dweight->data,
                               ops_rows_ld(dweight), accumulate);
  }
  if (status == VDIT_OK && dvideo) { // dpatches (N, K) = dtokens (N, dim) W (dim, K), then scattered
    status = vdit_ops_cpu_gemm(0, 0, n, k, dim, dtokens->data, ops_rows_ld(dtokens), weight->data, ops_rows_ld(weight),
                               patches.data, k, 0);
    if (status == VDIT_OK) vdit_ops_cpu_patch_scatter(&patches, patch, 0, dvideo, accumulate);
  }
  vdit_host_free(patches.data);
  return status;
}
