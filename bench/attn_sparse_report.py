#!/usr/bin/env python3
"""Joins the `vdit bench attn --json` lines of bench/attn_sparse.sh (one dense, then sparge per
sparsity) and bench/attn_peer.py's JSON (same run) into attn-sparse.json with the speedups, and
prints a table. Speedup = our dense ms / sparge ms (forward: the executor on the held mask;
"with mask": executor + mask prediction). Acceptance (issue 7): forward >= 8x at 90%, >= 18x at
97%; backward >= 6x at 95%; mask prediction <= 5% of the dense forward.
With --sage (the sage dense line, then sparge --sage per sparsity) a "sage" section: the same
masks on the INT8 path, against the sage dense, our bf16 dense and the bf16 executor at the
same sparsity. Writes the sparge part only: merge an existing file's "sla" section by hand.
Usage: attn_sparse_report.py --ours ours.jsonl [--sage sage.jsonl] --peer peer.json --out attn-sparse.json"""
import argparse
import datetime
import json
import os
import re


def slug(gpu):
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"^nvidia\s+", "", gpu.lower())).strip("-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--sage")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ours = [json.loads(l) for l in open(args.ours) if l.strip().startswith("{")]
    peer = json.load(open(args.peer)) if os.path.exists(args.peer) else {"results": []}
    dense = next((o for o in ours if o["method"] == "dense"), None)
    sparge = [o for o in ours if o["method"] == "sparge"]
    gpu = next((o["gpu"] for o in ours if "gpu" in o), peer.get("gpu", "unknown"))
    cudnn = next((r for r in peer["results"] if r["backend"] == "cudnn" and "fwd_ms" in r), None)
    flash = next((r for r in peer["results"] if r["backend"] == "flash" and "fwd_ms" in r), None)
    rep = {"name": "attn-sparse", "gpu": gpu, "gpu_slug": slug(gpu),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "bash bench/attn_sparse.sh", "torch": peer.get("torch"), "cudnn_version": peer.get("cudnn"),
           "dtype": "bf16", "layout": "bhsd", "inputs": "video (sparge), plain (dense)",
           "rule": "topk (exact sparsity), block 128 x 128",
           "speedup": "our dense ms / sparge ms; fwd = executor on the held mask, fwd_with_mask adds the prediction",
           "dense": dense, "peer": {"cudnn": cudnn, "flash": flash}, "results": []}
    print(f"{'sparsity':>9} {'mask ms':>8} {'fwd ms':>8} {'x dense':>8} {'x cuDNN':>8} {'+mask x':>8} {'bwd ms':>8} {'x dense':>8} {'mask/dense':>10}")
    if dense:
        print(f"{'dense':>9} {'':>8} {dense['fwd']['ms']:8.3f} {'1.00':>8} "
              f"{(cudnn['fwd_ms'] / dense['fwd']['ms']) if cudnn else float('nan'):8.2f} {'':>8} {dense['bwd']['ms']:8.3f}")
    for o in sparge:
        r = {"target_sparsity": o.get("target_sparsity"), "sparsity": o.get("sparsity"), "mask_ms": o["mask"]["ms"], "fwd_ms": o["fwd"]["ms"],
             "bwd_ms": o["bwd"]["ms"] if "bwd" in o else None}
        if dense:
            r["fwd_speedup"] = dense["fwd"]["ms"] / o["fwd"]["ms"]
            r["fwd_with_mask_speedup"] = dense["fwd"]["ms"] / (o["fwd"]["ms"] + o["mask"]["ms"])
            r["bwd_speedup"] = dense["bwd"]["ms"] / o["bwd"]["ms"] if "bwd" in o else None
            r["mask_over_dense_fwd"] = o["mask"]["ms"] / dense["fwd"]["ms"]
        if cudnn:
            r["fwd_speedup_vs_cudnn"] = cudnn["fwd_ms"] / o["fwd"]["ms"]
            r["bwd_speedup_vs_cudnn"] = cudnn["bwd_ms"] / o["bwd"]["ms"] if "bwd" in o else None
        rep["results"].append(r)
        print(f"{r['sparsity']:9.4f} {r['mask_ms']:8.3f} {r['fwd_ms']:8.3f} {r.get('fwd_speedup', float('nan')):8.2f} "
              f"{r.get('fwd_speedup_vs_cudnn', float('nan')):8.2f} {r.get('fwd_with_mask_speedup', float('nan')):8.2f} "
              f"{r['bwd_ms'] or float('nan'):8.3f} {r.get('bwd_speedup') or float('nan'):8.2f} {r.get('mask_over_dense_fwd', float('nan')):10.4f}")
    if args.sage and os.path.exists(args.sage):
        lines = [json.loads(l) for l in open(args.sage) if l.strip().startswith("{")]
        sage_dense = next((o for o in lines if o["method"] == "sage"), None)
        sec = {"what": "sparge masks on the SageAttention INT8 path (sparge(sage=1), gran block, pv fp8); "
                       "speedups against the sage dense, our bf16 dense and the bf16 executor at the same sparsity",
               "sage_dense": sage_dense, "results": []}
        print(f"\n{'sage':>9} {'fwd ms':>8} {'x sage':>8} {'x dense':>8} {'x bf16 sp':>9} {'bwd ms':>8} {'x sage':>8} {'x dense':>8}")
        for o in lines:
            if o["method"] != "sparge":
                continue
            r = {"target_sparsity": o.get("target_sparsity"), "sparsity": o.get("sparsity"), "mask_ms": o["mask"]["ms"],
                 "fwd_ms": o["fwd"]["ms"], "bwd_ms": o["bwd"]["ms"] if "bwd" in o else None}
            nan = float("nan")
            if sage_dense:
                r["fwd_speedup_vs_sage"] = sage_dense["fwd"]["ms"] / r["fwd_ms"]
                r["bwd_speedup_vs_sage"] = sage_dense["bwd"]["ms"] / r["bwd_ms"] if r["bwd_ms"] else None
            if dense:
                r["fwd_speedup"] = dense["fwd"]["ms"] / r["fwd_ms"]
                r["bwd_speedup"] = dense["bwd"]["ms"] / r["bwd_ms"] if r["bwd_ms"] else None
            bf16 = next((x for x in rep["results"] if x["target_sparsity"] == r["target_sparsity"]), None)
            if bf16:
                r["fwd_speedup_vs_bf16_executor"] = bf16["fwd_ms"] / r["fwd_ms"]
                r["bwd_speedup_vs_bf16_executor"] = bf16["bwd_ms"] / r["bwd_ms"] if r["bwd_ms"] and bf16["bwd_ms"] else None
            sec["results"].append(r)
            print(f"{r['sparsity']:9.4f} {r['fwd_ms']:8.3f} {r.get('fwd_speedup_vs_sage', nan):8.2f} {r.get('fwd_speedup', nan):8.2f} "
                  f"{r.get('fwd_speedup_vs_bf16_executor', nan):9.2f} {r['bwd_ms'] or nan:8.3f} "
                  f"{r.get('bwd_speedup_vs_sage') or nan:8.2f} {r.get('bwd_speedup') or nan:8.2f}")
        rep["sage"] = sec
    json.dump(rep, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
