#!/usr/bin/env bash
# SLA2's forward variants on a GPU machine in one call (branch sla10's device script): the
# binaries (vdit, test_attn_sla_gpu) from $PREBUILT (plain or .gz, built on a machine with the
# same CUDA) when they run there, else a Release build of those two targets; memcheck of a
# small check (3 x 4 blocks) and the GPU test for the default and other VDIT_SLA_FWD variants;
# an A/B of the forward at 97% (forward only, variants alternating, two rounds); then
# bench/attn_sla.sh (dense in the same call) with the fastest non-legacy variant. Logs and JSON
# go to $OUT (at most 6 files).
# Usage: bash tools/device/sla_ab.sh   (env: OUT, PREBUILT)
set -uo pipefail
cd "$(dirname "$0")/../.."
pre="${PREBUILT:-prebuilt}"
out="${OUT:-out}"
mkdir -p "$out" build-gpu/tests build-gpu/logs
{
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
slug=$(echo "$gpu" | tr 'A-Z' 'a-z' | sed -e 's/^nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//')
echo "slug $slug"
[ -f "$pre/vdit.gz" ] && gunzip -f "$pre/vdit.gz" "$pre/test_attn_sla_gpu.gz" && chmod +x "$pre/vdit" "$pre/test_attn_sla_gpu"
if [ -x "$pre/vdit" ] && "$pre/vdit" info > /dev/null 2>&1; then
  cp "$pre/vdit" build-gpu/vdit && cp "$pre/test_attn_sla_gpu" build-gpu/tests/ && echo "prebuilt binaries"
else
  echo "building"; t0=$(date +%s)
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/build.log" 2>&1 &&
    cmake --build build-gpu -j16 --target vdit_cli test_attn_sla_gpu >> "$out/build.log" 2>&1 ||
    { grep -E "error" "$out/build.log" | head -30; exit 1; }
  echo "built in $(( $(date +%s) - t0 )) s"
fi
for v in "" prep3; do
  echo "== memcheck (S 300 x 400: 3 x 4 blocks), VDIT_SLA_FWD='$v'"
  VDIT_SLA_FWD="$v" timeout 90 compute-sanitizer --tool memcheck --print-limit 20 ./build-gpu/vdit attn check --method sla \
    --device cuda --seq 300 --seq-k 400 --heads 2 --dim 128 --sparsity 0.5 --inputs video > build-gpu/logs/memcheck.log 2>&1
  echo "memcheck exit $?"; grep -E "ERROR SUMMARY|Invalid|result" build-gpu/logs/memcheck.log | head -6
done
n=0
for v in "" legacy prep3; do # the third covers every variant's kernels
  n=$((n + 1))
  echo "== test_attn_sla_gpu, VDIT_SLA_FWD='$v'"
  VDIT_SLA_FWD="$v" timeout 150 ./build-gpu/tests/test_attn_sla_gpu > build-gpu/logs/test-gpu-$n.log 2>&1; rc=$?; echo "test exit $rc"
  [ $n = 3 ] && [ $rc != 0 ] && touch build-gpu/logs/variants-failed
  grep -E "^case|passed|FAIL" build-gpu/logs/test-gpu-$n.log | tail -6
done
echo "== check at S 4000 x 4500 (32 x 36 blocks), new forward"
timeout 60 ./build-gpu/vdit attn check --method sla --device cuda --seq 4000 --seq-k 4500 --heads 2 --dim 128 --sparsity 0.9 \
  --inputs video 2>&1 | tail -12
echo "== A/B forward at 97% (forward only)"
: > "$out/ab.jsonl"
for round in 1 2; do
  for path in legacy default prep3; do
    VDIT_SLA_FWD="$path" timeout 120 ./build-gpu/vdit bench attn --method sla --sparsity 0.97 --inputs video --router-dim 32 \
      --forward-only --device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128 \
      --repeat 20 --warmup 3 --json 2>>"$out/bench.log" | sed "s/^{/{\"path\": \"$path\", /" >> "$out/ab.jsonl"
  done
done
python3 - "$out/ab.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l); st = o.get("stages_ms", {})
    print(f"{o['path']:12s} fwd {o['fwd']['ms']:.4f}  " + " ".join(f"{k} {v:.4f}" for k, v in st.items()))
PY
best=$(python3 - "$out/ab.jsonl" <<'PY'
import json, sys, statistics, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    o = json.loads(l); t[o["path"]].append(o["fwd"]["ms"])
print(min((statistics.mean(v), k) for k, v in t.items() if k != "legacy")[1])
PY
)
[ -f build-gpu/logs/variants-failed ] && best=default
[ "$best" = default ] && best=""
echo "== bench (VDIT_SLA_FWD='$best': the fastest non-legacy variant of the A/B)"
VDIT_SLA_FWD="$best" OUT="$out" BUILD_DIR=build-gpu REPEAT=20 WARMUP=3 SPARSITIES="0.95 0.97" RESULT="bench/results/$slug/attn-sparse.json" \
  bash bench/attn_sla.sh 2>&1
} 2>&1 | tee "$out/log"
