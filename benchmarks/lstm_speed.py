"""An LSTM's forward and backward pass: neuronet against PyTorch, one thread each.

A batch of 64 sequences of 28 steps of 28 inputs (MNIST rows read top to bottom), an
LSTM of 128 and of 512 units returning its last state; one pass is the forward, then
the backward of a fixed random ∂L/∂h_T into every parameter and the input. Both in
float32, side by side in one run, the two interleaved within each repetition, --repeats
passes each after --warmup. Speed = PyTorch's time ÷ neuronet's, from the medians and
from the fastest passes (the better guide on a machine that other work shares: a pass
slowed by another process is never the fastest). Bar: ≥ 0.8 at 128 units, ≥ 1.0 at 512.

    python benchmarks/lstm_speed.py [--repeats 30] [--warmup 5]
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch

from common import one_thread
from neuronet import nn

BATCH, STEPS, FEATURES = 64, 28, 28
BARS = {128: 0.8, 512: 1.0}


def neuronet_pass(hidden, x, grad):
    layer = nn.LSTM(hidden)
    layer.build((STEPS, FEATURES), np.random.default_rng(0), np.float32)

    def run():
        layer.forward(x, training=True)
        layer.backward(grad)

    return run


def torch_pass(hidden, x, grad):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(FEATURES, hidden, batch_first=True)
    inputs, upstream = torch.from_numpy(x).requires_grad_(), torch.from_numpy(grad)

    def run():
        inputs.grad = None
        lstm.zero_grad(set_to_none=True)
        _, (h, _) = lstm(inputs)
        h[0].backward(upstream)

    return run


def seconds(runs, repeats, warmup):
    """The times of each of ``runs``, interleaved within each repetition."""
    for run in runs:
        for _ in range(warmup):
            run()
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, kept in zip(runs, times):
            start = time.perf_counter()
            run()
            kept.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = {}
    with one_thread():
        for hidden in BARS:
            x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
            grad = rng.standard_normal((BATCH, hidden)).astype(np.float32)
            ours, theirs = seconds([neuronet_pass(hidden, x, grad), torch_pass(hidden, x, grad)],
                                   args.repeats, args.warmup)
            result = {}
            for name, pick in (("median", statistics.median), ("fastest", min)):
                speed = pick(theirs) / pick(ours)
                result[name] = {"neuronet_ms": round(pick(ours) * 1e3, 2), "pytorch_ms": round(pick(theirs) * 1e3, 2),
                                "speed": round(speed, 2), "meets_bar": speed >= BARS[hidden]}
                print(f"LSTM {BATCH}×{STEPS}×{FEATURES} → {hidden}, {name:>7}: neuronet {pick(ours) * 1e3:7.2f} ms, "
                      f"PyTorch {pick(theirs) * 1e3:7.2f} ms, speed {speed:.2f}× (bar {BARS[hidden]}×)")
            results[hidden] = result
    print(json.dumps(results))


if __name__ == "__main__":
    main()
