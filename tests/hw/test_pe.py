"""The PEs on their own: latency equals ``stages``, sums are exact, tiles restart cleanly."""
import random

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from adderhw.hw import ArrayConfig, MacPE, SadPE
from tests.hw.netlist import flip_flop_bits


def run_pe(pe, terms, gap_every=3):
    """Feed (a, b, last) terms (with a bubble every ``gap_every`` terms); return
    [(cycle the sum is visible, value)] and the cycles where terms were fed."""
    seen, fed = [], []

    async def tb(ctx):
        cycle = 0
        queue = list(terms)
        while queue or cycle < len(terms) * 2 + 10:
            bubble = gap_every and cycle % gap_every == gap_every - 1
            if queue and not bubble:
                a, b, last = queue.pop(0)
                ctx.set(pe.i_a, a), ctx.set(pe.i_b, b), ctx.set(pe.i_valid, 1), ctx.set(pe.i_last, last)
                fed.append(cycle)
            else:
                ctx.set(pe.i_valid, 0), ctx.set(pe.i_last, 0)
            _, _, cap = await ctx.tick().sample(pe.o_capture)
            cycle += 1
            if cap:
                seen.append((cycle, ctx.get(pe.o_sum)))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return seen, fed


@pytest.mark.parametrize("width", [2, 5, 8, 16])
def test_sad_pe_sums_tiles_exactly(width):
    rng = random.Random(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    cfg = ArrayConfig(width=width, k_max=7, pe="sad")
    tiles = [[(rng.choice([lo, hi, rng.randint(lo, hi)]), rng.choice([lo, hi, rng.randint(lo, hi)]))
              for _ in range(rng.randint(1, 7))] for _ in range(5)]
    tiles.append([(lo, hi)] * 7)                 # the worst case fills the accumulator exactly
    terms = [(a, b, i == len(t) - 1) for t in tiles for i, (a, b) in enumerate(t)]
    pe = SadPE(cfg)
    seen, fed = run_pe(pe, terms)
    assert [v for _, v in seen] == [sum(abs(a - b) for a, b in t) for t in tiles]
    assert seen[-1][1] == (hi - lo) * 7 and cfg.acc_width == ((hi - lo) * 7).bit_length()
    last_fed = [c for c, (_, _, last) in zip(fed, terms) if last]
    # the sum is visible `stages` cycles after its last term was at the inputs
    assert pe.stages == cfg.pe_stages == 2
    assert [c for c, _ in seen] == [c + pe.stages for c in last_fed]


@pytest.mark.parametrize("mul_stages", [1, 2, 3])
def test_mac_pe_sums_tiles_exactly(mul_stages):
    rng = random.Random(mul_stages)
    cfg = ArrayConfig(width=6, k_max=5, pe="mac", mul_stages=mul_stages)
    tiles = [[(rng.randint(-32, 31), rng.randint(-32, 31)) for _ in range(rng.randint(1, 5))] for _ in range(5)]
    tiles.append([(-32, -32)] * 5)                # the largest product, k_max times
    terms = [(a, b, i == len(t) - 1) for t in tiles for i, (a, b) in enumerate(t)]
    pe = MacPE(cfg)
    seen, fed = run_pe(pe, terms, gap_every=4)
    assert [v for _, v in seen] == [sum(a * b for a, b in t) for t in tiles]
    last_fed = [c for c, (_, _, last) in zip(fed, terms) if last]
    assert pe.stages == 1 + mul_stages == cfg.pe_stages
    assert [c for c, _ in seen] == [c + pe.stages for c in last_fed]


def test_pe_refuses_a_config_of_the_other_kind():
    with pytest.raises(ValueError, match="SadPE needs a config with pe='sad', not 'mac'"):
        SadPE(ArrayConfig(pe="mac"))


@pytest.mark.parametrize("cls,kind", [(SadPE, "sad"), (MacPE, "mac")])
def test_reset_in_the_middle_of_a_tile_starts_the_next_tile_from_zero(cls, kind):
    # i_rst (the array's reset tree, hw.reset) clears the accumulator through the end-of-tile clear;
    # the domain reset reaches no register of the PE, so it is held high throughout and changes nothing
    cfg = ArrayConfig(width=8, k_max=8, pe=kind)
    pe = cls(cfg)
    sums, captures = [], []

    async def reset_and_run(ctx):
        for a, b in [(100, -100), (-128, 127)]:
            ctx.set(pe.i_a, a), ctx.set(pe.i_b, b), ctx.set(pe.i_valid, 1), ctx.set(pe.i_last, 0)
            await ctx.tick()
        # i_rst clears the flags at the end of its cycle: a last term still in the pipeline never captures
        ctx.set(pe.i_last, 1)
        await ctx.tick()
        ctx.set(pe.i_valid, 0), ctx.set(pe.i_last, 0), ctx.set(pe.i_rst, 1)
        await ctx.tick()
        ctx.set(pe.i_rst, 0)
        for _ in range(pe.stages + 1):
            captures.append(ctx.get(pe.o_capture))
            await ctx.tick()
        for i, (a, b) in enumerate([(3, 5), (-7, 2)]):
            ctx.set(pe.i_a, a), ctx.set(pe.i_b, b), ctx.set(pe.i_valid, 1), ctx.set(pe.i_last, i == 1)
            await ctx.tick()
        ctx.set(pe.i_valid, 0), ctx.set(pe.i_last, 0)
        await ctx.tick().repeat(pe.stages + 1)
        sums.append(ctx.get(pe.o_sum))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(reset_and_run)
    sim.run()
    assert captures == [0] * (pe.stages + 1)
    expect = abs(3 - 5) + abs(-7 - 2) if kind == "sad" else 3 * 5 + -7 * 2
    assert sums[-1] == expect


@pytest.mark.parametrize("width", [4, 8])
def test_a_sad_pe_whose_first_stage_is_its_operands_has_w_plus_1_fewer_flip_flops(width):
    # hw.pe, ArrayConfig.sad_stage: the difference register (w bits of |d| - s, and s) is gone
    difference = flip_flop_bits(SadPE(ArrayConfig(width=width, k_max=144)))
    operands = flip_flop_bits(SadPE(ArrayConfig(width=width, k_max=144, sad_stage="operands")))
    assert difference - operands == width + 1
    assert operands > 0
