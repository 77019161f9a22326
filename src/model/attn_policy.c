// The attention policy of include/vdit/model.h: which self-attention method each block uses
// at each step, from a compact spec ("sparge(topk=0.05):layers=2-27,steps=3-;dense") or JSON.
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text_append.h"
#include "tensor/json.h"
#include "vdit/model.h"

enum { SPEC_QUOTE = 120 };

// The spec for messages: at most SPEC_QUOTE characters, "..." after a cut.
static const char *quoted(const char *spec, char *buffer, size_t size) {
  size_t n = strlen(spec);
  if (n <= SPEC_QUOTE) snprintf(buffer, size, "%s", spec);
  else snprintf(buffer, size, "%.*s...", SPEC_QUOTE, spec);
  return buffer;
}

#define POLICY_ERROR(spec, ...)                                                                          \
  do {                                                                                                   \
    char quote_[SPEC_QUOTE + 8], detail_[256];                                                           \
    snprintf(detail_, sizeof detail_, __VA_ARGS__);                                                      \
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention policy '%s': %s", quoted(spec, quote_, sizeof quote_), \
                      detail_);                                                                          \
  } while (0)

// A non-negative decimal integer of text[0..n); 0 when it is not one.
static int parse_index(const char *text, size_t n, int64_t *out) {
  if (n == 0 || n > 18) return 0;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)text[i])) return 0;
    v = v * 10 + (text[i] - '0');
  }
  *out = v;
  return 1;
}

// One range "N", "N-M", "N-", "-M" of text[0..n).
static vdit_status parse_range(const char *spec, const char *text, size_t n, vdit_model_attn_range *range) {
  const char *dash = memchr(text, '-', n);
  if (!dash) {
    if (!parse_index(text, n, &range->first)) POLICY_ERROR(spec, "bad range '%.*s' (N, N-M, N- or -M)", (int)n, text);
    range->last = range->first;
    return VDIT_OK;
  }
  size_t a = (size_t)(dash - text), b = n - a - 1;
  if (a == 0) range->first = 0;
  else if (!parse_index(text, a, &range->first)) POLICY_ERROR(spec, "bad range '%.*s' (N, N-M, N- or -M)", (int)n, text);
  if (b == 0) range->last = INT64_MAX;
  else if (!parse_index(dash + 1, b, &range->last)) POLICY_ERROR(spec, "bad range '%.*s' (N, N-M, N- or -M)", (int)n, text);
  if (a == 0 && b == 0) POLICY_ERROR(spec, "bad range '-' (N, N-M, N- or -M)");
  if (range->last < range->first)
    POLICY_ERROR(spec, "range '%.*s' ends before it starts", (int)n, text);
  return VDIT_OK;
}

// "R+R+R" of text[0..n) into ranges.
static vdit_status parse_ranges(const char *spec, const char *what, const char *text, size_t n,
                                vdit_model_attn_range *ranges, int *count) {
  if (*count) POLICY_ERROR(spec, "'%s' given twice in one rule", what);
  if (n == 0) POLICY_ERROR(spec, "'%s=' needs a range (N, N-M, N- or -M)", what);
  size_t start = 0;
  while (start <= n) {
    const char *plus = memchr(text + start, '+', n - start);
    size_t end = plus ? (size_t)(plus - text) : n;
    if (*count == VDIT_MODEL_ATTN_POLICY_MAX_RANGES)
      POLICY_ERROR(spec, "more than %d ranges for '%s'", VDIT_MODEL_ATTN_POLICY_MAX_RANGES, what);
    VDIT_TRY(parse_range(spec, text + start, end - start, &ranges[*count]));
    (*count)++;
    start = end + 1;
  }
  return VDIT_OK;
}

