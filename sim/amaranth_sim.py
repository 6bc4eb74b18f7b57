"""Amaranth-simulator backend: runs a :class:`GemmPlan` through ``hw.SystolicArray`` in pysim."""
import time

from amaranth.sim import Simulator

from adderhw.hw.array import RESET_CYCLES, SystolicArray

from .driver import StreamDriver

__all__ = ["run_plan"]


def run_plan(plan, stalls, max_cycles, waves=None, info=None):
    """Returns (output beats as (lanes, last), cycles)."""
    cfg = plan.config
    dut = SystolicArray(cfg)
    beats = [(f, {"data": x, "last": int(last)}) for f, x, last in plan.beats()]
    drv = StreamDriver(beats, plan.n_out_beats, stalls, max_cycles)

    async def testbench(ctx):
        # the array starts quiet: its reset tree holds the ports silent for RESET_CYCLES cycles
        for _ in range(RESET_CYCLES):
            await ctx.tick()
        while not drv.done:
            fv, fp, av, ap, ready = drv.drive()
            ctx.set(dut.i_filter.valid, fv)
            ctx.set(dut.i_filter.payload, fp)
            ctx.set(dut.i_act.valid, av)
            ctx.set(dut.i_act.payload, ap)
            ctx.set(dut.o_sum.ready, ready)
            _, _, f_rdy, a_rdy, o_val, o_pay, f_val, f_bits, a_val, a_bits = await ctx.tick().sample(
                dut.i_filter.ready, dut.i_act.ready, dut.o_sum.valid, dut.o_sum.payload,
                dut.i_filter.valid, dut.i_filter.payload.as_value(), dut.i_act.valid, dut.i_act.payload.as_value())
            drv.observe(f_rdy, a_rdy, o_val, ([int(v) for v in o_pay.data], int(o_pay.last)),
                        f_wire=(f_val, f_bits), a_wire=(a_val, a_bits))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    t0 = time.perf_counter()
    if waves:
        with sim.write_vcd(str(waves)):
            sim.run()
    else:
        sim.run()
    if info is not None:
        info["sim_seconds"] = time.perf_counter() - t0
    return drv.out, drv.cycles
