// The model's tools: the attention policy (spec and JSON parsing, first-match rule choice,
// errors), the tamper hook (called for Q, K, V, O of every block in order; its changes reach
// the attention and the output; recompute reruns it), and the Q/K/V capture (the captured
// tensors are the attention's inputs: dense attention of them gives the observed output O;
// the file's names and metadata), on the wan_small fixture.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vdit/model.h"

// ---------------------------------------------------------------- policy
typedef int (*expected_rule)(int64_t layer, int64_t step);
static int rule_a(int64_t l, int64_t s) { return l >= 2 && l <= 27 && s >= 3 ? 0 : 1; }
static int rule_b(int64_t l, int64_t s) {
  (void)s;
  return (l == 0 || l == 5 || (l >= 10 && l <= 12)) ? 0 : -1;
}
static int rule_c(int64_t l, int64_t s) {
  if (s <= 1) return 0;
  if (l >= 20) return 1;
  return 2;
}

#define CHECK_EQ_STR(a, b)                                                                         \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    if (strcmp(a_, b_) != 0) CHECK_FAIL_("'%s' != '%s'", a_, b_);                                  \
  } while (0)

static void check_rules(const char *spec, expected_rule expected) {
  vdit_model_attn_policy p;
  CHECK_OK(vdit_model_attn_policy_parse(spec, &p));
  int wrong = 0;
  for (int64_t l = 0; l < 40; l++)
    for (int64_t s = 0; s < 60; s++) {
      int want = expected(l, s), got = vdit_model_attn_policy_rule(&p, l, s);
      if (got != want && wrong++ < 3) CHECK_FAIL_("%s: layer %lld step %lld: rule %d, want %d", spec, (long long)l, (long long)s, got, want);
      vdit_attn_method_config m = vdit_model_attn_policy_method(&p, l, s);
      CHECK_EQ_INT(m.method, want < 0 ? VDIT_ATTN_DENSE : p.rules[want].attn.method);
    }
  // describe gives a spec that parses to the same choices
  char text[512], text_again[512];
  vdit_model_attn_policy again;
  CHECK_OK(vdit_model_attn_policy_parse(vdit_model_attn_policy_describe(&p, text, sizeof text), &again));
  CHECK_EQ_INT(again.rule_count, p.rule_count);
  for (int r = 0; r < p.rule_count; r++) {
    const vdit_model_attn_rule *a = &p.rules[r], *b = &again.rules[r];
    CHECK(a->layer_range_count == b->layer_range_count && a->step_range_count == b->step_range_count);
    CHECK(memcmp(a->layers, b->layers, sizeof a->layers) == 0 && memcmp(a->steps, b->steps, sizeof a->steps) == 0);
  }
  CHECK_EQ_STR(vdit_model_attn_policy_describe(&again, text_again, sizeof text_again), text);
}

static void check_error(const char *spec, const char *needle) {
  vdit_model_attn_policy p;
  vdit_status status = vdit_model_attn_policy_parse(spec, &p);
  CHECK_EQ_INT(status, VDIT_ERROR_INVALID_ARGUMENT);
  const char *message = vdit_last_error();
  if (!strstr(message, needle)) CHECK_FAIL_("spec '%s': message '%s' lacks '%s'", spec, message, needle);
  if (strchr(message, '\n')) CHECK_FAIL_("spec '%s': message has a newline", spec);
}

static void check_json(const char *json, const char *spec) {
  vdit_model_attn_policy a, b;
  CHECK_OK(vdit_model_attn_policy_parse_json(json, strlen(json), "test.json", &a));
  CHECK_OK(vdit_model_attn_policy_parse(spec, &b));
  char x[256], y[256];
  vdit_model_attn_policy_describe(&a, x, sizeof x);
  vdit_model_attn_policy_describe(&b, y, sizeof y);
  if (strcmp(x, y) != 0) CHECK_FAIL_("json %s gives '%s', want '%s'", json, x, y);
}

