#!/usr/bin/env bash
# Clustered attention (EAR, SVG2) against sparge: a budget sweep on one GPU, in one run, at the
# issue's shape (B=1, H=12, S=32760, D=128, bf16, (B, H, S, D) layout, video-like inputs):
#   vdit bench attn --method dense                                  forward (the time base)
#   vdit bench attn --method ear|svg --budget X --gpu-routing --warm --quality
#        the whole forward (k-means warm-started from the previous run, scores, selection,
#        compensation, executor), and O against dense (rel L1, PSNR)
#   vdit bench attn --method sparge --rule topk --sparsity 1-X --quality
#        executor on the held mask plus the mask prediction, and O against dense
# and writes $OUT/attn-cluster.json and $OUT/attn-cluster.svg (bench/attn_cluster_report.py).
# Usage: bash bench/attn_cluster.sh   (env: OUT, BUILD_DIR, REPEAT, WARMUP, BUDGETS, SHAPE, INPUTS)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
repeat="${REPEAT:-5}"
warmup="${WARMUP:-2}"
budgets="${BUDGETS:-0.05 0.1 0.2 0.3 0.5}"
shape="${SHAPE:-1,12,32760,128}"
inputs="${INPUTS:-video}"
IFS=, read -r b h s d <<< "$shape"

. bench/build_cli.sh
bench_build_cli "$build" "$out" || exit 1
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch "$b" --heads "$h" --seq "$s" --dim "$d"
        --repeat "$repeat" --warmup "$warmup" --json --forward-only --inputs "$inputs")
ours="$out/cluster-ours.jsonl"
: > "$ours"
run() { timeout 300 "$build/vdit" bench attn "$@" "${common[@]}" >> "$ours" 2>> "$out/bench.log" ||
          echo "bench failed: $* (exit $?)" | tee -a "$out/bench.log"; tail -1 "$ours"; }
run --method dense
for x in $budgets; do
  run --method ear --budget "$x" --gpu-routing --warm --quality
  run --method svg --budget "$x" --gpu-routing --warm --quality
  run --method sparge --rule topk --sparsity "$(python3 -c "print(round(1 - $x, 6))")" --quality
done
python3 bench/attn_cluster_report.py --ours "$ours" --out "$out/attn-cluster.json" --svg "$out/attn-cluster.svg" |
  tee "$out/cluster-summary.txt"
