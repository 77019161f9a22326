#!/bin/bash
# One device call: build (unless bin/attn_dev, built with the same nvcc 13.0 elsewhere, is
# carried along; REBUILD=1 forces), validate every version against the fp64 reference, time ours
# and the torch peers (FlashAttention-2 and cuDNN backends) in the same call, and print a short
# summary last. Everything goes under $OUT (env.txt, build.log, diag.txt, validate.log,
# bench.log, ours.json, peer.json, summary.txt).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
OUT="${OUT:-$HERE/out}"
mkdir -p "$OUT"
ROOT="${ROOT:-$HERE/../..}"
REPS="${REPS:-20}"

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit --format=csv
  nvcc --version | tail -2
  python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
} > "$OUT/env.txt" 2>&1

if [ "${REBUILD:-0}" = 1 ] || [ ! -x bin/attn_dev ]; then
  echo "building"
  make -j16 ROOT="$ROOT" > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
fi
cat bin/*.resources.txt 2>/dev/null | c++filt > bin/resources.txt
{
  echo "== compiler resource report (registers, spills, stack)"
  grep -E "Function properties|spill|registers" bin/resources.txt 2>/dev/null | sed 's/ptxas info    : //' | paste - - - 2>/dev/null
  echo "== SASS instruction counts"
  cuobjdump -sass bin/attn_dev 2>/dev/null | python3 sass_stats.py | c++filt
} >> "$OUT/env.txt" 2>&1

timeout 30 ./bin/attn_dev diag > "$OUT/diag.txt" 2>&1
drc=$?
if [ $drc -ne 0 ]; then echo "== diag exit $drc"; tail -40 "$OUT/diag.txt"; [ $drc -eq 124 ] && exit 1; fi
timeout "${VALIDATE_TIMEOUT:-150}" ./bin/attn_dev validate --log "$OUT/validate.log" > "$OUT/validate.out" 2>&1
echo "validate exit $?" >> "$OUT/validate.out"
cat "$OUT/validate.out" >> "$OUT/validate.log"
rm -f "$OUT/validate.out"

if ! grep -q "validate exit 0" "$OUT/validate.log" && [ "${FORCE_BENCH:-0}" != 1 ]; then
  echo "== validation failed: no timing (FORCE_BENCH=1 times anyway)"
  grep -E "FAIL|error|illegal|exit" "$OUT/validate.log" | head -40
  grep -B3 FAIL "$OUT/validate.log" | head -30
  head -80 "$OUT/diag.txt"
  exit 1
fi
# QUICK=1: forward only, versions 2 and 3, shapes (1,12,32760,128) and (2,24,8192,64), peers on those
QFLAG=""; PSHAPES="1,12,32760,128 1,40,32760,128 2,24,8192,64"
if [ "${QUICK:-0}" = 1 ]; then QFLAG="--quick"; PSHAPES="1,12,32760,128 2,24,8192,64"; fi
timeout 240 ./bin/attn_dev bench --json "$OUT/ours.json" --reps "$REPS" $QFLAG > "$OUT/bench.log" 2>&1
echo "bench exit $?" >> "$OUT/bench.log"
# shellcheck disable=SC2086
PYTHONUNBUFFERED=1 timeout 200 python3 "$ROOT/bench/attn_peer.py" --json "$OUT/peer.json" --reps "$REPS" --shapes $PSHAPES >> "$OUT/bench.log" 2>&1
echo "peer exit $?" >> "$OUT/bench.log"

python3 summarize.py "$OUT/ours.json" "$OUT/peer.json" > "$OUT/summary.txt" 2>&1

echo "== env";      head -3 "$OUT/env.txt"
echo "== failures"; grep -E "FAIL|error|illegal" "$OUT/validate.log" | head -20
echo "== validate"; tail -3 "$OUT/validate.log"
echo "== bench";    cat "$OUT/bench.log" | head -40
echo "== summary";  cat "$OUT/summary.txt"
