#!/bin/bash
# dev/sage: one device call for forward variants of the sage version 3 kernel (VDIT_SAGE_FWD=<name>,
# attn_sage_cuda.h; bf16 per-block). Runs 6 (the MUFU offload and descriptor variants, as
# run_v4_device.sh, commit e937507) and 12 (the row sums by the tensor cores and the lazy fold,
# as run_v5_device.sh, commit 0ad358a; its variants were deleted after the run), 19 (da1ae9e),
# 21b (8f2ce32, with PAR_TESTS and FINAL_TESTS), 22 (df3403e, P V by head-dim halves) and 25 (round 16,
# lab commit 22eabd4, with ENGINES; 26 the final tip against main) used it;
# rerun a round's variants from its commit, where they exist. Steps:
# 1. validation: test_attn_sage_gpu for each of TEST_VARIANTS (default: the default forward) and
#    test_attn_sparge_sage_gpu when carried, against the CPU emulation;
# 2. each of VARIANTS against fp64 (`vdit attn check --device cuda`, plain inputs, S = 4096, fp8 P V);
# 3. forward timings at the shape of device_env.sh (CUDA events, median of REPEAT after 2
#    warm-ups): our dense forward first as the baseline, the variants and the default interleaved
#    ROUNDS times (with ENGINES="name=path ...": other vdit binaries' default forward, e.g. main's,
#    in every round as label name), dense again at the end;
# 4. bench/attn_sage.sh (dense and sage forward + backward, FA2 and cuDNN) for the JSON record,
#    with the fastest of the default and the PICK candidates (by median), saying which it used.
# Binaries from BIN (prebuilt with the same nvcc 13.0, stripped, gzipped) or built.
# Usage: OUT=$OUT VARIANTS="a b" bash dev/sage/run_fwd_variants_device.sh 2>&1 | tee $OUT/log
set -u
VARIANTS="${VARIANTS:-}"
. "$(dirname "$0")/device_env.sh"
if [ ! -x "$BIN/vdit" ]; then
  BIN=build-gpu
  cmake -S . -B "$BIN" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$OUT/build.log" 2>&1
  cmake --build "$BIN" -j16 --target vdit_cli test_attn_sage_gpu test_attn_sparge_sage_gpu >> "$OUT/build.log" 2>&1 ||
    { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
  cp "$BIN/tests/test_attn_sage_gpu" "$BIN/tests/test_attn_sparge_sage_gpu" "$BIN/" 2>/dev/null
fi
echo "build/setup done at $(( $(date +%s) - start )) s"
# TEST_VARIANTS: forward variants to validate as well (the test's first pass, bf16 per-block cases;
# at lab commit 8f2ce32 a variant l<n> ran the forward cases alone); PAR_TESTS=1 runs them at once
# (round 14, run 21b: the default's full test and six variants' in 28 s), the logs in turn
vrc=0
vdir=$(mktemp -d)
for tv in ${TEST_VARIANTS:-default}; do
  if [ "$tv" = default ]; then cmd=(timeout 150 "$BIN/test_attn_sage_gpu")
  else cmd=(env VDIT_SAGE_FWD=$tv timeout 150 "$BIN/test_attn_sage_gpu"); fi
  if [ "${PAR_TESTS:-0}" = 1 ]; then { "${cmd[@]}" > "$vdir/$tv.log" 2>&1; echo $? > "$vdir/$tv.rc"; } &
  else "${cmd[@]}" > "$vdir/$tv.log" 2>&1; echo $? > "$vdir/$tv.rc"; fi
done
wait
for tv in ${TEST_VARIANTS:-default}; do
  cat "$vdir/$tv.log" >> "$OUT/validate.log"
  rc=$(cat "$vdir/$tv.rc")
  [ "$rc" -ne 0 ] && vrc=$rc
  echo "test_attn_sage_gpu ($tv) exit $rc at $(( $(date +%s) - start )) s"
done
grep -E "FAIL|fail|error" "$OUT/validate.log" | head -20
tail -3 "$OUT/validate.log"
if [ -x "$BIN/test_attn_sparge_sage_gpu" ]; then
  timeout 100 "$BIN/test_attn_sparge_sage_gpu" >> "$OUT/validate.log" 2>&1
  echo "test_attn_sparge_sage_gpu exit $? at $(( $(date +%s) - start )) s"
  tail -1 "$OUT/validate.log"
fi
if [ $vrc -ne 0 ] && [ "${FORCE_BENCH:-0}" != 1 ]; then echo "validation failed: no timing"; exit 1; fi
# every variant against fp64 (plain inputs; the check harness's acceptance bounds)
: > "$OUT/check.log"
for v in ${CHECK_VARIANTS-$VARIANTS}; do
  echo "check $v: $(VDIT_SAGE_FWD=$v timeout 60 "$BIN/vdit" attn check --method sage --device cuda --forward-only --seq 4096 \
    --heads 2 --dim 128 --dtype bf16 --inputs plain --json 2>&1 | tail -1)" >> "$OUT/check.log"
done
echo "checks done at $(( $(date +%s) - start )) s"
python3 - "$OUT/check.log" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    m = re.match(r"check (\S+): (.*)", line)
    try:
        o = json.loads(m.group(2))["o"]
        print(f"check {m.group(1):5s} O rel L1 {o['rel_l1']:.5f} cos {o['cos']:.6f}")
    except Exception:
        print(line.strip()[:200])
PY
: > "$OUT/bench.jsonl"
bench() { # label, env..., args...
  local label=$1; shift
  env "$@" 2>> "$OUT/full.log" | sed "s/^{/{\"label\": \"$label\", /" >> "$OUT/bench.jsonl"
}
fwd=(bench attn --device cuda $SHAPE --forward-only --repeat "$REPEAT" --warmup 2 --json)
bench dense timeout 60 "$BIN/vdit" "${fwd[@]}" --method dense
for round in $(seq "$ROUNDS"); do
  for v in $VARIANTS; do
    bench "$v" VDIT_SAGE_FWD=$v timeout 60 "$BIN/vdit" "${fwd[@]}" --method sage
  done
  bench default timeout 60 "$BIN/vdit" "${fwd[@]}" --method sage
  for e in ${ENGINES:-}; do
    bench "${e%%=*}" timeout 60 "${e#*=}" "${fwd[@]}" --method sage
  done
done
bench default-thread timeout 60 "$BIN/vdit" "${fwd[@]}" --method sage --sage-gran thread
bench dense-again timeout 60 "$BIN/vdit" "${fwd[@]}" --method dense
echo "forward timings done at $(( $(date +%s) - start )) s"
python3 - "$OUT/bench.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def ms(r):
    return (r.get("fwd") or {}).get("ms")
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(ms(r))
base = by.get("dense", [None])[0]
for label, v in by.items():
    med = statistics.median([m for m in v if m]) if any(v) else None
    print(f'{label:14s} {" ".join(f"{m:.3f}" for m in v if m)}' + (f'  median x dense {base / med:.3f}' if base and med else ''))
PY
# FINAL_TESTS="variant=binary ...": the engine built with that variant as its default (its CPU
# emulation following); the binary of a variant that beat the default in every round by > 1% (the
# project's bar) runs test_attn_sage_gpu in full
if [ -n "${FINAL_TESTS:-}" ]; then
  win=$(python3 - "$OUT/bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    m = (r.get("fwd") or {}).get("ms")
    if m: by.setdefault(r["label"], []).append(m)
d = by.get("default", [])
best = None
for v, ms in by.items():
    if v.startswith("dense") or v.startswith("default") or len(ms) != len(d) or not d: continue
    if all(a < 0.99 * b for a, b in zip(ms, d)) and (best is None or sorted(ms)[len(ms) // 2] < sorted(by[best])[len(ms) // 2]):
        best = v
print(best or "none")
PY
)
  echo "winner (every round > 1% under the default): $win"
  for ft in $FINAL_TESTS; do
    if [ "${ft%%=*}" = "$win" ]; then
      gunzip -f "${ft#*=}.gz" 2>/dev/null; chmod +x "${ft#*=}"
      timeout 150 "${ft#*=}" > "$OUT/final-test.log" 2>&1
      echo "final test_attn_sage_gpu ($win as the default) exit $? at $(( $(date +%s) - start )) s"
      grep -E "FAIL|fail" "$OUT/final-test.log" | head -5; tail -3 "$OUT/final-test.log"
    fi
  done
fi
pick=$(python3 - "$OUT/bench.jsonl" ${PICK:-} <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    m = (r.get("fwd") or {}).get("ms")
    if m: by.setdefault(r["label"], []).append(m)
cands = ["default"] + sys.argv[2:]
med = {c: statistics.median(by[c]) for c in cands if c in by}
print(min(med, key=med.get) if med else "default")
PY
)
echo "attn_sage.sh with VDIT_SAGE_FWD=$pick"
[ "$pick" = default ] || export VDIT_SAGE_FWD=$pick
if [ $(( $(date +%s) - start )) -lt "${FULL_BEFORE:-220}" ]; then
  full=$(mktemp -d) # its many files stay here: a device call returns at most 8
  REPEAT=10 WARMUP=2 OUT="$full" VDIT="$BIN/vdit" timeout 150 bash bench/attn_sage.sh >> "$OUT/full.log" 2>&1
  echo "attn_sage.sh exit $? at $(( $(date +%s) - start )) s"
  cat "$full/bench.log" >> "$OUT/full.log" 2>/dev/null
  cp "$full/attn-sage.json" "$full/summary.txt" "$OUT/" 2>/dev/null
  cat "$full/summary.txt" 2>/dev/null
fi
echo "end at $(( $(date +%s) - start )) s"
