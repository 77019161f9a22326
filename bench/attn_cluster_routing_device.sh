#!/usr/bin/env bash
# One device call for the routing half of clustered attention (issue 9: svg mass, EAR probe,
# selection): Release build of the CLI and the cluster GPU tests, the GPU correctness tests
# first (the fused probe and mass against fp64, then the whole method against the CPU), then
# our dense forward and ear / svg (--gpu-routing --warm) in one sweep (bench/attn_cluster.sh:
# per-step times under stages_ms). Logs and attn-cluster.json under $OUT.
# Usage: OUT=dir bash bench/attn_cluster_routing_device.sh   (env: BUILD_DIR, BUDGETS, REPEAT, WARMUP)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
start=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build "$build" -j16 --target vdit_cli test_attn_cluster_probe_gpu test_attn_cluster_gpu > "$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
(cd "$build" && timeout 150 ctest -R "test_attn_cluster_(probe_)?gpu" --output-on-failure -V) > "$out/ctest.log" 2>&1
grep -E "checked|FAIL|fail|Passed|Failed|tests passed|Test +#" "$out/ctest.log" | head -40
echo "tests done: $(( $(date +%s) - start )) s"
BUILD_DIR="$build" OUT="$out" BUDGETS="${BUDGETS:-0.1 0.3}" REPEAT="${REPEAT:-3}" WARMUP="${WARMUP:-1}" \
  timeout 200 bash bench/attn_cluster.sh 2>&1 | tail -30
grep -h '"stages_ms"' "$out/cluster-ours.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    st = o.get("stages_ms", {})
    print(o["method"], o.get("budget"), "fwd %.3f" % o["fwd"]["ms"], " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' 2>&1 | tee "$out/stages.txt"
echo "total: $(( $(date +%s) - start )) s"
