#!/usr/bin/env python3
"""Joins the `vdit bench attn --json` lines of bench/attn_cluster.sh (dense, then ear, svg and
sparge per budget) into attn-cluster.json, prints a table, and draws the three quality/time
frontiers (rel L1 of O against dense, log scale, over the forward time in ms) as one SVG.
Time: ear / svg = the whole forward (clustering, routing, compensation, executor); sparge =
executor on the held mask + mask prediction. Acceptance (issue 9): EAR's error below SVG2's at
every budget; clustering + routing (k-means + scores + selection) <= 10% of our dense forward.
Usage: attn_cluster_report.py --ours ours.jsonl --out attn-cluster.json [--svg plot.svg] [--title T]"""
import argparse
import datetime
import json
import math
import re

COLORS = {"ear": "#d62728", "svg": "#1f77b4", "sparge": "#2ca02c"}


def slug(gpu):
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"^nvidia\s+", "", gpu.lower())).strip("-")


def point(o):
    if o["method"] == "sparge":
        ms = o["fwd"]["ms"] + o["mask"]["ms"]
        budget = 1.0 - o["sparsity"]
    else:
        ms = o["fwd"]["ms"]
        budget = o["budget_used"]
    p = {"method": o["method"], "budget": o.get("budget", round(1.0 - o.get("target_sparsity", 0.0), 6)),
         "budget_used": budget, "ms": ms, "rel_l1": o["o_vs_dense"]["rel_l1"], "psnr": o["o_vs_dense"]["psnr"]}
    for key in ("route_ms", "kmeans_ms", "select_ms", "compensate_ms", "warm", "q_clusters", "k_clusters", "top_p",
                "q_pad_factor", "k_pad_factor", "stages_ms"):
        if key in o:
            p[key] = o[key]
    if o["method"] == "sparge":
        p["mask_ms"] = o["mask"]["ms"]
        p["executor_ms"] = o["fwd"]["ms"]
    return p


