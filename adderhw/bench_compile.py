"""``adderhw bench compile``: how long a user waits for ``adderhw.compile`` on a 20-layer model.

Issue 30's goal: import (torch.fx) + post-training quantisation + compile of a 20-layer model in
under 30 s on this machine. The model is golden.resnet.AdderResNet (ResNet-20 for 3x32x32 images,
random weights, seed 0), calibrated on ``images`` random images.

Each repeat is a fresh Python process, timed from its start to the program in hand (imports
included), twice:

* cold: with an empty torch.compile cache (``TORCHINDUCTOR_CACHE_DIR`` a new directory), as on a
  fresh machine: the adder layers' fused kernels are compiled in that run;
* warm: with a cache that an earlier process filled, as on every later run.

The baseline, measured in the same process as each compile: one float forward pass of the model on
the same images (what the user's own evaluation of the model costs). The report gives the
medians, the spread (min to max) and the ratios compile / forward.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from adderhw.base.errors import BadParameter
from adderhw.base.tables import markdown_table
from adderhw.base.validate import check_int

__all__ = ["bench_compile", "format_bench_compile", "GOAL_SECONDS"]

#: issue 30: import + PTQ + compile of a 20-layer model
GOAL_SECONDS = 30.0

_ONE = """
import json, time, sys
t0 = time.perf_counter()
import numpy as np, torch
from adderhw.golden.resnet import AdderResNet
from adderhw.compile import compile_model
torch.manual_seed(0)
model = AdderResNet({depth}).eval()
x = np.random.default_rng(0).random(({images}, 3, 32, 32), dtype=np.float32)
t1 = time.perf_counter()
compiled, _, _ = compile_model(model, x, width=8)
t2 = time.perf_counter()
with torch.no_grad():
    model(torch.tensor(x))
t3 = time.perf_counter()
print(json.dumps({{"setup_s": t1 - t0, "compile_s": t2 - t1, "total_s": t2 - t0, "forward_s": t3 - t2,
                  "steps": len(compiled.program.layers),
                  "layers": sum(1 for s in compiled.program.layers if s.op in ("add", "mul"))}}))
"""


def _one(depth, images, cache_dir, timeout=1800):
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache_dir, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _ONE.format(depth=depth, images=images)], capture_output=True,
                       text=True, env=env, timeout=timeout)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise BadParameter(f"the compile run failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def bench_compile(depth=20, images=64, repeats=3, progress=print):
    """The report dict (module docstring)."""
    depth = check_int("depth", depth, lo=8)
    if (depth - 2) % 6:
        raise BadParameter(f"depth must be 6n + 2 (8, 14, 20, 26, 32, ...), not {depth}")
    images = check_int("images", images, lo=1, hi=4096)
    repeats = check_int("repeats", repeats, lo=1, hi=20)
    runs = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="adderhw-inductor-warm-") as warm_dir:
        for i in range(repeats):
            with tempfile.TemporaryDirectory(prefix="adderhw-inductor-cold-") as cold_dir:
                progress(f"  repeat {i + 1}/{repeats}: cold (an empty torch.compile cache)")
                runs["cold"].append(_one(depth, images, cold_dir))
            if i == 0:
                progress("  filling the warm cache")
                _one(depth, images, warm_dir)
            progress(f"  repeat {i + 1}/{repeats}: warm")
            runs["warm"].append(_one(depth, images, warm_dir))
    res = {"depth": depth, "images": images, "repeats": repeats, "goal_s": GOAL_SECONDS,
           "layers": runs["cold"][0]["layers"], "steps": runs["cold"][0]["steps"], "runs": runs}
    for kind, rs in runs.items():
        res[kind] = {"total_s": _spread([r["total_s"] for r in rs]), "compile_s": _spread([r["compile_s"] for r in rs]),
                     "forward_s": _spread([r["forward_s"] for r in rs]),
                     "ratio_compile_to_forward": _spread([r["compile_s"] / r["forward_s"] for r in rs])}
        res[kind]["goal_met"] = res[kind]["total_s"]["median"] < GOAL_SECONDS
    res["command"] = f"adderhw bench compile --depth {depth} --images {images} --repeats {repeats}"
    return res


def format_bench_compile(res):
    def s(d):
        return f"{d['median']:.1f} ({d['min']:.1f}–{d['max']:.1f})"
    rows = [[kind, s(res[kind]["total_s"]), s(res[kind]["compile_s"]), s(res[kind]["forward_s"]),
             f"{res[kind]['ratio_compile_to_forward']['median']:.2f}x",
             "met" if res[kind]["goal_met"] else "missed"] for kind in ("cold", "warm")]
    return "\n".join([
        f"# Import + PTQ + compile of ResNet-{res['depth']} ({res['layers']} conv/FC layers, {res['steps']} program "
        f"steps), {res['images']} calibration images", "",
        f"`{res['command']}`", "",
        f"Seconds, median (min–max) over {res['repeats']} fresh processes; the goal is under {res['goal_s']:g} s "
        f"from the process's start to the program.", "",
        markdown_table(["torch.compile cache", "total s", "import+PTQ+compile s", "float forward s (baseline)",
                        "compile / forward", "goal"], rows, "lrrrrl"), ""])
