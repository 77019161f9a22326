#!/usr/bin/env bash
# SLA2's fitting check on the CPU (docs/attention.md, "Fitting check"): `vdit attn fit` at 95%
# sparsity on the synthetic video inputs (B = 1, H = 2, S = 8192, D = 128: 64 key blocks, 4
# kept) and on Q, K, V captured from the bundled model (models/vdit-world-s, every block,
# step 10 of 20, seeds 1 (fitted) and 2 (held out): B = 2, H = 3, S = 1024, D = 64; blocks of
# 128 (8 key blocks, 1 kept) and of 64 (16, 1 kept)), 300 steps, lr 0.01, validated every 20;
# then the mass oracle of each setting (--steps 1) and an A/B of the two objectives at S = 2048.
# Writes one JSON line a run to $OUT/runs/NAME.json and merges them with
# bench/attn_sla_fit_report.py into $OUT/attn-sla-fit.json (copy it to
# bench/results/cpu-amd-epyc-2core/attn-sla-fit.json).
# Usage: bash bench/attn_sla_fit_cpu.sh   (env: OUT, BUILD_DIR)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
build="${BUILD_DIR:-build}"
mkdir -p "$out/runs"
vdit="$build/vdit"
prompt="a red cube and a blue sphere on a checkered floor, the camera orbits left"
for seed in 1 2; do
  [ -s "$out/cap_s$seed.safetensors" ] ||
    nice "$vdit" capture --bundle models/vdit-world-s --prompt "$prompt" --seed "$seed" --step 10 -o "$out/cap_s$seed.safetensors"
done
run() { # NAME ARGS...: one fit (exit 1 = below the margin, still recorded)
  local name=$1; shift
  [ -s "$out/runs/$name.json" ] || nice "$vdit" attn fit --sparsity 0.95 --json "$@" > "$out/runs/$name.json"
}
video=(--seq 8192 --dim 128 --heads 2 --steps 300 --lr 0.01 --eval-every 20)
run video_random32 --inputs video "${video[@]}"
run video_identity32 --inputs video --init identity "${video[@]}"
run video_identity128 --inputs video --init identity --router-dim 128 "${video[@]}"
run video_random32_seedheld --inputs video --held-out seed "${video[@]}"
run video_identity128_seedheld --inputs video --init identity --router-dim 128 --held-out seed "${video[@]}"
run videoheads_random32 --inputs video-heads "${video[@]}"
run videoheads_identity128 --inputs video-heads --init identity --router-dim 128 "${video[@]}"
model=(--steps 300 --lr 0.01 --eval-every 20)
for blk in 128 64; do
  for layer in 0 1 2 3 4 5; do
    qkv=(--qkv "$out/cap_s1.safetensors:$layer" --held-qkv "$out/cap_s2.safetensors:$layer" --block "$blk")
    run "model_b${blk}_L${layer}_random32" "${qkv[@]}" "${model[@]}"
    run "model_b${blk}_L${layer}_identity64" "${qkv[@]}" --init identity --router-dim 64 "${model[@]}"
    [ "$blk" = 64 ] && run "model_b${blk}_L${layer}_identity32" "${qkv[@]}" --init identity "${model[@]}"
    run "oracle_model_b${blk}_L${layer}" --qkv "$out/cap_s1.safetensors:$layer" --block "$blk" --steps 1
  done
done
run oracle_video --inputs video --seq 8192 --dim 128 --heads 2 --steps 1
run oracle_videoheads --inputs video-heads --seq 8192 --dim 128 --heads 2 --steps 1
ab=(--inputs video --seq 2048 --dim 64 --heads 2 --steps 100 --lr 0.01 --eval-every 10)
run ab_mass_random "${ab[@]}"
run ab_output_random "${ab[@]}" --objective output
run ab_output_random_rlr3e-4 "${ab[@]}" --objective output --router-lr 0.0003
run ab_mass_identity64 "${ab[@]}" --init identity --router-dim 64
run ab_output_identity64 "${ab[@]}" --objective output --init identity --router-dim 64 --router-lr 0.0003
python3 bench/attn_sla_fit_report.py "$out/runs" > "$out/attn-sla-fit.json"
