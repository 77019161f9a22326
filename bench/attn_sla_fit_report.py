#!/usr/bin/env python3
"""Merges bench/attn_sla_fit_cpu.sh's runs (RUNS/NAME.json, one `vdit attn fit --json` line each)
into one record (stdout), or with --markdown prints docs/attention.md's fit tables."""
import glob
import json
import os
import platform
import sys
import time


def load(folder):
    runs = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            text = f.read().strip()
        if text:
            runs[os.path.basename(path)[:-5]] = json.loads(text)
    return runs


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def record(runs):
    out = {
        "name": "attn-sla-fit",
        "device": "cpu (fp32), 2 cores shared with other jobs",
        "cpu": cpu_name(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "bash bench/attn_sla_fit_cpu.sh (vdit attn fit --sparsity 0.95 --json ...; see the script)",
        "note": "relative L1 of O against dense attention. objective mass: Adam on the block-mass distillation "
                "loss, alpha per head in closed form, validated every eval_every steps (synthetic: token seed + 2; "
                "captured: the fitted capture), the best step kept. untrained = the starting router (random "
                "N(0, 1/D) or identity = SLA's pooled scores) with alpha 1/2; alpha_only = the starting router with "
                "the closed-form alpha; mass_oracle = Top-k by dense block mass, closed-form alpha (oracle_* runs: "
                "--steps 1, only the oracle and the baselines count); held out: synthetic new tokens of the same "
                "heads (token seed + 1) unless held_out = seed (all new: new heads), captured: the same block of "
                "the seed-2 capture. losses: every 10th step.",
        "runs": {},
    }
    for name, r in runs.items():
        r = dict(r)
        r["losses"] = r.get("losses", [])[::10]
        out["runs"][name] = r
    return out


def row(r, oracle):
    x = r["rel_l1"]
    ratio = x["trained"] / x["untrained"]
    held = x["held_out_trained"] / x["held_out_untrained"]
    return (f"{x['untrained']:.3f} | {r['alpha_only']:.3f} | {x['trained']:.3f} | **{ratio:.2f}** | "
            f"{x['held_out_untrained']:.3f} -> {x['held_out_trained']:.3f} | **{held:.2f}** | "
            f"{oracle:.3f} | {r['best_step']} | {r['alpha_mean']:.2f}")


def markdown(runs):
    head = ("| untrained | alpha alone | trained | trained / untrained | held out: untrained -> trained | "
            "held out ratio | mass oracle | kept step | alpha |")
    sep = "|---" * 11 + "|"
    oracle = {k: v["mass_oracle"] for k, v in runs.items() if k.startswith("oracle_")}
    print("| inputs | start (D_r) " + head + "\n" + sep)
    for name, label in [("video_random32", "video | random (32)"), ("video_identity32", "video | pooled scores (32)"),
                        ("video_identity128", "video | pooled scores (128 = SLA's router)"),
                        ("video_random32_seedheld", "video, held out = new heads | random (32)"),
                        ("video_identity128_seedheld", "video, held out = new heads | pooled scores (128)"),
                        ("videoheads_random32", "video-heads | random (32)"),
                        ("videoheads_identity128", "video-heads | pooled scores (128)")]:
        if name in runs:
            o = oracle.get("oracle_videoheads" if name.startswith("videoheads") else "oracle_video", -1)
            print(f"| {label} | " + row(runs[name], o) + " |")
    for blk in (128, 64):
        print(f"\nblocks of {blk}:\n\n| block | start (D_r) " + head + "\n" + sep)
        for layer in range(6):
            for kind, label in [("random32", "random (32)"), ("identity32", "pooled scores (32)"),
                                ("identity64", "pooled scores (64 = SLA's router)")]:
                name = f"model_b{blk}_L{layer}_{kind}"
                if name in runs:
                    o = oracle.get(f"oracle_model_b{blk}_L{layer}", -1)
                    print(f"| {layer} | {label} | " + row(runs[name], o) + " |")
    print("\nA/B of the objectives on the same inputs (video, S = 2048, D = 64: 16 key blocks, 1 kept), 100 steps,"
          " validated every 10:\n")
    print("| objective | start (D_r) | router lr | untrained | trained | trained / untrained | held out: untrained -> trained |"
          " kept step | mass oracle |\n|---|---|---|---|---|---|---|---|---|")
    for name in sorted(k for k in runs if k.startswith("ab_")):
        r = runs[name]
        x = r["rel_l1"]
        start = ("random" if r["init"] == "random" else "pooled scores") + f" ({r['router_dim']})"
        oracle = f"{r['mass_oracle']:.3f}" if r.get("mass_oracle", -1) >= 0 else ""
        print(f"| {r['objective']} | {start} | {r['router_lr']:g} | {x['untrained']:.3f} | {x['trained']:.3f} | "
              f"{x['trained'] / x['untrained']:.2f} | {x['held_out_untrained']:.3f} -> {x['held_out_trained']:.3f} | "
              f"{r['best_step']} | {oracle} |")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = load(args[0] if args else "bench-out/runs")
    if "--markdown" in sys.argv:
        markdown(runs)
    else:
        print(json.dumps(record(runs), indent=1))


if __name__ == "__main__":
    main()
