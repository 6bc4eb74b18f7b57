"""golden.requant_normal: the normal form (M', B', S') gives every result that (M, B, S) gives, over
the whole range a program allows, against exact rational arithmetic (not golden.program's shift)."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import BIAS_BITS_RANGE, MAX_SHIFT, SCALE_BITS_RANGE, EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.requant import pow2_terms
from adderhw.golden.program import LayerProgram, Program, memory_images, postprocess
from adderhw.golden.requant_normal import normal_exponent, normal_requant, normal_widths, signed_bits


def exact(acc, m, b, s, rounding):
    """(acc·M + B) / 2^S rounded to the nearest integer, ties up or to even, in exact rationals."""
    x = Fraction(acc * m + b, 1 << s)
    return round(x) if rounding == "half_even" else math.floor(x + Fraction(1, 2))


def engine_result(acc, m, b, s):
    """What the engine computes from a table entry: (acc·M + B + 2^(S−1)) >> S, ties up."""
    return (acc * m + b + ((1 << (s - 1)) if s else 0)) >> s


def engine_result_even(acc, m, b, s):
    w = acc * m + b + ((1 << (s - 1)) if s else 0)
    r = w >> s
    if s and w & ((1 << s) - 1) == 0:
        r &= ~1
    return r


@st.composite
def layers(draw):
    scale_bits = draw(st.integers(*SCALE_BITS_RANGE))
    bias_bits = draw(st.integers(*BIAS_BITS_RANGE))
    s = draw(st.integers(0, MAX_SHIFT))
    n = draw(st.integers(1, 4))
    # M with a common power of two drawn on purpose, so that every e from 0 to S is reached
    common = draw(st.integers(0, scale_bits - 1))
    mh = (1 << (scale_bits - 1)) - 1
    ms = [draw(st.integers(-(mh >> common) - 1, mh >> common)) << common for _ in range(n)]
    bh = (1 << (bias_bits - 1)) - 1
    bs = [draw(st.one_of(st.integers(-bh - 1, bh), st.sampled_from([-bh - 1, bh, 0, min(bh, 1 << max(0, s - 1))])))
          for _ in range(n)]
    accs = draw(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=6))
    return ms, bs, s, accs, scale_bits, bias_bits


@settings(max_examples=600, deadline=None)
@given(layers(), st.sampled_from(["half_up", "half_even"]))
def test_the_normal_form_gives_every_result_of_the_layer(layer, rounding):
    ms, bs, s, accs, scale_bits, bias_bits = layer
    m2, b2, s2 = normal_requant(np.array(ms, dtype=object), np.array(bs, dtype=object), s, rounding)
    e = s - s2
    assert 0 <= e <= s
    run = engine_result_even if rounding == "half_even" else engine_result
    for m, b, mn, bn in zip(ms, bs, m2, b2):
        assert int(mn) << e == m                             # M' is M without its common power of two
        assert abs(int(mn)) <= abs(m) and signed_bits([mn]) <= scale_bits
        assert signed_bits([bn]) <= bias_bits                # B' fits wherever B did
        for acc in accs:
            want = exact(acc, m, b, s, rounding)
            assert run(acc, m, b, s) == want                 # the reference agrees with the engine's formula
            assert run(acc, int(mn), int(bn), s2) == want    # and the normal form gives the same


@pytest.mark.parametrize("scale, bias, shift, rounding, e", [
    ([12, -20, 0], [5, 6, 7], 5, "half_up", 2),          # 12 = 3·2^2, 20 = 5·2^2; 0 does not count
    ([64, 128], [0, 0], 3, "half_up", 3),                # e is at most S
    ([0, 0], [1, 2], 4, "half_up", 0),                   # no M to divide
    ([8, 16], [3, 0], 0, "half_up", 0),                  # S = 0 has nothing to take out
    ([8, 16], [3, 4], 3, "half_even", 0),                # B + 4 = 7 is odd: a tie's condition needs every bit
    ([8, 16], [2, 6], 3, "half_even", 1),                # B + 4 = 6 and 10: one trailing zero each
    ([8, 16], [4, 12], 3, "half_even", 2),               # B + 4 = 8 and 16, but S' stays >= 1 for the tie
    ([2], [1], 1, "half_even", 0),                       # every value a tie: S' = 0 would miss it
])
def test_the_common_exponent(scale, bias, shift, rounding, e):
    assert normal_exponent(scale, bias, shift, rounding) == e


def test_the_normal_form_of_a_small_layer_by_hand():
    # M = 12, −20 (2^2 in common), B = 5, 6, S = 5: S' = 3, B' = ⌊B / 4⌋ = 1, 1
    m, b, s = normal_requant([12, -20], [5, 6], 5)
    assert (m.tolist(), b.tolist(), s) == ([3, -5], [1, 1], 3)
    # e = S: S' = 0 and B' = ⌊(B + 2^(S−1)) / 2^S⌋
    m, b, s = normal_requant([8, -16], [3, -13], 3)
    assert (m.tolist(), b.tolist(), s) == ([1, -2], [0, -2], 0)


def test_signed_bits():
    for values, bits in (([0], 1), ([-1], 1), ([1], 2), ([-2, 1], 2), ([127], 8), ([-128], 8), ([128], 9),
                         ([-129], 9)):
        assert signed_bits(values) == bits


def _layer(name, scale, bias, shift, cin=1):
    n = len(scale)
    return LayerProgram(name, "add", np.zeros((n, cin, 1, 1), int), np.array(scale), np.array(bias), shift, (1, 1),
                        relu=False)


def test_normal_widths_are_the_widest_layer_in_normal_form():
    # shift-only: M' of layer a = 3 (2^1 + 2^0), −5; of layer b = 2^6 + 2^0 → exponent 6, scale_bits 7
    program = Program("p", 8, (_layer("a", [12, -20], [5, -6000], 5), _layer("b", [65, 1], [100, 3], 2, cin=2)), 0,
                      requant="shift")
    assert normal_widths(program) == (7, signed_bits([-6000 >> 2]))
    mul = Program("p", 8, (_layer("a", [12, -20], [5, -6000], 5),), 0)
    assert normal_widths(mul) == (signed_bits([-5]), signed_bits([-1500]))


def test_an_engine_narrower_than_the_program_format_takes_it_when_its_normal_form_fits():
    program = Program("p", 8, (_layer("fc", [1 << 20, 3 << 20], [1 << 30, -(1 << 30)], 22),), 0, scale_bits=24,
                      bias_bits=32, requant="shift")
    # M' = 1, 3 (2^2 − 2^0), S' = 2, B' = ±2^10: 3 scale bits and 12 bias bits hold it
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=16), mac_rows=0, act_depth=64,
                          scale_bits=3, bias_bits=12, requant="shift")
    images = memory_images(program, engine)
    assert images.descriptors[0]["shift"] == 2 and images.consts[:, 1].tolist() == [1 << 10, -(1 << 10)]
    with pytest.raises(BadParameter, match=r"layer 'fc': bias in normal form \(-1024..1024\) needs 12 bits, more "
                                           r"than the engine's bias_bits=11"):
        memory_images(program, engine.with_(bias_bits=11))
    wide = Program("p", 8, (_layer("fc", [5 << 3], [0], 3),), 0, scale_bits=8, bias_bits=8)
    with pytest.raises(BadParameter, match=r"layer 'fc': scale in normal form \(5..5\) needs 4 bits, more than "
                                           r"the engine's scale_bits=3"):
        memory_images(wide, engine.with_(requant="mul", scale_bits=3))
    assert pow2_terms(3, 2) == [(1, 2), (-1, 0)]


def test_the_layer_results_equal_through_golden_postprocess():
    # golden.program.postprocess on the normal form equals it on the program's own (M, B, S) (the
    # digits program's first layer: M with 2^10 in common, S = 16), over the whole signed 20-bit sum
    # range and both roundings; ties to even take out 2^10 only where every B + 2^15 has it too
    acc = np.arange(-(1 << 19), 1 << 19, 997, dtype=np.int64)[:, None]
    scale, shift = np.array([12288, -20480, 7168]), 16
    for bias, aligned in ((np.array([15568493, -59878988, 4097]), False),
                          (np.array([15568 << 10, -(58476 << 10), 4096]), True)):
        for rounding in ("half_up", "half_even"):
            m, b, s = normal_requant(scale, bias, shift, rounding)
            assert s == (6 if aligned or rounding == "half_up" else 16)
            for relu in (False, True):
                assert (postprocess(acc, scale, bias, shift, relu, 8, rounding)
                        == postprocess(acc, m, b, s, relu, 8, rounding)).all()
