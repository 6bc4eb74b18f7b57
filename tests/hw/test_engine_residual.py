"""Residual blocks on hw.LayerEngine (EngineConfig.residual): random small residual programs, with one
and two blocks, identity and projection shortcuts, a skip from the program's input, and residual
adds over the whole range of their shifts, run on Amaranth's simulator (and one on Verilator) with
every step's output equal to the golden program (golden.program.run_program), the classes too, and
the cycles equal to the engine cycle model (golden.engine_cycles) exactly."""
import dataclasses

import numpy as np
import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import ADD_SHIFT_MAX, EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.requant import ROUNDINGS
from adderhw.golden.engine_cycles import engine_cycles, layer_overhead
from adderhw.golden.program import LayerProgram, Program, ResidualAdd, allocate_buffers, memory_images, run_program
from adderhw.sim.engine import run_engine_amaranth
from tests.engine_checks import assert_run_equals_golden


def _engine(rows=2, cols=2, width=8, pe="sad", mac_rows=0, **kw):
    kw = {"act_depth": 256, "weight_depth": 2048, "const_depth": 32, "max_layers": 12, **kw}
    return EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=256, pe=pe),
                        mac_rows=mac_rows if pe == "sad" else 0, residual=True, **kw)


def _requant(rng, cout, k, width):
    """(M, B, S) that keep a layer's outputs spread over its ``width`` bits instead of saturated: a
    sum of k terms |x − f| is about k·2^width / 3, M about 100, so S ≈ log2(k) + 7 brings acc·M to
    about 2^(width − 2); B moves it by up to a quarter of the range."""
    shift = (k * 128).bit_length() - 1
    b = 1 << (shift + width - 3)
    # an adder layer's acc is <= 0: mostly negative M, so that ReLU keeps most values
    m = rng.integers(20, 200, cout) * np.where(rng.random(cout) < 0.75, -1, 1)
    return m, rng.integers(-b, b, cout), shift


def _shifts(rng):
    """(main_shift, skip_shift, shift): most of the time as the compiler makes them (the coarser
    operand moved to the finer one's scale, rounded back to about that scale), the ends of the
    range and anything in it too."""
    pick = rng.random()
    if pick < 0.6:
        d = int(rng.integers(0, 4))
        la, lb = (d, 0) if rng.random() < 0.5 else (0, d)
        return la, lb, max(0, d + int(rng.integers(-1, 2)))
    if pick < 0.8:
        return tuple(int(v) for v in rng.choice([0, 1, ADD_SHIFT_MAX - 1, ADD_SHIFT_MAX], 3))
    return tuple(int(v) for v in rng.integers(0, ADD_SHIFT_MAX + 1, 3))


