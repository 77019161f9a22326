#!/usr/bin/env python3
"""Joins `vdit bench attn --json` lines (dense and sage, same run) and bench/attn_peer.py's JSON
(torch SDPA FA2 and cuDNN, same run) into bench/results/<gpu>/attn-sage.json and prints a table.
Ratios: other ms / sage ms (> 1: sage faster). TFLOP/s use the dense count (4*B*H*Sq*Sk*D forward,
2.5x backward) for every method. Acceptance (issue 6): the default sage forward (per-block INT8,
FP8 P V) >= 1.4x our dense forward and the sage backward >= 1.2x our dense backward.
Lines carrying "variant" come from the kernel lab (dev/sage); only variant 0 (the engine's) is kept.
Usage: attn_sage_report.py --ours ours.jsonl --peer peer.json --out attn-sage.json [--command CMD] [--note TEXT]"""
import argparse
import datetime
import json
import re


def slug(gpu):
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"^nvidia\s+", "", gpu.lower())).strip("-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bash bench/attn_sage.sh")
    ap.add_argument("--note", default="")
    ap.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    args = ap.parse_args()
    lines = [json.loads(l) for l in open(args.ours) if l.strip().startswith("{")]
    lines = [l for l in lines if l.get("variant", 0) == 0]
    dense = next(l for l in lines if l["method"] == "dense")
    peer = json.load(open(args.peer))
    s = dense["shape"]
    key = [s["batch"], s["heads"], s["seq_q"], s["dim"]]
    peers = {r["backend"]: r for r in peer["results"] if r["shape"] == key}
    gpu = dense.get("gpu", peer.get("gpu", "unknown"))
    report = {"name": "attn-sage", "gpu": gpu, "gpu_slug": slug(gpu), "peer_gpu": peer.get("gpu"), "date": args.date,
              "command": args.command, "torch": peer.get("torch"), "cudnn": peer.get("cudnn"), "dtype": "bf16",
              "mask": "none", "layout": dense.get("layout"), "shape": {"batch": s["batch"], "heads": s["heads"],
                                                                       "seq": s["seq_q"], "dim": s["dim"]},
              "repeat": dense.get("repeat"), "warmup": dense.get("warmup"), "timer": dense.get("timer"),
              "flops": "dense count for every method: forward 4*B*H*Sq*Sk*D, backward 2.5x forward",
              "ratio": "other ms / sage ms (> 1: sage faster)", "note": args.note,
              "dense": {"fwd": dense["fwd"], "bwd": dense.get("bwd")},
              "flash": {d: {"ms": peers["flash"][f"{d}_ms"], "tflops": peers["flash"][f"{d}_tflops"]} for d in ("fwd", "bwd")}
              if "flash" in peers and "fwd_ms" in peers["flash"] else {"error": "not timed"},
              "cudnn": {d: {"ms": peers["cudnn"][f"{d}_ms"], "tflops": peers["cudnn"][f"{d}_tflops"]} for d in ("fwd", "bwd")}
              if "cudnn" in peers and "fwd_ms" in peers["cudnn"] else {"error": "not timed"},
              "sage": []}
    rows = []
    accepted_fwd = accepted_bwd = None
    for l in lines:
        if l["method"] != "sage":
            continue
        opts = l.get("sage", {})
        rec = {"options": opts, "fwd": l["fwd"], "bwd": l.get("bwd")}
        for d in ("fwd", "bwd"):
            if not l.get(d):
                continue
            rec.setdefault("ratio_vs_dense", {})[d] = dense[d]["ms"] / l[d]["ms"]
            for name in ("flash", "cudnn"):
                if d in report[name]:
                    rec.setdefault(f"ratio_vs_{name}", {})[d] = report[name][d]["ms"] / l[d]["ms"]
        if opts.get("granularity") == "block" and opts.get("pv") == "fp8" and not opts.get("smooth_q"):
            accepted_fwd = rec["ratio_vs_dense"]["fwd"] >= 1.4
            if "bwd" in rec.get("ratio_vs_dense", {}):
                accepted_bwd = rec["ratio_vs_dense"]["bwd"] >= 1.2
        report["sage"].append(rec)
        rows.append((f'{opts.get("granularity")}/{opts.get("pv")}', rec))
    report["acceptance"] = {"forward_1.4x_dense": accepted_fwd, "backward_1.2x_dense": accepted_bwd}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    fmt = lambda x, p=3: f"{x:.{p}f}" if isinstance(x, (int, float)) else "n/a"
    print(f"gpu: {gpu} | torch {peer.get('torch')} cudnn {peer.get('cudnn')} | shape {key} bf16")
    print(f"dense: fwd {fmt(dense['fwd']['ms'])} ms, bwd {fmt(dense.get('bwd', {}).get('ms'))} ms | FA2 fwd "
          f"{fmt(report['flash'].get('fwd', {}).get('ms'))} | cuDNN fwd {fmt(report['cudnn'].get('fwd', {}).get('ms'))}")
    print(f"{'sage gran/pv':<14} {'fwd ms':>8} {'x dense':>8} {'x FA2':>6} {'x cuDNN':>8} {'bwd ms':>8} {'x dense':>8}")
    for name, rec in rows:
        r = rec.get("ratio_vs_dense", {})
        print(f"{name:<14} {fmt(rec['fwd']['ms']):>8} {fmt(r.get('fwd'), 2):>8} {fmt(rec.get('ratio_vs_flash', {}).get('fwd'), 2):>6} "
              f"{fmt(rec.get('ratio_vs_cudnn', {}).get('fwd'), 2):>8} {fmt((rec.get('bwd') or {}).get('ms')):>8} {fmt(r.get('bwd'), 2):>8}")
    print(f"acceptance: forward >= 1.4x dense: {accepted_fwd}; backward >= 1.2x dense: {accepted_bwd}")


if __name__ == "__main__":
    main()
