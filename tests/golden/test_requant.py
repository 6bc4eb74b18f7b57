"""Shift-only requantisation: the term code (adderhw.base.requant), the power-of-two fit
(golden.compiler), and the program checks, each against brute force."""
import itertools

import numpy as np
import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.requant import code_bits, decode_scale, encode_scale, pow2_terms
from adderhw.golden.compiler import fold_requant, nearest_pow2_sum
from adderhw.golden.program import LayerProgram, Program, memory_images, postprocess


def _sums(terms, top):
    """Every sum of at most ``terms`` signed powers of two 2^0 .. 2^top, by brute force."""
    powers = [0] + [s << e for e in range(top + 1) for s in (1, -1)]
    return {sum(c) for c in itertools.product(powers, repeat=terms)}


@pytest.mark.parametrize("terms", [1, 2])
@pytest.mark.parametrize("scale_bits", [2, 5, 8])
def test_every_m_of_the_scale_range_is_encoded_exactly_when_it_is_such_a_sum(terms, scale_bits):
    lo, hi = -(1 << (scale_bits - 1)), (1 << (scale_bits - 1)) - 1
    sums = _sums(terms, scale_bits)
    for m in range(lo, hi + 1):
        if m in sums:
            code = encode_scale(m, terms, scale_bits)
            assert 0 <= code < 1 << code_bits(scale_bits, terms)
            assert decode_scale(code, terms, scale_bits) == m
            assert len(pow2_terms(m, terms)) <= terms
        else:
            assert pow2_terms(m, terms) is None
            with pytest.raises(BadParameter, match=f"scale {m} is not a sum of {terms} signed power"):
                encode_scale(m, terms, scale_bits)


def test_zero_is_the_empty_code():
    assert encode_scale(0, 2, 16) == 0 and decode_scale(0, 2, 16) == 0


@pytest.mark.parametrize("terms", [1, 2])
def test_the_fit_is_the_nearest_sum(terms):
    sums = np.array(sorted(_sums(terms, 14)))
    x = np.random.default_rng(terms).uniform(-9000, 9000, 3000)
    got = nearest_pow2_sum(x, terms)
    best = np.abs(sums[None, :] - x[:, None]).min(axis=1)
    assert np.allclose(np.abs(got - x), best)
    assert all(pow2_terms(m, terms) is not None for m in got)


@pytest.mark.parametrize("terms,bound", [(1, 1 / 3), (2, 1 / 11)])
def test_the_fit_error_is_bounded_as_documented(terms, bound):
    x = np.concatenate([np.linspace(8, 8 * 1024, 1 << 14), -np.linspace(8, 8 * 1024, 1 << 14)])
    err = np.abs(nearest_pow2_sum(x, terms) - x) / np.abs(x)
    assert err.max() <= bound + 1e-12
    assert err.max() >= 0.9 * bound       # and the bound is tight, not loose


@pytest.mark.parametrize("terms", [1, 2])
def test_fold_requant_shift_gives_power_of_two_scales_that_track_the_gain(terms):
    rng = np.random.default_rng(7)
    gain = rng.uniform(-3, 3, 40)
    gain[0] = 0.0
    offset = rng.uniform(-50, 50, 40)
    m, b, s = fold_requant(gain, offset, 6, 4, requant="shift", shift_terms=terms)
    assert all(pow2_terms(v, terms) is not None for v in m)
    assert m[0] == 0
    exact = np.ldexp(gain, 4 - 6 + s)
    big = np.abs(exact) >= 8
    assert np.all(np.abs(m - exact)[big] <= np.abs(exact)[big] * (1 / 3 if terms == 1 else 1 / 11) + 1e-9)
    # the same B and S as the multiplier fold (only M is rounded differently)
    m_mul, b_mul, s_mul = fold_requant(gain, offset, 6, 4)
    assert s == s_mul and np.array_equal(b, b_mul)


def _layer(scale):
    return LayerProgram("fc", "add", np.zeros((len(scale), 1, 1, 1), int), np.array(scale), np.zeros(len(scale), int),
                        3, (1, 1), relu=False)


