"""``SystolicArray`` behaviour that the GEMM runs do not show directly: ``o_busy`` and the constructor."""
import pytest
from amaranth.sim import Simulator

from adderhw.base.errors import BadParameter
from adderhw.hw import ArrayConfig, SystolicArray

from .netlist import net_loads


def test_array_refuses_a_non_config():
    with pytest.raises(BadParameter, match="config must be an ArrayConfig, not dict"):
        SystolicArray({"rows": 2})


@pytest.mark.parametrize("rows,cols", [(5, 5), (8, 3), (3, 8)])
def test_no_broadcast_register_drives_the_whole_array(rows, cols):
    # DESIGN.md: fan-out grows with a row or a column, never with R x C. A broadcast array registers
    # each row's filter lane (C loads), each column's activation lane (R loads), valid and last once
    # per row (C loads each) and last once more for the drain's start, which hw.drain spreads over
    # its per-column controllers (2C + 2 loads); one valid/last register for the whole array drove
    # R·C PEs (26 and 37 loads at 5x5)
    cfg = ArrayConfig(rows=rows, cols=cols, width=4, k_max=8, dataflow="broadcast")
    loads = net_loads(SystolicArray(cfg), "bcast_")
    assert {name for name in loads if name.startswith(("bcast_v", "bcast_l"))} == \
        {f"bcast_{flag}{r}_d1" for flag in "vl" for r in range(rows)} | {"bcast_l_drain_d1"}
    for name, n in loads.items():
        bound = {"bcast_a": cols, "bcast_b": rows, "bcast_v": cols}.get(name[:7], cols)
        if name == "bcast_l_drain_d1":
            bound = 2 * cols + 2
        assert n == bound, (name, n, loads)
    assert max(loads.values()) < rows * cols


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


def test_reset_tree_silences_the_ports_and_the_array_restarts_clean():
    # hw.reset: the array's registers see a reset RESET_CYCLES cycles late and the ports stay silent
    # until then. A 2x3 SAD array is reset (a one-cycle pulse, through ResetInserter, as hw.link
    # resets a hung engine) while a tile drains under backpressure; then a fresh tile must come out
    # exactly as the brute-force sums say, in the cycles of the cycle model counted from the first
    # live cycle.
    from amaranth.hdl import ResetInserter, Signal

    from adderhw.golden.cycles import gemm_cycles
    from adderhw.hw.array import RESET_CYCLES

    cfg = ArrayConfig(rows=2, cols=3, width=4, k_max=4)
    dut = SystolicArray(cfg)
    rst = Signal()
    top = ResetInserter(rst)(dut)
    old = ([[1, -2], [3, 4], [-5, 6]], [[7, 0, -1], [2, 2, 2], [-8, 7, 1]])
    new = ([[2, -3], [-1, 0], [4, 4]], [[1, -8, 5], [6, 3, -2], [0, 7, 7]])
    expect = [[sum(abs(new[0][k][r] - new[1][k][c]) for k in range(3)) for c in range(3)] for r in range(2)]
    seen = {}

    async def testbench(ctx):
        def offer(tile, k):
            ctx.set(dut.i_filter.payload, tile[0][k])
            ctx.set(dut.i_act.payload.data, tile[1][k])
            ctx.set(dut.i_act.payload.last, k == 2)
            ctx.set(dut.i_filter.valid, 1)
            ctx.set(dut.i_act.valid, 1)

        # power-on: beats offered from cycle 0 are not taken before cycle RESET_CYCLES
        offer(old, 0)
        readies = []
        k = 0
        while k < 3:
            *_, ready = await ctx.tick().sample(dut.i_act.ready)
            readies.append(ready)
            k += ready
            if k < 3:
                offer(old, k)
        ctx.set(dut.i_filter.valid, 0), ctx.set(dut.i_act.valid, 0)
        seen["power-on readies"] = readies[:RESET_CYCLES + 1]
        # wait for the first row, leave it unaccepted, then reset for one cycle
        while not (await ctx.tick().sample(dut.o_sum.valid))[-1]:
            pass
        ctx.set(rst, 1)
        offer(new, 0)                       # offered through the reset: must not be taken early
        await ctx.tick()
        ctx.set(rst, 0)
        ctx.set(dut.o_sum.ready, 1)
        silent = []
        for _ in range(RESET_CYCLES):
            *_, ready, valid, busy = await ctx.tick().sample(dut.i_act.ready, dut.o_sum.valid, dut.o_busy)
            silent.append((ready, valid, busy))
        seen["silent"] = silent
        # the first live cycle: run the new tile at full speed and count the cycles
        rows, cycle, k = [], 0, 0
        while len(rows) < 2:
            *_, ready, valid, payload = await ctx.tick().sample(dut.i_act.ready, dut.o_sum.valid, dut.o_sum.payload)
            if k < 3 and ready:
                k += 1
                if k < 3:
                    offer(new, k)
                else:
                    ctx.set(dut.i_filter.valid, 0), ctx.set(dut.i_act.valid, 0)
            if valid:
                rows.append(([int(v) for v in payload.data], int(payload.last)))
            cycle += 1
        seen["rows"], seen["cycles"] = rows, cycle

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen["power-on readies"] == [0] * RESET_CYCLES + [1]
    assert seen["silent"] == [(0, 0, 0)] * RESET_CYCLES
    assert seen["rows"] == [(expect[0], 0), (expect[1], 1)]
    assert seen["cycles"] == gemm_cycles(cfg, 2, 3, 3)
