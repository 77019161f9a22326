#!/usr/bin/env python3
"""Plot the loss curves of `vdit attn train --json` as an SVG (no plotting library).

usage: vdit attn train --json > train.json && python3 bench/attn_train_svg.py train.json out.svg
Draws the dense and the other method's training loss per step, each with a 10-step moving
average (thick) over the raw curve (thin), on a linear loss axis.
"""
import json
import sys


def moving_average(values, window=10):
    out = []
    for i in range(len(values)):
        part = values[max(0, i - window + 1): i + 1]
        out.append(sum(part) / len(part))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    curves = [("dense", data["dense"], "#1f77b4"), (data["method"], data["other"], "#d62728")]
    width, height, left, right, top, bottom = 640, 360, 60, 20, 30, 45
    steps = data["steps"]
    lo = min(min(c[1]) for c in curves)
    hi = max(max(c[1]) for c in curves)
    lo, hi = 0.0 if lo > 0 else lo, hi * 1.05

    def x(i):
        return left + (width - left - right) * i / max(1, steps - 1)

    def y(v):
        return top + (height - top - bottom) * (1.0 - (v - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for k in range(6):  # grid and loss labels
        v = lo + (hi - lo) * k / 5
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
    for k in range(6):
        i = round((steps - 1) * k / 5)
        out.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">{i}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">step</text>')
    out.append(f'<text x="14" y="{(top + height - bottom) / 2}" transform="rotate(-90 14 {(top + height - bottom) / 2})" '
               f'text-anchor="middle">training loss (MSE)</text>')
    for n, (name, values, color) in enumerate(curves):
        raw = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        avg = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(moving_average(values)))
        out.append(f'<polyline points="{raw}" fill="none" stroke="{color}" stroke-opacity="0.3" stroke-width="1"/>')
        dash = ' stroke-dasharray="6 4"' if n else ""
        out.append(f'<polyline points="{avg}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<line x1="{width - 200}" x2="{width - 175}" y1="{top + 16 * n}" y2="{top + 16 * n}" stroke="{color}" stroke-width="2"{dash}/>')
        final = data["final"]["dense" if n == 0 else "other"]
        out.append(f'<text x="{width - 170}" y="{top + 16 * n + 4}">{name} (final {final:.4f})</text>')
    title = f'dense vs {data["method"]}: {steps} steps, final loss difference {100 * data["final"]["rel_diff"]:+.2f}%'
    out.append(f'<text x="{left}" y="18">{title}</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
