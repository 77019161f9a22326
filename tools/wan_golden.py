#!/usr/bin/env python3
"""Writes the Wan2.1 transformer golden files under tests/data/wan_small/.

Builds diffusers' WanTransformer3DModel at tiny configs with seeded random weights, runs it
on fixed inputs in float64 and writes the weights (diffusers names and original Wan2.1
names), the inputs, intermediate activations, every block's output, the final output and
the gradients of a fixed loss with respect to the inputs, the intermediates and every
weight. docs/wan-model.md specifies the model; tests/data/wan_small/README.md lists the
files and tensors.

Regenerating (CI never runs this; the files it writes are committed). The PyPI torch wheel
is the CUDA build and pulls about 3 GB of NVIDIA libraries; it runs on the CPU here:

  python3 -m venv /tmp/wan-venv
  /tmp/wan-venv/bin/pip install torch==2.15.0 diffusers==0.42.1 safetensors==0.8.0 numpy==2.4.6
  /tmp/wan-venv/bin/python tools/wan_golden.py            # writes tests/data/wan_small/
  /tmp/wan-venv/bin/python tools/wan_golden.py --check    # also the self-checks below

Versions used for the committed files: Python 3.11.7, torch 2.15.0 (the PyPI wheel,
2.15.0+cu132, run on the CPU with one thread), diffusers 0.42.1, safetensors 0.8.0,
numpy 2.4.6.

How float64 is obtained. diffusers computes parts of the model in float32 on purpose
(FP32LayerNorm, `hidden_states.float()` around the modulations and residuals, `temb.float()`):
in a model converted with .double() those calls would round the residual stream to float32
in every block. While the float64 model runs, Tensor.float() is made to leave float64
tensors as they are (keep_float64 below), so every op runs in float64 and the goldens are
the exact math of the float32 model up to float64 rounding. Two exceptions:
  - the timestep sinusoid stays float32, as diffusers computes it in any dtype
    (get_timestep_embedding builds its frequencies in float32 and casts the timestep with
    .float()); the float32 values are then widened to float64. The golden `time.sinusoid`
    holds them.
  - the RoPE tables are float64 (diffusers computes them in float64 and rounds them to
    float32; here the rounding is skipped).

--check runs the self-checks: the float64 golden against diffusers' own float32 forward and
backward (unpatched), an independent float64 implementation of docs/wan-model.md that reads
the weights under the original Wan names, diffusers' own Wan -> diffusers key conversion of
model_wan.safetensors, central finite differences on a few weights and inputs, and a
bf16 forward of diffusers for the size of the bf16 error.
"""
import argparse
import contextlib
import copy
import hashlib
import json
import math
import os
import re
import sys

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

import diffusers
from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

# Tiny configs. Sizes are pairwise different where they can be, so that a transposed or
# swapped dimension fails loudly: dim 32, ffn 48, text_dim 24, freq_dim 16, in 6, out 4.
# head_dim 16 splits into RoPE parts t/h/w = 8/4/4 (t differs from h and w).
CONFIGS = {
    "wan_small": {
        "model": {
            "patch_size": [1, 2, 2],
            "num_attention_heads": 2,
            "attention_head_dim": 16,
            "in_channels": 6,
            "out_channels": 4,
            "text_dim": 24,
            "freq_dim": 16,
            "ffn_dim": 48,
            "num_layers": 2,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
        },
        # hidden_states (B, C_in, F, H, W) -> token grid (F/1, H/2, W/2) = (3, 2, 4), L = 24
        "batch": 2,
        "frames": 3,
        "height": 4,
        "width": 8,
        "text_len": 5,
        "timesteps": [999.0, 437.5],
        "seed": 20250101,
    },
    # A second, smaller model: a temporal patch (2, 1, 2), three heads of 10 channels (RoPE
    # parts t/h/w = 6/2/2), one layer, one sample.
    "wan_small/patch212": {
        "model": {
            "patch_size": [2, 1, 2],
            "num_attention_heads": 3,
            "attention_head_dim": 10,
            "in_channels": 3,
            "out_channels": 5,
            "text_dim": 11,
            "freq_dim": 8,
            "ffn_dim": 20,
            "num_layers": 1,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
        },
        # token grid (4/2, 3/1, 4/2) = (2, 3, 2), L = 12
        "batch": 1,
        "frames": 4,
        "height": 3,
        "width": 4,
        "text_len": 7,
        "timesteps": [731.25],
        "seed": 20250102,
    },
}

