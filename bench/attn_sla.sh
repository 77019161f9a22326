#!/usr/bin/env bash
# SLA2 (--method sla) against our dense attention in one run on one GPU, at the issue's shape
# (B=1, H=12, S=32760, D=128, bf16, (B, H, S, D) layout, video inputs, random router D_r = 32):
#   vdit bench attn --method dense                          forward, backward
#   vdit bench attn --method sla --sparsity X               forward = router + sparse branch +
#                                                           linear branch; backward = every
#                                                           gradient (Q, K, V, router, alpha)
#   vdit bench attn --method sla --sparsity X --freeze-router   backward without the router's
# and merges the speedups into $OUT/attn-sparse.json as its "sla" section (starting from
# RESULT, the recorded attn-sparse.json, so sparge's section stays). Copy it back to
# bench/results/<gpu_slug>/attn-sparse.json afterwards.
# Usage: bash bench/attn_sla.sh   (env: OUT, BUILD_DIR, REPEAT, WARMUP, SPARSITIES, SHAPE, RESULT)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
repeat="${REPEAT:-20}"
warmup="${WARMUP:-3}"
sparsities="${SPARSITIES:-0.95 0.97}"
shape="${SHAPE:-1,12,32760,128}"
result="${RESULT:-bench/results/h100-80gb-hbm3/attn-sparse.json}"
IFS=, read -r b h s d <<< "$shape"
. bench/build_cli.sh
bench_build_cli "$build" "$out" || exit 1
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch "$b" --heads "$h" --seq "$s" --dim "$d"
        --repeat "$repeat" --warmup "$warmup" --json)
: > "$out/sla.jsonl"
timeout 300 "$build/vdit" bench attn --method dense "${common[@]}" >> "$out/sla.jsonl" 2>> "$out/bench.log" ||
  echo "dense bench failed (exit $?)" | tee -a "$out/bench.log"
tail -1 "$out/sla.jsonl"
for x in $sparsities; do
  for freeze in "" "--freeze-router"; do
    timeout 300 "$build/vdit" bench attn --method sla --sparsity "$x" --inputs video --router-dim 32 $freeze "${common[@]}" \
      >> "$out/sla.jsonl" 2>> "$out/bench.log" || echo "sla bench failed at $x $freeze (exit $?)" | tee -a "$out/bench.log"
    tail -1 "$out/sla.jsonl"
  done
done
python3 bench/attn_sla_report.py --ours "$out/sla.jsonl" --base "$result" --out "$out/attn-sparse.json" | tee "$out/sla-summary.txt"
