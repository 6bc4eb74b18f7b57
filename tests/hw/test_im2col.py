"""hw.im2col against golden.conv.im2col: random conv shapes, random ready stalls."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import DESCRIPTOR_FIELDS, EngineConfig
from adderhw.golden.conv import im2col
from adderhw.golden.program import LayerProgram, descriptor
from adderhw.hw.descriptor import as_registered
from adderhw.hw.im2col import Im2colGenerator


def expected_beats(x, weights, rows, stride, padding):
    """(act lanes, filter lanes, last) of every beat, from golden im2col and the weight layout."""
    n, cin, h, w = x.shape
    cout, _, k, _ = weights.shape
    cols = im2col(x, k, k, stride, padding)                 # (K, N·P), P-major per image
    K = cin * k * k
    P = cols.shape[1] // n
    tiles = -(-cout // rows)
    f = np.zeros((tiles * rows, K), dtype=np.int64)
    f[:cout] = weights.reshape(cout, K)
    beats = []
    for p in range(P):
        for tt in range(tiles):
            for kk in range(K):
                act = [int(cols[kk, c * P + p]) for c in range(n)]
                beats.append((act, [int(v) for v in f[tt * rows:(tt + 1) * rows, kk]], kk == K - 1))
    return beats


def run_generator(engine, layer, x, weights_words, stall_seed):
    dut = Im2colGenerator(engine)
    d = descriptor(layer, 0, 0, True, engine.array.rows)
    flat = x.reshape(len(x), -1)
    rng = np.random.default_rng(stall_seed)
    got = []

    async def testbench(ctx):
        ctx.set(dut.i_desc, as_registered({name: d[name] for name in DESCRIPTOR_FIELDS}))
        ctx.set(dut.i_start, 1)
        await ctx.tick()
        ctx.set(dut.i_start, 0)
        act_word = act_latch = [0] * engine.array.cols
        w_word = [0] * engine.array.rows
        idle = 0
        while idle < 20:
            ready = int(rng.random() < 0.7)
            ctx.set(dut.o_act.ready, ready)
            ctx.set(dut.o_filter.ready, ready)
            ctx.set(dut.i_act_data, act_word)
            ctx.set(dut.i_w_data, w_word)
            _, _, en, aaddr, reg_en, w_en, waddr, valid, act, filt, busy = await ctx.tick().sample(
                dut.o_read_en, dut.o_act_addr, dut.o_act_reg_en, dut.o_w_en, dut.o_w_addr, dut.o_act.valid,
                dut.o_act.payload, dut.o_filter.payload, dut.o_busy)
            if valid and ready:
                got.append(([int(v) for v in act.data][:len(x)], [int(v) for v in filt], bool(act.last)))
            # the memories: registered read data, held while not enabled; the activation buffer's
            # word then passes its output register (hw.engine), held while o_act_reg_en is low
            if reg_en:
                act_word = act_latch
            if en:
                act_latch = [int(flat[c, aaddr]) if aaddr < flat.shape[1] else 99 for c in range(len(x))] + \
                            [0] * (engine.array.cols - len(x))
            if w_en:
                w_word = [int(v) for v in weights_words[waddr]] if waddr < len(weights_words) else [77] * engine.array.rows
            idle = 0 if busy else idle + 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return got


@pytest.mark.parametrize("seed", range(12))
def test_generator_streams_golden_im2col(seed):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = int(rng.integers(1, 6))
    stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    cin, cout = int(rng.integers(1, 4)), int(rng.integers(1, 6))
    h = int(rng.integers(max(1, k - 2 * padding), 8))
    w = int(rng.integers(max(1, k - 2 * padding), 8))
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=8, k_max=128), mac_rows=1,
                          act_depth=256, weight_depth=512)
    weights = rng.integers(-128, 128, (cout, cin, k, k))
    layer = LayerProgram("l", "add", weights, np.ones(cout, int), np.zeros(cout, int), 0, (h, w), stride, padding)
    n = int(rng.integers(1, cols + 1))
    x = rng.integers(-128, 128, (n, cin, h, w))
    tiles = -(-cout // rows)
    f = np.zeros((tiles * rows, layer.k), dtype=np.int64)
    f[:cout] = weights.reshape(cout, layer.k)
    words = f.reshape(tiles, rows, layer.k).transpose(0, 2, 1).reshape(tiles * layer.k, rows)
    got = run_generator(engine, layer, x, words, seed)
    want = expected_beats(x, weights, rows, stride, padding)
    assert len(got) == len(want)
    for i, (g, e) in enumerate(zip(got, want)):
        assert g == e, f"beat {i}: {g} != {e} (k={k} s={stride} p={padding} cin={cin} h={h} w={w})"


@pytest.mark.parametrize("case", [
    # (in_h, in_w, kernel, stride, padding): the largest stride and padding the kept 5-bit fields hold
    # (act_depth 16: values up to 2^4·2 − 1 = 31), with taps 31 before and after the input
    (1, 1, 1, 31, 31),
    (1, 1, 2, 30, 30),
    # the tallest and widest inputs the buffer holds (in_h, in_w = act_depth)
    (16, 1, 1, 1, 0),
    (1, 16, 3, 2, 1),
])
def test_generator_at_the_edges_of_the_kept_field_widths(case):
    """EngineConfig.field_widths keeps sizes, strides and padding in ceil(log2 act_depth) + 1 bits
    and the address steps modulo the buffer's depth (negative pos_start, ci_step of a kernel taller
    than the input): the beats still equal golden im2col at the largest values they allow."""
    h, w, k, stride, padding = case
    engine = EngineConfig(array=ArrayConfig(rows=2, cols=2, width=8, k_max=128), mac_rows=1,
                          act_depth=16, weight_depth=64, const_depth=16)
    assert engine.field_widths["stride"] == engine.field_widths["padding"] == 5
    rng = np.random.default_rng(sum(case))
    cout = 1                        # one channel in a tile of two rows: the padding row is dropped
    weights = rng.integers(-128, 128, (cout, 1, k, k))
    layer = LayerProgram("l", "add", weights, np.ones(cout, int), np.zeros(cout, int), 0, (h, w), stride, padding)
    oc, oh, ow = layer.out_shape
    assert oc * oh * ow <= engine.act_depth and h * w <= engine.act_depth
    x = rng.integers(-128, 128, (2, 1, h, w))
    tiles = -(-cout // 2)
    f = np.zeros((tiles * 2, layer.k), dtype=np.int64)
    f[:cout] = weights.reshape(cout, layer.k)
    words = f.reshape(tiles, 2, layer.k).transpose(0, 2, 1).reshape(tiles * layer.k, 2)
    got = run_generator(engine, layer, x, words, 5)
    want = expected_beats(x, weights, 2, stride, padding)
    assert any(any(v != 0 for v in act) for act, _, _ in want)      # some taps read the input
    assert got == want
