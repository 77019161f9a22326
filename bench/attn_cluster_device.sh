#!/usr/bin/env bash
# One device call for clustered attention (issue 9): Release build of the CLI and the cluster
# GPU tests, the GPU correctness tests (k-means steps, then the whole method), one verbose check at a larger shape with the routing on the
# GPU, then the EAR / SVG2 / sparge sweep (bench/attn_cluster.sh). Logs under $OUT.
# Usage: OUT=dir bash bench/attn_cluster_device.sh   (env: BUILD_DIR, BENCH_TIMEOUT)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv | tee "$out/gpu.txt"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build "$build" -j16 --target vdit_cli test_attn_cluster_gpu test_attn_cluster_kmeans_gpu > "$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
(cd "$build" && timeout 90 ctest -R "test_attn_cluster.*_gpu" --output-on-failure -V) 2>&1 | tee "$out/ctest.log" | tail -25
echo "tests done: $(( $(date +%s) - start )) s"
for m in ear svg; do
  timeout 40 "$build/vdit" attn check --method $m --budget 0.3 --device cuda --seq 4096 --heads 4 --dim 128 --inputs video-heads \
    --gpu-routing --forward-only 2>&1 | tee -a "$out/check-4096.log"
done
echo "check done: $(( $(date +%s) - start )) s"
BUILD_DIR="$build" OUT="$out" timeout "${BENCH_TIMEOUT:-150}" bash bench/attn_cluster.sh 2>&1 | tail -30
if [ ! -s "$out/attn-cluster.json" ] && [ -s "$out/cluster-ours.jsonl" ]; then
  python3 bench/attn_cluster_report.py --ours "$out/cluster-ours.jsonl" --out "$out/attn-cluster.json" --svg "$out/attn-cluster.svg"
fi
echo "total: $(( $(date +%s) - start )) s"