static vdit_status parse_method(const char *spec, const char *text, size_t n, vdit_attn_method_config *method) {
  char name[256];
  if (n == 0) POLICY_ERROR(spec, "a rule without a method (e.g. 'dense' or 'sage:layers=0-3')");
  if (n >= sizeof name) POLICY_ERROR(spec, "method '%.40s...' is too long", text);
  memcpy(name, text, n);
  name[n] = '\0';
  if (vdit_attn_method_config_parse(name, method) != VDIT_OK) POLICY_ERROR(spec, "%s", vdit_last_error());
  return VDIT_OK;
}

// One rule of text[0..n): METHOD[:cond,cond].
static vdit_status parse_rule(const char *spec, const char *text, size_t n, vdit_model_attn_rule *rule) {
  memset(rule, 0, sizeof *rule);
  const char *colon = memchr(text, ':', n);
  size_t method_length = colon ? (size_t)(colon - text) : n;
  VDIT_TRY(parse_method(spec, text, method_length, &rule->attn));
  if (!colon) return VDIT_OK;
  size_t start = method_length + 1;
  if (start == n) POLICY_ERROR(spec, "':' after '%.*s' but no condition (layers=... or steps=...)", (int)method_length, text);
  while (start <= n) {
    const char *comma = memchr(text + start, ',', n - start);
    size_t end = comma ? (size_t)(comma - text) : n;
    const char *cond = text + start;
    size_t length = end - start;
    const char *equals = memchr(cond, '=', length);
    if (!equals) POLICY_ERROR(spec, "condition '%.*s' needs '=' (layers=RANGE or steps=RANGE)", (int)length, cond);
    size_t key_length = (size_t)(equals - cond);
    const char *value = equals + 1;
    size_t value_length = length - key_length - 1;
    if (key_length == 6 && memcmp(cond, "layers", 6) == 0)
      VDIT_TRY(parse_ranges(spec, "layers", value, value_length, rule->layers, &rule->layer_range_count));
    else if (key_length == 5 && memcmp(cond, "steps", 5) == 0)
      VDIT_TRY(parse_ranges(spec, "steps", value, value_length, rule->steps, &rule->step_range_count));
    else POLICY_ERROR(spec, "unknown condition '%.*s' (layers or steps)", (int)key_length, cond);
    start = end + 1;
  }
  return VDIT_OK;
}

vdit_status vdit_model_attn_policy_parse(const char *spec, vdit_model_attn_policy *policy) {
  if (!spec || !policy) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention policy: NULL argument");
  memset(policy, 0, sizeof *policy);
  for (const char *c = spec; *c; c++)
    if (isspace((unsigned char)*c)) POLICY_ERROR(spec, "spaces are not allowed (e.g. 'sage:layers=2-27;dense')");
  size_t n = strlen(spec);
  if (n == 0) POLICY_ERROR(spec, "empty (e.g. 'dense' or 'sage:layers=2-27;dense')");
  size_t start = 0;
  while (start <= n) {
    const char *semicolon = memchr(spec + start, ';', n - start);
    size_t end = semicolon ? (size_t)(semicolon - spec) : n;
    if (policy->rule_count == VDIT_MODEL_ATTN_POLICY_MAX_RULES)
      POLICY_ERROR(spec, "more than %d rules", VDIT_MODEL_ATTN_POLICY_MAX_RULES);
    VDIT_TRY(parse_rule(spec, spec + start, end - start, &policy->rules[policy->rule_count]));
    policy->rule_count++;
    start = end + 1;
  }
  return VDIT_OK;
}

// ---------------------------------------------------------------- JSON
static vdit_status json_error(const char *source, const vdit_json *d, vdit_json_value v, const char *detail) {
  return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: attention policy at byte %zu: %s", source,
                    vdit_json_offset(d, v), detail);
}

