#!/usr/bin/env bash
# Sage attention against our dense bf16 and PyTorch SDPA (FA2, cuDNN) at the Wan2.1-1.3B shape,
# in one run on one GPU: builds vdit with CUDA, times `vdit bench attn --method sage` forward
# (every granularity with FP8 P V, and 16-bit P V) and backward, `--method dense` forward and
# backward (bf16, non-causal, (B, H, S, D) layout, CUDA events, median of REPEAT after WARMUP),
# then bench/attn_peer.py on the same shape, and writes $OUT/attn-sage.json (table on stdout).
# Copy the JSON to bench/results/<gpu_slug>/attn-sage.json afterwards.
# Usage: bash bench/attn_sage.sh        (env: OUT, BUILD_DIR or VDIT (a prebuilt vdit), REPEAT, WARMUP, SHAPE)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
repeat="${REPEAT:-20}"
warmup="${WARMUP:-3}"
shape="${SHAPE:-1,12,32760,128}"
IFS=, read -r b h s d <<< "$shape"
vdit="${VDIT:-}"
if [ -z "$vdit" ]; then
  build="${BUILD_DIR:-build-gpu}"
  . bench/build_cli.sh
  bench_build_cli "$build" "$out" always || exit 1
  vdit="$build/vdit"
fi
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch "$b" --heads "$h" --seq "$s" --dim "$d"
        --repeat "$repeat" --warmup "$warmup" --json)
: > "$out/ours.jsonl"
timeout 300 "$vdit" bench attn --method dense "${common[@]}" >> "$out/ours.jsonl" 2>> "$out/bench.log"
timeout 300 "$vdit" bench attn --method sage "${common[@]}" >> "$out/ours.jsonl" 2>> "$out/bench.log"
for gran in thread warp; do
  timeout 300 "$vdit" bench attn --method sage --sage-gran "$gran" --forward-only "${common[@]}" >> "$out/ours.jsonl" 2>> "$out/bench.log"
done
timeout 300 "$vdit" bench attn --method sage --sage-pv half --forward-only "${common[@]}" >> "$out/ours.jsonl" 2>> "$out/bench.log"
PYTHONUNBUFFERED=1 timeout 400 python3 bench/attn_peer.py --json "$out/peer.json" --reps "$repeat" --warmup "$warmup" \
  --shapes "$shape" >> "$out/bench.log" 2>&1 || echo "attn_peer.py failed (exit $?)" | tee -a "$out/bench.log"
python3 bench/attn_sage_report.py --ours "$out/ours.jsonl" --peer "$out/peer.json" --command "bash bench/attn_sage.sh" \
  --out "$out/attn-sage.json" | tee "$out/summary.txt"
