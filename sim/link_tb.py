"""cocotb testbench of the board link (``hw.link.EngineLink``, top ``engine_link``), run by
``sim.link``: a UART model (cocotbext-uart) on the top's pins, and the host code of
``adderhw.base.host`` driving it from a thread through ``cocotb.task.bridge``, the same code path as a
serial port.

The job (``+adderhw_job=PATH``, a pickle) says what to do:
  * ``session``: ``adderhw.base.host.HostSession(...).run(transport)``, with simulated seconds as its
    clock; the result goes to ``PATH.out`` (pickle);
  * ``exchanges``: a list of steps, each one of ("send", bytes), ("break", bit times) (the line
    held low: a byte without its stop bit), ("reset", cycles), ("wait", cycles), ("reply",)
    (the next frame from the device, or None if none comes), ("host", method, args)
    (``adderhw.base.host.EngineHost(transport).method(*args)``, for example ``load_program``: its
    result) and ("memories", names) (the engine's memories of those names, read through the
    simulator, each a list of its words as unsigned integers, or None where the design has no
    memory of that name); the results of "reply", "host" and "memories" go to ``PATH.out``, in
    order.
"""
import logging
import pickle

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer, First
from cocotb.utils import get_sim_time
from cocotbext.uart import UartSink, UartSource

from adderhw.base.host import EngineHost, HostSession
from adderhw.base.errors import SimulationError
from adderhw.base.protocol import FrameParser

CLOCK_NS = 10
#: clocks without a byte after which a "host" step's transport gives up (sim.link's session waits as long)
HOST_REPLY_CYCLES = 4_000_000


class SimTransport:
    """Bytes through the UART model; ``read`` gives up after ``timeout_cycles`` without a byte."""

    def __init__(self, dut, source, sink, timeout_cycles, clock_ps=CLOCK_NS * 1000):
        self.dut, self.source, self.sink, self.timeout_cycles = dut, source, sink, timeout_cycles
        self.clock_ps = clock_ps

    @resume
    async def write(self, data):
        await self.source.write(bytes(data))
        await self.source.wait()

    @resume
    async def read(self, n):
        out = bytearray()
        while len(out) < n:
            if self.sink.empty():
                await self.sink.wait(self.timeout_cycles * self.clock_ps, "ps")
                if self.sink.empty():
                    break
            out += self.sink.read_nowait(min(n - len(out), self.sink.count()))
        return bytes(out)


async def _start(dut, divisor, clock_ps=CLOCK_NS * 1000):
    cocotb.start_soon(Clock(dut.clk, clock_ps, unit="ps").start())
    dut.i_rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    baud = 1e12 / (clock_ps * divisor)
    source, sink = UartSource(dut.i_rx, baud=baud), UartSink(dut.o_tx, baud=baud)
    for x in (source, sink):
        x.log.setLevel(logging.WARNING)
    return source, sink


def _memory(scope, name):
    """The words of memory ``name`` (a Verilog array) in ``scope``, or None if it has none."""
    try:
        mem = getattr(scope, name)
    except AttributeError:
        return None
    return [mem[i].value.to_unsigned() for i in range(len(mem))]


def _job():
    path = cocotb.plusargs.get("adderhw_job")
    if not path:
        raise SimulationError("the link testbench needs +adderhw_job=PATH (run it through sim.link)")
    with open(path, "rb") as f:
        return path, pickle.load(f)


@cocotb.test
async def session(dut):
    path, job = _job()
    source, sink = await _start(dut, job["divisor"], job["clock_ps"])
    transport = SimTransport(dut, source, sink, job["reply_timeout_cycles"], job["clock_ps"])
    s = HostSession(job["hp"], job["engine"], job["images"], clock=lambda: get_sim_time("ns") * 1e-9)
    result = await bridge(s.run)(transport)
    with open(path + ".out", "wb") as f:
        pickle.dump(result, f)


@cocotb.test
async def exchanges(dut):
    path, job = _job()
    source, sink = await _start(dut, job["divisor"])
    bit = CLOCK_NS * job["divisor"]
    parser = FrameParser()
    replies = []
    for step in job["steps"]:
        kind = step[0]
        if kind == "send":
            await source.write(step[1])
            await source.wait()
        elif kind == "break":
            dut.i_rx.value = 0
            await Timer(step[1] * bit, "ns")
            dut.i_rx.value = 1
        elif kind == "reset":
            await FallingEdge(dut.clk)
            dut.rst.value = 1
            await ClockCycles(dut.clk, step[1])
            await FallingEdge(dut.clk)
            dut.rst.value = 0
        elif kind == "wait":
            await ClockCycles(dut.clk, step[1])
        elif kind == "host":
            # a RUN's reply comes after the whole run: the host waits as long as in ``session``
            host = EngineHost(SimTransport(dut, source, sink, max(job["reply_timeout_cycles"], HOST_REPLY_CYCLES)))
            replies.append(await bridge(lambda: getattr(host, step[1])(*step[2]))())
        elif kind == "memories":
            await FallingEdge(dut.clk)          # between edges: every write of the last edge is in
            replies.append({name: _memory(dut.engine, name) for name in step[1]})
        elif kind == "reply":
            frame = None
            while frame is None:
                if sink.empty():
                    await sink.wait(job["reply_timeout_cycles"] * CLOCK_NS, "ns")
                    if sink.empty():
                        break
                frames = parser.feed(sink.read_nowait())
                if frames:
                    frame = frames[0]
            replies.append(frame)
        else:
            raise SimulationError(f"unknown step {kind!r}")
    with open(path + ".out", "wb") as f:
        pickle.dump(replies, f)
