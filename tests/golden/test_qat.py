import itertools

import numpy as np
import pytest
import torch

from adderhw.base.errors import BadParameter
from adderhw.golden.fixed import dequantize, quantize
from adderhw.golden.qat import (ClampedFixedPoint, FakeQuantAdders, TwinFixedPoint, calibrate_fracs, channel_groups,
                                fake_quantize, quantized_adder)
from adderhw.golden.reference import Adder2d


def _corner_values(width, frac, rng, n=200):
    """Random values plus the quantiser's corners: exact halves between steps, both saturation
    bounds, half a step beyond them, zero, ±inf."""
    lo, hi = -2 ** (width - 1), 2 ** (width - 1) - 1
    step = 2.0 ** -frac
    corners = [lo, hi, lo - 0.5, hi + 0.5, lo - 0.49, hi + 0.49, 0.5, -0.5, 1.5, -1.5, 2.5, 0, hi - 0.5, lo + 0.5]
    vals = np.concatenate([np.array(corners, dtype=np.float64) * step,
                           rng.uniform(lo - 3, hi + 3, n) * step,
                           rng.integers(lo, hi + 1, n) * step + 0.5 * step,
                           [np.inf, -np.inf]])
    return vals.astype(np.float32)


@pytest.mark.parametrize("width,frac", [(2, 0), (3, 1), (4, 2), (4, -1), (6, 3), (8, 5), (12, 6)])
def test_fake_quantize_equals_golden_quantize(width, frac):
    rng = np.random.default_rng(width * 100 + frac)
    v = _corner_values(width, frac, rng)
    got = fake_quantize(torch.tensor(v), width, frac).numpy().astype(np.float64)
    want = dequantize(quantize(v.astype(np.float64), width, frac).q, frac)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("width,frac", [(2, 0), (3, 1), (4, 2), (6, 3), (8, -2)])
def test_ste_gradient_against_brute_force(width, frac):
    """The STE's gradient is the derivative of the unrounded, saturated identity
    clamp(x, lo·2^-f, hi·2^-f): measured here point by point with central differences away from the
    bounds, and at the bounds themselves (inclusive: 1) and one float step beyond (0)."""
    rng = np.random.default_rng(width + 7 * (frac + 2))
    lo, hi = -2 ** (width - 1), 2 ** (width - 1) - 1
    s = 2.0 ** -frac
    v = _corner_values(width, frac, rng)
    v = v[np.isfinite(v)]
    x = torch.tensor(v, requires_grad=True)
    g_out = torch.tensor(rng.uniform(0.5, 2.0, len(v)).astype(np.float32))
    fake_quantize(x, width, frac).backward(g_out)
    for xi, gi, go in zip(v.tolist(), x.grad.tolist(), g_out.tolist()):
        h = s / 1024              # a power of two: the differences are exact
        if abs(xi - lo * s) <= h or abs(xi - hi * s) <= h:
            # at (or within h of) a bound the difference straddles the kink: inclusive bounds
            want = 1.0 if lo * s <= xi <= hi * s else 0.0
        else:
            clamp = lambda t: min(max(t, lo * s), hi * s)
            want = (clamp(xi + h) - clamp(xi - h)) / (2 * h)
            assert want in (0.0, 1.0)
        assert gi == pytest.approx(want * go, abs=1e-6), xi
    beyond = torch.tensor(np.nextafter(np.float32([lo * s, hi * s]), np.float32([-np.inf, np.inf])),
                          requires_grad=True)
    fake_quantize(beyond, width, frac).sum().backward()
    assert beyond.grad.tolist() == [0.0, 0.0]


def _brute_adder(x, w, width, frac, stride, padding):
    """-Σ|sat(x) - F| with x saturated and rounded to the grid and F rounded but *not* clipped: the
    float value the clipped layer must reproduce (loops, float64)."""
    xs = dequantize(quantize(x.astype(np.float64), width, frac).q, frac)
    lo, hi = -2 ** (width - 1), 2 ** (width - 1) - 1
    inside = (w >= lo * 2.0 ** -frac) & (w <= hi * 2.0 ** -frac)
    # a weight inside the range is rounded to the grid; one beyond keeps its exact value
    wr = np.where(inside, dequantize(quantize(w.astype(np.float64), width, frac).q, frac), w.astype(np.float64))
    n, c, h, wd = x.shape
    t, _, k, _ = w.shape
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    xp = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
    xp[:, :, padding:padding + h, padding:padding + wd] = xs
    y = np.zeros((n, t, ho, wo))
    for b, o, i, j in itertools.product(range(n), range(t), range(ho), range(wo)):
        total = 0.0
        for ci, di, dj in itertools.product(range(c), range(k), range(k)):
            total += abs(xp[b, ci, i * stride + di, j * stride + dj] - wr[o, ci, di, dj])
        y[b, o, i, j] = -total
    return y


