// vdit formats: what each element format and block quantizer does to a tensor. Quantizes
// Philox Gaussian tensors (plain, and with a few outlier channels) with every format and
// prints the relative L1 and RMS errors, the SNR and the bits per element scales included.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VDIT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "commands.h"
#include "vdit/base.h"
#include "vdit/num.h"

typedef enum data_kind { DATA_GAUSSIAN, DATA_OUTLIER, DATA_KIND_COUNT } data_kind;
static const char *const data_names[DATA_KIND_COUNT] = {"gaussian", "outlier"};

// A row of the table: a plain cast to a dtype, or a block quantizer.
typedef struct format_row {
  const char *name;
  const char *scale; // how the values are scaled before rounding
  int is_cast;
  vdit_dtype dtype;
  vdit_quant_scheme scheme;
} format_row;

static const format_row format_rows[] = {
    {"bf16", "none", 1, VDIT_DTYPE_BF16, 0},
    {"f16", "none", 1, VDIT_DTYPE_F16, 0},
    {"f8_e4m3", "none", 1, VDIT_DTYPE_F8_E4M3, 0},
    {"f8_e5m2", "none", 1, VDIT_DTYPE_F8_E5M2, 0},
    {"f4_e2m1", "none", 1, VDIT_DTYPE_F4_E2M1, 0},
    {"int8_row", "fp32 per row", 0, 0, VDIT_QUANT_INT8_ROW},
    {"int8_block", "fp32 per 32", 0, 0, VDIT_QUANT_INT8_BLOCK},
    {"mxfp8_e4m3", "e8m0 per 32", 0, 0, VDIT_QUANT_MXFP8_E4M3},
    {"mxfp8_e5m2", "e8m0 per 32", 0, 0, VDIT_QUANT_MXFP8_E5M2},
    {"nvfp4", "e4m3 per 16 + fp32", 0, 0, VDIT_QUANT_NVFP4},
    {"mxfp4", "e8m0 per 32", 0, 0, VDIT_QUANT_MXFP4},
};
enum { FORMAT_ROW_COUNT = sizeof format_rows / sizeof format_rows[0] };

typedef struct result {
  double bits_per_element, relative_l1, relative_rms, snr_db;
  int matches_cpu; // -1 when not compared (CPU run)
} result;

// (rows, cols) N(0, 1); the outlier kind scales 2% of the columns (at least one) by 10-50x,
// as the channels of K and of activations are.
static vdit_status make_data(data_kind kind, uint64_t seed, size_t rows, size_t cols, float *x) {
  size_t n = rows * cols;
  vdit_rng_normal(seed, 0, n, x);
  if (kind != DATA_OUTLIER) return VDIT_OK;
  float *draw = (float *)vdit_host_alloc(2 * cols * sizeof(float), VDIT_HOST_ALIGNMENT);
  if (!draw) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu channel draws", cols);
  vdit_rng_uniform(seed + 1, 0, 2 * cols, draw);
  for (size_t c = 0; c < cols; c++) {
    if (draw[c] >= 0.02f && c != 0) continue;
    float factor = 10.0f + 40.0f * draw[cols + c];
    for (size_t r = 0; r < rows; r++) x[r * cols + c] *= factor;
  }
  vdit_host_free(draw);
  return VDIT_OK;
}

static vdit_status round_trip_cpu(const format_row *row, size_t rows, size_t cols, const float *x, float *y,
                                  void *codes) {
  if (!row->is_cast) return vdit_quant_round_trip(row->scheme, rows, cols, x, y);
  VDIT_TRY(vdit_convert_from_float(row->dtype, rows * cols, x, codes));
  return vdit_convert_to_float(row->dtype, rows * cols, codes, y);
}

#ifdef VDIT_HAVE_CUDA
static vdit_status cuda_status(cudaError_t error, const char *what) {
  if (error == cudaSuccess) return VDIT_OK;
  return VDIT_ERROR(VDIT_ERROR_CUDA, "%s failed: %s", what, cudaGetErrorString(error));
}

