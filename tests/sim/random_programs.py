"""Random legal programs, and batches for them, for the engine's differential suite
(tests/sim/test_engine_random.py): hypothesis strategies over the whole range the program format
allows, on a few tiny engines.

Each program is drawn for a *scenario* that forces one corner of the format; everything else is
random. :func:`features` reads back, from the program, the batch and the golden run, which corners a
case really covers, so the suite checks its own coverage rather than trusting the generator.

Scenarios and what they force:
  * ``random``: nothing;
  * ``shift0`` / ``shiftmax``: a layer with S = 0 / S = MAX_SHIFT (on the wide engine, a MAC layer
    with M at its extremes, so that S = MAX_SHIFT can leave values other than 0);
  * ``shift_edge``: S from U − 1 to U + 1, U the width of acc·M + B (hw.postproc.requant_bits): the
    post-processing clamps S beyond U; and S = 40, the case of issue 26; that layer has no ReLU;
  * ``saturate``: the logits' layer gets M = 0 with B at both extremes of its width, and the most
    negative M: saturation at both ends, zero and negative M, B at its extremes;
  * ``stride2``, ``wide_padding`` (padding >= kernel: whole windows of padding), ``kernel1`` (a 1x1
    convolution over a map), ``gap1`` (a global average over one position), ``no_relu``;
  * ``tied``: two logits that are equal for every image and the others pinned at the bottom, so
    the maximum is tied (the first one wins);
  * ``partial``: fewer images than the engine's lanes.

Shift-only engines (EngineConfig requant "shift", SHIFT_ENGINES) get the same scenarios, where they
apply, with every M a sum of at most shift_terms signed powers of two (adderhw.base.requant): drawn
as such sums, with 0, ±1 and the extremes of the scale (−2^(scale_bits−1), the largest positive sum,
2^(scale_bits−2) + 2^(scale_bits−3), ...) sprinkled in. :func:`cases` draws for them only when named.

Engines with the per-tile input shift (EngineConfig tile_shift, TILE_ENGINES) get the same
scenarios with every layer's x_shift drawn per row tile (golden.program, step 0) from the whole of
X_SHIFT_RANGE, its ends, 0 and ±1 sprinkled in; they too are drawn for only when named.

Engines with fewer post-processing lanes than columns (EngineConfig post_lanes, LANE_ENGINES) get
the same scenarios where they apply, and are also drawn for only when named.
"""
import numpy as np
from hypothesis import strategies as st

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import GAP_EXTRA_BITS, MAX_SHIFT, X_SHIFT_RANGE, EngineConfig
from adderhw.base.requant import pow2_terms
from adderhw.golden.conv import adder2d, mac_conv2d
from adderhw.golden.program import LayerProgram, Program, run_layer_program, tile_shift
from adderhw.hw.postproc import requant_bits

__all__ = ["ENGINES", "SHIFT_ENGINES", "TILE_ENGINES", "LANE_ENGINES", "SCENARIOS", "FORCED", "cases", "engines_for", "features", "m_top"]

K_MAX = 128


def _engine(rows, cols, width, pe, scale_bits, bias_bits, mac_rows=1, shift_terms=None, tile_shift=False,
            post_lanes=0):
    shift = {} if shift_terms is None else {"requant": "shift", "shift_terms": shift_terms}
    shift["tile_shift"] = tile_shift
    shift["post_lanes"] = post_lanes
    return EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=K_MAX, pe=pe),
                        mac_rows=mac_rows if pe == "sad" else 0, act_depth=1024, weight_depth=1024, const_depth=32,
                        max_layers=4, scale_bits=scale_bits, bias_bits=bias_bits, **shift)


