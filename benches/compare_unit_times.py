#!/usr/bin/env python3
"""Compares how long the same units of work took in two runs of a reproduction.

A unit is a batch, or a group of batches trained together; its time is from its batches'
`claim.lock` to their `done.json` (file modification times), so it includes the data draw,
the problem, the step loop and the measurements. Only units finished in both runs count.

    python3 benches/compare_unit_times.py RUN_A RUN_B [--window SECONDS]

prints the core-seconds of the common units summed in each run, and the ratio B/A of the
time of the units that started in each window of RUN_B (default 300 s).
"""
import argparse
import collections
import glob
import os


def units(root):
    """{unit key: (claim time, done time, batch dirs)} of the finished units under root."""
    found = {}
    for done in glob.glob(os.path.join(root, "fig*", "parts", "*", "batches", "*", "done.json")):
        batch = os.path.dirname(done)
        claim = os.path.join(batch, "claim.lock")
        if not os.path.exists(claim):
            continue
        rel = os.path.relpath(batch, root)
        part = rel.split(os.sep + "batches" + os.sep)[0]
        # The batches of a group are written together: one unit per part and done second.
        key = (part, round(os.path.getmtime(done)))
        c, d, dirs = found.get(key, (float("inf"), 0.0, []))
        found[key] = (min(c, os.path.getmtime(claim)), max(d, os.path.getmtime(done)), dirs + [rel])
    return found


def by_batch(found):
    return {rel: (c, d) for c, d, dirs in found.values() for rel in dirs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--window", type=float, default=300.0)
    args = parser.parse_args()
    a, b = units(args.run_a), units(args.run_b)
    if not a or not b:
        raise SystemExit("error: a run has no finished batches (done.json with claim.lock)")
    ba = by_batch(a)
    common = [(c, d, dirs) for c, d, dirs in b.values() if all(r in ba for r in dirs)]
    sum_b = sum(d - c for c, d, _ in common)
    sum_a = 0.0
    for _, _, dirs in common:
        sum_a += max(ba[r][1] for r in dirs) - min(ba[r][0] for r in dirs)
    print(f"{len(common)} units finished in both: {sum_a:.1f} core-s in A, {sum_b:.1f} in B")
    start = min(c for c, _, _ in b.values())
    windows = collections.defaultdict(lambda: [0.0, 0.0])
    for c, d, dirs in common:
        w = int((c - start) // args.window)
        windows[w][0] += max(ba[r][1] for r in dirs) - min(ba[r][0] for r in dirs)
        windows[w][1] += d - c
    for w in sorted(windows):
        ta, tb = windows[w]
        print(f"units started {w * args.window / 60:5.1f} min into B: B/A = {tb / ta:.3f}")


if __name__ == "__main__":
    main()
