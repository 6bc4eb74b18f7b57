"""cocotb testbench of ``hw.LayerEngine`` (top ``layer_engine``), run by ``sim.engine_cocotb``.

The job file (``+adderhw_job=PATH``, JSON) holds packed ``i_load`` payloads: the program's, loaded
once, and one list per batch (its images). For each batch the test loads the images, pulses
``i_start``, records every ``o_wr`` word while the engine runs, and at ``o_done`` reads
``o_class`` and ``o_cycles``. The results go to ``PATH.result.json`` as raw integers; the runner
unpacks them with the engine's layouts.
"""
import json
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, ReadOnly

from adderhw.base.errors import SimulationError


async def _load(dut, words):
    dut.i_load__valid.value = 1
    for w in words:
        dut.i_load__payload.value = w
        await FallingEdge(dut.clk)
    dut.i_load__valid.value = 0


@cocotb.test
async def engine(dut):
    path = cocotb.plusargs.get("adderhw_job")
    if not path:
        raise SimulationError("the engine testbench needs +adderhw_job=PATH (run it through sim.engine_cocotb)")
    job = json.load(open(path))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i_load__valid.value = 0
    dut.i_start.value = 0
    dut.i_peek_side.value = 0
    dut.i_peek_addr.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    t0 = time.perf_counter()
    await _load(dut, job["program"])
    results = []
    for batch in job["batches"]:
        await _load(dut, batch)
        dut.i_start.value = 1
        await FallingEdge(dut.clk)
        dut.i_start.value = 0
        writes = []
        for _ in range(job["max_cycles"]):
            await RisingEdge(dut.clk)
            await ReadOnly()
            wr = dut.o_wr.value.to_unsigned()
            if wr & 1:
                writes.append(wr)
            if int(dut.o_done.value):
                break
        else:
            raise SimulationError(f"the engine did not finish a batch within {job['max_cycles']} cycles")
        results.append({"writes": writes, "class": dut.o_class.value.to_unsigned(),
                        "cycles": dut.o_cycles.value.to_unsigned()})
        await FallingEdge(dut.clk)
    with open(path + ".result.json", "w") as f:
        json.dump({"batches": results, "sim_seconds": time.perf_counter() - t0}, f)


@cocotb.test
async def harness(dut):
    """The HDL harness (sim.engine_harness) does the loads and records the writes; wait for it."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.done)
    await RisingEdge(dut.clk)
    assert not int(dut.hang.value), "the engine did not finish a batch within the cycle limit"
