#!/usr/bin/env python3
"""Plots the relaxed-interval sweeps of several `vdit shield --model|--bundle ... --sweep ...
--json` runs in one SVG: refresh energy saved against standard refresh (x) and output PSNR
(the clip's PSNR for --bundle) against the error-free run (y), one line per series, each
point labelled with its interval. A series may join several runs (NAME=a.json+b.json); with
--with-policies the runs' --policy rows join their series too, labelled LABEL if given as
NAME=a.json@LABEL. No plotting library needed (standard library only).

    tools/shield_sweep_plot.py -o docs/shield-sweep.svg NAME=run.json [NAME=run.json ...]
"""
import argparse
import json
import math
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 460, 70, 190, 40, 70


def nice_step(span):
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    f = raw / power
    return (1 if f < 1.5 else 2 if f < 3.5 else 5 if f < 7.5 else 10) * power


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--title", default="SHIELD: refresh energy saved vs model output PSNR")
    parser.add_argument("--ylabel", default="output PSNR against the error-free run (dB)")
    parser.add_argument("--footer", default="points: relaxed K/V mantissa refresh interval in us (t_REF 50 us); "
                        "runs with no failure (infinite PSNR) are not drawn")
    parser.add_argument("--with-policies", action="store_true", help="also plot each run's --policy rows")
    parser.add_argument("runs", nargs="+", help="NAME=FILE.json[@LABEL][+FILE.json[@LABEL]...]")
    args = parser.parse_args()
    series = []

    def psnr(s):
        return s["psnr_db"] if "psnr_db" in s else s["clip"]["psnr_db"]

    for run in args.runs:
        name, paths = run.split("=", 1)
        points = []
        for item in paths.split("+"):
            path, _, label = item.partition("@")
            with open(path) as f:
                data = json.load(f)
            prefix = {"protect": "p", "transient-us": "t", "k-us": "K ", "v-us": "V ", "guard": "g", "k-guard": "K g",
                      "v-guard": "V g", "profiles": "rounds "}
            rows = [(s, f'{s["relaxed_us"]:g}' if "relaxed_us" in s else f'{prefix.get(s.get("sweep_param"), "")}{s["sweep_value"]:g}')
                    for s in data["sweep"]]
            if args.with_policies:  # the --policy rows, and those of runs recorded beside it
                policies = data["policies"] + [p for extra in data.get("extra_runs", []) for p in extra["result"]["policies"]]
                rows += [(s, label or (f'{s["intervals_us"]["persistent"]["mantissa"]:g}' if s["policy"] == "shield"
                                       else s["policy"])) for s in policies]
            points += [(100 * s["refresh_saving"], psnr(s), text) for s, text in rows if psnr(s) is not None]
        points.sort()
        series.append((name, points))
    xs = [p[0] for _, pts in series for p in pts]
    ys = [p[1] for _, pts in series for p in pts] + [40.0]
    xs_step, ys_step = nice_step(max(xs) - min(xs) or 1), nice_step(max(ys) - min(ys) or 1)
    x0, x1 = math.floor(min(xs) / xs_step) * xs_step, math.ceil(max(xs) / xs_step) * xs_step
    y0, y1 = math.floor(min(ys) / ys_step) * ys_step, math.ceil(max(ys) / ys_step) * ys_step
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(v):
        return LEFT + (v - x0) / (x1 - x0) * pw

    def py(v):
        return TOP + (1 - (v - y0) / (y1 - y0)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{(LEFT + W - RIGHT) / 2}" y="22" text-anchor="middle" font-size="14">{escape(args.title)}</text>']
    v = x0
    while v <= x1 + 1e-9:
        out.append(f'<line x1="{px(v):.1f}" y1="{TOP}" x2="{px(v):.1f}" y2="{H - BOTTOM}" stroke="#ddd"/>'
                   f'<text x="{px(v):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{v:g}</text>')
        v += xs_step
    v = y0
    while v <= y1 + 1e-9:
        out.append(f'<line x1="{LEFT}" y1="{py(v):.1f}" x2="{W - RIGHT}" y2="{py(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        v += ys_step
    out.append(f'<line x1="{LEFT}" y1="{py(40):.1f}" x2="{W - RIGHT}" y2="{py(40):.1f}" stroke="#888" '
               f'stroke-dasharray="5,4"/><text x="{W - RIGHT - 4}" y="{py(40) - 4:.1f}" text-anchor="end" '
               f'fill="#555">40 dB</text>')
    out.append(f'<line x1="{px(35):.1f}" y1="{TOP}" x2="{px(35):.1f}" y2="{H - BOTTOM}" stroke="#888" '
               f'stroke-dasharray="5,4"/><text x="{px(35) + 3:.1f}" y="{TOP + 12}" fill="#555">35%</text>'
               if x0 <= 35 <= x1 else "")
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - BOTTOM + 38}" text-anchor="middle">'
               'refresh energy saved against standard refresh (%)</text>')
    out.append(f'<text x="16" y="{TOP + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {TOP + ph / 2})">'
               f'{escape(args.ylabel)}</text>')
    for i, (name, points) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _ in points)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{line}"/>')
        for x, y, interval in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}"/>'
                       f'<text x="{px(x) + 5:.1f}" y="{py(y) - 5:.1f}" font-size="10" fill="{color}">{escape(interval)}</text>')
        ly = TOP + 14 + 18 * i
        out.append(f'<line x1="{W - RIGHT + 12}" y1="{ly - 4}" x2="{W - RIGHT + 32}" y2="{ly - 4}" stroke="{color}" '
                   f'stroke-width="2"/><text x="{W - RIGHT + 36}" y="{ly}" font-size="11">{escape(name)}</text>')
    out.append(f'<text x="{LEFT}" y="{H - 10}" font-size="11">{escape(args.footer)}</text>')
    out.append("</svg>")
    with open(args.output, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
