#!/usr/bin/env bash
# One device call for issue 9's round 13 (ear13): ear's selection on every SM, the k-means means
# with their loads in flight together, the compensation's VDIT_CLUSTER_COMP=vhi variant, and one
# warm k-means iteration against two.
#   1. Release build of the CLI and the three cluster GPU tests; the tests first: the probe test
#      (which also checks the fragments and ear's selection exactly; a failure names its lab switch
#      back, VDIT_CLUSTER_PREPARE=serial / VDIT_CLUSTER_SELECT=block), the k-means test, then
#      test_attn_cluster_gpu with VDIT_CLUSTER_COMP=vhi (the candidate default), on a failure again
#      without it, then with every previous kernel; the bench runs with what passed.
#   2. Our dense forward, then ear and svg at BUDGETS with 1 warm iteration, ear and svg at 0.1 with
#      2 (the current default), ear at 0.1 with the previous one-block select
#      (VDIT_CLUSTER_SELECT=block) and with the full compensation, sparge at BUDGETS, dense again.
#      Items are skipped once DEADLINE seconds have passed (priority order).
# At most 8 files under $OUT: log (the caller's tee), ctest.log, cluster-ours.jsonl (dense, ear /
# svg with 1 warm iteration, sparge), ab.jsonl (the other runs), attn-cluster.json,
# attn-cluster.svg, bench.log.
# Usage: OUT=dir bash bench/attn_cluster_round13_device.sh   (env: BUILD_DIR, BUDGETS, REPEAT,
#   WARMUP, DEADLINE)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
work="$(mktemp -d)"
build="${BUILD_DIR:-build-gpu}"
budgets="${BUDGETS:-0.1 0.3 0.5}"
deadline="${DEADLINE:-270}"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$work/configure.log" 2>&1 || { tail -20 "$work/configure.log"; exit 1; }
tests="test_attn_cluster_kmeans_gpu test_attn_cluster_probe_gpu test_attn_cluster_gpu"
cmake --build "$build" -j16 --target vdit_cli $tests > "$work/build.log" 2>&1 ||
  { grep -E "error" "$work/build.log" | head -30; exit 1; }
echo "build: $(elapsed) s"
run_test() { # name, env...
  local t="$1"; shift
  env "$@" timeout 120 "$build/tests/$t" > "$work/t.log" 2>&1
  local rc=$?
  echo "$t ($*): exit $rc, $(elapsed) s"; tail -4 "$work/t.log"
  { echo "== $t ($*): exit $rc"; cat "$work/t.log"; } >> "$out/ctest.log"
  return $rc
}
# the probe test (seconds) also checks the fragments and ear's selection exactly: a failure there
# names its switch back to the previous kernel
sw=()
if ! run_test test_attn_cluster_probe_gpu VDIT_NONE=1; then
  grep -q "fragments differ" "$work/t.log" && sw+=(VDIT_CLUSTER_PREPARE=serial)
  grep -q "selected otherwise" "$work/t.log" && sw+=(VDIT_CLUSTER_SELECT=block)
  [ ${#sw[@]} -gt 0 ] && run_test test_attn_cluster_probe_gpu "${sw[@]}"
fi
[ ${#sw[@]} -gt 0 ] || sw=(VDIT_NONE=1)
run_test test_attn_cluster_kmeans_gpu VDIT_NONE=1
if run_test test_attn_cluster_gpu "${sw[@]}" VDIT_CLUSTER_COMP=vhi; then sw+=(VDIT_CLUSTER_COMP=vhi)
elif ! run_test test_attn_cluster_gpu "${sw[@]}"; then
  sw=(VDIT_CLUSTER_PREPARE=serial VDIT_CLUSTER_SELECT=block)
  run_test test_attn_cluster_gpu "${sw[@]}"
fi
echo "bench switches: ${sw[*]} ($(elapsed) s)"
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat "${REPEAT:-3}" --warmup "${WARMUP:-1}" --json --forward-only --inputs video)
ours="$out/cluster-ours.jsonl"
ab="$out/ab.jsonl"
: > "$ours"; : > "$ab"
bench() { # file, label, env (one word, comma-separated), vdit bench args...
  local file="$1" label="$2" envs="$3"; shift 3
  if [ "$(elapsed)" -gt "$deadline" ]; then echo "skipped (deadline): $label $*"; return; fi
  env ${envs//,/ } timeout 60 "$build/vdit" bench attn "$@" "${common[@]}" 2>> "$out/bench.log" |
    python3 -c 'import json,sys; [print(json.dumps(dict(json.loads(l), label=sys.argv[1], switches=sys.argv[2]))) for l in sys.stdin if l.strip()]' "$label" "$envs" >> "$file"
  echo "$label $*: $(elapsed) s"
}
cur="$(IFS=,; echo "${sw[*]}")"
bench "$ours" dense "$cur" --method dense
for x in $budgets; do
  bench "$ours" warm1 "$cur" --method ear --budget "$x" --gpu-routing --warm --warm-iterations 1 --quality
  bench "$ours" warm1 "$cur" --method svg --budget "$x" --gpu-routing --warm --warm-iterations 1 --quality
done
bench "$ab" warm2 "$cur" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations 2 --quality
bench "$ab" warm2 "$cur" --method svg --budget 0.1 --gpu-routing --warm --warm-iterations 2 --quality
bench "$ab" old_select_prepare "$cur,VDIT_CLUSTER_SELECT=block,VDIT_CLUSTER_PREPARE=serial" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations 1 --quality
bench "$ab" comp_full "$(IFS=,; echo "${sw[*]}" | sed 's/,*VDIT_CLUSTER_COMP=vhi//; s/^$/VDIT_NONE=1/')" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations 1 --quality
for x in $budgets; do
  bench "$ours" sparge "$cur" --method sparge --rule topk --sparsity "$(python3 -c "print(round(1 - $x, 6))")" --quality
done
bench "$ab" dense_end "$cur" --method dense
python3 bench/attn_cluster_report.py --ours "$ours" --out "$out/attn-cluster.json" --svg "$out/attn-cluster.svg" 2>&1 | tail -25
cat "$ours" "$ab" | python3 -c '
import json, sys
for line in sys.stdin:
    try: o = json.loads(line)
    except Exception: continue
    st = o.get("stages_ms", {})
    q = o.get("o_vs_dense", {})
    print(o.get("label", ""), o.get("switches", ""), o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""),
          " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
'
echo "total: $(elapsed) s"
