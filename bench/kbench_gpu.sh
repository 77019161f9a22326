#!/usr/bin/env bash
# The kbench GPU record: run from a copy of the source tree holding bin/vdit and
# bin/test_kbench_adversarial_gpu (a Release CUDA build, -DVDIT_NATIVE=OFF); writes into $OUT.
#   bash bench/kbench_gpu.sh
set -o pipefail
export VDIT_KBENCH_ROOT=$PWD
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda-13.0/lib:${LD_LIBRARY_PATH:-}
OUT=${OUT:-kbench-gpu}
mkdir -p "$OUT" /tmp/kbench-test
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
VDIT_TEST_TMP=/tmp/kbench-test bin/test_kbench_adversarial_gpu 2>&1 | tee "$OUT/adversarial_gpu.log"
bin/vdit kbench run --method kbench/methods/engine --baseline kbench/methods/reference --device cuda \
  --out "$OUT/engine" 2>&1 | tee "$OUT/engine.log"
bin/vdit kbench run --method kbench/methods/reference --device cuda --no-timing --out "$OUT/reference" \
  2>&1 | tee "$OUT/reference.log"
bin/vdit kbench report "$OUT/reference" "$OUT/engine" --out "$OUT/report"
