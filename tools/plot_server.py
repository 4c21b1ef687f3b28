#!/usr/bin/env python3
"""Draws docs/server-throughput.svg: aggregate decode speed against the number
of concurrent streams, as a multiple of one stream (standard library only).

    python3 tools/plot_server.py OUT.svg "TITLE" "NAME=1:1.0,2:0.84,..." ["NAME=..." ...]

Each series is a name and stream:ratio pairs (from rwkvx-batchbench and
tests/server/throughput.mjs); the dotted line is the ideal (S streams cost one).
"""
import math
import sys


def main():
    out, title, series = sys.argv[1], sys.argv[2], []
    for arg in sys.argv[3:]:
        name, pairs = arg.split("=", 1)
        series.append((name, [(float(s), float(r)) for s, r in (p.split(":") for p in pairs.split(","))]))
    w, h, left, right, top, bottom = 640, 400, 60, 170, 40, 50
    xs = sorted({s for _, pts in series for s, _ in pts})
    ymax = max(4.0, max(r for _, pts in series for _, r in pts) * 1.15)
    px = lambda s: left + (math.log2(s) - math.log2(xs[0])) / (math.log2(xs[-1]) - math.log2(xs[0])) * (w - left - right)
    py = lambda r: h - bottom - r / ymax * (h - top - bottom)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    for r in range(0, int(ymax) + 1):
        svg.append(f'<line x1="{left}" y1="{py(r):.1f}" x2="{w - right}" y2="{py(r):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 8}" y="{py(r) + 4:.1f}" text-anchor="end">{r}x</text>')
    for s in xs:
        svg.append(f'<text x="{px(s):.1f}" y="{h - bottom + 18}" text-anchor="middle">{s:g}</text>')
    svg.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">concurrent streams</text>')
    svg.append(f'<text x="16" y="{(top + h - bottom) / 2}" transform="rotate(-90 16 {(top + h - bottom) / 2})" '
               f'text-anchor="middle">decode tokens/s, x one stream</text>')
    ideal = " ".join(f"{px(s):.1f},{py(min(s, ymax)):.1f}" for s in xs if s <= ymax)
    svg.append(f'<polyline points="{ideal}" fill="none" stroke="#999" stroke-dasharray="4 4"/>')
    for i, (name, pts) in enumerate(series):
        c = colors[i % len(colors)]
        svg.append(f'<polyline points="{" ".join(f"{px(s):.1f},{py(r):.1f}" for s, r in pts)}" fill="none" stroke="{c}" stroke-width="2"/>')
        svg += [f'<circle cx="{px(s):.1f}" cy="{py(r):.1f}" r="3" fill="{c}"/>' for s, r in pts]
        y = top + 20 + 20 * i
        svg.append(f'<line x1="{w - right + 10}" y1="{y}" x2="{w - right + 30}" y2="{y}" stroke="{c}" stroke-width="2"/>')
        svg.append(f'<text x="{w - right + 35}" y="{y + 4}">{name}</text>')
    y = top + 20 + 20 * len(series)
    svg.append(f'<line x1="{w - right + 10}" y1="{y}" x2="{w - right + 30}" y2="{y}" stroke="#999" stroke-dasharray="4 4"/>')
    svg.append(f'<text x="{w - right + 35}" y="{y + 4}">ideal</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
