#!/usr/bin/env bash
# Cluster candidates against the kept code in one device call: binaries built off the device
# (Release, sm_90a, stripped; an archive of vdit and the cluster GPU tests, any compression tar
# reads): BINS (default bins.tgz, the kept code) and CAND (default bins-cand.tgz, the candidate).
# Candidate settings (CANDS, default "cand"): label[@archive][:VAR=value[,VAR=value]], the
# archive (default CAND) and an optional lab switch. Each setting's GPU tests (TESTS, default
# test_attn_cluster_kmeans_gpu test_attn_cluster_probe_gpu test_attn_cluster_gpu; those in its
# archive; SKIP_TESTS: label:test words to leave out) run first, all at once; a setting is timed
# only if all its tests pass. Then ROUNDS (default 1) rounds of: ear at 0.1 with the kept
# binaries, ear at BUDGETS (default 0.1 0.3 0.5) with each passed setting; our dense forward first
# and last, the kept code once more at the end unless FINAL_KEPT=0 (`--gpu-routing --warm
# --quality`, video inputs, B=1, H=12, S=32760, D=128, bf16, REPEAT=3 WARMUP=1). Logs, round.jsonl
# and the summary under $OUT (BUNDLE=1: the logs in logs.tgz).
# Usage (from the folder holding the archives and bench/):
#   OUT=dir [CANDS="cand alt@bins-alt.txz cand_w4:VDIT_EAR_PROBE_WARPS=4"] [BUDGETS=0.1] [ROUNDS=3] \
#     bash bench/attn_cluster_ab_device.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out" build-kept
start=$(date +%s)
cands="${CANDS:-cand}"
cand_env() { # the setting's VAR=value words (label[@archive]:VAR=value,VAR=value)
  case $1 in *:*) echo "${1#*:}" | tr , ' ' ;; esac
}
cand_label() { local n=${1%%:*}; echo "${n%%@*}"; }
cand_dir() { # the setting's build folder: build-<its archive's name>
  local n=${1%%:*} a=${CAND:-bins-cand.tgz}
  case $n in *@*) a=${n#*@} ;; esac
  echo "build-${a%%.*}"
}
tar xf "${BINS:-bins.tgz}" -C build-kept || exit 1
unpacked=""
for c in $cands; do # each archive once (over whatever an earlier call left there)
  d=$(cand_dir "$c") n=${c%%:*} a=${CAND:-bins-cand.tgz}
  case $n in *@*) a=${n#*@} ;; esac
  case " $unpacked " in *" $d "*) continue ;; esac
  mkdir -p "$d" && tar xf "$a" -C "$d" || exit 1
  unpacked="$unpacked $d"
done
echo "unpacked ($(( $(date +%s) - start )) s)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/env.txt" 2>&1
cand_tests() { # the setting's tests: those of TESTS in its folder, less SKIP_TESTS
  local t
  for t in ${TESTS:-test_attn_cluster_kmeans_gpu test_attn_cluster_probe_gpu test_attn_cluster_gpu}; do
    case " ${SKIP_TESTS:-} " in *" $(cand_label "$1"):$t "*) continue ;; esac
    [ -x "$(cand_dir "$1")/$t" ] && echo "$t"
  done
}
# every setting's tests at once (their CPU references on separate cores; nothing is timed yet)
pids=()
for c in $cands; do
  for t in $(cand_tests "$c"); do
    env $(cand_env "$c") timeout 90 stdbuf -oL "$(cand_dir "$c")/$t" > "$out/$(cand_label "$c")_$t.log" 2>&1 &
    pids+=($!)
  done
done
passed="" i=0
for c in $cands; do
  ok=1
  for t in $(cand_tests "$c"); do
    wait "${pids[$i]}"
    rc=$? i=$((i + 1))
    echo "$(cand_label "$c") ($(cand_dir "$c") $(cand_env "$c")) $t: exit $rc ($(( $(date +%s) - start )) s)"
    tail -1 "$out/$(cand_label "$c")_$t.log"
    [ $rc = 0 ] || ok=0
  done
  [ $ok = 1 ] && passed="$passed $c"
done
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
run() { # setting, binary folder, then flags (the setting's lab switch, if any, in the environment)
  local label=$1 dir=$2; shift 2
  env $(cand_env "$label") timeout 40 "$dir/vdit" bench attn "$@" "${common[@]}" 2>> "$out/bench.log" |
    sed "s/^{/{\"which\": \"$(cand_label "$label")\", /" || echo "bench failed: $label $*" >&2
}
{
  run dense build-kept --method dense
  for r in $(seq "${ROUNDS:-1}"); do
    run kept build-kept --method ear --budget 0.1 --gpu-routing --warm --quality
    for c in $cands; do
      case " $passed " in
        *" $c "*) for x in ${BUDGETS:-0.1 0.3 0.5}; do run "$c" "$(cand_dir "$c")" --method ear --budget "$x" --gpu-routing --warm --quality; done ;;
        *) [ "$r" = 1 ] && echo "candidate $(cand_label "$c") not timed: its tests failed" >&2 ;;
      esac
    done
  done
  [ "${FINAL_KEPT:-1}" = 1 ] && run kept build-kept --method ear --budget 0.1 --gpu-routing --warm --quality
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
# medians per setting (ear at 0.1) and the ratio to our dense forward (the mean of its runs)
runs = [json.loads(line) for line in open(sys.argv[1])]
dense = [o["fwd"]["ms"] for o in runs if o["method"] == "dense"]
dm = sum(dense) / len(dense) if dense else float("nan")
med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else sum(sorted(v)[len(v) // 2 - 1:len(v) // 2 + 1]) / 2
print("dense ms:", " ".join("%.3f" % d for d in dense))
for w in dict.fromkeys(o["which"] for o in runs if o["method"] == "ear" and o.get("budget") == 0.1):
    sel = [o for o in runs if o["which"] == w and o["method"] == "ear" and o.get("budget") == 0.1]
    ka = [o["stages_ms"].get("kmeans_assign", 0.0) for o in sel]
    cr = [sum(o["stages_ms"].get(k, 0.0) for k in keys) for o in sel]
    fw = [o["fwd"]["ms"] for o in sel]
    print("median %-6s n=%d kmeans_assign %.4f [%s] clustering+routing %.3f = %.3fx dense, fwd %.3f, rel_l1 %s" % (
        w, len(sel), med(ka), " ".join("%.4f" % v for v in ka), med(cr), med(cr) / dm, med(fw),
        sorted(set(o.get("o_vs_dense", {}).get("rel_l1") for o in sel))))
' "$out/round.jsonl"
echo "total: $(( $(date +%s) - start )) s"
if [ "${BUNDLE:-0}" = 1 ]; then # fewer files under $OUT: the logs (tests, bench stderr, env) in one archive
  (cd "$out" && tar czf logs.tgz --remove-files env.txt bench.log *_test_*.log)
fi
