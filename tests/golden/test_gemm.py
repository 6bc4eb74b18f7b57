import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from adderhw.golden import AdderhwError, mac_gemm, sad_gemm
from tests import brute


@st.composite
def gemm_case(draw):
    width = draw(st.integers(2, 32))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    t, k, p = draw(st.integers(1, 5)), draw(st.integers(1, 12)), draw(st.integers(1, 6))
    # corner values are drawn often: the extremes and all-equal operands
    elems = st.one_of(st.sampled_from([lo, hi, 0, -1]), st.integers(lo, hi))
    a = draw(hnp.arrays(np.int64, (t, k), elements=elems))
    b = draw(hnp.arrays(np.int64, (k, p), elements=elems))
    return width, a, b


@given(gemm_case())
def test_sad_gemm_equals_brute_force(case):
    width, a, b = case
    assert sad_gemm(a, b, width=width).tolist() == brute.sad_gemm(a.tolist(), b.tolist())


@given(gemm_case())
def test_mac_gemm_equals_brute_force(case):
    width, a, b = case
    k = a.shape[1]
    assume(not (width > 30 and k > 1))      # beyond 64-bit accumulators: refused, tested below
    expect = [[sum(int(a[t, j]) * int(b[j, p]) for j in range(k)) for p in range(b.shape[1])]
              for t in range(a.shape[0])]
    assert mac_gemm(a, b, width=width).tolist() == expect


def test_blocks_and_flushes_are_exact():
    # big enough to cross the scratch block and the int16 flush boundary (K > 255 at width 8)
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (300, 600))
    b = rng.integers(-128, 128, (600, 130))
    b[:, 0] = -128
    a[0, :] = 127
    ref = np.abs(a[:, :, None] - b[None, :, :]).sum(axis=1)
    assert np.array_equal(sad_gemm(a, b, width=8), ref)
    assert sad_gemm(a, b, width=8)[0, 0] == 255 * 600


def test_extremes_at_every_width():
    for width in range(2, 33):
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        a = np.array([[lo, hi, lo]])
        b = np.array([[hi, hi], [lo, hi], [lo, lo]])
        assert sad_gemm(a, b, width=width).tolist() == [[2 * (hi - lo), hi - lo]]


def test_all_equal_gives_zero():
    a = np.full((3, 7), -5)
    assert not sad_gemm(a, np.full((7, 4), -5)).any()


@pytest.mark.parametrize("call,msg", [
    (lambda: sad_gemm(np.zeros((2, 3), int), np.zeros((4, 2), int)),
     r"a and b do not chain: a is 2x3 \(T x K\) and b is 4x2, but b must have K = 3 rows"),
    (lambda: sad_gemm(np.zeros((2, 3)), np.zeros((3, 2), int)),
     "a must be an integer array .* not an array of dtype float64"),
    (lambda: sad_gemm(np.array([[200]]), np.array([[1]]), width=8),
     r"a holds 200, out of range for width 8: values must lie in \[-128, 127\]"),
    (lambda: sad_gemm(np.zeros(3, int), np.zeros((3, 2), int)),
     r"a must be a 2-D array, not one of shape \(3,\)"),
    (lambda: sad_gemm(np.array([[2**40]]), np.array([[1]])),
     "a and b hold values needing 42 bits; the golden model supports at most 32"),
    (lambda: mac_gemm(np.zeros((1, 9), int), np.zeros((9, 1), int), width=32),
     "width 32 with K = 9 needs a 67-bit accumulator"),
])
def test_bad_input(call, msg):
    with pytest.raises(AdderhwError, match=msg):
        call()
