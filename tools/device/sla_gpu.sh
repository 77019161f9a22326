#!/usr/bin/env bash
# SLA2 on a GPU machine in one call: the binaries in $PREBUILT (vdit, test_attn_sla_gpu, built
# on a machine with the same CUDA) when they run there, else a Release build of just those two
# targets; then a small check under compute-sanitizer's memcheck, the GPU test, and
# bench/attn_sla.sh (dense and SLA2 at B=1, H=12, S=32760, D=128). Logs and JSON go to $OUT.
# NCU=1 adds the kernel durations of one SLA2 forward + backward at 97% (ncu, $OUT/ncu.csv);
# MEMCHECK=0 and FIT=0 skip those parts.
# Usage: bash tools/device/sla_gpu.sh   (env: OUT, PREBUILT, SPARSITIES, REPEAT, WARMUP, NCU, MEMCHECK, FIT)
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-sla-gpu-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
mkdir -p build-gpu/tests
if [ -n "${PREBUILT:-}" ] && "$PREBUILT/vdit" info > /dev/null 2>&1; then
  cp "$PREBUILT/vdit" build-gpu/vdit && cp "$PREBUILT/test_attn_sla_gpu" build-gpu/tests/
  echo "using the prebuilt binaries"
else
  echo "building (prebuilt binaries missing or not runnable here)"
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/build.log" 2>&1 &&
    cmake --build build-gpu -j16 --target vdit_cli test_attn_sla_gpu >> "$out/build.log" 2>&1 ||
    { grep -E "error" "$out/build.log" | head -30; exit 1; }
fi
if [ "${MEMCHECK:-1}" != 0 ]; then
echo "== memcheck (small check)"
timeout 60 compute-sanitizer --tool memcheck --print-limit 20 ./build-gpu/vdit attn check --method sla --device cuda \
  --seq 300 --seq-k 400 --heads 2 --dim 128 --sparsity 0.5 --inputs video > "$out/memcheck.log" 2>&1
echo "memcheck exit $?"; grep -E "ERROR SUMMARY|Invalid|result" "$out/memcheck.log" | head -8
fi
echo "== test_attn_sla_gpu"
timeout 150 ./build-gpu/tests/test_attn_sla_gpu 2>&1 | tee "$out/test-gpu.log"
echo "test exit ${PIPESTATUS[0]}"
echo "== bench"
OUT="$out" BUILD_DIR=build-gpu REPEAT="${REPEAT:-10}" WARMUP="${WARMUP:-2}" SPARSITIES="${SPARSITIES:-0.95 0.97}" \
  bash bench/attn_sla.sh 2>&1
if [ "${NCU:-0}" != 0 ]; then
  echo "== ncu: kernel durations of one SLA2 forward + backward (router gradient on), 97%"
  timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum --csv ./build-gpu/vdit bench attn --method sla \
    --sparsity 0.97 --inputs video --router-dim 32 --device cuda --dtype bf16 --layout bhsd --batch 1 --heads 12 \
    --seq 32760 --dim 128 --repeat 1 --warmup 0 > "$out/ncu.csv" 2>&1
  echo "ncu exit $?"
  python3 - "$out/ncu.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if rows:
    h = rows[0]; ki = h.index("Kernel Name"); vi = h.index("Metric Value"); ui = h.index("Metric Unit")
    tot = collections.OrderedDict()
    for r in rows[1:]:
        name = r[ki].split("(")[0].split("<")[0][-40:]
        v = float(r[vi].replace(",", "")); v = v / 1e3 if r[ui] == "nsecond" else v * (1e3 if r[ui] == "msecond" else 1)
        tot.setdefault(name, []).append(v)
    for k, v in tot.items(): print(f"{k:42s} n={len(v):3d} us: " + " ".join(f"{x:.1f}" for x in v[:8]))
PY
fi
[ "${FIT:-1}" = 0 ] && exit 0
echo "== fit (router + alpha at 95%, S=8192: video from a random and from the pooled-score router, video-heads)"
for run in "video random" "video identity" "video-heads random"; do
  set -- $run
  timeout 60 ./build-gpu/vdit attn fit --method sla --device cuda --inputs "$1" --init "$2" --seq 8192 --heads 2 --dim 128 \
    --sparsity 0.95 --steps 300 --lr 0.01 --json >> "$out/fit.jsonl" 2>&1
  echo "fit $run exit $?"
done
python3 - "$out/fit.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        print(r["inputs"], r["init"], "sparsity", r["achieved_sparsity"], "rel_l1", r["rel_l1"], "alpha", r["alpha_mean"])
    else:
        print(line.rstrip())
PY
