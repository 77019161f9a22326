// vdit model layer: the Wan2.1 text-to-video diffusion transformer exactly as diffusers'
// WanTransformer3DModel computes it (docs/wan-model.md is the op-by-op specification).
// Its config, read from a checkpoint's tensor names and shapes plus config.json; its weights,
// in one allocation with a named tensor per parameter; and (on the CPU, in fp32) its forward
// and backward pass. docs/model.md: how to load a checkpoint, the config rules, the API.
#ifndef VDIT_MODEL_H
#define VDIT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vdit/attn.h"
#include "vdit/base.h"
#include "vdit/ops.h"
#include "vdit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------- names
// The two name sets of the same tensors (docs/wan-model.md, "Weight names").
typedef enum vdit_model_naming {
  VDIT_MODEL_NAMING_DIFFUSERS = 0, // condition_embedder.*, blocks.n.attn1.to_q, proj_out, ...
  VDIT_MODEL_NAMING_WAN,           // time_embedding.0, blocks.n.self_attn.q, head.head, ...
  VDIT_MODEL_NAMING_COUNT
} vdit_model_naming;

const char *vdit_model_naming_name(vdit_model_naming naming); // "diffusers", "wan"

// ---------------------------------------------------------------- config.json
// What a config.json says, from either diffusers' WanTransformer3DModel config
// (num_attention_heads, attention_head_dim, in_channels, ...) or the original Wan WanModel
// config (dim, num_heads, in_dim, ...). Absent fields are -1 (patch: 0, eps: < 0). Fields
// vdit does not use (text_len, window_size, rope_max_seq_len, ...) are ignored.
typedef struct vdit_model_hints {
  int format; // VDIT_MODEL_NAMING_DIFFUSERS or _WAN for the file's key set; -1 before any file
  int64_t dim, heads, head_dim; // a diffusers file gives heads and head_dim (dim = their product)
  int64_t layers, ffn_dim, freq_dim, text_dim, in_channels, out_channels;
  int64_t patch[3];
  double eps;
  int qk_norm, cross_attn_norm; // -1 absent, else 0 or 1
} vdit_model_hints;

void vdit_model_hints_init(vdit_model_hints *hints); // every field absent
// Parses config.json text. `source` names it in errors ("config.json"). An unknown
// `_class_name` (not WanTransformer3DModel / WanModel), an image-to-video model
// (model_type i2v / flf2v, added_kv_proj_dim or image_dim set), a key of the wrong type or
// an impossible value gives VDIT_ERROR_CORRUPT_FILE or VDIT_ERROR_UNSUPPORTED naming the key.
vdit_status vdit_model_hints_parse(const char *text, size_t length, const char *source, vdit_model_hints *hints);
vdit_status vdit_model_hints_read(const char *path, vdit_model_hints *hints);

// ---------------------------------------------------------------- config
typedef struct vdit_model_config {
  int64_t dim;              // D = heads * head_dim
  int64_t heads, head_dim;  // nh, d (d even: RoPE rotates channel pairs)
  int64_t layers;           // N blocks
  int64_t ffn_dim;          // D_ff
  int64_t freq_dim;         // D_f, the timestep sinusoid size
  int64_t text_dim;         // D_txt, the text encoder's width (T5: 4096)
  int64_t in_channels, out_channels;
  int64_t patch[3];         // (p_t, p_h, p_w)
  double eps;               // of every norm (1e-6)
  double rope_theta;        // 10000
  int qk_norm;              // 1: RMSNorm of q and k over all heads' channels (norm_q/norm_k of size D)
  int cross_attn_norm;      // 1: affine LayerNorm before cross-attention (every released model)
  // Where the config came from (set by vdit_model_config_infer):
  vdit_model_naming naming; // the checkpoint's name set
  char prefix[64];          // prefix of every tensor name: "" or e.g. "model.diffusion_model."
  int heads_from_config;    // 1: heads from config.json; 0: the head-dim-128 rule
} vdit_model_config;

