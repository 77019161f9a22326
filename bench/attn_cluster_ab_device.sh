#!/usr/bin/env bash
# Cluster candidates against the kept code in one device call: binaries built off the device
# (Release, sm_90a, stripped; an archive of vdit and the cluster GPU tests, any compression tar
# reads): BINS (default bins.tgz, the kept code) and CAND (default bins-cand.tgz, the candidate).
# The candidate's GPU tests (TESTS, default test_attn_cluster_kmeans_gpu test_attn_cluster_probe_gpu
# test_attn_cluster_gpu; those in CAND) run first, all at once, under each of the candidate's
# settings (CANDS: labels, each with an optional ":VAR=value[,VAR=value]" lab switch, default
# "cand"); a setting is timed only if all its tests pass. Then ROUNDS (default 1) rounds of: ear
# at 0.1 with the kept binaries, ear at BUDGETS (default 0.1 0.3 0.5) with each passed setting;
# our dense forward first and last, the kept code once more at the end (`--gpu-routing --warm
# --quality`, video inputs, B=1, H=12, S=32760, D=128, bf16, REPEAT=3 WARMUP=1). Logs, round.jsonl
# and the summary under $OUT.
# Usage (from the folder holding the archives and bench/):
#   OUT=dir [CANDS="cand cand_w4:VDIT_EAR_PROBE_WARPS=4"] [BUDGETS=0.1] [ROUNDS=3] bash bench/attn_cluster_ab_device.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out" build-kept build-cand
start=$(date +%s)
tar xf "${BINS:-bins.tgz}" -C build-kept && tar xf "${CAND:-bins-cand.tgz}" -C build-cand || exit 1
echo "unpacked ($(( $(date +%s) - start )) s)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/env.txt" 2>&1
cands="${CANDS:-cand}"
tests=""
for t in ${TESTS:-test_attn_cluster_kmeans_gpu test_attn_cluster_probe_gpu test_attn_cluster_gpu}; do
  [ -x "build-cand/$t" ] && tests="$tests $t"
done
cand_env() { # the setting's VAR=value words (label:VAR=value,VAR=value)
  case $1 in *:*) echo "${1#*:}" | tr , ' ' ;; esac
}
# every setting's tests at once (their CPU references on separate cores; nothing is timed yet)
pids=()
for c in $cands; do
  for t in $tests; do
    env $(cand_env "$c") timeout 90 stdbuf -oL "build-cand/$t" > "$out/${c%%:*}_$t.log" 2>&1 &
    pids+=($!)
  done
done
passed="" i=0
for c in $cands; do
  ok=1
  for t in $tests; do
    wait "${pids[$i]}"
    rc=$? i=$((i + 1))
    echo "${c%%:*} ($(cand_env "$c")) $t: exit $rc ($(( $(date +%s) - start )) s)"; tail -1 "$out/${c%%:*}_$t.log"
    [ $rc = 0 ] || ok=0
  done
  [ $ok = 1 ] && passed="$passed $c"
done
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
run() { # label, binary folder, then flags (the label's lab switch, if any, in the environment)
  local label=$1 dir=$2; shift 2
  env $(cand_env "$label") timeout 40 "$dir/vdit" bench attn "$@" "${common[@]}" 2>> "$out/bench.log" |
    sed "s/^{/{\"which\": \"${label%%:*}\", /" || echo "bench failed: $label $*" >&2
}
{
  run dense build-kept --method dense
  for r in $(seq "${ROUNDS:-1}"); do
    run kept build-kept --method ear --budget 0.1 --gpu-routing --warm --quality
    for c in $cands; do
      case " $passed " in
        *" $c "*) for x in ${BUDGETS:-0.1 0.3 0.5}; do run "$c" build-cand --method ear --budget "$x" --gpu-routing --warm --quality; done ;;
        *) [ "$r" = 1 ] && echo "candidate ${c%%:*} not timed: its tests failed" >&2 ;;
      esac
    done
  done
  run kept build-kept --method ear --budget 0.1 --gpu-routing --warm --quality
  run dense build-kept --method dense
} > "$out/round.jsonl"
python3 -c '
import json, sys
keys = ("kmeans_assign", "kmeans_sort", "kmeans_means", "prepare", "mass", "probe_scores", "probe_err", "aggregate", "select")
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line); st = o.get("stages_ms", {}); q = o.get("o_vs_dense", {})
    cr = sum(st.get(k, 0.0) for k in keys)
    print(i, o["which"], o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""),
          "clustering+routing %.3f" % cr if st else "", " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' "$out/round.jsonl"
echo "total: $(( $(date +%s) - start )) s"
