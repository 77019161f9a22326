#!/usr/bin/env bash
# Round 14's device call (ear14): the one-pass EAR probe. Binaries built off the device (Release,
# sm_90a, stripped) come as bins.tgz beside this script's tree (BINS); the three cluster GPU tests
# run first, then our dense forward, ear at 0.1 / 0.3 / 0.5 and svg at 0.1 (`--gpu-routing --warm
# --quality`, video inputs, B=1, H=12, S=32760, D=128, bf16, REPEAT=3 WARMUP=1), ear at 0.1 with
# the lab switch back to two passes (VDIT_CLUSTER_PROBE=two), dense again.
# Usage: OUT=dir BINS=bins.tgz bash bench/attn_cluster_round14_device.sh
set -uo pipefail
. "$(dirname "$0")/attn_cluster_bins_env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/env.txt" 2>&1
for t in test_attn_cluster_probe_gpu test_attn_cluster_gpu test_attn_cluster_kmeans_gpu; do
  timeout 60 "build-gpu/tests/$t" > "$out/$t.log" 2>&1
  echo "$t: exit $? ($(( $(date +%s) - start )) s)"; tail -2 "$out/$t.log"
done
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
run() { timeout 40 build-gpu/vdit bench attn "$@" "${common[@]}" 2>> "$out/bench.log" || echo "bench failed: $*" >&2; }
{
  run --method dense
  for x in 0.1 0.3 0.5; do run --method ear --budget "$x" --gpu-routing --warm --quality; done
  run --method svg --budget 0.1 --gpu-routing --warm --quality
  VDIT_CLUSTER_PROBE=two run --method ear --budget 0.1 --gpu-routing --warm --quality
  run --method dense
} > "$out/round14.jsonl"
python3 -c '
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line); st = o.get("stages_ms", {}); q = o.get("o_vs_dense", {})
    print(i, o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""), " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' "$out/round14.jsonl"
echo "total: $(( $(date +%s) - start )) s"
