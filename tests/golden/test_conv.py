import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from adderhw.golden import AdderhwError, adder2d, im2col, mac_conv2d
from tests import brute


@st.composite
def layer_case(draw):
    width = draw(st.sampled_from([2, 3, 4, 8, 12, 16, 32]))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    kh = draw(st.sampled_from([1, 2, 3]))
    kw = draw(st.sampled_from([kh, 1, 3]))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    n, c, t = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * padding), 6))
    w_ = draw(st.integers(max(1, kw - 2 * padding), 6))
    elems = st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
    x = draw(hnp.arrays(np.int64, (n, c, h, w_), elements=elems))
    w = draw(hnp.arrays(np.int64, (t, c, kh, kw), elements=elems))
    return width, x, w, stride, padding


@given(layer_case())
def test_adder2d_equals_brute_force(case):
    width, x, w, stride, padding = case
    expect = brute.layer(x, w, stride, padding, lambda a, b: -abs(a - b))
    assert adder2d(x, w, stride, padding, width=width).tolist() == expect


@given(layer_case())
def test_mac_conv2d_equals_brute_force(case):
    width, x, w, stride, padding = case
    assume(width != 32)              # 32-bit products exceed int64 sums; refused by design
    expect = brute.layer(x, w, stride, padding, lambda a, b: a * b)
    assert mac_conv2d(x, w, stride, padding, width=width).tolist() == expect


def test_shape_matches_torch_conv2d():
    rng = np.random.default_rng(0)
    x = rng.integers(-8, 8, (3, 4, 9, 7))
    w = rng.integers(-8, 8, (5, 4, 3, 3))
    for stride, padding in [(1, 0), (2, 1), (3, 2)]:
        ref = F.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                       stride=stride, padding=padding).numpy()
        assert np.array_equal(mac_conv2d(x, w, stride, padding), ref)
        assert adder2d(x, w, stride, padding).shape == ref.shape


def test_chunked_layer_is_exact_across_chunks():
    # enough images that im2col is built in several chunks
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (40, 8, 20, 20))
    w = rng.integers(-128, 128, (6, 8, 3, 3))
    k_cols = im2col(x, 3, 3, 1, 1)
    expect = -np.abs(w.reshape(6, -1)[:, :, None] - k_cols[None, :, :]).sum(axis=1)
    got = adder2d(x, w, 1, 1, width=8)
    assert np.array_equal(got, expect.reshape(6, 40, 20, 20).transpose(1, 0, 2, 3))


def test_1x1_on_1x1_is_a_fully_connected_layer():
    rng = np.random.default_rng(2)
    x = rng.integers(-100, 100, (4, 10, 1, 1))
    w = rng.integers(-100, 100, (3, 10, 1, 1))
    fc = -np.abs(x[:, None, :, 0, 0] - w[None, :, :, 0, 0]).sum(axis=2)
    assert np.array_equal(adder2d(x, w)[:, :, 0, 0], fc)


@pytest.mark.parametrize("call,msg", [
    (lambda: adder2d(np.zeros((1, 2, 4, 4), int), np.zeros((3, 5, 3, 3), int)),
     r"x has 2 input channels .* but w expects 5"),
    (lambda: adder2d(np.zeros((1, 2, 4, 4), int), np.zeros((3, 2, 3, 3), int), stride=0),
     "stride must be an integer of at least 1, not 0"),
    (lambda: adder2d(np.zeros((1, 2, 4, 4), int), np.zeros((3, 2, 3, 3), int), padding=-1),
     "padding must be an integer of at least 0, not -1"),
    (lambda: adder2d(np.zeros((1, 2, 2, 2), int), np.zeros((3, 2, 3, 3), int)),
     "kernel 3x3 does not fit the input 2x2 with padding 0"),
    (lambda: adder2d(np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 3, 3), int)),
     "x must be an integer array"),
    (lambda: adder2d(np.full((1, 1, 3, 3), 8), np.zeros((1, 1, 3, 3), int), width=4),
     r"x holds 8, out of range for width 4: values must lie in \[-8, 7\]"),
    (lambda: adder2d(np.zeros((2, 4, 4), int), np.zeros((3, 2, 3, 3), int)),
     "x must be a 4-D array"),
])
def test_bad_input(call, msg):
    with pytest.raises(AdderhwError, match=msg):
        call()