def test_a_shift_program_refuses_a_scale_that_needs_a_multiply():
    Program("p", 8, (_layer([4, -6, 0, 96]),), 0, requant="shift", shift_terms=2)
    with pytest.raises(BadParameter, match=r"layer 'fc': scale M\[1\] = 6 is not a sum of 1 signed powers"):
        Program("p", 8, (_layer([4, 6]),), 0, requant="shift", shift_terms=1)
    with pytest.raises(BadParameter, match="requant must be one of mul, shift, not 'pow2'"):
        Program("p", 8, (_layer([4]),), 0, requant="pow2")


def test_a_shift_only_engine_refuses_a_program_that_needs_multiplies():
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=16), mac_rows=0, act_depth=64,
                          requant="shift", shift_terms=2)
    program = Program("p", 8, (_layer([4, 11]),), 0)           # 11 = 16 − 4 − 1: three terms
    with pytest.raises(BadParameter, match=r"layer 'fc': scale M\[1\] = 11 needs a multiply: this engine is "
                                           r"shift-only"):
        memory_images(program, engine)
    ok = Program("p", 8, (_layer([4, -6]),), 0, requant="shift")
    images = memory_images(ok, engine)
    # in normal form (golden.requant_normal): 4 and −6 share 2^1, so M' = 2, −3 and S' = 3 − 1
    assert [decode_scale(c, 2, engine.scale_bits) for c in np.asarray(images.consts)[:2, 0]] == [2, -3]
    assert images.descriptors[0]["shift"] == 2
    assert engine.multipliers == {"mac_array": 0, "postproc": 0}
    assert EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=16)).multipliers == \
        {"mac_array": 4, "postproc": 2}


def test_postprocess_of_a_shift_scale_is_shifts_and_adds():
    """golden's acc·M + B with M = ±2^e1 ± 2^e2 equals (±(acc << e1) ± (acc << e2)) + B, brute force."""
    rng = np.random.default_rng(3)
    for m in (1, -1, 64, -96, 12, -(1 << 15), (1 << 14) + 1):
        parts = pow2_terms(m, 2)
        acc = rng.integers(-(1 << 20), 1 << 20, 500)
        by_shifts = sum(s * (acc << e) for s, e in parts)
        for shift in (0, 1, 13, 40, 62):
            want = postprocess(acc, m, 12345, shift, False, 12)
            assert np.array_equal(want, postprocess(by_shifts, 1, 12345, shift, False, 12))


def test_a_rounded_scale_keeps_the_output_exact_at_the_centre():
    """fold_requant's B absorbs M's rounding at each channel's centre (BatchNorm's running mean): an
    accumulator there gives round(y·2^out_frac) as the exact fold would, within the rounding of B."""
    rng = np.random.default_rng(11)
    gain = rng.uniform(0.2, 3, 30) * rng.choice([-1, 1], 30)
    centre = rng.uniform(-900, -100, 30)              # adder layers: −Σ|x − f| is large and negative
    offset = -gain * centre + rng.uniform(-2, 2, 30)  # BatchNorm recentres it
    acc_frac, out_frac = 3, 4
    for terms in (1, 2):
        m, b, s = fold_requant(gain, offset, acc_frac, out_frac, requant="shift", shift_terms=terms, centre=centre)
        acc = np.rint(centre * 2 ** acc_frac).astype(np.int64)
        got = (acc * m + b + (1 << (s - 1))) >> s
        want = np.rint((gain * acc * 2.0 ** -acc_frac + offset) * 2 ** out_frac)
        assert np.all(np.abs(got - want) <= 1), terms
        # without the centre, M's error on the large sum moves the output by many steps
        m0, b0, s0 = fold_requant(gain, offset, acc_frac, out_frac, requant="shift", shift_terms=terms)
        assert np.abs(((acc * m0 + b0 + (1 << (s0 - 1))) >> s0) - want).max() > 10
