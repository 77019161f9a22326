// Problems: a task at one shape, its host tensors, seeded inputs, the fp64 reference and the
// same-dtype (f32) baseline, or the contract's bytes for exact tasks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kbench/kbench_internal.h"

#ifndef VDIT_KBENCH_SOURCE_DIR
#define VDIT_KBENCH_SOURCE_DIR "."
#endif

const char *kb_source_root(void) {
  const char *root = getenv("VDIT_KBENCH_ROOT");
  return root && *root ? root : VDIT_KBENCH_SOURCE_DIR;
}

void kb_spec(kb_tensor *t, vdit_dtype dtype, size_t count, int64_t rows, int64_t channels, kb_gen gen,
             double low, double high, double scale) {
  t->dtype = dtype, t->count = count, t->rows = rows > 0 ? rows : 1, t->channels = channels;
  t->gen = gen, t->low = low, t->high = high, t->scale = scale;
}

size_t kb_tensor_bytes(const kb_tensor *t) {
  int bytes = vdit_dtype_element_bytes(t->dtype);
  return t->count * (size_t)(bytes > 0 ? bytes : 1);
}

uint32_t kb_poison_bits(vdit_dtype dtype, int variant) {
  switch (dtype) {
  case VDIT_DTYPE_F32: return variant ? 0x7fc0beefu : 0x7fc0deadu; // quiet NaNs with payloads
  case VDIT_DTYPE_BF16: case VDIT_DTYPE_F16: case VDIT_DTYPE_U16: case VDIT_DTYPE_I16:
    return variant ? 0x7fbeu : 0x7fadu;
  case VDIT_DTYPE_I32: case VDIT_DTYPE_U32: return variant ? 0x5a5a5a5au : 0xa5a5a5a5u;
  default: return variant ? 0x5au : 0xa5u;
  }
}

void kb_fill_poison(void *data, vdit_dtype dtype, size_t count, int variant) {
  uint32_t bits = kb_poison_bits(dtype, variant);
  int size = vdit_dtype_element_bytes(dtype);
  if (size <= 0) size = 1;
  unsigned char *bytes = data;
  for (size_t i = 0; i < count; i++) memcpy(bytes + i * (size_t)size, &bits, (size_t)size);
}

void kb_problem_free(kb_problem *p) {
  for (int k = 0; k < KB_MAX_IN; k++) free(p->in[k].data), p->in[k].data = NULL;
  for (int k = 0; k < KB_MAX_OUT; k++) {
    free(p->out[k].data), free(p->reference[k]), free(p->baseline[k]), free(p->expected[k]);
    p->out[k].data = NULL, p->reference[k] = p->baseline[k] = NULL, p->expected[k] = NULL;
  }
}

vdit_status kb_problem_init(kb_problem *p, const kb_task *task, const int64_t n[8]) {
  memset(p, 0, sizeof *p);
  p->task = task;
  memcpy(p->n, n, sizeof p->n);
  memcpy(p->f, task->f, sizeof p->f);
  task->family->setup(p);
  for (int k = 0; k < p->in_count; k++) {
    p->in[k].data = calloc(1, kb_tensor_bytes(&p->in[k]) + 16);
    if (!p->in[k].data) goto oom;
  }
  for (int k = 0; k < p->out_count; k++) {
    size_t count = p->out[k].count;
    p->out[k].data = calloc(1, kb_tensor_bytes(&p->out[k]) + 16);
    if (!p->out[k].data) goto oom;
    if (task->exact) {
      p->expected[k] = calloc(1, kb_tensor_bytes(&p->out[k]) + 16);
      if (!p->expected[k]) goto oom;
    } else {
      p->reference[k] = calloc(count + 1, sizeof(double));
      p->baseline[k] = calloc(count + 1, sizeof(double));
      if (!p->reference[k] || !p->baseline[k]) goto oom;
    }
    p->unit_roundoff[k] = p->out[k].dtype == VDIT_DTYPE_BF16 ? 0x1p-8 : 0x1p-24;
  }
  return VDIT_OK;
oom:
  kb_problem_free(p);
  return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory for task %s", task->name);
}

// Outlier channels: about 1 in 16 channels (at least one) scaled by 10..50.
static void apply_outliers(kb_tensor *t, uint64_t seed) {
  if (t->channels <= 0) return;
  size_t channels = (size_t)t->channels;
  float *factor = malloc(channels * sizeof *factor), *pick = malloc(channels * sizeof *pick);
  if (!factor || !pick) { free(factor), free(pick); return; }
  vdit_rng_uniform(seed, 0, channels, pick);
  vdit_rng_uniform(seed, channels, channels, factor);
  size_t first = (size_t)(pick[0] * (float)channels) % channels;
  for (size_t c = 0; c < channels; c++)
    factor[c] = (pick[c] < 1.0f / 16.0f || c == first) ? 10.0f + 40.0f * factor[c] : 1.0f;
  float *x = t->data;
  for (size_t i = 0; i < t->count; i++) x[i] *= factor[i % channels];
  free(factor), free(pick);
}

vdit_status kb_problem_generate(kb_problem *p, uint64_t seed, int outlier, int with_reference) {
  p->seed = seed;
  for (int k = 0; k < p->in_count; k++) {
    kb_tensor *t = &p->in[k];
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + (uint64_t)k * 0x632BE59BD9B4E5ull + 1;
    switch (t->gen) {
    case KB_GEN_NORMAL: case KB_GEN_BF16: {
      float *x = t->gen == KB_GEN_BF16 ? malloc(t->count * sizeof *x) : t->data;
      if (!x) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory for inputs");
      vdit_rng_normal(s, 0, t->count, x);
      for (size_t i = 0; i < t->count; i++) x[i] = (float)(x[i] * t->scale);
      if (outlier) apply_outliers(t->gen == KB_GEN_BF16 ? &(kb_tensor){.count = t->count, .channels = t->channels, .data = x} : t, s ^ 0xabcdefu);
      for (size_t i = 0; i < t->count; i++) x[i] = (float)fmin(fmax(x[i], t->low), t->high);
      if (t->gen == KB_GEN_BF16) {
        vdit_convert_from_float(VDIT_DTYPE_BF16, t->count, x, t->data);
        free(x);
      }
      break;
    }
    case KB_GEN_UNIFORM: {
      float *x = t->data;
      vdit_rng_uniform(s, 0, t->count, x);
      for (size_t i = 0; i < t->count; i++) {
        x[i] = (float)(t->low + (t->high - t->low) * x[i]);
        if (x[i] < t->low) x[i] = (float)t->low; // keep the rounded value inside the domain
      }
      break;
    }
    case KB_GEN_INDEX: {
      uint32_t *x = t->data;
      vdit_rng_u32(s, 0, t->count, x);
      for (size_t i = 0; i < t->count; i++) x[i] = (uint32_t)((uint64_t)x[i] * (uint64_t)t->high >> 32);
      break;
    }
    case KB_GEN_MASK: {
      float *u = malloc(t->count * sizeof *u);
      if (!u) return VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "kbench: no memory for inputs");
      vdit_rng_uniform(s, 0, t->count, u);
      for (size_t i = 0; i < t->count; i++) ((uint8_t *)t->data)[i] = u[i] < t->high;
      free(u);
      break;
    }
    default: break;
    }
  }
  if (p->task->family->prepare) p->task->family->prepare(p);
  if (!with_reference) return VDIT_OK;
  if (p->task->exact) {
    p->task->family->compute(p, 0, NULL);
  } else {
    p->task->family->compute(p, 0, p->reference);
    p->task->family->compute(p, 1, p->baseline);
  }
  return VDIT_OK;
}