@pytest.mark.parametrize("case", range(8))
def test_quantised_adder_layer_golden_reference_and_brute_force_agree(case):
    rng = np.random.default_rng(case)
    width = [2, 3, 4, 4, 5, 6, 8, 12][case]
    frac = int(rng.integers(-1, 4))
    cin, cout, k = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.choice([1, 2, 3]))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h = int(rng.integers(k, k + 3))
    span = 2.0 ** (width - 1 - frac)
    x = rng.uniform(-1.5 * span, 1.5 * span, (2, cin, h, h)).astype(np.float32)
    x[0, 0, 0, 0] = span * 4          # an outlier that saturates
    w = rng.uniform(-2 * span, 2 * span, (cout, cin, k, k)).astype(np.float32)
    w[0, 0, 0, 0] = -span             # exactly the lowest value
    if case % 2:
        w[-1] = w[-1, 0, 0, 0]        # all equal
    mod = Adder2d(cin, cout, k, stride=stride, padding=padding)
    with torch.no_grad():
        mod.weight.copy_(torch.tensor(w))
    want = _brute_adder(x, w, width, frac, stride, padding)
    golden = ClampedFixedPoint(width, {"l": frac})("l", mod, torch.tensor(x)).double().numpy()
    ref = FakeQuantAdders(width, {"l": frac})("l", mod, torch.tensor(x)).detach().double().numpy()
    # the weights beyond the range make constants that are not on the grid: float32 rounding only
    np.testing.assert_allclose(golden, want, rtol=1e-6, atol=1e-5 * span)
    np.testing.assert_allclose(ref, want, rtol=1e-6, atol=1e-5 * span)
    # inside the range the integer part is exact
    w_in = np.clip(w, -span, span - 2.0 ** -frac)
    with torch.no_grad():
        mod.weight.copy_(torch.tensor(w_in))
    g2 = ClampedFixedPoint(width, {"l": frac})("l", mod, torch.tensor(x)).double().numpy()
    r2 = FakeQuantAdders(width, {"l": frac})("l", mod, torch.tensor(x)).detach().double().numpy()
    assert np.array_equal(g2, r2)
    assert np.array_equal(g2, _brute_adder(x, w_in, width, frac, stride, padding).astype(np.float32))


def test_weights_beyond_the_range_get_the_clipping_constants_gradient():
    mod = Adder2d(1, 2, 1, adaptive=False)
    with torch.no_grad():
        mod.weight.copy_(torch.tensor([[[[5.0]]], [[[0.25]]]]))      # 4 bits at 2^-1: range [-4, 3.5]
    x = torch.tensor([[[[1.0]]]])
    y = quantized_adder(mod, x, 4, 1)
    assert y.flatten().tolist() == [-(3.5 - 1.0) - (5.0 - 3.5), -abs(1.0 - 0.0)]
    y.sum().backward()
    # d(-|x - F|)/dF with the paper's full-precision gradient x - F for the quantised F, through the
    # STE (zero for the saturated weight), plus d(-(F - 3.5))/dF = -1 for the clipping constant
    assert mod.weight.grad.flatten().tolist() == [-1.0, 1.0 - 0.0]


def test_calibration_clamps_outliers_and_beats_no_saturation():
    from adderhw.golden.addernet import DigitsNet, load_digits_data, FixedPointAdders, accuracy
    from adderhw.golden.determinism import deterministic
    from adderhw.golden.fixed import choose_frac_bits
    d = load_digits_data(0)
    with deterministic(0):
        m = DigitsNet()
    m.eval()
    fr = calibrate_fracs(m, d.x_train[:128], 4)
    taps = {}
    with torch.no_grad():
        m(torch.tensor(d.x_train[:128]), taps=taps)
    f0 = choose_frac_bits([taps["add1"][0].numpy()], 4)
    assert f0 <= fr["add1"] <= f0 + 4
    # the chosen scale's layer error is no larger than that of the no-saturation scale
    x = taps["add1"][0]
    with torch.no_grad():
        ref = m.add1(x)
        err = lambda f: float(((quantized_adder(m.add1, x, 4, f) - ref) ** 2).mean())
        assert err(fr["add1"]) <= err(f0)


def test_twin_quantiser_against_a_float_convolution_of_the_quantised_values():
    from adderhw.golden.addernet import DigitsNet, load_digits_data
    from adderhw.golden.determinism import deterministic
    d = load_digits_data(0)
    with deterministic(1):
        m = DigitsNet(adder=False)
    m.eval()
    q = TwinFixedPoint(m, 5, d.x_train[:64])
    x = torch.tensor(np.random.default_rng(0).uniform(0, 2, (2, 8, 8, 8)).astype(np.float32))
    got = q("add1", m.add1, x).double()
    w = m.add1.weight.detach().double()
    sw = w.abs().amax(dim=(1, 2, 3)) / 15
    wq = torch.clamp(torch.round(w / sw.reshape(-1, 1, 1, 1)), -16, 15) * sw.reshape(-1, 1, 1, 1)
    sx = q.x_scale["add1"]
    xq = torch.clamp(torch.round(x.double() / sx), -16, 15) * sx
    want = torch.nn.functional.conv2d(xq, wq, padding=1)
    torch.testing.assert_close(got, want.float().double(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call,msg", [
    (lambda: fake_quantize(torch.zeros(2), 1, 0), "width"),
    (lambda: fake_quantize(torch.zeros(2), 8, 100), "frac"),
    (lambda: fake_quantize(torch.zeros(2, dtype=torch.int64), 8, 0), "float tensor"),
])
def test_refusals(call, msg):
    with pytest.raises(BadParameter, match=msg):
        call()