#: tiny engines: a 2x2 AdderNet (U = 40, the width of issue 26), a narrow 1x2 CNN twin (U = 22, so
#: most shifts are clamped), a 2x1 AdderNet with M and B at their widest (U = 72 > MAX_SHIFT, one
#: lane), each AdderNet with a one-row MAC array for its multiplier layers, and a 2x2 all-adder
#: engine (no MAC array, U = 33); and two shift-only engines (requant "shift", no multiplier in the
#: post-processing): the all-adder twin of add6 with M of two terms (multiplier-free), and the twin of
#: sad16 with M of one term (the widest term shift, 2^31, on 16-bit MAC sums: S = MAX_SHIFT holds)
ENGINES = {
    "sad8": _engine(2, 2, 8, "sad", 16, 32),
    "mac4": _engine(1, 2, 4, "mac", 6, 10),
    "sad16": _engine(2, 1, 16, "sad", 32, 48),
    "add6": _engine(2, 2, 6, "sad", 16, 32, mac_rows=0),
    "add6s": _engine(2, 2, 6, "sad", 16, 32, mac_rows=0, shift_terms=2),
    "sad16s": _engine(2, 1, 16, "sad", 32, 48, shift_terms=1),
    # the per-tile input shift: an AdderNet with a MAC row (tiles of 2 adder rows, of 1 MAC row),
    # and the multiplier-free all-adder engine with it at 4 bits (d up to 7 saturates everything)
    "sad8t": _engine(2, 2, 8, "sad", 16, 32, tile_shift=True),
    "add4st": _engine(2, 2, 4, "sad", 12, 24, mac_rows=0, shift_terms=2, tile_shift=True),
    # fewer post-processing lanes than columns (EngineConfig.post_lanes): an AdderNet with a MAC row
    # and one lane for its two columns, and the multiplier-free all-adder engine of four columns with
    # one lane (four chunks per row)
    "sad8l1": _engine(2, 2, 8, "sad", 16, 32, post_lanes=1),
    "add6sl1": _engine(2, 4, 6, "sad", 16, 32, mac_rows=0, shift_terms=2, post_lanes=1),
}
#: the engines with L < C post-processing lanes: :func:`cases` draws for them only when named
LANE_ENGINES = tuple(sorted(n for n, e in ENGINES.items() if e.post_chunks > 1))
#: the per-tile shift engines: :func:`cases` draws for them only when named
TILE_ENGINES = tuple(sorted(n for n, e in ENGINES.items() if e.tile_shift))
#: the shift-only engines (without the per-tile shift): :func:`cases` draws for them only when named
SHIFT_ENGINES = tuple(sorted(n for n, e in ENGINES.items()
                            if e.requant == "shift" and not e.tile_shift and e.post_chunks == 1))
SCENARIOS = ("random", "shift0", "shiftmax", "shift_edge", "saturate", "stride2", "wide_padding", "kernel1",
             "gap1", "no_relu", "tied", "partial")
_ENGINES_FOR = {"shiftmax": ["sad16", "sad16s"],
                "shift_edge": ["sad8", "mac4", "add6", "add6s", "sad8t", "add4st", "sad8l1", "add6sl1"],
                "partial": ["sad8", "mac4", "add6", "add6s", "sad8t", "add4st", "sad8l1", "add6sl1"]}
#: what every case of a scenario covers (names of :func:`features`)
FORCED = {s: {s} for s in SCENARIOS if s != "random"}
FORCED["saturate"] |= {"zero_m", "negative_m", "m_min", "b_max", "b_min"}


def m_top(engine):
    """The largest M an engine's table holds: 2^(scale_bits−1) − 1, which a shift-only engine of two
    terms holds as 2^(scale_bits−1) − 2^0; with one term, 2^(scale_bits−2)."""
    if engine.requant == "shift" and engine.shift_terms == 1:
        return 1 << (engine.scale_bits - 2)
    return (1 << (engine.scale_bits - 1)) - 1


def _scales(engine):
    """A strategy for one M of ``engine``: extremes, 0 and ±1 half the time, else anything legal."""
    sb = engine.scale_bits
    m_lo, m_hi = -(1 << (sb - 1)), (1 << (sb - 1)) - 1
    if engine.requant == "mul":
        return st.one_of(st.sampled_from([m_lo, -1, 0, 1, -m_lo - 1]), st.integers(m_lo, -m_lo - 1))
    terms = engine.shift_terms
    corners = [m_lo, -1, 0, 1, 1 << (sb - 2), -(1 << (sb - 2))]
    if terms == 2:
        # first, as hypothesis's simplest draw of each test takes it: −2^(sb−1) + 2^(sb−3), both
        # terms large and of opposite signs
        big = (1 << (sb - 2)) + (1 << (sb - 3))
        corners = [m_lo + (1 << (sb - 3))] + corners + [m_hi, -m_hi, big, -big]
    assert all(pow2_terms(m, terms) is not None and m_lo <= m <= m_hi for m in corners)
    sign = st.sampled_from([1, -1])

    @st.composite
    def sums(draw):
        # ±2^e1 (e1 < scale_bits), and on a two-term engine mostly ±2^e2 more, e2 < e1: often a few
        # octaves below, where the second term still shows in the output ((acc·M + B) >> S spreads
        # acc·2^e1 over the width: a term more than width octaves below is lost in the rounding)
        e1 = draw(st.integers(0, sb - 1))
        m = draw(sign) << e1
        if terms == 2 and e1 > 0 and draw(st.integers(0, 3)) > 0:
            m += draw(sign) << (e1 - draw(st.one_of(st.integers(1, min(3, e1)), st.integers(1, e1))))
        return m
    return st.one_of(st.sampled_from(corners), sums().filter(lambda m: m_lo <= m <= m_hi))


