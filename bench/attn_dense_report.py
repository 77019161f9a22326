#!/usr/bin/env python3
"""Joins `vdit bench attn --json` lines (ours) and bench/attn_peer.py's JSON (torch SDPA FA2 and
cuDNN, same run) into one record with the ratios, and prints a table. Ratio = peer ms / our ms
(> 1: ours is faster). Acceptance (the issue): forward and backward >= 1.0x FA2 on every shape.
Usage: attn_dense_report.py --ours ours.jsonl --peer peer.json --out attn-dense.json [--env env.json]"""
import argparse
import json
import re


def slug(gpu):
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3' (the bench/results/<gpu>/ folder)."""
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"^nvidia\s+", "", gpu.lower())).strip("-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--env", help="JSON object of run facts (date, driver, nvcc, command) to include")
    args = ap.parse_args()
    ours = []
    with open(args.ours) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                ours.append(json.loads(line))
    peer = json.load(open(args.peer))
    env = json.load(open(args.env)) if args.env else {}
    peers = {(tuple(r["shape"]), r["backend"]): r for r in peer["results"]}
    gpu = next((o["gpu"] for o in ours if "gpu" in o), peer.get("gpu", "unknown"))
    report = {"name": "attn-dense", "gpu": gpu, "gpu_slug": slug(gpu), "peer_gpu": peer.get("gpu"), **env,
              "torch": peer.get("torch"), "cudnn": peer.get("cudnn"), "dtype": "bf16", "mask": "none",
              "flops": "forward 4*B*H*Sq*Sk*D, backward 2.5x forward",
              "ratio": "peer ms / our ms (> 1: ours faster)", "results": []}
    accepted = bool(ours)
    rows = []
    for o in ours:
        s = o["shape"]
        key = (s["batch"], s["heads"], s["seq_q"], s["dim"])
        rec = {"shape": {"batch": s["batch"], "heads": s["heads"], "seq": s["seq_q"], "dim": s["dim"]},
               "layout": o.get("layout"), "ours": {"fwd": o["fwd"], "bwd": o.get("bwd"), "repeat": o.get("repeat"),
                                                   "warmup": o.get("warmup"), "timer": o.get("timer")}}
        for name in ("flash", "cudnn"):
            p = peers.get((key, name), {})
            if "fwd_ms" not in p:
                rec[name] = {"error": p.get("error", "not timed")}
                continue
            rec[name] = {d: {"ms": p[f"{d}_ms"], "ms_min": p[f"{d}_ms_min"], "tflops": p[f"{d}_tflops"]}
                         for d in ("fwd", "bwd") if f"{d}_ms" in p}
            rec[f"ratio_vs_{name}"] = {d: rec[name][d]["ms"] / o[d]["ms"] for d in ("fwd", "bwd")
                                       if d in rec[name] and o.get(d)}
        ok = all(rec.get("ratio_vs_flash", {}).get(d, 0) >= 1.0 for d in ("fwd", "bwd"))
        rec["accepted"] = ok
        accepted = accepted and ok
        report["results"].append(rec)
        for d in ("fwd", "bwd"):
            fl = rec.get("flash", {}).get(d, {})
            cu = rec.get("cudnn", {}).get(d, {})
            rows.append((str(list(key)), d, o[d]["ms"], o[d]["tflops"], fl.get("tflops"), cu.get("tflops"),
                         rec.get("ratio_vs_flash", {}).get(d), rec.get("ratio_vs_cudnn", {}).get(d)))
    report["accepted"] = accepted
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    fmt = lambda x, w, p: f"{x:{w}.{p}f}" if isinstance(x, (int, float)) else f"{'n/a':>{w}}"
    print(f"gpu: {gpu} | torch {peer.get('torch')} cudnn {peer.get('cudnn')} | {env.get('date', '')}")
    print(f"{'shape (B,H,S,D)':<22} {'dir':<4} {'ours ms':>9} {'TFLOP/s':>8} {'FA2':>7} {'cuDNN':>7} {'x FA2':>6} {'x cuDNN':>7}")
    for r in rows:
        print(f"{r[0]:<22} {r[1]:<4} {fmt(r[2], 9, 3)} {fmt(r[3], 8, 1)} {fmt(r[4], 7, 1)} {fmt(r[5], 7, 1)} "
              f"{fmt(r[6], 6, 2)} {fmt(r[7], 7, 2)}")
    print(f"acceptance (>= 1.0x FA2 forward and backward on every shape): {'met' if accepted else 'NOT met'}")


if __name__ == "__main__":
    main()