// Presets of the released models' shapes: "wan2.1-1.3b" (D 1536, 12 heads, 30 layers, D_ff
// 8960) and "wan2.1-14b" (5120, 40, 40, 13824); both freq 256, text 4096, 16 -> 16
// channels, patch (1, 2, 2). Naming diffusers, no prefix.
vdit_status vdit_model_config_preset(const char *name, vdit_model_config *config);
// Checks that every size is positive and consistent (D = nh d, d even, sizes that fit
// memory arithmetic); VDIT_ERROR_INVALID_ARGUMENT naming the field.
vdit_status vdit_model_config_validate(const vdit_model_config *config);
// One line: "dim 1536 = 12 heads x 128, 30 layers, ffn 8960, freq 256, text 4096, 16 -> 16
// channels, patch (1, 2, 2), eps 1e-06, qk_norm, cross_attn_norm".
char *vdit_model_config_describe(const vdit_model_config *config, char *buffer, size_t size);

// The config a checkpoint implies: reads the tensor names and shapes of `files` (the
// shards of one checkpoint; a tensor may appear in only one) and takes the number of heads
// (and checks every other field it gives) from `hints` (NULL or all absent: head dim 128 when
// D divides by 128, else an error asking for config.json). docs/wan-model.md has the rules.
// It then checks every tensor of the model: present, the right shape, a dtype the loader
// reads (F32, BF16, F16), and no tensor that is not part of the model. Errors are one line
// naming the missing, mis-shaped or unexpected tensor: VDIT_ERROR_INVALID_ARGUMENT for a
// checkpoint that is not a Wan2.1 T2V transformer or does not match its config,
// VDIT_ERROR_UNSUPPORTED for image-to-video / VACE checkpoints and other dtypes.
vdit_status vdit_model_config_infer(const vdit_safetensors *const *files, size_t file_count,
                                    const vdit_model_hints *hints, vdit_model_config *config);

// ---------------------------------------------------------------- weights
// A Linear: weight (out, in) as PyTorch stores it, bias (out).
typedef struct vdit_model_linear {
  vdit_tensor weight, bias;
} vdit_model_linear;

// One block's parameters. Shapes with D = dim, D_ff = ffn_dim. A tensor the config does not
// have (norm_q/norm_k without qk_norm, cross_norm without cross_attn_norm) has ndim 0 and
// data NULL.
typedef struct vdit_model_block_weights {
  vdit_tensor modulation;                                // (1, 6, D) scale_shift_table
  vdit_model_linear self_q, self_k, self_v, self_out;    // (D, D), (D)
  vdit_tensor self_norm_q, self_norm_k;                  // (D) RMSNorm scales
  vdit_tensor cross_norm_weight, cross_norm_bias;        // (D) diffusers norm2 = Wan norm3
  vdit_model_linear cross_q, cross_k, cross_v, cross_out; // (D, D), (D)
  vdit_tensor cross_norm_q, cross_norm_k;                // (D)
  vdit_model_linear ffn_in, ffn_out;                     // (D_ff, D), (D, D_ff)
} vdit_model_block_weights;

// Every parameter of the model, carved from one allocation: on the CPU in f32 (the blocks
// array, then `floats` floats from `data`, each tensor 64-byte aligned, the gaps zero); on a
// GPU (vdit_model_weights_alloc_on) the blocks array stays on the host and `data` is one
// device allocation of `bytes` holding every parameter (each tensor 256-byte aligned), the
// Linear and patch-embedding weights and biases ("matrix" parameters) in `matrix_dtype`, every
// other parameter (norm weights, scale_shift_tables) in f32. Also used for gradients (same
// layout).
typedef struct vdit_model_weights {
  vdit_model_config config;
  vdit_tensor patch_weight, patch_bias;         // (D, C_in, p_t, p_h, p_w), (D)
  vdit_model_linear time_in, time_out;          // (D, D_f), (D, D): Linear, SiLU, Linear
  vdit_model_linear time_proj;                  // (6 D, D)
  vdit_model_linear text_in, text_out;          // (D, D_txt), (D, D): Linear, GELU-tanh, Linear
  vdit_model_block_weights *blocks;             // config.layers entries (inside the allocation)
  vdit_tensor head_modulation;                  // (1, 2, D) scale_shift_table of the head
  vdit_model_linear head;                       // (p_t p_h p_w C_out, D)
  float *data;       // the parameter block (device memory on a GPU; mixed dtypes there)
  size_t floats;     // its size in floats (bytes / 4)
  void *allocation;  // the host block (vdit_host_alloc): on the CPU everything, on a GPU the blocks array
  vdit_device device;      // where the parameters live
  vdit_dtype matrix_dtype; // dtype of the Linear and patch weights and biases (f32 on the CPU)
  size_t bytes;            // of the parameter block
} vdit_model_weights;

