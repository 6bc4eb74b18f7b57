"""The differential suite: random legal programs (tests/sim/random_programs.py) on the engine's RTL,
on Amaranth's simulator and, for a few, on Verilator. Every layer's values and the classes must
equal the golden program (golden.program.run_program), and the cycles the engine cycle model.

Hypothesis draws the programs, derandomized (tests/conftest.py's profile), so every run is the same
suite: len(SCENARIOS) x AMARANTH_EXAMPLES programs on Amaranth's simulator for the engines with
multipliers, len(SCENARIOS) x SHIFT_EXAMPLES for the shift-only engines (requant "shift": every M a
sum of signed powers of two, the post-processing shifts and adds), and VERILATOR_EXAMPLES for each of
VERILATOR_CASES on Verilator (three batches each, the last partial; four Verilator builds, one of
them the multiplier-free all-adder shift engine, one that engine with one post-processing lane for its
four columns). Hypothesis's first case of a test is its simplest
draw, so each Verilator case runs two. Each scenario forces one corner of the program format, and
the test checks from the golden run that the case really covers it. Hand-built programs pin the
corners of issue 26: S = 40 on an engine whose acc·M + B is 40 bits wide, and S = MAX_SHIFT with
values other than 0 (also on the one-term shift engine, with M = 2^30 and −2^31)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adderhw.base.engine import MAX_SHIFT, X_SHIFT_RANGE
from adderhw.golden.program import LayerProgram, Program
from adderhw.hw.postproc import requant_bits
from adderhw.sim.engine import run_engine_amaranth
from adderhw.sim.engine_cocotb import run_engine_verilog

from tests.engine_checks import assert_run_equals_golden

from .random_programs import (ENGINES, FORCED, LANE_ENGINES, SCENARIOS, SHIFT_ENGINES, TILE_ENGINES, cases, engines_for,
                              features)

#: programs per scenario on Amaranth's simulator
AMARANTH_EXAMPLES = 16
#: programs per scenario on the shift-only engines, on Amaranth's simulator
SHIFT_EXAMPLES = 5
#: (engine, scenario) of the programs run on Verilator: four engines (a build each), the corners
#: where the Verilog differs most (S at the clamp, sums wider than 64 bits, ties, saturation), and
#: the all-adder shift engine with M = −2^15, 0 and B at its extremes
VERILATOR_CASES = (("sad8", "shift_edge"), ("sad8", "tied"), ("sad16", "shiftmax"), ("sad16", "saturate"),
                   ("add6s", "saturate"), ("add6sl1", "tied"))
VERILATOR_EXAMPLES = 2


check_run = assert_run_equals_golden


def _draw_and_check(data, scenario, engines):
    """Draw a case of ``scenario`` on one of ``engines``, run it on Amaranth's simulator, check it
    against golden and that it covers the scenario's corners; returns (engine, program)."""
    name, program, images = data.draw(cases(scenario, engines=engines), label="case")
    engine = ENGINES[name]
    golden = check_run(engine, program, images, run_engine_amaranth(engine, program, images))
    assert FORCED.get(scenario, set()) <= features(engine, program, images, golden)
    return engine, program


@pytest.mark.parametrize("scenario", SCENARIOS)
@settings(max_examples=AMARANTH_EXAMPLES)
@given(data=st.data())
def test_random_programs_on_amaranth_equal_golden(scenario, data):
    name, program, images = data.draw(cases(scenario), label="case")
    engine = ENGINES[name]
    golden = check_run(engine, program, images, run_engine_amaranth(engine, program, images))
    assert FORCED.get(scenario, set()) <= features(engine, program, images, golden)


@pytest.mark.parametrize("scenario", SCENARIOS)
@settings(max_examples=SHIFT_EXAMPLES)
@given(data=st.data())
def test_random_shift_programs_on_amaranth_equal_golden(scenario, data):
    # every M a sum of at most shift_terms signed powers of two, its term code in the constant table
    engine, program = _draw_and_check(data, scenario, SHIFT_ENGINES)
    assert engine.requant == program.requant == "shift" and program.shift_terms == engine.shift_terms


@pytest.mark.parametrize("name,scenario", VERILATOR_CASES)
@settings(max_examples=VERILATOR_EXAMPLES)
@given(data=st.data())
def test_random_programs_on_verilator_equal_golden(name, scenario, data):
    assert name in engines_for(scenario)
    _, program, images = data.draw(cases(scenario, engines=[name]), label="case")
    engine = ENGINES[name]
    # 2C + 1 images: three batches, the last one partial, through the same loaded program
    lo, hi = -(1 << (program.width - 1)), (1 << (program.width - 1)) - 1
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seed"))
    more = rng.integers(lo, hi + 1, (2 * engine.lanes + 1 - len(images), *program.input_shape))
    images = np.concatenate([images, more])
    runs = run_engine_verilog(engine, program, images, backend="verilator")
    C = engine.lanes
    for i, run in enumerate(runs):
        golden = check_run(engine, program, images[i * C:i * C + run.images], run)
        if i == 0:
            assert FORCED.get(scenario, set()) - {"partial"} <= features(engine, program, images[:C], golden)
    assert sum(r.images for r in runs) == len(images)


# ---- the corners of issue 26, written out --------------------------------------------------------

def _fc(weights, scale, bias, shift, in_hw=(1, 1)):
    w = np.array(weights, dtype=np.int64)
    return LayerProgram("fc", "mul", w, np.array(scale, dtype=np.int64), np.array(bias, dtype=np.int64),
                        shift, in_hw, relu=False, pool="none")


