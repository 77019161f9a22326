#!/usr/bin/env bash
# Builds vdit with the CUDA backend on a GPU machine and runs every test there, the gpu
# label included; logs and `vdit info --json` go to $OUT (or ./gpu-test-out).
# Usage: [CPU_TESTS=0] bash tools/device/gpu_tests.sh [ctest -R regex]
#   CPU_TESTS=0 skips the CPU tests (CI runs them); the GPU tests run two at a time.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-test-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
nvcc --version | sed -n 's/.*release \([0-9.]*\).*/cuda \1/p' | tee -a "$out/gpu.txt"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -40; exit 1; }
./build-gpu/vdit info | tee "$out/info.txt"
./build-gpu/vdit info --json > "$out/info.json"
regex=("${@:+-R}" "$@")
ctest --test-dir build-gpu --output-on-failure -L gpu -j2 --timeout 300 "${regex[@]}" 2>&1 | tee "$out/ctest-gpu.log" | tail -40
gpu_rc=${PIPESTATUS[0]}
if [ "${CPU_TESTS:-1}" != 0 ]; then
  ctest --test-dir build-gpu -LE "gpu|slow" -j8 "${regex[@]}" 2>&1 | tee "$out/ctest-cpu.log" | tail -6
fi
exit "$gpu_rc"
