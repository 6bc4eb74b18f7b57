"""hw.LayerEngine on Amaranth's simulator: every layer output of random small programs equals the
golden program (golden.program.run_program), the classes too, and the cycles equal the engine
cycle model (golden.engine_cycles) exactly."""
import numpy as np
import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.golden.program import LayerProgram, Program, memory_images
from adderhw.sim.engine import run_engine_amaranth
from tests.engine_checks import assert_run_equals_golden


def random_program(rng, width, adder, n_layers=3, all_adder=False):
    """A chain of conv layers (random kernel, stride, padding, pooling) ending in a classifier; the
    first layer and the classifier multiply unless ``all_adder``."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    cin, h, w = int(rng.integers(1, 3)), int(rng.integers(4, 9)), int(rng.integers(4, 9))
    layers = []
    for i in range(n_layers):
        k = int(rng.integers(1, 4))
        s = int(rng.integers(1, 3))
        p = int(rng.integers(0, 2))
        cout = int(rng.integers(1, 6))
        op = "add" if adder and (i > 0 or all_adder) else "mul"
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if oh < 1 or ow < 1:
            k, s, p = 1, 1, 0
            oh, ow = h, w
        pool = "none"
        if oh % 2 == 0 and ow % 2 == 0 and rng.random() < 0.5:
            pool = "max2"
        elif (oh * ow) & (oh * ow - 1) == 0 and rng.random() < 0.5:
            pool = "gap"
        wts = rng.integers(lo, hi + 1, (cout, cin, k, k))
        scale = rng.integers(-200, 200, cout)
        bias = rng.integers(-3000, 3000, cout)
        layers.append(LayerProgram(f"l{i}", op, wts, scale, bias, int(rng.integers(4, 12)), (h, w), s, p,
                                   bool(rng.random() < 0.7), pool))
        cin = cout
        h, w = (oh // 2, ow // 2) if pool == "max2" else (1, 1) if pool == "gap" else (oh, ow)
    classes = int(rng.integers(2, 6))
    wts = rng.integers(lo, hi + 1, (classes, cin, h, h if h == w else 1))
    if h != w:       # a classifier over the whole map needs a square kernel: pool it away first
        return random_program(rng, width, adder, n_layers, all_adder)
    layers.append(LayerProgram("fc", "add" if all_adder else "mul", wts, rng.integers(1, 100, classes), rng.integers(-100, 100, classes),
                               6, (h, w), 1, 0, False, "none"))
    return Program("random", width, tuple(layers), input_frac=4)


def check_run(engine, program, images):
    run = run_engine_amaranth(engine, program, images)
    assert_run_equals_golden(engine, program, images, run)
    return run


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("adder", [True, False], ids=["addernet", "cnn"])
def test_random_programs_are_bit_exact_and_cycle_exact(seed, adder):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    width = int(rng.choice([4, 6, 8]))
    pe = "sad" if adder else "mac"
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=200, pe=pe),
                          mac_rows=int(rng.integers(1, rows + 1)) if adder else 0,
                          act_depth=512, weight_depth=2048, const_depth=64, max_layers=6)
    program = random_program(rng, width, adder)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    check_run(engine, program, images)


@pytest.mark.parametrize("seed", range(8))
def test_fewer_post_processing_lanes_than_columns_are_bit_exact_and_cycle_exact(seed):
    """L < C (EngineConfig.post_lanes): each drained row is taken in C / L chunks; the writes go to
    the chunk's lanes, and the drain's waits are in the cycle model (check_run compares both)."""
    rng = np.random.default_rng(100 + seed)
    rows, cols = int(rng.integers(1, 4)), int(rng.choice([2, 4, 6]))
    width = int(rng.choice([4, 6, 8]))
    lanes = [d for d in range(1, cols) if cols % d == 0]
    adder = bool(seed % 2)
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=512, pe="sad" if adder else "mac"),
                          mac_rows=int(rng.integers(1, rows + 1)) if adder else 0, act_depth=512,
                          weight_depth=2048, const_depth=64, max_layers=6, post_lanes=lanes[seed % len(lanes)])
    assert engine.post_chunks > 1
    program = random_program(rng, width, adder)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    run = check_run(engine, program, images)
    # the same program on one lane per column takes fewer cycles, by the drain's waits alone
    assert run.cycles > check_run(engine.with_(post_lanes=0), program, images).cycles


@pytest.mark.parametrize("seed", range(6))
def test_broadcast_arrays_are_bit_exact_and_cycle_exact(seed):
    """The engine on broadcast arrays (ArrayConfig.dataflow): AdderNet with a MAC array, CNN and
    all-adder programs, one lane per column and fewer; its shorter drain gap is in the cycle model."""
    rng = np.random.default_rng(300 + seed)
    rows, cols = int(rng.integers(1, 5)), int(rng.choice([1, 2, 4]))
    width = int(rng.choice([4, 6, 8]))
    adder, all_adder = seed % 3 != 1, seed % 3 == 2
    pe = "sad" if adder else "mac"
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=200, pe=pe, dataflow="broadcast"),
                          mac_rows=int(rng.integers(1, rows + 1)) if adder and not all_adder else 0,
                          act_depth=512, weight_depth=2048, const_depth=64, max_layers=6,
                          post_lanes=1 if seed % 2 else 0)
    assert engine.array_for("mul" if not adder else "add").dataflow == "broadcast"
    program = random_program(rng, width, adder, all_adder=all_adder)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    check_run(engine, program, images)


def test_post_lanes_must_divide_the_columns():
    arr = ArrayConfig(rows=2, cols=6, width=8, k_max=16)
    assert EngineConfig(array=arr, post_lanes=0).pp_lanes == 6
    assert EngineConfig(array=arr, post_lanes=2).post_chunks == 3
    for bad in (4, 7, -1):
        with pytest.raises(BadParameter, match=f"post_lanes .*{bad}"):
            EngineConfig(array=arr, post_lanes=bad)


@pytest.mark.parametrize("seed", range(4))
def test_all_adder_programs_on_an_engine_without_a_mac_array(seed):
    rng = np.random.default_rng(100 + seed)
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    width = int(rng.choice([4, 6, 8]))
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=200), mac_rows=0,
                          act_depth=512, weight_depth=2048, const_depth=64, max_layers=6)
    program = random_program(rng, width, True, all_adder=True)
    assert {layer.op for layer in program.layers} == {"add"}
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    check_run(engine, program, images)


def _shift_form(program, terms):
    """``program`` with every M moved to the nearest sum of ``terms`` signed powers of two."""
    import dataclasses
    from adderhw.golden.compiler import nearest_pow2_sum
    layers = tuple(dataclasses.replace(layer, scale=nearest_pow2_sum(layer.scale, terms)) for layer in program.layers)
    return dataclasses.replace(program, layers=layers, requant="shift", shift_terms=terms)


@pytest.mark.parametrize("seed", range(6))
def test_shift_only_requant_is_bit_exact_and_cycle_exact(seed):
    """Random programs whose M are signed powers of two (one or two, negative and zero included) on
    an engine whose post-processing shifts and adds; every other seed an all-adder engine."""
    rng = np.random.default_rng(200 + seed)
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    width = int(rng.choice([4, 6, 8]))
    terms = 1 + seed % 2
    all_adder = seed % 3 != 0
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=200),
                          mac_rows=0 if all_adder else 1, act_depth=512, weight_depth=2048, const_depth=64,
                          max_layers=6, requant="shift", shift_terms=terms)
    program = _shift_form(random_program(rng, width, True, all_adder=all_adder), terms)
    scales = np.concatenate([layer.scale for layer in program.layers])
    assert (scales < 0).any() and (scales > 0).any()
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    check_run(engine, program, images)


def test_shift_only_requant_at_the_extremes_of_the_scale():
    """M = ±2^(scale_bits−1)-ish, M = 0 and M = ±1 with the largest sums: the shifted terms hold."""
    from adderhw.base.requant import pow2_terms
    width = 8
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=width, k_max=64), mac_rows=0, act_depth=64,
                          weight_depth=256, const_depth=16, max_layers=3, scale_bits=8, bias_bits=24,
                          requant="shift", shift_terms=2)
    scales = np.array([-128, 96, 0, 1, -1, 127 - 63])         # 64 = 2^6; −128 = −2^7; 96 = 2^7 − 2^5
    assert all(pow2_terms(m, 2) is not None for m in scales)
    layers = (LayerProgram("a", "add", np.full((6, 1, 2, 2), 127), scales, np.array([0, 5, -7, 100, 0, 3]), 9,
                           (2, 2), 1, 0, False, "none"),
              LayerProgram("fc", "add", np.full((3, 6, 1, 1), -128), np.array([1, -2, 64]), np.array([0, 0, 0]), 2,
                           (1, 1), 1, 0, False, "none"))
    program = Program("extremes", width, layers, input_frac=0, scale_bits=8, bias_bits=24, requant="shift")
    images = np.stack([np.full((1, 2, 2), -128), np.full((1, 2, 2), 127)])
    check_run(engine, program, images)


def test_an_engine_without_a_mac_array_refuses_a_multiplier_layer():
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=64), mac_rows=0, act_depth=64)
    assert engine.ops == ("add",) and "MAC" not in engine.describe()
    program = random_program(np.random.default_rng(0), 8, True)
    with pytest.raises(BadParameter, match="layer 'l0': op 'mul' needs a MAC array, and this all-adder engine"):
        memory_images(program, engine)


def test_a_cnn_engine_refuses_an_adder_layer():
    # a CNN engine has one array, the MAC array, and takes every layer on it without a select
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=64, pe="mac"), act_depth=256)
    assert engine.ops == ("mul",)
    program = random_program(np.random.default_rng(0), 8, True)
    with pytest.raises(BadParameter, match="layer 'l1': op 'add' cannot run on a CNN engine"):
        memory_images(program, engine)


def test_an_all_adder_engine_builds_no_mac_array():
    """From the netlist: the MAC array's multipliers are gone with mac_rows 0; what multiplies then is
    the post-processing's BatchNorm scale, one per lane with requant 'mul', none with 'shift'."""
    from adderhw.hw.engine import LayerEngine
    from tests.hw.netlist import netlist_cells

    def muls(mac_rows, requant="mul"):
        engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=64), mac_rows=mac_rows,
                              act_depth=64, weight_depth=256, const_depth=16, max_layers=4, requant=requant)
        return sum(kind == "$mul" for kind, _ in netlist_cells(LayerEngine(engine)))
    assert muls(1) == 2 + 1 * 2          # two lanes of post-processing and a 1x2 MAC array
    assert muls(0) == 2
    assert muls(1, "shift") == 2         # the MAC array's only
    assert muls(0, "shift") == 0         # multiplier-free


