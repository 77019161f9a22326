#!/usr/bin/env bash
# SLA2's forward variants on a GPU machine in one call (branches sla11, sla12; the code keeps no VDIT_SLA_FWD switch between rounds): the
# binaries (vdit, test_attn_sla_gpu) from $PREBUILT (plain or .gz, built on a machine with the
# same CUDA) when they run there, else a Release build of those two targets; memcheck of a
# small check (3 x 4 blocks) and the GPU test for each variant in $TESTED; an A/B of the forward
# at 97% (forward only, the variants of $VARIANTS alternating with our dense forward, $ROUNDS
# rounds); then, unless BENCH=0, bench/attn_sla.sh (dense in the same call) with the fastest
# variant. A variant is NAME (VDIT_SLA_FWD=NAME, + for spaces; default: unset) or NAME@alt (the
# same with the second build in $PREBUILT/alt). Logs and JSON go to $OUT (at most 8 files).
# MEMCHECK_FIRST=N runs memcheck on the first N tested variants only (default all).
# EXTRA_TESTS="test_a test_b": other GPU tests of the default build ($PREBUILT/NAME.gz) run once
# first (e.g. the executor's other users when its kernel changed).
# BEST=NAME benches that variant instead of the A/B's fastest.
# CHECK_HEADS=N: heads of the 4000 x 4500 check (default 2; 6 gives 192 query blocks, more than the
# H200's 132 SMs, so the persistent executor's CTAs run several each).
# Usage: bash tools/device/sla_ab.sh   (env: OUT, PREBUILT, TESTED, VARIANTS, ROUNDS, BENCH, MEMCHECK_FIRST, SPARSITIES, EXTRA_TESTS, BEST, CHECK_HEADS)
set -uo pipefail
cd "$(dirname "$0")/../.."
pre="${PREBUILT:-prebuilt}"
out="${OUT:-out}"
tested="${TESTED:-default}"
variants="${VARIANTS:-default}"
rounds="${ROUNDS:-2}"
mkdir -p "$out" build-gpu/tests build-gpu/logs
{
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
slug=$(echo "$gpu" | tr 'A-Z' 'a-z' | sed -e 's/^nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//')
echo "slug $slug"
[ -f "$pre/vdit.gz" ] && gunzip -f "$pre/vdit.gz" "$pre/test_attn_sla_gpu.gz" && chmod +x "$pre/vdit" "$pre/test_attn_sla_gpu"
if [ -f "$pre/alt/vdit.gz" ]; then # a second build: variants NAME@alt run it
  mkdir -p build-alt/tests && gunzip -c "$pre/alt/vdit.gz" > build-alt/vdit &&
    gunzip -c "$pre/alt/test_attn_sla_gpu.gz" > build-alt/tests/test_attn_sla_gpu && chmod +x build-alt/vdit build-alt/tests/test_attn_sla_gpu
fi
# a variant's VDIT_SLA_FWD value (NAME, + for spaces, default = unset) and its build
var_env() { local v="${1%@alt}"; [ "$v" = default ] && echo "" || echo "${v//+/ }"; }
var_bin() { case "$1" in *@alt) echo build-alt ;; *) echo build-gpu ;; esac; }
if [ -x "$pre/vdit" ] && "$pre/vdit" info > /dev/null 2>&1; then
  cp "$pre/vdit" build-gpu/vdit && cp "$pre/test_attn_sla_gpu" build-gpu/tests/ && echo "prebuilt binaries"
else
  echo "building"; t0=$(date +%s)
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > build-gpu/logs/build.log 2>&1 &&
    cmake --build build-gpu -j16 --target vdit_cli test_attn_sla_gpu >> build-gpu/logs/build.log 2>&1 ||
    { grep -E "error" build-gpu/logs/build.log | head -30; exit 1; }
  echo "built in $(( $(date +%s) - t0 )) s"
fi
: > "$out/tests.log"
failed=""
for t in ${EXTRA_TESTS:-}; do
  gunzip -c "$pre/$t.gz" > "build-gpu/tests/$t" && chmod +x "build-gpu/tests/$t"
  echo "== $t" | tee -a "$out/tests.log"
  timeout 300 "./build-gpu/tests/$t" >> "$out/tests.log" 2>&1; rc=$?; echo "$t exit $rc" | tee -a "$out/tests.log"
  [ $rc != 0 ] && failed="$failed $t"
