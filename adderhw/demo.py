"""``adderhw demo``: the main job, end to end on a small scale.

1. golden model vs PyTorch reference on a quantised adder layer (bit for bit);
2. Verilog of the default 8x8 SAD array and its MAC twin;
3. a small GEMM through the RTL (Amaranth simulator), checked against golden, with the
   measured cycles against the cycle model.
"""
import time
from pathlib import Path

import numpy as np

from adderhw.compare import compare_network, format_compare, plot_compare
from adderhw.golden.gemm import GEMMS
from adderhw.golden.networks import network
from adderhw.base.config import ArrayConfig
from adderhw.base.pe_kind import PE_KINDS
from adderhw.golden.cycles import gemm_cycles
from adderhw.golden.conv import adder2d
from adderhw.golden.fixed import choose_frac_bits, dequantize, quantize
from adderhw.base.tables import markdown_table
from adderhw.base.validate import int_range
from adderhw.base.widths import sad_acc_width
from adderhw.hw.verilog import generate_verilog

from adderhw.sim.gemm import run_gemm

__all__ = ["golden_demo", "array_demo", "run_demo"]


def golden_demo(seed=0, width=8, shape=(2, 8, 10, 10), cout=16, stride=1, padding=1):
    # torch: deferred (start-up, golden/__init__ docstring)
    import torch
    from adderhw.golden.reference import adder2d_torch
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((cout, shape[1], 3, 3)) * 0.5
    frac = choose_frac_bits([x, w], width)
    xq, sx = quantize(x, width, frac)
    wq, sw = quantize(w, width, frac)
    y_int = adder2d(xq, wq, stride, padding, width=width)
    y_ref = adder2d_torch(torch.tensor(dequantize(xq, frac)), torch.tensor(dequantize(wq, frac)),
                          stride, padding).numpy()
    same = np.array_equal(dequantize(y_int, frac), y_ref)
    k = shape[1] * 9
    return "\n".join([
        "## Golden model: adder layer, integer golden vs PyTorch reference",
        f"layer: x {shape}, w {(cout, shape[1], 3, 3)}, stride {stride}, padding {padding}",
        f"fixed point: width {width}, shared scale 2^-{frac} (chosen from data), "
        f"saturated {sx + sw} of {xq.size + wq.size} values",
        f"SAD accumulator for K = {k}: {sad_acc_width(width, k)} bits",
        f"output {y_int.shape}, range [{y_int.min()}, {y_int.max()}] integer units",
        f"golden == reference bit for bit: {'PASS' if same else 'FAIL'}",
    ])


def array_demo(out_dir, seed=0, config=None, shape=(12, 72, 20)):
    cfg = config or ArrayConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["## The array: Verilog and a bit-exact RTL simulation"]
    for pe in PE_KINDS:
        c = cfg.with_(pe=pe)
        path = out / f"{pe}_array_{c.rows}x{c.cols}_w{c.width}.v"
        path.write_text(generate_verilog(c, name=f"{pe}_array"))
        lines.append(f"wrote {path}: {c.describe()}")
    rng = np.random.default_rng(seed)
    T, K, P = shape
    lo, hi = int_range(cfg.width)
    a, b = rng.integers(lo, hi + 1, (T, K)), rng.integers(lo, hi + 1, (K, P))
    lines += ["", f"GEMM T={T} K={K} P={P} on the {cfg.rows}x{cfg.cols} arrays (Amaranth simulator, no stalls):",
              ""]
    ok, rows = True, []
    for pe, ref in GEMMS.items():
        c = cfg.with_(pe=pe)
        t0 = time.perf_counter()
        y, cycles = run_gemm(c, a, b)
        dt = time.perf_counter() - t0
        exact = np.array_equal(y, ref(a, b))
        model = gemm_cycles(c, T, K, P)
        ok &= exact and cycles == model
        rows.append([pe.upper(), "PASS (bit-exact)" if exact else "FAIL", cycles, model, f"{dt:.1f}"])
    lines.append(markdown_table(["PE", "result vs golden", "RTL cycles", "cycle model", "wall s"], rows, "llrrr"))
    return "\n".join(lines), ok


def compare_demo(out_dir, network_name="resnet20"):
    r = compare_network(network(network_name), ArrayConfig(rows=8, cols=8, width=8))
    plot_compare(r, Path(out_dir) / "compare.png")
    return ("## AdderNet vs CNN on the 8x8 arrays (cycle model, energy estimate)\n\n" + format_compare(r)
            + f"\n\nplot: {Path(out_dir) / 'compare.png'}")


def run_demo(out_dir="out/demo", seed=0):
    text, ok = array_demo(out_dir, seed)
    return golden_demo(seed=seed) + "\n\n" + text + "\n\n" + compare_demo(out_dir), ok