def test_corner_values_saturate_and_tie_the_same_way():
    # all-extreme images and weights: sums at their limits, saturation at both ends, ties in the argmax
    width = 4
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=width, k_max=64), mac_rows=1,
                          act_depth=64, weight_depth=256, const_depth=16, max_layers=3)
    w1 = np.full((2, 1, 3, 3), -8)
    w1[1] = 7
    layers = (LayerProgram("c", "mul", w1, np.array([1, -1]), np.array([0, 0]), 0, (4, 4), 1, 1, False, "max2"),
              LayerProgram("a", "add", np.full((3, 2, 2, 2), 7), np.array([-1, 1, 3]), np.array([8, -8, 0]), 1,
                           (2, 2), 1, 0, True, "none"),
              LayerProgram("fc", "mul", np.zeros((3, 3, 1, 1), dtype=int), np.ones(3, int), np.zeros(3, int), 0,
                           (1, 1), 1, 0, False, "none"))
    program = Program("corners", width, layers, input_frac=0)
    images = np.stack([np.full((1, 4, 4), -8), np.full((1, 4, 4), 7)])
    run = check_run(engine, program, images)
    assert list(run.classes) == [0, 0]          # all logits tie at 0: the first index wins


def test_a_batch_larger_than_the_lanes_is_refused():
    engine = EngineConfig(array=ArrayConfig(rows=1, cols=2, width=8, k_max=16), mac_rows=1, act_depth=64)
    program = Program("p", 8, (LayerProgram("fc", "mul", np.ones((2, 1, 2, 2), int), np.ones(2, int),
                                            np.zeros(2, int), 0, (2, 2), relu=False),), input_frac=0)
    with pytest.raises(BadParameter, match="a batch holds 1 to 2 images"):
        run_engine_amaranth(engine, program, np.zeros((3, 1, 2, 2), int))