def random_residual_program(rng, width, blocks, op="add", skip_input=False):
    """A stem, ``blocks`` residual blocks (two 3x3 layers; a projection shortcut, a 1x1 layer reading
    the block's input, on every other block) and a classifier over a global average. With
    ``skip_input`` the first block's add reads the program's input as its skip operand (the stem is
    then the block's first layer)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    c, h, w = int(rng.integers(1, 4)), int(rng.choice([2, 4])), int(rng.choice([2, 4]))
    layers = []

    def conv(name, cin, cout, k, src=None, relu=True):
        return LayerProgram(name, op, rng.integers(lo, hi + 1, (cout, cin, k, k)), *_requant(rng, cout, cin * k * k, width),
                            (h, w), 1, k // 2, relu, "none", src=src)
    if skip_input:
        block_in = -1
        c_out = c
    else:
        c_out = int(rng.integers(1, 5))
        layers.append(conv("stem", c, c_out, 3))
        block_in = 0
    cin = c
    for b in range(blocks):
        first = not layers
        a = conv(f"b{b}.a", c if first else c_out, c_out, 3)
        layers.append(a)
        layers.append(conv(f"b{b}.b", c_out, c_out, 3, relu=bool(rng.random() < 0.5)))
        main = len(layers) - 1
        skip = block_in
        if b % 2 == 1 and not first:
            layers.append(conv(f"b{b}.proj", c_out, c_out, 1, src=block_in))
            skip = len(layers) - 1
        la, lb, r = _shifts(rng)
        layers.append(ResidualAdd(f"b{b}.add", skip, (c_out, h, w), la, lb, r, bool(rng.random() < 0.6),
                                  src=None if main == len(layers) - 1 else main))
        block_in = len(layers) - 1
        cin = c_out
    last = layers[-1]
    if rng.random() < 0.5 and c_out * 1 >= 4:
        layers[-1] = ResidualAdd(last.name, last.skip, last.shape, last.main_shift, last.skip_shift, last.shift,
                                 last.relu, last.src, "gap")
        fc_hw, k = (1, 1), 1
    else:
        fc_hw, k = (h, w), h
        if h != w:
            fc_hw, k = None, None
    if fc_hw is None:       # a classifier over the whole map needs a square one: a 1x1 layer pooled to 1x1
        layers.append(LayerProgram("pool", op, rng.integers(lo, hi + 1, (4, cin, 1, 1)), rng.integers(1, 50, 4),
                                   rng.integers(-100, 100, 4), 6, (h, w), 1, 0, True, "gap"))
        cin, fc_hw, k = 4, (1, 1), 1
    classes = int(rng.integers(2, 5))
    layers.append(LayerProgram("fc", op, rng.integers(lo, hi + 1, (classes, cin, k, k)), rng.integers(1, 100, classes),
                               rng.integers(-100, 100, classes), 6, fc_hw, 1, 0, False, "none"))
    return Program("residual", width, tuple(layers), input_frac=0)


def check_run(engine, program, images):
    run = run_engine_amaranth(engine, program, images)
    golden = assert_run_equals_golden(engine, program, images, run)
    return run, golden


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("blocks", [1, 2])
def test_random_residual_programs_are_bit_exact_and_cycle_exact(seed, blocks):
    rng = np.random.default_rng(300 + 10 * blocks + seed)
    width = int(rng.choice([4, 6, 8]))
    cols = int(rng.integers(1, 4))
    rounding = ROUNDINGS[seed % 2]                 # half the seeds round ties to even (a Brevitas import's)
    engine = _engine(int(rng.integers(1, 4)), cols, width, rounding=rounding)
    program = dataclasses.replace(random_residual_program(rng, width, blocks, skip_input=seed % 3 == 2),
                                  rounding=rounding)
    assert not program.sequential and len(program.kept) >= 1
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    check_run(engine, program, images)


@pytest.mark.parametrize("seed", range(3))
def test_residual_programs_on_a_cnn_engine_and_with_fewer_post_lanes(seed):
    """The CNN twin's engine (MAC layers) with residual blocks, and an AdderNet engine whose
    post-processing has one lane for its columns (each add element taken in C cycles)."""
    rng = np.random.default_rng(400 + seed)
    width = 6
    mac = _engine(2, 2, width, pe="mac")
    lanes = _engine(2, 4, width, post_lanes=[1, 2, 1][seed])
    assert lanes.post_chunks > 1
    for engine, op in ((mac, "mul"), (lanes, "add")):
        program = random_residual_program(rng, width, 2, op=op, skip_input=seed == 1)
        images = rng.integers(-32, 32, (engine.lanes, *program.input_shape))
        run, _ = check_run(engine, program, images)
    # the add's run is N·P cycles: one element of C images per cycle per chunk
    add = next(s for s in program.layers if isinstance(s, ResidualAdd))
    cyc = engine_cycles(lanes, program)["layers"][program.layers.index(add)]["cycles"]
    assert cyc == layer_overhead(lanes) + int(np.prod(add.shape)) * lanes.post_chunks


def _corner_program(width, adds):
    """Input (2, 2, 2) -> an adder layer with zero weights, M = (1, −1), S = 0: channel 0 is
    −(|x0| + |x1|) <= 0 and channel 1 is |x0| + |x1| >= 0, both saturated -> the given adds, each of
    that (main) and the program's input (skip) -> a classifier over the last add."""
    layers = [LayerProgram("sum", "add", np.zeros((2, 2, 1, 1), dtype=np.int64), np.array([1, -1]),
                           np.zeros(2, dtype=np.int64), 0, (2, 2), relu=False)]
    for i, (la, lb, r, relu) in enumerate(adds):
        layers.append(ResidualAdd(f"add{i}", -1, (2, 2, 2), la, lb, r, relu, src=0))
    layers.append(LayerProgram("fc", "add", np.zeros((3, 2, 2, 2), dtype=np.int64), np.ones(3, dtype=np.int64),
                               np.zeros(3, dtype=np.int64), 0, (2, 2), relu=False))
    return Program("corners", width, tuple(layers), input_frac=0)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_the_corners_of_the_residual_add(rounding):
    """ADD_SHIFT_MAX on each shift, saturation at both ends, ReLU on and off, the skip from the
    program's input, and the extremes −2^(w−1), 2^(w−1)−1 and 0 as operands; rounding ties up and
    to even."""
    width = 8
    lo, hi = -128, 127
    adds = [(ADD_SHIFT_MAX, 0, ADD_SHIFT_MAX, False),     # a·2^40 rounded back by 2^40: a + round(b / 2^40)
            (0, ADD_SHIFT_MAX, ADD_SHIFT_MAX, True),      # b + round(a / 2^40), ReLU
            (ADD_SHIFT_MAX, ADD_SHIFT_MAX, 0, False),     # (a + b)·2^40: saturates at both ends
            (0, ADD_SHIFT_MAX, 0, True),                  # b·2^40 + a: saturates high, ReLU clears the rest
            (0, 0, 1, False),                             # (a + b + 1) >> 1
            (3, 0, ADD_SHIFT_MAX, False)]                 # everything rounds to 0
    program = dataclasses.replace(_corner_program(width, adds), rounding=rounding)
    engine = _engine(2, 3, width, max_layers=len(program.layers), rounding=rounding)
    images = np.stack([np.full((2, 2, 2), lo), np.full((2, 2, 2), hi),
                       np.array([[[lo, hi], [0, 1]], [[-1, 0], [hi, lo]]])])
    run, golden = check_run(engine, program, images)
    out = golden.outputs
    assert lo in out[3] and hi in out[3] and 0 in out[3]          # both ends of the saturation, and 0
    assert hi in out[4] and (out[4] >= 0).all()
    assert (out[2] >= 0).all() and (out[1] < 0).any() and not out[6].any()     # ReLU on, and off
    # (a + b) / 2 meets ties here, where the two roundings differ
    other = dataclasses.replace(program, rounding=[r for r in ROUNDINGS if r != rounding][0])
    assert not np.array_equal(run_program(other, images).outputs[5], out[5])
    # every add read the program's input as its skip operand, from buffer 0, kept there all along
    bufs = memory_images(program, engine).buffers
    assert all(b[2] == 0 for b in bufs[1:-1]) and all(b[1] != 0 for b in bufs[:-1])


