#!/usr/bin/env bash
# A cluster round's device call (round 16, ear16: the k-means reading the 16-bit inputs, no fp32
# copies of Q and V, the assignment by wgmma with the tokens in registers; round 17, ear17: the
# probe's scores from 16-bit K tiles, with TEST_AB; that call ran AB="VDIT_CLUSTER_PROBE=tf32
# VDIT_CLUSTER_PROBE=k16w8 VDIT_CLUSTER_PROBE=k16" and the same TEST_AB less k16, switches deleted
# after it). Binaries built off the
# device (Release, sm_90a, stripped) come as bins.tgz beside this script's tree (BINS); the
# k-means, probe and cluster GPU tests run first, then our dense forward, ear at 0.1 / 0.3 / 0.5,
# svg at 0.1 / 0.3 / 0.5 (`--gpu-routing --warm --quality`, video inputs, B=1, H=12, S=32760,
# D=128, bf16, REPEAT=3 WARMUP=1), ear at 0.1 once more with each lab switch of AB (space-separated
# VAR=value words: the in-call A/B; round 16 ran AB="VDIT_CLUSTER_ASSIGN=wgmma", then
# AB="VDIT_CLUSTER_ASSIGN=rs VDIT_CLUSTER_ASSIGN=wgmma" NCU=1, then AB="VDIT_CLUSTER_ASSIGN=wide";
# switches deleted after the round; default none), sparge at 0.1 / 0.3 / 0.5
# while under SPARGE_BEFORE_S seconds (default 200), dense again. (Rounds 14 and 15's calls, with
# their deleted A/B switches, are this file's history.)
# TEST_AB (space-separated VAR=value words) runs test_attn_cluster_probe_gpu and
# test_attn_cluster_gpu once more with each (round 17: the probe's lab switches).
# BASE_BINS (a second bins.tgz, e.g. the previous round's) runs ear at 0.1 / 0.3 / 0.5 once more
# with those binaries (under the variables of BASE_ENV, space-separated VAR=value words) after
# the new ones: the before / after in one call (round 18, ear18: round 17's binaries with
# BASE_ENV="VDIT_CLUSTER_PROBE=k16w8", the probe kept then).
# Usage: OUT=dir BINS=bins.tgz [AB="VAR=value ..."] [TEST_AB="VAR=value ..."] [BASE_BINS=old.tgz [BASE_ENV=...]] [NCU=1]
#        bash bench/attn_cluster_round16_device.sh
set -uo pipefail
. "$(dirname "$0")/attn_cluster_bins_env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/env.txt" 2>&1
for t in test_attn_cluster_kmeans_gpu test_attn_cluster_probe_gpu test_attn_cluster_gpu; do
  timeout 90 stdbuf -oL "build-gpu/tests/$t" > "$out/$t.log" 2>&1
  echo "$t: exit $? ($(( $(date +%s) - start )) s)"; tail -2 "$out/$t.log"
done
for ab in ${TEST_AB-}; do
  for t in test_attn_cluster_probe_gpu test_attn_cluster_gpu; do
    echo "== $t ($ab)" >> "$out/test_ab.log"
    (export "$ab"; timeout 90 stdbuf -oL "build-gpu/tests/$t" >> "$out/test_ab.log" 2>&1)
    echo "$t ($ab): exit $? ($(( $(date +%s) - start )) s)"; tail -1 "$out/test_ab.log"
  done
done
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
run() { timeout 40 build-gpu/vdit bench attn "$@" "${common[@]}" 2>> "$out/bench.log" || echo "bench failed: $*" >&2; }
{
  run --method dense
  for x in 0.1 0.3 0.5; do run --method ear --budget "$x" --gpu-routing --warm --quality; done
  for x in 0.1 0.3 0.5; do run --method svg --budget "$x" --gpu-routing --warm --quality; done
  for ab in ${AB-}; do (export "$ab"; run --method ear --budget 0.1 --gpu-routing --warm --quality); done
  if [ -n "${BASE_BINS-}" ]; then
    mkdir -p build-base && tar xzf "$BASE_BINS" -C build-base
    for x in 0.1 0.3 0.5; do
      (for v in ${BASE_ENV-}; do export "$v"; done
       timeout 40 build-base/vdit bench attn --method ear --budget "$x" --gpu-routing --warm --quality "${common[@]}" 2>> "$out/bench.log" |
         sed 's/^{/{"base": 1, /') || echo "base bench failed: $x" >&2
    done
  fi
  for x in 0.1 0.3 0.5; do
    [ $(( $(date +%s) - start )) -lt "${SPARGE_BEFORE_S:-200}" ] || { echo "sparge $x skipped (time)" >&2; continue; }
    run --method sparge --rule topk --sparsity "$(python3 -c "print(round(1 - $x, 6))")" --quality
  done
  run --method dense
} > "$out/round.jsonl"
# NCU=1: one ncu run each (sections: speed of light, pipes, memory, occupancy, warp states) of the
# EAR probe's kernels (NCU_PROBE, a regex: since round 18 the per-tile kernel and o_hat's, the
# first NCU_PROBE_COUNT launches) and of the key assignment (the first cold k-means iteration on
# K; NCU_ASSIGN=none skips it)
if [ "${NCU:-0}" = 1 ] && command -v ncu > /dev/null; then
  sections=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis
            --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats)
  one=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
       --repeat 1 --warmup 0 --json --forward-only --inputs video --method ear --budget 0.1 --gpu-routing)
  { timeout 120 ncu --clock-control none "${sections[@]}" -k "regex:${NCU_PROBE:-probe_tile_kernel|probe_ohat_kernel}" \
      --launch-count "${NCU_PROBE_COUNT:-2}" build-gpu/vdit bench attn "${one[@]}"
    [ "${NCU_ASSIGN-}" = none ] ||
      timeout 120 ncu --clock-control none "${sections[@]}" -k "regex:${NCU_ASSIGN:-r16_kernel}" --launch-skip 8 --launch-count 1 build-gpu/vdit bench attn "${one[@]}"
  } > "$out/ncu.txt" 2>&1
  echo "ncu: exit $? ($(( $(date +%s) - start )) s)"
fi
python3 -c '
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line); st = o.get("stages_ms", {}); q = o.get("o_vs_dense", {})
    print(i, "base" if o.get("base") else "", o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""), " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' "$out/round.jsonl"
echo "total: $(( $(date +%s) - start )) s"
