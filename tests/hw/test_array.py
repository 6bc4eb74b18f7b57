"""``SystolicArray`` behaviour that the GEMM runs do not show directly: ``o_busy`` and the constructor."""
import pytest
from amaranth.sim import Simulator

from adderhw.base.errors import BadParameter
from adderhw.hw import ArrayConfig, SystolicArray


def test_array_refuses_a_non_config():
    with pytest.raises(BadParameter, match="config must be an ArrayConfig, not dict"):
        SystolicArray({"rows": 2})


def test_busy_covers_capture_and_drain_exactly():
    # one tile of K = 3 on a 2x2 array; the output is held back for 10 cycles after it first offers
    cfg = ArrayConfig(rows=2, cols=2, width=4, k_max=4)
    dut = SystolicArray(cfg)
    trace = []

    async def testbench(ctx):
        ctx.set(dut.i_filter.payload, [1, 2])
        ctx.set(dut.i_act.payload.data, [3, 4])
        ctx.set(dut.i_filter.valid, 1)
        ctx.set(dut.i_act.valid, 1)
        accepted, first_offer, out = 0, None, 0
        for cycle in range(60):
            ctx.set(dut.i_act.payload.last, accepted == 2)
            if accepted == 3:
                ctx.set(dut.i_filter.valid, 0)
                ctx.set(dut.i_act.valid, 0)
            ready = first_offer is not None and cycle >= first_offer + 10
            ctx.set(dut.o_sum.ready, ready)
            _, _, fire, busy, o_valid, last = await ctx.tick().sample(
                dut.i_act.ready, dut.o_busy, dut.o_sum.valid, dut.o_sum.payload.last)
            fire = fire and accepted < 3
            if o_valid and first_offer is None:
                first_offer = cycle
            trace.append((cycle, bool(fire and accepted == 2), busy, bool(o_valid and ready), bool(last)))
            accepted += bool(fire)
            out += bool(o_valid and ready)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    last_in = next(c for c, fired_last, *_ in trace if fired_last)
    last_out = next(c for c, _, _, took, last in trace if took and last)
    for cycle, _, busy, _, _ in trace:
        # busy rises the cycle after the tile's last beat is accepted and falls the cycle after
        # its last row is taken
        assert busy == (last_in < cycle <= last_out), cycle
    assert last_out - last_in > 10                        # the drain really was held back
