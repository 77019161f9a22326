#!/usr/bin/env bash
# SLA2 forward's linear-branch kernels (prepare, leftout; `out` until round 15) under Nsight
# Compute on a GPU machine: one forward at 97% (B=1, H=12, S=32760, D=128, bf16, video inputs)
# with each environment setting in $NCU_VARIANTS (default = none, + for spaces, e.g. a lab
# switch NAME=value), the first prepare and leftout launches profiled (speed of light, occupancy,
# launch, warp states, scheduler, memory sections; clocks left alone). Full reports to
# $OUT/ncu.txt, a summary of the key lines to stdout.
# KERNELS: the kernels' name regex (default 'sla_prepare|sla_leftout'), COUNT: launches profiled (2).
# Usage: bash tools/device/sla_ncu.sh   (env: OUT, BIN (default build-gpu/vdit), NCU_VARIANTS, KERNELS, COUNT)
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out}"
bin="${BIN:-build-gpu/vdit}"
: > "$out/ncu.txt"
for v in ${NCU_VARIANTS:-default}; do
  e=""; [ "$v" != default ] && e="${v//+/ }"
  echo "== ncu ($v, env '$e')" | tee -a "$out/ncu.txt"
  env $e timeout 120 ncu --clock-control none -k "regex:${KERNELS:-sla_prepare|sla_leftout}" -c "${COUNT:-2}" \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis \
    "$bin" bench attn --method sla --sparsity 0.97 --inputs video --router-dim 32 --forward-only --device cuda \
    --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128 --repeat 1 --warmup 0 \
    >> "$out/ncu.txt" 2>&1
  echo "ncu exit $?"
done
grep -E "^== ncu|sla_[a-z_]+_kernel|Duration|Memory Throughput|DRAM Throughput|L2 Cache Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Theoretical Occupancy|Block Limit|Registers Per|Issue Slots Busy|No Eligible|Active Warps Per|Eligible Warps|Warp Cycles Per Issued|Stall|est\. speedup|Max Bandwidth|Mem Busy" "$out/ncu.txt" | cut -c1-150 | head -160