// Allocates (uninitialised) weights for `config` (validated first). Free with
// vdit_model_weights_free; on failure *weights is zeroed.
vdit_status vdit_model_weights_alloc(const vdit_model_config *config, vdit_model_weights *weights);
void vdit_model_weights_free(vdit_model_weights *weights);
// Sets every parameter to 0 (gradient buffers before accumulation). On a GPU the memset is
// queued on the default stream.
void vdit_model_weights_zero(vdit_model_weights *weights);

// Weights for `config` on `device` (uninitialised): the matrix parameters in `matrix_dtype`
// (f32 or bf16; bf16 on the CPU is VDIT_ERROR_UNSUPPORTED), the rest in f32. On the CPU with
// f32 this is vdit_model_weights_alloc. For training on a GPU:
//   master  = alloc_on(cuda, F32)   the optimizer's weights
//   compute = alloc_on(cuda, BF16)  what vdit_model_forward / _backward read
//   grads   = alloc_on(cuda, F32)   what vdit_model_backward writes (f32 on the device)
// and each step vdit_model_weights_copy(&compute, &master) (one conversion kernel a tensor;
// the norm weights and tables are copied as f32). vdit_model_parameter enumerates all three
// alike (same order, names and shapes; each tensor's dtype and device tell the rest).
vdit_status vdit_model_weights_alloc_on(const vdit_model_config *config, vdit_device device, vdit_dtype matrix_dtype,
                                        vdit_model_weights *weights);
// dst = src parameter by parameter, converting dtype and moving between devices as needed
// (vdit_tensor_convert rules: round to nearest even). Both allocated for the same model.
// Typical: loaded CPU f32 -> GPU bf16 compute weights; GPU f32 master -> GPU bf16.
vdit_status vdit_model_weights_copy(vdit_model_weights *dst, const vdit_model_weights *src);

// The parameters, in a fixed order: count them, then get one by index with its name in
// `naming` (no prefix), e.g. "blocks.3.attn1.to_q.weight". `name` may be NULL.
size_t vdit_model_parameter_count(const vdit_model_config *config);
vdit_status vdit_model_parameter(const vdit_model_weights *weights, size_t index, vdit_model_naming naming,
                                 char *name, size_t name_size, vdit_tensor **tensor);

// Reads every parameter of `weights` (allocated for `config`, which vdit_model_config_infer
// gave for the same files) from the files, converting BF16 and F16 to f32. CPU f32 weights
// only (load on the CPU, then vdit_model_weights_copy to a GPU).
vdit_status vdit_model_weights_read(const vdit_safetensors *const *files, size_t file_count,
                                    vdit_model_weights *weights);

// Loads a checkpoint in one call. `path` is a .safetensors file, or a folder whose
// *.safetensors files are the shards of one checkpoint (diffusers' transformer/ folder, a
// Wan2.1 release folder). `config_path` is a config.json; NULL uses the folder's config.json
// when `path` is a folder and has one, and none for a file. On success `weights` holds the
// model (weights->config its config).
vdit_status vdit_model_load(const char *path, const char *config_path, vdit_model_weights *weights);

// ---------------------------------------------------------------- forward and backward
// The model on the device of its weights (docs/wan-model.md, docs/model.md): on the CPU in
// fp32; on a GPU (weights from vdit_model_weights_alloc_on with bf16 matrices) in bf16 with
// fp32 accumulation, f32 norm statistics, modulation and time embedding. Inputs:
//   video     (B, C_in, F, H, W)  latent video; frames, rows and columns beyond whole patches
//                                  are dropped (Conv3d's floor)
//   timesteps (B)                 diffusion timestep per sample (0..1000, fractional allowed)
//   context   (B, S, D_txt)       text encoder output (e.g. umT5, padded to 512 tokens)
// Output: (B, C_out, F' p_t, H' p_h, W' p_w) with F' = F / p_t (floor), ... Every tensor is
// on the weights' device with a contiguous last dim: f32 on the CPU (any strides); on a GPU
// video, context and output (and in the backward d_output, d_video, d_context) f32 or bf16,
// timesteps f32. GPU calls are queued on the default stream and return without waiting.

