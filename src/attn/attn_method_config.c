// Attention methods with their parameters as text (include/vdit/attn.h,
// vdit_attn_method_config): "sparge(topk=0.1,rule=topk)". Model policies and the command
// line use this one parser, so a method named there always runs with stated parameters.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text_append.h"
#include "vdit/attn.h"

vdit_attn_method_config vdit_attn_method_defaults(vdit_attn_method method) {
  vdit_attn_method_config c;
  memset(&c, 0, sizeof c);
  c.method = method;
  c.sparge.rule = VDIT_ATTN_SPARGE_TOPK;
  c.sparge.params.topk = 0.1f;
  c.cluster.budget = 0.25f;
  c.sla.topk = 0.1f;
  c.sla.router_dim = 32;
  c.sla.feature = VDIT_ATTN_SLA_SOFTMAX;
  return c;
}

void vdit_attn_config_set_method(vdit_attn_config *config, const vdit_attn_method_config *method) {
  config->method = method->method;
  config->sage = method->sage;
  config->sparge = method->sparge;
  config->cluster = method->cluster;
  config->sla = method->sla;
}

static const char *sparge_rule_name(vdit_attn_sparge_rule rule) {
  return rule == VDIT_ATTN_SPARGE_TOPK ? "topk" : rule == VDIT_ATTN_SPARGE_TOPP ? "topp" : "hybrid";
}

