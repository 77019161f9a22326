#!/bin/bash
# dev/sage run 4: one device call for the version 3 forward (attn_sage_forward_tma.cu).
# Validation (test_attn_sage_gpu: CUDA against the CPU emulation with version 3 and version 2,
# the fp64 acceptance, the backward), then forward timings at B=1 H=12 S=32760 D=128 (bf16,
# (B, H, S, D), CUDA events, median of REPEAT after 2 warm-ups) in one process each: our dense
# forward (version 3) first as the baseline, sage version 3 per granularity, version 2
# (VDIT_SAGE_FWD=v2), the quantization launches alone (VDIT_SAGE_FWD=quant), 16-bit P V; then, if
# time is left, bench/attn_sage.sh (dense and sage forward + backward, FA2 and cuDNN) for the
# JSON record. Binaries from BIN (prebuilt here with the same nvcc 13.0) or built.
set -u
. "$(dirname "$0")/device_env.sh"
if [ ! -x "$BIN/vdit" ]; then
  BIN=build-gpu
  cmake -S . -B "$BIN" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$OUT/build.log" 2>&1
  cmake --build "$BIN" -j16 --target vdit_cli test_attn_sage_gpu >> "$OUT/build.log" 2>&1 ||
    { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
  cp "$BIN/tests/test_attn_sage_gpu" "$BIN/" 2>/dev/null
fi
echo "build/setup done at $(( $(date +%s) - start )) s"
timeout 150 "$BIN/test_attn_sage_gpu" > "$OUT/validate.log" 2>&1
vrc=$?
echo "test_attn_sage_gpu exit $vrc at $(( $(date +%s) - start )) s"
grep -E "FAIL|fail|error" "$OUT/validate.log" | head -20
tail -3 "$OUT/validate.log"
if [ $vrc -ne 0 ] && [ "${FORCE_BENCH:-0}" != 1 ]; then echo "validation failed: no timing"; exit 1; fi
: > "$OUT/bench.jsonl"
bench() { # label, env..., args...
  local label=$1; shift
  env "$@" 2>> "$OUT/full.log" | sed "s/^{/{\"label\": \"$label\", /" >> "$OUT/bench.jsonl"
}
bench dense timeout 60 "$BIN/vdit" bench attn --method dense --device cuda $SHAPE --forward-only --repeat "$REPEAT" --warmup 2 --json
for gran in block thread warp; do
  bench "v3-$gran" timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --sage-gran $gran --repeat "$REPEAT" --warmup 2 --json
done
for gran in block thread; do
  bench "v2-$gran" VDIT_SAGE_FWD=v2 timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --sage-gran $gran --repeat "$REPEAT" --warmup 2 --json
done
bench quant-v2-half VDIT_SAGE_FWD=quant timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --sage-pv half --repeat "$REPEAT" --warmup 2 --json
bench quant-block VDIT_SAGE_FWD=quant timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --repeat "$REPEAT" --warmup 2 --json
bench half-block timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --sage-pv half --repeat "$REPEAT" --warmup 2 --json
bench dense-again timeout 60 "$BIN/vdit" bench attn --method dense --device cuda $SHAPE --forward-only --repeat "$REPEAT" --warmup 2 --json
echo "forward timings done at $(( $(date +%s) - start )) s"
python3 - "$OUT/bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def ms(r):
    return (r.get("fwd") or {}).get("ms")
base = next((ms(r) for r in rows if r["label"] == "dense"), None)
for r in rows:
    m = ms(r)
    print(f'{r["label"]:14s} {m} ms' + (f'  x dense {base / m:.3f}' if base and m else ''))
PY
if [ $(( $(date +%s) - start )) -lt "${FULL_BEFORE:-200}" ]; then
  full=$(mktemp -d) # its many files stay here: a device call returns at most 8
  REPEAT=10 WARMUP=2 OUT="$full" VDIT="$BIN/vdit" timeout 200 bash bench/attn_sage.sh >> "$OUT/full.log" 2>&1
  echo "attn_sage.sh exit $? at $(( $(date +%s) - start )) s"
  cat "$full/bench.log" >> "$OUT/full.log" 2>/dev/null
  cp "$full/attn-sage.json" "$full/summary.txt" "$OUT/" 2>/dev/null
  cat "$full/summary.txt" 2>/dev/null
fi
if [ $(( $(date +%s) - start )) -lt "${NCU_BEFORE:-150}" ] && command -v ncu > /dev/null; then
  # one launch of the version 3 kernel (per-block granularity) under ncu: where the time goes
  timeout 90 ncu --kernel-name regex:sage_forward_tma --launch-count 1 --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats --section Occupancy \
    "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only --repeat 1 --warmup 0 > "$OUT/ncu.txt" 2>&1
  echo "ncu exit $? at $(( $(date +%s) - start )) s"
  grep -E "Duration|Throughput|Issue Slots|Warp Cycles Per Issued|Stall|Executed Ipc|SM Busy|Registers" "$OUT/ncu.txt" | head -30
fi
