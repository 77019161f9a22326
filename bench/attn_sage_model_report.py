#!/usr/bin/env python3
"""Summarise bench/attn_sage_model.sh: the check lines per (granularity, P V, channel split) and
the K channel spread of every capture (max over channels of max|K_d| / its median, raw and after
K-smoothing), per (batch, head), with the heads and channels the split rule (attn_sage.h: smoothed
channel max over SPLIT_RATIO x the lower median channel max, at most 16) takes out of INT8.
Standard library only.
Usage: attn_sage_model_report.py LINES.jsonl CAPTURE.safetensors... --output FILE.json"""
import argparse
import json
import re
import statistics
import struct
import sys
from array import array


def load_tensors(path, names):
    """(shape, flat float array) of the named F32 or BF16 tensors of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    out = {}
    for name in names:
        info = header[name]
        start, end = info["data_offsets"]
        raw = blob[8 + n + start : 8 + n + end]
        if info["dtype"] == "F32":
            out[name] = (info["shape"], array("f", raw))
        elif info["dtype"] == "BF16":
            out[name] = (info["shape"], array("f", array("I", (h << 16 for h in array("H", raw))).tobytes()))
        else:
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32 or BF16")
    return out


SPLIT_RATIO, SPLIT_MAX = 8.0, 16  # attn_sage.h: SAGE_SPLIT_RATIO, SAGE_SPLIT_MAX


def channel_spread(shape, x):
    """Per (batch, head) of a (B, L, H, D) tensor: max_d amax_d / median_d amax_d, raw and centred,
    and the number of channels the split rule takes (centred amax over SPLIT_RATIO x the lower median)."""
    B, L, H, D = shape
    spreads = []
    for b in range(B):
        for h in range(H):
            rows = [x[((b * L + l) * H + h) * D : ((b * L + l) * H + h) * D + D] for l in range(L)]
            mean = [sum(r[d] for r in rows) / L for d in range(D)]
            raw = [max(abs(r[d]) for r in rows) for d in range(D)]
            cen = [max(abs(r[d] - mean[d]) for r in rows) for d in range(D)]
            low = sorted(cen)[(D - 1) // 2]
            split = min(SPLIT_MAX, sum(c > SPLIT_RATIO * low for c in cen))
            spreads.append((max(raw) / statistics.median(raw), max(cen) / statistics.median(cen), split))
    return spreads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lines")
    ap.add_argument("captures", nargs="+")
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.lines) if l.strip()]
    if not rows:
        sys.exit(f"{a.lines}: no check results")
    configs = {}
    for r in rows:
        key = f"{r['sage']['granularity']} {r['sage']['pv']} split={r['sage'].get('split', 'off')}"
        c = configs.setdefault(key, {"cases": 0, "passed": 0, "o_rel_l1_max": 0.0, "o_cos_min": 1.0, "grad_cos_min": 1.0})
        c["cases"] += 1
        c["passed"] += bool(r["passed"])
        c["o_rel_l1_max"] = max(c["o_rel_l1_max"], r["o"]["rel_l1"])
        c["o_cos_min"] = min(c["o_cos_min"], r["o"]["cos"])
        c["grad_cos_min"] = min(c["grad_cos_min"], r["dq"]["cos"], r["dk"]["cos"], r["dv"]["cos"])
    spread = {}
    for path in a.captures:
        step = re.search(r"step(\d+)", path).group(1)
        for layer in (0, 3, 5):
            name = f"blocks.{layer}.k"
            shape, x = load_tensors(path, [name])[name]
            s = channel_spread(shape, x)
            spread[f"step{step}.block{layer}"] = {"raw_max": max(v[0] for v in s), "smoothed_max": max(v[1] for v in s),
                                                  "smoothed_min": min(v[1] for v in s), "heads": len(s),
                                                  "split_heads": sum(v[2] > 0 for v in s), "split_channels": sum(v[2] for v in s)}
    json.dump({"bench": "attn-sage-model", "device": "cpu", "command": "bash bench/attn_sage_model.sh",
               "acceptance": {"o_rel_l1": 0.02, "o_cos": 0.999, "grad_cos": 0.99}, "split_ratio": SPLIT_RATIO,
               "configs": configs, "k_channel_spread": spread, "cases": rows}, open(a.output, "w"), indent=1)
    for k, c in configs.items():
        print(f"{k:12s} {c['passed']}/{c['cases']} pass, O rel L1 <= {c['o_rel_l1_max']:.4f}, cos >= {c['o_cos_min']:.6f}, "
              f"grad cos >= {c['grad_cos_min']:.5f}")
    for k, s in spread.items():
        print(f"{k:16s} K channel spread raw {s['raw_max']:.1f}, smoothed {s['smoothed_min']:.1f}..{s['smoothed_max']:.1f}; "
              f"split: {s['split_heads']}/{s['heads']} heads, {s['split_channels']} channels")


if __name__ == "__main__":
    main()
