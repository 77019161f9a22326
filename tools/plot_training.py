#!/usr/bin/env python3
"""Training curve of a `vdit train --metrics` file as an SVG (Python 3 standard library only).

    python3 tools/plot_training.py models/vdit-world-s/metrics.jsonl -o docs/images/vdit-world-s-training.svg

The metrics are JSON lines: steps {"step", "loss", "lr", "grad_norm", "seconds"} (possibly
thinned) and evaluations {"step", "eval": [held-out loss per t bucket]}. The plot shows the
training loss (raw in light grey, a centred moving average in black) and the held-out loss
of each t bucket (the buckets split [0, 1) evenly) against the step, on a log-scale y axis.
"""
import argparse
import json
import math
import sys

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 36, 48  # margins: the legend sits on the right
BUCKET_COLORS = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def read_metrics(path):
    steps, evals = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not JSON ({e})")
            if "eval" in row:
                evals.append((row["step"], row["eval"]))
            elif "loss" in row:
                steps.append((row["step"], row["loss"]))
    if not steps and not evals:
        sys.exit(f"{path}: no steps and no evaluations")
    return steps, evals


def moving_average(values, window):
    """Centred moving average over `window` rows (shorter at the ends)."""
    half = window // 2
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


def nice_step_ticks(max_step):
    raw = max_step / 6 if max_step > 0 else 1
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * magnitude >= raw:
            spacing = m * magnitude
            break
    ticks, t = [], 0.0
    while t <= max_step + 1e-9:
        ticks.append(t)
        t += spacing
    return ticks


def log_ticks(lo, hi):
    """1-2-5 ticks per decade between lo and hi (both > 0)."""
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** e
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


def fmt(v):
    return f"{v:g}"


def polyline(points, color, width, opacity=1.0):
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (f'<polyline fill="none" stroke="{color}" stroke-width="{width}" stroke-opacity="{opacity}" '
            f'stroke-linejoin="round" points="{coords}"/>')


def plot(steps, evals, title, smooth):
    values = [v for _, v in steps] + [v for _, e in evals for v in e]
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        sys.exit("no positive finite loss to plot on a log scale")
    y_lo = 10 ** (math.floor(math.log10(min(positive)) * 4) / 4)
    y_hi = 10 ** (math.ceil(math.log10(max(positive)) * 4) / 4)
    x_max = max([s for s, _ in steps] + [s for s, _ in evals]) or 1
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(step):
        return LEFT + pw * step / x_max

    def py(v):
        v = min(max(v, y_lo), y_hi)
        return TOP + ph * (1 - (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT + pw / 2}" y="{TOP - 14}" text-anchor="middle" font-size="14">{title}</text>']
    for t in nice_step_ticks(x_max):
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle">{int(t)}</text>')
    for v in log_ticks(y_lo, y_hi):
        y = py(v)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 10}" text-anchor="middle">step</text>')
    out.append(f'<text transform="translate(16,{TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'loss (log scale)</text>')

    legend = []
    if steps:
        raw = [(px(s), py(v)) for s, v in steps]
        out.append(polyline(raw, "#bbbbbb", 0.8))
        smoothed = moving_average([v for _, v in steps], smooth)
        out.append(polyline([(px(s), py(v)) for (s, _), v in zip(steps, smoothed)], "#222222", 1.8))
        legend.append(("#bbbbbb", 0.8, "training loss"))
        legend.append(("#222222", 1.8, f"moving average ({smooth} rows)"))
    buckets = max((len(e) for _, e in evals), default=0)
    for b in range(buckets):
        color = BUCKET_COLORS[b % len(BUCKET_COLORS)]
        points = [(px(s), py(e[b])) for s, e in evals if b < len(e)]
        out.append(polyline(points, color, 1.6))
        for x, y in points:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{color}"/>')
        legend.append((color, 1.6, f"held-out t in [{b / buckets:.1f}, {(b + 1) / buckets:.1f})"))
    lx, ly = LEFT + pw + 14, TOP + 8
    for i, (color, width, label) in enumerate(legend):
        y = ly + 18 * i
        out.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 22}" y2="{y}" stroke="{color}" stroke-width="{width + 0.6}"/>')
        out.append(f'<text x="{lx + 28}" y="{y + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("metrics", help="metrics.jsonl from vdit train --metrics")
    parser.add_argument("-o", "--output", required=True, help="the SVG to write")
    parser.add_argument("--title", default=None, help="plot title (default: the metrics path)")
    parser.add_argument("--smooth", type=int, default=25, help="moving-average window in rows (default 25)")
    args = parser.parse_args()
    if args.smooth < 1:
        sys.exit("--smooth must be >= 1")
    steps, evals = read_metrics(args.metrics)
    svg = plot(steps, evals, args.title or args.metrics, args.smooth)
    with open(args.output, "w") as f:
        f.write(svg)
    print(f"wrote {args.output}: {len(steps)} step rows, {len(evals)} evaluations")


if __name__ == "__main__":
    main()
