#!/usr/bin/env bash
# Round 14's second device call (ear14): after the fix of a warp shuffle skipped by rows past cq
# in the one-pass probe (which hung the two GPU tests of the first call), test_attn_cluster_probe_gpu
# and test_attn_cluster_gpu, then ear at 0.1 (the bench shape) once more.
# Usage: OUT=dir BINS=bins.tgz bash bench/attn_cluster_round14_check.sh
set -uo pipefail
. "$(dirname "$0")/attn_cluster_bins_env.sh"
for t in test_attn_cluster_probe_gpu test_attn_cluster_gpu; do
  timeout 50 stdbuf -oL "build-gpu/tests/$t" > "$out/$t.log" 2>&1
  echo "$t: exit $? ($(( $(date +%s) - start )) s)"; tail -2 "$out/$t.log"
done
timeout 20 build-gpu/vdit bench attn --method ear --budget 0.1 --gpu-routing --warm --quality --device cuda --dtype bf16 \
  --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128 --repeat 3 --warmup 1 --json --forward-only \
  --inputs video 2>> "$out/bench.log" | tee "$out/check.jsonl" | cut -c1-600
echo "total: $(( $(date +%s) - start )) s"
