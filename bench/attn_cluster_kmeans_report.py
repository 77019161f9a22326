#!/usr/bin/env python3
"""Record of bench/attn_cluster_kmeans_device.sh: reads its cluster-kmeans.jsonl (tagged `vdit
bench attn --json` lines: dense, ear / svg with 2 and 1 warm k-means iterations, the TF32
assignment A/B, dense again), writes attn-cluster-kmeans.json and prints the per-step table.
clustering + routing = every routing stage up to the selection (convert .. select), as
bench/attn_cluster_report.py counts it; k-means = convert + assign + sort + means.
Several --jsonl (one a device call) become one record with a "calls" list.
Usage: attn_cluster_kmeans_report.py --jsonl cluster-kmeans.jsonl [--jsonl ...] --out attn-cluster-kmeans.json
       [--note TEXT] [--tests TEXT ...]"""
import argparse
import datetime
import json
import re

KMEANS = ("convert", "kmeans_assign", "kmeans_sort", "kmeans_means")
ROUTING_END = "select"  # stages up to and including this one are clustering + routing


def slug(gpu):
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"^nvidia\s+", "", gpu.lower())).strip("-")


def one_call(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    dense = [r["result"]["fwd"]["ms"] for r in rows if r["result"]["method"] == "dense"]
    dense_ms = dense[0]
    gpu = next((r["result"].get("gpu") for r in rows if r["result"].get("gpu")), "unknown")
    points = []
    print(f"{gpu}: dense {' / '.join(f'{d:.3f}' for d in dense)} ms")
    print(f"{'tag':18} {'fwd ms':>8} {'x dense':>7} {'rel L1':>8} {'PSNR':>6} {'k-means':>8} {'routing':>8} {'/dense':>6}  "
          + " ".join(f"{k:>13}" for k in KMEANS))
    for r in rows:
        o = r["result"]
        if o["method"] == "dense":
            continue
        st = o.get("stages_ms", {})
        names = list(st.keys())
        routing = sum(st[k] for k in names[: names.index(ROUTING_END) + 1]) if ROUTING_END in st else None
        kmeans = sum(st.get(k, 0.0) for k in KMEANS)
        p = {"tag": r["tag"], "assign_kernel": r.get("assign_env") or "mma",
             "method": o["method"], "budget": o.get("budget"), "budget_used": o.get("budget_used"),
             "warm_iterations": int(r["tag"].split("-w")[1][0]) if "-w" in r["tag"] else None,
             "ms": o["fwd"]["ms"], "x_dense": o["fwd"]["ms"] / dense_ms,
             "rel_l1": o.get("o_vs_dense", {}).get("rel_l1"), "psnr": o.get("o_vs_dense", {}).get("psnr"),
             "kmeans_ms": kmeans, "clustering_routing_ms": routing,
             "clustering_routing_over_dense": routing / dense_ms if routing is not None else None, "stages_ms": st}
        points.append(p)
        print(f"{r['tag']:18} {p['ms']:8.3f} {p['x_dense']:7.3f} {p['rel_l1'] or 0:8.4f} {p['psnr'] or 0:6.2f} {kmeans:8.3f} "
              f"{routing or 0:8.3f} {p['clustering_routing_over_dense'] or 0:6.3f}  "
              + " ".join(f"{st.get(k, 0.0):13.3f}" for k in KMEANS))
    return {"gpu": gpu, "dense_ms": dense, "points": points}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", required=True, action="append")
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", default="")
    ap.add_argument("--tests", action="append", default=[])
    args = ap.parse_args()
    calls = [one_call(path) for path in args.jsonl]
    for call, tests in zip(calls, args.tests):
        call["gpu_tests"] = tests
    gpu = calls[0]["gpu"]
    record = {"name": "attn-cluster-kmeans", "gpu": gpu, "gpu_slug": slug(gpu),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "command": "OUT=dir bash bench/attn_cluster_kmeans_device.sh, one device call each: calls[0] the default plan, calls[1] PLAN=short",
              "shape": {"batch": 1, "heads": 12, "seq": 32760, "dim": 128}, "dtype": "bf16", "layout": "bhsd",
              "inputs": "video", "note": args.note, "calls": calls}
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
