#!/bin/bash
# dev/sage runs 9-10 (H200): one device call for the SageBwd backward's product orders
# (VDIT_SAGE_BWD_SCHED=old|order|lag|split, attn_sage_backward.cu / attn_sage_cuda.c):
# 1. validation: test_attn_sage_gpu (every order against the CPU emulation, the fp64 acceptance);
# 2. each order against fp64 (`vdit attn check --device cuda`, S = 2048, H = 2, plain and outlier);
# 3. backward timings at B=1 H=12 S=32760 D=128 (bf16, (B, H, S, D), CUDA events, median of
#    REPEAT after 2 warm-ups): our dense first (the baseline), the orders interleaved ROUNDS
#    times, dense again last;
# 4. ncu (--clock-control none), one launch each of the dense backward kernel and the sage
#    backward kernel for NCU_SCHEDS: pipe utilizations, issue, warp stall reasons; for NCU_SOURCE
#    the per-instruction stall samples (SourceCounters), the top 70 SASS lines.
# Binaries from BIN (built on the build machine with the same nvcc 13.0, stripped, gzipped).
# Usage: OUT=$OUT bash dev/sage/run_bwd8_device.sh 2>&1 | tee $OUT/log
# The VDIT_SAGE_BWD_SCHED switch (and the variants old, order, lag, split, early, half, regs, v4)
# exist only in commit 78c0e37 (runs 9-11); after them the engine keeps one kernel (= half), so
# run this script against that commit to repeat the A/B.
set -u
ROUNDS_DEFAULT=2
SCHEDS="${SCHEDS:-old order lag split}"
NCU_SCHEDS="${NCU_SCHEDS:-old split}"
. "$(dirname "$0")/device_env.sh"
timeout 200 "$BIN/test_attn_sage_gpu" > "$OUT/validate.log" 2>&1
vrc=$?
echo "test_attn_sage_gpu exit $vrc at $(( $(date +%s) - start )) s"
grep -E "FAIL|fail" "$OUT/validate.log" | head -10
grep -E "^acceptance" "$OUT/validate.log"
python3 - "$OUT/validate.log" <<'PY'
import re, sys
worst = {}
for l in open(sys.argv[1]):
    m = re.search(r"backward cuda vs cpu:.*sched=(\S+): rel L1 dq (\S+) dk (\S+) dv (\S+),", l)
    if m:
        w = worst.setdefault(m.group(1), [0, 0, 0])
        for i in range(3): w[i] = max(w[i], float(m.group(i + 2).rstrip(',')))
for k, v in worst.items(): print(f"bwd vs cpu, sched={k}: worst rel L1 dq {v[0]:.3g} dk {v[1]:.3g} dv {v[2]:.3g}")
PY
: > "$OUT/check.jsonl"
for s in ${CHECK_SCHEDS-$SCHEDS}; do
  for inputs in plain outlier; do
    r=$(VDIT_SAGE_BWD_SCHED=$s timeout 60 "$BIN/vdit" attn check --method sage --device cuda --seq 2048 --heads 2 --dim 128 \
      --dtype bf16 --inputs $inputs --json 2>> "$OUT/check.err" | tail -1)
    echo "{\"sched\": \"$s\", \"inputs\": \"$inputs\", \"check\": $r}" >> "$OUT/check.jsonl"
  done
done
echo "checks done at $(( $(date +%s) - start )) s"
python3 - "$OUT/check.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: print("unparsed:", l[:200]); continue
    c = r["check"]; e = c.get("errors", c)
    cells = [f"{k} {e[k].get('rel_l1', float('nan')):.4f}/{e[k].get('cos', float('nan')):.5f}" for k in ("dq", "dk", "dv") if isinstance(e.get(k), dict)]
    print("check", r["sched"], r["inputs"], " ".join(cells), "passed" if c.get("passed") else "not passed (forward bounds included)")
PY
if [ $vrc -ne 0 ] && [ "${FORCE_BENCH:-0}" != 1 ]; then echo "validation failed: no timing"; fi
: > "$OUT/bench.jsonl"
bench() { # tag, method, env...
  local tag=$1 method=$2; shift 2
  echo "{\"tag\": \"$tag\"}" >> "$OUT/bench.jsonl"
  env "$@" timeout 90 "$BIN/vdit" bench attn --method "$method" --device cuda $SHAPE --repeat "$REPEAT" --warmup 2 --json \
    >> "$OUT/bench.jsonl" 2>> "$OUT/bench.err"
}
if [ $vrc -eq 0 ] || [ "${FORCE_BENCH:-0}" = 1 ]; then
  bench dense dense VDIT_X=0
  for r in $(seq "$ROUNDS"); do for s in $SCHEDS; do bench "$s" sage VDIT_SAGE_BWD_SCHED=$s; done; done
  bench dense dense VDIT_X=0
  echo "bench done at $(( $(date +%s) - start )) s"
fi
python3 - "$OUT/bench.jsonl" <<'PY'
import json, sys
tag = None; rows = []
for l in open(sys.argv[1]):
    if not l.strip().startswith("{"): continue
    r = json.loads(l)
    if "tag" in r and "method" not in r: tag = r["tag"]; continue
    rows.append((tag, r["fwd"]["ms"], (r.get("bwd") or {}).get("ms")))