static void test_policy(void) {
  // The last method (whatever the build has) so that a policy with two methods is exercised.
  const char *other = vdit_attn_method_name((vdit_attn_method)(VDIT_ATTN_METHOD_COUNT - 1));
  char spec[256];
  snprintf(spec, sizeof spec, "%s:layers=2-27,steps=3-;dense", other);
  check_rules(spec, rule_a);
  snprintf(spec, sizeof spec, "%s:layers=0+5+10-12", other);
  check_rules(spec, rule_b);
  snprintf(spec, sizeof spec, "dense:steps=-1;%s:layers=20-;dense", other);
  check_rules(spec, rule_c);
  vdit_model_attn_policy p;
  CHECK_OK(vdit_model_attn_policy_parse("dense", &p));
  CHECK_EQ_INT(p.rule_count, 1);
  vdit_attn_method_config methods[4];
  for (int i = 0; i < 4; i++) methods[i].method = VDIT_ATTN_METHOD_COUNT;
  snprintf(spec, sizeof spec, "%s:layers=1,steps=2", other);
  CHECK_OK(vdit_model_attn_policy_parse(spec, &p));
  vdit_model_attn_policy_fill(&p, 3, 2, methods);
  CHECK_EQ_INT(methods[0].method, VDIT_ATTN_DENSE);
  CHECK_EQ_INT(methods[1].method, VDIT_ATTN_METHOD_COUNT - 1);
  CHECK_EQ_INT(methods[2].method, VDIT_ATTN_DENSE);
  CHECK_EQ_INT(methods[3].method, VDIT_ATTN_METHOD_COUNT); // untouched past `layers`
  vdit_model_attn_policy_fill(&p, 3, 1, methods);
  CHECK_EQ_INT(methods[1].method, VDIT_ATTN_DENSE);

  // Method parameters: given keys change, the rest keep the method's defaults, and describe
  // writes back only what differs.
  CHECK_OK(vdit_model_attn_policy_parse("sparge(topk=0.05,rule=hybrid,topp=0.9,sink=1):layers=1-;sage(pv=half)", &p));
  const vdit_attn_method_config *sp = &p.rules[0].attn, *sg = &p.rules[1].attn;
  CHECK_EQ_INT(sp->method, VDIT_ATTN_SPARGE);
  CHECK_EQ_INT(sp->sparge.rule, VDIT_ATTN_SPARGE_HYBRID);
  CHECK(sp->sparge.params.topk == 0.05f && sp->sparge.params.topp == 0.9f && sp->sparge.sink == 1);
  CHECK(sp->sparge.params.theta == 0.0f && sp->sparge.params.pv_threshold == 0.0f && !sp->sparge.per_head);
  CHECK_EQ_INT(sg->method, VDIT_ATTN_SAGE);
  CHECK_EQ_INT(sg->sage.pv, VDIT_ATTN_SAGE_PV_HALF);
  CHECK_EQ_INT(sg->sage.granularity, VDIT_ATTN_SAGE_PER_BLOCK);
  CHECK_EQ_STR(vdit_model_attn_policy_describe(&p, spec, sizeof spec),
               "sparge(rule=hybrid,topk=0.05,topp=0.9,sink=1):layers=1-;sage(pv=half)");
  // a bare "sparge" is the documented default (Top-k of a tenth), never an empty mask
  CHECK_OK(vdit_model_attn_policy_parse("sparge", &p));
  CHECK(p.rules[0].attn.sparge.rule == VDIT_ATTN_SPARGE_TOPK && p.rules[0].attn.sparge.params.topk == 0.1f);
  check_error("sparge(topk=2)", "topk must be a fraction in [0, 1], got '2'");
  check_error("sparge(rule=topk,topk=0)", "computes no block");
  check_error("sparge(rule=topp)", "computes no block");
  check_error("sparge(tpok=0.1)", "unknown sparge parameter 'tpok'");
  check_error("dense(topk=0.1)", "method 'dense' takes no parameters");
  check_error("sage(gran=row)", "unknown sage granularity 'row'");
  check_error("sparge(topk=0.1", "parameters go in one '(key=value,...)' at the end");
  check_error("sparge(topk)", "'topk' is not key=value");
  check_json("[{\"method\": \"sparge(topk=0.2)\", \"steps\": \"3-\"}]", "sparge(topk=0.2):steps=3-");
  CHECK_OK(vdit_model_attn_policy_parse("ear(budget=0.5,k_clusters=64,warm=1):layers=2;svg(budget=-1,top_p=0.8)", &p));
  CHECK(p.rules[0].attn.cluster.budget == 0.5f && p.rules[0].attn.cluster.k_clusters == 64 && p.rules[0].attn.cluster.warm_start == 1);
  CHECK(p.rules[1].attn.cluster.budget == -1.0f && p.rules[1].attn.cluster.top_p == 0.8f);
  CHECK_EQ_STR(vdit_model_attn_policy_describe(&p, spec, sizeof spec),
               "ear(budget=0.5,k_clusters=64,warm=1):layers=2;svg(budget=-1,top_p=0.8)");
  CHECK_OK(vdit_model_attn_policy_parse("ear", &p));
  CHECK(p.rules[0].attn.cluster.budget == 0.25f);
  check_error("ear(budget=-1)", "budget must be a fraction in [0, 1], got '-1'");
  check_error("ear(k_clusters=2.5)", "k_clusters must be a count >= 0");
  check_error("svg(topk=0.1)", "unknown svg parameter 'topk'");
  CHECK_OK(vdit_model_attn_policy_parse("sla(topk=0.2,feature=elu)", &p));
  CHECK(p.rules[0].attn.sla.topk == 0.2f && p.rules[0].attn.sla.feature == VDIT_ATTN_SLA_ELU && p.rules[0].attn.sla.router_dim == 32);
  CHECK_EQ_STR(vdit_model_attn_policy_describe(&p, spec, sizeof spec), "sla(topk=0.2,feature=elu)");
  check_error("sla(topk=0)", "topk must be a fraction in (0, 1]");
  CHECK_OK(vdit_model_attn_policy_parse("sla(topk=0.03,sage=1)", &p));
  CHECK(p.rules[0].attn.sla.sage == 1 && p.rules[0].attn.sla.topk == 0.03f);
  CHECK_EQ_STR(vdit_model_attn_policy_describe(&p, spec, sizeof spec), "sla(topk=0.03,sage=1)");
  check_error("sla(sage=2)", "sage must be 0 or 1");

  check_error("", "empty");
  check_error("sparse", "unknown attention method 'sparse'");
  check_error("dense:layerz=2", "unknown condition 'layerz' (layers or steps)");
  check_error("dense:layers=5-2", "range '5-2' ends before it starts");
  check_error("dense:layers=a", "bad range 'a'");
  check_error("dense:layers=", "'layers=' needs a range");
  check_error("dense:layers", "needs '='");
  check_error("dense:", "no condition");
  check_error("dense;;dense", "a rule without a method");
  check_error("dense:layers=1,layers=2", "'layers' given twice");
  check_error("dense: layers=1", "spaces are not allowed");
  check_error("dense:layers=-", "bad range '-'");

  CHECK_OK(vdit_model_attn_policy_parse("dense:layers=40-;dense", &p));
  CHECK_STATUS(vdit_model_attn_policy_check(&p, 30), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "rule 1 'dense:layers=40-' names layers from 40 but the model has 30 layers"));
  CHECK_OK(vdit_model_attn_policy_check(&p, 41));

  check_json("\"dense:layers=1-3;dense\"", "dense:layers=1-3;dense");
  check_json("[{\"method\": \"dense\", \"layers\": \"2-27\", \"steps\": [3, null]}, {\"method\": \"dense\"}]",
             "dense:layers=2-27,steps=3-;dense");
  check_json("{\"attention\": [{\"method\": \"dense\", \"layers\": 4}]}", "dense:layers=4");
  const char *bad[][2] = {
      {"[{\"method\": \"dense\", \"layer\": 1}]", "unknown key 'layer'"},
      {"[{\"layers\": 1}]", "a rule needs \"method\""},
      {"[{\"method\": \"sparse\"}]", "unknown attention method 'sparse'"},
      {"[{\"method\": \"dense\", \"steps\": [4, 2]}]", "ends before it starts"},
      {"[]", "no rules"},
      {"{\"attention\": 3}", "must be a spec string or an array"},
      {"[1,", "not valid JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_STATUS(vdit_model_attn_policy_parse_json(bad[i][0], strlen(bad[i][0]), "test.json", &p),
                 VDIT_ERROR_INVALID_ARGUMENT);
    if (!strstr(vdit_last_error(), bad[i][1]) || !strstr(vdit_last_error(), "test.json"))
      CHECK_FAIL_("json %s: message '%s' lacks '%s'", bad[i][0], vdit_last_error(), bad[i][1]);
  }
}

