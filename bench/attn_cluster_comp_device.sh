#!/usr/bin/env bash
# One device call for issue 9's compensation round (the fused compensation kernel and probe pass 2's
# tensor-core epilogue): Release build of the CLI and the two cluster GPU tests, the tests first
# (with the new kernels; on a failure again with the lab switches back to the previous kernels, to
# name the culprit), then bench/attn_cluster.sh (our dense forward in the same call) and an A/B of
# ear at budget 0.1 with VDIT_CLUSTER_COMP=gemm (probe pass 2's scalar epilogue, the other half of
# that A/B, was removed after it; its numbers are in the record).
# At most 8 files under $OUT: log, ctest.log, cluster-ours.jsonl, ab.jsonl, attn-cluster.json,
# attn-cluster.svg, bench.log, stages.txt.
# Usage: OUT=dir bash bench/attn_cluster_comp_device.sh   (env: BUILD_DIR, BUDGETS, REPEAT, WARMUP;
#   TESTS: the GPU tests to build and run first; SWEEP=0: no budget sweep, only dense and ear at 0.1
#   with the default kernels and with each switch set of AB, ';'-separated)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
work="$(mktemp -d)"
build="${BUILD_DIR:-build-gpu}"
start=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$work/configure.log" 2>&1 || { tail -20 "$work/configure.log"; exit 1; }
tests="${TESTS:-test_attn_cluster_probe_gpu test_attn_cluster_gpu}"
cmake --build "$build" -j16 --target vdit_cli $tests > "$work/build.log" 2>&1 ||
  { grep -E "error" "$work/build.log" | head -30; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
ok=1
for t in $tests; do
  timeout 120 "$build/tests/$t" > "$work/$t.log" 2>&1
  rc=$?
  echo "$t: exit $rc"; tail -5 "$work/$t.log"
  cat "$work/$t.log" >> "$out/ctest.log"
  if [ $rc -ne 0 ]; then
    ok=0
    for sw in "VDIT_CLUSTER_COMP=gemm"; do
      env $sw timeout 120 "$build/tests/$t" > "$work/$t.sw.log" 2>&1
      echo "$t with $sw: exit $?"; tail -3 "$work/$t.sw.log"
      { echo "== $t with $sw"; cat "$work/$t.sw.log"; } >> "$out/ctest.log"
    done
  fi
done
echo "tests done (all new kernels pass: $ok): $(( $(date +%s) - start )) s"
[ "${SWEEP:-1}" = 1 ] && BUILD_DIR="$build" OUT="$work" BUDGETS="${BUDGETS:-0.1 0.3 0.5}" REPEAT="${REPEAT:-3}" WARMUP="${WARMUP:-1}" \
  timeout 240 bash bench/attn_cluster.sh 2>&1 | tail -30
cp "$work/cluster-ours.jsonl" "$work/attn-cluster.json" "$work/attn-cluster.svg" "$work/bench.log" "$out/" 2>/dev/null
echo "sweep done: $(( $(date +%s) - start )) s"
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat "${REPEAT:-3}" --warmup "${WARMUP:-1}" --json --forward-only --inputs video)
IFS=';' read -r -a ab <<< "${AB:-VDIT_CLUSTER_COMP=gemm}"
[ "${SWEEP:-1}" = 1 ] || ab=("VDIT_DEFAULT=1" "${ab[@]}")
[ "${SWEEP:-1}" = 1 ] || timeout 30 "$build/vdit" bench attn --method dense "${common[@]}" 2>> "$out/bench.log" |
  python3 -c 'import json,sys; [print(json.dumps(dict(json.loads(l), switches="dense, before the A/B"))) for l in sys.stdin if l.strip()]' >> "$out/ab.jsonl"
for sw in "${ab[@]}"; do
  env $sw timeout 60 "$build/vdit" bench attn --method ear --budget 0.1 --gpu-routing --warm --quality "${common[@]}" 2>> "$out/bench.log" |
    python3 -c 'import json,sys; [print(json.dumps(dict(json.loads(l), switches=sys.argv[1]))) for l in sys.stdin if l.strip()]' "$sw" >> "$out/ab.jsonl"
done
timeout 30 "$build/vdit" bench attn --method dense "${common[@]}" 2>> "$out/bench.log" |
  python3 -c 'import json,sys; [print(json.dumps(dict(json.loads(l), switches="dense, after the A/B"))) for l in sys.stdin if l.strip()]' >> "$out/ab.jsonl"
cat "$out/cluster-ours.jsonl" "$out/ab.jsonl" 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try: o = json.loads(line)
    except Exception: continue
    st = o.get("stages_ms", {})
    q = o.get("o_vs_dense", {})
    print(o.get("switches", ""), o["method"], o.get("budget"), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""),
          " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' 2>&1 | tee "$out/stages.txt"
echo "total: $(( $(date +%s) - start )) s"
