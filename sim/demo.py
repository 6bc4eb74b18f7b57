"""``adderhw demo``: the main job, end to end on a small scale.

1. golden model vs PyTorch reference on a quantised adder layer (bit for bit);
2. Verilog of the default 8x8 SAD array and its MAC twin;
3. a small GEMM through the RTL (Amaranth simulator), checked against golden, with the
   measured cycles against the cycle model.
"""
import time
from pathlib import Path

import numpy as np

from golden import mac_gemm, sad_gemm
from golden.config import ArrayConfig
from golden.cycles import gemm_cycles
from golden.demo import golden_demo
from hw.verilog import generate_verilog

from .gemm import run_gemm

__all__ = ["array_demo", "run_demo"]


def array_demo(out_dir, seed=0, config=None, shape=(12, 72, 20)):
    cfg = config or ArrayConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["## The array: Verilog and a bit-exact RTL simulation"]
    for pe in ("sad", "mac"):
        c = cfg.with_(pe=pe)
        path = out / f"{pe}_array_{c.rows}x{c.cols}_w{c.width}.v"
        path.write_text(generate_verilog(c, name=f"{pe}_array"))
        lines.append(f"wrote {path}: {c.describe()}")
    rng = np.random.default_rng(seed)
    T, K, P = shape
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    a, b = rng.integers(lo, hi + 1, (T, K)), rng.integers(lo, hi + 1, (K, P))
    lines += ["", f"GEMM T={T} K={K} P={P} on the {cfg.rows}x{cfg.cols} arrays (Amaranth simulator, no stalls):",
              "", "| PE | result vs golden | RTL cycles | cycle model | wall s |", "|---|---|---:|---:|---:|"]
    ok = True
    for pe, ref in (("sad", sad_gemm), ("mac", mac_gemm)):
        c = cfg.with_(pe=pe)
        t0 = time.perf_counter()
        y, cycles = run_gemm(c, a, b)
        dt = time.perf_counter() - t0
        exact = np.array_equal(y, ref(a, b))
        model = gemm_cycles(c, T, K, P)
        ok &= exact and cycles == model
        lines.append(f"| {pe.upper()} | {'PASS (bit-exact)' if exact else 'FAIL'} | {cycles} | {model} | {dt:.1f} |")
    return "\n".join(lines), ok


def compare_demo(out_dir, network_name="resnet20"):
    from golden.compare import compare_network, format_compare, plot_compare
    from golden.networks import network
    r = compare_network(network(network_name), 8, 8, 8)
    plot_compare(r, Path(out_dir) / "compare.png")
    return ("## AdderNet vs CNN on the 8x8 arrays (cycle model, energy estimate)\n\n" + format_compare(r)
            + f"\n\nplot: {Path(out_dir) / 'compare.png'}")


def run_demo(out_dir="out/demo", seed=0):
    text, ok = array_demo(out_dir, seed)
    return golden_demo(seed=seed) + "\n\n" + text + "\n\n" + compare_demo(out_dir), ok