// ---------------------------------------------------------------- the model runs
typedef struct fixture {
  vdit_model_weights w;
  vdit_safetensors *inputs;
  vdit_tensor video, timesteps, context, output;
} fixture;

static int fixture_open(fixture *f) {
  memset(f, 0, sizeof *f);
  const char *data = getenv("VDIT_TEST_DATA");
  char model[1024], config[1024], inputs[1024];
  snprintf(model, sizeof model, "%s/wan_small/model_diffusers.safetensors", data ? data : "tests/data");
  snprintf(config, sizeof config, "%s/wan_small/config_diffusers.json", data ? data : "tests/data");
  snprintf(inputs, sizeof inputs, "%s/wan_small/inputs.safetensors", data ? data : "tests/data");
  CHECK_OK(vdit_model_load(model, config, &f->w));
  CHECK_OK(vdit_safetensors_open(inputs, &f->inputs));
  if (!f->w.data || !f->inputs) return 0;
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "hidden_states", &f->video));
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "timestep", &f->timesteps));
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "encoder_hidden_states", &f->context));
  vdit_tensor like;
  CHECK_OK(vdit_safetensors_tensor(f->inputs, "loss_weight", &like));
  CHECK_OK(vdit_tensor_alloc(&f->output, VDIT_DTYPE_F32, VDIT_CPU, like.ndim, like.shape));
  return 1;
}