#define PARAM_ERROR(text, ...)                                                                          \
  do {                                                                                                  \
    char detail_[200];                                                                                  \
    snprintf(detail_, sizeof detail_, __VA_ARGS__);                                                     \
    return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention method '%.80s': %s", text, detail_);      \
  } while (0)

// A number in [lo, hi] from value (whole string).
static int parse_number(const char *value, double lo, double hi, double *out) {
  char *end = NULL;
  double x = strtod(value, &end);
  if (end == value || *end != '\0' || !(x >= lo && x <= hi)) return 0;
  *out = x;
  return 1;
}

// One key=value of the method's parameters.
static vdit_status parse_param(const char *text, const char *key, const char *value, vdit_attn_method_config *c) {
  double x;
  if (c->method == VDIT_ATTN_SAGE) {
    if (strcmp(key, "gran") == 0) {
      if (vdit_attn_sage_granularity_parse(value, &c->sage.granularity) != VDIT_OK) PARAM_ERROR(text, "%s", vdit_last_error());
    } else if (strcmp(key, "pv") == 0) {
      if (vdit_attn_sage_pv_parse(value, &c->sage.pv) != VDIT_OK) PARAM_ERROR(text, "%s", vdit_last_error());
    } else if (strcmp(key, "smooth_q") == 0) {
      if (!parse_number(value, 0, 1, &x) || (x != 0 && x != 1)) PARAM_ERROR(text, "smooth_q must be 0 or 1");
      c->sage.smooth_q = (int)x;
    } else if (strcmp(key, "split") == 0) {
      if (vdit_attn_sage_split_parse(value, &c->sage.split) != VDIT_OK) PARAM_ERROR(text, "%s", vdit_last_error());
    } else PARAM_ERROR(text, "unknown sage parameter '%s' (gran, pv, smooth_q, split)", key);
    return VDIT_OK;
  }
  if (c->method == VDIT_ATTN_SPARGE) {
    vdit_attn_sparge_head *p = &c->sparge.params;
    if (strcmp(key, "rule") == 0) {
      if (strcmp(value, "topk") == 0) c->sparge.rule = VDIT_ATTN_SPARGE_TOPK;
      else if (strcmp(value, "topp") == 0) c->sparge.rule = VDIT_ATTN_SPARGE_TOPP;
      else if (strcmp(value, "hybrid") == 0) c->sparge.rule = VDIT_ATTN_SPARGE_HYBRID;
      else PARAM_ERROR(text, "unknown rule '%s' (topk, topp or hybrid)", value);
    } else if (strcmp(key, "topk") == 0 || strcmp(key, "topp") == 0) {
      if (!parse_number(value, 0, 1, &x)) PARAM_ERROR(text, "%s must be a fraction in [0, 1], got '%s'", key, value);
      if (key[3] == 'k') p->topk = (float)x;
      else p->topp = (float)x;
    } else if (strcmp(key, "theta") == 0) {
      if (!parse_number(value, -1, 1, &x)) PARAM_ERROR(text, "theta must be a cosine in [-1, 1], got '%s'", value);
      p->theta = (float)x;
    } else if (strcmp(key, "lambda") == 0) {
      if (!parse_number(value, 0, 1e30, &x)) PARAM_ERROR(text, "lambda must be >= 0, got '%s'", value);
      p->pv_threshold = (float)x;
    } else if (strcmp(key, "sink") == 0) {
      if (!parse_number(value, 0, 1, &x) || (x != 0 && x != 1)) PARAM_ERROR(text, "sink must be 0 or 1");
      c->sparge.sink = (int)x;
    } else if (strcmp(key, "sage") == 0) {
      if (!parse_number(value, 0, 1, &x) || (x != 0 && x != 1)) PARAM_ERROR(text, "sage must be 0 or 1");
      c->sparge.sage = (int)x;
    } else PARAM_ERROR(text, "unknown sparge parameter '%s' (rule, topk, topp, theta, lambda, sink, sage)", key);
    return VDIT_OK;
  }
  if (c->method == VDIT_ATTN_SLA) {
    if (strcmp(key, "topk") == 0) {
      if (!parse_number(value, 0, 1, &x) || x == 0) PARAM_ERROR(text, "topk must be a fraction in (0, 1], got '%s'", value);
      c->sla.topk = (float)x;
    } else if (strcmp(key, "router_dim") == 0) {
      if (!parse_number(value, 1, 256, &x) || x != floor(x)) PARAM_ERROR(text, "router_dim must be in 1..256, got '%s'", value);
      c->sla.router_dim = (int32_t)x;
    } else if (strcmp(key, "feature") == 0) {
      if (strcmp(value, "softmax") == 0) c->sla.feature = VDIT_ATTN_SLA_SOFTMAX;
      else if (strcmp(value, "elu") == 0) c->sla.feature = VDIT_ATTN_SLA_ELU;
      else PARAM_ERROR(text, "unknown feature '%s' (softmax or elu)", value);
    } else if (strcmp(key, "sage") == 0) {
      if (!parse_number(value, 0, 1, &x) || (x != 0 && x != 1)) PARAM_ERROR(text, "sage must be 0 or 1");
      c->sla.sage = (int32_t)x;
    } else PARAM_ERROR(text, "unknown sla parameter '%s' (topk, router_dim, feature, sage)", key);
    return VDIT_OK;
  }
  if (c->method == VDIT_ATTN_EAR || c->method == VDIT_ATTN_SVG) {
    vdit_attn_cluster_config *k = &c->cluster;
    int32_t *counts[] = {&k->q_clusters, &k->k_clusters, &k->iterations, &k->warm_iterations};
    const char *count_keys[] = {"q_clusters", "k_clusters", "iterations", "warm_iterations"};
    for (int i = 0; i < 4; i++)
      if (strcmp(key, count_keys[i]) == 0) {
        if (!parse_number(value, 0, 1 << 20, &x) || x != floor(x)) PARAM_ERROR(text, "%s must be a count >= 0 (0: automatic), got '%s'", key, value);
        *counts[i] = (int32_t)x;
        return VDIT_OK;
      }
    if (strcmp(key, "budget") == 0) {
      const double lo = c->method == VDIT_ATTN_SVG ? -1 : 0;
      if (!parse_number(value, lo, 1, &x) || (x < 0 && x != -1))
        PARAM_ERROR(text, "budget must be a fraction in [0, 1]%s, got '%s'", c->method == VDIT_ATTN_SVG ? " (or -1: top-p routing)" : "", value);
      k->budget = (float)x;
    } else if (strcmp(key, "top_p") == 0 || strcmp(key, "min_fraction") == 0) {
      if (!parse_number(value, 0, 1, &x)) PARAM_ERROR(text, "%s must be a fraction in [0, 1], got '%s'", key, value);
      if (key[0] == 't') k->top_p = (float)x;
      else k->min_fraction = (float)x;
    } else if (strcmp(key, "warm") == 0 || strcmp(key, "gpu_routing") == 0) {
      if (!parse_number(value, 0, 1, &x) || (x != 0 && x != 1)) PARAM_ERROR(text, "%s must be 0 or 1", key);
      if (key[0] == 'w') k->warm_start = (int)x;
      else k->gpu_routing = (int)x;
    } else if (strcmp(key, "seed") == 0) {
      if (!parse_number(value, 0, 9007199254740992.0, &x) || x != floor(x)) PARAM_ERROR(text, "seed must be an integer >= 0, got '%s'", value);
      k->seed = (uint64_t)x;
    } else
      PARAM_ERROR(text, "unknown %s parameter '%s' (budget, q_clusters, k_clusters, iterations, warm_iterations, warm, top_p, "
                  "min_fraction, seed, gpu_routing)", vdit_attn_method_name(c->method), key);
    return VDIT_OK;
  }
  PARAM_ERROR(text, "method '%s' takes no parameters", vdit_attn_method_name(c->method));
}

vdit_status vdit_attn_method_config_parse(const char *text, vdit_attn_method_config *config) {
  if (!text || !config) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention method: NULL argument");
  char buffer[256];
  size_t n = strlen(text);
  if (n >= sizeof buffer) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "attention method '%.40s...' is too long", text);
  memcpy(buffer, text, n + 1);
  char *open = strchr(buffer, '(');
  if (open) *open = '\0';
  vdit_attn_method method;
  if (vdit_attn_method_parse(buffer, &method) != VDIT_OK) PARAM_ERROR(text, "%s", vdit_last_error());
  vdit_attn_method_config c = vdit_attn_method_defaults(method);
  if (open) {
    char *close = buffer + n - 1;
    if (*close != ')' || close == open) PARAM_ERROR(text, "parameters go in one '(key=value,...)' at the end");
    *close = '\0';
    char *item = open + 1;
    if (*item == '\0') PARAM_ERROR(text, "empty '()'");
    while (item) {
      char *comma = strchr(item, ',');
      if (comma) *comma = '\0';
      char *equals = strchr(item, '=');
      if (!equals || equals == item || equals[1] == '\0') PARAM_ERROR(text, "'%s' is not key=value", item);
      *equals = '\0';
      VDIT_TRY(parse_param(text, item, equals + 1, &c));
      item = comma ? comma + 1 : NULL;
    }
  }
  if (c.method == VDIT_ATTN_SPARGE) {
    const vdit_attn_sparge_head *p = &c.sparge.params;
    if (c.sparge.rule == VDIT_ATTN_SPARGE_TOPK && p->topk == 0)
      PARAM_ERROR(text, "rule topk with topk=0 computes no block (give topk > 0)");
    if (c.sparge.rule == VDIT_ATTN_SPARGE_TOPP && p->topp == 0)
      PARAM_ERROR(text, "rule topp with topp=0 computes no block (give topp > 0)");
  }
  *config = c;
  return VDIT_OK;
}

