// Helpers shared by the train layer's files (JSON reading/writing of configs).
#ifndef VDIT_TRAIN_INTERNAL_H
#define VDIT_TRAIN_INTERNAL_H

#include "tensor/json.h"
#include "vdit/train.h"

void train_json_int(vdit_json_writer *w, const char *key, int64_t value, int *first);
void train_json_double(vdit_json_writer *w, const char *key, double value, int *first);
void train_json_string(vdit_json_writer *w, const char *key, const char *value, int *first);
void train_json_raw(vdit_json_writer *w, const char *key, const char *raw, int *first);
void train_bundle_config_write(vdit_json_writer *w, const vdit_bundle_config *c);

vdit_status train_json_open(const char *json, size_t length, const char *source, vdit_json **document);
vdit_status train_json_read_int(const vdit_json *d, vdit_json_value v, const char *source, const char *key,
                                int64_t *out);
vdit_status train_json_read_double(const vdit_json *d, vdit_json_value v, const char *source, const char *key,
                                   double *out);
vdit_status train_bundle_config_member(const vdit_json *d, vdit_json_value key, const char *source,
                                       vdit_bundle_config *c, int *known);

// Writes the bundle file with extra tensors and metadata (a checkpoint's optimizer state).
vdit_status train_bundle_write(const vdit_bundle *bundle, const vdit_model_weights *weights, const float *token_table,
                               vdit_dtype dtype, const char *path, size_t extra_count, const char *const *extra_names,
                               const vdit_tensor *extra_tensors, size_t extra_metadata,
                               const char *const *extra_keys, const char *const *extra_values);

// Reads a whole file into a NUL-terminated malloc'd buffer.
vdit_status train_read_text(const char *path, char **text, size_t *length);

#endif
