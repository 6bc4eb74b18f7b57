import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from adderhw.golden import AdderhwError, adder2d, dequantize
from adderhw.golden.reference import Adder2d, adder2d_torch

FRAC = 5


def _quantised_case(rng, n, c, t, h, k, width=8):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return rng.integers(lo, hi + 1, (n, c, h, h)), rng.integers(lo, hi + 1, (t, c, k, k))


@given(st.integers(0, 2**32 - 1), st.sampled_from([(1, 0), (1, 1), (2, 0), (2, 1), (3, 2)]),
       st.sampled_from([1, 3, 5]), st.sampled_from([4, 8, 16]))
def test_forward_equals_golden_exactly(seed, geometry, k, width):
    stride, padding = geometry
    rng = np.random.default_rng(seed)
    xq, wq = _quantised_case(rng, 2, 3, 4, 7, k, width)
    y = adder2d_torch(torch.tensor(dequantize(xq, FRAC)), torch.tensor(dequantize(wq, FRAC)),
                      stride, padding)
    assert np.array_equal(y.detach().numpy(), dequantize(adder2d(xq, wq, stride, padding), FRAC))


@pytest.mark.parametrize("compiled", [True, False])
def test_fused_and_eager_paths_equal_golden_exactly(compiled):
    # float32 still holds these sums exactly (|sum| <= 144·255 < 2^24 units of 2^-5);
    # several images per chunk and a partial last chunk
    rng = np.random.default_rng(7)
    xq, wq = _quantised_case(rng, 21, 16, 16, 16, 3)
    xt = torch.tensor(dequantize(xq, FRAC), dtype=torch.float32, requires_grad=True)
    wt = torch.tensor(dequantize(wq, FRAC), dtype=torch.float32, requires_grad=True)
    y = adder2d_torch(xt, wt, 1, 1, compiled=compiled)
    assert np.array_equal(y.detach().numpy().astype(np.float64), dequantize(adder2d(xq, wq, 1, 1), FRAC))
    y.sum().backward()
    grads = (xt.grad.clone(), wt.grad.clone())
    xt.grad = wt.grad = None
    y2 = adder2d_torch(xt, wt, 1, 1, compiled=not compiled)
    y2.sum().backward()
    torch.testing.assert_close(xt.grad, grads[0], rtol=1e-5, atol=1e-4)   # both paths, same gradients
    torch.testing.assert_close(wt.grad, grads[1], rtol=1e-5, atol=1e-4)


def _brute_grads(x, w, g, stride, padding, clip=True):
    """The paper's gradients by explicit loops: dY/dF = X - F, dY/dX = HardTanh(F - X)
    (with ``clip=False``, the unclipped F - X, to show that clipping changed something)."""
    lim = 1 if clip else np.inf
    N, C, H, W = x.shape
    T, _, kh, kw = w.shape
    _, _, ho, wo = g.shape
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for n in range(N):
        for t in range(T):
            for yy in range(ho):
                for xx in range(wo):
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                r, q = yy * stride + i - padding, xx * stride + j - padding
                                inside = 0 <= r < H and 0 <= q < W
                                xv = x[n, c, r, q] if inside else 0.0
                                gw[t, c, i, j] += g[n, t, yy, xx] * (xv - w[t, c, i, j])
                                if inside:
                                    gx[n, c, r, q] += g[n, t, yy, xx] * np.clip(w[t, c, i, j] - xv, -lim, lim)
    return gx, gw


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1)])
@pytest.mark.parametrize("adaptive", [False, True])
def test_gradients_equal_paper_formulas(stride, padding, adaptive):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    y = adder2d_torch(xt, wt, stride, padding, adaptive=adaptive, eta=0.3)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    gx, gw = _brute_grads(x, w, g, stride, padding)
    if adaptive:
        gw = gw * 0.3 * math.sqrt(w.size) / np.linalg.norm(gw)
    np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), gw, rtol=1e-10, atol=1e-10)
    # the clipping is exercised: without HardTanh the X gradient would be different
    gx_unclipped, _ = _brute_grads(x, w, g, stride, padding, clip=False)
    assert np.abs(gx_unclipped - gx).max() > 0.1


def test_module_is_a_layer():
    torch.manual_seed(0)
    m = Adder2d(3, 4, 3, stride=2, padding=1).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    y = m(x)
    assert y.shape == (2, 4, 4, 4)
    assert (y <= 0).all()
    y.sum().backward()
    assert m.weight.grad.shape == m.weight.shape
    assert "stride=2" in repr(m)


@pytest.mark.parametrize("call,msg", [
    (lambda: adder2d_torch(torch.zeros(1, 2, 4, 4), torch.zeros(3, 5, 3, 3)), "x has 2 input channels"),
    (lambda: adder2d_torch(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 3, 3), 0), "stride must be a positive integer, not 0"),
    (lambda: adder2d_torch(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 3, 3), 1, -1), "padding must be a non-negative integer, not -1"),
    (lambda: adder2d_torch(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 3, 3), eta=0), "eta must be a positive finite number, not 0"),
    (lambda: adder2d_torch(torch.zeros(1, 2, 4, 4, dtype=torch.int64), torch.zeros(3, 2, 3, 3)), "x and w must share one float dtype"),
    (lambda: Adder2d(0, 2, 3), "in_channels must be a positive integer, not 0"),
])
def test_bad_input(call, msg):
    with pytest.raises(AdderhwError, match=msg):
        call()
