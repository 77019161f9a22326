#!/usr/bin/env python3
"""Joins the `vdit bench attn --json` lines of bench/attn_sla.sh (our dense, then SLA2 per
sparsity with and without the router's gradient) into the "sla" section of attn-sparse.json
(the other sections are kept from --base), and prints a table. Speedup = our dense ms (same
run) / SLA2 ms; SLA2's forward includes the router and the linear branch. Acceptance (issue 8):
forward >= 15x at 97%, backward >= 6x at 95%.
Usage: attn_sla_report.py --ours sla.jsonl --base attn-sparse.json --out attn-sparse.json"""
import argparse
import datetime
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ours = [json.loads(l) for l in open(args.ours) if l.strip().startswith("{")]
    rep = json.load(open(args.base)) if os.path.exists(args.base) else {"name": "attn-sparse"}
    dense = next((o for o in ours if o["method"] == "dense"), None)
    gpu = next((o["gpu"] for o in ours if "gpu" in o), "unknown")
    sec = {"gpu": gpu, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "bash bench/attn_sla.sh", "dtype": "bf16", "layout": "bhsd", "inputs": "video (sla), plain (dense)",
           "router": "random Wq, Wk (D_r = 32), Top-k of 128 x 128 blocks (exact sparsity), softmax feature map",
           "speedup": "our dense ms (same run) / sla ms; fwd includes router + sparse + linear branch; bwd with the router's "
                      "gradient unless router_grad is false",
           "dense": dense, "results": []}
    print(f"{'sparsity':>9} {'router':>7} {'rt ms':>7} {'fwd ms':>8} {'x dense':>8} {'bwd ms':>8} {'x dense':>8}")
    if dense:
        print(f"{'dense':>9} {'':>7} {'':>7} {dense['fwd']['ms']:8.3f} {'1.00':>8} {dense['bwd']['ms']:8.3f} {'1.00':>8}")
    for o in ours:
        if o["method"] != "sla":
            continue
        r = {"sparsity": o.get("sparsity"), "topk": o.get("topk"), "router_grad": o.get("router_grad"),
             "router_ms": o["router"]["ms"], "fwd_ms": o["fwd"]["ms"], "bwd_ms": o["bwd"]["ms"] if "bwd" in o else None}
        if "stages_ms" in o:  # per-kernel medians (CUDA events between the forward's launches)
            r["stages_ms"] = o["stages_ms"]
        if dense:
            r["fwd_speedup"] = dense["fwd"]["ms"] / o["fwd"]["ms"]
            r["bwd_speedup"] = dense["bwd"]["ms"] / o["bwd"]["ms"] if "bwd" in o else None
        sec["results"].append(r)
        print(f"{r['sparsity']:9.4f} {'grad' if r['router_grad'] else 'frozen':>7} {r['router_ms']:7.3f} {r['fwd_ms']:8.3f} "
              f"{r.get('fwd_speedup', float('nan')):8.2f} {r['bwd_ms'] or float('nan'):8.3f} {r.get('bwd_speedup') or float('nan'):8.2f}")
    rep["sla"] = sec
    json.dump(rep, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