def test_a_step_may_read_any_earlier_tensor_and_the_buffers_are_chosen_by_liveness():
    rng = np.random.default_rng(7)
    width = 8

    def conv(name, src=None):
        return LayerProgram(name, "add", rng.integers(-128, 128, (2, 2, 3, 3)), rng.integers(-100, 100, 2),
                            rng.integers(-999, 999, 2), 7, (3, 3), 1, 1, True, src=src)
    layers = (conv("a"), conv("b"), ResidualAdd("add", -1, (2, 3, 3), 1, 0, 1, True), conv("d", src=-1),
              ResidualAdd("add2", 3, (2, 3, 3), 0, 2, 2, False, src=2),
              LayerProgram("fc", "add", rng.integers(-128, 128, (3, 2, 3, 3)), np.ones(3, int), np.zeros(3, int), 5,
                           (3, 3), relu=False))
    program = Program("graph", width, layers, input_frac=0)
    # the input is read by a, the add and d; the add's output by add2, beside d's
    assert allocate_buffers(program) == [(0, 1, 0), (1, 2, 1), (2, 1, 0), (0, 2, 0), (1, 0, 2), (0, 1, 0)]
    engine = _engine(2, 2, width)
    check_run(engine, program, rng.integers(-128, 128, (2, 2, 3, 3)))


