#!/bin/bash
# dev/sage runs 12-13, 15, 19-20 (H200): one device call for the SageBwd kernels (VDIT_SAGE_BWD=atomic,
# or unset / any other name for the default; attn_sage_backward.cu / attn_sage_cuda.c). Round 4 (runs
# 19-20, binaries of lab commit 01726bf, whose VDIT_SAGE_BWD=solo was reverted after it): SCHEDS="pair
# solo" MEMCHECK="pair solo" CHECK_SCHEDS=pair ROUNDS=3 (run 19), SCHEDS="pair solo base" with
# BASE_BIN holding the vdit of main's kernel (the timed variant `base` runs it; not validated here;
# run 20). Round 5 (run 21a, branch sagebwd13, binaries of lab commit 6f5bc86): SCHEDS="pair solo base"
# MEMCHECK=pair RACECHECK=pair CHECK_SCHEDS=pair, pair = the fence-free pairs (st.async into per-warp
# mbarriers); its timing: VALIDATE=0 SCHEDS="pair solo base" RACECHECK="pair solo" NCU=0. Runs 12-13 also timed
# old and warp-bulk, deleted after run 13 (they run at commit d08c8c7; run 12 had async = the
# later warp-bulk and async-atomic = atomic):
# Round 6 (run 22, branch sagebwd14): candidates as separate engines, one folder a schedule
# (BIN/<sched>/vdit and test_attn_sage_gpu, a compile-time lab switch each): SCHEDS="l7 l13 l15 base"
# MEMCHECK=l15 RACECHECK=l15 CHECK_SCHEDS="l7 l13 l15" BASE_BIN=BIN (main's vdit at the top); every
# folder's test runs at once (one process each). Run 22b: SCHEDS="l45 l61 final l13 base" MEMCHECK=final
# RACECHECK="" CHECK_SCHEDS="l45 l61 final" (final = the branch's kernel, l13 carried without its test).
# Round 7 (run 23, branch sagebwd15): SCHEDS="new s2f final" MEMCHECK="" CHECK_SCHEDS="new s2f" ROUNDS=3
# NCU=0 NCU_SOURCE=1 (final = main's kernel; MEMCHECK="" falls back to the default list, so name one).
# Round 8 (run 24, branch sagebwd16): SCHEDS="new s2f" CHECK_SCHEDS="new s2f" MEMCHECK=new RACECHECK="" ROUNDS=3
# NCU=0 NCU_SOURCE=0 (new = SAGE_BWD_LAB=1 of lab commit 85f1344, s2f = main's kernel).
# 1. validation: test_attn_sage_gpu (every kernel against the CPU emulation, the fp64 acceptance
#    on the default);
# 2. compute-sanitizer memcheck of the async kernels MEMCHECK (small causal / block-causal /
#    Sq != Sk cases), racecheck of RACECHECK (one small unmasked case);
# 3. each kernel against fp64 (`vdit attn check --device cuda`, S = 2048, H = 2, plain and outlier);
# 4. backward timings at B=1 H=12 S=32760 D=128 (bf16, (B, H, S, D), CUDA events, median of
#    REPEAT after 2 warm-ups): our dense first (the baseline), the kernels interleaved ROUNDS
#    times, dense again last;
# 5. ncu (--clock-control none), one launch of the fastest async kernel: pipes, issue, stall
#    reasons, and (NCU_SOURCE=1) the per-instruction stall samples, top 60 SASS lines.
# Binaries from BIN (built on the build machine with the same nvcc 13.0, -DVDIT_NATIVE=OFF,
# stripped, gzipped). Usage: OUT=$OUT bash dev/sage/run_bwd9_device.sh 2>&1 | tee $OUT/log
set -u
SCHEDS="${SCHEDS:-atomic tensor}"
MEMCHECK="${MEMCHECK:-atomic tensor}"
. "$(dirname "$0")/device_env.sh"
BASE_BIN="${BASE_BIN:-$BIN}"
for f in "$BASE_BIN"/*.gz "$BIN"/*/*.gz; do [ -e "$f" ] && gunzip -f "$f" && chmod +x "${f%.gz}"; done
for f in "$BIN"/*/*.xz; do
  [ -e "$f" ] && { xz -d -f "$f" 2>/dev/null ||
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[1][:-3], "wb"))' "$f"; } &&
    chmod +x "${f%.xz}"
done
# the binaries of schedule $1: BIN/$1 where that folder exists, BASE_BIN for base, else BIN
bin_of() { if [ -x "$BIN/$1/vdit" ]; then echo "$BIN/$1"; elif [ "$1" = base ]; then echo "$BASE_BIN"; else echo "$BIN"; fi; }
# VALIDATE=0: steps 1-3 skipped (the same binaries validated in an earlier call: run 21b after 21a)
vrc=0; mrc=0
if [ "${VALIDATE:-1}" = 1 ] && [ -x "$BIN/test_attn_sage_gpu" ]; then timeout 200 "$BIN/test_attn_sage_gpu" > "$OUT/validate.log" 2>&1; vrc=$?; else : > "$OUT/validate.log"; fi
echo "test_attn_sage_gpu exit $vrc at $(( $(date +%s) - start )) s"
if [ "${VALIDATE:-1}" = 1 ]; then # per-schedule engines: their tests at once, logs appended in order
  pids=""; for s in $SCHEDS; do [ -x "$BIN/$s/test_attn_sage_gpu" ] || continue
    VDIT_SAGE_BWD=$s timeout 200 "$BIN/$s/test_attn_sage_gpu" > "$OUT/validate-$s.log" 2>&1 & pids="$pids $!:$s"; done
  for ps in $pids; do wait ${ps%%:*}; r=$?; echo "test_attn_sage_gpu ($BIN/${ps#*:}) exit $r at $(( $(date +%s) - start )) s"
    [ $r -ne 0 ] && vrc=$r; sed "s/^/[${ps#*:}] /" "$OUT/validate-${ps#*:}.log" >> "$OUT/validate.log"; rm -f "$OUT/validate-${ps#*:}.log"; done
fi
grep -E "FAIL|fail" "$OUT/validate.log" | head -10
grep -E "^(\[[a-z0-9]*\] )?acceptance" "$OUT/validate.log"
python3 - "$OUT/validate.log" <<'PY'
import re, sys
worst = {}
for l in open(sys.argv[1]):
    m = re.search(r"backward cuda vs cpu:.*kernel=(\S+): rel L1 dq (\S+) dk (\S+) dv (\S+),", l)
    if m:
        w = worst.setdefault((l[1:l.index("]")] + " " if l.startswith("[") else "") + m.group(1), [0, 0, 0, 0])
        for i in range(3): w[i] = max(w[i], float(m.group(i + 2).rstrip(',')))
        w[3] += 1
for k, v in worst.items(): print(f"bwd vs cpu, kernel={k}: {v[3]} cases, worst rel L1 dq {v[0]:.3g} dk {v[1]:.3g} dv {v[2]:.3g}")
PY
# memcheck of the async kernel
: > "$OUT/memcheck.log"
for s in $([ "${VALIDATE:-1}" = 1 ] && echo $MEMCHECK); do for args in "--batch 2 --seq 300 --seq-k 257 --mask causal" "--batch 1 --seq 127 --seq-k 1000 --mask block:96" "--batch 1 --seq 1000 --mask none"; do
  VDIT_SAGE_BWD=$s timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 "$(bin_of $s)/vdit" attn check --method sage \
    --device cuda --heads 2 --dim 128 --dtype bf16 $args --json >> "$OUT/memcheck.log" 2>&1
  r=$?; echo "memcheck $s ($args): exit $r (1 = check bounds missed, 9 = memcheck errors) at $(( $(date +%s) - start )) s"; [ $r -eq 9 ] && mrc=9
done; done
grep -E "ERROR SUMMARY|Invalid|out of bounds" "$OUT/memcheck.log" | sort | uniq -c | head
# racecheck (shared-memory hazards) of the kernels RACECHECK on small unmasked (pairs) and causal
# (cluster launch, no CTA paired) cases; reported, not gating (run 21a: the pair kernel's hazard
# between the tile-maxima write and read, which main's barriers separate, see docs/attention.md)
: > "$OUT/racecheck.log"
for s in ${RACECHECK:-}; do for m in none causal; do
  VDIT_SAGE_BWD=$s timeout 30 compute-sanitizer --tool racecheck --error-exitcode 9 "$(bin_of $s)/vdit" attn check --method sage \
    --device cuda --heads 1 --dim 128 --dtype bf16 --batch 1 --seq 300 --seq-k 257 --mask $m --json > "$OUT/rc.tmp" 2>&1
  r=$?; echo "racecheck $s $m: exit $r (1 = check bounds missed, 9 = hazards, 124 = timeout) at $(( $(date +%s) - start )) s"
  grep -E "RACECHECK SUMMARY|Race reported|access at" "$OUT/rc.tmp" | sed "s/^/$s $m: /" | cut -c1-260 | tee -a "$OUT/racecheck.log"
done; done
: > "$OUT/check.jsonl"
for s in $([ "${VALIDATE:-1}" = 1 ] && echo ${CHECK_SCHEDS:-$SCHEDS}); do
  for inputs in plain outlier; do
    r=$(VDIT_SAGE_BWD=$s timeout 60 "$(bin_of $s)/vdit" attn check --method sage --device cuda --seq 2048 --heads 2 --dim 128 \
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
: > "$OUT/bench.jsonl"
bench() { # tag, method, env...
  local tag=$1 method=$2; shift 2
  echo "{\"tag\": \"$tag\"}" >> "$OUT/bench.jsonl"
  local bin; bin=$(bin_of "$tag")
  env "$@" timeout 90 "$bin/vdit" bench attn --method "$method" --device cuda $SHAPE --repeat "$REPEAT" --warmup 2 --json \
    >> "$OUT/bench.jsonl" 2>> "$OUT/bench.err"
}
if [ $vrc -eq 0 ] && [ $mrc -eq 0 ]; then
  bench dense dense VDIT_X=0
  for r in $(seq "$ROUNDS"); do for s in $SCHEDS; do bench "$s" sage VDIT_SAGE_BWD=$s; done; done
  bench dense dense VDIT_X=0
  echo "bench done at $(( $(date +%s) - start )) s"
else
  echo "validation or memcheck failed: no timing"
fi
python3 - "$OUT/bench.jsonl" "$OUT/fastest" <<'PY'
import json, sys, statistics
tag = None; rows = []
for l in open(sys.argv[1]):
    if not l.strip().startswith("{"): continue
    r = json.loads(l)
    if "tag" in r and "method" not in r: tag = r["tag"]; continue
    rows.append((tag, r["fwd"]["ms"], (r.get("bwd") or {}).get("ms")))
dense = [b for t, f, b in rows if t == "dense" and b]
d0 = dense[0] if dense else float("nan")
for t, f, b in rows: print(f"{t:>6} fwd {f:8.3f} bwd {b:8.3f} ms  bwd x dense(first) {d0 / b:.3f}")
med = {}
for t, f, b in rows:
    if b: med.setdefault(t, []).append(b)
for t, v in med.items(): print(f"median {t}: {statistics.median(v):.3f} ms over {len(v)}")
cands = {t: statistics.median(v) for t, v in med.items() if t not in ("dense", "old", "base")}
open(sys.argv[2], "w").write(min(cands, key=cands.get) if cands else "atomic")
PY
metrics='regex:^(sm__inst_executed_pipe_[a-z0-9_]+|sm__pipe_[a-z0-9_]+_cycles_active)\.avg\.pct_of_peak_sustained_active$|^smsp__average_warps_issue_stalled_[a-z_]+_per_issue_active\.ratio$|^smsp__issue_active\.avg\.pct_of_peak_sustained_active$|^sm__cycles_elapsed\.avg$|^smsp__inst_executed\.sum$'
best=$(cat "$OUT/fastest" 2>/dev/null || echo atomic); echo "fastest async variant: $best"
if [ $vrc -eq 0 ] && [ $mrc -eq 0 ] && [ "${NCU:-1}" = 1 ]; then
  VDIT_SAGE_BWD=$best timeout 100 ncu --clock-control none --kernel-name "regex:sage_backward_kernel" --launch-count 1 --metrics "$metrics" \
    "$(bin_of $best)/vdit" bench attn --method sage --device cuda $SHAPE --repeat 1 --warmup 0 > "$OUT/ncu-async.txt" 2>&1
  echo "== ncu $best: exit $? at $(( $(date +%s) - start )) s"
  grep -E "cycles_elapsed|inst_executed.sum|pipe_(tensor|fma|alu|xu|lsu)_cycles|pipe_(fma|alu|xu|lsu|uniform)\.|issue_active|stalled_(barrier|long|short|wait|math|not_sel|dispatch|lg_thr|mio|membar|sleep|gmma|selected)" "$OUT/ncu-async.txt" | head -40
fi
if [ $vrc -eq 0 ] && [ $mrc -eq 0 ] && [ "${NCU_SOURCE:-1}" = 1 ]; then
  VDIT_SAGE_BWD=$best timeout 120 ncu --clock-control none --kernel-name regex:sage_backward_kernel --launch-count 1 \
    --section WarpStateStats --section SourceCounters -o "$OUT/src" -f \
    "$(bin_of $best)/vdit" bench attn --method sage --device cuda $SHAPE --repeat 1 --warmup 0 > "$OUT/src.log" 2>&1
  echo "== ncu source $best: exit $? at $(( $(date +%s) - start )) s"
  ncu -i "$OUT/src.ncu-rep" --page source --csv --print-source sass > "$OUT/src.csv" 2> "$OUT/src.err"
  python3 - "$OUT/src.csv" <<'PY' | tee "$OUT/src-top.txt" | head -70
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
hi = next((i for i, r in enumerate(rows) if any("Source" == c or "Address" in c for c in r)), None)
if hi is None: print("no header", rows[:3]); sys.exit()
h = rows[hi]; data = [r for r in rows[hi + 1:] if len(r) == len(h)]
def num(x):
    try: return float(x.replace(",", ""))
    except Exception: return 0.0
sc = next((i for i, c in enumerate(h) if "Sampling (All" in c), None) or next((i for i, c in enumerate(h) if "Sampl" in c), None)
src = next((i for i, c in enumerate(h) if c == "Source"), 1)
if sc is None: print("no samples column", h); sys.exit()
tot = sum(num(r[sc]) for r in data)
print(f"total samples {tot:.0f} in {len(data)} rows ({h[sc]})")
stall_cols = [i for i, c in enumerate(h) if c.startswith("stall_") or "Stall" in c and i != sc]
for r in sorted(data, key=lambda r: -num(r[sc]))[:120]:
    extra = sorted(((num(r[i]), h[i]) for i in stall_cols if num(r[i]) > 0), reverse=True)[:3]
    print(f"{num(r[sc]) / tot * 100:5.2f}% {r[0][:8]:>8} {r[src][:70]:<70} " + " ".join(f"{n[:22]}={v:.0f}" for v, n in extra))
PY
  gzip -f "$OUT/src.csv"
fi
echo "end at $(( $(date +%s) - start )) s"
cd "$OUT" && gzip -f validate.log 2>/dev/null; tar czf raw.tgz check.jsonl memcheck.log racecheck.log check.err bench.err src.log src.err fastest 2>/dev/null
rm -f rc.tmp check.jsonl memcheck.log racecheck.log check.err bench.err src.log src.err fastest src.ncu-rep
ls
[ $vrc -eq 0 ] && [ $mrc -eq 0 ]