// A JSON range: a spec string, an integer, or [first, last] with null for an open end.
static vdit_status json_ranges(const char *source, const vdit_json *d, vdit_json_value v, const char *what,
                               vdit_model_attn_range *ranges, int *count) {
  char detail[200];
  vdit_json_type type = vdit_json_type_of(d, v);
  if (type == VDIT_JSON_STRING) {
    const char *text = vdit_json_string(d, v, NULL);
    vdit_status status = parse_ranges(text, what, text, strlen(text), ranges, count);
    if (status != VDIT_OK) {
      snprintf(detail, sizeof detail, "'%s': %s", what, vdit_last_error());
      return json_error(source, d, v, detail);
    }
    return VDIT_OK;
  }
  if (type == VDIT_JSON_NUMBER) {
    int64_t x;
    if (vdit_json_get_int64(d, v, &x) != VDIT_OK || x < 0) {
      snprintf(detail, sizeof detail, "'%s' must be an index >= 0", what);
      return json_error(source, d, v, detail);
    }
    ranges[0] = (vdit_model_attn_range){x, x};
    *count = 1;
    return VDIT_OK;
  }
  if (type == VDIT_JSON_ARRAY && vdit_json_count(d, v) == 2) {
    int64_t bounds[2] = {0, INT64_MAX};
    int i = 0;
    for (vdit_json_value e = vdit_json_first(d, v); e != VDIT_JSON_NONE; e = vdit_json_next(d, e), i++) {
      if (vdit_json_type_of(d, e) == VDIT_JSON_NULL) continue;
      if (vdit_json_get_int64(d, e, &bounds[i]) != VDIT_OK || bounds[i] < 0) {
        snprintf(detail, sizeof detail, "'%s' bounds must be indices >= 0 or null", what);
        return json_error(source, d, e, detail);
      }
    }
    if (bounds[1] < bounds[0]) {
      snprintf(detail, sizeof detail, "'%s' range ends before it starts", what);
      return json_error(source, d, v, detail);
    }
    ranges[0] = (vdit_model_attn_range){bounds[0], bounds[1]};
    *count = 1;
    return VDIT_OK;
  }
  snprintf(detail, sizeof detail, "'%s' must be a range string (\"2-27\"), an index or [first, last]", what);
  return json_error(source, d, v, detail);
}

static vdit_status json_rule(const char *source, const vdit_json *d, vdit_json_value v, vdit_model_attn_rule *rule) {
  memset(rule, 0, sizeof *rule);
  if (vdit_json_type_of(d, v) != VDIT_JSON_OBJECT)
    return json_error(source, d, v, "a rule must be an object {\"method\": ..., \"layers\": ..., \"steps\": ...}");
  int has_method = 0;
  char detail[300];
  for (vdit_json_value k = vdit_json_first(d, v); k != VDIT_JSON_NONE; k = vdit_json_next(d, k)) {
    const char *key = vdit_json_string(d, k, NULL);
    vdit_json_value value = vdit_json_member_value(d, k);
    if (strcmp(key, "method") == 0) {
      const char *name = vdit_json_string(d, value, NULL);
      if (!name) return json_error(source, d, value, "\"method\" must be a string");
      if (vdit_attn_method_config_parse(name, &rule->attn) != VDIT_OK) {
        snprintf(detail, sizeof detail, "%s", vdit_last_error());
        return json_error(source, d, value, detail);
      }
      has_method = 1;
    } else if (strcmp(key, "layers") == 0) {
      VDIT_TRY(json_ranges(source, d, value, "layers", rule->layers, &rule->layer_range_count));
    } else if (strcmp(key, "steps") == 0) {
      VDIT_TRY(json_ranges(source, d, value, "steps", rule->steps, &rule->step_range_count));
    } else {
      snprintf(detail, sizeof detail, "unknown key '%.60s' (method, layers, steps)", key);
      return json_error(source, d, k, detail);
    }
  }
  if (!has_method) return json_error(source, d, v, "a rule needs \"method\"");
  return VDIT_OK;
}

