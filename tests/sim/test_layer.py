"""run_layer against golden.adder2d / golden.mac_conv2d, and its cycles against the cycle model."""
import numpy as np
import pytest

from adderhw.golden import adder2d, mac_conv2d
from adderhw.golden.cycles import layer_cycles
from adderhw.golden.networks import Layer
from adderhw.hw import ArrayConfig
from adderhw.sim import run_layer

# (N, Cin, H, Cout, kernel, stride, padding, k_max): 1x1 / 3x3 / 5x5, stride 1 and 2, padding 0 and 1,
# K above k_max, batch > 1
LAYERS = [
    (2, 3, 6, 5, 3, 1, 1, 27),
    (2, 3, 7, 5, 3, 2, 1, 10),      # K = 27 > 10: three chunks
    (3, 4, 5, 6, 1, 1, 0, 4),
    (1, 2, 9, 3, 5, 2, 0, 50),
    (2, 2, 6, 4, 5, 1, 1, 16),      # K = 50 > 16
    (4, 7, 1, 3, 1, 1, 0, 5),       # an FC layer: 7 -> 3 on a 1x1 input, K split
]


def _case(i, width):
    n, cin, h, cout, k, s, p, k_max = LAYERS[i]
    rng = np.random.default_rng(i)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = rng.integers(lo, hi + 1, (n, cin, h, h))
    w = rng.integers(lo, hi + 1, (cout, cin, k, k))
    x[0, 0, 0, 0], w[0, 0, 0, 0] = lo, hi
    return x, w, s, p, k_max, Layer("l", cin, cout, k, s, p, h, h)


@pytest.mark.parametrize("pe", ["sad", "mac"])
@pytest.mark.parametrize("i", range(len(LAYERS)))
def test_run_layer_is_bit_exact_and_timed_on_amaranth(i, pe):
    x, w, s, p, k_max, layer = _case(i, 8)
    cfg = ArrayConfig(rows=4, cols=3, width=8, k_max=k_max, pe=pe)
    y, cycles = run_layer(cfg, x, w, s, p)
    assert np.array_equal(y, adder2d(x, w, s, p) if pe == "sad" else mac_conv2d(x, w, s, p))
    assert cycles == layer_cycles(cfg, layer, batch=x.shape[0])


@pytest.mark.parametrize("i", [1, 3, 4, 5])
def test_run_layer_on_verilator(i):
    x, w, s, p, k_max, layer = _case(i, 6)
    cfg = ArrayConfig(rows=3, cols=4, width=6, k_max=k_max, pe="sad")
    y, cycles = run_layer(cfg, x, w, s, p, backend="verilator")
    assert np.array_equal(y, adder2d(x, w, s, p))
    assert cycles == layer_cycles(cfg, layer, batch=x.shape[0])


def test_stalls_change_cycles_not_results():
    x, w, s, p, k_max, _ = _case(1, 8)
    cfg = ArrayConfig(rows=2, cols=2, width=8, k_max=k_max)
    y, _ = run_layer(cfg, x, w, s, p, seed=4, stall_prob=0.3, backend="icarus")
    assert np.array_equal(y, adder2d(x, w, s, p))


def test_cycle_model_on_random_shapes_two_backends():
    # the model equals the RTL's stall-free cycles on random shapes, Amaranth and Icarus
    rng = np.random.default_rng(42)
    for trial in range(10):
        R, C = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        n, cin, h = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(3, 7))
        k, s = int(rng.choice([1, 3])), int(rng.integers(1, 3))
        p = int(rng.integers(0, 2))
        cout = int(rng.integers(1, 6))
        k_max = int(rng.integers(1, cin * k * k + 3))
        cfg = ArrayConfig(rows=R, cols=C, width=5, k_max=k_max, pe=str(rng.choice(["sad", "mac"])))
        x = rng.integers(-16, 16, (n, cin, h, h))
        w = rng.integers(-16, 16, (cout, cin, k, k))
        layer = Layer("l", cin, cout, k, s, p, h, h)
        backend = "amaranth" if trial % 2 else "icarus"
        y, cycles = run_layer(cfg, x, w, s, p, backend=backend)
        assert cycles == layer_cycles(cfg, layer, batch=n), (trial, cfg)
        assert np.array_equal(y, adder2d(x, w, s, p) if cfg.pe == "sad" else mac_conv2d(x, w, s, p))
