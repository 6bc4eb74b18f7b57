"""The engine top at a PLL clock: the solver's PLL and its constraint in the generated design of
both boards, the reset held until LOCK, the command-line refusals, and a tiny iCEBreaker bitstream
built at its PLL clock."""
import re
import subprocess
import sys

import pytest
from amaranth.hdl import ClockDomain, Module, ResetSignal, Signal
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.boards import engine_top
from adderhw.boards.clocking import lock_reset
from adderhw.boards.engine_build import build_engine_board
from adderhw.boards.engine_top import EngineTop, oscillator_hz
from adderhw.boards.platforms import board as board_by_name, make_platform
from adderhw.boards.pll import solve_pll
from adderhw.boards.usb_bridge import fastest_baud
from adderhw.hw.uart import uart_divisor

TINY = EngineConfig(array=ArrayConfig(rows=1, cols=2, width=8, k_max=16, pe="sad"), mac_rows=1, act_depth=64,
                    weight_depth=64, const_depth=16, max_layers=4)


def _generate(monkeypatch, board, clock_mhz, baud=115200):
    """(top, the build plan's files, the clk_hz the link was given) without running any tool."""
    seen = []

    class Link(engine_top.EngineLink):
        def __init__(self, engine, divisor, clk_hz, timeout=None):
            seen.append((divisor, clk_hz))
            super().__init__(engine, divisor=divisor, clk_hz=clk_hz, timeout=timeout)

    monkeypatch.setattr(engine_top, "EngineLink", Link)
    b = board_by_name(board)
    osc = oscillator_hz(b.platform_class())
    top = EngineTop(TINY, osc, baud, clock_mhz=clock_mhz, family=b.family)
    plan = make_platform(b, osc).build(top, name="top", do_build=False, emit_src=False)
    (link,) = seen
    return top, plan.files, link


def _cell(il, primitive):
    """The parameters, attributes and connections of the one ``primitive`` cell in RTLIL text."""
    lines = il.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(f"cell \\{primitive} ")]
    assert len(starts) == 1, starts
    i = starts[0]
    attrs = {}
    for line in reversed(lines[:i]):
        m = re.match(r'\s*attribute \\(\S+) (.+)$', line)
        if not m:
            break
        attrs[m.group(1)] = m.group(2).strip('"')
    params, conns = {}, {}
    for line in lines[i + 1:]:
        if line.strip() == "end":
            break
        kind, name, value = line.split(None, 2)
        value = value.strip('"')
        if kind == "parameter":
            params[name.lstrip("\\")] = int(value) if re.fullmatch(r"-?\d+", value) else value
        elif kind == "connect":
            conns[name.lstrip("\\")] = value
    return params, attrs, conns


@pytest.mark.parametrize("board,clock_mhz", [("icebreaker", 20), ("icebreaker", 48), ("ulx3s-85f", 75),
                                             ("ulx3s-85f", 133.3)])
def test_the_top_instantiates_the_solver_s_pll_and_constrains_its_output(monkeypatch, board, clock_mhz):
    top, files, (divisor, clk_hz) = _generate(monkeypatch, board, clock_mhz)
    b = board_by_name(board)
    pll = solve_pll(b.family, oscillator_hz(b.platform_class()), clock_mhz)
    assert top.pll == pll
    # the UART divisor and STATUS's clock follow the PLL's clock
    assert clk_hz == top.clk_hz == round(pll.f_out_hz) and divisor == top.divisor == uart_divisor(clk_hz, 115200)
    params, attrs, conns = _cell(files["top.il"], pll.primitive)
    assert params == pll.params and conns["LOCK"] == "\\pll_lock"
    f = float(pll.f_out_hz)
    if b.family == "ice40":
        assert conns["PACKAGEPIN"] == "\\clk12_0__io [0]"            # the pin itself: no SB_IO in between
        assert conns["RESETB"] == "1'1" and conns["BYPASS"] == "1'0"
        assert "SB_PLL40_PAD" not in files["top.il"].replace("cell \\SB_PLL40_PAD \\pll", "", 1)
        assert f"set_frequency pll_out {f / 1e6}" in files["top.pcf"].splitlines()
    else:
        assert conns["CLKFB"].split()[0] == conns["CLKOP"].split()[0]    # feedback from CLKOP
        assert attrs["FREQUENCY_PIN_CLKI"] == "25" and float(attrs["FREQUENCY_PIN_CLKOP"]) == pytest.approx(f / 1e6)
        assert f'FREQUENCY NET "pll_out" {f} HZ;' in files["top.lpf"].splitlines()
    # kept through synthesis, so that nextpnr finds the constrained name
    assert re.search(r"attribute \\keep 1\n(\s*attribute [^\n]*\n)*\s*wire width 1 \\pll_out\n", files["top.il"])