static void fixture_close(fixture *f) {
  vdit_tensor_free(&f->output);
  vdit_safetensors_close(f->inputs);
  vdit_model_weights_free(&f->w);
}

// Records the tamper calls and applies one change: `scale_v` multiplies V, `zero_o` zeroes O.
typedef struct tamper_log {
  char names[64][32];
  int count;
  float scale_v;
  int zero_o;
} tamper_log;

static vdit_status tamper(void *user, const char *name, vdit_tensor *t) {
  tamper_log *log = user;
  if (log->count < 64) snprintf(log->names[log->count], 32, "%s", name);
  log->count++;
  size_t n = (size_t)vdit_tensor_numel(t);
  float *x = t->data; // (B, L, nh, d) view of a contiguous (B, L, D)
  size_t len = strlen(name);
  if (log->scale_v != 1.0f && name[len - 1] == 'v')
    for (size_t i = 0; i < n; i++) x[i] *= log->scale_v;
  if (log->zero_o && name[len - 1] == 'o') memset(x, 0, n * sizeof *x);
  return VDIT_OK;
}

// Keeps copies of every blocks.N.attn1.o and blocks.N.attn1 the observer sees (N < 2).
typedef struct kept {
  vdit_tensor o[2], attn1[2];
} kept;

static vdit_status keep(void *user, const char *name, const vdit_tensor *t) {
  kept *k = user;
  int n;
  char tail[16];
  vdit_tensor *slot = NULL;
  if (sscanf(name, "blocks.%d.%15s", &n, tail) == 2 && n >= 0 && n < 2) {
    if (strcmp(tail, "attn1.o") == 0) slot = &k->o[n];
    else if (strcmp(tail, "attn1") == 0) slot = &k->attn1[n];
  }
  if (!slot) return VDIT_OK;
  vdit_tensor_free(slot);
  VDIT_TRY(vdit_tensor_alloc(slot, VDIT_DTYPE_F32, VDIT_CPU, t->ndim, t->shape));
  return vdit_tensor_copy(slot, t);
}

static void kept_free(kept *k) {
  for (int i = 0; i < 2; i++) vdit_tensor_free(&k->o[i]), vdit_tensor_free(&k->attn1[i]);
}

static int same_bits(const vdit_tensor *a, const vdit_tensor *b) {
  return vdit_tensor_numel(a) == vdit_tensor_numel(b) &&
         memcmp(a->data, b->data, (size_t)vdit_tensor_numel(a) * sizeof(float)) == 0;
}

