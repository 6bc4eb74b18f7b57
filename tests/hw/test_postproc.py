"""hw.postproc against golden.program.postprocess and pool on corner values: rounding ties of
both signs, negative BatchNorm scales, saturation at both ends, ReLU, max and average pooling; and
the requantisation for every shift the program format allows, up to MAX_SHIFT."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import DESCRIPTOR_FIELDS, MAX_SHIFT, POSTPROC_STAGES, EngineConfig
from adderhw.base.requant import ROUNDINGS
from adderhw.golden.program import LayerProgram, descriptor, pool, postprocess
from adderhw.hw.descriptor import as_registered
from adderhw.hw.postproc import PostProcessor, requant_bits, sum_bits


def run_postproc(engine, layer, accs, scale, bias, seed=0):
    """Feed the beats of ``accs`` (positions, t_beats, C) with the constant table (scale, bias), with
    random valid stalls (and, with L < C, the unit's own ready stalls: a row every P cycles);
    returns the final destination buffer {addr: lanes}. A write changes only the lanes that
    ``o_wr_lanes`` names."""
    rows = engine.array_for(layer.op).rows
    d = descriptor(layer, 0, 0, False, rows)
    dut = PostProcessor(engine)
    C = engine.array.cols
    mem = {}
    rng = np.random.default_rng(seed)

    async def testbench(ctx):
        ctx.set(dut.i_desc, as_registered({name: d[name] for name in DESCRIPTOR_FIELDS}))
        ctx.set(dut.i_start, 1)
        await ctx.tick()
        ctx.set(dut.i_start, 0)
        beats = [(p, t) for p in range(accs.shape[0]) for t in range(accs.shape[1])]
        const_word, rd_word = {"scale": 0, "bias": 0}, [0] * C
        rd_latch = [0] * C
        i = gap_idle = 0
        offered = False
        while gap_idle < POSTPROC_STAGES + 4:
            # a valid row stays offered until it is accepted (the stream rules); a new one comes after
            # a random gap
            valid = i < len(beats) and (offered or rng.random() < 0.6)
            if valid:
                p, t = beats[i]
                ctx.set(dut.i_sum.payload, {"data": [int(v) for v in accs[p, t]], "last": int(t % rows == rows - 1)})
            ctx.set(dut.i_sum.valid, int(valid))
            ctx.set(dut.i_const_data, const_word)
            ctx.set(dut.i_rd_data, rd_word)
            accepted = valid and ctx.get(dut.i_sum.ready)
            _, _, caddr, raddr, rd_en, rd_reg_en, wen, waddr, wdata, lanes, done = await ctx.tick().sample(
                dut.o_const_addr, dut.o_rd_addr, dut.o_rd_en, dut.o_rd_reg_en, dut.o_wr_en, dut.o_wr_addr,
                dut.o_wr_data, dut.o_wr_lanes, dut.o_done)
            if wen:
                word = mem.setdefault(int(waddr), [0] * C)
                for c in range(C):
                    if int(lanes) >> c & 1:
                        word[c] = int(wdata[c])
            c = int(caddr)
            const_word = {"scale": int(scale[c]) if c < len(scale) else 0, "bias": int(bias[c]) if c < len(bias) else 0}
            # the destination's read: the block RAM's read register (held while o_rd_en is low), then
            # the buffer's output register (hw.engine, held while o_rd_reg_en is low)
            if rd_reg_en:
                rd_word = rd_latch
            if rd_en:
                rd_latch = list(mem.get(int(raddr), [0] * C))
            offered = valid and not accepted
            i += accepted
            gap_idle = gap_idle + 1 if i >= len(beats) else 0
            if done:
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return mem


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("post_lanes", [0, 1], ids=["L=C", "L=1"])
@pytest.mark.parametrize("pool_kind,relu", [("none", False), ("none", True), ("max2", True), ("gap", False)])
def test_corner_values(pool_kind, relu, post_lanes, rounding):
    width, C, rows = 6, 3, 2
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=C, width=width, k_max=16), mac_rows=1,
                          act_depth=64, const_depth=16, post_lanes=post_lanes, rounding=rounding)
    cout, h, w, shift = 3, 2, 2, 2
    # scale/bias per channel: a negative scale, ties (x.5 of both signs at shift 2), saturation
    scale = np.array([-3, 1, 40])
    bias = np.array([2, 0, -1])
    rng = np.random.default_rng(3)
    acc = rng.integers(-400, 400, (1, cout, h, w, C))
    # ties: 2/4, -2/4 and 6/4 give 1, 0, 2 rounded half up and 0, 0, 2 to even
    acc[0, 1, 0, 0] = [2, -2, 6]
    acc[0, 2, 1, 1] = [-400, 400, 0]        # x40: far beyond both ends of 6 bits
    layer = LayerProgram("l", "add", np.zeros((cout, 1, 1, 1), int), scale, bias, shift, (h, w), 1, 0, relu, pool_kind)
    # the beats: per position (raster), t = 0 .. t_beats - 1 (channels beyond cout are padding rows)
    t_beats = -(-cout // rows) * rows
    beats = np.zeros((h * w, t_beats, C), dtype=np.int64)
    for p in range(h * w):
        beats[p, :cout] = acc[0, :, p // w, p % w, :]
    mem = run_postproc(engine, layer, beats, scale, bias, seed=post_lanes)
    v = postprocess(acc[0].transpose(3, 0, 1, 2), scale[None, :, None, None], bias[None, :, None, None], shift, relu,
                    width, rounding)
    want = pool(v, pool_kind)                                 # (C images, cout, H', W')
    got = np.array([mem[a] for a in range(int(np.prod(want.shape[1:])))]).T.reshape(want.shape)
    assert np.array_equal(got, want)
    if pool_kind == "none" and not relu:
        assert got.min() == -(1 << (width - 1)) and got.max() == (1 << (width - 1)) - 1   # both ends reached
        assert list(got[:, 1, 0, 0]) == {"half_up": [1, 0, 2], "half_even": [0, 0, 2]}[rounding]


# ---- the requantisation over the whole range the program format allows --------------------------

def _engine(kind, rounding="half_up"):
    """Four engines whose u = acc·M + B is narrower than, as wide as the issue's (40 bits), and
    wider than MAX_SHIFT; "w2" at the narrowest width the RTL allows (2 bits: the shift keeps
    width + 7 and then width bits, hw.postproc)."""
    if kind == "w2":           # U = 11
        return EngineConfig(array=ArrayConfig(rows=2, cols=3, width=2, k_max=4), mac_rows=1, act_depth=64,
                            const_depth=16, scale_bits=4, bias_bits=8, rounding=rounding)
    if kind == "narrow":       # U = 15: most shifts are beyond u and are clamped
        return EngineConfig(array=ArrayConfig(rows=2, cols=3, width=4, k_max=4), mac_rows=1, act_depth=64,
                            const_depth=16, scale_bits=4, bias_bits=8, rounding=rounding)
    if kind == "u40":          # the engine of tests/sim: U = 40, where S = 40 once gave -1 for 0
        return EngineConfig(array=ArrayConfig(rows=2, cols=3, width=8, k_max=200), mac_rows=1, act_depth=64,
                            const_depth=16, rounding=rounding)
    return EngineConfig(array=ArrayConfig(rows=2, cols=3, width=16, k_max=4096), mac_rows=1, act_depth=64,
                        const_depth=16, scale_bits=32, bias_bits=48, rounding=rounding)   # U = 77: never clamped


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("kind", ["w2", "narrow", "u40", "wide"])
def test_requant_is_bit_exact_for_every_shift_up_to_the_format_maximum(kind, rounding):
    engine = _engine(kind, rounding)
    width, C = engine.array.width, engine.array.cols
    acc_bits, u_bits = sum_bits(engine), requant_bits(engine)
    assert u_bits == {"w2": 11, "narrow": 15, "u40": 40, "wide": 77}[kind]
    a_lo, a_hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    m_hi, b_hi = (1 << (engine.scale_bits - 1)) - 1, (1 << (engine.bias_bits - 1)) - 1
    rng = np.random.default_rng(u_bits)
    shifts = sorted({0, 1, 2, u_bits - 2, u_bits - 1, u_bits, u_bits + 1, 39, 40, 41, MAX_SHIFT - 1,
                     MAX_SHIFT} & set(range(MAX_SHIFT + 1)))
    cout, h, w = 7, 2, 2
    for shift in shifts:
        # the extremes of M and B, zero and -1, and biases that put acc = 0 on a rounding tie (1/2,
        # −1/2 and 3/2 units)
        half = min(b_hi, (1 << shift) >> 1)
        scale = np.array([m_hi, -m_hi - 1, 0, -1, int(rng.integers(-m_hi, m_hi + 1)), 1, 0])
        bias = np.array([b_hi, -b_hi - 1, half, -half, int(rng.integers(-b_hi, b_hi + 1)), 0, min(b_hi, 3 * half)])
        acc = rng.integers(a_lo, a_hi + 1, (1, cout, h, w, C))
        acc[0, :, 0, 0] = [a_lo, a_hi, 0]
        acc[0, :, 0, 1] = [a_hi, a_lo, -1]
        layer = LayerProgram("l", "mul", np.zeros((cout, 1, 1, 1), int), scale, bias, shift, (h, w), 1, 0,
                             False, "none")
        beats = np.zeros((h * w, -(-cout // engine.mac_rows) * engine.mac_rows, C), dtype=np.int64)
        for p in range(h * w):
            beats[p, :cout] = acc[0, :, p // w, p % w, :]
        mem = run_postproc(engine, layer, beats, scale, bias)
        want = postprocess(acc[0].transpose(3, 0, 1, 2), scale[None, :, None, None],
                           bias[None, :, None, None], shift, False, width, rounding)
        got = np.array([mem[a] for a in range(cout * h * w)]).T.reshape(want.shape)
        assert np.array_equal(got, want), f"shift {shift}"
        if 2 <= shift < u_bits and half < b_hi:
            # acc = 0 with B = 2^(S−1) (channel 2, position 0) is a tie: 1 half up, 0 to even
            assert int(got[2, 2, 0, 0]) == (1 if rounding == "half_up" else 0), f"shift {shift}"
        if shift >= u_bits:
            assert not got.any()        # u + 2^(S-1) in [0, 2^S): where S = U = 40 once gave -1
        elif 2 <= shift <= u_bits - 3 and width > 2:   # nearer U, every output is 0 or -1 whatever the inputs
            inside = (got > -(1 << (width - 1))) & (got < (1 << (width - 1)) - 1)
            assert (got[inside] != 0).any(), f"shift {shift}: no value between 0 and saturation"