@pytest.mark.parametrize("case", range(6))
def test_per_group_scales_golden_reference_and_brute_force_agree(case):
    """Each group of output channels is its own quantised layer at its own scale: the integer
    golden layer and the torch reference against the brute-force loops, group by group."""
    rng = np.random.default_rng(100 + case)
    width = [3, 4, 4, 5, 6, 8][case]
    groups = [2, 3, 1, 4, 2, 2][case]
    per = int(rng.integers(1, 3))
    fracs = tuple(int(f) for f in rng.integers(-1, 4, groups))
    if case == 0:
        fracs = (0, 3)                       # far apart: one group saturates where the other does not
    cin, k = int(rng.integers(1, 4)), int(rng.choice([1, 3]))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h = int(rng.integers(k, k + 3))
    span = 2.0 ** (width - 1 - min(fracs))
    x = rng.uniform(-span, span, (2, cin, h, h)).astype(np.float32)
    x[0, 0, 0, 0] = span * 4
    mod = Adder2d(cin, groups * per, k, stride=stride, padding=padding)
    # weights inside every group's range, so the integer results compare exactly
    w = np.concatenate([rng.uniform(-2.0 ** (width - 1 - f), 2.0 ** (width - 1 - f) - 2.0 ** -f, (per, cin, k, k))
                        for f in fracs]).astype(np.float32)
    with torch.no_grad():
        mod.weight.copy_(torch.tensor(w))
    want = np.concatenate([_brute_adder(x, w[g * per:(g + 1) * per], width, f, stride, padding)
                           for g, f in enumerate(fracs)], axis=1).astype(np.float32)
    golden = ClampedFixedPoint(width, {"l": fracs})("l", mod, torch.tensor(x)).numpy()
    ref = FakeQuantAdders(width, {"l": fracs})("l", mod, torch.tensor(x)).detach().numpy()
    assert np.array_equal(golden, want) and np.array_equal(ref, want)
    # one group is the per-layer scale
    if groups == 1:
        assert np.array_equal(golden, ClampedFixedPoint(width, {"l": fracs[0]})("l", mod, torch.tensor(x)).numpy())


def test_per_group_calibration_is_no_worse_than_one_scale_per_layer():
    from adderhw.golden.addernet import DigitsNet, load_digits_data
    from adderhw.golden.determinism import deterministic
    d = load_digits_data(0)
    with deterministic(0):
        m = DigitsNet()
    m.eval()
    calib = d.x_train[:128]
    one = calibrate_fracs(m, calib, 4)
    grouped = calibrate_fracs(m, calib, 4, group=8)
    assert all(len(grouped[name]) == 2 for name in ("add1", "add2"))
    # the first layer sees the same X in both: each group chooses among the same candidate scales
    # for its own channels, so its error cannot exceed the shared scale's
    taps = {}
    with torch.no_grad():
        m(torch.tensor(calib), taps=taps)
        x = torch.cat(taps["add1"])
        ref = m.add1(x)
        err_one = ((quantized_adder(m.add1, x, 4, one["add1"]) - ref) ** 2).mean(dim=(0, 2, 3))
        err_grp = ((quantized_adder(m.add1, x, 4, grouped["add1"]) - ref) ** 2).mean(dim=(0, 2, 3))
    assert err_grp[:8].mean() <= err_one[:8].mean() + 1e-9 and err_grp[8:].mean() <= err_one[8:].mean() + 1e-9


def test_per_group_calibration_keeps_one_scale_where_the_group_does_not_divide_the_channels():
    from adderhw.golden.addernet import DigitsNet, load_digits_data
    d = load_digits_data(0)
    fracs = calibrate_fracs(DigitsNet(first_last="adder"), d.x_train[:16], 4, group=8)
    # conv1 8 channels: one group; add1, add2 16: two; the classifier's 10 is no multiple of 8: one scale
    assert [len(fracs[n]) for n in ("conv1", "add1", "add2", "fc")] == [1, 2, 2, 1]
    three = calibrate_fracs(DigitsNet(), d.x_train[:16], 4, group=3)
    assert [len(three[n]) for n in ("add1", "add2")] == [1, 1]


@pytest.mark.parametrize("call,msg", [
    (lambda: channel_groups((1, 2, 3), 8), "per-group scales need a number of groups that divides the layer's 8"),
    (lambda: channel_groups((), 8), "per-group scales"),
])
def test_channel_group_refusals(call, msg):
    with pytest.raises(BadParameter, match=msg):
        call()
