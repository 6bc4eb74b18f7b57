"""``build_engine_board``: a bitstream of the layer engine behind its UART link (boards.engine_top)
for a board, and its report: logic, flip-flops, DSP and block RAM, Fmax, and images/s.

The memories of the engine (activation ping-pong buffers, weights, constants, descriptors, the
link's frame buffer) are ``amaranth.lib.memory`` blocks with a synchronous read port, which Yosys
maps to iCE40 EBR (SB_RAM40_4K) and ECP5 DP16KD; the report counts them (``bram``).

Multipliers (the MAC array's and the post-processing's BatchNorm ones) go to DSP blocks when
``dsp`` (iCE40 SB_MAC16 through ``synth_ice40 -dsp``; ECP5 MULT18X18D unless ``-nodsp``) and to
logic otherwise, through Yosys's ``booth`` pass as in the array builds (boards.build). The
whole-accelerator comparison on iCE40 is made without DSPs, so that logic counts compare like
with like.

The clock is the board's oscillator (boards.engine_top), constrained at its frequency, so the
bitstream runs as built. ``images_per_s_at_clock`` uses that clock, ``images_per_s_at_fmax`` the
Fmax nextpnr reports; both from the engine cycle model's cycles per image for the program (equal
to the RTL's, which the engine tests show).
"""
import json
from pathlib import Path

from adderhw.base.errors import BadParameter

from .build import design_key, execute_plan, reuse_record
from adderhw.hw.uart import uart_divisor

from .engine_top import EngineTop, oscillator_hz
from .platforms import board as board_by_name, make_platform
from .report import parse_nextpnr, parse_yosys_stat
from .toolchain import tool_env, tool_versions

__all__ = ["build_engine_board", "ENGINE_BOARDS"]

#: boards the engine top supports (they have a UART resource)
ENGINE_BOARDS = ("icebreaker", "ulx3s-85f")


def build_engine_board(board_name, engine, cycles_per_image, baud=115200, dsp=True, seed=1, out_dir="build",
                       progress=None, versions=True, reuse=False, extra=None):
    """Build EngineTop(engine) for ``board_name``; returns the report (also ``out_dir/report.json``)."""
    if board_name not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)} for the engine top, not {board_name!r}")
    b = board_by_name(board_name)
    say = progress or (lambda msg: None)
    clk_hz = oscillator_hz(b.platform_class())
    uart_divisor(clk_hz, baud)              # refuse a rate the clock cannot make before building anything
    platform = make_platform(b, clk_hz, dsp=dsp)
    out = Path(out_dir)
    name = "top"
    env = tool_env(b.family)
    synth_opts = []
    script_after_read = "proc\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"
    if b.family == "ice40" and dsp:
        synth_opts.append("-dsp")
    if b.family == "ecp5" and not dsp:
        synth_opts.append("-nodsp")
    if not dsp:
        script_after_read += "\nbooth"
    plan = platform.build(EngineTop(engine, clk_hz, baud), name=name, build_dir=str(out), do_build=False,
                          do_program=False, emit_src=False, synth_opts=synth_opts, script_after_read=script_after_read,
                          nextpnr_opts=["--report", "report_nextpnr.json", "--seed", str(seed), "--timing-allow-fail"],
                          script_after_synth="tee -q -o stat.json stat -json")
    key = design_key(plan)
    if reuse:
        kept = reuse_record(b, out, key, say)   # raises DesignDoesNotFit again for a kept no-fit
        if kept is not None:
            return kept
    say(f"building the engine ({engine.describe()}) behind a {baud}-baud UART for {b.name} ({b.device}) "
        f"at its {clk_hz / 1e6:g} MHz clock in {out}")
    seconds = execute_plan(plan, b, out, name, key, env, say)
    pnr = parse_nextpnr(json.loads((out / "report_nextpnr.json").read_text()), b.family)
    stat = parse_yosys_stat(json.loads((out / "stat.json").read_text()), b.family)
    bitstream = next((p for p in (out / f"{name}.bin", out / f"{name}.bit") if p.exists()), None)
    report = {
        "board": b.name, "device": b.device, "family": b.family, "top": "engine", "engine": engine.describe(),
        "pe": engine.array.pe, "rows": engine.array.rows, "cols": engine.array.cols, "mac_rows": engine.mac_rows,
        "width": engine.array.width, "dsp_requested": bool(dsp), "baud": baud,
        "logic": pnr["logic"], **stat, "dsp": pnr["dsp"], "bram": pnr["bram"],
        "fmax_mhz": pnr["fmax_mhz"], "clock_mhz": clk_hz / 1e6, "timing_met": pnr["fmax_mhz"] >= clk_hz / 1e6,
        "cycles_per_image": cycles_per_image,
        "images_per_s_at_clock": clk_hz / cycles_per_image,
        "images_per_s_at_fmax": pnr["fmax_mhz"] * 1e6 / cycles_per_image,
        "bitstream": bitstream.name if bitstream else None,
        "seed": seed, "build_seconds": round(seconds, 1), "design_key": key, **(extra or {}),
    }
    if versions:
        report["tools"] = tool_versions(b.family, env)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
