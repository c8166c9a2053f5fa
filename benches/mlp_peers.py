#!/usr/bin/env python3
"""The MLP training step of logit-reg against PyTorch on the CPU, same shapes and threads.

One step: the mini-batch's rows selected from the data set, the forward pass, the
cross-entropy, the backward pass, Adam's update, and the loss read back to Python (logit-reg
reads every run's loss back each step, to detect divergence; `loss.item()` does the same in
PyTorch). M runs: logit-reg holds them side by side in one module; PyTorch, as one would
write it, steps M separate models on the same batch.

Usage:
    cargo build --release -p experiments
    python3 benches/mlp_peers.py [--rounds 3] [--threads 2] [--binary target/release/experiments]

It alternates the two for `--rounds` rounds (the machine is noisy) and prints a Markdown table
with the median of each side's per-round medians and their ratio. Needs `torch` (pip install
torch).
"""

import argparse
import statistics
import subprocess
import time

# (name, d, hidden, classes, n, batch, runs, dtype)
CASES = [
    ("digits", 64, [64], 10, 1000, 50, 1, "f32"),
    ("digits, M = 6", 64, [64], 10, 1000, 50, 6, "f32"),
    ("MNIST-sized", 784, [256, 256], 10, 8192, 128, 1, "f32"),
    ("MNIST-sized, M = 4", 784, [256, 256], 10, 8192, 128, 4, "f32"),
    ("MNIST-sized", 784, [256, 256], 10, 8192, 128, 1, "f64"),
]


def torch_step_ms(torch, d, hidden, classes, n, batch, runs, dtype, warmup, iters):
    """Median ms per step of M PyTorch MLPs trained on the same mini-batches."""
    torch_dtype = torch.float32 if dtype == "f32" else torch.float64
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, d, generator=gen, dtype=torch_dtype) * 2 - 1
    y = torch.arange(n) % classes

    def mlp():
        layers, width = [], d
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, classes))
        return torch.nn.Sequential(*layers).to(torch_dtype)

    models = [mlp() for _ in range(runs)]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    loss_fn = torch.nn.CrossEntropyLoss()
    per_epoch = n // batch
    order, cursor = torch.randperm(n, generator=gen), per_epoch
    stamps = []
    for _ in range(warmup + iters):
        stamps.append(time.perf_counter())
        if cursor == per_epoch:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor * batch:(cursor + 1) * batch]
        cursor += 1
        xb, yb = x[idx], y[idx]
        for model, opt in zip(models, opts):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()
    stamps.append(time.perf_counter())
    steps = [b - a for a, b in zip(stamps, stamps[1:])][warmup:]
    return statistics.median(steps) * 1e3


def ours_step_ms(binary, d, hidden, classes, n, batch, runs, dtype, warmup, iters):
    out = subprocess.run(
        [binary, "bench-mlp", "--d", str(d), "--hidden", ",".join(map(str, hidden)),
         "--classes", str(classes), "--n", str(n), "--batch", str(batch), "--runs", str(runs),
         "--dtype", dtype, "--warmup", str(warmup), "--iters", str(iters)],
        check=True, capture_output=True, text=True,
    ).stdout
    return float(out.strip().split(": ")[-1].split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--binary", default="target/release/experiments")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.rounds} alternating rounds, median of {args.iters} steps each\n")
    print("| case | d | hidden | batch | M | dtype | logit-reg ms | PyTorch ms | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, d, hidden, classes, n, batch, runs, dtype in CASES:
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(ours_step_ms(args.binary, d, hidden, classes, n, batch, runs, dtype,
                                     args.warmup, args.iters))
            theirs.append(torch_step_ms(torch, d, hidden, classes, n, batch, runs, dtype,
                                        args.warmup, args.iters))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"| {name} | {d} | {hidden} | {batch} | {runs} | {dtype} | {a:.3f} | {b:.3f} "
              f"| {a / b:.2f} |")


if __name__ == "__main__":
    main()
