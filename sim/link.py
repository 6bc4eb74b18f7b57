"""The simulated board: ``hw.link.EngineLink``'s Verilog on Verilator (or Icarus) under cocotb, with
a UART model on its pins (testbench: ``sim.link_tb``).

* ``run_link_session(engine, program, images, ...)`` runs ``adderhw.base.host.HostSession`` against the
  simulated top (``adderhw run --port sim``) and returns its result dict; seconds in it are
  simulated seconds at the simulation's clock (100 MHz by default, or a board top's clock:
  ``adderhw run --port sim --board B [--clock-mhz F]``).
* ``run_link_exchanges(engine, steps, ...)`` plays raw steps (bytes, breaks, resets, waits) and
  returns the device's reply frames, for the malformed-input tests.

The UART runs at ``divisor`` clocks per bit (default 8, the fastest the model and the receiver's
mid-bit sampling handle comfortably), so that a simulated session takes seconds, not hours; the
protocol and the RTL are the same at any divisor.
"""
import pickle
import tempfile
from pathlib import Path

from amaranth.back import verilog

from adderhw.golden.host_program import host_program
from adderhw.hw.link import EngineLink, default_timeout

from .cocotb_sim import build_sources, icarus_compatible, run_testbench
from adderhw.base.simulators import VERILOG_SIMULATORS, check_simulator

__all__ = ["run_link_session", "run_link_exchanges", "link_verilog", "clock_period_ps", "LINK_TOP", "SIM_CLK_HZ"]

LINK_TOP = "engine_link"
SIM_CLK_HZ = 100_000_000
BACKENDS = VERILOG_SIMULATORS


def link_verilog(engine, divisor, timeout=None, clk_hz=SIM_CLK_HZ):
    return verilog.convert(EngineLink(engine, divisor=divisor, clk_hz=clk_hz, timeout=timeout),
                           name=LINK_TOP, emit_src=False)


def clock_period_ps(clk_hz):
    """The testbench's clock period for ``clk_hz``, in its time precision (1 ps), so that the
    simulated seconds are the board's: the nearest even number of picoseconds (cocotb's Clock needs
    two equal halves; 12 MHz is 83,334 ps, not 83,333)."""
    return 2 * round(5e11 / clk_hz)


def _run(engine, testcase, job, backend, divisor, timeout, progress, clk_hz=SIM_CLK_HZ):
    check_simulator(backend, BACKENDS)
    text = link_verilog(engine, divisor, timeout, clk_hz)
    job = {**job, "clock_ps": clock_period_ps(clk_hz)}
    if backend == "icarus":
        text = icarus_compatible(text)
    runner, build_dir, top = build_sources({f"{LINK_TOP}.v": text}, LINK_TOP, backend, progress=progress,
                                           what=f"the board link top ({engine.describe()})")
    with tempfile.TemporaryDirectory(prefix="adderhw-link-") as tmp:
        tmp = Path(tmp)
        path = tmp / "job.pkl"
        path.write_bytes(pickle.dumps({**job, "divisor": divisor}))
        out = run_testbench(runner, build_dir, top, backend, "adderhw.sim.link_tb", testcase, tmp,
                            [f"+adderhw_job={path}"], Path(str(path) + ".out"), "the board link")
        return pickle.loads(out.read_bytes())


def run_link_session(engine, program, images, backend="verilator", divisor=8, timeout=None, progress=None,
                     clk_hz=SIM_CLK_HZ):
    """``adderhw.base.host.HostSession`` against the simulated board top; returns its result dict.
    ``clk_hz`` and ``divisor``: the clock the link runs at (STATUS reports it; the simulated seconds
    count it) and its UART's clocks per bit; a board top's (boards.engine_top.board_clock: the
    oscillator or the PLL's output, and the divisor of its baud) simulate the board as built."""
    job = {"hp": host_program(program, engine), "engine": engine, "images": images,
           "reply_timeout_cycles": max(4_000_000, 64 * 10 * divisor)}
    return _run(engine, "session", job, backend, divisor, timeout, progress, clk_hz)


def run_link_exchanges(engine, steps, backend="verilator", divisor=8, timeout=None, reply_timeout_cycles=None,
                       progress=None):
    """Play ``steps`` (see sim.link_tb) on the simulated top; returns the reply frames (cmd, payload)
    or None where no reply came."""
    t = default_timeout(divisor) if timeout is None else timeout
    job = {"steps": steps, "reply_timeout_cycles": reply_timeout_cycles or 4 * t}
    return _run(engine, "exchanges", job, backend, divisor, timeout, progress)