// Receives a named tensor during a pass; the tensor is valid only during the call. A status
// other than VDIT_OK stops the pass, which returns it. For a GPU model the tensor is on the
// GPU (bf16 activations, f32 statistics): an observer that reads it copies it first
// (vdit_tensor_convert to a CPU f32 tensor, which waits for the GPU).
typedef vdit_status (*vdit_model_observer)(void *user, const char *name, const vdit_tensor *tensor);

// Receives a self-attention tensor that it may modify in place before the model uses it
// (see vdit_model_run_options.tamper); valid only during the call. A status other than
// VDIT_OK stops the pass.
typedef vdit_status (*vdit_model_tamper)(void *user, const char *name, vdit_tensor *tensor);

typedef struct vdit_model_run_options {
  // Self-attention method and its parameters for each block (config.layers entries), or
  // NULL: dense everywhere. A pipeline passes another array at another step for a per-step
  // policy (vdit_model_attn_policy_fill). Cross-attention (few text keys) is always dense.
  const vdit_attn_method_config *self_attn;
  // With a state: keep only each block's input and recompute the block during the backward.
  // A block saves 17 B L D + 2 B L D_ff floats (+ small terms); recompute keeps one such set
  // plus layers + 1 block inputs.
  int recompute;
  // Called with every named activation as the forward computes it, with the names of the
  // golden files (tests/data/wan_small/README.md): "time.sinusoid", "time.temb",
  // "time.proj", "text_embedding", "patch_embedding", "blocks.N.attn1", "blocks.N.attn2",
  // "blocks.N.ffn", "blocks.N.out", "head.modulated", "head.proj_out", "output"; also
  // "blocks.N.attn1.q", ".k", ".v" (B, L, nh, d), the self-attention inputs after RMSNorm
  // and RoPE, and "blocks.N.attn1.o" (B, L, nh, d), the attention output. The backward
  // calls it with "grad.head.proj_out", "grad.head.modulated",
  // "grad.blocks.N.out", "grad.patch_embedding", "grad.text_embedding", "grad.time.proj",
  // "grad.time.temb" (the total gradient of temb). NULL: none.
  vdit_model_observer observe;
  void *observe_user;
  // Called with "blocks.N.attn1.q", ".k", ".v" (B, L, nh, d) after RMSNorm and RoPE and after
  // the observer saw them, just before the self-attention reads them, and with
  // "blocks.N.attn1.o" (B, L, nh, d), the attention output, just before the output
  // projection reads it. The callback may change the values in place (fault injection:
  // src/sim's SHIELD runs, docs/shield.md); later ops and a state's saved activations see
  // the changed values. The backward treats the change as the identity (straight through);
  // with recompute the backward reruns each block's forward with the same callback, which
  // must then change the same values the same way. NULL: none.
  vdit_model_tamper tamper;
  void *tamper_user;
  // With a state: run for inference anyway (nothing kept for a backward; the state holds the
  // inference buffers, reused across calls without reallocating, as a sampler wants).
  int no_grad;
} vdit_model_run_options;

// What a forward keeps for its backward. Sized by the forward (and resized when the shapes
// change); reusable across steps.
typedef struct vdit_model_state vdit_model_state;
vdit_status vdit_model_state_create(vdit_model_state **state);
void vdit_model_state_free(vdit_model_state *state); // NULL is fine
// Bytes the state holds now (saved activations and the backward's scratch), on the device
// of the last forward's weights.
size_t vdit_model_state_bytes(const vdit_model_state *state);

