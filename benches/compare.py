#!/usr/bin/env python3
"""Side-by-side step times of logit-reg's engines and the peers, measured in one session.

Runs `experiments bench` (burn and fused engines) and `benches/peers.py` (numpy, and PyTorch /
JAX when installed) alternately for several rounds, so that slow and fast periods of a shared
machine hit every contender alike, and prints the median over rounds of each contender's
median ms/step, with our time divided by the fastest peer's.

Usage:  cargo build --release -p experiments
        python3 benches/compare.py [--dtype f32|f64] [--sizes 2000x1400,2000x3000]
                                   [--runs 1,32] [--rounds 5] [--iters 100]
                                   [--engines burn,fused,fused-pipelined,fused-blocked]
"""
import argparse
import collections
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rows(text):
    """(contender, N, d, M, ms/step) from the Markdown tables of both programs."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[1].isdigit():
            continue
        try:
            yield cells[0], int(cells[1]), int(cells[2]), int(cells[3]), float(cells[4])
        except ValueError:
            continue


def probes(text):
    """(probe name, value) from the machine-limit lines of `experiments bench`."""
    for line in text.splitlines():
        if line.startswith("memory bandwidth probe") or line.startswith("GEMM probe"):
            name, _, value = line.rpartition(":")
            try:
                yield name.strip(), float(value.split()[0])
            except (ValueError, IndexError):
                continue


def median(values):
    values = sorted(values)
    k = len(values)
    return values[k // 2] if k % 2 else 0.5 * (values[k // 2 - 1] + values[k // 2])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dtype", default="f32", choices=["f32", "f64"])
    p.add_argument("--sizes", default="2000x1400,2000x3000")
    p.add_argument("--runs", default="1,32")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--engines", default="burn,fused",
                   help="ours: burn, fused, fused-pipelined, fused-blocked (comma-separated)")
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "experiments"))
    args = p.parse_args()
    if args.rounds < 1 or args.iters < 1:
        sys.exit("--rounds and --iters must be >= 1")
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: run `cargo build --release -p experiments` first")
    ours = [args.binary, "bench", "--dtype", args.dtype, "--sizes", args.sizes,
            "--runs", args.runs, "--iters", str(args.iters), "--engines", args.engines]
    peers = [sys.executable, os.path.join(HERE, "peers.py"), "--dtype", args.dtype,
             "--sizes", args.sizes, "--runs", args.runs, "--iters", str(args.iters)]
    times = collections.defaultdict(list)
    limits = collections.defaultdict(list)
    for round_index in range(args.rounds):
        for command in (ours, peers):
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            for name, n, d, m, ms in rows(out):
                times[(name, n, d, m)].append(ms)
            for name, value in probes(out):
                limits[name].append(value)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    shapes = sorted({key[1:] for key in times})
    names = sorted({key[0] for key in times})
    ours_names = [n for n in names if n == "burn" or n.startswith("fused")]
    peer_names = [n for n in names if n not in ours_names]
    print(f"{args.dtype}: median over {args.rounds} alternating rounds of each median "
          f"of {args.iters} steps (ms/step)\n")
    header = ["N", "d", "M"] + names + ["fastest peer"] + [f"{o} ÷ fastest peer" for o in ours_names]
    header += [f"rounds {o} < every peer" for o in ours_names]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n, d, m in shapes:
        med = {name: median(times[(name, n, d, m)]) for name in names if times[(name, n, d, m)]}
        peer_med = {k: v for k, v in med.items() if k in peer_names}
        best = min(peer_med, key=peer_med.get) if peer_med else None
        cells = [str(n), str(d), str(m)]
        cells += [f"{med[name]:.3f}" if name in med else "–" for name in names]
        cells.append(best or "–")
        for name in ours_names:
            ratio = med[name] / peer_med[best] if best and name in med else float("nan")
            cells.append(f"{ratio:.2f}")
        for name in ours_names:
            # Round by round: was ours faster than the fastest peer of the same round?
            ours_t = times[(name, n, d, m)]
            peers_t = [times[(p, n, d, m)] for p in peer_names if times[(p, n, d, m)]]
            wins = sum(
                1 for k, t in enumerate(ours_t)
                if peers_t and all(k < len(pt) and t < pt[k] for pt in peers_t)
            )
            cells.append(f"{wins}/{len(ours_t)}")
        print("| " + " | ".join(cells) + " |")
    bytes_per = 4 if args.dtype == "f32" else 8
    gemm = [median(v) for k, v in limits.items() if k.startswith("GEMM")]
    cores = [median(v) for k, v in limits.items() if "cores" in k]
    print("\nMachine limits (median over rounds):")
    for name, values in sorted(limits.items()):
        print(f"- {name}: {median(values):.1f}")
    print("\nOur engines against the limits (median times):\n")
    print("| engine | N | d | M | GFLOP/s | % of GEMM probe | GB/s over X (passes) "
          "| % of all-core bandwidth |")
    print("|---|---|---|---|---|---|---|---|")
    for n, d, m in shapes:
        for name in ours_names:
            if not times[(name, n, d, m)]:
                continue
            sec = median(times[(name, n, d, m)]) / 1e3
            gflops = 4 * n * d * m / sec / 1e9
            passes = 1 if name.startswith("fused") else 2
            gbs = passes * n * d * bytes_per / sec / 1e9
            pct_gemm = f"{100 * gflops / gemm[0]:.0f} %" if gemm else "–"
            pct_bw = f"{100 * gbs / cores[0]:.0f} %" if cores else "–"
            print(f"| {name} | {n} | {d} | {m} | {gflops:.1f} | {pct_gemm} | {gbs:.1f} ({passes}) "
                  f"| {pct_bw} |")


if __name__ == "__main__":
    main()
