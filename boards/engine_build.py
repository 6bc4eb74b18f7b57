"""``build_engine_board``: a bitstream of the layer engine behind its UART link (boards.engine_top)
for a board, and its report: logic, flip-flops, DSP and block RAM, Fmax, and images/s.

The memories of the engine (activation ping-pong buffers, weights, constants, descriptors, the
link's frame buffer) are ``amaranth.lib.memory`` blocks with a synchronous read port, which Yosys
maps to iCE40 EBR (SB_RAM40_4K) and ECP5 DP16KD; the report counts them (``bram``).

With ``breakdown``, the build keeps the design's hierarchy (Yosys ``-noflatten``), and the report's
``blocks`` gives its LUTs, flip-flops, carry cells, block RAMs and DSPs per block
(boards.breakdown): arrays, im2col, post-processing, sequencer, memories, link and UART, clocking
and I/O. Without it (the default, which the committed comparisons used) ``blocks`` is None.

Multipliers (the MAC array's and the post-processing's BatchNorm ones) go to DSP blocks when
``dsp`` (iCE40 SB_MAC16 through ``synth_ice40 -dsp``; ECP5 MULT18X18D unless ``-nodsp``) and to
logic otherwise, through Yosys's ``booth`` pass as in the array builds (boards.build). The
whole-accelerator comparison on iCE40 is made without DSPs, so that logic counts compare like
with like.

The clock is the board's oscillator (boards.engine_top), constrained at its frequency, so the
bitstream runs as built; or, with ``clock_mhz``, the board's PLL set to the highest frequency not
above it (boards.pll), its output constrained at that frequency. ``clock_mhz`` in the report is the
clock the board actually runs at, ``timing_met`` whether nextpnr's Fmax reaches it, and
``clock_constraints_mhz`` the constraint nextpnr applied to each clock it timed.
``images_per_s_at_clock`` uses that clock, ``images_per_s_at_fmax`` the Fmax nextpnr reports; both
from the engine cycle model's cycles per image for the program (equal to the RTL's, which the engine
tests show).

The UART rate: ``baud`` when given; otherwise 115,200 at the oscillator (the rate every earlier
result used), and with a PLL the fastest rate that the board's USB bridge and the PLL's clock both
make exactly (boards.usb_bridge.fastest_baud). The report's ``baud_choice`` says which and why.
"""
import json
from pathlib import Path

from adderhw.base.errors import BadParameter

from .build import design_key, execute_plan, reuse_record

from .engine_top import EngineTop, oscillator_hz
from .pll import solve_pll
from .usb_bridge import fastest_baud
from .platforms import board as board_by_name, make_platform
from .breakdown import breakdown as block_breakdown, check_total
from .report import parse_nextpnr, parse_yosys_stat
from .toolchain import tool_env, tool_versions

__all__ = ["build_engine_board", "ENGINE_BOARDS"]

#: boards the engine top supports (they have a UART resource)
ENGINE_BOARDS = ("icebreaker", "ulx3s-85f")