// Runs the model. `options` may be NULL (dense attention, no observer). With `state` NULL it
// runs for inference (one block's activations at a time); with a state it saves what
// vdit_model_backward needs. `output` must not overlap the inputs.
vdit_status vdit_model_forward(const vdit_model_weights *weights, const vdit_model_run_options *options,
                               const vdit_tensor *video, const vdit_tensor *timesteps, const vdit_tensor *context,
                               vdit_tensor *output, vdit_model_state *state);

// Gradients of a scalar loss from d_output (the forward output's shape), for the last
// forward run with `state` and the same weights: d_video (like video; zero where the forward
// dropped frames/rows/columns), d_context (like context) and every parameter in `grads`
// (allocated with vdit_model_weights_alloc for the same config). Each may be NULL; `mode`
// overwrites or adds to all of them (accumulation over micro-batches). No gradient is taken
// with respect to the timesteps. Only `observe` and `tamper` (for a recompute) of `options`
// are used.
vdit_status vdit_model_backward(const vdit_model_weights *weights, const vdit_model_run_options *options,
                                vdit_model_state *state, const vdit_tensor *d_output, vdit_tensor *d_video,
                                vdit_tensor *d_context, vdit_model_weights *grads, vdit_grad_mode mode);


// ---------------------------------------------------------------- attention policy
// Which self-attention method each block uses at each sampling step (docs/model.md,
// "Attention policy"). A compact spec: rules separated by ';', the first whose conditions
// hold for (layer, step) wins, and a (layer, step) no rule matches is dense:
//   policy    := rule (';' rule)*
//   rule      := METHOD ['(' key=value (',' key=value)* ')'] [':' condition (',' condition)*]
//   condition := ('layers' | 'steps') '=' range ('+' range)*
//   range     := N | N '-' M | N '-' | '-' M          (inclusive, 0-based)
// e.g. "dense", "sage", "sparge(topk=0.05):layers=2-27,steps=3-;dense", "sage:layers=0+5+10-12".
// METHOD with its parameters is vdit_attn_method_config_parse's text form (include/vdit/attn.h;
// parameters not given take the method's defaults). Or JSON: the same spec as a string, or an
// array of rules {"method": "sparge", "layers": "2-27", "steps": [3, null]} (a range as a
// spec string, an integer, or [first, last] with null for an open end), or an object with
// the key "attention" holding either.
enum { VDIT_MODEL_ATTN_POLICY_MAX_RULES = 32, VDIT_MODEL_ATTN_POLICY_MAX_RANGES = 16 };

typedef struct vdit_model_attn_range {
  int64_t first, last; // inclusive; last = INT64_MAX for an open end
} vdit_model_attn_range;

typedef struct vdit_model_attn_rule {
  vdit_attn_method_config attn;            // the method and its parameters
  int layer_range_count, step_range_count; // 0: every layer / step
  vdit_model_attn_range layers[VDIT_MODEL_ATTN_POLICY_MAX_RANGES];
  vdit_model_attn_range steps[VDIT_MODEL_ATTN_POLICY_MAX_RANGES];
} vdit_model_attn_rule;

typedef struct vdit_model_attn_policy {
  int rule_count;
  vdit_model_attn_rule rules[VDIT_MODEL_ATTN_POLICY_MAX_RULES];
} vdit_model_attn_policy;

// Parses a spec; VDIT_ERROR_INVALID_ARGUMENT with one line quoting the spec and naming the
// fault ("attention policy 'sparge:layerz=2': unknown condition 'layerz' (layers or steps)").
vdit_status vdit_model_attn_policy_parse(const char *spec, vdit_model_attn_policy *policy);
// Parses JSON text (see above); `source` names it in errors.
vdit_status vdit_model_attn_policy_parse_json(const char *text, size_t length, const char *source,
                                              vdit_model_attn_policy *policy);
