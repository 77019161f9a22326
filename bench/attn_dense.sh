#!/usr/bin/env bash
# Dense attention against PyTorch SDPA on the issue's acceptance shapes, in one run on one GPU:
# builds vdit with CUDA (reusing build-gpu from tools/device/gpu_tests.sh when present), times
# `vdit bench attn --method dense --device cuda --json` (bf16, non-causal, (B, H, S, D) layout,
# CUDA events, median of REPEAT >= 20 after WARMUP), then torch's FLASH_ATTENTION (FA2) and
# CUDNN_ATTENTION backends on the same shapes (bench/attn_peer.py), and writes ours, both peers
# and the ratios into $OUT/attn-dense.json (table on stdout; logs beside it).
# Copy the JSON to bench/results/<gpu_slug>/attn-dense.json afterwards.
# Usage: bash bench/attn_dense.sh        (env: OUT, BUILD_DIR, REPEAT, WARMUP, SHAPES)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
mkdir -p "$out"
build="${BUILD_DIR:-build-gpu}"
repeat="${REPEAT:-20}"
warmup="${WARMUP:-3}"
shapes="${SHAPES:-1,12,32760,128 1,40,32760,128 2,24,8192,64}"

. bench/build_cli.sh
bench_build_cli "$build" "$out" always || exit 1

gpu_line="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
python3 - "$out/env.json" "$gpu_line" "$repeat" "$warmup" <<'PY'
import datetime, json, subprocess, sys
path, gpu_line, repeat, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "driver": gpu_line.split(",")[-1].strip() if gpu_line else None,
           "nvcc": nvcc[-1] if nvcc else None, "repeat": repeat, "warmup": warmup, "layout": "bhsd",
           "command": "bash bench/attn_dense.sh"}, open(path, "w"))
PY

: > "$out/ours.jsonl"
for shape in $shapes; do
  IFS=, read -r b h s d <<< "$shape"
  timeout 300 "$build/vdit" bench attn --method dense --device cuda --dtype bf16 --mask none --layout bhsd \
    --batch "$b" --heads "$h" --seq "$s" --dim "$d" --repeat "$repeat" --warmup "$warmup" --json \
    >> "$out/ours.jsonl" 2>> "$out/bench.log" || echo "vdit bench attn failed on $shape (exit $?)" | tee -a "$out/bench.log"
  tail -1 "$out/ours.jsonl"
done
# shellcheck disable=SC2086
PYTHONUNBUFFERED=1 timeout 400 python3 bench/attn_peer.py --json "$out/peer.json" --reps "$repeat" --warmup "$warmup" \
  --shapes $shapes >> "$out/bench.log" 2>&1 || echo "attn_peer.py failed (exit $?)" | tee -a "$out/bench.log"
python3 bench/attn_dense_report.py --ours "$out/ours.jsonl" --peer "$out/peer.json" --env "$out/env.json" \
  --out "$out/attn-dense.json" | tee "$out/summary.txt"
