#!/usr/bin/env bash
# Quality of EAR, SVG2 and sparge against dense attention over a budget sweep, on the CPU (fp32,
# the methods' specifications): relative L1 of O per budget on synthetic video-like inputs and
# on Q/K/V captured from the bundled model (vdit capture, every block). Writes
# $OUT/attn-cluster-quality.json (bench/attn_cluster_quality_report.py).
# Usage: bash bench/attn_cluster_quality.sh   (env: OUT, BUILD_DIR, BUDGETS, SEQ)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build}"
budgets="${BUDGETS:-0.1 0.2 0.3 0.5 0.75}"
seq="${SEQ:-2048}"
lines="$out/cluster-quality.jsonl"
: > "$lines"
sweep() { # label, then the check flags of the inputs
  local label=$1; shift
  for x in $budgets; do
    for m in ear svg; do
      "$build/vdit" attn check --method $m --budget "$x" --forward-only --json --dtype fp32 "$@" |
        sed "s/^{/{\"set\": \"$label\", /" >> "$lines"
    done
    "$build/vdit" attn check --method sparge --rule topk --sparsity "$(python3 -c "print(round(1 - $x, 6))")" --forward-only \
      --json --dtype fp32 "$@" | sed "s/^{/{\"set\": \"$label\", \"budget\": $x, /" >> "$lines"
  done
}
sweep video --inputs video --seq "$seq" --heads 2 --dim 64
sweep video-heads --inputs video-heads --seq "$seq" --heads 2 --dim 64
capture="$out/capture.safetensors"
"$build/vdit" capture --model models/vdit-world-s --frames 16 --height 32 --width 32 --seed 3 -o "$capture" > "$out/capture.log"
for layer in 0 1 2 3 4 5; do sweep "model-block$layer" --qkv "$capture:$layer"; done
python3 bench/attn_cluster_quality_report.py "$lines" "$out/attn-cluster-quality.json"
