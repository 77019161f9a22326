#!/usr/bin/env bash
# Round 15's device call (ear15): the EAR probe's P V on 16-bit tensor cores. Binaries built off
# the device (Release, sm_90a, stripped) come as bins.tgz beside this script's tree (BINS); the
# probe and cluster GPU tests run first (with the default and with VDIT_CLUSTER_PROBE=tf32), then our dense forward, ear at 0.1 / 0.3 / 0.5, svg at
# 0.1 / 0.3 / 0.5 (`--gpu-routing --warm --quality`, video inputs, B=1, H=12, S=32760, D=128,
# bf16, REPEAT=3 WARMUP=1), ear at 0.1 with the lab switch back to TF32 P V
# (VDIT_CLUSTER_PROBE=tf32, the A/B), sparge at 0.1 / 0.3 / 0.5 while under SPARGE_BEFORE_S
# seconds (default 200), dense again. (Round 14's call, with the two-pass A/B deleted in round
# 15, is this file's history.)
# Usage: OUT=dir BINS=bins.tgz bash bench/attn_cluster_round15_device.sh
set -uo pipefail
. "$(dirname "$0")/attn_cluster_bins_env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/env.txt" 2>&1
for t in test_attn_cluster_probe_gpu test_attn_cluster_gpu; do
  timeout 60 stdbuf -oL "build-gpu/tests/$t" > "$out/$t.log" 2>&1
  echo "$t: exit $? ($(( $(date +%s) - start )) s)"; tail -2 "$out/$t.log"
  VDIT_CLUSTER_PROBE=tf32 timeout 60 stdbuf -oL "build-gpu/tests/$t" > "$out/$t.tf32.log" 2>&1
  echo "$t (VDIT_CLUSTER_PROBE=tf32): exit $? ($(( $(date +%s) - start )) s)"; tail -1 "$out/$t.tf32.log"
done
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
run() { timeout 40 build-gpu/vdit bench attn "$@" "${common[@]}" 2>> "$out/bench.log" || echo "bench failed: $*" >&2; }
{
  run --method dense
  for x in 0.1 0.3 0.5; do run --method ear --budget "$x" --gpu-routing --warm --quality; done
  for x in 0.1 0.3 0.5; do run --method svg --budget "$x" --gpu-routing --warm --quality; done
  VDIT_CLUSTER_PROBE=tf32 run --method ear --budget 0.1 --gpu-routing --warm --quality
  for x in 0.1 0.3 0.5; do
    [ $(( $(date +%s) - start )) -lt "${SPARGE_BEFORE_S:-200}" ] || { echo "sparge $x skipped (time)" >&2; continue; }
    run --method sparge --rule topk --sparsity "$(python3 -c "print(round(1 - $x, 6))")" --quality
  done
  run --method dense
} > "$out/round15.jsonl"
python3 -c '
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line); st = o.get("stages_ms", {}); q = o.get("o_vs_dense", {})
    print(i, o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""), " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' "$out/round15.jsonl"
echo "total: $(( $(date +%s) - start )) s"
