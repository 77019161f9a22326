#!/bin/bash
# dev/sage: one device call. Validates the sage CUDA forward (test_attn_sage_gpu: CUDA against
# the CPU emulation and the fp64 acceptance; `vdit attn check --method sage --device cuda` on
# plain, outlier and video inputs), then, if that passed (FORCE_BENCH=1 times anyway), times
# every forward variant (VDIT_SAGE_VARIANT, read by the engine builds of runs 1 and 2 only: the
# engine now has variant 0 alone, so VARIANTS=0 with a current build) and granularity at B=1 H=12 S=32760 D=128 (bf16,
# (B, H, S, D) layout, CUDA events), our dense bf16 forward and backward, and PyTorch's FA2 and
# cuDNN (bench/attn_peer.py) in the same call. Logs and JSON lines under $OUT.
# Binaries: BIN (default dev/sage/bin, prebuilt with the same nvcc 13.0 and carried) holding
# vdit, test_attn_sage_gpu and test_attn_gpu; without them the engine is built here.
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-dev/sage/out}"
mkdir -p "$OUT"
BIN="${BIN:-dev/sage/bin}"
REPEAT="${REPEAT:-10}"
SHAPE="--batch 1 --heads 12 --seq 32760 --dim 128 --layout bhsd --dtype bf16"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nvcc --version | tail -1
  python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
} > "$OUT/env.txt" 2>&1
if [ ! -x "$BIN/vdit" ]; then
  BIN=build-dev
  cmake -S . -B "$BIN" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$OUT/configure.log" 2>&1
  cmake --build "$BIN" -j16 --target vdit_cli test_attn_sage_gpu test_attn_gpu > "$OUT/build.log" 2>&1 ||
    { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
  cp "$BIN/tests/test_attn_sage_gpu" "$BIN/tests/test_attn_gpu" "$BIN/" 2>/dev/null
fi
vrc=0
for variant in ${VARIANTS:-0 1 2}; do
  VDIT_SAGE_VARIANT=$variant timeout 120 "$BIN/test_attn_sage_gpu" >> "$OUT/validate.log" 2>&1
  rc=$?
  echo "test_attn_sage_gpu variant $variant exit $rc" | tee -a "$OUT/validate.log"
  [ $rc -ne 0 ] && vrc=$rc
done
for inputs in plain outlier video; do
  for gran in block warp thread; do
    for pv in fp8 half; do
      timeout 60 "$BIN/vdit" attn check --method sage --device cuda --forward-only --seq 4096 --heads 2 --dim 128 \
        --inputs "$inputs" --sage-gran "$gran" --sage-pv "$pv" --json >> "$OUT/check.jsonl" 2>&1
    done
  done
done
grep -E "FAIL|failed|error" "$OUT/validate.log" | head -20
if [ $vrc -ne 0 ] && [ "${FORCE_BENCH:-0}" != 1 ]; then echo "validation failed: no timing"; exit 1; fi
: > "$OUT/bench.jsonl"
timeout 120 "$BIN/vdit" bench attn --method dense --device cuda $SHAPE --repeat "$REPEAT" --warmup 2 --json >> "$OUT/bench.jsonl" 2>&1
for variant in ${VARIANTS:-0 1 2}; do
  for gran in block thread warp; do
    VDIT_SAGE_VARIANT=$variant timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only \
      --sage-gran $gran --repeat "$REPEAT" --warmup 2 --json | sed "s/^{/{\"variant\": $variant, /" >> "$OUT/bench.jsonl" 2>&1
  done
  VDIT_SAGE_VARIANT=$variant timeout 60 "$BIN/vdit" bench attn --method sage --device cuda $SHAPE --forward-only \
    --sage-pv half --repeat "$REPEAT" --warmup 2 --json | sed "s/^{/{\"variant\": $variant, /" >> "$OUT/bench.jsonl" 2>&1
done
PYTHONUNBUFFERED=1 timeout 200 python3 bench/attn_peer.py --json "$OUT/peer.json" --reps "$REPEAT" --warmup 2 \
  --shapes 1,12,32760,128 > "$OUT/peer.log" 2>&1
echo "== check (o rel_l1 / cos)"
python3 - "$OUT/check.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except Exception: print(line.strip()[:200]); continue
    s = r.get("sage", {})
    print(f'{r["inputs"]:8s} {s.get("granularity"):7s} {s.get("pv"):5s} o {r["o"]["rel_l1"]:.4f} {r["o"]["cos"]:.6f} lse {r["lse"]["max_err"]:.2e} {"pass" if r["passed"] else "FAIL"}')
PY
echo "== bench"
cat "$OUT/bench.jsonl" | cut -c1-400
echo "== peers"
cat "$OUT/peer.json" 2>/dev/null | head -c 1500
