#!/usr/bin/env bash
# Cluster candidates against the kept code in one device call (round 18's lead run): binaries
# built off the device (Release, sm_90a, stripped; as bins.tgz of attn_cluster_round16_device.sh):
# BINS (default bins.tgz, the kept code) and CAND (default bins-cand.tgz, the candidate). CANDS
# names the settings (default "cand"): label[@tarball][:VAR=value[,VAR=value]], where @tarball runs
# that tarball's binaries instead of CAND's (e.g. a second branch's build) and VAR=value is a lab
# switch. Each setting's GPU tests (TESTS, default test_attn_cluster_probe_gpu and
# test_attn_cluster_gpu) run first, all at once, each within TEST_TIMEOUT s (default 90); a setting
# is timed only if all its tests pass: our dense forward, then ROUNDS rounds (default 1) of ear at
# 0.1 with the kept binaries and ear at BUDGETS (default 0.1 0.3 0.5) with each setting, then (with
# one round) ear at 0.1 kept again, with SVG=1 svg at 0.1 kept and the first setting that passed,
# dense again (`--gpu-routing --warm --quality`, video inputs, B=1, H=12, S=32760, D=128, bf16,
# REPEAT=3 WARMUP=1). Logs (tests.log, bench.log, env.txt), round.jsonl and the summary under $OUT:
# each run's clustering + routing (the stage sum), then the medians over the rounds.
# Usage (from the folder holding the tarballs and bench/):
#   OUT=dir [CANDS="cand cand_w4:VDIT_EAR_PROBE_WARPS=4 alt@bins-alt.txz"] [BUDGETS=0.1] [ROUNDS=3] \
#     [SVG=1] [TESTS="..."] [TEST_TIMEOUT=60] bash bench/attn_cluster_ab_device.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out" build-kept
start=$(date +%s)
cands="${CANDS:-cand}"
cand_env() { # the setting's VAR=value words (label[@tarball]:VAR=value,VAR=value)
  case $1 in *:*) echo "${1#*:}" | tr , ' ' ;; esac
}
cand_label() { local x=${1%%:*}; echo "${x%%@*}"; }
cand_dir() { echo "build-$(cand_label "$1")"; }
tar xf "${BINS:-bins.tgz}" -C build-kept || exit 1
for c in $cands; do # each setting's binaries in build-<label>
  x=${c%%:*}
  case $x in *@*) tb=${x#*@} ;; *) tb=${CAND:-bins-cand.tgz} ;; esac
  mkdir -p "$(cand_dir "$c")" && tar xf "$tb" -C "$(cand_dir "$c")" || exit 1
done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/env.txt" 2>&1
# every setting's tests at once (their CPU references on separate cores; nothing is timed yet); their
# logs end up in one file, $out/tests.log (a device call returns at most 8 files)
logs=$(mktemp -d)
pids=()
for c in $cands; do
  for t in ${TESTS:-test_attn_cluster_probe_gpu test_attn_cluster_gpu}; do
    env $(cand_env "$c") timeout "${TEST_TIMEOUT:-90}" stdbuf -oL "$(cand_dir "$c")/$t" > "$logs/$(cand_label "$c")_$t.log" 2>&1 &
    pids+=($!)
  done
done
passed="" i=0
for c in $cands; do
  ok=1
  for t in ${TESTS:-test_attn_cluster_probe_gpu test_attn_cluster_gpu}; do
    wait "${pids[$i]}"
    rc=$? i=$((i + 1))
    echo "$(cand_label "$c") ($(cand_env "$c")) $t: exit $rc ($(( $(date +%s) - start )) s)"; tail -1 "$logs/$(cand_label "$c")_$t.log"
    [ $rc = 0 ] || ok=0
  done
  [ $ok = 1 ] && passed="$passed $c"
done
for f in "$logs"/*.log; do echo "=== $(basename "$f")"; cat "$f"; done > "$out/tests.log"
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
run() { # label, binary folder, then flags (the label's lab switch, if any, in the environment)
  local label=$1 dir=$2; shift 2
  env $(cand_env "$label") timeout 40 "$dir/vdit" bench attn "$@" "${common[@]}" 2>> "$out/bench.log" |
    sed "s/^{/{\"which\": \"$(cand_label "$label")\", /" || echo "bench failed: $label $*" >&2
}
{
  run dense build-kept --method dense
  for round in $(seq "${ROUNDS:-1}"); do
    run kept build-kept --method ear --budget 0.1 --gpu-routing --warm --quality
    for c in $cands; do
      case " $passed " in
        *" $c "*) for x in ${BUDGETS:-0.1 0.3 0.5}; do run "$c" "$(cand_dir "$c")" --method ear --budget "$x" --gpu-routing --warm --quality; done ;;
        *) [ "$round" = 1 ] && echo "candidate $(cand_label "$c") not timed: its tests failed" >&2 ;;
      esac
    done
  done
  [ "${ROUNDS:-1}" = 1 ] && run kept build-kept --method ear --budget 0.1 --gpu-routing --warm --quality
  if [ "${SVG:-0}" = 1 ]; then
    run kept build-kept --method svg --budget 0.1 --gpu-routing --warm --quality
    for c in $passed; do run "$c" "$(cand_dir "$c")" --method svg --budget 0.1 --gpu-routing --warm --quality; break; done
  fi
  run dense build-kept --method dense
} > "$out/round.jsonl"
python3 -c '
import json, statistics, sys
keys = ("kmeans_assign", "kmeans_sort", "kmeans_means", "prepare", "mass", "probe_scores", "probe_err", "aggregate", "select")
runs = {}
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line); st = o.get("stages_ms", {}); q = o.get("o_vs_dense", {})
    cr = sum(st.get(k, 0.0) for k in keys)
    print(i, o["which"], o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""),
          "clustering+routing %.3f" % cr if st else "", " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
    runs.setdefault((o["which"], o["method"], o.get("budget", "")), []).append((o["fwd"]["ms"], cr, st))
print("medians over the runs of each (setting, method, budget):")
for (w, m, b), r in runs.items():
    st = {k: statistics.median(x[2].get(k, 0.0) for x in r) for k in keys}
    print(w, m, b, "n=%d" % len(r), "fwd %.3f" % statistics.median(x[0] for x in r),
          "clustering+routing %.3f" % statistics.median(x[1] for x in r), " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' "$out/round.jsonl"
echo "total: $(( $(date +%s) - start )) s"
