#!/usr/bin/env python3
"""Compare two reproductions (`experiments reproduce --out A` and `--out B`): what differs apart
from timing lines.

- report.md (each figure's and the top level): identical once the timing phrases are masked;
- figure.svg, figure.png: identical bytes;
- index.csv: parsed as CSV (so quoting does not count; a file written before the csv crate,
  with unquoted commas in part names, is read the way it was meant), then compared field by
  field; for each column that differs, the largest relative difference is printed;
- with --batches: every batch's metrics.csv, histograms.csv and logits.csv byte for byte, and
  summary.json value by value without wall_seconds and metric_seconds.

Usage: python3 benches/compare_results.py A B [--batches]. Exit status 1 if anything differs.
"""
import csv
import json
import os
import re
import sys

TIMING = [
    (re.compile(r"training time [0-9.]+ (s|min|h) \(sum over batches[^)]*\); "
                r"this invocation( trained it on jobs shared with the other figures and "
                r"analysed it in)? [0-9.]+ (s|min|h)(: [^.]*)?\."), "TIMING."),
    (re.compile(r"training time [0-9.]+ (s|min|h) in total .*?; "
                r"this invocation took [0-9.]+ (s|min|h)\."), "TIMING."),
    (re.compile(r"^(\| \[\d+\]\(#figure-\d+\) .*\| )[0-9.]+ \|$", re.M), r"\1T |"),
]


def mask(text):
    for pattern, replacement in TIMING:
        text = pattern.sub(replacement, text)
    return text


def rows(path):
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    header, out = table[0], [table[0]]
    for row in table[1:]:
        # Before the csv crate, a part name such as `gd,sigma_n=1` was written unquoted.
        if len(row) == len(header) + 1:
            row = [row[0] + "," + row[1]] + row[2:]
        out.append(row)
    return out


def relative(u, v):
    try:
        x, y = float(u), float(v)
    except ValueError:
        return float("inf")
    if x == y or (x != x and y != y):
        return 0.0
    return abs(x - y) / max(abs(x), abs(y))


def compare_index(a, b):
    ra, rb = rows(a), rows(b)
    if ra[0] != rb[0] or len(ra) != len(rb):
        return {"(shape)": float("inf")}
    columns = {}
    for x, y in zip(ra[1:], rb[1:]):
        for name, u, v in zip(ra[0], x, y):
            if u != v:
                columns[name] = max(columns.get(name, 0.0), relative(u, v))
    return columns


def compare_json(x, y, path, out):
    if isinstance(x, dict) and isinstance(y, dict):
        for key in set(x) | set(y):
            compare_json(x.get(key), y.get(key), key, out)
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for u, v in zip(x, y):
            compare_json(u, v, path, out)
    elif x != y:
        out[path] = max(out.get(path, 0.0), relative(x, y) if isinstance(x, float) else float("inf"))


def main():
    a, b = sys.argv[1], sys.argv[2]
    differs = 0
    for top in ["report.md"]:
        pa, pb = os.path.join(a, top), os.path.join(b, top)
        if os.path.exists(pa) and os.path.exists(pb) and mask(open(pa).read()) != mask(open(pb).read()):
            print(f"{top}: differs beyond timing"); differs += 1
    for fig in sorted(d for d in os.listdir(a) if d.startswith("fig")):
        for name in ["report.md", "figure.svg", "figure.png", "index.csv"]:
            pa, pb = os.path.join(a, fig, name), os.path.join(b, fig, name)
            if not os.path.exists(pb):
                print(f"{fig}/{name}: missing in {b}"); differs += 1; continue
            if name == "report.md":
                if mask(open(pa).read()) != mask(open(pb).read()):
                    print(f"{fig}/{name}: differs beyond timing"); differs += 1
            elif name == "index.csv":
                columns = compare_index(pa, pb)
                if columns:
                    shown = ", ".join(f"{k} {v:.1e}" for k, v in sorted(columns.items()))
                    print(f"{fig}/{name}: max relative difference per column: {shown}")
                    differs += 1
            elif open(pa, "rb").read() != open(pb, "rb").read():
                print(f"{fig}/{name}: differs"); differs += 1
    if "--batches" in sys.argv:
        keys, files = {}, 0
        for root, _, names in os.walk(a):
            for name in names:
                pa = os.path.join(root, name)
                pb = os.path.join(b, os.path.relpath(pa, a))
                if "batches" not in pa:
                    continue
                if name == "summary.json":
                    x, y = json.load(open(pa)), json.load(open(pb))
                    for j in (x, y):
                        j.pop("wall_seconds", None); j.pop("metric_seconds", None)
                    compare_json(x, y, "", keys)
                elif name in ("metrics.csv", "histograms.csv", "logits.csv"):
                    columns = compare_index(pa, pb)
                    for k, v in columns.items():
                        keys[f"{name}:{k}"] = max(keys.get(f"{name}:{k}", 0.0), v)
                    files += 1
        if keys:
            print("batches: max relative difference per key:",
                  ", ".join(f"{k} {v:.1e}" for k, v in sorted(keys.items())))
            differs += 1
        else:
            print(f"batches: {files} CSV files and every summary.json identical (timing aside)")
    print("identical apart from timing lines" if not differs else f"{differs} differences")
    sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()
