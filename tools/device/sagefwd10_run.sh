#!/bin/bash
# sagefwd10 device call (H200): build vdit_cli + test_attn_sage_gpu, validate the default sage
# forward, time dense vs sage forward (same call), then one ncu profile of the default forward.
set -u -o pipefail
s=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > $OUT/build.log 2>&1
cmake --build build-gpu -j16 --target vdit_cli test_attn_sage_gpu >> $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $(( $(date +%s) - s )) s"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv
timeout 90 build-gpu/tests/test_attn_sage_gpu > $OUT/validate.log 2>&1; echo "test_attn_sage_gpu exit $? at $(( $(date +%s) - s )) s"; tail -2 $OUT/validate.log
V=$(find build-gpu -name vdit -type f -perm -u+x | head -1)
SHAPE="--batch 1 --heads 12 --seq 32760 --dim 128 --layout bhsd --dtype bf16 --mask none"
for m in dense sage dense sage; do
  echo "$m: $($V bench attn --method $m --device cuda $SHAPE --forward-only --repeat 10 --warmup 2 --json 2>&1 | tail -1)"
done | tee $OUT/bench.log
metrics='regex:^(sm__inst_executed_pipe_[a-z0-9_]+|sm__pipe_[a-z0-9_]+_cycles_active)\.avg\.pct_of_peak_sustained_active$|^smsp__average_warps_issue_stalled_[a-z_]+_per_issue_active\.ratio$|^smsp__issue_active\.avg\.pct_of_peak_sustained_active$|^sm__cycles_elapsed\.avg$|^smsp__inst_executed\.sum$|^launch__registers_per_thread$'
timeout 100 ncu --clock-control none --kernel-name regex:sage_forward_tma --launch-count 1 --metrics "$metrics" \
  $V bench attn --method sage --device cuda $SHAPE --forward-only --repeat 1 --warmup 0 > $OUT/ncu-default.txt 2>&1
echo "ncu exit $? at $(( $(date +%s) - s )) s"
grep -E "pct_of_peak|ratio|inst_executed.sum|cycles_elapsed|registers" $OUT/ncu-default.txt | sed 's/  */ /g' | awk '$NF != "0" && $NF != "0.00"' | head -70
