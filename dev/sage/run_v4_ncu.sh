#!/bin/bash
# dev/sage run 7 (H200): where version 3's time goes, under ncu (--clock-control none: the card's
# own clocks), one launch of the forward kernel per variant (VDIT_SAGE_FWD, attn_sage_cuda.h):
# pipe utilizations (tensor, XU = MUFU, FMA, ALU), issue, and the warp stall reasons.
# Binaries from BIN as run_fwd_variants_device.sh. Usage: OUT=$OUT bash dev/sage/run_v4_ncu.sh
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-dev/sage/out}"
mkdir -p "$OUT"
BIN="${BIN:-dev/sage/bin}"
for f in "$BIN"/*.gz; do [ -e "$f" ] && gunzip -f "$f" && chmod +x "${f%.gz}"; done
SHAPE="--batch 1 --heads 12 --seq 32760 --dim 128 --layout bhsd --dtype bf16 --mask none"
metrics='regex:^(sm__inst_executed_pipe_[a-z0-9_]+|sm__pipe_[a-z0-9_]+_cycles_active)\.avg\.pct_of_peak_sustained_active$|^smsp__average_warps_issue_stalled_[a-z_]+_per_issue_active\.ratio$|^smsp__issue_active\.avg\.pct_of_peak_sustained_active$|^sm__cycles_elapsed\.avg$|^smsp__inst_executed\.sum$'
for v in ${VARIANTS:-p3q mufu}; do
  VDIT_SAGE_FWD=$v timeout 100 ncu --clock-control none --kernel-name regex:sage_forward_tma --launch-count 1 \
    --metrics "$metrics" \
    "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --repeat 1 --warmup 0 > "$OUT/ncu-$v.txt" 2>&1
  echo "== $v: ncu exit $?"
  grep -E "pct_of_peak|ratio|inst_executed.sum|cycles_elapsed" "$OUT/ncu-$v.txt" | sed 's/  */ /g' | awk '$NF != "0" && $NF != "0.00"' | head -70
done