VERSIONS = {
    "python": sys.version.split()[0],
    "torch": torch.__version__,
    "diffusers": diffusers.__version__,
    "numpy": np.__version__,
    "safetensors": safetensors.__version__,
}


@contextlib.contextmanager
def keep_float64():
    """While active, Tensor.float() returns a float64 tensor unchanged (see the docstring)."""
    original = torch.Tensor.float

    def float_keeping_float64(self, *args, **kwargs):
        if self.dtype == torch.float64:
            return self
        return original(self, *args, **kwargs)

    torch.Tensor.float = float_keeping_float64
    try:
        yield
    finally:
        torch.Tensor.float = original


# ---------------------------------------------------------------------------------------
# Weights

def init_weights(model, rng):
    """Sets every parameter from rng, in sorted name order, as float32 values. Nothing is
    left at a default (zero biases, unit norms): every path is exercised."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            shape = tuple(p.shape)
            normal = rng.standard_normal(shape)
            if name.endswith("scale_shift_table"):
                value = 0.5 * normal
            elif re.search(r"norm_[qk]\.weight$|norm2\.weight$", name):
                value = 1.0 + 0.2 * normal  # RMSNorm and the affine LayerNorm scale
            elif name.endswith(".bias"):
                value = 0.2 * normal
            elif name == "patch_embedding.weight":
                value = normal / math.sqrt(np.prod(shape[1:]))
            elif name.endswith(".weight") and p.ndim == 2:
                value = normal / math.sqrt(shape[1])  # (out, in): unit-variance outputs
            else:
                raise ValueError(f"no init rule for {name} {shape}")
            p.copy_(torch.from_numpy(value.astype(np.float32)))


# diffusers name -> original Wan2.1 name (wan/modules/model.py). The inverse of diffusers'
# convert_wan_transformer_to_diffusers for the text-to-video model; note the norm swap:
# diffusers blocks.N.norm2 (the affine cross-attention LayerNorm) is Wan's blocks.N.norm3.
WAN_NAME_RULES = [
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^scale_shift_table$", "head.modulation"),
    (r"^proj_out\.", "head.head."),
    (r"^patch_embedding\.", "patch_embedding."),
    (r"^blocks\.(\d+)\.attn1\.to_q\.", r"blocks.\1.self_attn.q."),
    (r"^blocks\.(\d+)\.attn1\.to_k\.", r"blocks.\1.self_attn.k."),
    (r"^blocks\.(\d+)\.attn1\.to_v\.", r"blocks.\1.self_attn.v."),
    (r"^blocks\.(\d+)\.attn1\.to_out\.0\.", r"blocks.\1.self_attn.o."),
    (r"^blocks\.(\d+)\.attn1\.norm_q\.", r"blocks.\1.self_attn.norm_q."),
    (r"^blocks\.(\d+)\.attn1\.norm_k\.", r"blocks.\1.self_attn.norm_k."),
    (r"^blocks\.(\d+)\.attn2\.to_q\.", r"blocks.\1.cross_attn.q."),
    (r"^blocks\.(\d+)\.attn2\.to_k\.", r"blocks.\1.cross_attn.k."),
    (r"^blocks\.(\d+)\.attn2\.to_v\.", r"blocks.\1.cross_attn.v."),
    (r"^blocks\.(\d+)\.attn2\.to_out\.0\.", r"blocks.\1.cross_attn.o."),
    (r"^blocks\.(\d+)\.attn2\.norm_q\.", r"blocks.\1.cross_attn.norm_q."),
    (r"^blocks\.(\d+)\.attn2\.norm_k\.", r"blocks.\1.cross_attn.norm_k."),
    (r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.norm3."),
    (r"^blocks\.(\d+)\.ffn\.net\.0\.proj\.", r"blocks.\1.ffn.0."),
    (r"^blocks\.(\d+)\.ffn\.net\.2\.", r"blocks.\1.ffn.2."),
    (r"^blocks\.(\d+)\.scale_shift_table$", r"blocks.\1.modulation"),
]


def wan_name(diffusers_name):
    for pattern, replacement in WAN_NAME_RULES:
        if re.search(pattern, diffusers_name):
            return re.sub(pattern, replacement, diffusers_name)
    raise KeyError(f"no Wan name for {diffusers_name}")


# ---------------------------------------------------------------------------------------
# The float64 run with hooks

class Recorder:
    """Forward hooks that keep activations (and ask autograd to keep their gradients)."""

    def __init__(self, model):
        self.values = {}
        self.grad_of = {}  # golden name -> tensor whose .grad is wanted
        self.handles = []
        ce = model.condition_embedder
        self.hook(model.rope, self.on_rope)
        self.hook(model.patch_embedding, self.on_patch)
        self.hook(ce.timesteps_proj, lambda m, i, o: self.keep("time.sinusoid", o))
        self.hook(ce, self.on_condition)
        for n, block in enumerate(model.blocks):
            self.hook(block.attn1, lambda m, i, o, n=n: self.keep(f"blocks.{n}.attn1", o))
            self.hook(block.attn2, lambda m, i, o, n=n: self.keep(f"blocks.{n}.attn2", o))
            self.hook(block.ffn, lambda m, i, o, n=n: self.keep(f"blocks.{n}.ffn", o))
            self.hook(block, lambda m, i, o, n=n: self.keep(f"blocks.{n}.out", o, grad=True))
        self.hook(model.proj_out, self.on_proj_out)

    def hook(self, module, fn):
        self.handles.append(module.register_forward_hook(fn))

    def keep(self, name, tensor, grad=False):
        assert name not in self.values, name
        self.values[name] = tensor
        if grad:
            tensor.retain_grad()
            self.grad_of[name] = tensor

    def on_rope(self, module, inputs, output):
        cos, sin = output  # (1, L, 1, head_dim) each
        self.keep("rope.cos", cos[0, :, 0, :])
        self.keep("rope.sin", sin[0, :, 0, :])

    def on_patch(self, module, inputs, output):
        output.retain_grad()  # (B, dim, F', H', W')
        self.values["patch_embedding"] = output
        self.grad_of["patch_embedding"] = output

    def on_condition(self, module, inputs, output):
        temb, timestep_proj, text, image = output
        assert image is None
        self.keep("time.temb", temb, grad=True)
        self.keep("time.proj", timestep_proj, grad=True)
        self.keep("text_embedding", text, grad=True)

    def on_proj_out(self, module, inputs, output):
        self.keep("head.modulated", inputs[0], grad=True)
        self.keep("head.proj_out", output, grad=True)

    def remove(self):
        for h in self.handles:
            h.remove()


def token_major(x):
    """(B, dim, F', H', W') -> (B, L, dim), the layout the transformer uses."""
    return x.flatten(2).transpose(1, 2)


def make_inputs(cfg, rng):
    m = cfg["model"]
    b = cfg["batch"]
    hidden = rng.standard_normal((b, m["in_channels"], cfg["frames"], cfg["height"], cfg["width"]))
    text = rng.standard_normal((b, cfg["text_len"], m["text_dim"]))
    pt, ph, pw = m["patch_size"]
    out_shape = (b, m["out_channels"], cfg["frames"] // pt * pt, cfg["height"] // ph * ph, cfg["width"] // pw * pw)
    loss_weight = rng.standard_normal(out_shape)
    return {
        "hidden_states": torch.from_numpy(hidden.astype(np.float32)),
        "timestep": torch.tensor(cfg["timesteps"], dtype=torch.float32),
        "encoder_hidden_states": torch.from_numpy(text.astype(np.float32)),
        "loss_weight": torch.from_numpy(loss_weight.astype(np.float32)),
    }


def build(cfg):
    rng = np.random.Generator(np.random.PCG64(cfg["seed"]))
    model32 = WanTransformer3DModel(**cfg["model"]).eval()
    init_weights(model32, rng)
    inputs = make_inputs(cfg, rng)
    model64 = copy.deepcopy(model32).double()
    m = cfg["model"]
    with keep_float64():  # RoPE tables in float64, without the final rounding to float32
        model64.rope = WanRotaryPosEmbed(m["attention_head_dim"], m["patch_size"], model64.config.rope_max_seq_len)
    assert model64.rope.freqs_cos.dtype == torch.float64
    return model32, model64, inputs


def run_float64(model64, inputs):
    """Forward and backward in float64. Returns (goldens, gradients) as float64 tensors."""
    hidden = inputs["hidden_states"].double().requires_grad_(True)
    text = inputs["encoder_hidden_states"].double().requires_grad_(True)
    model64.zero_grad(set_to_none=True)
    recorder = Recorder(model64)
    with keep_float64():
        out = model64(hidden, inputs["timestep"], text, return_dict=False)[0]
        out.retain_grad()
        loss = (out * inputs["loss_weight"].double()).sum()
        loss.backward()
    recorder.remove()

    v = recorder.values
    golden = {}
    golden["time.sinusoid"] = v["time.sinusoid"].double()  # float32 values (diffusers computes it so)
    golden["time.temb"] = v["time.temb"]
    golden["time.proj"] = v["time.proj"]
    golden["text_embedding"] = v["text_embedding"]
    golden["patch_embedding"] = token_major(v["patch_embedding"])
    golden["rope.cos"] = v["rope.cos"]
    golden["rope.sin"] = v["rope.sin"]
    for n in range(len(model64.blocks)):
        for part in ("attn1", "attn2", "ffn", "out"):
            golden[f"blocks.{n}.{part}"] = v[f"blocks.{n}.{part}"]
    golden["head.modulated"] = v["head.modulated"]
    golden["head.proj_out"] = v["head.proj_out"]
    golden["output"] = out
    golden["loss"] = loss

    grads = {}
    grads["grad.hidden_states"] = hidden.grad
    grads["grad.encoder_hidden_states"] = text.grad
    grads["grad.output"] = out.grad
    for name, t in recorder.grad_of.items():
        g = t.grad
        if name == "patch_embedding":
            g = token_major(g)
        grads[f"grad.{name}"] = g
    for name, p in model64.named_parameters():
        assert p.grad is not None, name
        grads[f"grad.{name}"] = p.grad
    for d in (golden, grads):
        for k in d:
            assert d[k].dtype == torch.float64, (k, d[k].dtype)
            d[k] = d[k].detach().contiguous().clone()
    return golden, grads


# ---------------------------------------------------------------------------------------
# Writing

def config_files(cfg, model32):
    m = cfg["model"]
    dim = m["num_attention_heads"] * m["attention_head_dim"]
    diffusers_config = dict(model32.config)
    diffusers_config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in diffusers_config.items()
                        if not k.startswith("_")}
    diffusers_config = {"_class_name": "WanTransformer3DModel", "_diffusers_version": diffusers.__version__,
                        **diffusers_config}
    # The original Wan2.1 config.json names (WanModel.__init__ in wan/modules/model.py).
    wan_config = {
        "_class_name": "WanModel",
        "model_type": "t2v",
        "patch_size": m["patch_size"],
        "text_len": cfg["text_len"],
        "in_dim": m["in_channels"],
        "dim": dim,
        "ffn_dim": m["ffn_dim"],
        "freq_dim": m["freq_dim"],
        "text_dim": m["text_dim"],
        "out_dim": m["out_channels"],
        "num_heads": m["num_attention_heads"],
        "num_layers": m["num_layers"],
        "window_size": [-1, -1],
        "qk_norm": True,
        "cross_attn_norm": m["cross_attn_norm"],
        "eps": m["eps"],
    }
    return diffusers_config, wan_config


def write(folder, cfg, model32, inputs, golden, grads):
    os.makedirs(folder, exist_ok=True)
    diffusers_config, wan_config = config_files(cfg, model32)
    # One metadata key per file: safetensors writes the metadata map in no fixed order, so
    # with two keys a rerun could give other bytes.
    about = {"generator": "tools/wan_golden.py", "versions": VERSIONS}

    def meta(**extra):
        return {"wan_golden": json.dumps({**about, **extra}, sort_keys=True)}

    weights = {k: v.detach().contiguous().clone() for k, v in model32.state_dict().items()}
    assert all(v.dtype == torch.float32 for v in weights.values())
    files = {}
    files["model_diffusers.safetensors"] = (weights, meta(config=diffusers_config))
    wan_weights = {wan_name(k): v for k, v in weights.items()}
    assert len(wan_weights) == len(weights)
    files["model_wan.safetensors"] = (wan_weights, meta(config=wan_config))
    files["inputs.safetensors"] = (dict(inputs), meta())
    files["golden.safetensors"] = ({**golden, **grads}, meta())
    for name, (tensors, metadata) in files.items():
        save_file(tensors, os.path.join(folder, name), metadata=metadata)
    for name, conf in (("config_diffusers.json", diffusers_config), ("config_wan.json", wan_config)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(conf, f, indent=2, sort_keys=True)
            f.write("\n")
    total = 0
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not name.endswith(".md"):
            with open(path, "rb") as f:
                data = f.read()
            total += len(data)
            print(f"  {name:30s} {len(data):8d} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    print(f"  total {total} bytes")


# ---------------------------------------------------------------------------------------
# Self-checks (--check)

def rel_l2(a, b):
    a = a.detach().double()
    b = b.detach().double()
    return float((a - b).norm() / b.norm())


def rel_l1(a, b):
    a = a.detach().double()
    b = b.detach().double()
    return float((a - b).abs().sum() / b.abs().sum())


def sinusoid_float32(timesteps, freq_dim):
    """The float32 sequence diffusers' get_timestep_embedding runs (flip_sin_to_cos=True,
    downscale_freq_shift=0), as docs/wan-model.md tells a C implementation to run it: each
    float32 op rounded once; exp, cos and sin taken in float64 and rounded to float32.
    Cos first, then sin."""
    half = freq_dim // 2
    exponent = np.float32(-math.log(10000.0)) * np.arange(half, dtype=np.float32)
    exponent = exponent / np.float32(half)
    freqs = np.exp(exponent.astype(np.float64)).astype(np.float32)
    arg = np.asarray(timesteps, dtype=np.float32)[:, None] * freqs[None, :]
    arg = arg.astype(np.float64)
    return np.concatenate([np.cos(arg), np.sin(arg)], axis=1).astype(np.float32).astype(np.float64)


def sinusoid_float64(timesteps, freq_dim):
    half = freq_dim // 2
    freqs = np.exp(-math.log(10000.0) * np.arange(half) / half)
    arg = np.asarray(timesteps, dtype=np.float64)[:, None] * freqs[None, :]
    return np.concatenate([np.cos(arg), np.sin(arg)], axis=1)


def reference_forward(w, cfg, hidden, timestep_sinusoid, text, record=None):
    """docs/wan-model.md written out in float64 from the weights under the original Wan
    names; no diffusers code. w: name -> float64 tensor. Returns the output
    (B, C_out, F, H, W)."""
    m = cfg["model"]
    heads, d = m["num_attention_heads"], m["attention_head_dim"]
    dim = heads * d
    eps = m["eps"]
    pt, ph, pw = m["patch_size"]
    B, C, F, H, W = hidden.shape
    f1, h1, w1 = F // pt, H // ph, W // pw
    L = f1 * h1 * w1

    def linear(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def layer_norm(x):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps)

    def rms_norm(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight

    def gelu_tanh(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    def silu(x):
        return x / (1 + torch.exp(-x))

    # Patch embedding as a GEMM: patch vector index ((c*pt + i)*ph + j)*pw + k.
    x = hidden[:, :, :f1 * pt, :h1 * ph, :w1 * pw]
    x = x.reshape(B, C, f1, pt, h1, ph, w1, pw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, L, C * pt * ph * pw)
    x = x @ w["patch_embedding.weight"].reshape(dim, -1).T + w["patch_embedding.bias"]

    # Time: temb = Linear(SiLU(Linear(sinusoid))); projection = Linear(SiLU(temb)) -> (B, 6, dim)
    temb = linear(silu(linear(timestep_sinusoid, "time_embedding.0")), "time_embedding.2")
    e6 = linear(silu(temb), "time_projection.1").reshape(B, 6, dim)
    ctx = linear(gelu_tanh(linear(text, "text_embedding.0")), "text_embedding.2")

    # RoPE: head channels [0, t) frames, [t, t+hd) height, [t+hd, d) width; pair (2i, 2i+1)
    # of part with size n rotates by pos * theta^(-2i/n).
    hd = 2 * (d // 6)
    td = d - 2 * hd
    angle = torch.zeros(L, d // 2, dtype=torch.float64)
    tok = torch.arange(L)
    pos = {"f": tok // (h1 * w1), "h": (tok // w1) % h1, "w": tok % w1}
    col = 0
    for axis, n in (("f", td), ("h", hd), ("w", hd)):
        i = torch.arange(n // 2, dtype=torch.float64)
        angle[:, col:col + n // 2] = pos[axis][:, None].double() * (10000.0 ** (-2 * i / n))[None, :]
        col += n // 2
    cos, sin = torch.cos(angle), torch.sin(angle)  # (L, d/2)
    if record is not None:
        record["rope.cos"] = cos.repeat_interleave(2, dim=1)
        record["rope.sin"] = sin.repeat_interleave(2, dim=1)

    def rope(q):  # (B, L, heads, d)
        a, b = q[..., 0::2], q[..., 1::2]
        out = torch.empty_like(q)
        out[..., 0::2] = a * cos[None, :, None, :] - b * sin[None, :, None, :]
        out[..., 1::2] = a * sin[None, :, None, :] + b * cos[None, :, None, :]
        return out

    def attention(q, k, v):  # (B, Lq, heads, d), (B, Lk, heads, d) -> (B, Lq, heads*d)
        s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d)
        p = torch.softmax(s, dim=-1)
        return torch.einsum("bhqk,bkhd->bqhd", p, v).reshape(q.shape[0], q.shape[1], heads * d)

    for n in range(m["num_layers"]):
        p = f"blocks.{n}."
        mod = w[p + "modulation"] + e6  # (B, 6, dim)
        shift1, scale1, gate1, shift2, scale2, gate2 = [mod[:, i:i + 1, :] for i in range(6)]
        # self-attention
        y = layer_norm(x) * (1 + scale1) + shift1
        q = rms_norm(linear(y, p + "self_attn.q"), w[p + "self_attn.norm_q.weight"]).reshape(B, L, heads, d)
        k = rms_norm(linear(y, p + "self_attn.k"), w[p + "self_attn.norm_k.weight"]).reshape(B, L, heads, d)
        v = linear(y, p + "self_attn.v").reshape(B, L, heads, d)
        a = linear(attention(rope(q), rope(k), v), p + "self_attn.o")
        x = x + a * gate1
        # cross-attention (Wan's norm3 = diffusers' norm2, affine)
        y = layer_norm(x) * w[p + "norm3.weight"] + w[p + "norm3.bias"]
        Lt = ctx.shape[1]
        q = rms_norm(linear(y, p + "cross_attn.q"), w[p + "cross_attn.norm_q.weight"]).reshape(B, L, heads, d)
        k = rms_norm(linear(ctx, p + "cross_attn.k"), w[p + "cross_attn.norm_k.weight"]).reshape(B, Lt, heads, d)
        v = linear(ctx, p + "cross_attn.v").reshape(B, Lt, heads, d)
        x = x + linear(attention(q, k, v), p + "cross_attn.o")
        # feed-forward
        y = layer_norm(x) * (1 + scale2) + shift2
        x = x + linear(gelu_tanh(linear(y, p + "ffn.0")), p + "ffn.2") * gate2
        if record is not None:
            record[f"blocks.{n}.out"] = x
    shift, scale = (w["head.modulation"] + temb[:, None, :]).unbind(1)
    y = layer_norm(x) * (1 + scale[:, None, :]) + shift[:, None, :]
    y = linear(y, "head.head")  # (B, L, pt*ph*pw*C_out), feature index ((i*ph + j)*pw + k)*C_out + c
    co = m["out_channels"]
    y = y.reshape(B, f1, h1, w1, pt, ph, pw, co).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return y.reshape(B, co, f1 * pt, h1 * ph, w1 * pw)


def finite_difference(model64, inputs, target, index, step=1e-4):
    """Derivative of the loss in float64 along one element of a parameter or input, by the
    fourth-order central difference (8 (f(h) - f(-h)) - (f(2h) - f(-2h))) / 12h."""
    def loss_at(delta):
        model = model64
        hidden = inputs["hidden_states"].double().clone()
        text = inputs["encoder_hidden_states"].double().clone()
        with torch.no_grad():
            if target == "hidden_states":
                hidden[index] += delta
            elif target == "encoder_hidden_states":
                text[index] += delta
            else:
                model = copy.deepcopy(model64)
                dict(model.named_parameters())[target][index] += delta
            with keep_float64():
                out = model(hidden, inputs["timestep"], text, return_dict=False)[0]
            return float((out * inputs["loss_weight"].double()).sum())
    h = step
    return (8 * (loss_at(h) - loss_at(-h)) - (loss_at(2 * h) - loss_at(-2 * h))) / (12 * h)


def check(cfg, model32, model64, inputs, golden, grads, weights_wan):
    fails = []

    def expect(what, value, limit):
        ok = value <= limit
        print(f"    {'ok  ' if ok else 'FAIL'} {what}: {value:.3e} (limit {limit:.0e})")
        if not ok:
            fails.append(what)

    m = cfg["model"]
    # 1. diffusers' own key conversion maps the Wan names back to the diffusers names.
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
    converted = convert_wan_transformer_to_diffusers({k: v.clone() for k, v in weights_wan.items()})
    state = model32.state_dict()
    same = set(converted) == set(state) and all(torch.equal(converted[k], state[k]) for k in state)
    print(f"    {'ok  ' if same else 'FAIL'} diffusers' convert_wan_transformer_to_diffusers(model_wan) == model_diffusers")
    if not same:
        fails.append("name mapping")

    # 2. diffusers' float32 forward and backward, as shipped (no keep_float64).
    hidden = inputs["hidden_states"].clone().requires_grad_(True)
    text = inputs["encoder_hidden_states"].clone().requires_grad_(True)
    model32.zero_grad(set_to_none=True)
    out32 = model32(hidden, inputs["timestep"], text, return_dict=False)[0]
    (out32 * inputs["loss_weight"]).sum().backward()
    expect("diffusers float32 output vs golden, rel L2", rel_l2(out32, golden["output"]), 1e-5)
    worst = max((rel_l2(p.grad, grads[f"grad.{n}"]), n) for n, p in model32.named_parameters())
    expect(f"diffusers float32 weight gradients vs golden, worst rel L2 ({worst[1]})", worst[0], 1e-4)
    expect("diffusers float32 grad hidden_states, rel L2", rel_l2(hidden.grad, grads["grad.hidden_states"]), 1e-4)
    expect("diffusers float32 grad encoder_hidden_states, rel L2",
           rel_l2(text.grad, grads["grad.encoder_hidden_states"]), 1e-4)

    # 3. The specification, written out independently, from the Wan names.
    w = {k: v.double().requires_grad_(True) for k, v in weights_wan.items()}
    hidden = inputs["hidden_states"].double().requires_grad_(True)
    text = inputs["encoder_hidden_states"].double().requires_grad_(True)
    record = {}
    sinus = golden["time.sinusoid"]
    out = reference_forward(w, cfg, hidden, sinus, text, record)
    (out * inputs["loss_weight"].double()).sum().backward()
    expect("spec (Wan names) output vs golden, rel L2", rel_l2(out.detach(), golden["output"]), 1e-12)
    for n in range(m["num_layers"]):
        expect(f"spec blocks.{n}.out vs golden, rel L2",
               rel_l2(record[f"blocks.{n}.out"].detach(), golden[f"blocks.{n}.out"]), 1e-12)
    expect("spec RoPE cos vs golden, max abs", float((record["rope.cos"] - golden["rope.cos"]).abs().max()), 1e-14)
    expect("spec RoPE sin vs golden, max abs", float((record["rope.sin"] - golden["rope.sin"]).abs().max()), 1e-14)
    worst = max((rel_l2(w[wan_name(n)].grad, grads[f"grad.{n}"]), n) for n, _ in model32.named_parameters())
    expect(f"spec weight gradients vs golden, worst rel L2 ({worst[1]})", worst[0], 1e-12)
    expect("spec grad hidden_states, rel L2", rel_l2(hidden.grad, grads["grad.hidden_states"]), 1e-12)
    expect("spec grad encoder_hidden_states, rel L2", rel_l2(text.grad, grads["grad.encoder_hidden_states"]), 1e-12)

    # 4. The sinusoid: numpy's float32 sequence vs diffusers', and how much float32 matters.
    t = cfg["timesteps"]
    s32 = torch.from_numpy(sinusoid_float32(t, m["freq_dim"]))
    s64 = torch.from_numpy(sinusoid_float64(t, m["freq_dim"]))
    print(f"    info sinusoid: the float32 sequence of docs/wan-model.md vs diffusers, max abs {float((s32 - sinus).abs().max()):.3e}; "
          f"exact float64 vs diffusers, max abs {float((s64 - sinus).abs().max()):.3e}")
    with torch.no_grad():
        w0 = {k: v.detach() for k, v in w.items()}
        h0 = inputs["hidden_states"].double()
        c0 = inputs["encoder_hidden_states"].double()
        o32 = reference_forward(w0, cfg, h0, s32, c0)
        o64 = reference_forward(w0, cfg, h0, s64, c0)
    print(f"    info output with that float32 sinusoid vs golden, rel L2 {rel_l2(o32, golden['output']):.3e}; "
          f"with the exact float64 sinusoid, rel L2 {rel_l2(o64, golden['output']):.3e}")

    # 5. Central finite differences in float64.
    probes = [
        ("hidden_states", (0, 1, 2, 3, 5)),
        ("encoder_hidden_states", (0, 3, 7)),
        ("blocks.0.attn1.norm_q.weight", (3,)),
        ("blocks.0.attn1.to_k.weight", (5, 7)),
        ("blocks.0.norm2.bias", (2,)),
        (f"blocks.{m['num_layers'] - 1}.scale_shift_table", (0, 5, 1)),
        ("condition_embedder.time_embedder.linear_1.weight", (1, 2)),
        ("condition_embedder.text_embedder.linear_1.weight", (4, 3)),
        ("patch_embedding.weight", (7, 1, 0, 0, 0)),
        ("scale_shift_table", (0, 1, 3)),
    ]
    for target, index in probes:
        key = f"grad.{target}"
        index = tuple(min(i, s - 1) for i, s in zip(index, grads[key].shape))
        fd = finite_difference(model64, inputs, target, index)
        ad = float(grads[key][index])
        expect(f"finite difference {target}{list(index)}: autograd {ad:+.10f} fd {fd:+.10f}, rel",
               abs(fd - ad) / max(abs(ad), 1e-3), 1e-8)

    # 6. Informational: diffusers in bf16 vs the golden, two ways: every parameter cast with
    # .to(bfloat16); and as from_pretrained(torch_dtype=bfloat16) loads it, where parameters
    # under a module named in _keep_in_fp32_modules (time_embedder, scale_shift_table,
    # norm1-3) stay float32.
    mixed = copy.deepcopy(model32).to(torch.bfloat16)
    keep = set(WanTransformer3DModel._keep_in_fp32_modules)
    with torch.no_grad():
        for n, p in mixed.named_parameters():
            if keep & set(n.split(".")):
                p.data = p.data.float()
    for label, model16 in (("all bf16", copy.deepcopy(model32).to(torch.bfloat16)),
                           ("bf16 with _keep_in_fp32_modules", mixed)):
        with torch.no_grad():
            o16 = model16(inputs["hidden_states"].bfloat16(), inputs["timestep"],
                          inputs["encoder_hidden_states"].bfloat16(), return_dict=False)[0]
        print(f"    info diffusers {label} forward (CPU) vs golden: output rel L1 {rel_l1(o16, golden['output']):.3e}")
    return fails


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--out", default=os.path.join(root, "tests", "data"),
                        help="folder that receives wan_small/ (default tests/data)")
    parser.add_argument("--check", action="store_true", help="run the self-checks too")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    print("versions:", json.dumps(VERSIONS))
    failures = []
    for name, cfg in CONFIGS.items():
        print(f"{name}:")
        model32, model64, inputs = build(cfg)
        golden, grads = run_float64(model64, inputs)
        folder = os.path.join(args.out, name)
        write(folder, cfg, model32, inputs, golden, grads)
        if args.check:
            weights_wan = {wan_name(k): v.detach().clone() for k, v in model32.state_dict().items()}
            failures += [f"{name}: {f}" for f in check(cfg, model32, model64, inputs, golden, grads, weights_wan)]
    if failures:
        print("FAILED:", *failures, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
