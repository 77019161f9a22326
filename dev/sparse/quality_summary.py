#!/usr/bin/env python3
"""Summarises dev/sparse/quality runs (their 'json {...}' lines): per rule and sparsity the
mean relative L1 over every (capture, batch, head), the heads where each rule is worst, and
how often the hybrid beats both Top-k and Top-p on a capture's head mean.
Usage: quality_summary.py OUT.json RUN.txt [RUN.txt ...]"""
import json
import sys

runs = []
for path in sys.argv[2:]:
    for line in open(path):
        if line.startswith("json "):
            runs.append(json.loads(line[5:]))
rules = ["oracle", "topk", "topp", "hybrid", "hyb25", "hyb75"]
targets = sorted({r["target"] for run in runs for r in run["rows"]})

def errors(run, target, rule):
    for r in run["rows"]:
        if r["target"] == target and r["rule"] == rule:
            return r["rel_l1"]
    raise KeyError((target, rule))

def mean(xs):
    return sum(xs) / len(xs)

summary = []
print("| sparsity | " + " | ".join(rules) + " | hybrid beats both (captures) |")
print("|---" * (len(rules) + 2) + "|")
for t in targets:
    row = {"target": t}
    for rule in rules:
        row[rule] = round(mean([mean(errors(run, t, rule)) for run in runs]), 4)
    wins = 0
    for run in runs:
        h, k, p = (mean(errors(run, t, r)) for r in ("hybrid", "topk", "topp"))
        wins += h < k and h < p
    row["hybrid_beats_both"] = wins
    row["captures"] = len(runs)
    summary.append(row)
    print(f"| {t} | " + " | ".join(f"{row[r]:.3f}" for r in rules) + f" | {wins} / {len(runs)} |")

# per head, grouped by how peaked the head is (blocks holding 90% of the true mass)
# (as fractions of the key blocks per row: 8 and 12 of 16)
groups = {"peaked (90% in <= 1/2 of the blocks)": lambda b: b <= 0.5, "middle (1/2 - 3/4)": lambda b: 0.5 < b <= 0.75,
          "flat (> 3/4)": lambda b: b > 0.75}
by_group = []
for name, test in groups.items():
    for t in targets:
        vals = {r: [] for r in rules}
        for run in runs:
            blocks = -(-run["seq"] // run["block"])
            for i, b in enumerate(run["blocks_for_90pct"]):
                if test(b / blocks):
                    for r in rules:
                        vals[r].append(errors(run, t, r)[i])
        if vals["topk"]:
            by_group.append({"group": name, "target": t, "heads": len(vals["topk"]),
                             **{r: round(mean(vals[r]), 4) for r in rules}})
print()
print("| heads | sparsity | n | " + " | ".join(rules) + " |")
print("|---" * (len(rules) + 3) + "|")
for g in by_group:
    print(f"| {g['group']} | {g['target']} | {g['heads']} | " + " | ".join(f"{g[r]:.3f}" for r in rules) + " |")
json.dump({"runs": runs, "summary": summary, "by_peakedness": by_group}, open(sys.argv[1], "w"), indent=1)