char *vdit_attn_method_config_describe(const vdit_attn_method_config *config, char *buffer, size_t size) {
  if (!buffer || size == 0) return buffer;
  buffer[0] = '\0';
  size_t used = 0;
  vdit_text_append(buffer, size, &used, "%s", vdit_attn_method_name(config->method));
  const vdit_attn_method_config d = vdit_attn_method_defaults(config->method);
  int count = 0;
#define SEP (count++ ? "," : "(")
  if (config->method == VDIT_ATTN_SAGE) {
    if (config->sage.granularity != d.sage.granularity)
      vdit_text_append(buffer, size, &used, "%sgran=%s", SEP, vdit_attn_sage_granularity_name(config->sage.granularity));
    if (config->sage.pv != d.sage.pv) vdit_text_append(buffer, size, &used, "%spv=%s", SEP, vdit_attn_sage_pv_name(config->sage.pv));
    if (config->sage.smooth_q != d.sage.smooth_q) vdit_text_append(buffer, size, &used, "%ssmooth_q=%d", SEP, config->sage.smooth_q);
    if (config->sage.split != d.sage.split)
      vdit_text_append(buffer, size, &used, "%ssplit=%s", SEP, vdit_attn_sage_split_name(config->sage.split));
  } else if (config->method == VDIT_ATTN_SPARGE) {
    const vdit_attn_sparge_head *p = &config->sparge.params, *q = &d.sparge.params;
    if (config->sparge.rule != d.sparge.rule) vdit_text_append(buffer, size, &used, "%srule=%s", SEP, sparge_rule_name(config->sparge.rule));
    if (p->topk != q->topk) vdit_text_append(buffer, size, &used, "%stopk=%g", SEP, (double)p->topk);
    if (p->topp != q->topp) vdit_text_append(buffer, size, &used, "%stopp=%g", SEP, (double)p->topp);
    if (p->theta != q->theta) vdit_text_append(buffer, size, &used, "%stheta=%g", SEP, (double)p->theta);
    if (p->pv_threshold != q->pv_threshold) vdit_text_append(buffer, size, &used, "%slambda=%g", SEP, (double)p->pv_threshold);
    if (config->sparge.sink != d.sparge.sink) vdit_text_append(buffer, size, &used, "%ssink=%d", SEP, config->sparge.sink);
    if (config->sparge.sage != d.sparge.sage) vdit_text_append(buffer, size, &used, "%ssage=%d", SEP, config->sparge.sage);
  } else if (config->method == VDIT_ATTN_SLA) {
    if (config->sla.topk != d.sla.topk) vdit_text_append(buffer, size, &used, "%stopk=%g", SEP, (double)config->sla.topk);
    if (config->sla.router_dim != d.sla.router_dim)
      vdit_text_append(buffer, size, &used, "%srouter_dim=%d", SEP, (int)config->sla.router_dim);
    if (config->sla.feature != d.sla.feature)
      vdit_text_append(buffer, size, &used, "%sfeature=%s", SEP, config->sla.feature == VDIT_ATTN_SLA_ELU ? "elu" : "softmax");
    if (config->sla.sage != d.sla.sage) vdit_text_append(buffer, size, &used, "%ssage=%d", SEP, (int)config->sla.sage);
  } else if (config->method == VDIT_ATTN_EAR || config->method == VDIT_ATTN_SVG) {
    const vdit_attn_cluster_config *k = &config->cluster, *e = &d.cluster;
    if (k->budget != e->budget) vdit_text_append(buffer, size, &used, "%sbudget=%g", SEP, (double)k->budget);
    if (k->q_clusters != e->q_clusters) vdit_text_append(buffer, size, &used, "%sq_clusters=%d", SEP, (int)k->q_clusters);
    if (k->k_clusters != e->k_clusters) vdit_text_append(buffer, size, &used, "%sk_clusters=%d", SEP, (int)k->k_clusters);
    if (k->iterations != e->iterations) vdit_text_append(buffer, size, &used, "%siterations=%d", SEP, (int)k->iterations);
    if (k->warm_iterations != e->warm_iterations)
      vdit_text_append(buffer, size, &used, "%swarm_iterations=%d", SEP, (int)k->warm_iterations);
    if (k->warm_start != e->warm_start) vdit_text_append(buffer, size, &used, "%swarm=%d", SEP, k->warm_start);
    if (k->top_p != e->top_p) vdit_text_append(buffer, size, &used, "%stop_p=%g", SEP, (double)k->top_p);
    if (k->min_fraction != e->min_fraction) vdit_text_append(buffer, size, &used, "%smin_fraction=%g", SEP, (double)k->min_fraction);
    if (k->seed != e->seed) vdit_text_append(buffer, size, &used, "%sseed=%llu", SEP, (unsigned long long)k->seed);
    if (k->gpu_routing != e->gpu_routing) vdit_text_append(buffer, size, &used, "%sgpu_routing=%d", SEP, k->gpu_routing);
  }
#undef SEP
  if (count) vdit_text_append(buffer, size, &used, ")");
  return buffer;
}
