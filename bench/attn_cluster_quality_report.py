#!/usr/bin/env python3
"""Summarises bench/attn_cluster_quality.sh: per input set and budget, the relative L1 of O
against dense for ear, svg and sparge (and the budget each used), plus the model blocks'
mean; prints a table and writes JSON. Usage: attn_cluster_quality_report.py lines.jsonl out.json"""
import datetime
import json
import sys


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
    table = {}
    for r in rows:
        key = (r["set"], float(r["budget"]))
        table.setdefault(key, {})[r["method"]] = {"rel_l1": r["o_vs_dense"]["rel_l1"], "budget_used": 1.0 - r["sparsity"]}
    sets = sorted({k[0] for k in table}, key=lambda s: (s.startswith("model"), s))
    budgets = sorted({k[1] for k in table})
    model_sets = [s for s in sets if s.startswith("model")]
    if model_sets:
        for b in budgets:
            mean = {}
            for m in ("ear", "svg", "sparge"):
                vals = [table[(s, b)][m]["rel_l1"] for s in model_sets if m in table.get((s, b), {})]
                if vals:
                    mean[m] = {"rel_l1": sum(vals) / len(vals), "budget_used": table[(model_sets[0], b)][m]["budget_used"]}
            table[("model-mean", b)] = mean
        sets.append("model-mean")
    out = {"name": "attn-cluster-quality", "device": "cpu (fp32 specification)",
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "bash bench/attn_cluster_quality.sh", "sets": {}}
    print(f"{'set':>14} {'budget':>6}  {'ear':>8} {'svg':>8} {'sparge':>8}   ear<svg")
    for s in sets:
        out["sets"][s] = []
        for b in budgets:
            t = table.get((s, b), {})
            row = {"budget": b, **{m: t[m] for m in t}}
            out["sets"][s].append(row)
            e, v, p = (t.get(m, {}).get("rel_l1", float("nan")) for m in ("ear", "svg", "sparge"))
            print(f"{s:>14} {b:6.3f}  {e:8.4f} {v:8.4f} {p:8.4f}   {'yes' if e < v else 'NO'}")
    json.dump(out, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
