#!/usr/bin/env bash
# One device call for the block-sparse executor and sparge: build (Release, sm_90a), the GPU
# tests (sparse first, then the dense regression), then bench/attn_sparse.sh. Logs under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-sparse-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader | tee "$out/gpu.txt"
start=$(date +%s)
cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-dev -j"$(nproc)" --target vdit_cli test_attn_sparse_gpu test_attn_gpu > "$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -40; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
timeout "${SPARSE_TEST_TIMEOUT:-200}" ./build-dev/tests/test_attn_sparse_gpu > "$out/test-sparse-gpu.log" 2>&1
echo "test_attn_sparse_gpu exit $? ($(( $(date +%s) - start )) s)"; grep -E "FAIL|fail|done|passed" "$out/test-sparse-gpu.log" | head -30
OUT="$out/bench" BUILD_DIR=build-dev bash bench/attn_sparse.sh 2>&1 | tail -12
echo "bench done ($(( $(date +%s) - start )) s)"
timeout "${DENSE_TEST_TIMEOUT:-120}" ./build-dev/tests/test_attn_gpu > "$out/test-attn-gpu.log" 2>&1
echo "test_attn_gpu exit $? ($(( $(date +%s) - start )) s)"; tail -3 "$out/test-attn-gpu.log"
