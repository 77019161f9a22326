// vdit formats: what each element format and block quantizer does to a tensor. Quantizes
// Philox Gaussian tensors (plain, and with a few outlier channels) with every format and
// prints the relative L1 and RMS errors, the SNR and the bits per element scales included.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "vdit/base.h"
#include "vdit/num.h"
#include "vdit/tensor.h"

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

// Quantizes x and dequantizes into y on `device` (x, y and codes, n * 2 bytes, live there):
// a cast through the format's codes, or a block quantizer's round trip.
static vdit_status round_trip(vdit_device device, const format_row *row, size_t rows, size_t cols, const float *x,
                              float *y, void *codes) {
  size_t n = rows * cols;
  if (device.type == VDIT_DEVICE_CUDA) {
    if (!row->is_cast) return vdit_cuda_quant_round_trip(row->scheme, rows, cols, x, y);
    VDIT_TRY(vdit_cuda_convert_from_float(row->dtype, n, x, codes));
    return vdit_cuda_convert_to_float(row->dtype, n, codes, y);
  }
  if (!row->is_cast) return vdit_quant_round_trip(row->scheme, rows, cols, x, y);
  VDIT_TRY(vdit_convert_from_float(row->dtype, n, x, codes));
  return vdit_convert_to_float(row->dtype, n, codes, y);
}

// The errors of y against x (held as the fp64 reference); SNR = -20 log10(relative RMS).
static void measure(const double *reference, const float *y, size_t n, result *r) {
  vdit_error_stats stats = vdit_error_stats_f32(n, y, reference);
  r->relative_l1 = stats.rel_l1;
  r->relative_rms = stats.rel_rms;
  r->snr_db = -20 * log10(stats.rel_rms);
}

typedef struct options {
  int64_t size, cols, seed;
  const char *device;
  int json;
} options;

// Every format on both data kinds on the CPU; with a GPU `device`, on it too (checked
// against the CPU bit for bit), the table then holding the GPU's errors.
static vdit_status run_table(const options *o, vdit_device device, result results[DATA_KIND_COUNT][FORMAT_ROW_COUNT]) {
  size_t n = (size_t)o->size, cols = (size_t)o->cols, rows = n / cols;
  int use_cuda = device.type == VDIT_DEVICE_CUDA;
  float *x = (float *)vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  float *y = (float *)vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  float *y_cpu = (float *)vdit_host_alloc(n * sizeof(float), VDIT_HOST_ALIGNMENT);
  double *reference = (double *)vdit_host_alloc(n * sizeof(double), VDIT_HOST_ALIGNMENT);
  void *codes = vdit_host_alloc(n * 2, VDIT_HOST_ALIGNMENT);
  vdit_status status = (x && y && y_cpu && reference && codes)
                           ? VDIT_OK
                           : VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %zu floats", n);
  void *device_x = NULL, *device_y = NULL, *device_codes = NULL;
  if (status == VDIT_OK && use_cuda) {
    status = vdit_device_alloc(device, n * sizeof(float), &device_x);
    if (status == VDIT_OK) status = vdit_device_alloc(device, n * sizeof(float), &device_y);
    if (status == VDIT_OK) status = vdit_device_alloc(device, n * 2, &device_codes);
  }
  for (int k = 0; k < DATA_KIND_COUNT && status == VDIT_OK; k++) {
    status = make_data((data_kind)k, (uint64_t)o->seed, rows, cols, x);
    for (size_t i = 0; status == VDIT_OK && i < n; i++) reference[i] = (double)x[i];
    if (status == VDIT_OK && use_cuda) status = vdit_memcpy(device, device_x, VDIT_CPU, x, n * sizeof(float));
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
      if (status == VDIT_OK) status = round_trip(VDIT_CPU, row, rows, cols, x, y_cpu, codes);
      r->matches_cpu = -1;
      if (status != VDIT_OK) break;
      if (!use_cuda) {
        measure(reference, y_cpu, n, r);
        continue;
      }
      status = round_trip(device, row, rows, cols, device_x, device_y, device_codes);
      if (status == VDIT_OK) status = vdit_memcpy(VDIT_CPU, y, device, device_y, n * sizeof(float));
      if (status != VDIT_OK) break;
      measure(reference, y, n, r);
      r->matches_cpu = memcmp(y, y_cpu, n * sizeof(float)) == 0;
    }
  }
  vdit_device_free(device, device_x);
  vdit_device_free(device, device_y);
  vdit_device_free(device, device_codes);
  vdit_host_free(x);
  vdit_host_free(y);
  vdit_host_free(y_cpu);
  vdit_host_free(reference);
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
  vdit_device device;
  code = cli_parse_device("formats", o.device, &device);
  if (code >= 0) return code;
  int use_cuda = device.type == VDIT_DEVICE_CUDA;
  if (o.cols < 32 || o.cols % 32 != 0)
    return cli_usage_error("formats", hint, "--cols must be a positive multiple of 32, got %lld", (long long)o.cols);
  if (o.size < o.cols || o.size % o.cols != 0 || o.size > ((int64_t)1 << 30))
    return cli_usage_error("formats", hint, "--size must be a multiple of --cols (%lld) up to 2^30, got %lld",
                           (long long)o.cols, (long long)o.size);
  vdit_status status = vdit_device_check(device);
  if (status != VDIT_OK) return cli_report_failure("formats", status);
  result (*results)[FORMAT_ROW_COUNT] = calloc(DATA_KIND_COUNT, sizeof *results);
  if (!results) return cli_report_failure("formats", VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory"));
  status = run_table(&o, device, results);
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
