#!/usr/bin/env python3
"""bench_python_route.py - the Python binding's overhead: routing 4096 tokens x 64 experts
from NumPy with AdaptiveKRouter.route() against the C library's own time on the same array
(bench_router --raw, one ak_route call per batch), interleaved C, Python, C, Python...;
and against the seeds' published rule written as pure Python (their SDK is a Python
package; its snippet, per token: softmax, entropy, thresholds, top-k) and as NumPy.

    ADAPTIVEK_LIB=build/src/router/libadaptivek.so.0 PYTHONPATH=python \\
        /usr/bin/python3 bench/bench_python_route.py build/bench/bench_router [rounds]

Times are single-thread CPU times (time.thread_time / CLOCK_THREAD_CPUTIME_ID), medians."""
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import adaptive_k as ak

TOKENS, EXPERTS = 4096, 64


def logits():
    """Entropies spread over the whole range, as bench_router's own batches."""
    rng = np.random.default_rng(0)
    scale = 0.25 * 20.0 ** rng.random((TOKENS, 1))
    return (scale * rng.standard_normal((TOKENS, EXPERTS))).astype(np.float32)


def time_call(fn, min_s=0.1, reps=5):
    """Median CPU microseconds per call; each rep repeats fn for at least min_s."""
    out = []
    for _ in range(reps):
        n, t0 = 0, time.thread_time()
        while True:
            fn()
            n += 1
            t1 = time.thread_time()
            if t1 - t0 >= min_s:
                break
        out.append(1e6 * (t1 - t0) / n)
    return statistics.median(out)


def seeds_pure_python(rows, thresholds=(0.6, 1.2), k_values=(1, 2, 4)):
    """The seeds' select_k and top_k, token by token in plain Python (their snippet)."""
    result = []
    for z in rows:
        m = max(z)
        e = [math.exp(v - m) for v in z]
        s = sum(e)
        p = [v / s for v in e]
        h = -sum(v * math.log(v) for v in p if v > 0)
        k = k_values[0] if h < thresholds[0] else k_values[1] if h < thresholds[1] else k_values[2]
        ids = sorted(range(len(p)), key=lambda i: -p[i])[:k]
        result.append((k, ids, [p[i] for i in ids]))
    return result


def seeds_numpy(z, thresholds=(0.6, 1.2), k_values=(1, 2, 4)):
    """The same rule vectorised with NumPy (what a careful Python user writes)."""
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    h = -(p * np.log(np.maximum(p, 1e-30))).sum(axis=1)
    k = np.where(h < thresholds[0], k_values[0], np.where(h < thresholds[1], k_values[1], k_values[2]))
    ids = np.argsort(-p, axis=1, kind="stable")[:, :max(k_values)]
    w = np.take_along_axis(p, ids, axis=1)
    keep = np.arange(max(k_values))[None, :] < k[:, None]
    return k, np.where(keep, ids, -1), np.where(keep, w, 0.0)


def main():
    bench_router = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    z = logits()
    routers = {"entropy": ak.AdaptiveKRouter(n_experts=EXPERTS),
               "fixed8": ak.AdaptiveKRouter(policy=ak.Policy.fixed(8), n_experts=EXPERTS),
               "top-p": ak.AdaptiveKRouter(policy=ak.Policy.top_p(0.9, k_max=8), n_experts=EXPERTS)}
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "z.raw")
        z.tofile(raw)
        c_us = {name: [] for name in routers}
        py_us = {name: [] for name in routers}
        for _ in range(rounds):  # interleaved: C then Python, every round
            out = subprocess.run([bench_router, "--raw", raw, str(EXPERTS), "3"], check=True, capture_output=True,
                                 text=True).stdout
            for line in out.split("\n"):
                if line:
                    name, us = line.split()
                    c_us[name].append(float(us))
            for name, r in routers.items():
                py_us[name].append(time_call(lambda: r.route(z), reps=3))
    print("routing %d tokens x %d experts, one call (CPU microseconds, median of %d interleaved rounds)"
          % (TOKENS, EXPERTS, rounds))
    print("| policy | C library (ak_route) | Python route() | Python / C |")
    print("|---|---:|---:|---:|")
    for name in routers:
        c, p = statistics.median(c_us[name]), statistics.median(py_us[name])
        print("| %s | %.0f | %.0f | %.2fx |" % (name, c, p, p / c))
    rows = z.tolist()
    pure = time_call(lambda: seeds_pure_python(rows), min_s=0.5, reps=3)
    vec = time_call(lambda: seeds_numpy(z), reps=5)
    ours = statistics.median(py_us["entropy"])
    print("\nthe seeds' rule (entropy, k={1,2,4}, h={0.6,1.2}) on the same array:")
    print("| implementation | microseconds | vs adaptive_k |")
    print("|---|---:|---:|")
    print("| adaptive_k route() | %.0f | 1.0x |" % ours)
    print("| seeds' snippet, pure Python | %.0f | %.0fx slower |" % (pure, pure / ours))
    print("| seeds' rule, NumPy-vectorised | %.0f | %.1fx slower |" % (vec, vec / ours))
    k_seeds = np.array([t[0] for t in seeds_pure_python(rows[:512])])
    k_ours = routers["entropy"].route(z[:512])[0]
    print("\nsame K as the pure-Python rule on the first 512 tokens: %d of 512" % int((k_seeds == k_ours).sum()))


if __name__ == "__main__":
    main()
