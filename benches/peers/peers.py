#!/usr/bin/env python3
"""Times the standard training-step workloads in lux-rs, JAX and PyTorch, side by side.

Each workload is one full training step -- forward, loss, backward, Adam(1e-3) update -- on a
batch made once before timing (f32, fixed seeds; the same shapes and data recipes as
`benches/src/steps.rs`):

  tiny   MLP 4-16-16-1 tanh, MSE, batch 64
  mnist  MLP 784-256-256-10 relu, logit cross-entropy on class labels, batch 128
  wide   MLP 1024-2048-2048-1024 relu, MSE, batch 256
  conv   LeNet-5 on 1x28x28 (conv5-pool-conv5-pool-120-84-10), logit cross-entropy, batch 64
  lstm   LSTM(2 => 8) over 50 steps + Dense(8 => 1), logit binary cross-entropy, batch 32

Frameworks: lux-rs (the `lux-bench` binary, release build), JAX (a jit-compiled step with
optax.adam), PyTorch eager (torch.optim.Adam) and PyTorch with torch.compile. Every
measurement runs in its own process, interleaved A B C D A B C D ... for --rounds rounds, so a
change in the machine's load affects all frameworks alike; the table shows the median over
rounds of each framework's per-step median, and the ratios peer / lux-rs of every round.

Setup (not part of CI):

  python3 -m venv /tmp/peers && /tmp/peers/bin/pip install jax optax torch numpy threadpoolctl
  cargo build --release -p lux-bench
  /tmp/peers/bin/python benches/peers/peers.py [--rounds 3] [--seconds 3] [--workloads tiny,mnist]

(torch from PyPI is a CUDA build; it runs on the CPU here.) All frameworks use every core:
lux-rs through rayon, JAX through XLA's thread pool, PyTorch through torch.set_num_threads.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

WORKLOADS = ["tiny", "mnist", "wide", "conv", "lstm"]
FRAMEWORKS = ["lux-rs", "jax", "torch", "torch.compile"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed_steps(step, seconds):
    """5 warm-up steps, then steps for about `seconds` (at least 20); loss before and after."""
    first = step()
    for _ in range(4):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < 20 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    last = step()
    return statistics.median(times) * 1e3, min(times) * 1e3, len(times), first, last


# ----------------------------------------------------------------------------- JAX


def jax_worker(name, seconds):
    import jax
    import jax.numpy as jnp
    import optax

    key = jax.random.PRNGKey(42)
    k_data, k_teacher, k_init = jax.random.split(key, 3)

    def dense_init(k, fan_in, fan_out):
        bound = 1.0 / fan_in**0.5
        kw, kb = jax.random.split(k)
        return {
            "w": jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
            "b": jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound),
        }

    def teacher(x, classes):
        w = jax.random.normal(k_teacher, (x[0].size, classes), jnp.float32)
        return jnp.argmax(x.reshape(x.shape[0], -1) @ w, axis=-1)

    def mlp(sizes, act):
        ks = jax.random.split(k_init, len(sizes) - 1)
        params = [dense_init(k, a, b) for k, a, b in zip(ks, sizes[:-1], sizes[1:])]

        def apply(ps, x):
            for i, p in enumerate(ps):
                x = x @ p["w"] + p["b"]
                if i + 1 < len(ps):
                    x = act(x)
            return x

        return params, apply

    mse = lambda yhat, y: jnp.mean((yhat - y) ** 2)
    ce = lambda logits, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    if name == "tiny":
        x = jax.random.normal(k_data, (64, 4), jnp.float32)
        y = jnp.sin(x.sum(-1, keepdims=True))
        params, apply = mlp([4, 16, 16, 1], jnp.tanh)
        loss_fn = lambda ps: mse(apply(ps, x), y)
    elif name == "mnist":
        x = jax.random.uniform(k_data, (128, 784), jnp.float32)
        y = teacher(x, 10)
        params, apply = mlp([784, 256, 256, 10], jax.nn.relu)
        loss_fn = lambda ps: ce(apply(ps, x), y)
    elif name == "wide":
        kx, ky = jax.random.split(k_data)
        x = jax.random.normal(kx, (256, 1024), jnp.float32)
        y = 0.1 * jax.random.normal(ky, (256, 1024), jnp.float32)
        params, apply = mlp([1024, 2048, 2048, 1024], jax.nn.relu)
        loss_fn = lambda ps: mse(apply(ps, x), y)
    elif name == "conv":
        x = jax.random.uniform(k_data, (64, 1, 28, 28), jnp.float32)
        y = teacher(x, 10)
        ks = jax.random.split(k_init, 5)

        def conv_init(k, cin, cout):
            bound = 1.0 / (cin * 25) ** 0.5
            kw, kb = jax.random.split(k)
            return {
                "w": jax.random.uniform(kw, (cout, cin, 5, 5), jnp.float32, -bound, bound),
                "b": jax.random.uniform(kb, (cout,), jnp.float32, -bound, bound),
            }

        params = {
            "c1": conv_init(ks[0], 1, 6),
            "c2": conv_init(ks[1], 6, 16),
            "d1": dense_init(ks[2], 256, 120),
            "d2": dense_init(ks[3], 120, 84),
            "d3": dense_init(ks[4], 84, 10),
        }

        def conv(h, p):
            out = jax.lax.conv_general_dilated(h, p["w"], (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return jax.nn.relu(out + p["b"][None, :, None, None])

        def pool(h):
            return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

        def apply(ps, h):
            h = pool(conv(h, ps["c1"]))
            h = pool(conv(h, ps["c2"])).reshape(h.shape[0], -1)
            h = jax.nn.relu(h @ ps["d1"]["w"] + ps["d1"]["b"])
            h = jax.nn.relu(h @ ps["d2"]["w"] + ps["d2"]["b"])
            return h @ ps["d3"]["w"] + ps["d3"]["b"]

        loss_fn = lambda ps: ce(apply(ps, x), y)
    elif name == "lstm":
        x = jax.random.normal(k_data, (32, 50, 2), jnp.float32)
        y = (x.sum((1, 2)) > 0).astype(jnp.float32)[:, None]
        k1, k2, k3 = jax.random.split(k_init, 3)
        hidden = 8
        bound = 1.0 / hidden**0.5
        params = {
            "wi": jax.random.uniform(k1, (2, 4 * hidden), jnp.float32, -bound, bound),
            "wh": jax.random.uniform(k2, (hidden, 4 * hidden), jnp.float32, -bound, bound),
            "b": jnp.zeros((4 * hidden,), jnp.float32),
            "out": dense_init(k3, hidden, 1),
        }

        def apply(ps, xs):
            def cell(carry, xt):
                h, c = carry
                z = xt @ ps["wi"] + h @ ps["wh"] + ps["b"]
                i, f, g, o = jnp.split(z, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), None

            zeros = jnp.zeros((xs.shape[0], hidden), jnp.float32)
            (h, _), _ = jax.lax.scan(cell, (zeros, zeros), jnp.swapaxes(xs, 0, 1))
            return h @ ps["out"]["w"] + ps["out"]["b"]

        loss_fn = lambda ps: jnp.mean(optax.sigmoid_binary_cross_entropy(apply(ps, x), y))
    else:
        raise SystemExit(f"unknown workload {name}")

    opt = optax.adam(1e-3)
    state = {"ps": params, "opt": opt.init(params)}

    @jax.jit
    def train_step(ps, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(ps)
        updates, opt_state = opt.update(grads, opt_state, ps)
        return optax.apply_updates(ps, updates), opt_state, loss

    def step():
        state["ps"], state["opt"], loss = train_step(state["ps"], state["opt"])
        return float(loss.block_until_ready())

    return timed_steps(step, seconds)


# ----------------------------------------------------------------------------- PyTorch


def torch_worker(name, seconds, compiled):
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(42)

    def teacher(x, classes):
        w = torch.randn(x[0].numel(), classes)
        return (x.reshape(x.shape[0], -1) @ w).argmax(-1)

    def mlp(sizes, act):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i + 2 < len(sizes):
                layers.append(act())
        return nn.Sequential(*layers)

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(2, 8, batch_first=True)
            self.out = nn.Linear(8, 1)

        def forward(self, xs):
            h, _ = self.lstm(xs)
            return self.out(h[:, -1])

    if name == "tiny":
        x = torch.randn(64, 4)
        y = torch.sin(x.sum(-1, keepdim=True))
        model, loss_fn = mlp([4, 16, 16, 1], nn.Tanh), nn.MSELoss()
    elif name == "mnist":
        x = torch.rand(128, 784)
        y = teacher(x, 10)
        model, loss_fn = mlp([784, 256, 256, 10], nn.ReLU), nn.CrossEntropyLoss()
    elif name == "wide":
        x = torch.randn(256, 1024)
        y = 0.1 * torch.randn(256, 1024)
        model, loss_fn = mlp([1024, 2048, 2048, 1024], nn.ReLU), nn.MSELoss()
    elif name == "conv":
        x = torch.rand(64, 1, 28, 28)
        y = teacher(x, 10)
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )
        loss_fn = nn.CrossEntropyLoss()
    elif name == "lstm":
        x = torch.randn(32, 50, 2)
        y = (x.sum((1, 2)) > 0).float()[:, None]
        model, loss_fn = Lstm(), nn.BCEWithLogitsLoss()
    else:
        raise SystemExit(f"unknown workload {name}")

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        train_step = torch.compile(train_step)

    return timed_steps(lambda: float(train_step().detach()), seconds)


# ----------------------------------------------------------------------------- driver


def lux_bench_binary():
    exe = os.path.join(ROOT, "target", "release", "lux-bench")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "-p", "lux-bench"], cwd=ROOT, check=True)
    return exe


def measure(framework, workload, seconds):
    """One measurement in a fresh process: a dict, or None if the framework failed."""
    if framework == "lux-rs":
        cmd = [lux_bench_binary(), "--json", "--seconds", str(seconds), workload]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, workload, "--seconds", str(seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"  {framework} {workload}: failed: {' | '.join(tail)}", file=sys.stderr)
        return None
    r = json.loads(lines[-1])
    if not r["loss_after"] < r["loss_before"]:
        print(f"  {framework} {workload}: the loss did not fall ({r['loss_before']} -> {r['loss_after']})", file=sys.stderr)
    return r


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("workload", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        if args.worker == "jax":
            med, mn, steps, first, last = jax_worker(args.workload, args.seconds)
        else:
            med, mn, steps, first, last = torch_worker(args.workload, args.seconds, args.worker == "torch.compile")
        print(json.dumps({"framework": args.worker, "workload": args.workload, "median_ms": med, "min_ms": mn,
                          "steps": steps, "loss_before": first, "loss_after": last}))
        return

    workloads = [w for w in args.workloads.split(",") if w]
    frameworks = [f for f in args.frameworks.split(",") if f]
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w} (one of {', '.join(WORKLOADS)})")
    for f in frameworks:
        if f not in FRAMEWORKS:
            raise SystemExit(f"unknown framework {f} (one of {', '.join(FRAMEWORKS)})")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; {args.rounds} rounds of ~{args.seconds} s per measurement")
    results = {(w, f): [] for w in workloads for f in frameworks}
    for r in range(args.rounds):
        for w in workloads:
            for f in frameworks:
                m = measure(f, w, args.seconds)
                results[(w, f)].append(m["median_ms"] if m else None)
                if m:
                    print(f"  round {r + 1}: {w:<6} {f:<14} median {m['median_ms']:.4f} ms  "
                          f"min {m['min_ms']:.4f} ms  loss {m['loss_before']:.4g} -> {m['loss_after']:.4g}", file=sys.stderr)

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    head = "| workload | " + " | ".join(f"{f} (ms/step)" for f in frameworks)
    peers = [f for f in frameworks if f != "lux-rs"]
    if "lux-rs" in frameworks:
        head += " | " + " | ".join(f"{p} / lux-rs per round" for p in peers)
    print(head + " |")
    print("|" + "---|" * (head.count("|")))
    for w in workloads:
        row = [w] + [f"{med(results[(w, f)]):.4f}" if med(results[(w, f)]) is not None else "failed" for f in frameworks]
        if "lux-rs" in frameworks:
            for p in peers:
                ratios = [f"{b / a:.2f}" for a, b in zip(results[(w, "lux-rs")], results[(w, p)]) if a and b]
                row.append(" ".join(ratios) if ratios else "-")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
