#!/usr/bin/env bash
# Sage attention's accuracy on real activations, on the CPU (the kernels' exact emulation): Q, K,
# V captured from the bundled model while it samples (blocks 0, 3, 5 at sampler steps 0, 10, 19,
# both guidance branches), `vdit attn check --method sage` against fp64 for block / thread
# granularity and FP8 / 16-bit P V, each with the channel split off and auto, plus the K channel
# spread that makes INT8 Q K^T hard and the heads the split takes.
# Writes $OUT/attn-sage-model.json (bench/attn_sage_model_report.py).
# Usage: bash bench/attn_sage_model.sh   (env: OUT, BUILD_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
build="${BUILD_DIR:-build}"
mkdir -p "$out"
prompt="a red cube and a blue sphere on a checkered floor, the camera orbits left"
lines="$out/sage-model.jsonl"
: > "$lines"
for step in 0 10 19; do
  capture="$out/sage-capture-step$step.safetensors"
  "$build/vdit" capture --bundle models/vdit-world-s --prompt "$prompt" --seed 1 --step "$step" --layers 0,3,5 -o "$capture" \
    > "$out/sage-capture-step$step.log"
  for layer in 0 3 5; do
    for cfg in "block fp8 off" "block half off" "thread fp8 off" "thread half off" \
               "block fp8 auto" "block half auto" "thread fp8 auto" "thread half auto"; do
      set -- $cfg
      # exit 1 = a tolerance missed: recorded, not fatal
      "$build/vdit" attn check --method sage --qkv "$capture:$layer" --dtype bf16 --sage-gran "$1" --sage-pv "$2" \
        --sage-split "$3" --json |
        sed "s/^{/{\"step\": $step, \"layer\": $layer, /" >> "$lines" || true
    done
  done
done
python3 bench/attn_sage_model_report.py "$lines" "$out"/sage-capture-step*.safetensors --output "$out/attn-sage-model.json"