def build_engine_board(board_name, engine, cycles_per_image, baud=None, dsp=True, seed=1, out_dir="build",
                       progress=None, versions=True, reuse=False, extra=None, clock_mhz=None, breakdown=False):
    """Build EngineTop(engine) for ``board_name`` (at ``clock_mhz`` through the board's PLL; None: at
    its oscillator); returns the report (also ``out_dir/report.json``).
    ``breakdown``: keep the hierarchy and report per-block resources (``blocks``, boards.breakdown)."""
    if board_name not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)} for the engine top, not {board_name!r}")
    b = board_by_name(board_name)
    say = progress or (lambda msg: None)
    osc_hz = oscillator_hz(b.platform_class())
    # refuse a clock the PLL cannot make, or a rate the clock cannot make, before building anything
    pll = None if clock_mhz is None else solve_pll(b.family, osc_hz, clock_mhz)
    if baud is not None:
        baud_choice = f"{baud} baud: asked for"
    elif pll is None:
        baud, baud_choice = 115200, "115200 baud: the default at the oscillator"
    else:
        baud, baud_choice = fastest_baud(board_name, pll.f_out_hz)
    top = EngineTop(engine, osc_hz, baud, clock_mhz=clock_mhz, family=b.family)
    clock_text = (f"its {osc_hz / 1e6:g} MHz clock" if pll is None else
                  f"{pll.out_mhz:g} MHz (asked for {clock_mhz:g}) from its {osc_hz / 1e6:g} MHz clock through "
                  f"{pll.describe().split(' (')[0]}")
    platform = make_platform(b, osc_hz, dsp=dsp)
    out = Path(out_dir)
    name = "top"
    env = tool_env(b.family)
    synth_opts = []
    script_after_read = "proc\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"
    if breakdown:
        # the hierarchy is kept through place and route, so that the per-block figures are a
        # statistic of the very netlist that was placed (splitnets: boards.breakdown says why)
        synth_opts.append("-noflatten")
        script_after_read = script_after_read.replace("proc", "proc\nsplitnets", 1)
    if b.family == "ice40" and dsp:
        synth_opts.append("-dsp")
    if b.family == "ecp5" and not dsp:
        synth_opts.append("-nodsp")
    if not dsp:
        script_after_read += "\nbooth"
    plan = platform.build(top, name=name, build_dir=str(out), do_build=False,
                          do_program=False, emit_src=False, synth_opts=synth_opts, script_after_read=script_after_read,
                          nextpnr_opts=["--report", "report_nextpnr.json", "--seed", str(seed), "--timing-allow-fail"],
                          script_after_synth="tee -q -o stat.json stat -json")
    key = design_key(plan)
    if reuse:
        kept = reuse_record(b, out, key, say)   # raises DesignDoesNotFit again for a kept no-fit
        if kept is not None:
            return kept
    say(f"UART: {baud_choice}")
    say(f"building the engine ({engine.describe()}) behind a {baud}-baud UART for {b.name} ({b.device}) "
        f"at {clock_text} in {out}")
    seconds = execute_plan(plan, b, out, name, key, env, say)
    pnr_doc = json.loads((out / "report_nextpnr.json").read_text())
    pnr = parse_nextpnr(pnr_doc, b.family)
    clock_mhz_run = top.clk_hz / 1e6 if pll is None else pll.out_mhz
    stat_doc = json.loads((out / "stat.json").read_text())
    stat = parse_yosys_stat(stat_doc, b.family)
    blocks = check_total(block_breakdown(stat_doc, b.family), stat) if breakdown else None
    bitstream = next((p for p in (out / f"{name}.bin", out / f"{name}.bit") if p.exists()), None)
    report = {
        "board": b.name, "device": b.device, "family": b.family, "top": "engine", "engine": engine.describe(),
        "pe": engine.array.pe, "rows": engine.array.rows, "cols": engine.array.cols, "mac_rows": engine.mac_rows,
        "width": engine.array.width, "dsp_requested": bool(dsp), "baud": baud, "baud_choice": baud_choice,
        "logic": pnr["logic"], **stat, "blocks": blocks, "dsp": pnr["dsp"], "bram": pnr["bram"],
        "fmax_mhz": pnr["fmax_mhz"], "critical_path": pnr["critical_path"], "clock_mhz": clock_mhz_run, "timing_met": pnr["fmax_mhz"] >= clock_mhz_run,
        "clock_source": "oscillator" if pll is None else "pll", "oscillator_mhz": osc_hz / 1e6,
        "clock_target_mhz": clock_mhz, "pll": None if pll is None else pll.record(),
        "clock_constraints_mhz": {net: c.get("constraint") for net, c in pnr_doc.get("fmax", {}).items()},
        "cycles_per_image": cycles_per_image,
        "images_per_s_at_clock": clock_mhz_run * 1e6 / cycles_per_image,
        "images_per_s_at_fmax": pnr["fmax_mhz"] * 1e6 / cycles_per_image,
        "bitstream": bitstream.name if bitstream else None,
        "seed": seed, "build_seconds": round(seconds, 1), "design_key": key, **(extra or {}),
    }
    if versions:
        report["tools"] = tool_versions(b.family, env)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
