"""The per-tile input shift (golden.program, step 0) against brute force, and the refusals of a
program that an engine cannot shift."""
from fractions import Fraction
import math

import numpy as np
import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import X_SHIFT_RANGE, EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.golden.program import LayerProgram, Program, memory_images, run_layer_program, tile_shift


def _brute(x, d, width):
    """x·2^d rounded half up (Fraction arithmetic, no shifts), saturated to signed width bits."""
    v = Fraction(x) * Fraction(2) ** d
    r = math.floor(v + Fraction(1, 2))
    return max(-(1 << (width - 1)), min((1 << (width - 1)) - 1, r))


@pytest.mark.parametrize("width", [2, 3, 4, 6, 8])
def test_tile_shift_equals_brute_force_over_every_value_and_shift(width):
    xs = np.arange(-(1 << (width - 1)), 1 << (width - 1))
    for d in range(X_SHIFT_RANGE[0], X_SHIFT_RANGE[1] + 1):
        got = tile_shift(xs, d, width)
        assert got.tolist() == [_brute(int(x), d, width) for x in xs], (width, d)


def test_tile_shift_at_16_bits_on_the_corners():
    width = 16
    xs = np.array([-(1 << 15), -(1 << 15) + 1, -257, -256, -129, -128, -1, 0, 1, 127, 128, 255, 256, (1 << 15) - 1])
    for d in range(X_SHIFT_RANGE[0], X_SHIFT_RANGE[1] + 1):
        assert tile_shift(xs, d, width).tolist() == [_brute(int(x), d, width) for x in xs]


def test_right_shift_ties_round_up():
    # ties: −3/2 → −1, −1/2 → 0, 1/2 → 1, 3/2 → 2 (half up, toward +∞)
    assert tile_shift(np.array([-3, -1, 1, 3]), -1, 8).tolist() == [-1, 0, 1, 2]


def _naive_layer(x, w, shifts, stride, padding, width, op):
    """−Σ|x_t − f| (or Σ x_t·f) with Python loops, x_t the input shifted by channel t's d."""
    n, cin, h, wd = x.shape
    cout, _, k, _ = w.shape
    oh, ow = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    out = np.zeros((n, cout, oh, ow), dtype=np.int64)
    for t in range(cout):
        xt = np.vectorize(lambda v: _brute(int(v), int(shifts[t]), width))(x)
        xp = np.pad(xt, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        for i in range(n):
            for oy in range(oh):
                for ox in range(ow):
                    win = xp[i, :, oy * stride:oy * stride + k, ox * stride:ox * stride + k]
                    out[i, t, oy, ox] = -int(np.abs(win - w[t]).sum()) if op == "add" else int((win * w[t]).sum())
    return out


@pytest.mark.parametrize("op", ["add", "mul"])
def test_layer_with_x_shift_equals_the_naive_computation(op):
    rng = np.random.default_rng(3)
    width = 6
    x = rng.integers(-32, 32, (2, 2, 4, 4))
    w = rng.integers(-32, 32, (4, 2, 3, 3))
    shifts = (-3, -3, 2, 2)
    layer = LayerProgram("l", op, w, np.ones(4, np.int64), np.zeros(4, np.int64), 0, (4, 4), 1, 1, False, "none",
                         shifts)
    acc, _ = run_layer_program(layer, x, width)
    assert np.array_equal(acc, _naive_layer(x, w, shifts, 1, 1, width, op))
    # and the shift matters: without it the sums differ
    plain = LayerProgram("l", op, w, np.ones(4, np.int64), np.zeros(4, np.int64), 0, (4, 4), 1, 1, False, "none")
    assert not np.array_equal(run_layer_program(plain, x, width)[0], acc)


def _program(shifts, cout=4):
    w = np.zeros((cout, 1, 1, 1), dtype=np.int64)
    layer = LayerProgram("fc", "add", w, np.ones(cout, np.int64), np.zeros(cout, np.int64), 0, (1, 1), 1, 0, False,
                         "none", shifts)
    return Program("p", 8, (layer,), 0)


def _engine(tile_shift, rows=2):
    return EngineConfig(array=ArrayConfig(rows=rows, cols=2, width=8, k_max=16, pe="sad"), mac_rows=0,
                        act_depth=64, weight_depth=64, const_depth=16, max_layers=2, tile_shift=tile_shift)


def test_memory_images_carry_each_channels_shift():
    mem = memory_images(_program((1, 1, -2, -2)), _engine(True))
    assert mem.x_shifts.tolist() == [1, 1, -2, -2]


def test_a_program_without_shifts_runs_on_an_engine_without_the_per_tile_shift():
    assert memory_images(_program(None), _engine(False)).x_shifts.tolist() == [0, 0, 0, 0]
    assert memory_images(_program((0, 0, 0, 0)), _engine(False)).x_shifts.tolist() == [0, 0, 0, 0]


def test_per_group_program_refused_on_an_engine_without_the_per_tile_shift():
    with pytest.raises(BadParameter, match=r"layer 'fc': x_shift .*tile_shift False"):
        memory_images(_program((1, 1, 0, 0)), _engine(False))


def test_shift_that_differs_within_a_row_tile_is_refused():
    with pytest.raises(BadParameter, match=r"layer 'fc': x_shift differs within the row tile of channels 0..1"):
        memory_images(_program((1, 0, 0, 0)), _engine(True))
    # with one-row tiles every channel may have its own
    assert memory_images(_program((1, 0, 3, -8)), _engine(True, rows=1)).x_shifts.tolist() == [1, 0, 3, -8]


@pytest.mark.parametrize("shifts,match", [((X_SHIFT_RANGE[1] + 1,) * 4, "must be from"),
                                          ((X_SHIFT_RANGE[0] - 1,) * 4, "must be from"),
                                          ((0, 0), "must be one integer per output channel")])
def test_check_program_refuses_bad_shifts(shifts, match):
    with pytest.raises(BadParameter, match=f"layer 'fc': x_shift {match}"):
        _program(shifts)