def test_without_a_clock_target_the_top_runs_at_the_oscillator(monkeypatch):
    top, files, (divisor, clk_hz) = _generate(monkeypatch, "icebreaker", None)
    assert top.pll is None and clk_hz == 12_000_000 and divisor == 104
    assert "SB_PLL40" not in files["top.il"]
    assert [line for line in files["top.pcf"].splitlines() if "frequency" in line] == ["set_frequency clk12_0__io 12.0"]


def test_the_engine_is_held_in_reset_until_the_pll_locks():
    m = Module()
    m.domains.sync = sync = ClockDomain("sync")
    m.domains.por = por = ClockDomain("por", reset_less=True)
    m.d.comb += por.clk.eq(sync.clk)
    lock = Signal()
    lock_reset(m, lock)
    count, rst = Signal(8), Signal()
    m.d.sync += count.eq(count + 1)
    m.d.comb += rst.eq(ResetSignal("sync"))
    seen = []

    async def testbench(ctx):
        for _ in range(5):                      # from configuration on, whatever the clock does
            await ctx.tick()
            seen.append((ctx.get(rst), ctx.get(count)))
        ctx.set(lock, 1)
        for _ in range(4):
            await ctx.tick()
            seen.append((ctx.get(rst), ctx.get(count)))
        ctx.set(lock, 0)                        # losing LOCK resets again, two edges later
        for _ in range(3):
            await ctx.tick()
            seen.append((ctx.get(rst), ctx.get(count)))

    sim = Simulator(m)
    sim.add_clock(1e-8, domain="sync")
    sim.add_testbench(testbench)
    sim.run()
    assert seen == [(1, 0)] * 5 + [(1, 0), (0, 0), (0, 1), (0, 2)] + [(0, 3), (1, 4), (1, 0)]


@pytest.mark.parametrize("argv,message", [
    (["build", "--board", "icebreaker", "--top", "engine", "--clock-mhz", "300", "--out", "{tmp}"],
     "clock_mhz must be between 16.125 and 270 MHz for an iCE40 PLL (SB_PLL40_PAD) from a 12 MHz clock, not 300"),
    (["build", "--board", "ulx3s-85f", "--top", "engine", "--clock-mhz", "0", "--out", "{tmp}"],
     "clock_mhz must be a positive number of MHz, not 0.0"),
    (["build", "--board", "icebreaker", "--clock-mhz", "30", "--out", "{tmp}"],
     "--clock-mhz 30 applies to --top engine only, not to an array build"),
])
def test_cli_refuses_a_clock_the_pll_cannot_make_in_one_sentence(argv, message, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path / "o")) for a in argv]
    p = subprocess.run([sys.executable, "-m", "adderhw", *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.boards
def test_a_tiny_engine_builds_at_its_pll_clock_and_nextpnr_times_it_there(tmp_path):
    r = build_engine_board("icebreaker", TINY, cycles_per_image=1000, out_dir=tmp_path, versions=False, clock_mhz=20)
    pll = solve_pll("ice40", 12_000_000, 20)
    assert r["clock_mhz"] == pll.out_mhz == 19.875 and r["clock_source"] == "pll" and r["clock_target_mhz"] == 20
    assert r["pll"]["dividers"] == pll.dividers == {"DIVR": 0, "DIVF": 52, "DIVQ": 5}
    # the default rate at a PLL clock: 19.875 MHz / 53, which the FT2232H makes as 12 MHz / 32
    assert (r["baud"], r["baud_choice"]) == fastest_baud("icebreaker", pll.f_out_hz) and r["baud"] == 375_000
    log = (tmp_path / "top.tim").read_text()
    assert "constraining clock net 'pll_out' to 19.88 MHz" in log and "ignoring clock constraint" not in log
    (constraint,) = r["clock_constraints_mhz"].values()              # one clock: the PLL's
    assert constraint == pytest.approx(19.875, rel=1e-4)
    assert r["fmax_mhz"] > 0 and r["timing_met"] == (r["fmax_mhz"] >= 19.875)
    assert r["images_per_s_at_clock"] == pytest.approx(19.875e6 / 1000)
    assert r["bitstream"] and (tmp_path / r["bitstream"]).stat().st_size > 10_000
