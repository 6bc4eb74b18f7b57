"""``adderhw bench golden``: the golden model and the PyTorch reference against conv2d.

Each implementation runs in child processes of its own, on the ResNet-20 CIFAR layer
shapes at batch 64: one child for time (default allocator) and one for peak memory, read from
the kernel (VmHWM after resetting it through /proc/self/clear_refs), without one candidate's
allocations hiding another's. Times are the best of several repeats after a warm-up call (which
also absorbs torch.compile). Ratios are against ``torch.nn.functional.conv2d`` measured
in the same run on the same machine.

Goals (issue 2): reference forward <= 10x conv2d, golden <= 30x, peak memory <= 2x conv's.
"""
import json
import os
import subprocess
import sys
import time

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


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _child(impl, layer, repeats, what="time"):
    """Runs in the child: measures one layer for one implementation, prints JSON.
    ``what`` is "time" (default allocator) or "memory" (run under a fixed mmap threshold)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from golden import adder2d
    from golden.reference import adder2d_torch
    rng = np.random.default_rng(0)
    name, cin, cout, h, stride = LAYERS[layer]
    xq = rng.integers(-128, 128, (BATCH, cin, h, h))
    wq = rng.integers(-128, 128, (cout, cin, 3, 3))
    x = torch.tensor(xq, dtype=torch.float32) / 32
    w = torch.tensor(wq, dtype=torch.float32) / 32
    if impl == "golden":
        def op():
            adder2d(xq, wq, stride, 1, width=8)
    elif impl == "conv2d":
        def op():
            F.conv2d(x, w, stride=stride, padding=1)
    elif impl == "reference":
        def op():
            with torch.no_grad():
                adder2d_torch(x, w, stride, 1)
    else:
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
        fn = adder2d_torch if impl == "reference_fb" else (
            lambda a, b, s, p: F.conv2d(a, b, stride=s, padding=p))

        def op():
            y = fn(xg, wg, stride, 1)
            y.backward(torch.ones_like(y))
            xg.grad = wg.grad = None
    op()                                    # warm-up (and torch.compile)
    op()
    times = []
    peak = 0
    for _ in range(repeats):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                   # reset VmHWM to the current RSS
        base = _rss_kib("VmRSS")
        t0 = time.perf_counter()
        op()
        times.append(time.perf_counter() - t0)
        peak = max(peak, _rss_kib("VmHWM") - base)
    print(json.dumps({"layer": name, "seconds": min(times), "peak_mib": peak / 1024}))


def run_bench(repeats=5, progress=None):
    """Measure every implementation; returns a dict ready for JSON."""
    # Memory is measured in a second child under a fixed mmap threshold: glibc then maps large
    # blocks and unmaps them when freed, so the peak RSS of one call is not hidden by memory an
    # earlier call left in the heap. That setting slows allocation, so times come from a child
    # with the default allocator.
    env_mem = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    runs = {impl: [] for impl in IMPLS}
    jobs = [(impl, li) for impl in IMPLS for li in range(len(LAYERS))]
    for i, (impl, li) in enumerate(jobs):
        if progress:
            progress(f"[{i + 1}/{len(jobs)}] {impl} on {LAYERS[li][0]}")
        res = {}
        for what, env in (("time", None), ("memory", env_mem)):
            out = subprocess.run(
                [sys.executable, "-c", f"from golden.bench import _child; _child({impl!r}, {li}, {repeats}, {what!r})"],
                check=True, capture_output=True, text=True, env=env)
            res[what] = json.loads(out.stdout.strip().splitlines()[-1])
        runs[impl].append({"layer": res["time"]["layer"], "seconds": res["time"]["seconds"],
                           "peak_mib": res["memory"]["peak_mib"]})
    rows = []
    for li, (name, *_rest) in enumerate(LAYERS):
        conv = runs["conv2d"][li]
        conv_fb = runs["conv2d_fb"][li]
        row = {"layer": name, "conv2d_ms": conv["seconds"] * 1e3, "conv2d_peak_mib": conv["peak_mib"]}
        for impl, base in (("golden", conv), ("reference", conv), ("reference_fb", conv_fb)):
            r = runs[impl][li]
            row[f"{impl}_ms"] = r["seconds"] * 1e3
            row[f"{impl}_time_x"] = r["seconds"] / base["seconds"]
            row[f"{impl}_peak_mib"] = r["peak_mib"]
            row[f"{impl}_mem_x"] = r["peak_mib"] / max(base["peak_mib"], 1e-9)
        rows.append(row)
    return {"batch": BATCH, "repeats": repeats, "layers": rows, "raw": runs,
            "goals": {"reference_time_x": 10, "golden_time_x": 30, "mem_x": 2}}


def format_table(result):
    lines = [
        f"Batch {result['batch']}, best of {result['repeats']}; ratios against conv2d in the same run "
        "(backward against conv2d forward+backward).",
        "",
        "| layer | conv2d ms | golden x | reference fwd x | reference fwd+bwd x | conv peak MiB | golden mem x | reference mem x | fwd+bwd mem x |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["layers"]:
        lines.append(
            f"| {r['layer']} | {r['conv2d_ms']:.2f} | {r['golden_time_x']:.1f} | {r['reference_time_x']:.1f} | "
            f"{r['reference_fb_time_x']:.1f} | {r['conv2d_peak_mib']:.1f} | {r['golden_mem_x']:.2f} | "
            f"{r['reference_mem_x']:.2f} | {r['reference_fb_mem_x']:.2f} |")
    g = result["goals"]
    lines += ["", f"Goals: reference forward <= {g['reference_time_x']}x, golden <= {g['golden_time_x']}x, "
              f"peak memory <= {g['mem_x']}x conv2d's."]
    return "\n".join(lines)