dense = [b for t, f, b in rows if t == "dense" and b]
d0 = dense[0] if dense else float("nan")
for t, f, b in rows: print(f"{t:>6} fwd {f:8.3f} bwd {b:8.3f} ms  bwd x dense(first) {d0 / b:.3f}")
PY
metrics='regex:^(sm__inst_executed_pipe_[a-z0-9_]+|sm__pipe_[a-z0-9_]+_cycles_active)\.avg\.pct_of_peak_sustained_active$|^smsp__average_warps_issue_stalled_[a-z_]+_per_issue_active\.ratio$|^smsp__issue_active\.avg\.pct_of_peak_sustained_active$|^sm__cycles_elapsed\.avg$|^smsp__inst_executed\.sum$'
ncu1() { # name, kernel regex, method, env...
  local name=$1 kern=$2 method=$3; shift 3
  env "$@" timeout 120 ncu --clock-control none --kernel-name "regex:$kern" --launch-count 1 --metrics "$metrics" \
    "$BIN/vdit" bench attn --method "$method" --device cuda $SHAPE --repeat 1 --warmup 0 > "$OUT/ncu-$name.txt" 2>&1
  echo "== ncu $name: exit $? at $(( $(date +%s) - start )) s"
}
ncu1 dense attn_backward_wgmma_kernel dense VDIT_X=0
for s in $NCU_SCHEDS; do ncu1 "$s" sage_backward_kernel sage VDIT_SAGE_BWD_SCHED=$s; done
# per-instruction warp-stall samples (SourceCounters) for NCU_SOURCE: the report, its source page
# as CSV (SASS) and the top instructions by samples
for s in ${NCU_SOURCE:-}; do
  [ $(( $(date +%s) - start )) -gt "${SOURCE_BY:-999}" ] && { echo "no time left for ncu source $s"; continue; }
  VDIT_SAGE_BWD_SCHED=$s timeout 120 ncu --clock-control none --kernel-name regex:sage_backward_kernel --launch-count 1 \
    --section WarpStateStats --section SourceCounters -o "$OUT/src-$s" -f \
    "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --repeat 1 --warmup 0 > "$OUT/src-$s.log" 2>&1
  echo "== ncu source $s: exit $? at $(( $(date +%s) - start )) s"
  ncu -i "$OUT/src-$s.ncu-rep" --page source --csv --print-source sass > "$OUT/src-$s.csv" 2> "$OUT/src-$s.err" ||
    ncu -i "$OUT/src-$s.ncu-rep" --page source --csv > "$OUT/src-$s.csv" 2>> "$OUT/src-$s.err"
  head -c 600 "$OUT/src-$s.err"; wc -l "$OUT/src-$s.csv"
  python3 - "$OUT/src-$s.csv" <<'PY' | tee "$OUT/src-$s-top.txt"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
hi = next((i for i, r in enumerate(rows) if any("Source" == c or "Address" in c for c in r)), None)
if hi is None: print("no header", rows[:3]); sys.exit()
h = rows[hi]; data = [r for r in rows[hi + 1:] if len(r) == len(h)]
print("columns:", h)
def num(x):
    try: return float(x.replace(",", ""))
    except Exception: return 0.0
sc = next((i for i, c in enumerate(h) if "Sampling (All" in c), None) or next((i for i, c in enumerate(h) if "Sampl" in c), None)
src = next((i for i, c in enumerate(h) if c == "Source"), 1)
if sc is None: print("no samples column"); sys.exit()
tot = sum(num(r[sc]) for r in data)
print(f"total samples {tot:.0f} in {len(data)} rows ({h[sc]})")
stall_cols = [i for i, c in enumerate(h) if c.startswith("stall_") or "Stall" in c and i != sc]
for r in sorted(data, key=lambda r: -num(r[sc]))[:70]:
    extra = sorted(((num(r[i]), h[i]) for i in stall_cols if num(r[i]) > 0), reverse=True)[:3]
    print(f"{num(r[sc]) / tot * 100:5.2f}% {r[0][:8]:>8} {r[src][:70]:<70} " + " ".join(f"{n[:22]}={v:.0f}" for v, n in extra))
PY
done
python3 - "$OUT" dense $NCU_SCHEDS <<'PY'
import re, sys, os
out, names = sys.argv[1], sys.argv[2:]
vals = {}
for n in names:
    p = os.path.join(out, f"ncu-{n}.txt")
    if not os.path.exists(p): continue
    for l in open(p):
        m = re.match(r"\s+(\S+)\s+(\S+)\s+([\d.,]+)\s*$", l)
        if m: vals.setdefault(m.group(1), {})[n] = m.group(3).replace(",", "")
keys = [k for k in vals if any(float(v) > 0.05 for v in vals[k].values())]
keys.sort(key=lambda k: (not k.startswith("sm__cycles"), not k.startswith("smsp__inst_executed.sum"), k))
print(f"{'metric':<72}" + "".join(f"{n:>10}" for n in names))
for k in keys:
    short = k.replace("_per_issue_active.ratio", "").replace(".avg.pct_of_peak_sustained_active", " %")
    print(f"{short[:72]:<72}" + "".join(f"{vals[k].get(n, '-'):>10}" for n in names))
PY
echo "end at $(( $(date +%s) - start )) s"
# at most 8 files come back: pack the rest
cd "$OUT" && gzip -f validate.log src-*.csv 2>/dev/null; tar czf raw.tgz ncu-*.txt src-*.log src-*.err check.err bench.err env.txt 2>/dev/null
rm -f ncu-*.txt src-*.log src-*.err check.err bench.err env.txt src-*.ncu-rep
ls
exit $vrc
