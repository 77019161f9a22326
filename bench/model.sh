#!/usr/bin/env bash
# One forward step of Wan2.1-1.3B at 480p, 81 frames (32760 tokens, 512 text tokens) on the
# GPU: vdit (`vdit bench model`) and diffusers (bench/model_peer.py) on the same bf16 weights
# and inputs in the same run, merged into bench/results/<gpu>/model.json (or the path given).
# Usage: bash bench/model.sh [out.json]   (BUILD=build REPS=10 DIR=/tmp/vdit-model-bench ATTN=dense)
# ATTN: vdit's self-attention policy (docs/model.md), e.g. ATTN='sparge(topk=0.1)' for 90% of the
# key blocks skipped; diffusers always runs its default dense SDPA. With ATTN the default record
# is bench/results/<gpu>/model-<method>.json and acceptance is a >= 2x speed-up.
# diffusers must be importable (on the H100 machine: carried wheels, see docs/model.md).
set -euo pipefail
BUILD=${BUILD:-build}
REPS=${REPS:-10}
DIR=${DIR:-/tmp/vdit-model-bench}
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
SLUG=$(echo "$GPU_NAME" | tr 'A-Z' 'a-z' | sed -e 's/^nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//')
ATTN=${ATTN:-dense}
if [ "$ATTN" = dense ]; then NAME=model; else NAME="model-${ATTN%%(*}"; fi
OUT_JSON=${1:-bench/results/$SLUG/$NAME.json}
mkdir -p "$(dirname "$OUT_JSON")" "$DIR"
ARGS="--config wan2.1-1.3b --frames 81 --height 480 --width 832 --text-tokens 512 --reps $REPS"
"$BUILD/vdit" bench model $ARGS --attn "$ATTN" --save "$DIR" --json > "$DIR/ours.json"
cat "$DIR/ours.json"
python3 bench/model_peer.py --dir "$DIR" --reps "$REPS" --json > "$DIR/peer.json"
cat "$DIR/peer.json"
python3 - "$DIR/ours.json" "$DIR/peer.json" "$OUT_JSON" "$GPU_NAME" "$SLUG" "$ARGS --attn '$ATTN'" <<'PY'
import datetime, json, subprocess, sys
ours, peer = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                        capture_output=True, text=True).stdout.strip()
result = {
    "name": "model",
    "gpu": sys.argv[4],
    "gpu_slug": sys.argv[5],
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "driver": driver,
    "command": "bash bench/model.sh  (vdit bench model " + sys.argv[6] + ")",
    "model": "Wan2.1-T2V-1.3B shapes, random bf16 weights (Philox), one forward step, batch 1",
    "vdit": ours,
    "diffusers": peer,
    "ratio_time": peer["step_ms"] / ours["step_ms"],
    "ratio_memory": peer["peak_gib"] / ours["peak_gib"],
    "ratio": "diffusers / vdit (> 1: vdit faster or smaller)",
    "acceptance": "time and memory <= diffusers" if ours.get("attention", "dense") == "dense"
                  else "time <= diffusers / 2 (sparse attention)",
    "accepted": (ours["step_ms"] <= peer["step_ms"] and ours["peak_gib"] <= peer["peak_gib"])
                if ours.get("attention", "dense") == "dense" else 2 * ours["step_ms"] <= peer["step_ms"],
}
json.dump(result, open(sys.argv[3], "w"), indent=1)
print(json.dumps(result, indent=1))
PY