def _values(rng, lo, hi, shape):
    """Random int64 values of ``shape`` with the extremes and zero sprinkled in (from a seed that
    hypothesis draws: the bulk values need no shrinking, and a list strategy would overrun)."""
    v = rng.integers(lo, hi + 1, shape)
    pick = rng.random(shape)
    v[pick < 0.2] = lo
    v[(pick >= 0.2) & (pick < 0.4)] = hi
    v[(pick >= 0.4) & (pick < 0.45)] = 0
    return v


def _requant(draw, engine, acc, shift=None):
    """(M, B, S) for a layer whose sums on the batch are ``acc`` (N, cout, H, W): S mostly spreads
    acc·M over the width (so the outputs are neither all 0 nor all saturated), sometimes it is
    anything from 0 to MAX_SHIFT; M and B mix their extremes, 0, −1 and random values."""
    width, cout = engine.array.width, acc.shape[1]
    b_hi = (1 << (engine.bias_bits - 1)) - 1
    m = np.array([draw(_scales(engine)) for _ in range(cout)], dtype=np.int64)
    if shift is None:
        peak = max((int(np.abs(acc[:, t]).max(initial=0)) * abs(int(m[t])) for t in range(cout)), default=0)
        top = min(MAX_SHIFT, max(0, peak.bit_length() - width + 2))
        spread = st.integers(min(top, max(0, peak.bit_length() - width - 1)), top)
        shift = draw(st.one_of(spread, spread, spread, spread, st.integers(0, MAX_SHIFT)))
    reach = min(b_hi, 1 << min(62, shift + width - 1))
    half = min(b_hi, (1 << shift) >> 1)            # acc·M = 0 lands on a rounding tie
    inner = st.integers(-reach, reach)
    b = []
    for t in range(cout):
        # mostly around −mean(acc)·M, as a folded BatchNorm centres a channel (a SAD is never > 0)
        centre = -int(np.mean(acc[:, t])) * int(m[t]) if acc[:, t].size else 0
        near = inner.map(lambda v, c=centre: min(max(c + v, -b_hi - 1), b_hi))
        b.append(draw(st.one_of(near, near, inner, st.sampled_from([-b_hi - 1, b_hi, 0, half, -half]))))
    return m, np.array(b, dtype=np.int64), shift


def _pow2(n):
    return n & (n - 1) == 0


