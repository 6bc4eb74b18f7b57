"""hw.collision: the simulation check behind the board builds' don't-care collision reads
(boards.synthesis.NO_RW_COLLISION). A read that meets a write of its address returns poisoned data;
engines run bit-exact with golden with every such read poisoned, so none of the reads they use
meets a write, and the count shows the poison was live in each run."""
import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.hw.collision import poisoned
from adderhw.sim.engine import run_engine_amaranth
from tests.engine_checks import assert_run_equals_golden
from tests.hw.test_engine import random_program
from tests.hw.test_engine_residual import _engine as residual_engine, random_residual_program


class _Ram(wiring.Component):
    """A 16 x 8-bit memory read through ``poisoned``."""
    def __init__(self, poison):
        self.poison = poison
        super().__init__({"i_raddr": In(4), "i_waddr": In(4), "i_wdata": In(8), "i_we": In(1), "o_data": Out(8),
                          "o_hit": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=8, depth=16, init=[0x5A] * 16)
        rd, wr = mem.read_port(transparent_for=()), mem.write_port()
        m.d.comb += [rd.addr.eq(self.i_raddr), rd.en.eq(1), wr.addr.eq(self.i_waddr), wr.data.eq(self.i_wdata),
                     wr.en.eq(self.i_we)]
        data, hit = poisoned(m, rd, wr, 8, self.poison, "ram")
        m.d.comb += self.o_data.eq(data)
        if hit is not None:
            m.d.comb += self.o_hit.eq(hit)
        return m


@pytest.mark.parametrize("poison", [True, False])
def test_a_read_that_meets_a_write_of_its_address_is_poisoned(poison):
    dut = _Ram(poison)
    seen = []

    async def bench(ctx):
        # cycle 1: read 3 and write 0x11 to 3 (a collision); cycle 2: read 3 and write 4 (none)
        for waddr in (3, 4):
            ctx.set(dut.i_raddr, 3)
            ctx.set(dut.i_waddr, waddr)
            ctx.set(dut.i_wdata, 0x11)
            ctx.set(dut.i_we, 1)
            await ctx.tick()
            seen.append((ctx.get(dut.o_data), ctx.get(dut.o_hit)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # Amaranth's read returns the old value 0x5A in the collision; poisoned, every bit inverted
    assert seen[0] == ((0x5A ^ 0xFF, 1) if poison else (0x5A, 0))
    assert seen[1] == (0x11, 0)


def _random_case(seed, cols, post_lanes, adder):
    rng = np.random.default_rng(700 + seed)
    rows, width = int(rng.integers(1, 4)), int(rng.choice([4, 6, 8]))
    engine = EngineConfig(array=ArrayConfig(rows=rows, cols=cols, width=width, k_max=512, pe="sad" if adder else "mac"),
                          mac_rows=int(rng.integers(1, rows + 1)) if adder else 0, act_depth=512,
                          weight_depth=2048, const_depth=64, max_layers=6, post_lanes=post_lanes)
    # a program with a 2x2 max pool: its read-modify-write of the destination is the read at stake
    program = random_program(rng, width, adder)
    while not any(layer.pool == "max2" for layer in program.layers):
        program = random_program(rng, width, adder)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    images = rng.integers(lo, hi + 1, (int(rng.integers(1, cols + 1)), *program.input_shape))
    return engine, program, images


# one lane per column, and fewer lanes with P = C / L chunks per row of 2, 4 and 6: from P = 4 on a
# row's chunk q + 3 would read its word in the cycle chunk q writes it, were the word read per chunk
@pytest.mark.parametrize("seed,cols,post_lanes", [(0, 3, 0), (1, 2, 1), (2, 4, 1), (3, 4, 1), (4, 6, 1), (5, 8, 2)])
@pytest.mark.parametrize("adder", [True, False], ids=["addernet", "cnn"])
def test_engines_use_no_read_that_meets_a_write(seed, cols, post_lanes, adder):
    engine, program, images = _random_case(seed, cols, post_lanes, adder)
    run = run_engine_amaranth(engine, program, images, poison_collisions=True)
    assert_run_equals_golden(engine, program, images, run)
    assert run.collisions > 0, "no read met a write: the run did not exercise the poison"


@pytest.mark.parametrize("seed,post_lanes", [(0, 0), (1, 1)])
def test_residual_engines_use_no_read_that_meets_a_write(seed, post_lanes):
    rng = np.random.default_rng(800 + seed)
    engine = residual_engine(2, 4, 6, post_lanes=post_lanes)
    program = random_residual_program(rng, 6, 2)
    images = rng.integers(-32, 32, (engine.lanes, *program.input_shape))
    run = run_engine_amaranth(engine, program, images, poison_collisions=True)
    assert_run_equals_golden(engine, program, images, run)
    assert run.collisions > 0