static vdit_status json_policy(const char *source, const vdit_json *d, vdit_json_value v,
                               vdit_model_attn_policy *policy) {
  vdit_json_type type = vdit_json_type_of(d, v);
  if (type == VDIT_JSON_STRING) {
    vdit_status status = vdit_model_attn_policy_parse(vdit_json_string(d, v, NULL), policy);
    if (status != VDIT_OK) {
      char detail[400];
      snprintf(detail, sizeof detail, "%s", vdit_last_error());
      return json_error(source, d, v, detail);
    }
    return VDIT_OK;
  }
  if (type == VDIT_JSON_OBJECT) {
    vdit_json_value inner = vdit_json_find(d, v, "attention");
    if (inner == VDIT_JSON_NONE || vdit_json_count(d, v) != 1)
      return json_error(source, d, v, "an object must have exactly one key, \"attention\"");
    type = vdit_json_type_of(d, inner);
    if (type != VDIT_JSON_STRING && type != VDIT_JSON_ARRAY)
      return json_error(source, d, inner, "\"attention\" must be a spec string or an array of rules");
    return json_policy(source, d, inner, policy);
  }
  if (type != VDIT_JSON_ARRAY)
    return json_error(source, d, v, "expected a spec string, an array of rules or {\"attention\": ...}");
  memset(policy, 0, sizeof *policy);
  if (vdit_json_count(d, v) == 0) return json_error(source, d, v, "no rules");
  if (vdit_json_count(d, v) > VDIT_MODEL_ATTN_POLICY_MAX_RULES)
    return json_error(source, d, v, "too many rules (at most 32)");
  for (vdit_json_value e = vdit_json_first(d, v); e != VDIT_JSON_NONE; e = vdit_json_next(d, e))
    VDIT_TRY(json_rule(source, d, e, &policy->rules[policy->rule_count++]));
  return VDIT_OK;
}

vdit_status vdit_model_attn_policy_parse_json(const char *text, size_t length, const char *source,
                                              vdit_model_attn_policy *policy) {
  if (!text || !policy) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention policy: NULL argument");
  if (!source) source = "attention policy JSON";
  vdit_json *d = NULL;
  vdit_json_error error;
  if (vdit_json_parse(text, length, NULL, &d, &error) != VDIT_OK)
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s: not valid JSON at byte %zu: %s", source, error.offset,
                      error.message);
  vdit_model_attn_policy parsed;
  vdit_status status = json_policy(source, d, vdit_json_root(d), &parsed);
  vdit_json_free(d);
  if (status == VDIT_OK) *policy = parsed;
  return status;
}

vdit_status vdit_model_attn_policy_load(const char *text, vdit_model_attn_policy *policy) {
  if (!text || !policy) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention policy: NULL argument");
  size_t n = strlen(text);
  const char *path = NULL;
  if (text[0] == '@') path = text + 1;
  else if (n > 5 && strcmp(text + n - 5, ".json") == 0) path = text;
  if (!path) return vdit_model_attn_policy_parse(text, policy);
  FILE *f = fopen(path, "rb");
  if (!f) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open attention policy file %s: %s", path, strerror(errno));
  char *buffer = NULL;
  size_t size = 0, capacity = 0;
  vdit_status status = VDIT_OK;
  for (;;) {
    if (size + 4096 > capacity) {
      capacity = capacity ? capacity * 2 : 8192;
      if (capacity > ((size_t)1 << 24)) {
        status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention policy file %s is larger than 16 MiB", path);
        break;
      }
      char *grown = realloc(buffer, capacity);
      if (!grown) {
        status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "no memory for %s", path);
        break;
      }
      buffer = grown;
    }
    size_t got = fread(buffer + size, 1, capacity - size, f);
    size += got;
    if (got == 0) {
      if (ferror(f)) status = VDIT_ERROR(VDIT_ERROR_IO, "cannot read %s", path);
      break;
    }
  }
  fclose(f);
  if (status == VDIT_OK) status = vdit_model_attn_policy_parse_json(buffer ? buffer : "", size, path, policy);
  free(buffer);
  return status;
}

// ---------------------------------------------------------------- use
static int in_ranges(const vdit_model_attn_range *ranges, int count, int64_t x) {
  if (count == 0) return 1;
  for (int i = 0; i < count; i++)
    if (x >= ranges[i].first && x <= ranges[i].last) return 1;
  return 0;
}