@pytest.mark.parametrize("backend,shift", [("amaranth", 39), ("amaranth", 40), ("amaranth", 41),
                                           ("amaranth", MAX_SHIFT), ("verilator", 40)])
def test_a_shift_near_and_beyond_the_width_of_the_sum_gives_golden_zeros(backend, shift):
    # issue 26: on an engine whose acc·M + B is 40 bits wide, S = 40 put the rounding half on the
    # sign bit and the engine wrote -1 where the golden program gives 0
    engine = ENGINES["sad8"]
    assert requant_bits(engine) == 40
    layer = _fc([[[[1]]], [[[-1]]]], [(1 << 15) - 1, -(1 << 15)], [(1 << 31) - 1, -(1 << 31)], shift)
    program = Program("s40", 8, (layer,), 0, engine.scale_bits, engine.bias_bits)
    images = np.array([[[[5]]], [[[-128]]]])
    if backend == "verilator":
        run, = run_engine_verilog(engine, program, images, backend="verilator")
    else:
        run = run_engine_amaranth(engine, program, images)
    golden = check_run(engine, program, images, run)
    assert not golden.logits.any() and not np.concatenate(run.layer_outputs()).any()


def test_the_largest_shift_keeps_values_other_than_zero_on_a_wide_engine():
    # M and B at their widest (32 and 48 bits) and 16-bit MAC sums: acc·M + B reaches ±2^63, so
    # S = MAX_SHIFT = 62 leaves 2 and -2
    engine = ENGINES["sad16"]
    lo = -(1 << 15)
    layer = _fc(np.full((2, 4, 1, 1), lo), [(1 << 31) - 1, -(1 << 31)], [(1 << 47) - 1, 1 << 46], MAX_SHIFT)
    program = Program("s62", 16, (layer,), 0, engine.scale_bits, engine.bias_bits)
    images = np.full((1, 4, 1, 1), lo)
    acc = 4 * lo * lo
    consts = (((1 << 31) - 1, (1 << 47) - 1), (-(1 << 31), 1 << 46))
    want = [(acc * m + b + (1 << 61)) >> 62 for m, b in consts]
    assert want == [2, -2]
    golden = check_run(engine, program, images, run_engine_amaranth(engine, program, images))
    assert golden.logits.tolist() == [want]


def test_the_largest_shift_keeps_values_other_than_zero_on_a_shift_engine():
    # the same on the shift-only twin of sad16 (one term): M = 2^30 and −2^31, the widest term
    # shifts, as acc << 30 and −(acc << 31) without a multiplier
    engine = ENGINES["sad16s"]
    lo = -(1 << 15)
    scales, biases = [1 << 30, -(1 << 31)], [(1 << 47) - 1, 1 << 46]
    layer = _fc(np.full((2, 4, 1, 1), lo), scales, biases, MAX_SHIFT)
    program = Program("s62", 16, (layer,), 0, engine.scale_bits, engine.bias_bits, requant="shift", shift_terms=1)
    images = np.full((1, 4, 1, 1), lo)
    acc = 4 * lo * lo
    want = [(acc * m + b + (1 << 61)) >> 62 for m, b in zip(scales, biases)]
    assert want == [1, -2]
    golden = check_run(engine, program, images, run_engine_amaranth(engine, program, images))
    assert golden.logits.tolist() == [want]


#: programs per scenario on the per-tile shift engines, on Amaranth's simulator
TILE_EXAMPLES = 4
#: the scenarios that suit a per-tile shift engine (S = MAX_SHIFT needs the 16-bit engine)
TILE_SCENARIOS = tuple(s for s in SCENARIOS if set(engines_for(s)) & set(TILE_ENGINES))


@pytest.mark.parametrize("scenario", TILE_SCENARIOS)
@settings(max_examples=TILE_EXAMPLES)
@given(data=st.data())
def test_random_tile_shift_programs_on_amaranth_equal_golden(scenario, data):
    # every layer's input shifted per row tile (golden.program step 0), d over the whole X_SHIFT_RANGE
    engine, program = _draw_and_check(data, scenario, TILE_ENGINES)
    assert engine.tile_shift and all(layer.x_shift is not None for layer in program.layers)


#: programs per scenario on the engines with L < C post-processing lanes, on Amaranth's simulator
LANE_EXAMPLES = 3
LANE_SCENARIOS = tuple(s for s in SCENARIOS if set(engines_for(s)) & set(LANE_ENGINES))


@pytest.mark.parametrize("scenario", LANE_SCENARIOS)
@settings(max_examples=LANE_EXAMPLES)
@given(data=st.data())
def test_random_programs_with_fewer_post_lanes_on_amaranth_equal_golden(scenario, data):
    # each drained row taken in C / L chunks: values, classes and cycles (with the drain's waits)
    engine, _ = _draw_and_check(data, scenario, LANE_ENGINES)
    assert engine.post_chunks > 1


def test_tile_shift_cases_cover_every_shift():
    # over the suite's draws, every d of X_SHIFT_RANGE occurs: the range is tested whole
    seen = set()
    for scenario in TILE_SCENARIOS:
        @settings(max_examples=TILE_EXAMPLES, database=None)
        @given(data=st.data())
        def collect(data):
            _, program, _ = data.draw(cases(scenario, engines=TILE_ENGINES))
            for layer in program.layers:
                seen.update(layer.x_shifts.tolist())
        collect()
    assert seen == set(range(X_SHIFT_RANGE[0], X_SHIFT_RANGE[1] + 1)), sorted(seen)
