"""``adderhw bench golden``: the golden model and the PyTorch reference against conv2d.

Runs on the ResNet-20 CIFAR layer shapes at batch 64, each measurement in a child process of
its own.

Time: one child per candidate and layer times the candidate and its baseline (conv2d forward,
or conv2d forward + backward for the reference's backward) alternately, ``repeats`` rounds
after two warm-up calls of each (which also absorb torch.compile); each is the best of its
rounds. Interleaving makes both see the same machine state, so the ratio survives a noisy
machine better than two separate measurements would. Memory: one child per implementation and
layer, peak RSS read from the kernel (VmHWM after resetting it through /proc/self/clear_refs),
so one candidate's allocations cannot hide another's.

Goals (issue 2): reference forward <= 10x conv2d, golden <= 30x, peak memory <= 2x conv's.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

from adderhw.base.tables import markdown_table
from adderhw.golden import adder2d

__all__ = ["LAYERS", "IMPLS", "run_bench", "format_table"]

#: ResNet-20 (CIFAR-10) adder-layer shapes: (name, Cin, Cout, H, stride); kernel 3x3, padding 1.
LAYERS = [
    ("stage1 16->16 32x32", 16, 16, 32, 1),
    ("stage2 16->32 32x32 s2", 16, 32, 32, 2),
    ("stage2 32->32 16x16", 32, 32, 16, 1),
    ("stage3 64->64 8x8", 64, 64, 8, 1),
]
BATCH = 64
IMPLS = {
    "conv2d": "torch.nn.functional.conv2d forward (baseline)",
    "conv2d_fb": "torch conv2d forward + backward (baseline for backward)",
    "golden": "golden.adder2d, NumPy int64 exact",
    "reference": "golden.reference.adder2d_torch forward",
    "reference_fb": "adder2d_torch forward + paper backward",
}
#: the candidates and the baseline each is timed against
BASELINE = {"golden": "conv2d", "reference": "conv2d", "reference_fb": "conv2d_fb"}


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _op(impl, layer):
    """A no-argument callable running ``impl`` on one layer (inputs built once, seeded)."""
    # torch: deferred (start-up, golden/__init__ docstring)
    import torch
    import torch.nn.functional as F
    from adderhw.golden.reference import adder2d_torch
    rng = np.random.default_rng(0)
    name, cin, cout, h, stride = LAYERS[layer]
    xq = rng.integers(-128, 128, (BATCH, cin, h, h))
    wq = rng.integers(-128, 128, (cout, cin, 3, 3))
    x = torch.tensor(xq, dtype=torch.float32) / 32
    w = torch.tensor(wq, dtype=torch.float32) / 32
    if impl == "golden":
        return lambda: adder2d(xq, wq, stride, 1, width=8)
    if impl == "conv2d":
        return lambda: F.conv2d(x, w, stride=stride, padding=1)
    if impl == "reference":
        def op():
            with torch.no_grad():
                adder2d_torch(x, w, stride, 1)
        return op
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    fn = adder2d_torch if impl == "reference_fb" else (lambda a, b, s, p: F.conv2d(a, b, stride=s, padding=p))

    def op():
        y = fn(xg, wg, stride, 1)
        y.backward(torch.ones_like(y))
        xg.grad = wg.grad = None
    return op


def _child_time(impl, layer, repeats):
    """Runs in the child: ``impl`` and its baseline, alternately; prints JSON (best of each)."""
    ops = {"impl": _op(impl, layer), "base": _op(BASELINE[impl], layer)}
    for op in ops.values():                 # warm-up (and torch.compile)
        op()
        op()
    best = {"impl": float("inf"), "base": float("inf")}
    for _ in range(repeats):
        for which in ("base", "impl"):
            t0 = time.perf_counter()
            ops[which]()
            best[which] = min(best[which], time.perf_counter() - t0)
    print(json.dumps({"layer": LAYERS[layer][0], "seconds": best["impl"], "base_seconds": best["base"]}))


def _child_memory(impl, layer, repeats):
    """Runs in the child (under a fixed mmap threshold): peak RSS of one call above the RSS before it."""
    op = _op(impl, layer)
    op()
    op()
    peak = 0
    for _ in range(repeats):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                   # reset VmHWM to the current RSS
        base = _rss_kib("VmRSS")
        op()
        peak = max(peak, _rss_kib("VmHWM") - base)
    print(json.dumps({"layer": LAYERS[layer][0], "peak_mib": peak / 1024}))


def _run_child(fn, impl, layer, repeats, env=None):
    out = subprocess.run(
        [sys.executable, "-c", f"from adderhw.bench_golden import {fn}; {fn}({impl!r}, {layer}, {repeats})"],
        check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_bench(repeats=7, progress=None):
    """Measure every implementation; returns a dict ready for JSON."""
    # Memory is measured under a fixed mmap threshold: glibc then maps large blocks and unmaps
    # them when freed, so the peak RSS of one call is not hidden by memory an earlier call left
    # in the heap. That setting slows allocation, so times come from children with the default
    # allocator.
    env_mem = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    jobs = [("time", impl, li) for impl in BASELINE for li in range(len(LAYERS))]
    jobs += [("memory", impl, li) for impl in IMPLS for li in range(len(LAYERS))]
    times, mems = {}, {}
    for i, (what, impl, li) in enumerate(jobs):
        if progress:
            progress(f"[{i + 1}/{len(jobs)}] {what}: {impl}" + (f" and {BASELINE[impl]}" if what == "time" else "")
                     + f" on {LAYERS[li][0]}")
        if what == "time":
            times[impl, li] = _run_child("_child_time", impl, li, repeats)
        else:
            mems[impl, li] = _run_child("_child_memory", impl, li, repeats, env_mem)["peak_mib"]
    rows = []
    for li, (name, *_rest) in enumerate(LAYERS):
        # conv2d's own time: the best it did beside either forward candidate
        conv_s = min(times["golden", li]["base_seconds"], times["reference", li]["base_seconds"])
        row = {"layer": name, "conv2d_ms": conv_s * 1e3, "conv2d_fb_ms": times["reference_fb", li]["base_seconds"] * 1e3,
               "conv2d_peak_mib": mems["conv2d", li], "conv2d_fb_peak_mib": mems["conv2d_fb", li]}
        for impl, base in BASELINE.items():
            t = times[impl, li]
            row[f"{impl}_ms"] = t["seconds"] * 1e3
            row[f"{impl}_time_x"] = t["seconds"] / t["base_seconds"]
            row[f"{impl}_peak_mib"] = mems[impl, li]
            row[f"{impl}_mem_x"] = mems[impl, li] / max(mems[base, li], 1e-9)
        rows.append(row)
    return {"batch": BATCH, "repeats": repeats, "layers": rows,
            "goals": {"reference_time_x": 10, "golden_time_x": 30, "mem_x": 2}}


def format_table(result):
    lines = [
        f"Batch {result['batch']}; each time is the best of {result['repeats']} rounds, timed alternately with "
        "its baseline in one process: conv2d (backward: conv2d forward + backward).",
        "",
        markdown_table(
            ["layer", "conv2d ms", "golden x", "reference fwd x", "reference fwd+bwd x", "conv peak MiB",
             "golden mem x", "reference mem x", "fwd+bwd mem x"],
            [[r["layer"], f"{r['conv2d_ms']:.2f}", f"{r['golden_time_x']:.1f}", f"{r['reference_time_x']:.1f}",
              f"{r['reference_fb_time_x']:.1f}", f"{r['conv2d_peak_mib']:.1f}", f"{r['golden_mem_x']:.2f}",
              f"{r['reference_mem_x']:.2f}", f"{r['reference_fb_mem_x']:.2f}"] for r in result["layers"]],
            "l" + "r" * 8),
    ]
    g = result["goals"]
    lines += ["", f"Goals: reference forward <= {g['reference_time_x']}x, golden <= {g['golden_time_x']}x, "
              f"peak memory <= {g['mem_x']}x conv2d's."]
    return "\n".join(lines)