int vdit_model_attn_policy_rule(const vdit_model_attn_policy *policy, int64_t layer, int64_t step) {
  if (policy)
    for (int r = 0; r < policy->rule_count; r++) {
      const vdit_model_attn_rule *rule = &policy->rules[r];
      if (in_ranges(rule->layers, rule->layer_range_count, layer) && in_ranges(rule->steps, rule->step_range_count, step))
        return r;
    }
  return -1;
}

vdit_attn_method_config vdit_model_attn_policy_method(const vdit_model_attn_policy *policy, int64_t layer, int64_t step) {
  int r = vdit_model_attn_policy_rule(policy, layer, step);
  return r < 0 ? vdit_attn_method_defaults(VDIT_ATTN_DENSE) : policy->rules[r].attn;
}

vdit_status vdit_model_attn_policy_check(const vdit_model_attn_policy *policy, int64_t layers) {
  if (!policy) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention policy is NULL");
  for (int r = 0; r < policy->rule_count; r++) {
    const vdit_model_attn_rule *rule = &policy->rules[r];
    if (rule->layer_range_count == 0) continue;
    int64_t lowest = INT64_MAX;
    for (int i = 0; i < rule->layer_range_count; i++)
      if (rule->layers[i].first < lowest) lowest = rule->layers[i].first;
    if (lowest >= layers) {
      char spec[256];
      vdit_model_attn_policy one = {1, {*rule}};
      return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT,
                        "attention policy rule %d '%s' names layers from %" PRId64 " but the model has %" PRId64
                        " layers (0..%" PRId64 ")",
                        r + 1, vdit_model_attn_policy_describe(&one, spec, sizeof spec), lowest, layers, layers - 1);
    }
  }
  return VDIT_OK;
}

void vdit_model_attn_policy_fill(const vdit_model_attn_policy *policy, int64_t layers, int64_t step,
                                 vdit_attn_method_config *methods) {
  for (int64_t n = 0; n < layers; n++) methods[n] = vdit_model_attn_policy_method(policy, n, step);
}

static void append_ranges(char *buffer, size_t size, size_t *used, const char *what,
                          const vdit_model_attn_range *ranges, int count) {
  vdit_text_append(buffer, size, used, "%s=", what);
  for (int i = 0; i < count; i++) {
    const vdit_model_attn_range *r = &ranges[i];
    if (i) vdit_text_append(buffer, size, used, "+");
    if (r->first == r->last) vdit_text_append(buffer, size, used, "%" PRId64, r->first);
    else if (r->last == INT64_MAX) vdit_text_append(buffer, size, used, "%" PRId64 "-", r->first);
    else vdit_text_append(buffer, size, used, "%" PRId64 "-%" PRId64, r->first, r->last);
  }
}

char *vdit_model_attn_policy_describe(const vdit_model_attn_policy *policy, char *buffer, size_t size) {
  if (!buffer || size == 0) return buffer;
  buffer[0] = '\0';
  size_t used = 0;
  if (!policy || policy->rule_count == 0) {
    vdit_text_append(buffer, size, &used, "dense");
    return buffer;
  }
  for (int r = 0; r < policy->rule_count; r++) {
    const vdit_model_attn_rule *rule = &policy->rules[r];
    char method[160];
    vdit_text_append(buffer, size, &used, "%s%s", r ? ";" : "", vdit_attn_method_config_describe(&rule->attn, method, sizeof method));
    if (rule->layer_range_count) {
      vdit_text_append(buffer, size, &used, ":");
      append_ranges(buffer, size, &used, "layers", rule->layers, rule->layer_range_count);
    }
    if (rule->step_range_count) {
      vdit_text_append(buffer, size, &used, rule->layer_range_count ? "," : ":");
      append_ranges(buffer, size, &used, "steps", rule->steps, rule->step_range_count);
    }
  }
  return buffer;
}
