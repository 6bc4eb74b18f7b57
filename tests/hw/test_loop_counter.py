"""hw.loop_counter: the end flag equals value == bound_m1 (counting down: value == 0) in every cycle,
and every loop is bound_m1 + 1 steps long, over every bound of the width."""
import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from adderhw.hw.loop_counter import LoopCounter


@pytest.mark.parametrize("down", [False, True])
@pytest.mark.parametrize("width", [1, 3])
def test_the_end_flag_is_value_equals_bound_in_every_cycle(width, down):
    rng = np.random.default_rng(width)
    m = Module()
    bound, go, restart = Signal(width), Signal(), Signal()
    c = LoopCounter(m, width, bound, "c", down=down)
    with m.If(restart):
        c.restart(m)
    with m.Elif(go):
        with m.If(c.end):
            c.restart(m)
        with m.Else():
            c.step(m)
    seen = []

    async def bench(ctx):
        for b in range(1 << width):             # every bound the width allows, 0 included
            ctx.set(bound, b)
            ctx.set(restart, 1)
            await ctx.tick()
            ctx.set(restart, 0)
            counted, index = 0, 0
            for _ in range(4 * (b + 1)):
                ctx.set(go, int(rng.random() < 0.7))
                value, end = ctx.get(c.value), ctx.get(c.end)
                # the loop's index, counted here: 0 .. b, then 0 again
                assert value == (b - index if down else index) and end == (index == b), (b, index, value, end)
                if ctx.get(go):
                    counted += bool(end)
                    index = 0 if end else index + 1
                await ctx.tick()
            seen.append((b, counted))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert all(counted >= 1 for _, counted in seen)     # every loop reached its end and wrapped