def test_a_qat_per_group_all_adder_program_runs_bit_exact_with_the_per_tile_shift():
    # the 4-bit all-adder digits network, fine-tuned with one scale per 2 output channels
    # (golden.qat.qat_compile): its layers have per-tile input shifts, run on a 2-row engine
    from adderhw.golden.network_program import engine_for
    from adderhw.golden.compiler import quantize_images
    from adderhw.golden.qat import qat_compile
    from adderhw.golden.trained import trained_network
    net = trained_network("digits", True, 0, 40, first_last="adder", progress=lambda m: None)
    compiled, fracs, _ = qat_compile(net.model, net.data, 4, "qat-group", group=2, epochs=1, seed=0,
                                     requant="shift", shift_terms=2)
    program = compiled.program
    assert any(layer.x_shift is not None for layer in program.layers)
    engine = engine_for(program, 2, 3, "sad", 0)
    assert engine.tile_shift and engine.mac_rows == 0 and engine.multipliers == {"mac_array": 0, "postproc": 0}
    check_run(engine, program, quantize_images(program, net.data.x_test[:3]))
    with pytest.raises(BadParameter, match=r"x_shift .*\(tile_shift False\)"):
        memory_images(program, engine.with_(tile_shift=False))


@pytest.mark.parametrize("width, lanes, depth, blocks", [
    (8, 1, 4096, 1),            # the 1x1 digits engine's weights
    (16, 1, 16384, 1),          # one whole block
    (16, 1, 16385, 2),          # one word more: a second page
    (8, 1, 32768, 1),           # two pages of 8 bits side by side in one block
    (8, 8, 16384, 4),           # 64 bits at 16K: all four
    (8, 9, 1, 5),               # 72 bits: five, whatever the depth
    (16, 4, 16385, 8),
    (6, 3, 1024, 2),            # each lane from a nibble: 3 x 8 bits, not 18
    (5, 1, 1, 1), (4, 4, 1, 1), (13, 5, 1, 5),
])
def test_spram_cost_counts_nibble_aligned_lanes_in_16_bit_blocks(width, lanes, depth, blocks):
    from adderhw.hw.engine import spram_cost
    assert spram_cost(width, lanes, depth) == blocks