done
first=1
for v in $tested; do  # memcheck on the first $MEMCHECK_FIRST only
  e=$(var_env "$v"); bd=$(var_bin "$v")
  if [ "$first" -le "${MEMCHECK_FIRST:-99}" ]; then
  echo "== memcheck ($v, S 300 x 400: 3 x 4 blocks), VDIT_SLA_FWD='$e'"
  VDIT_SLA_FWD="$e" timeout 90 compute-sanitizer --tool memcheck --print-limit 20 ./$bd/vdit attn check --method sla \
    --device cuda --seq 300 --seq-k 400 --heads 2 --dim 128 --sparsity 0.5 --inputs video > build-gpu/logs/memcheck.log 2>&1
  echo "memcheck exit $?"; grep -E "ERROR SUMMARY|Invalid|result" build-gpu/logs/memcheck.log | head -6
  fi
  first=$((first + 1))
  echo "== test_attn_sla_gpu ($v), VDIT_SLA_FWD='$e'" | tee -a "$out/tests.log"
  VDIT_SLA_FWD="$e" timeout 150 ./$bd/tests/test_attn_sla_gpu >> "$out/tests.log" 2>&1; rc=$?; echo "test exit $rc" | tee -a "$out/tests.log"
  [ $rc != 0 ] && failed="$failed $v"
  grep -E "^case|CPU vs GPU|FAIL|passed|failed" "$out/tests.log" | tail -7
  echo "== check at S 4000 x 4500 (32 x 36 blocks, ${CHECK_HEADS:-2} heads), VDIT_SLA_FWD='$e'"
  VDIT_SLA_FWD="$e" timeout 90 ./$bd/vdit attn check --method sla --device cuda --seq 4000 --seq-k 4500 --heads "${CHECK_HEADS:-2}" --dim 128 \
    --sparsity 0.9 --inputs video 2>&1 | tail -4
done
echo "failed variants:${failed:- none}"
echo "== A/B forward at 97% (forward only), our dense forward in each round"
: > "$out/ab.jsonl"
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128 --repeat 20 --warmup 3 --json)
for round in $(seq "$rounds"); do
  timeout 120 ./build-gpu/vdit bench attn --method dense --forward-only "${common[@]}" 2>>"$out/bench.log" |
    sed "s/^{/{\"path\": \"dense\", /" >> "$out/ab.jsonl"
  for v in $variants; do
    e=$(var_env "$v"); bd=$(var_bin "$v")
    VDIT_SLA_FWD="$e" timeout 120 ./$bd/vdit bench attn --method sla --sparsity 0.97 --inputs video --router-dim 32 \
      --forward-only "${common[@]}" 2>>"$out/bench.log" | sed "s/^{/{\"path\": \"$v\", /" >> "$out/ab.jsonl"
  done
done
python3 - "$out/ab.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
dense = [o["fwd"]["ms"] for o in rows if o["path"] == "dense"]
print("dense fwd ms:", " ".join(f"{x:.3f}" for x in dense))
for o in rows:
    if o["path"] == "dense": continue
    st = o.get("stages_ms", {})
    print(f"{o['path']:22s} fwd {o['fwd']['ms']:.4f} ({min(dense) / o['fwd']['ms']:.2f}-{max(dense) / o['fwd']['ms']:.2f}x) " +
          " ".join(f"{k} {v:.4f}" for k, v in st.items()))
PY
[ -n "${BEST:-}" ] && echo "bench variant fixed: BEST=$BEST"
[ -n "${BEST:-}" ] || best=$(python3 - "$out/ab.jsonl" "$failed" <<'PY'
import json, sys, statistics, collections
bad = sys.argv[2].split()
def ok(v):  # a variant whose test failed is ruled out
    return v not in bad
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["path"] != "dense" and ok(o["path"]): t[o["path"]].append(o["fwd"]["ms"])
print(min((statistics.mean(v), k) for k, v in t.items())[1] if t else "default")
PY
)
best="${BEST:-$best}"
[ "${BENCH:-1}" = 0 ] && exit 0
e=$(var_env "$best"); bd=$(var_bin "$best")
echo "== bench ($best, VDIT_SLA_FWD='$e': the fastest tested variant of the A/B)"
VDIT_SLA_FWD="$e" OUT="$out" BUILD_DIR=$bd REPEAT=20 WARMUP=3 SPARSITIES="${SPARSITIES:-0.95 0.97}" RESULT="bench/results/$slug/attn-sparse.json" \
  bash bench/attn_sla.sh 2>&1
} 2>&1 | tee "$out/log"
