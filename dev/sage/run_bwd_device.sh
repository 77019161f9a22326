#!/bin/bash
# dev/sage: one device call for the SageBwd CUDA backward (attn_sage_backward.cu). Validates
# (test_attn_sage_gpu: forward and backward against the CPU emulation, both dQ paths, and the
# fp64 acceptance; `vdit attn check --device cuda` backward on plain / outlier / video inputs at
# S = 2048), then times at B=1 H=12 S=32760 D=128 (bf16, (B, H, S, D), CUDA events) through
# bench/attn_sage.sh (our dense forward and backward, sage forward and backward, PyTorch FA2 and
# cuDNN, same call), plus the sage backward's variants (VDIT_SAGE_BWD_DQ=bulk|atomic,
# VDIT_SAGE_BWD_SPLIT=1|0; the default atomic/1 timed again last, for the spread; run 3 had
# bulk as the default, so its order differs).
# Binaries: BIN (default dev/sage/bin: vdit and test_attn_sage_gpu built here with the same
# nvcc 13.0, Release, and carried); without them the engine is built on the device (-j16).
# Logs and JSON under $OUT/raw, packed at the end into $OUT/raw.tgz (the device tool returns at
# most 8 files), with attn-sage.json beside it.
set -u
cd "$(dirname "$0")/../.."
TOP="${OUT:-dev/sage/out}"
OUT="$TOP/raw"
mkdir -p "$OUT"
BIN="${BIN:-dev/sage/bin}"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
} > "$OUT/env.txt" 2>&1
if [ ! -x "$BIN/vdit" ]; then
  BIN=build-dev
  cmake -S . -B "$BIN" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$OUT/configure.log" 2>&1
  cmake --build "$BIN" -j16 --target vdit_cli test_attn_sage_gpu > "$OUT/build.log" 2>&1 ||
    { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
  cp "$BIN/tests/test_attn_sage_gpu" "$BIN/" 2>/dev/null
fi
start=$(date +%s)
timeout 150 "$BIN/test_attn_sage_gpu" > "$OUT/validate.log" 2>&1
vrc=$?
echo "test_attn_sage_gpu exit $vrc ($(( $(date +%s) - start )) s)" | tee -a "$OUT/validate.log"
grep -E "FAIL|fail" "$OUT/validate.log" | head -20
grep -E "^acceptance" "$OUT/validate.log"
if [ $vrc -eq 124 ] || [ $vrc -eq 137 ]; then
  echo "validation timed out: no timings"
  tar czf "$TOP/raw.tgz" -C "$TOP" raw && rm -rf "$OUT"
  exit $vrc
fi
if [ $vrc -ne 0 ]; then # a small case under memcheck, for the next fix
  timeout 90 compute-sanitizer --tool memcheck --print-limit 20 "$BIN/vdit" attn check --method sage --device cuda \
    --seq 300 --heads 1 --dim 128 > "$OUT/memcheck.log" 2>&1
  tail -30 "$OUT/memcheck.log"
fi
for inputs in plain outlier video; do
  timeout 60 "$BIN/vdit" attn check --method sage --device cuda --seq 2048 --heads 2 --dim 128 --inputs "$inputs" \
    --json >> "$OUT/check.jsonl" 2>> "$OUT/check.log"
done
python3 - "$OUT/check.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    if not line.strip().startswith("{"):
        continue
    r = json.loads(line)
    cells = []
    for k in ("o", "dq", "dk", "dv"):
        v = r.get(k) or r.get("errors", {}).get(k) or {}
        cells.append(f"{k} {v.get('rel_l1', float('nan')):.4f}/{v.get('cos', float('nan')):.5f}")
    print("check", r.get("inputs"), " ".join(cells), "bwd_ms", r.get("backward_ms"))
EOF
start=$(date +%s)
OUT="$OUT" VDIT="$BIN/vdit" REPEAT="${REPEAT:-10}" WARMUP="${WARMUP:-2}" timeout 240 bash bench/attn_sage.sh
echo "bench $(( $(date +%s) - start )) s"
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat "${REPEAT:-10}" --warmup "${WARMUP:-2}" --json)
: > "$OUT/variants.jsonl"
for v in "bulk 1" "atomic 0" "bulk 0" "atomic 1"; do
  set -- $v
  echo "{\"variant\": \"dq=$1 split=$2\"}" >> "$OUT/variants.jsonl"
  VDIT_SAGE_BWD_DQ=$1 VDIT_SAGE_BWD_SPLIT=$2 timeout 60 "$BIN/vdit" bench attn --method sage "${common[@]}" \
    >> "$OUT/variants.jsonl" 2>> "$OUT/bench.log"
done
python3 - "$OUT/ours.jsonl" "$OUT/variants.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip().startswith("{")]
dense = next(r for r in rows if r.get("method") == "dense")
tag = "default (dq=atomic split=1)"
for r in rows:
    if "variant" in r:
        tag = r["variant"]
        continue
    b = r.get("bwd")
    print(r["method"], r.get("sage", {}), tag if r["method"] == "sage" else "", "fwd", r["fwd"]["ms"], "bwd",
          b and b["ms"], "bwd x dense", b and round(dense["bwd"]["ms"] / b["ms"], 3))
EOF
cp "$OUT/attn-sage.json" "$TOP/" 2>/dev/null
tar czf "$TOP/raw.tgz" -C "$TOP" raw && rm -rf "$OUT"
exit $vrc
