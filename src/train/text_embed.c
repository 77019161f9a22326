// Caption tokens to the model's context through a learned table, and its backward.
#include <string.h>

#include "vdit/train.h"

vdit_status vdit_text_embed(const float *table, int64_t vocab, int64_t text_dim, const int32_t *tokens, int64_t batch,
                            int64_t length, float *context) {
  if (!table || !tokens || !context) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_text_embed: NULL argument");
  for (int64_t i = 0; i < batch * length; i++) {
    const int32_t token = tokens[i];
    if (token < 0 || token >= vocab)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "text embedding: token %d outside the vocabulary 0..%lld", token,
                        (long long)vocab - 1);
    float *row = context + i * text_dim; // (B, S, D_txt)
    if (token == 0) memset(row, 0, (size_t)text_dim * sizeof(float)); // padding: zeros, as Wan pads T5's output
    else memcpy(row, table + (int64_t)token * text_dim, (size_t)text_dim * sizeof(float));
  }
  return VDIT_OK;
}

vdit_status vdit_text_embed_backward(const int32_t *tokens, int64_t batch, int64_t length, int64_t vocab,
                                     int64_t text_dim, const float *d_context, float *d_table) {
  if (!tokens || !d_context || !d_table)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_text_embed_backward: NULL argument");
  // Sequential over positions, so the sums' order (and bits) never depend on threads.
  for (int64_t i = 0; i < batch * length; i++) {
    const int32_t token = tokens[i];
    if (token < 0 || token >= vocab)
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "text embedding: token %d outside the vocabulary 0..%lld", token,
                        (long long)vocab - 1);
    if (token == 0) continue;
    float *row = d_table + (int64_t)token * text_dim;
    const float *d = d_context + i * text_dim;
    for (int64_t c = 0; c < text_dim; c++) row[c] += d[c];
  }
  return VDIT_OK;
}