def _one_position(draw, c, hw, padding):
    """(kernel, stride, padding) of a layer whose output is one position: a square window that fits
    the padded map (and K <= K_MAX), and a stride that finds no second one."""
    p = draw(padding) if min(hw) > 1 else 0
    k = draw(st.integers(1, min(min(hw) + 2 * p, int((K_MAX // c) ** 0.5))))
    return k, max(1, max(hw) + 2 * p - k + 1), p


@st.composite
def _hidden(draw, engine, c, hw, force):
    """One hidden layer on a (c, *hw) input: (kernel, stride, padding, pool, cout, op, relu)."""
    h, w = hw
    if force == "gap1":
        k, s, p = _one_position(draw, c, hw, st.integers(0, 1))
    else:
        k = 1 if force == "kernel1" else draw(st.integers(1, 3))
        wide = force == "wide_padding"
        p = draw(st.integers(k, k + 1) if wide else st.integers(0, min(2, k)))
        p = max(p, -(-(k - min(h, w)) // 2))       # the padded map holds the kernel
        s = 2 if force == "stride2" else draw(st.integers(1, 2))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    pools = ["none"]
    if oh % 2 == 0 and ow % 2 == 0:
        pools.append("max2")
    if _pow2(oh * ow) and oh * ow <= 1 << GAP_EXTRA_BITS:
        pools.append("gap")
    pool = "gap" if force == "gap1" else draw(st.sampled_from(pools))
    op = draw(st.sampled_from(engine.ops))
    if force == "shiftmax":
        op = "mul"                  # the widest sums, so that S = MAX_SHIFT can leave values other than 0
    # no ReLU where S is at the clamp: a ReLU would hide a wrong sign there
    relu = False if force in ("no_relu", "shift_edge") else draw(st.booleans())
    return k, s, p, pool, draw(st.integers(1, 3)), op, relu


def _out_hw(k, s, p, pool, in_hw):
    oh, ow = ((n + 2 * p - k) // s + 1 for n in in_hw)
    return (1, 1) if pool == "gap" else (oh // 2, ow // 2) if pool == "max2" else (oh, ow)


def engines_for(scenario):
    """The names of the ENGINES a scenario's programs are drawn for (shift-only ones included)."""
    return _ENGINES_FOR.get(scenario, sorted(ENGINES))


@st.composite
def cases(draw, scenario, engines=None):
    """(engine name, program, images) for ``scenario`` (one of SCENARIOS), on one of ``engines``
    (names; default: every engine with multipliers, not SHIFT_ENGINES, TILE_ENGINES or LANE_ENGINES,
    that the scenario suits)."""
    named = SHIFT_ENGINES + TILE_ENGINES + LANE_ENGINES
    pool = [e for e in engines_for(scenario) if (e in engines if engines is not None else e not in named)]
    assert pool, f"no engine of {engines} suits {scenario}"
    name = draw(st.sampled_from(pool))
    engine = ENGINES[name]
    width, C = engine.array.width, engine.lanes
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    m_lo, b_hi = -(1 << (engine.scale_bits - 1)), (1 << (engine.bias_bits - 1)) - 1
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    in_layers = scenario in ("stride2", "wide_padding", "kernel1", "gap1", "no_relu")
    n_hidden = draw(st.integers(1 if in_layers else 0, 2))
    # a 1x1 convolution or a stride shows only on a map: those go first, on an input of 2x2 or more
    forced_at = 0 if scenario in ("stride2", "kernel1") else draw(st.integers(0, max(0, n_hidden - 1)))
    least = 2 if scenario in ("stride2", "kernel1") else 1
    c, hw = draw(st.integers(1, 2)), (draw(st.integers(least, 5)), draw(st.integers(least, 5)))
    n = draw(st.integers(1, C - 1) if scenario == "partial" else st.integers(1, C))
    images = x = _values(rng, lo, hi, (n, c, *hw))
    layers = []
    for i in range(n_hidden):
        force = scenario if i == forced_at else None
        k, s, p, pool, cout, op, relu = draw(_hidden(engine, c, hw, force))
        wts = _values(rng, lo, hi, (cout, c, k, k))
        xs = _x_shift(draw, engine, op, cout)
        m, b, shift = _requant(draw, engine, _sums(op, x, wts, s, p, width, xs),
                               _forced_shift(draw, engine, scenario, force))
        if force == "shiftmax":
            m[:] = [draw(st.sampled_from([m_lo, m_top(engine)])) for _ in m]
        layers.append(LayerProgram(f"l{i}", op, wts, m, b, shift, hw, s, p, relu, pool, xs))
        _, x = run_layer_program(layers[-1], x, width)
        c, hw = cout, _out_hw(k, s, p, pool, hw)
    # the logits: one position, from a square window and a stride that finds no second one
    k, s, p = _one_position(draw, c, hw, st.integers(0, 1))
    classes = draw(st.integers(3 if scenario in ("saturate", "tied") else 2, 4))
    here = n_hidden == 0 or scenario in ("shift0", "shift_edge") and draw(st.booleans())
    force = scenario if here else None
    op = "mul" if force == "shiftmax" else draw(st.sampled_from(engine.ops))
    wts = _values(rng, lo, hi, (classes, c, k, k))
    xs = _x_shift(draw, engine, op, classes)
    m, b, shift = _requant(draw, engine, _sums(op, x, wts, s, p, width, xs),
                           _forced_shift(draw, engine, scenario, force))
    if force == "shiftmax":
        m[:] = [draw(st.sampled_from([m_lo, m_top(engine)])) for _ in m]
    relu = False if force == "shift_edge" else draw(st.booleans())
    if scenario in ("saturate", "tied"):
        # M = 0, B at an extreme and a shift that keeps B >> S beyond the width: a value that is
        # certainly saturated (at the top and the bottom; or, for the tie, below the tied pair)
        relu, shift = False, min(shift, engine.bias_bits - width - 1)
    if scenario == "saturate":
        m[:3], b[:2] = [0, 0, m_lo], [b_hi, -b_hi - 1]
    if scenario == "tied":
        j = draw(st.integers(0, classes - 2))
        others = [t for t in range(classes) if t not in (j, j + 1)]
        wts[j + 1], m[j + 1], b[j + 1] = wts[j], m[j], b[j]
        if xs is not None:
            xs = (xs[j],) * classes     # j + 1 must see j's input; the others are pinned by M = 0
        m[others], b[others] = 0, -b_hi - 1
    layers.append(LayerProgram("fc", op, wts, m, b, shift, hw, s, p, relu, "none", xs))
    program = Program(f"random-{scenario}", width, tuple(layers), 0, engine.scale_bits, engine.bias_bits,
                      requant=engine.requant, shift_terms=engine.shift_terms)
    return name, program, images


def _sums(op, x, wts, stride, padding, width, x_shift=None):
    """The layer's sums on the batch x (golden.conv, each channel on its shifted input), from which
    its shift is chosen."""
    conv = adder2d if op == "add" else mac_conv2d
    if x_shift is None:
        return conv(x, wts, stride, padding, width=width)
    return np.concatenate([conv(tile_shift(x, d, width), wts[t:t + 1], stride, padding, width=width)
                           for t, d in enumerate(x_shift)], axis=1)


def _x_shift(draw, engine, op, cout):
    """A layer's x_shift on a per-tile shift engine (one d per row tile of the array ``op`` runs
    on), None on others."""
    if not engine.tile_shift:
        return None
    rows = engine.rows_for(op)
    d = st.one_of(st.sampled_from([X_SHIFT_RANGE[0], X_SHIFT_RANGE[1], -1, 1, 0]), st.integers(*X_SHIFT_RANGE))
    tiles = [draw(d) for _ in range(-(-cout // rows))]
    return tuple(tiles[t // rows] for t in range(cout))


def _forced_shift(draw, engine, scenario, force):
    if force is None:
        return None
    if scenario == "shift0":
        return 0
    if scenario == "shiftmax":
        return MAX_SHIFT
    if scenario == "shift_edge":
        u = requant_bits(engine)       # U first: hypothesis's first, simplest, case takes it
        return draw(st.sampled_from([s for s in dict.fromkeys([u, u + 1, 40, u - 1]) if s <= MAX_SHIFT]))
    return None


def features(engine, program, images, golden):
    """The corners a case covers (names as in SCENARIOS, plus finer ones), read from the program,
    the batch and the golden run."""
    width = program.width
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    b_hi = (1 << (program.bias_bits - 1)) - 1
    m_lo = -(1 << (program.scale_bits - 1))
    u = requant_bits(engine)
    got = set()
    for i, layer in enumerate(program.layers):
        last = i == len(program.layers) - 1
        got |= {"shift0"} if layer.shift == 0 else set()
        got |= {"shiftmax"} if layer.shift == MAX_SHIFT else set()
        got |= {"shift_edge"} if layer.shift >= u - 1 else set()
        got |= {"negative_m"} if (layer.scale < 0).any() else set()
        got |= {"zero_m"} if (layer.scale == 0).any() else set()
        got |= {"m_min"} if (layer.scale == m_lo).any() else set()
        got |= {"m_top"} if (layer.scale == m_top(engine)).any() else set()
        # an M of two signed powers of two (one that a one-term engine could not hold)
        got |= {"two_terms"} if any(pow2_terms(m, 1) is None for m in layer.scale) else set()
        got |= {"b_max"} if (layer.bias == b_hi).any() else set()
        got |= {"b_min"} if (layer.bias == -b_hi - 1).any() else set()
        xs = layer.x_shifts
        got |= {"x_left"} if (xs > 0).any() else set()
        got |= {"x_right"} if (xs < 0).any() else set()
        got |= {"x_min"} if (xs == X_SHIFT_RANGE[0]).any() else set()
        got |= {"x_max"} if (xs == X_SHIFT_RANGE[1]).any() else set()
        if not last:
            got |= {"stride2"} if layer.stride == 2 else set()
            got |= {"wide_padding"} if layer.padding >= layer.kernel else set()
            got |= {"kernel1"} if layer.kernel == 1 and min(layer.in_hw) > 1 else set()
            got |= {"gap1"} if layer.pool == "gap" and layer.conv_hw == (1, 1) else set()
            got |= {"no_relu"} if not layer.relu else set()
        out = golden.outputs[i]
        if layer.pool == "none" and out.min() == lo and out.max() == hi:
            got.add("saturate")
        if layer.shift == MAX_SHIFT and out.any():
            got.add("shiftmax_nonzero")
    logits = golden.logits
    if ((logits == logits.max(axis=1, keepdims=True)).sum(axis=1) > 1).any():
        got.add("tied")
    if len(images) < engine.lanes:
        got.add("partial")
    return got
