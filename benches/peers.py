#!/usr/bin/env python3
"""The identical full-batch GD step in numpy (and PyTorch / JAX when installed), for a
side-by-side comparison with `experiments bench` on the same machine.

One step of M runs on the quadratic-penalty logit-regularised loss (alpha = 0.2, lr = 0.1):

    t = (X S) * y                          # [N, M] signed logits
    g = -(1 - a) * sigmoid(-t) + 2 a t     # dl/dt per sample and run
    S -= lr * X^T (g * y) / N              # [d, M]

which reads X twice (forward and backward) like the Rust step. JAX is timed in three forms:
`jax` (one jitted step per call), `jax-loop` (LOOP steps in one jitted `lax.fori_loop`, so no
Python or dispatch cost between steps) and `jax-vmap` (the single-run step `vmap`ped over the
M runs, in the same jitted loop); the loop forms report the call's time divided by LOOP.

Usage:  pip install numpy [torch] [jax]
        python3 benches/peers.py [--dtype f32|f64] [--sizes 2000x1400,2000x3000] [--runs 1,8,32]
Prints a Markdown table of median ms/step, GB/s (2 passes over X) and GFLOP/s (4 N d M).
"""
import argparse
import time

LOOP = 20


def median(values):
    values = sorted(values)
    k = len(values)
    return values[k // 2] if k % 2 else 0.5 * (values[k // 2 - 1] + values[k // 2])


def numpy_step_fn(np, dtype):
    def make(n, d, m):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, d)).astype(dtype)
        y = np.where(rng.random((n, 1)) < 0.5, -1.0, 1.0).astype(dtype)
        s = np.zeros((d, m), dtype=dtype)
        a, lr = dtype(0.2), dtype(0.1)

        def step():
            nonlocal s
            t = (x @ s) * y
            g = -(1 - a) / (1 + np.exp(t)) + 2 * a * t
            s = s - lr * (x.T @ (g * y)) / n
        return step
    return make


def torch_step_fn(torch, dtype):
    def make(n, d, m):
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(n, d, generator=gen, dtype=dtype)
        y = torch.where(torch.rand(n, 1, generator=gen) < 0.5, -1.0, 1.0).to(dtype)
        s = torch.zeros(d, m, dtype=dtype, requires_grad=True)

        def step():
            nonlocal s
            t = (x @ s) * y
            loss = (0.8 * torch.nn.functional.softplus(-t) + 0.2 * t * t).mean(0).sum()
            loss.backward()
            with torch.no_grad():
                s -= 0.1 * s.grad
                s.grad.zero_()
        return step
    return make


def jax_step_fn(jax, jnp, dtype):
    def make(n, d, m):
        key = jax.random.PRNGKey(0)
        x = jax.random.normal(key, (n, d), dtype=dtype)
        y = jnp.where(jax.random.uniform(key, (n, 1)) < 0.5, -1.0, 1.0).astype(dtype)
        state = {"s": jnp.zeros((d, m), dtype=dtype)}

        def loss(s):
            t = (x @ s) * y
            return (0.8 * jax.nn.softplus(-t) + 0.2 * t * t).mean(0).sum()

        update = jax.jit(lambda s: s - 0.1 * jax.grad(loss)(s))

        def step():
            state["s"] = update(state["s"]).block_until_ready()
        return step
    return make


def jax_loop_fn(jax, jnp, dtype, vmapped):
    """LOOP steps per call in one jitted fori_loop; with `vmapped`, the one-run step vmapped
    over the runs (S is [M, d] there, one row per run)."""
    def make(n, d, m):
        key = jax.random.PRNGKey(0)
        x = jax.random.normal(key, (n, d), dtype=dtype)
        y = jnp.where(jax.random.uniform(key, (n,)) < 0.5, -1.0, 1.0).astype(dtype)

        if vmapped:
            def one_loss(s):
                t = (x @ s) * y
                return (0.8 * jax.nn.softplus(-t) + 0.2 * t * t).mean()

            one_step = lambda s: s - 0.1 * jax.grad(one_loss)(s)
            update = jax.vmap(one_step)
            start = jnp.zeros((m, d), dtype=dtype)
        else:
            def loss(s):
                t = (x @ s) * y[:, None]
                return (0.8 * jax.nn.softplus(-t) + 0.2 * t * t).mean(0).sum()

            update = lambda s: s - 0.1 * jax.grad(loss)(s)
            start = jnp.zeros((d, m), dtype=dtype)
        loop = jax.jit(lambda s: jax.lax.fori_loop(0, LOOP, lambda _, v: update(v), s))
        state = {"s": start}

        def step():
            state["s"] = loop(state["s"]).block_until_ready()
        step.steps_per_call = LOOP
        return step
    return make


def bench(make, sizes, runs, bytes_per, warmup, iters, name):
    for n, d in sizes:
        for m in runs:
            step = make(n, d, m)
            for _ in range(warmup):
                step()
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            sec = median(times) / getattr(step, "steps_per_call", 1)
            print(f"| {name} | {n} | {d} | {m} | {sec * 1e3:.3f} | "
                  f"{2 * n * d * bytes_per / sec / 1e9:.1f} | {4 * n * d * m / sec / 1e9:.1f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dtype", default="f32", choices=["f32", "f64"])
    p.add_argument("--sizes", default="2000x1400,2000x3000")
    p.add_argument("--runs", default="1,8,32")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30)
    args = p.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    runs = [int(v) for v in args.runs.split(",")]
    bytes_per = 4 if args.dtype == "f32" else 8
    print(f"{args.dtype}, median of {args.iters} steps after {args.warmup} warm-up steps\n")
    print("| peer | N | d | M | ms/step | GB/s (X, 2 passes) | GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    try:
        import numpy as np
        dtype = np.float32 if args.dtype == "f32" else np.float64
        bench(numpy_step_fn(np, dtype), sizes, runs, bytes_per, args.warmup, args.iters, "numpy")
    except ImportError:
        print("| numpy | not installed | | | | | |")
    try:
        import torch
        dtype = torch.float32 if args.dtype == "f32" else torch.float64
        bench(torch_step_fn(torch, dtype), sizes, runs, bytes_per, args.warmup, args.iters, "torch")
    except ImportError:
        print("| torch | not installed | | | | | |")
    try:
        import jax
        if args.dtype == "f64":
            jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        dtype = jnp.float32 if args.dtype == "f32" else jnp.float64
        bench(jax_step_fn(jax, jnp, dtype), sizes, runs, bytes_per, args.warmup, args.iters, "jax")
        loop_iters = max(3, args.iters // LOOP)
        for name, vmapped in (("jax-loop", False), ("jax-vmap", True)):
            bench(jax_loop_fn(jax, jnp, dtype, vmapped), sizes, runs, bytes_per, 2, loop_iters,
                  name)
    except ImportError:
        print("| jax | not installed | | | | | |")


if __name__ == "__main__":
    main()