def svg_plot(points, dense_ms, title, path):
    width, height, left, right, top, bottom = 680, 420, 70, 150, 40, 50
    xs = [p["ms"] for p in points] + ([dense_ms] if dense_ms else [])
    ys = [p["rel_l1"] for p in points if p["rel_l1"] > 0]
    x0, x1 = 0.0, max(xs) * 1.08
    y0, y1 = math.log10(min(ys)) - 0.1, math.log10(max(ys)) + 0.1
    fx = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)
    fy = lambda y: top + (y1 - math.log10(y)) / (y1 - y0) * (height - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2 - 60}" y="20" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
           f'<text x="{(left + width - right) / 2 - 80}" y="{height - 12}">forward time, ms (incl. routing / mask)</text>',
           f'<text x="14" y="{(top + height - bottom) / 2 + 40}" transform="rotate(-90 14 {(top + height - bottom) / 2 + 40})">rel L1 of O vs dense (log)</text>']
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        out.append(f'<text x="{fx(x) - 12}" y="{height - bottom + 16}">{x:.1f}</text>')
    e = math.floor(y0)
    while e <= y1:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if y0 <= math.log10(v) <= y1:
                out.append(f'<line x1="{left - 4}" y1="{fy(v):.1f}" x2="{width - right}" y2="{fy(v):.1f}" stroke="#ddd"/>')
                out.append(f'<text x="{left - 48}" y="{fy(v) + 4:.1f}">{v:g}</text>')
        e += 1
    if dense_ms:
        out.append(f'<line x1="{fx(dense_ms):.1f}" y1="{top}" x2="{fx(dense_ms):.1f}" y2="{height - bottom}" stroke="#888" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{fx(dense_ms) + 4:.1f}" y="{top + 12}" fill="#888">dense</text>')
    for k, method in enumerate(("ear", "svg", "sparge")):
        pts = sorted((p for p in points if p["method"] == method and p["rel_l1"] > 0), key=lambda p: p["ms"])
        if not pts:
            continue
        c = COLORS[method]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
                   (c, " ".join(f"{fx(p['ms']):.1f},{fy(p['rel_l1']):.1f}" for p in pts)))
        for p in pts:
            out.append(f'<circle cx="{fx(p["ms"]):.1f}" cy="{fy(p["rel_l1"]):.1f}" r="3.5" fill="{c}"/>')
            out.append(f'<text x="{fx(p["ms"]) + 5:.1f}" y="{fy(p["rel_l1"]) - 5:.1f}" font-size="9" fill="{c}">{p["budget_used"]:.2f}</text>')
        label = {"ear": "EAR", "svg": "SVG2", "sparge": "sparge (top-k)"}[method]
        out.append(f'<rect x="{width - right + 12}" y="{top + 20 * k}" width="14" height="4" fill="{c}"/>')
        out.append(f'<text x="{width - right + 32}" y="{top + 20 * k + 6}">{label}</text>')
    out.append(f'<text x="{width - right + 12}" y="{top + 72}" font-size="10">labels: fraction</text>')
    out.append(f'<text x="{width - right + 12}" y="{top + 86}" font-size="10">computed exactly</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--svg")
    ap.add_argument("--title", default="clustered attention vs sparge, B=1 H=12 S=32760 D=128")
    args = ap.parse_args()
    ours = [json.loads(l) for l in open(args.ours) if l.strip().startswith("{")]
    dense = next((o for o in ours if o["method"] == "dense"), None)
    points = [point(o) for o in ours if o["method"] in ("ear", "svg", "sparge")]
    gpu = next((o["gpu"] for o in ours if "gpu" in o), "unknown")
    dense_ms = dense["fwd"]["ms"] if dense else None
    rep = {"name": "attn-cluster", "gpu": gpu, "gpu_slug": slug(gpu),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "bash bench/attn_cluster.sh", "dtype": "bf16", "layout": "bhsd",
           "inputs": ours[-1]["inputs"] if ours else None, "dense": dense, "points": points, "acceptance": {}}
    print(f"{'method':>7} {'budget':>7} {'used':>6} {'ms':>8} {'x dense':>8} {'rel_l1':>8} {'psnr':>7} {'kmeans':>8} {'select':>8} {'comp':>8}")
    for p in points:
        if dense_ms:
            p["time_over_dense"] = p["ms"] / dense_ms
            if "kmeans_ms" in p:
                p["clustering_routing_over_dense"] = (p["kmeans_ms"] + p["select_ms"]) / dense_ms
        print(f"{p['method']:>7} {p['budget']:7.3f} {p['budget_used']:6.3f} {p['ms']:8.3f} {p.get('time_over_dense', float('nan')):8.3f} "
              f"{p['rel_l1']:8.4f} {p['psnr']:7.2f} {p.get('kmeans_ms', float('nan')):8.3f} {p.get('select_ms', float('nan')):8.3f} "
              f"{p.get('compensate_ms', float('nan')):8.3f}")
    ear = {p["budget"]: p for p in points if p["method"] == "ear"}
    svg = {p["budget"]: p for p in points if p["method"] == "svg"}
    common = sorted(set(ear) & set(svg))
    rep["acceptance"]["ear_below_svg"] = {str(b): ear[b]["rel_l1"] < svg[b]["rel_l1"] for b in common}
    cr = [p["clustering_routing_over_dense"] for p in points if "clustering_routing_over_dense" in p]
    if cr:
        rep["acceptance"]["clustering_routing_over_dense_max"] = max(cr)
        rep["acceptance"]["clustering_routing_within_10_percent"] = max(cr) <= 0.10
    for p in points:  # per-kernel GPU times of the routing (CUDA events, last run)
        if "stages_ms" in p:
            st = p["stages_ms"]
            print(f"{p['method']:>7} {p['budget']:7.3f} stages ms: " + ", ".join(f"{k} {v:.3f}" for k, v in st.items() if v > 0))
    print("acceptance:", json.dumps(rep["acceptance"]))
    json.dump(rep, open(args.out, "w"), indent=1)
    if args.svg and points:
        svg_plot(points, dense_ms, args.title, args.svg)


if __name__ == "__main__":
    main()
