#!/usr/bin/env bash
# One device call for the k-means steps of clustered attention (issue 9): Release build of the
# CLI and the two cluster GPU tests, the tests (k-means steps first, then the whole method), then
# at B=1, H=12, S=32760, D=128 (bf16, video inputs, --gpu-routing --warm) our dense forward and
# ear / svg with 2 and with 1 warm k-means iteration (per-step times, O against dense), the
# other assignment kernels (VDIT_CLUSTER_ASSIGN=tf32 | wgmma) for an A/B in the same call, dense
# again, and ncu on one key assignment. PLAN=short: only the A/B of the mma.sync and wgmma
# kernels at budget 0.1, test_attn_cluster_gpu on the wgmma kernel, no ncu. Logs and
# cluster-kmeans.jsonl under $OUT; the record is made from it by bench/attn_cluster_kmeans_report.py.
# Usage: OUT=dir bash bench/attn_cluster_kmeans_device.sh   (env: BUILD_DIR, REPEAT, WARMUP, BUDGETS, PLAN, NCU_KERNEL)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
repeat="${REPEAT:-10}"
warmup="${WARMUP:-2}"
budgets="${BUDGETS:-0.1 0.3}"
plan="${PLAN:-full}"
ncu_kernel="${NCU_KERNEL:-a16_kernel}"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build "$build" -j16 --target vdit_cli test_attn_cluster_kmeans_gpu test_attn_cluster_gpu > "$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -30; exit 1; }
stamp "built"
timeout 150 "$build/tests/test_attn_cluster_kmeans_gpu" > "$out/test-kmeans.log" 2>&1
kmeans_rc=$?
stamp "test_attn_cluster_kmeans_gpu rc=$kmeans_rc"
grep -E "FAIL|decided|passed|failed" "$out/test-kmeans.log" | tail -20
if [ "$plan" != short ]; then
  timeout 150 "$build/tests/test_attn_cluster_gpu" > "$out/test-cluster.log" 2>&1
  stamp "test_attn_cluster_gpu rc=$?"
  tail -3 "$out/test-cluster.log"
else
  VDIT_CLUSTER_ASSIGN=wgmma timeout 150 "$build/tests/test_attn_cluster_gpu" > "$out/test-cluster-wgmma.log" 2>&1
  stamp "test_attn_cluster_gpu (VDIT_CLUSTER_ASSIGN=wgmma) rc=$?"
  tail -3 "$out/test-cluster-wgmma.log"
fi
if [ "$kmeans_rc" != 0 ]; then
  echo "k-means test failed: the 16-bit rows below run the TF32 kernel" | tee -a "$out/bench.log"
  export VDIT_CLUSTER_ASSIGN=tf32
fi
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat "$repeat" --warmup "$warmup" --json --forward-only --inputs video)
jsonl="$out/cluster-kmeans.jsonl"
: > "$jsonl"
# run TAG ARGS...: one bench line, tagged
run() {
  local tag="$1"; shift
  local line
  line=$(timeout 120 "$build/vdit" bench attn "$@" "${common[@]}" 2>> "$out/bench.log" | tail -1)
  if [ -z "$line" ]; then stamp "bench failed: $tag"; return; fi
  echo "{\"tag\": \"$tag\", \"assign_env\": \"${VDIT_CLUSTER_ASSIGN:-}\", \"result\": $line}" >> "$jsonl"
  stamp "$tag: $(echo "$line" | python3 -c 'import json,sys; o=json.load(sys.stdin); s=o.get("stages_ms",{}); print(o["fwd"]["ms"], o.get("o_vs_dense",{}).get("rel_l1",""), {k: round(v,3) for k,v in s.items() if k.startswith(("convert","kmeans"))})')"
}
run dense --method dense
if [ "$plan" = short ]; then
  for w in 2 1; do
    VDIT_CLUSTER_ASSIGN=mma run "ear-0.1-w$w-mma" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations "$w" --quality
    VDIT_CLUSTER_ASSIGN=wgmma run "ear-0.1-w$w-wgmma" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations "$w" --quality
  done
  VDIT_CLUSTER_ASSIGN=wgmma run "svg-0.1-w1-wgmma" --method svg --budget 0.1 --gpu-routing --warm --warm-iterations 1 --quality
else
  for x in $budgets; do
    for w in 2 1; do
      run "ear-$x-w$w" --method ear --budget "$x" --gpu-routing --warm --warm-iterations "$w" --quality
      run "svg-$x-w$w" --method svg --budget "$x" --gpu-routing --warm --warm-iterations "$w" --quality
    done
  done
  VDIT_CLUSTER_ASSIGN=tf32 run "ear-0.1-w2-tf32" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations 2 --quality
  VDIT_CLUSTER_ASSIGN=wgmma run "ear-0.1-w2-wgmma" --method ear --budget 0.1 --gpu-routing --warm --warm-iterations 2 --quality
fi
run dense-again --method dense
stamp "benches done"
if [ "$plan" != short ] && command -v ncu > /dev/null; then
  # the first forward is cold: 8 query assignments, then the first key assignment (C = 1024)
  VDIT_CLUSTER_ASSIGN=$([ "$ncu_kernel" = w16_kernel ] && echo wgmma || echo mma) timeout 60 ncu --clock-control none -k "regex:$ncu_kernel" --launch-skip 8 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    "$build/vdit" bench attn --method ear --budget 0.1 --gpu-routing --device cuda --dtype bf16 --mask none --layout bhsd \
    --batch 1 --heads 12 --seq 32760 --dim 128 --repeat 1 --warmup 0 --forward-only --inputs video > "$out/ncu.log" 2>&1
  stamp "ncu rc=$?"
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Issue Slots|Executed Ipc A|Warp Cycles Per Issued" "$out/ncu.log" | head -20
fi
stamp "total"
