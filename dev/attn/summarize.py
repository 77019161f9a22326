#!/usr/bin/env python3
"""Prints ours vs the torch peers from attn_dev's bench JSON and bench/attn_peer.py's JSON: the best variant
per (shape, direction, version) in the (B, H, S, D) layout, the peers, and the ratios."""
import json
import sys


def main():
    text = open(sys.argv[1]).read()
    try:
        ours = json.loads(text)
    except json.JSONDecodeError:  # a bench that died part way: keep what it wrote
        ours = json.loads(text.rstrip().rstrip(",") + "\n]}")
        print("note: ours.json was cut short")
    peer = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {"results": []}
    print(f"gpu: ours {ours.get('gpu')} | peers {peer.get('gpu')} torch {peer.get('torch')} cudnn {peer.get('cudnn')}")
    peers = {(tuple(r["shape"]), r["backend"]): r for r in peer["results"]}
    best = {}
    for r in ours["results"]:
        if r["layout"] != "bhsd":
            continue
        key = (tuple(r["shape"]), r["dir"], r["version"])
        if key not in best or r["ms_median"] < best[key]["ms_median"]:
            best[key] = r
    print(f"{'shape':<22} {'dir':<4} {'ours (best variant)':<34} {'TF/s':>6} {'flash':>6} {'cudnn':>6} {'x flash':>8} {'x cudnn':>8}")
    for (shape, d, ver), r in sorted(best.items(), key=lambda kv: (kv[0][0][2], kv[0][0][1], kv[0][1])):
        fl = peers.get((shape, "flash"), {}).get(f"{d}_tflops")
        cu = peers.get((shape, "cudnn"), {}).get(f"{d}_tflops")
        name = f"{ver} {r['variant']} {r['ms_median']:.2f}ms"
        fmt = lambda x: f"{x:6.1f}" if x else "   n/a"
        ratio = lambda x: f"{r['tflops'] / x:8.2f}" if x else "     n/a"
        spot = "" if r.get("spot_ok", True) else "  SPOT-CHECK FAILED"
        print(f"{str(list(shape)):<22} {d:<4} {name:<34} {r['tflops']:6.1f} {fmt(fl)} {fmt(cu)} {ratio(fl)} {ratio(cu)}{spot}")


if __name__ == "__main__":
    main()