def test_what_the_engine_cannot_run_is_refused():
    rng = np.random.default_rng(1)
    program = random_residual_program(rng, 8, 1)
    plain = _engine().with_(residual=False)
    with pytest.raises(BadParameter, match=r"is a residual add, which needs an engine built with residual"):
        memory_images(program, plain)
    assert "residual adds" in _engine().describe() and "x3" in _engine().describe()

    def conv(name, src=None):
        return LayerProgram(name, "add", np.ones((1, 1, 1, 1), int), np.ones(1, int), np.zeros(1, int), 0, (2, 2),
                            src=src)
    # four tensors live at once: the input, a and b are read by the last layers
    four = Program("four", 8, (conv("a"), conv("b", src=0), conv("c", src=1),
                               ResidualAdd("x", -1, (1, 2, 2), src=0), ResidualAdd("y", 1, (1, 2, 2)),
                               LayerProgram("fc", "add", np.ones((2, 1, 2, 2), int), np.ones(2, int),
                                            np.zeros(2, int), 0, (2, 2))), input_frac=0)
    with pytest.raises(BadParameter, match=r"layer 'c': src needs a fourth activation buffer: the engine's 3 hold "
                                           r"the input, 'a', 'b'"):
        memory_images(four, _engine())
    # a pooled add of one channel: its positions come 1 cycle apart, closer than the pool's 4
    pooled = Program("pooled", 8, (conv("a"), ResidualAdd("x", -1, (1, 2, 2), pool="max2"),
                                   LayerProgram("fc", "add", np.ones((2, 1, 1, 1), int), np.ones(2, int),
                                                np.zeros(2, int), 0, (1, 1))), input_frac=0)
    with pytest.raises(BadParameter, match=r"layer 'x': pool 'max2' after a residual add of 1 channel\(s\) needs at "
                                           r"least 4"):
        memory_images(pooled, _engine())
    # P = 4 chunks per element: the max pool reads a destination word once, for its first chunk, so
    # it needs P + 3 = 7 cycles between positions; the average pool's per-chunk sums need 4
    with pytest.raises(BadParameter, match=r"layer 'x': pool 'max2' after a residual add of 1 channel\(s\) needs at "
                                           r"least 2 \(the post-processing's pool needs the add's positions at least "
                                           r"7 cycles apart, and they are 4 cycle\(s\) apart\)"):
        memory_images(pooled, _engine(cols=4, post_lanes=1))
    gap = dataclasses.replace(pooled, layers=(pooled.layers[0], dataclasses.replace(pooled.layers[1], pool="gap"),
                                              pooled.layers[2]))
    assert memory_images(gap, _engine(cols=4, post_lanes=1)).buffers         # 1 x 4 chunks: 4 cycles apart


def test_residual_programs_on_verilator_equal_golden():
    from adderhw.sim.engine_cocotb import run_engine_verilog
    rng = np.random.default_rng(5)
    width = 6
    engine = _engine(2, 2, width)
    program = random_residual_program(rng, width, 2, skip_input=True)
    images = rng.integers(-32, 32, (5, *program.input_shape))      # three batches, the last partial
    runs = run_engine_verilog(engine, program, images, backend="verilator")
    assert [r.images for r in runs] == [2, 2, 1]
    for i, run in enumerate(runs):
        assert_run_equals_golden(engine, program, images[2 * i:2 * i + run.images], run)


