"""golden.program against an independent brute force, its refusals, and its memory layout.

The brute force below is written from the module docstring's definition only: plain Python
integers and loops over output positions and taps, no im2col and nothing from golden.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import BIAS_BITS_RANGE, MAX_SHIFT, SCALE_BITS_RANGE, EngineConfig
from adderhw.base.requant import ROUNDINGS
from adderhw.golden import BadParameter
from adderhw.golden.program import (LayerProgram, Program, check_program, memory_images, postprocess, round_shift,
                                    run_layer_program, run_program)


# ---- the brute force -------------------------------------------------------------------------

def brute_layer(layer, image, width):
    """One layer on one image (nested lists (cin, H, W) of ints): the docstring's steps 1-4."""
    cin = len(image)
    in_h, in_w = layer.in_hw
    k, s, p = layer.kernel, layer.stride, layer.padding
    out_h, out_w = (in_h + 2 * p - k) // s + 1, (in_w + 2 * p - k) // s + 1
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    out = []
    for t in range(layer.cout):
        m, b = int(layer.scale[t]), int(layer.bias[t])
        plane = []
        for oy in range(out_h):
            row = []
            for ox in range(out_w):
                acc = 0
                for c in range(cin):
                    for i in range(k):
                        for j in range(k):
                            y, x = oy * s + i - p, ox * s + j - p
                            xv = image[c][y][x] if 0 <= y < in_h and 0 <= x < in_w else 0
                            f = int(layer.weights[t, c, i, j])
                            acc += -abs(xv - f) if layer.op == "add" else xv * f
                u = acc * m + b
                # round half up: floor(u / 2^S + 1/2), written with a floor division
                v = (2 * u + (1 << layer.shift)) // (1 << (layer.shift + 1)) if layer.shift else u
                if layer.relu:
                    v = max(v, 0)
                row.append(min(max(v, lo), hi))
            plane.append(row)
        out.append(plane)
    if layer.pool == "max2":
        out = [[[max(pl[2 * y][2 * x], pl[2 * y][2 * x + 1], pl[2 * y + 1][2 * x], pl[2 * y + 1][2 * x + 1])
                 for x in range(out_w // 2)] for y in range(out_h // 2)] for pl in out]
    elif layer.pool == "gap":
        n = out_h * out_w
        out = [[[(2 * sum(sum(r) for r in pl) + n) // (2 * n)]] for pl in out]
    return out


def brute_program(program, images):
    logits, classes = [], []
    for image in images.tolist():
        x = image
        for layer in program.layers:
            x = brute_layer(layer, x, program.width)
        flat = [v for pl in x for r in pl for v in r]
        logits.append(flat)
        classes.append(flat.index(max(flat)))
    return logits, classes


# ---- random programs -------------------------------------------------------------------------

@st.composite
def geometry(draw, out_h, out_w):
    """(kernel, stride, padding, in_h, in_w) of a layer whose convolution gives out_h x out_w."""
    k, s = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    p = draw(st.integers(0, min(2, k - 1)))

    def size(out):
        first = (out - 1) * s + k - 2 * p
        fits = [n for n in range(first, first + s) if n >= 1 and n + 2 * p >= k and (n + 2 * p - k) // s + 1 == out]
        assume(fits)
        return draw(st.sampled_from(fits))
    return k, s, p, size(out_h), size(out_w)


@st.composite
def scales(draw, cout, acc_bound, width, scale_bits, bias_bits):
    """M, B, S that spread the outputs over the width, past both ends and onto .5 ties."""
    m_hi = (1 << (scale_bits - 1)) - 1
    m = [draw(st.one_of(st.integers(-m_hi, m_hi), st.sampled_from([-m_hi, -1, 0, 1, 2, m_hi]))) for _ in range(cout)]
    big = max(1, acc_bound * max(1, max(abs(v) for v in m))).bit_length()
    shift = draw(st.integers(max(0, big - width - 2), max(0, big - width + 2)))
    if draw(st.booleans()):
        shift = draw(st.integers(0, 3))     # small shifts: many exact .5 cases
    b_hi = (1 << (bias_bits - 1)) - 1
    reach = min(b_hi, 1 << min(60, shift + width))
    half = min(reach, 1 << shift >> 1)       # a bias of half a step puts acc = 0 on a tie
    b = [draw(st.one_of(st.integers(-reach, reach), st.sampled_from([0, half, -half]))) for _ in range(cout)]
    return np.array(m, dtype=np.int64), np.array(b, dtype=np.int64), shift


@st.composite
def programs(draw):
    """A random valid program, built from its last layer (1 x 1 logits) backwards, and images."""
    width = draw(st.sampled_from([3, 4, 6, 8]))
    scale_bits = draw(st.sampled_from([4, 8, 16]))
    bias_bits = draw(st.sampled_from([12, 32]))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    n_layers = draw(st.integers(1, 3))
    # walk backwards: each layer's (conv) output size is what the next layer's input needs
    spec = []
    out_c, out_h, out_w, pool = draw(st.integers(1, 4)), 1, 1, "none"
    for i in range(n_layers):
        if pool == "max2":
            conv_h, conv_w = 2 * out_h, 2 * out_w
        elif pool == "gap":
            conv_h, conv_w = draw(st.sampled_from([(1, 1), (1, 2), (2, 2), (4, 2), (2, 4), (4, 4)]))
        else:
            conv_h, conv_w = out_h, out_w
        k, s, p, in_h, in_w = draw(geometry(conv_h, conv_w))
        cin = draw(st.integers(1, 3))
        spec.append((cin, out_c, k, s, p, (in_h, in_w), pool))
        # the previous layer's pooling and output
        out_c, out_h, out_w = cin, in_h, in_w
        pool = draw(st.sampled_from(["none", "max2"] + (["gap"] if (in_h, in_w) == (1, 1) else [])))
    spec.reverse()
    elems = st.one_of(st.sampled_from([lo, hi, 0]), st.integers(lo, hi))
    layers = []
    for i, (cin, cout, k, s, p, in_hw, pool) in enumerate(spec):
        op = draw(st.sampled_from(["add", "mul"]))
        w = np.array(draw(st.lists(elems, min_size=cout * cin * k * k, max_size=cout * cin * k * k)),
                     dtype=np.int64).reshape(cout, cin, k, k)
        term = (1 << width) - 1 if op == "add" else 1 << (2 * width - 2)
        m, b, shift = draw(scales(cout, cin * k * k * term, width, scale_bits, bias_bits))
        layers.append(LayerProgram(f"l{i}", op, w, m, b, shift, in_hw, s, p,
                                   relu=draw(st.booleans()), pool=pool))
    n = draw(st.integers(1, 3))
    cin, (h, w_) = spec[0][0], spec[0][5]
    images = np.array(draw(st.lists(elems, min_size=n * cin * h * w_, max_size=n * cin * h * w_)),
                      dtype=np.int64).reshape(n, cin, h, w_)
    return Program("random", width, tuple(layers), 0, scale_bits, bias_bits), images


@given(programs())
def test_run_program_equals_brute_force(case):
    program, images = case
    run = run_program(program, images)
    logits, classes = brute_program(program, images)
    assert run.logits.tolist() == logits
    assert run.classes.tolist() == classes
    # every intermediate output too, layer by layer
    x = images.tolist()
    for layer, out in zip(program.layers, run.outputs):
        x = [brute_layer(layer, im, program.width) for im in x]
        assert out.tolist() == x


@st.composite
def hidden_layers(draw):
    """One layer anywhere in a network (pooled or not), with its input batch."""
    width = draw(st.sampled_from([2, 4, 8]))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    pool = draw(st.sampled_from(["none", "max2", "gap"]))
    if pool == "max2":
        conv = (2 * draw(st.integers(1, 3)), 2 * draw(st.integers(1, 3)))
    elif pool == "gap":
        conv = draw(st.sampled_from([(1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 1)]))
    else:
        conv = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    k, s, p, in_h, in_w = draw(geometry(*conv))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    op = draw(st.sampled_from(["add", "mul"]))
    elems = st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
    w = np.array(draw(st.lists(elems, min_size=cout * cin * k * k, max_size=cout * cin * k * k)),
                 dtype=np.int64).reshape(cout, cin, k, k)
    term = (1 << width) - 1 if op == "add" else 1 << (2 * width - 2)
    m, b, shift = draw(scales(cout, cin * k * k * term, width, 16, 32))
    layer = LayerProgram("h", op, w, m, b, shift, (in_h, in_w), s, p, relu=draw(st.booleans()), pool=pool)
    x = np.array(draw(st.lists(elems, min_size=2 * cin * in_h * in_w, max_size=2 * cin * in_h * in_w)),
                 dtype=np.int64).reshape(2, cin, in_h, in_w)
    return width, layer, x


@given(hidden_layers())
def test_run_layer_program_equals_brute_force(case):
    width, layer, x = case
    _, out = run_layer_program(layer, x, width)
    assert out.tolist() == [brute_layer(layer, im, width) for im in x.tolist()]


# ---- corner values, written out --------------------------------------------------------------

def _fc(weights, scale, bias, shift, relu=False, op="mul", name="fc"):
    w = np.array(weights, dtype=np.int64)
    return LayerProgram(name, op, w.reshape(len(w), -1, 1, 1), np.array(scale, dtype=np.int64),
                        np.array(bias, dtype=np.int64), shift, (1, 1), relu=relu, pool="none")


def test_shift_rounds_exact_halves_up():
    # acc·1 >> 1 with acc odd: every value is an exact .5 case; half up means -1.5 -> -1, 1.5 -> 2
    acc = np.array([-5, -3, -1, 1, 3, 5, -4, 4], dtype=np.int64)[None, :, None, None]
    ones, zeros = np.ones((1, 8, 1, 1), np.int64), np.zeros((1, 8, 1, 1), np.int64)
    v = postprocess(acc, ones, zeros, 1, False, 8)
    assert v.ravel().tolist() == [-2, -1, 0, 1, 2, 3, -2, 2]
    # the same through a whole program (a 1x1 multiplier layer of one input channel)
    layer = _fc([[1]] * 4, [3, -3, 1, 1], [0, 0, 2, -2], 2)
    run = run_program(Program("ties", 8, (layer,), 0), np.array([[[[1]]], [[[-1]]], [[[2]]], [[[0]]]]))
    # round(3x/4), round(−3x/4), round((x + 2)/4), round((x − 2)/4), halves up:
    # x = 2 gives 1.5 -> 2 and −1.5 -> −1; x = 0 gives 0.5 -> 1 and −0.5 -> 0
    assert run.logits.tolist() == [[1, -1, 1, 0], [-1, 1, 0, -1], [2, -1, 1, 0], [0, 0, 1, 0]]


def test_saturates_at_both_ends_and_relu_clips_below():
    layer = _fc([[1], [1]], [1000, -1000], [0, 0], 0)
    run = run_program(Program("sat", 6, (layer,), 0), np.array([[[[31]]], [[[-32]]], [[[0]]]]))
    assert run.logits.tolist() == [[31, -32], [-32, 31], [0, 0]]
    relu = _fc([[1], [1]], [1000, -1000], [0, 0], 0, relu=True)
    run = run_program(Program("sat", 6, (relu,), 0), np.array([[[[31]]], [[[-32]]]]))
    assert run.logits.tolist() == [[31, 0], [0, 31]]


def test_adder_layer_counts_padding_as_zero_inputs():
    # one 3x3 filter of 5s over a 1x1 input of 2 with padding 1: 8 padded taps |0 − 5| and |2 − 5|
    w = np.full((1, 1, 3, 3), 5, dtype=np.int64)
    layer = LayerProgram("a", "add", w, np.array([1]), np.array([0]), 0, (1, 1), 1, 1, relu=False)
    run = run_program(Program("pad", 8, (layer,), 0), np.array([[[[2]]]]))
    assert run.logits.tolist() == [[-(8 * 5 + 3)]]


def test_gap_rounds_half_up_and_max2_takes_the_window_max():
    # layer 1: identity 1x1 conv on 2x2, then gap over 4 values; layer 2 reads the mean
    values = np.array([[[[1, 2], [3, 4]]], [[[-1, -2], [-3, -4]]], [[[1, 0], [0, 1]]]])   # sums 10, −10, 2
    ident = LayerProgram("g", "mul", np.ones((1, 1, 1, 1), np.int64), np.array([1]), np.array([0]), 0,
                         (2, 2), relu=False, pool="gap")
    out = _fc([[1]], [1], [0], 0, name="out")
    run = run_program(Program("gap", 8, (ident, out), 0), values)
    # (10 + 2) >> 2 = 3 (2.5 up), (−10 + 2) >> 2 = −2 (−2.5 up), (2 + 2) >> 2 = 1 (0.5 up)
    assert run.outputs[0].ravel().tolist() == [3, -2, 1]
    mx = LayerProgram("m", "mul", np.ones((1, 1, 1, 1), np.int64), np.array([1]), np.array([0]), 0,
                      (2, 2), relu=False, pool="max2")
    run = run_program(Program("max", 8, (mx, out), 0), values)
    assert run.outputs[0].ravel().tolist() == [4, -1, 1]


def test_wide_products_stay_exact():
    # |acc·M| beyond 2^62 takes the exact (object) path; the result must equal Python integers
    w = np.full((2, 64, 1, 1), 32767, dtype=np.int64)
    layer = LayerProgram("wide", "mul", w, np.array([(1 << 31) - 1, -(1 << 31)]), np.array([5, -5]), 55,
                         (1, 1), relu=False)
    x = np.full((1, 64, 1, 1), 32767, dtype=np.int64)
    run = run_program(Program("wide", 16, (layer,), 0, scale_bits=32, bias_bits=32), x)
    acc = 64 * 32767 * 32767
    expect = [(acc * m + b + (1 << 54)) >> 55 for m, b in (((1 << 31) - 1, 5), (-(1 << 31), -5))]
    assert -32768 < min(expect) and max(expect) < 32767        # in range: the exact value matters
    assert run.logits.tolist() == [expect]


# ---- refusals ----------------------------------------------------------------------------------

def _layer(name="l", op="add", cin=1, cout=2, k=1, in_hw=(1, 1), stride=1, padding=0, pool="none",
           relu=True):
    w = np.ones((cout, cin, k, k), dtype=np.int64)
    return LayerProgram(name, op, w, np.ones(cout, np.int64), np.zeros(cout, np.int64), 0, in_hw,
                        stride, padding, relu, pool)


def _head(cin, name="fc"):
    return _layer(name, "mul", cin=cin, cout=10, relu=False)


def _refused(call, layer, field):
    with pytest.raises(BadParameter) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(f"layer {layer!r}: {field} "), msg
    assert "\n" not in msg and ". " not in msg, msg        # one sentence
    return msg


def test_check_program_refuses_bad_layers():
    prog = lambda *layers: Program("p", 8, layers, 0)
    _refused(lambda: prog(_layer("x", op="div"), _head(2)), "x", "op")
    _refused(lambda: prog(_layer("x", pool="avg3"), _head(2)), "x", "pool")
    msg = _refused(lambda: prog(_layer("g", k=3, in_hw=(5, 4), pool="gap"), _head(2)), "g", "pool")
    assert "3x2 = 6" in msg
    _refused(lambda: prog(_layer("m", k=2, in_hw=(4, 4), pool="max2"), _head(2)), "m", "pool")
    # the last layer gives the logits: cout x 1 x 1, not pooled
    _refused(lambda: prog(_layer("a", in_hw=(2, 2)), _head(2).__class__(**{**_head(2).__dict__, "in_hw": (2, 2)})),
             "fc", "output")
    _refused(lambda: prog(_layer("a", in_hw=(2, 2), pool="gap")), "a", "output")
    # the second layer expects 3 input channels, the first gives 2
    _refused(lambda: prog(_layer("a"), _head(3, name="b")), "b", "input shape")
    _refused(lambda: prog(_layer("a", in_hw=(2, 2), pool="max2"), _layer("b", cin=2, in_hw=(2, 2)), _head(2)),
             "b", "input shape")
    big = _layer("w")
    object.__setattr__(big, "weights", np.full((2, 1, 1, 1), 128, np.int64))
    _refused(lambda: prog(big, _head(2)), "w", "weights")
    sc = _layer("s")
    object.__setattr__(sc, "scale", np.array([1 << 15, 0]))
    _refused(lambda: prog(sc, _head(2)), "s", "scale")
    bi = _layer("b")
    object.__setattr__(bi, "bias", np.array([0, 0, 0]))
    _refused(lambda: prog(bi, _head(2)), "b", "bias")
    sh = _layer("sh")
    object.__setattr__(sh, "shift", 63)
    _refused(lambda: prog(sh, _head(2)), "sh", "shift")


def _engine(**kw):
    arr = dict(rows=4, cols=4, width=8, k_max=32, pe="sad")
    arr.update(kw.pop("array", {}))
    return EngineConfig(array=ArrayConfig(**arr), **{"mac_rows": 2, **kw})


def test_memory_images_refuses_what_does_not_fit():
    ok = Program("ok", 8, (_layer("c1", cin=2, cout=4, k=3, in_hw=(4, 4), padding=1, pool="gap"),
                           _head(4)), 0)
    memory_images(ok, _engine())
    # 2x4x4 = 32 input values
    msg = _refused(lambda: memory_images(ok, _engine(act_depth=31)), "c1", "input")
    assert "act_depth=31" in msg
    wide = Program("wide", 8, (_layer("c1", cout=40, in_hw=(2, 2)),
                               _layer("fc", "mul", cin=40, cout=10, k=2, in_hw=(2, 2), relu=False)), 0)
    _refused(lambda: memory_images(wide, _engine(act_depth=64)), "c1", "output")     # 40x2x2 = 160
    # K = 2·3·3 = 18 on the SAD array, 4 on the MAC array
    _refused(lambda: memory_images(ok, _engine(array={"k_max": 17})), "c1", "k")
    long_fc = Program("fc", 8, (_head(40),), 0)
    _refused(lambda: memory_images(long_fc, _engine(array={"k_max": 39})), "fc", "k")
    # weight words: c1 has 1 tile x 18 words, fc 5 tiles (10 rows / mac_rows 2) x 4 words = 38
    assert len(memory_images(ok, _engine()).weights) == 38
    _refused(lambda: memory_images(ok, _engine(weight_depth=37)), "fc", "weights")
    _refused(lambda: memory_images(ok, _engine(weight_depth=17)), "c1", "weights")
    _refused(lambda: memory_images(ok, _engine(const_depth=13)), "fc", "cout")
    cnn = EngineConfig(array=ArrayConfig(rows=4, cols=4, width=8, k_max=32, pe="mac"), mac_rows=0)
    _refused(lambda: memory_images(ok, cnn), "c1", "op")
    even = Program("even", 8, ok.layers, 0, rounding="half_even")
    with pytest.raises(BadParameter, match="program 'even' rounds ties 'half_even' but the engine was built with "
                                           "rounding 'half_up'; build the engine with the program's rounding"):
        memory_images(even, _engine())
    memory_images(even, _engine().with_(rounding="half_even"))
    with pytest.raises(BadParameter, match="rounding must be one of half_up, half_even, not 'half_down'"):
        Program("odd", 8, ok.layers, 0, rounding="half_down")


def test_memory_images_weight_layout():
    rng = np.random.default_rng(3)
    layers = []
    for name, op, cin, cout, k, hw, pad, pool in (("c1", "mul", 1, 5, 3, (6, 6), 1, "max2"),
                                                   ("a1", "add", 5, 6, 3, (3, 3), 0, "none"),
                                                   ("fc", "mul", 6, 3, 1, (1, 1), 0, "none")):
        w = rng.integers(-128, 128, (cout, cin, k, k))
        layers.append(LayerProgram(name, op, w, rng.integers(-(1 << 15), 1 << 15, cout),
                                   rng.integers(-(1 << 31), 1 << 31, cout), 7, hw, 1, pad,
                                   name != "fc", pool))
    program = Program("layout", 8, tuple(layers), 0)
    engine = _engine(array={"k_max": 64}, mac_rows=2)
    images = memory_images(program, engine)
    R = engine.array.rows
    assert images.weights.shape[1] == R
    wbase = cbase = 0
    for layer, (wb, cb), d in zip(program.layers, images.bases, images.descriptors):
        rl = engine.rows_for(layer.op)
        K = layer.cin * layer.kernel ** 2
        f = layer.weights.reshape(layer.cout, K)
        tiles = -(-layer.cout // rl)
        assert (wb, cb) == (wbase, cbase) == (d["wbase"], d["cbase"])
        assert d["t_tiles"] == tiles and d["cout"] == layer.cout
        for tt in range(tiles):
            for kk in range(K):
                for r in range(R):
                    t = tt * rl + r
                    expect = int(f[t, kk]) if r < rl and t < layer.cout else 0
                    assert images.weights[wb + tt * K + kk, r] == expect
        for t in range(layer.cout):
            assert images.consts[cb + t].tolist() == [layer.scale[t], layer.bias[t]]
        wbase += tiles * K
        cbase += layer.cout
    assert len(images.weights) == wbase and len(images.consts) == cbase


def test_run_program_refuses_images_of_another_shape():
    program = Program("p", 8, (_layer("a", cin=2, in_hw=(3, 3), k=3), _head(2)), 0)
    with pytest.raises(BadParameter, match=r"images must have shape \(N, 2, 3, 3\)"):
        run_program(program, np.zeros((1, 1, 3, 3), np.int64))


# ---- refusals and wide sums found by review (once known gaps) -----

def test_check_program_refuses_stride_zero():
    _refused(lambda: Program("p", 8, (_layer("z", stride=0), _head(2)), 0), "z", "stride")


def test_check_program_names_the_layer_of_a_kernel_too_large():
    _refused(lambda: Program("p", 8, (_layer("big", k=3), _head(2)), 0), "big", "kernel")


def test_check_program_refuses_a_float_scale():
    layer = _head(1)
    object.__setattr__(layer, "scale", np.full(10, 1.5))
    try:
        Program("p", 8, (layer,), 0)
    except BadParameter:
        return
    raise AssertionError("a float scale was accepted")


def test_postprocess_saturates_sums_beyond_int64():
    acc = np.array([1 << 40, -(1 << 40)], dtype=np.int64)[None, :, None, None]
    m = np.full((1, 2, 1, 1), (1 << 31) - 1, np.int64)
    v = postprocess(acc, m, np.zeros((1, 2, 1, 1), np.int64), 0, False, 8)
    assert v.ravel().tolist() == [127, -128]


def test_check_program_refuses_a_float_weight():
    layer = _head(1)
    object.__setattr__(layer, "weights", np.full((10, 1, 1, 1), 1.0))
    _refused(lambda: Program("p", 8, (layer,), 0), "fc", "weights")


def test_check_program_refuses_a_gap_beyond_the_postprocessing_sums():
    # 128x64 = 2^13 positions: the hardware's pool sums hold 2^12 (GAP_EXTRA_BITS)
    big = _layer("g", cin=1, cout=2, in_hw=(128, 64), pool="gap")
    _refused(lambda: Program("p", 8, (big, _head(2)), 0), "g", "pool")
    ok = _layer("g", cin=1, cout=2, in_hw=(64, 64), pool="gap")
    assert Program("p", 8, (ok, _head(2)), 0).layers[0].gap_log2 == 12


def test_postprocess_wide_sums_agree_with_python_integers():
    rng = np.random.default_rng(5)
    acc = rng.integers(-(1 << 45), 1 << 45, 64)
    m = rng.integers(-(1 << 31), 1 << 31, 64)
    b = rng.integers(-(1 << 40), 1 << 40, 64)
    for shift, relu, width in ((0, False, 16), (20, True, 8), (62, False, 12), (40, False, 16)):
        got = postprocess(acc[None, :, None, None], m[None, :, None, None], b[None, :, None, None], shift, relu, width)
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        want = []
        for a, mm, bb in zip(acc.tolist(), m.tolist(), b.tolist()):
            v = a * mm + bb
            if shift:
                v = (v + (1 << (shift - 1))) >> shift     # round half up, Python's floor shift
            if relu:
                v = max(v, 0)
            want.append(min(max(v, lo), hi))
        assert got.ravel().tolist() == want


# ---- the requantisation over the whole legal range, against Python integers ----------------------

#: the widest layer sum an engine can feed the post-processing: a MAC of 16-bit operands over
#: k_max = 2^20 terms (adderhw.base.config's limits), signed
_ACC_BITS = 52


@st.composite
def _signed(draw, bits):
    """A signed ``bits``-bit integer, spread over its magnitudes: extremes, small values, and every
    bit length in between equally often."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return draw(st.one_of(st.sampled_from([lo, hi, 0, -1, 1]),
                          st.integers(0, bits - 1).flatmap(lambda n: st.integers(-(1 << n), (1 << n) - 1))))


@st.composite
def requant_cases(draw):
    """Per-channel (acc, M, B) at any scale_bits / bias_bits / S / width the program format allows,
    some of them placed on a rounding tie."""
    scale_bits = draw(st.integers(*SCALE_BITS_RANGE))
    bias_bits = draw(st.integers(*BIAS_BITS_RANGE))
    shift = draw(st.one_of(st.integers(0, MAX_SHIFT), st.sampled_from([0, 1, 39, 40, MAX_SHIFT])))
    width = draw(st.integers(2, 16))
    b_lo, b_hi = -(1 << (bias_bits - 1)), (1 << (bias_bits - 1)) - 1
    n = draw(st.integers(1, 6))
    acc, m, b = [], [], []
    for _ in range(n):
        a, mm, bb = draw(_signed(_ACC_BITS)), draw(_signed(scale_bits)), draw(_signed(bias_bits))
        if shift and draw(st.booleans()):
            # a tie: u = q·2^S + 2^(S−1) exactly, when the bias can reach it
            q = draw(st.integers(-4, 4))
            tie = q * (1 << shift) + (1 << (shift - 1)) - a * mm
            bb = tie if b_lo <= tie <= b_hi else bb
        acc.append(a)
        m.append(mm)
        b.append(bb)
    return acc, m, b, shift, draw(st.booleans()), width


@given(requant_cases())
def test_postprocess_equals_python_integers_over_the_whole_legal_range(case):
    acc, m, b, shift, relu, width = case
    col = lambda v: np.array(v, dtype=np.int64)[None, :, None, None]
    got = postprocess(col(acc), col(m), col(b), shift, relu, width).ravel().tolist()
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    want = []
    for a, mm, bb in zip(acc, m, b):
        u = a * mm + bb
        # round half up: floor(u / 2^S + 1/2), as a floor division of exact integers
        v = (2 * u + (1 << shift)) // (1 << (shift + 1)) if shift else u
        want.append(min(max(max(v, 0) if relu else v, lo), hi))
    assert got == want


def test_check_program_refuses_a_shift_beyond_the_format_or_not_an_integer():
    for bad in (MAX_SHIFT + 1, -1, 2.0, True):
        sh = _layer("sh")
        object.__setattr__(sh, "shift", bad)
        msg = _refused(lambda: Program("p", 8, (sh, _head(2)), 0), "sh", "shift")
        assert f"from 0 to {MAX_SHIFT}, not {bad!r}" in msg
    ok = _layer("sh")
    object.__setattr__(ok, "shift", MAX_SHIFT)
    assert Program("p", 8, (ok, _head(2)), 0).layers[0].shift == MAX_SHIFT


def test_check_program_refuses_scale_and_bias_widths_beyond_the_format():
    for field, value in (("scale_bits", SCALE_BITS_RANGE[1] + 1), ("bias_bits", BIAS_BITS_RANGE[1] + 1),
                         ("scale_bits", 1)):
        with pytest.raises(BadParameter, match=f"^{field} must be an integer from .* not {value}$"):
            Program("p", 8, (_head(1),), 0, **{field: value})


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_round_shift_equals_exact_rational_rounding_for_every_shift(rounding):
    # the oracle: Python's exact rationals; round() of a Fraction rounds ties to even, and
    # floor(x + 1/2) rounds them up
    rng = np.random.default_rng(5)
    for shift in range(MAX_SHIFT + 1):
        ties = [(2 * k + 1) << shift >> 1 for k in range(-3, 3)] if shift else []
        v = [int(a) for a in rng.integers(-(1 << 62), 1 << 62, 40)] + ties + [0, 1, -1]
        exact = [Fraction(a, 1 << shift) for a in v]
        want = [round(f) if rounding == "half_even" else math.floor(f + Fraction(1, 2)) for f in exact]
        assert round_shift(np.array(v, dtype=object), shift, rounding).tolist() == want, shift
        small = [a for a in v if abs(a) < 1 << 61]
        got64 = round_shift(np.array(small, dtype=np.int64), shift, rounding).tolist()
        assert got64 == [w for a, w in zip(v, want) if abs(a) < 1 << 61], shift


def test_memory_images_refuses_a_field_beyond_the_bits_the_engine_keeps():
    """EngineConfig.field_widths: sizes and strides up to 2^ceil(log2 act_depth + 1) − 1; a stride
    of 32 on an engine of 16-word buffers (5 kept bits) is refused, naming the layer and the field,
    while 31 runs and an address step (row_step = stride·in_w = 62) is kept modulo the depth."""
    engine = _engine(act_depth=16)
    assert engine.field_widths["stride"] == 5 and engine.field_widths["row_step"] == 4
    ok = Program("ok", 8, (_layer("c1", cin=1, cout=2, k=1, in_hw=(2, 2), stride=31), _head(2)), 0)
    memory_images(ok, engine)
    far = Program("far", 8, (_layer("c1", cin=1, cout=2, k=1, in_hw=(2, 2), stride=32), _head(2)), 0)
    msg = _refused(lambda: memory_images(far, engine), "c1", "stride")
    assert "32 needs more than the 5 bits the engine keeps of it" in msg
