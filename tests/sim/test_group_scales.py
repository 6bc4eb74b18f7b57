"""Per-group scales (golden.qat) on the RTL: each group of output channels is one tile of the
array's rows, fed X quantised at its own scale, against brute-force loops on small random layers
with corner values."""
import numpy as np
import pytest
import torch

from adderhw.base.config import ArrayConfig
from adderhw.golden.cycles import layer_cycles
from adderhw.golden.networks import Layer
from adderhw.golden.qat import ClampedFixedPoint
from adderhw.golden.reference import Adder2d
from adderhw.sim.layer import run_layer

from tests.golden.test_qat import _brute_adder


@pytest.mark.parametrize("case", range(3))
def test_per_group_layers_on_the_verilog_array_equal_brute_force(case):
    rng = np.random.default_rng(300 + case)
    width, rows = 4, 2
    fracs = [(0, 2), (1, -1, 3), (2, 2)][case]
    cin, k, stride, padding = [(2, 3, 1, 1), (1, 1, 2, 0), (3, 3, 2, 1)][case]
    h = 5
    span = 2.0 ** (width - 1 - min(fracs))
    x = rng.uniform(-span, span, (3, cin, h, h)).astype(np.float32)
    x[0, 0, 0, 0], x[1, -1, -1, -1] = 4 * span, -4 * span          # saturate at every scale
    w = np.concatenate([rng.uniform(-2.0 ** (width - 1 - f), 2.0 ** (width - 1 - f) - 2.0 ** -f, (rows, cin, k, k))
                        for f in fracs]).astype(np.float32)
    w[0, 0, 0, 0] = -2.0 ** (width - 1 - fracs[0])                    # the lowest value of group 0
    mod = Adder2d(cin, len(w), k, stride=stride, padding=padding)
    with torch.no_grad():
        mod.weight.copy_(torch.tensor(w))
    cfg = ArrayConfig(rows=rows, cols=2, width=width, k_max=cin * k * k, pe="sad")
    runs = []

    def on_rtl(name, xq, wq, s, p):
        y, cycles = run_layer(cfg, xq, wq, s, p, backend="verilator")
        spec = Layer(name, xq.shape[1], wq.shape[0], wq.shape[2], s, p, xq.shape[2], xq.shape[3])
        runs.append((cycles, layer_cycles(cfg, spec, batch=len(xq))))
        return y

    got = ClampedFixedPoint(width, {"l": fracs}, compute=on_rtl)("l", mod, torch.tensor(x)).numpy()
    want = np.concatenate([_brute_adder(x, w[g * rows:(g + 1) * rows], width, f, stride, padding)
                           for g, f in enumerate(fracs)], axis=1).astype(np.float32)
    assert np.array_equal(got, want)
    assert len(runs) == len(fracs) and all(measured == model for measured, model in runs)
