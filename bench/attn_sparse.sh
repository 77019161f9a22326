#!/usr/bin/env bash
# Sparge (SpargeAttention2 masks on the block-sparse executor) against our dense attention and
# PyTorch SDPA (cuDNN and FA2 backends, bench/attn_peer.py) in one run on one GPU, at the issue's
# shape (B=1, H=12, S=32760, D=128, bf16, (B, H, S, D) layout):
#   vdit bench attn --method dense                       forward, backward
#   vdit bench attn --method sparge --sparsity X         forward and backward on the held mask,
#                                                        mask prediction timed apart (Top-k rule:
#                                                        the sparsity is exact; video inputs)
# and writes ours, the peers and the speedups into $OUT/attn-sparse.json (table on stdout).
# Copy the JSON to bench/results/<gpu_slug>/attn-sparse.json afterwards.
# Usage: bash bench/attn_sparse.sh   (env: OUT, BUILD_DIR, REPEAT, WARMUP, SPARSITIES, SAGE_SPARSITIES, SHAPE,
#        PEER=0 to skip torch, SAGE=0 to skip the sage runs)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
repeat="${REPEAT:-20}"
warmup="${WARMUP:-3}"
sparsities="${SPARSITIES:-0.5 0.8 0.9 0.95 0.97}"
shape="${SHAPE:-1,12,32760,128}"
IFS=, read -r b h s d <<< "$shape"

. bench/build_cli.sh
bench_build_cli "$build" "$out" || exit 1
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch "$b" --heads "$h" --seq "$s" --dim "$d"
        --repeat "$repeat" --warmup "$warmup" --json)
: > "$out/ours.jsonl"
timeout 300 "$build/vdit" bench attn --method dense "${common[@]}" >> "$out/ours.jsonl" 2>> "$out/bench.log" ||
  echo "dense bench failed (exit $?)" | tee -a "$out/bench.log"
tail -1 "$out/ours.jsonl"
for x in $sparsities; do
  timeout 300 "$build/vdit" bench attn --method sparge --rule topk --sparsity "$x" --inputs video "${common[@]}" \
    >> "$out/ours.jsonl" 2>> "$out/bench.log" || echo "sparge bench failed at $x (exit $?)" | tee -a "$out/bench.log"
  tail -1 "$out/ours.jsonl"
done
: > "$out/sage.jsonl"
if [ "${SAGE:-1}" != 0 ]; then
  timeout 300 "$build/vdit" bench attn --method sage "${common[@]}" >> "$out/sage.jsonl" 2>> "$out/bench.log" ||
    echo "sage bench failed (exit $?)" | tee -a "$out/bench.log"
  tail -1 "$out/sage.jsonl"
  for x in ${SAGE_SPARSITIES:-0.9 0.95 0.97}; do
    timeout 300 "$build/vdit" bench attn --method sparge --sage --rule topk --sparsity "$x" --inputs video "${common[@]}" \
      >> "$out/sage.jsonl" 2>> "$out/bench.log" || echo "sparge --sage bench failed at $x (exit $?)" | tee -a "$out/bench.log"
    tail -1 "$out/sage.jsonl"
  done
fi
if [ "${PEER:-1}" != 0 ]; then
  PYTHONUNBUFFERED=1 timeout 300 python3 bench/attn_peer.py --json "$out/peer.json" --reps "$repeat" --warmup "$warmup" \
    --shapes "$shape" >> "$out/bench.log" 2>&1 || echo "attn_peer.py failed (exit $?)" | tee -a "$out/bench.log"
fi
python3 bench/attn_sparse_report.py --ours "$out/ours.jsonl" --sage "$out/sage.jsonl" --peer "$out/peer.json" --out "$out/attn-sparse.json" |
  tee "$out/summary.txt"
