#!/usr/bin/env python3
"""Times PyTorch SDPA's FlashAttention-2 (FLASH_ATTENTION) and cuDNN (CUDNN_ATTENTION) backends,
forward and backward, bf16, non-causal, on (B, H, S, D) contiguous tensors: the peers of
`vdit bench attn --method dense` (bench/attn_dense.sh runs both in one device session).
CUDA events around each call, warm-up first, median (and min) of --reps; inputs ~ N(0, 1) as
vdit's plain inputs. Writes one JSON object:
{"gpu", "torch", "cudnn", "reps", "warmup", "results": [{"shape": [B, H, S, D], "backend",
"fwd_ms", "fwd_ms_min", "fwd_tflops", "bwd_ms", "bwd_ms_min", "bwd_tflops"} or "error"]}."""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

DEFAULT_SHAPES = ["1,12,32760,128", "1,40,32760,128", "2,24,8192,64"]
BACKENDS = [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)]


def time_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES, help="B,H,S,D ...")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    out = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "reps": args.reps, "warmup": args.warmup, "results": []}
    for text in args.shapes:
        B, H, S, D = (int(x) for x in text.split(","))
        g = torch.Generator(device="cuda").manual_seed(1234 + S + H)
        q, k, v, d_o = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(4))
        flops = 4.0 * B * H * S * S * D
        for name, backend in BACKENDS:
            rec = {"shape": [B, H, S, D], "backend": name}
            try:
                with sdpa_kernel([backend]):
                    with torch.no_grad():
                        med, mn = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), args.warmup, args.reps)
                    rec.update(fwd_ms=med, fwd_ms_min=mn, fwd_tflops=flops / (med * 1e-3) / 1e12)
                    qg, kg, vg = (x.detach().requires_grad_() for x in (q, k, v))
                    o = F.scaled_dot_product_attention(qg, kg, vg)
                    med, mn = time_ms(lambda: torch.autograd.grad(o, (qg, kg, vg), d_o, retain_graph=True),
                                      args.warmup, args.reps)
                    rec.update(bwd_ms=med, bwd_ms_min=mn, bwd_tflops=2.5 * flops / (med * 1e-3) / 1e12)
                    del o, qg, kg, vg
            except Exception as e:  # a backend that refuses the shape is recorded, not fatal
                rec["error"] = repr(e)[:300]
            out["results"].append(rec)
            print(json.dumps(rec), flush=True)
            torch.cuda.empty_cache()
        del q, k, v, d_o
        torch.cuda.empty_cache()
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