// The same on the GPU: device_x holds x; the result comes back into y.
static vdit_status round_trip_cuda(const format_row *row, size_t rows, size_t cols, const float *device_x,
                                   float *device_y, void *device_codes, float *y) {
  size_t n = rows * cols;
  if (row->is_cast) {
    VDIT_TRY(vdit_cuda_convert_from_float(row->dtype, n, device_x, device_codes));
    VDIT_TRY(vdit_cuda_convert_to_float(row->dtype, n, device_codes, device_y));
  } else {
    VDIT_TRY(vdit_cuda_quant_round_trip(row->scheme, rows, cols, device_x, device_y));
  }
  return cuda_status(cudaMemcpy(y, device_y, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
}
#endif

static void measure(const float *x, const float *y, size_t n, result *r) {
  double abs_error = 0, abs_signal = 0, squared_error = 0, squared_signal = 0;
  for (size_t i = 0; i < n; i++) {
    double e = (double)x[i] - (double)y[i];
    abs_error += fabs(e);
    abs_signal += fabs((double)x[i]);
    squared_error += e * e;
    squared_signal += (double)x[i] * x[i];
  }
  r->relative_l1 = abs_error / abs_signal;
  r->relative_rms = sqrt(squared_error / squared_signal);
  r->snr_db = 10 * log10(squared_signal / squared_error);
}

typedef struct options {
  int64_t size, cols, seed;
  const char *device;
  int json;
} options;

static vdit_status run_table(const options *o, int use_cuda, result results[DATA_KIND_COUNT][FORMAT_ROW_COUNT]) {
  size_t n = (size_t)o->size, cols = (size_t)o->cols, rows = n / cols;
  float *x = (float *)vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  float *y = (float *)vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  float *y_cpu = (float *)vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  void *codes = vdit_host_alloc(n * 2, VDIT_HOST_ALIGNMENT);
  vdit_status status = (x && y && y_cpu && codes) ? VDIT_OK : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu floats", n);
#ifdef VDIT_HAVE_CUDA
  float *device_x = NULL, *device_y = NULL;
  void *device_codes = NULL;
  if (status == VDIT_OK && use_cuda) {
    status = cuda_status(cudaMalloc((void **)&device_x, n * sizeof(float)), "cudaMalloc");
    if (status == VDIT_OK) status = cuda_status(cudaMalloc((void **)&device_y, n * sizeof(float)), "cudaMalloc");
    if (status == VDIT_OK) status = cuda_status(cudaMalloc(&device_codes, n * 2), "cudaMalloc");
  }
#endif
  for (int k = 0; k < DATA_KIND_COUNT && status == VDIT_OK; k++) {
    status = make_data((data_kind)k, (uint64_t)o->seed, rows, cols, x);
#ifdef VDIT_HAVE_CUDA
    if (status == VDIT_OK && use_cuda)
      status = cuda_status(cudaMemcpy(device_x, x, n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
#endif
    for (int f = 0; f < FORMAT_ROW_COUNT && status == VDIT_OK; f++) {
      const format_row *row = &format_rows[f];
      result *r = &results[k][f];
      if (row->is_cast) {
        r->bits_per_element = vdit_dtype_bits(row->dtype);
      } else {
        size_t bytes;
        status = vdit_quant_storage_bytes(row->scheme, rows, cols, &bytes);
        r->bits_per_element = 8.0 * (double)bytes / (double)n;
      }
      if (status == VDIT_OK) status = round_trip_cpu(row, rows, cols, x, y_cpu, codes);
      r->matches_cpu = -1;
      if (status != VDIT_OK) break;
      if (!use_cuda) {
        measure(x, y_cpu, n, r);
        continue;
      }
#ifdef VDIT_HAVE_CUDA
      status = round_trip_cuda(row, rows, cols, device_x, device_y, device_codes, y);
      if (status != VDIT_OK) break;
      measure(x, y, n, r);
      r->matches_cpu = memcmp(y, y_cpu, n * sizeof(float)) == 0;
#endif
    }
  }
#ifdef VDIT_HAVE_CUDA
  if (device_x) cudaFree(device_x);
  if (device_y) cudaFree(device_y);
  if (device_codes) cudaFree(device_codes);
#endif
  vdit_host_free(x);
  vdit_host_free(y);
  vdit_host_free(y_cpu);
  vdit_host_free(codes);
  return status;
}

static void print_text(const options *o, int use_cuda, result results[DATA_KIND_COUNT][FORMAT_ROW_COUNT]) {
  printf("vdit formats: %lld elements as %lld x %lld, seed %lld, %s\n", (long long)o->size,
         (long long)(o->size / o->cols), (long long)o->cols, (long long)o->seed, use_cuda ? "cuda" : "cpu");
  printf("%-9s %-11s %-19s %9s %9s %9s %7s%s\n", "data", "format", "scale", "bits/elem", "rel L1", "rel RMS", "SNR dB",
         use_cuda ? "  gpu = cpu" : "");
  for (int k = 0; k < DATA_KIND_COUNT; k++)
    for (int f = 0; f < FORMAT_ROW_COUNT; f++) {
      const result *r = &results[k][f];
      printf("%-9s %-11s %-19s %9.2f %9.2e %9.2e %7.2f%s\n", data_names[k], format_rows[f].name, format_rows[f].scale,
             r->bits_per_element, r->relative_l1, r->relative_rms, r->snr_db,
             r->matches_cpu < 0 ? "" : r->matches_cpu ? "  yes" : "  NO");
    }
}

static void print_json(const options *o, int use_cuda, result results[DATA_KIND_COUNT][FORMAT_ROW_COUNT]) {
  printf("{\"size\": %lld, \"rows\": %lld, \"cols\": %lld, \"seed\": %lld, \"device\": \"%s\", \"results\": [",
         (long long)o->size, (long long)(o->size / o->cols), (long long)o->cols, (long long)o->seed,
         use_cuda ? "cuda" : "cpu");
  for (int k = 0; k < DATA_KIND_COUNT; k++)
    for (int f = 0; f < FORMAT_ROW_COUNT; f++) {
      const result *r = &results[k][f];
      printf("%s{\"data\": \"%s\", \"format\": \"%s\", \"scale\": \"%s\", \"bits_per_element\": %.4f, "
             "\"relative_l1\": %.6e, \"relative_rms\": %.6e, \"snr_db\": %.3f",
             k || f ? ", " : "", data_names[k], format_rows[f].name, format_rows[f].scale, r->bits_per_element,
             r->relative_l1, r->relative_rms, r->snr_db);
      if (r->matches_cpu >= 0) printf(", \"matches_cpu\": %s", r->matches_cpu ? "true" : "false");
      printf("}");
    }
  printf("]}\n");
}

static int run_formats(int argc, char **argv) {
  options o = {1 << 20, 1024, 1, "cpu", 0};
  const cli_option option_table[] = {
      {"size", CLI_INT, &o.size, "N", "elements per tensor (default 1048576)"},
      {"cols", CLI_INT, &o.cols, "N", "row length, a multiple of 32 (default 1024)"},
      {"seed", CLI_INT, &o.seed, "N", "Philox seed of the tensors (default 1)"},
      {"device", CLI_STRING, &o.device, "cpu|cuda", "where to quantize (default cpu); cuda also checks gpu = cpu"},
      {"json", CLI_FLAG, &o.json, NULL, "print one JSON object"},
  };
  int code = cli_parse(&cli_command_formats,
                       "Quantizes Philox Gaussian tensors, plain and with 2% outlier channels (10-50x),\n"
                       "with every element format (a plain cast) and block quantizer, and prints the\n"
                       "relative L1 and RMS errors, the SNR and the bits per element, scales included.\n"
                       "docs/formats.md describes the formats.",
                       option_table, (int)(sizeof option_table / sizeof option_table[0]), argc, argv, NULL, 0, NULL);
  if (code >= 0) return code;
  const char *hint = "see 'vdit formats --help'";
  int use_cuda;
  if (strcmp(o.device, "cpu") == 0) use_cuda = 0;
  else if (strcmp(o.device, "cuda") == 0) use_cuda = 1;
  else return cli_usage_error("formats", hint, "--device must be cpu or cuda, got '%s'", o.device);
  if (o.cols < 32 || o.cols % 32 != 0)
    return cli_usage_error("formats", hint, "--cols must be a positive multiple of 32, got %lld", (long long)o.cols);
  if (o.size < o.cols || o.size % o.cols != 0 || o.size > ((int64_t)1 << 30))
    return cli_usage_error("formats", hint, "--size must be a multiple of --cols (%lld) up to 2^30, got %lld",
                           (long long)o.cols, (long long)o.size);
  if (use_cuda) {
    int gpus = 0;
    vdit_status status = vdit_gpu_count(&gpus);
    if (status == VDIT_OK && gpus == 0)
      status = VDIT_ERROR(VDIT_ERROR_NO_DEVICE, vdit_built_with_cuda() ? "no GPU found for --device cuda"
                                                                        : "this vdit was built without CUDA");
    if (status != VDIT_OK) return cli_report_failure("formats", status);
  }
  result (*results)[FORMAT_ROW_COUNT] = calloc(DATA_KIND_COUNT, sizeof *results);
  if (!results) return cli_report_failure("formats", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory"));
  vdit_status status = run_table(&o, use_cuda, results);
  if (status == VDIT_OK) {
    if (o.json) print_json(&o, use_cuda, results);
    else print_text(&o, use_cuda, results);
  }
  int mismatches = 0;
  for (int k = 0; k < DATA_KIND_COUNT; k++)
    for (int f = 0; f < FORMAT_ROW_COUNT; f++) mismatches += results[k][f].matches_cpu == 0;
  free(results);
  if (status != VDIT_OK) return cli_report_failure("formats", status);
  if (mismatches) {
    fprintf(stderr, "vdit formats: %d GPU result(s) differ from the CPU's (a bug: please report it)\n", mismatches);
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

const cli_command cli_command_formats = {
    .name = "formats",
    .summary = "errors and bits of every number format and block quantizer",
    .usage = "vdit formats [--size N] [--cols N] [--seed N] [--device cpu|cuda] [--json]",
    .run = run_formats,
};
