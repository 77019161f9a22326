#!/usr/bin/env python3
"""diffusers' WanTransformer3DModel on the weights and inputs that `vdit bench model --save DIR`
wrote, for bench/model.sh: one forward step in bf16 (from_pretrained with torch_dtype=bfloat16,
so diffusers keeps its fp32 modules as it does for users), its default attention backend
(torch SDPA), timed with CUDA events (median of --reps after --warmup), peak memory from
torch.cuda.max_memory_allocated (weights included), and the relative L1 distance between its
output and vdit's. Also times torch SDPA alone at the model's self-attention shape with the
default choice and each backend forced, to name the backend the default picked.
"""
import argparse
import json
import os
import statistics
import sys

import torch


def time_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), min(times)


def sdpa_backends(heads, tokens, head_dim, reps):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F

    q, k, v = (torch.randn(1, heads, tokens, head_dim, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    out = {}
    with torch.no_grad():
        out["default"] = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), reps, 2)[0]
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
                              ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
            try:
                with sdpa_kernel([backend]):
                    out[name] = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), reps, 2)[0]
            except RuntimeError as error:  # a backend that refuses the shape
                out[name] = str(error).splitlines()[0]
    del q, k, v
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="what vdit bench model --save wrote")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import diffusers
    from diffusers import WanTransformer3DModel
    from safetensors.torch import load_file

    torch.backends.cuda.matmul.allow_tf32 = False
    model = WanTransformer3DModel.from_pretrained(args.dir, torch_dtype=torch.bfloat16).to("cuda").eval()
    inputs = load_file(os.path.join(args.dir, "inputs.safetensors"), device="cuda")
    hidden = inputs["hidden_states"].to(torch.bfloat16)
    timestep = inputs["timestep"]
    text = inputs["encoder_hidden_states"].to(torch.bfloat16)
    torch.cuda.synchronize()
    weights_bytes = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()

    def step():
        with torch.no_grad():
            return model(hidden_states=hidden, timestep=timestep, encoder_hidden_states=text, return_dict=False)[0]

    out = step()
    ms, ms_min = time_ms(step, args.reps, args.warmup - 1 if args.warmup > 0 else 0)
    peak = torch.cuda.max_memory_allocated()
    ours = load_file(os.path.join(args.dir, "output.safetensors"), device="cuda")["output"].float()
    ref = out.float()
    rel_l1 = ((ours - ref).abs().sum() / ref.abs().sum()).item()
    del out, ref, ours
    cfg = model.config
    tokens = hidden.shape[2] // cfg.patch_size[0] * (hidden.shape[3] // cfg.patch_size[1]) * (
        hidden.shape[4] // cfg.patch_size[2])
    del model
    torch.cuda.empty_cache()
    sdpa = sdpa_backends(cfg.num_attention_heads, tokens, cfg.attention_head_dim, 5)
    result = {
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "step_ms": ms,
        "step_ms_min": ms_min,
        "peak_gib": peak / 2**30,
        "weights_gib": weights_bytes / 2**30,
        "memory": "torch.cuda.max_memory_allocated over the timed steps (weights included)",
        "output_rel_l1_vdit_vs_diffusers": rel_l1,
        "sdpa_self_attention_ms": sdpa,
        "timer": "cuda events, median",
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