static void test_tamper(fixture *f) {
  kept clean = {0}, doubled = {0}, zeroed = {0};
  tamper_log log = {.scale_v = 1.0f};
  vdit_model_run_options plain = {.observe = keep, .observe_user = &clean};
  CHECK_OK(vdit_model_forward(&f->w, &plain, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  vdit_tensor reference;
  CHECK_OK(vdit_tensor_alloc(&reference, VDIT_DTYPE_F32, VDIT_CPU, f->output.ndim, f->output.shape));
  CHECK_OK(vdit_tensor_copy(&reference, &f->output));

  // An identity tamper: called for q, k, v, o of each block in order; the same bits out.
  vdit_model_run_options identity = {.tamper = tamper, .tamper_user = &log};
  CHECK_OK(vdit_model_forward(&f->w, &identity, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  CHECK_EQ_INT(log.count, 8);
  const char *order[] = {"blocks.0.attn1.q", "blocks.0.attn1.k", "blocks.0.attn1.v", "blocks.0.attn1.o",
                         "blocks.1.attn1.q", "blocks.1.attn1.k", "blocks.1.attn1.v", "blocks.1.attn1.o"};
  for (int i = 0; i < 8 && i < log.count; i++)
    if (strcmp(log.names[i], order[i]) != 0) CHECK_FAIL_("tamper call %d: %s, want %s", i, log.names[i], order[i]);
  CHECK(same_bits(&f->output, &reference));

  // V doubled: attention is linear in V and 2x is exact, so block 0's O doubles bit for bit
  // (the observer sees O before the tamper of O, after the tamper of V).
  tamper_log twice = {.scale_v = 2.0f};
  vdit_model_run_options scaled = {.observe = keep, .observe_user = &doubled, .tamper = tamper, .tamper_user = &twice};
  CHECK_OK(vdit_model_forward(&f->w, &scaled, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  if (clean.o[0].data && doubled.o[0].data) {
    const float *a = clean.o[0].data, *b = doubled.o[0].data;
    int64_t wrong = 0;
    for (int64_t i = 0; i < vdit_tensor_numel(&clean.o[0]); i++) wrong += b[i] != 2.0f * a[i];
    CHECK_EQ_INT(wrong, 0);
  } else CHECK_FAIL_("the observer saw no blocks.0.attn1.o");
  CHECK(!same_bits(&f->output, &reference));

  // O zeroed: block 0's attn1 output is the output projection's bias in every token.
  tamper_log zero = {.scale_v = 1.0f, .zero_o = 1};
  vdit_model_run_options zeroing = {.observe = keep, .observe_user = &zeroed, .tamper = tamper, .tamper_user = &zero};
  CHECK_OK(vdit_model_forward(&f->w, &zeroing, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  if (zeroed.attn1[0].data) {
    const float *a = zeroed.attn1[0].data, *bias = f->w.blocks[0].self_out.bias.data;
    const int64_t D = f->w.config.dim, rows = vdit_tensor_numel(&zeroed.attn1[0]) / D;
    int64_t wrong = 0;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < D; c++) wrong += a[r * D + c] != bias[c];
    CHECK_EQ_INT(wrong, 0);
  } else CHECK_FAIL_("the observer saw no blocks.0.attn1");

  // Recompute reruns the tamper: the same gradients as the saved-activation pass.
  vdit_model_state *full = NULL, *again = NULL;
  CHECK_OK(vdit_model_state_create(&full));
  CHECK_OK(vdit_model_state_create(&again));
  vdit_tensor d_out, d_context_a, d_context_b;
  CHECK_OK(vdit_tensor_alloc(&d_out, VDIT_DTYPE_F32, VDIT_CPU, f->output.ndim, f->output.shape));
  CHECK_OK(vdit_tensor_fill_normal(&d_out, 11, 0, 0, 1));
  CHECK_OK(vdit_tensor_alloc(&d_context_a, VDIT_DTYPE_F32, VDIT_CPU, f->context.ndim, f->context.shape));
  CHECK_OK(vdit_tensor_alloc(&d_context_b, VDIT_DTYPE_F32, VDIT_CPU, f->context.ndim, f->context.shape));
  tamper_log t1 = {.scale_v = 2.0f}, t2 = {.scale_v = 2.0f};
  vdit_model_run_options o1 = {.tamper = tamper, .tamper_user = &t1};
  vdit_model_run_options o2 = {.recompute = 1, .tamper = tamper, .tamper_user = &t2};
  CHECK_OK(vdit_model_forward(&f->w, &o1, &f->video, &f->timesteps, &f->context, &f->output, full));
  CHECK_OK(vdit_model_backward(&f->w, &o1, full, &d_out, NULL, &d_context_a, NULL, VDIT_GRAD_OVERWRITE));
  CHECK_OK(vdit_model_forward(&f->w, &o2, &f->video, &f->timesteps, &f->context, &f->output, again));
  CHECK_OK(vdit_model_backward(&f->w, &o2, again, &d_out, NULL, &d_context_b, NULL, VDIT_GRAD_OVERWRITE));
  CHECK(same_bits(&d_context_a, &d_context_b));
  CHECK_EQ_INT(t2.count, 16); // 8 in the forward, 8 in the backward's recompute
  vdit_model_state_free(full);
  vdit_model_state_free(again);
  vdit_tensor_free(&d_out);
  vdit_tensor_free(&d_context_a);
  vdit_tensor_free(&d_context_b);
  vdit_tensor_free(&reference);
  kept_free(&clean);
  kept_free(&doubled);
  kept_free(&zeroed);
}

static void test_capture(fixture *f) {
  kept seen = {0};
  vdit_model_capture *capture = NULL;
  const int64_t layers[] = {1};
  CHECK_OK(vdit_model_capture_create(layers, 1, &capture));
  if (!capture) return;
  vdit_model_capture_chain(capture, keep, &seen);
  vdit_model_run_options options = {.observe = vdit_model_capture_observe, .observe_user = capture};
  CHECK_OK(vdit_model_forward(&f->w, &options, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  CHECK_EQ_INT(vdit_model_capture_layer_count(capture), 1);
  CHECK(vdit_model_capture_tensor(capture, 0, 'q') == NULL);
  const char *tmp = getenv("VDIT_TEST_TMP");
  char path[1024];
  snprintf(path, sizeof path, "%s/test_model_tools_qkv.safetensors", tmp ? tmp : ".");
  vdit_model_capture_info info = {{3, 2, 4}, 7, 999.0};
  CHECK_OK(vdit_model_capture_write(capture, path, &info));
  vdit_model_capture_info wrong = {{3, 2, 5}, 0, 0};
  CHECK_STATUS(vdit_model_capture_write(capture, path, &wrong), VDIT_ERROR_INVALID_ARGUMENT);

  // Read back: names, shapes, metadata; dense attention of the file's Q, K, V gives the O
  // the model computed.
  vdit_safetensors *file = NULL;
  CHECK_OK(vdit_safetensors_open(path, &file));
  if (file) {
    CHECK_EQ_INT(vdit_safetensors_count(file), 3);
    vdit_tensor q, k, v;
    CHECK_OK(vdit_safetensors_tensor(file, "blocks.1.q", &q));
    CHECK_OK(vdit_safetensors_tensor(file, "blocks.1.k", &k));
    CHECK_OK(vdit_safetensors_tensor(file, "blocks.1.v", &v));
    CHECK_EQ_INT(q.ndim, 4);
    CHECK_EQ_INT(q.shape[0], 2);
    CHECK_EQ_INT(q.shape[1], 24);
    CHECK_EQ_INT(q.shape[2], 2);
    CHECK_EQ_INT(q.shape[3], 16);
    const char *expect[][2] = {{"format", "vdit.qkv"}, {"layers", "1"}, {"frames", "3"}, {"height", "2"},
                               {"width", "4"}, {"heads", "2"}, {"head_dim", "16"}, {"step", "7"},
                               {"timestep", "999"}};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
      const char *value = vdit_safetensors_metadata_get(file, expect[i][0]);
      if (!value || strcmp(value, expect[i][1]) != 0)
        CHECK_FAIL_("metadata %s = %s, want %s", expect[i][0], value ? value : "(none)", expect[i][1]);
    }
    vdit_attn_config config = {.method = VDIT_ATTN_DENSE, .layout = VDIT_ATTN_LAYOUT_BSHD};
    vdit_attn_plan *plan = NULL;
    vdit_tensor o, lse;
    CHECK_OK(vdit_tensor_alloc(&o, VDIT_DTYPE_F32, VDIT_CPU, 4, q.shape));
    CHECK_OK(vdit_tensor_alloc(&lse, VDIT_DTYPE_F32, VDIT_CPU, 3, (int64_t[]){2, 2, 24}));
    CHECK_OK(vdit_attn_plan_create(&plan, &config, &q, &k, &v));
    CHECK_OK(vdit_attn_forward(plan, &q, &k, &v, &o, &lse));
    CHECK(seen.o[1].data && same_bits(&o, &seen.o[1]));
    vdit_attn_plan_free(plan);
    vdit_tensor_free(&o);
    vdit_tensor_free(&lse);
    vdit_safetensors_close(file);
  }
  remove(path);
  vdit_model_capture_free(capture);

  // Every block; a block the model lacks; bad layer lists.
  CHECK_OK(vdit_model_capture_create(NULL, 0, &capture));
  options.observe_user = capture;
  CHECK_OK(vdit_model_forward(&f->w, &options, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  CHECK_EQ_INT(vdit_model_capture_layer_count(capture), 2);
  CHECK(vdit_model_capture_tensor(capture, 0, 'k') != NULL);
  vdit_model_capture_free(capture);
  const int64_t missing[] = {0, 5};
  CHECK_OK(vdit_model_capture_create(missing, 2, &capture));
  options.observe_user = capture;
  CHECK_OK(vdit_model_forward(&f->w, &options, &f->video, &f->timesteps, &f->context, &f->output, NULL));
  CHECK_STATUS(vdit_model_capture_write(capture, path, &info), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "block 5 was not reached"));
  vdit_model_capture_free(capture);
  const int64_t twice[] = {1, 1};
  CHECK_STATUS(vdit_model_capture_create(twice, 2, &capture), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(capture == NULL);
  kept_free(&seen);
}

static void test_random_config(void) {
  vdit_model_config c;
  CHECK_OK(vdit_model_config_parse("dim=64,heads=4,layers=3,ffn=96,freq=16,text=24,in=4,out=6,patch=1x2x2", &c));
  CHECK_EQ_INT(c.dim, 64);
  CHECK_EQ_INT(c.head_dim, 16);
  CHECK_EQ_INT(c.layers, 3);
  CHECK_EQ_INT(c.out_channels, 6);
  CHECK_STATUS(vdit_model_config_parse("dim=100", &c), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "give heads"));
  CHECK_STATUS(vdit_model_config_parse("dim=64,heads=4,depth=3", &c), VDIT_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(vdit_last_error(), "unknown key 'depth'"));
  vdit_model_weights w;
  CHECK_OK(vdit_model_config_parse("dim=32,heads=2,layers=1,ffn=48,freq=8,text=8,in=2,out=2", &c));
  CHECK_OK(vdit_model_weights_alloc(&c, &w));
  vdit_model_weights_fill_random(&w, 5);
  // norm scales near 1, Linear weights with std 1/sqrt(fan_in), nothing left unset
  const float *nq = w.blocks[0].self_norm_q.data, *wq = w.blocks[0].self_q.weight.data;
  double mean = 0, var = 0;
  for (int i = 0; i < 32; i++) mean += nq[i] / 32.0;
  for (int i = 0; i < 32 * 32; i++) var += (double)wq[i] * wq[i] / (32.0 * 32);
  CHECK(fabs(mean - 1) < 0.15);
  CHECK(fabs(var * 32 - 1) < 0.2);
  vdit_model_weights_free(&w);
}

int main(void) {
  test_policy();
  test_random_config();
  fixture f;
  if (fixture_open(&f)) {
    test_tamper(&f);
    test_capture(&f);
  }
  fixture_close(&f);
  return check_finish("test_model_tools");
}