@pytest.mark.parametrize("rows, width, depth, platform, spram", [
    (8, 8, 16384, "icebreaker", False),     # 64 bits x 16K: all four blocks, which nextpnr did not place
    (8, 8, 512, "icebreaker", False),       # the 8x2 digits engine's weights: all four blocks too
    (6, 8, 512, "icebreaker", True),        # three blocks, one left free
    (4, 16, 16384, "icebreaker", False),    # 4 lanes of 16 bits: all four blocks
    (2, 16, 16384, "icebreaker", True),     # two blocks
    (9, 8, 16384, "icebreaker", False),     # 72 bits: five blocks, one too many
    (8, 8, 16385, "icebreaker", False),     # a second page: eight blocks
    (1, 8, 4096, "icebreaker", True),
    (1, 8, 4096, "hx8k", False),            # an iCE40 without SPRAM
    (1, 8, 4096, "ulx3s", False),
    (1, 8, 4096, None, False),              # generic Verilog, simulation
])
def test_the_weights_go_to_spram_where_the_device_has_enough(rows, width, depth, platform, spram):
    from amaranth_boards.ice40_hx8k_b_evn import ICE40HX8KBEVNPlatform
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    from adderhw.hw.engine import weights_in_spram
    plat = {"icebreaker": ICEBreakerPlatform, "hx8k": ICE40HX8KBEVNPlatform, "ulx3s": ULX3S_85F_Platform,
            None: lambda: None}[platform]()
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=2, width=width, k_max=64), mac_rows=1, act_depth=64,
                          weight_depth=depth, const_depth=16, max_layers=4)
    assert weights_in_spram(engine, plat) is spram


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_the_tables_hold_each_layer_in_normal_form(rounding):
    """M with a common power of two, up to 2^S: the engine sized by golden.network_program.engine_for
    has tables narrower than the program's format, holds each layer in normal form
    (golden.requant_normal), and runs bit-exact with the golden program on the program's own M, B
    and S. Layer l0's values stay inside the saturation limits, so a table entry off by one shows."""
    from adderhw.golden.network_program import engine_for
    from adderhw.golden.program import run_program
    rng = np.random.default_rng(41)
    # l0: acc = −|x| (weights 0), M = ±2^3, S = 3, B + 4 = 48 and 56: ties up take out e = 3 (S' = 0);
    # ties to even e = 2 (S' = 1), and every value of l0 is then a tie
    layers = (LayerProgram("l0", "add", np.zeros((2, 1, 1, 1), int), np.array([8, -8]), np.array([44, 52]), 3,
                           (4, 4), 1, 0, False, "none"),
              LayerProgram("fc", "add", rng.integers(-4, 5, (3, 2, 4, 4)), np.array([12, -8, 4]),
                           np.array([100, -300, 4]), 5, (4, 4), 1, 0, False, "none"))
    program = Program("normal", 8, layers, input_frac=0, scale_bits=24, bias_bits=32, rounding=rounding)
    engine = engine_for(program, 2, 2, "sad", 0)
    assert engine.scale_bits < 24 and engine.bias_bits < 32
    assert [d["shift"] for d in memory_images(program, engine).descriptors] == \
        ([0, 3] if rounding == "half_up" else [1, 3])
    images = rng.integers(-8, 9, (2, 1, 4, 4))
    l0 = run_program(program, images).outputs[0]
    assert l0.min() > -128 and l0.max() < 127 and len(np.unique(l0)) > 4
    check_run(engine, program, images)