// `text` is a spec, or "@FILE" / a path ending in ".json": a JSON file.
vdit_status vdit_model_attn_policy_load(const char *text, vdit_model_attn_policy *policy);
// Index of the rule that decides (layer, step), or -1 when none matches (then: dense).
int vdit_model_attn_policy_rule(const vdit_model_attn_policy *policy, int64_t layer, int64_t step);
// The method (with its parameters) for block `layer` at step `step`.
vdit_attn_method_config vdit_model_attn_policy_method(const vdit_model_attn_policy *policy, int64_t layer, int64_t step);
// Fails (VDIT_ERROR_INVALID_ARGUMENT) when a rule names only layers the model lacks (a rule
// that can never apply is a mistake, e.g. a 30-layer policy on a 2-layer model).
vdit_status vdit_model_attn_policy_check(const vdit_model_attn_policy *policy, int64_t layers);
// methods[0 .. layers) for step `step`: what vdit_model_run_options.self_attn takes.
void vdit_model_attn_policy_fill(const vdit_model_attn_policy *policy, int64_t layers, int64_t step,
                                 vdit_attn_method_config *methods);
// The canonical spec ("sparge(topk=0.05):layers=2-27,steps=3-;dense"); truncated to `size`.
char *vdit_model_attn_policy_describe(const vdit_model_attn_policy *policy, char *buffer, size_t size);

// ---------------------------------------------------------------- capture
// Keeps chosen blocks' self-attention Q, K, V (B, L, nh, d; after RMSNorm and RoPE) from a
// forward pass and writes them to a safetensors file for the attention checks
// (`vdit attn check --qkv FILE:LAYER`). The file (docs/model.md, "Capture"): F32 tensors
// "blocks.N.q", "blocks.N.k", "blocks.N.v" and metadata "format" = "vdit.qkv", "layers"
// ("0,5,29"), "frames", "height", "width" (the token grid F' H' W', L = F' H' W'), "heads",
// "head_dim", "step", "timestep", and whatever the caller adds.
typedef struct vdit_model_capture vdit_model_capture;

// `layers`: the blocks to keep (layer_count of them), or NULL (and 0) for every block.
vdit_status vdit_model_capture_create(const int64_t *layers, size_t layer_count, vdit_model_capture **capture);
void vdit_model_capture_free(vdit_model_capture *capture); // NULL is fine
// The observer to put in vdit_model_run_options (user = the capture). A later pass
// overwrites what an earlier one kept. `next` (may be NULL) is called after it with every
// tensor, so another observer can run alongside.
vdit_status vdit_model_capture_observe(void *capture, const char *name, const vdit_tensor *tensor);
void vdit_model_capture_chain(vdit_model_capture *capture, vdit_model_observer next, void *next_user);
// What the file says about the pass.
typedef struct vdit_model_capture_info {
  int64_t grid[3];  // token grid (F', H', W')
  int64_t step;     // sampling step (-1: not part of a rollout)
  double timestep;  // diffusion timestep of the pass
} vdit_model_capture_info;
// Writes what the last pass gave; fails naming a chosen block the pass never reached.
vdit_status vdit_model_capture_write(const vdit_model_capture *capture, const char *path,
                                     const vdit_model_capture_info *info);
// Blocks held: their count, and the captured Q (or K, V: which = 'q', 'k', 'v') of one.
size_t vdit_model_capture_layer_count(const vdit_model_capture *capture);
const vdit_tensor *vdit_model_capture_tensor(const vdit_model_capture *capture, int64_t layer, char which);

// ---------------------------------------------------------------- random weights
// Fills every parameter from Philox stream `seed`, as tools/wan_golden.py draws them: Linear
// and patch weights N(0, 1) / sqrt(fan_in), biases 0.02 N(0, 1), norm scales 1 + 0.2 N(0, 1),
// cross-attention LayerNorm bias 0.02 N(0, 1), scale_shift_tables 0.5 N(0, 1) / sqrt(D). For
// measurements on a model of a given shape without a checkpoint.
void vdit_model_weights_fill_random(vdit_model_weights *weights, uint64_t seed);
// A config from "key=value,..." with keys dim, heads, layers, ffn, freq, text, in, out,
// patch (TxHxW), e.g. "dim=256,heads=4,layers=8,ffn=1024,text=64"; absent keys take the
// wan2.1-1.3b preset's values, heads dim / 128 (an error when 128 does not divide dim).
vdit_status vdit_model_config_parse(const char *spec, vdit_model_config *config);

#ifdef __cplusplus
}
#endif

#endif // VDIT_MODEL_H
