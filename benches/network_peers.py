#!/usr/bin/env python3
"""The MLP and ConvNet training steps of logit-reg against PyTorch on the CPU, same shapes and threads.

One step: the mini-batch's rows selected from the data set, the forward pass, the
cross-entropy, the backward pass, Adam's update, and the loss read back to Python (logit-reg
reads every run's loss back each step, to detect divergence; `loss.item()` does the same in
PyTorch). M runs: logit-reg holds them side by side in one module; PyTorch, as one would
write it, steps M separate models on the same batch.

Usage:
    cargo build --release -p experiments
    python3 benches/network_peers.py [--rounds 3] [--threads 2] [--only mlp|cnn]
                                     [--binary target/release/experiments]

It alternates the two for `--rounds` rounds (the machine is noisy) and prints a Markdown table
with the median of each side's per-round medians and their ratio. Needs `torch` (pip install
torch).
"""

import argparse
import statistics
import subprocess
import time

# (name, network, shape, classes, n, batch, runs, dtype). An MLP's shape is (d, hidden); a
# ConvNet's is ((channels, height, width), conv channels), 3x3 kernels with padding 1, each
# block conv -> ReLU -> 2x2 max pool, then flatten and a linear head.
CASES = [
    ("digits", "mlp", (64, [64]), 10, 1000, 50, 1, "f32"),
    ("digits, M = 6", "mlp", (64, [64]), 10, 1000, 50, 6, "f32"),
    ("MNIST-sized", "mlp", (784, [256, 256]), 10, 8192, 128, 1, "f32"),
    ("MNIST-sized, M = 4", "mlp", (784, [256, 256]), 10, 8192, 128, 4, "f32"),
    ("MNIST-sized", "mlp", (784, [256, 256]), 10, 8192, 128, 1, "f64"),
    ("digits", "cnn", ((1, 8, 8), [16, 32]), 10, 1000, 50, 1, "f32"),
    ("digits, M = 6", "cnn", ((1, 8, 8), [16, 32]), 10, 1000, 50, 6, "f32"),
    ("MNIST-sized", "cnn", ((1, 28, 28), [16, 32]), 10, 4096, 128, 1, "f32"),
    ("MNIST-sized, M = 4", "cnn", ((1, 28, 28), [16, 32]), 10, 4096, 128, 4, "f32"),
    ("CIFAR-sized", "cnn", ((3, 32, 32), [32, 64]), 10, 2048, 128, 1, "f32"),
]


def torch_network(torch, network, shape, classes):
    """The PyTorch module of one run."""
    nn = torch.nn
    if network == "mlp":
        d, hidden = shape
        layers, width = [], d
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, classes))
        return nn.Sequential(*layers)
    (c, h, w), channels = shape
    layers = [nn.Unflatten(1, (c, h, w))]
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
        c = out
        if h >= 2 and w >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, classes)]
    return nn.Sequential(*layers)


def input_dim(network, shape):
    if network == "mlp":
        return shape[0]
    (c, h, w), _ = shape
    return c * h * w


def torch_step_ms(torch, network, shape, classes, n, batch, runs, dtype, warmup, iters):
    """Median ms per step of M PyTorch networks trained on the same mini-batches."""
    torch_dtype = torch.float32 if dtype == "f32" else torch.float64
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, input_dim(network, shape), generator=gen, dtype=torch_dtype) * 2 - 1
    y = torch.arange(n) % classes
    models = [torch_network(torch, network, shape, classes).to(torch_dtype) for _ in range(runs)]
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


def ours_step_ms(binary, network, shape, classes, n, batch, runs, dtype, warmup, iters):
    if network == "mlp":
        d, hidden = shape
        model = ["bench-mlp", "--d", str(d), "--hidden", ",".join(map(str, hidden))]
    else:
        image, channels = shape
        model = ["bench-cnn", "--image", ",".join(map(str, image)),
                 "--channels", ",".join(map(str, channels))]
    out = subprocess.run(
        [binary, *model, "--classes", str(classes), "--n", str(n), "--batch", str(batch),
         "--runs", str(runs), "--dtype", dtype, "--warmup", str(warmup), "--iters", str(iters)],
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
    parser.add_argument("--only", choices=["mlp", "cnn"], help="time one kind of network only")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.rounds} alternating rounds, median of {args.iters} steps each\n")
    print("| network | case | input | layers | batch | M | dtype | logit-reg ms | PyTorch ms "
          "| ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, network, shape, classes, n, batch, runs, dtype in CASES:
        if args.only and network != args.only:
            continue
        case = (network, shape, classes, n, batch, runs, dtype, args.warmup, args.iters)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(ours_step_ms(args.binary, *case))
            theirs.append(torch_step_ms(torch, *case))
        a, b = statistics.median(ours), statistics.median(theirs)
        inputs = shape[0] if network == "mlp" else "x".join(map(str, shape[0]))
        print(f"| {network} | {name} | {inputs} | {shape[1]} | {batch} | {runs} | {dtype} "
              f"| {a:.3f} | {b:.3f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
