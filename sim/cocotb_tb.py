"""cocotb tests for the generated array Verilog (Icarus or Verilator).

Everything a test needs arrives explicitly in a JSON job file named by the plusarg
``+adderhw_job=PATH`` (written by :mod:`sim.cocotb_sim`); nothing comes from hidden globals.
Results go to ``PATH.result.json``. If the job carries ``expect`` (golden's output beats, packed),
the test is also the scoreboard: it fails on the first beat that differs from golden.

Two drivers, chosen by the caller (they give identical results and cycles; tests check it):

``harness`` (top ``adderhw_tb``, fast): the stream driver, monitor and cycle counter are the HDL
harness of :mod:`sim.harness`; Python only runs the clock and reset, waits for ``done``, and
scoreboards the output file.

``gemm_stream`` (top ``adder_array``): a Python driver per cycle. At the falling edge
:class:`sim.driver.StreamDriver` (shared with the Amaranth backend) sets valid/payload/ready; in
the ReadOnly phase before the rising edge it samples what the DUT shows; the rising edge is the
transfer. An offered beat keeps its payload until accepted.
"""
import json
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from adderhw.base.errors import SimulationError
from adderhw.hw.reset import RESET_CYCLES

from .driver import StreamDriver
from .stalls import StallPattern


def _job():
    path = cocotb.plusargs.get("adderhw_job")
    if not path:
        raise SimulationError("the testbench needs +adderhw_job=PATH (run it through sim.run_gemm)")
    with open(path) as f:
        return path, json.load(f)


def _scoreboard(job, out):
    expect = job.get("expect")
    if expect is None:
        return
    for i, (got, want) in enumerate(zip(out, expect)):
        assert got == want, f"output beat {i} differs from golden: got {got:#x}, expected {want:#x}"
    assert len(out) == len(expect), f"{len(out)} output beats, golden has {len(expect)}"


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


@cocotb.test
async def harness(dut):
    path, job = _job()
    await _reset(dut)
    t0 = time.perf_counter()
    await RisingEdge(dut.done)
    sim_seconds = time.perf_counter() - t0
    with open(job["cycles_file"]) as f:
        cycles, hang, n_out, fi, ai, rule_cycle = (int(v) for v in f.read().split())
    assert rule_cycle < 0, (f"o_sum broke the stream rules at cycle {rule_cycle}: valid withdrawn or payload "
                            f"changed before the beat was accepted")
    assert not hang, (f"no progress after {job['max_cycles']} cycles: {n_out} of {job['n_out']} output beats, "
                      f"{fi} and {ai} of {len(job['beats'])} input beats accepted")
    with open(job["out_file"]) as f:
        out = [int(line, 16) for line in f if line.strip() and not line.startswith("//")][:job["n_out"]]
    with open(path + ".result.json", "w") as f:
        json.dump({"out": out, "cycles": cycles, "sim_seconds": sim_seconds}, f)
    _scoreboard(job, out)


@cocotb.test
async def gemm_stream(dut):
    path, job = _job()
    beats = [tuple(b) for b in job["beats"]]
    drv = StreamDriver(beats, job["n_out"], StallPattern(job["stall_prob"], job["seed"], script=job.get("stall_script")), job["max_cycles"])
    dut.i_filter__valid.value = 0
    dut.i_act__valid.value = 0
    dut.o_sum__ready.value = 0
    await _reset(dut)
    for _ in range(RESET_CYCLES):       # the array's reset tree settles; its ports are silent
        await FallingEdge(dut.clk)
    t0 = time.perf_counter()
    f_pay = a_pay = None
    first = True
    while not drv.done:
        if not first:
            await FallingEdge(dut.clk)
        first = False
        fv, fp, av, ap, ready = drv.drive()
        dut.i_filter__valid.value = int(fv)
        dut.i_act__valid.value = int(av)
        if fp != f_pay:
            dut.i_filter__payload.value = f_pay = fp
        if ap != a_pay:
            dut.i_act__payload.value = a_pay = ap
        dut.o_sum__ready.value = int(ready)
        await ReadOnly()
        o_valid = int(dut.o_sum__valid.value)
        drv.observe(int(dut.i_filter__ready.value), int(dut.i_act__ready.value), o_valid,
                    int(dut.o_sum__payload.value) if o_valid else None)
    with open(path + ".result.json", "w") as f:
        json.dump({"out": drv.out, "cycles": drv.cycles, "sim_seconds": time.perf_counter() - t0}, f)
    _scoreboard(job, drv.out)
