#!/usr/bin/env bash
# Trains the bundled model (models/vdit-world-s/train.json) on a GPU machine in one call:
# build, a short GPU check (loss must fall; CPU and GPU first steps side by side), then the
# run, sized from the check's step time to fit TRAIN_SECONDS; the EMA bundle, the metrics and
# sample clips go to $OUT. Usage: TRAIN_SECONDS=330 bash tools/device/train_bundled.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-train-out}"
mkdir -p "$out"
seconds="${TRAIN_SECONDS:-330}"
log="$out/train.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
start=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVDIT_WERROR=OFF > "$out/build.log" 2>&1 &&
  cmake --build build-gpu --target vdit_cli -j"$(nproc)" >> "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "build: $(( $(date +%s) - start )) s" | tee -a "$log"
cfg=models/vdit-world-s/train.json
v=./build-gpu/vdit
# 1. CPU and GPU, the same 3 steps of batch 2 (f32 vs bf16 compute: close, not equal).
$v train --config $cfg --device cpu --steps 3 --batch 2 --warmup 1 --eval-interval 0 2>&1 | grep "step [123] " | tee -a "$log"
$v train --config $cfg --device cuda --steps 3 --batch 2 --warmup 1 --eval-interval 0 2>&1 | grep "step [123] " | tee -a "$log"
# 2. 60 GPU steps at the real batch: the loss must fall; gives the step time.
$v train --config $cfg --device cuda --steps 60 --warmup 10 --eval-interval 0 --metrics /tmp/check.jsonl 2>&1 | tail -2 | tee -a "$log"
python3 - "$seconds" > /tmp/plan.txt <<'PY' || { echo "check failed" | tee -a "$log"; exit 1; }
import json, sys
rows = [json.loads(l) for l in open("/tmp/check.jsonl") if '"loss"' in l]
first = sum(r["loss"] for r in rows[:5]) / 5; last = sum(r["loss"] for r in rows[-5:]) / 5
step = sorted(r["seconds"] for r in rows[10:])[len(rows[10:]) // 2]
print(f"check: loss {first:.4f} -> {last:.4f}, {step * 1000:.1f} ms/step", file=sys.stderr)
if not last < 0.8 * first: sys.exit(1)
steps = min(12000, int(float(sys.argv[1]) / (step * 1.08)))
print(steps, max(50, steps // 24))
PY
cat /tmp/plan.txt | tee -a "$log"
read steps warmup < /tmp/plan.txt
# 3. The run.
$v train --config $cfg --device cuda --steps "$steps" --warmup "$warmup" --eval-interval $(( steps / 10 )) \
  --metrics "$out/metrics.jsonl" --checkpoint /tmp/checkpoint.safetensors --checkpoint-interval 0 \
  --output "$out/model.safetensors" 2>&1 | grep -v "^train [0-9]*/[0-9]* (" | tee -a "$log"
tail -1 "$out/metrics.jsonl" >> "$log"
# 4. Samples (CPU generation on this host).
i=0
for prompt in "a red cube and a blue sphere on a checkered floor, the camera orbits left" \
              "a green cylinder on a plain floor, the camera is still" \
              "a yellow torus and a purple cone on a checkered floor, the camera dollies in"; do
  i=$((i + 1))
  $v generate "$prompt" --model "$out/model.safetensors" --seed $i -o "$out/sample$i.gif" 2>&1 | tail -1 | tee -a "$log"
done
echo "total: $(( $(date +%s) - start )) s" | tee -a "$log"
