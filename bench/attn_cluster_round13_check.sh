#!/usr/bin/env bash
# Round 13's second device call: the code after the lab switches were removed (Vbar without its
# lo part by default, the new select and fragments kernels only, one warm iteration by default)
# through test_attn_cluster_probe_gpu and test_attn_cluster_gpu, then our dense forward, ear and
# svg at 0.1 with the defaults (`--gpu-routing --warm`), REPEAT=3 WARMUP=1.
# Usage: OUT=dir bash bench/attn_cluster_round13_check.sh   (env: BUILD_DIR)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=ON > "$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build "$build" -j16 --target vdit_cli test_attn_cluster_probe_gpu test_attn_cluster_gpu > "$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
for t in test_attn_cluster_probe_gpu test_attn_cluster_gpu; do
  timeout 90 "$build/tests/$t" > "$out/$t.log" 2>&1
  echo "$t: exit $? ($(( $(date +%s) - start )) s)"; tail -2 "$out/$t.log"
done
common=(--device cuda --dtype bf16 --mask none --layout bhsd --batch 1 --heads 12 --seq 32760 --dim 128
        --repeat 3 --warmup 1 --json --forward-only --inputs video)
{
  timeout 30 "$build/vdit" bench attn --method dense "${common[@]}"
  timeout 30 "$build/vdit" bench attn --method ear --budget 0.1 --gpu-routing --warm --quality "${common[@]}"
  timeout 30 "$build/vdit" bench attn --method svg --budget 0.1 --gpu-routing --warm --quality "${common[@]}"
} 2>> "$out/bench.log" > "$out/check.jsonl"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line); st = o.get("stages_ms", {}); q = o.get("o_vs_dense", {})
    print(o["method"], o.get("budget", ""), "fwd %.3f" % o["fwd"]["ms"], "rel_l1", q.get("rel_l1", ""), " ".join("%s=%.3f" % (k, v) for k, v in st.items() if v))
' "$out/check.jsonl"
echo "total: $(( $(date +%s) - start )) s"
