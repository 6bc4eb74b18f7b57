"""The golden-model part of ``adderhw demo``: quantise a random adder layer, run it through the
integer golden model and the float PyTorch reference, and show that they agree bit for bit."""
import numpy as np

from .conv import adder2d
from .fixed import choose_frac_bits, dequantize, quantize
from .widths import sad_acc_width

__all__ = ["golden_demo"]


def golden_demo(seed=0, width=8, shape=(2, 8, 10, 10), cout=16, stride=1, padding=1):
    import torch
    from .reference import adder2d_torch
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
