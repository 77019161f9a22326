#!/usr/bin/env bash
# The lead's re-time after the GPU tests (tools/device/gpu_tests.sh built build-gpu/vdit): every
# method with a speed target, our dense beside it in the same call, at B=1, H=12, S=32760,
# D=128, bf16, bhsd, no mask. In call order: dense and sage with backward (repeat 5, warmup 2);
# dense and SLA2 at 97% on video inputs, twice, alternating (router dim 32, repeat 20, warmup 3);
# ear and svg at budget 0.1 (--gpu-routing --warm --quality, repeat 3, warmup 1); dense again.
# One JSON line per run in $OUT/retime.jsonl; tools/device/gpu_tests_report.py records it.
# Usage: bash tools/device/retime.sh   (env: OUT)
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-test-out}"
mkdir -p "$out"
shape=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128 --json)
log="$out/retime.jsonl"
: > "$log"
run() { timeout 300 ./build-gpu/vdit bench attn "$@" "${shape[@]}" >> "$log" 2>> "$out/retime.log" ||
          echo "bench failed: $* (exit $?)" | tee -a "$out/retime.log"; tail -c 400 "$log" | tail -1; }
run --method dense --repeat 5 --warmup 2
run --method sage --repeat 5 --warmup 2
for _ in 1 2; do
  run --method dense --inputs video --forward-only --repeat 20 --warmup 3
  run --method sla --sparsity 0.97 --router-dim 32 --inputs video --forward-only --repeat 20 --warmup 3
done
for m in ear svg; do
  run --method "$m" --budget 0.1 --gpu-routing --warm --quality --inputs video --forward-only --repeat 3 --warmup 1
done
run --method dense --repeat 5 --warmup 2
