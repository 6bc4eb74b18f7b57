import numpy as np
import pytest

from adderhw.golden import AdderhwError, choose_frac_bits, dequantize, quantize


def test_round_half_to_even_and_scale():
    q, n = quantize([0.5, 1.5, 2.5, -0.5, -1.5, 0.25, 0.375], 8, 0)
    assert q.tolist() == [0, 2, 2, 0, -2, 0, 0] and n == 0
    q, _ = quantize([0.375, -0.375, 0.125], 8, 2)      # 1.5, -1.5, 0.5 quarter units
    assert q.tolist() == [2, -2, 0]
    assert q.dtype == np.int64


def test_saturation_is_counted():
    q, n = quantize([1000.0, -1000.0, 127.4, -128.4, 127.6, np.inf, -np.inf], 8, 0)
    assert q.tolist() == [127, -128, 127, -128, 127, 127, -128]
    assert n == 5


def test_negative_frac_bits_and_round_trip():
    q, _ = quantize([96.0, -100.0], 4, -4)              # units of 16
    assert q.tolist() == [6, -6]
    assert dequantize(q, -4).tolist() == [96.0, -96.0]
    rng = np.random.default_rng(0)
    q = rng.integers(-2**15, 2**15, 1000)
    assert np.array_equal(quantize(dequantize(q, 7), 16, 7).q, q)


def test_choose_frac_bits_uses_range_without_saturating():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(500) * 3, rng.standard_normal(50)
    for width in (4, 8, 12, 16):
        f = choose_frac_bits([x, w], width)
        assert quantize(x, width, f).saturated == 0 and quantize(w, width, f).saturated == 0
        assert quantize(np.concatenate([x, w]), width, f + 1).saturated > 0
    assert choose_frac_bits([np.zeros(3)], 8) == 7


@pytest.mark.parametrize("call,msg", [
    (lambda: quantize([1.0], 1, 0), "width must be an integer from 2 to 32, not 1"),
    (lambda: quantize([1.0], 33, 0), "width must be an integer from 2 to 32, not 33"),
    (lambda: quantize([1.0], 8, 65), "frac_bits must be an integer from -32 to 64, not 65"),
    (lambda: quantize([1.0], 8, 1.5), "frac_bits must be an integer, not 1.5"),
    (lambda: quantize([np.nan], 8, 0), "x holds NaN"),
    (lambda: quantize(["a"], 8, 0), "x must be a real-valued array"),
    (lambda: dequantize([1.5], 3), "q must be an integer array"),
])
def test_bad_input(call, msg):
    with pytest.raises(AdderhwError, match=msg):
        call()