def test_a_user_residual_network_from_the_front_end_runs_bit_exact():
    """tests/golden/user_models.ResidualNet (stem, two residual blocks, one of adder layers, a global
    average pool after the last add, a classifier) through golden.frontend and golden.compiler at
    8 bits, on the engine golden.network_program.engine_for builds for it (residual, 2x2, one MAC row)."""
    import torch
    from adderhw.golden.compiler import compile_model, quantize_images
    from adderhw.golden.frontend import import_model
    from adderhw.golden.network_program import engine_for
    from tests.golden.user_models import ResidualNet, randomise_batchnorm
    torch.manual_seed(1)
    model = randomise_batchnorm(ResidualNet())
    x = np.random.default_rng(1).random((64, 1, 8, 8)).astype(np.float32)
    program = compile_model(import_model(model, (1, 8, 8)), x, 8, "res").program
    engine = engine_for(program, 2, 2, "sad", 1)
    assert engine.residual and not engine.with_(residual=False).residual
    assert engine_for(random_residual_program(np.random.default_rng(0), 8, 1), 2, 2, "sad", 0).residual
    run, golden = check_run(engine, program, quantize_images(program, x[:2]))
    assert golden.outputs[-2].any()            # the last add's pooled values are not all 0


@pytest.mark.parametrize("pool,channels,post_lanes", [("max2", 4, 0), ("gap", 4, 0), ("max2", 3, 1), ("gap", 2, 1)])
def test_a_pooled_residual_add(pool, channels, post_lanes):
    """A residual add followed by a 2x2 max pool or a global average, with the fewest channels the
    post-processing's read-after-write distance allows: 4 on one lane per column; when each
    element takes P = 2 cycles, 3 for the max pool (P + 3 = 5 cycles) and 2 for the average."""
    rng = np.random.default_rng(11)
    width = 6
    conv = LayerProgram("a", "add", rng.integers(-32, 32, (channels, channels, 3, 3)), rng.integers(-99, 99, channels),
                        rng.integers(-999, 999, channels), 6, (4, 4), 1, 1, False)
    add = ResidualAdd("add", -1, (channels, 4, 4), 2, 1, 2, False, pool=pool)
    side = 2 if pool == "max2" else 1
    fc = LayerProgram("fc", "add", rng.integers(-32, 32, (3, channels, side, side)), np.ones(3, int),
                      np.zeros(3, int), 3, (side, side), relu=False)
    program = Program("pooled", width, (conv, add, fc), input_frac=0)
    engine = _engine(2, 2, width, post_lanes=post_lanes)
    images = rng.integers(-32, 32, (2, channels, 4, 4))
    _, golden = check_run(engine, program, images)
    assert len(np.unique(golden.outputs[1])) > 1           # not all saturated


def test_a_residual_engine_with_the_per_tile_shift():
    """tile_shift and residual together: the layers' inputs are shifted per row tile, the residual
    add's operands never are (its d is not in the constant table)."""
    rng = np.random.default_rng(21)
    width = 8

    def conv(name, d, src=None):
        return LayerProgram(name, "add", rng.integers(-128, 128, (4, 4, 3, 3)), *_requant(rng, 4, 36, width),
                            (4, 4), 1, 1, False, x_shift=(d, d, -d, -d), src=src)
    layers = (conv("a", 1), conv("b", -2), conv("c", 3),
              ResidualAdd("add", 0, (4, 4, 4), 1, 0, 1, True),
              LayerProgram("fc", "add", rng.integers(-128, 128, (3, 4, 4, 4)), np.ones(3, int), np.zeros(3, int), 6,
                           (4, 4), relu=False))
    program = Program("tiles", width, layers, input_frac=0)
    engine = _engine(2, 2, width, tile_shift=True)
    _, golden = check_run(engine, program, rng.integers(-128, 128, (2, 4, 4, 4)))
    assert len(np.unique(golden.outputs[3])) > 4
