"""``build_board``: synthesise, place and route the benchmark harness for a board; write report.json.

Flow: amaranth-boards platform (clock constrained at the target) → Amaranth's Lattice build script
run with the YoWASP tools → nextpnr ``--report`` JSON (utilisation, Fmax) and Yosys ``stat -json``
(cell counts: LUT4s, flip-flops, carry cells). Nothing is scraped from tool logs except, when a
build fails, the lines that say why.

DSPs: a MAC array may map its multipliers to DSP blocks (iCE40 SB_MAC16 through ``synth_ice40
-dsp``; ECP5 MULT18X18D, which ``synth_ecp5`` uses unless ``-nodsp``). ``dsp`` chooses; the report
records the choice and the DSP blocks actually used.
"""
import hashlib
import json
import re
import subprocess
import threading
import time
from pathlib import Path

from golden.errors import AdderhwError

from .bench_top import BenchTop
from .platforms import board as board_by_name, make_platform
from .toolchain import tool_versions, use_yowasp

__all__ = ["build_board", "BuildFailed", "DesignDoesNotFit", "summarise"]

#: report keys per family: logic cells, flip-flops, DSP blocks, block RAMs (nextpnr utilisation names)
_UTIL = {
    "ice40": {"logic": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM"},
    "ecp5": {"logic": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD"},
}
#: Yosys cell types per family
_LUT_CELLS = {"ice40": ("SB_LUT4",), "ecp5": ("LUT4",)}
_FF_CELL = {"ice40": re.compile(r"^SB_DFF"), "ecp5": re.compile(r"^TRELLIS_FF$")}
_CARRY_CELLS = {"ice40": ("SB_CARRY",), "ecp5": ("CCU2C",)}
#: what a build that did not fit leaves in its directory, so that ``reuse`` need not rebuild it
_NO_FIT = "does_not_fit.json"


class BuildFailed(AdderhwError):
    pass


class DesignDoesNotFit(BuildFailed):
    pass


def _progress_thread(build_dir, name, say, stop):
    """Report the running phase every few seconds (yosys, nextpnr, pack)."""
    t0 = time.monotonic()
    last = None
    while not stop.wait(5.0):
        d = Path(build_dir)
        if (d / f"{name}.tim").exists():
            phase = "place and route (nextpnr)"
        elif (d / f"{name}.rpt").exists():
            phase = "synthesis (yosys)"
        else:
            phase = "starting"
        msg = f"  ... {phase}, {time.monotonic() - t0:.0f} s"
        if msg != last:
            say(msg)
            last = msg


def _overflow(log_path, logic_cell):
    """(cell type, needed, available) from nextpnr's utilisation lines when a cell type overflows,
    or, when nextpnr found no legal placement without any overflow, the logic cells' use (global
    buffers are promoted until all are taken, so a full SB_GB says nothing)."""
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return None
    full = "utilisation limit" in text or "Unable to find legal placement" in text
    logic = None
    for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", text):
        cell, used, avail = m.group(1), int(m.group(2)), int(m.group(3))
        if used > avail:
            return cell, used, avail
        if cell == logic_cell:
            logic = cell, used, avail
    return logic if full else None


def _no_fit(device, out, name, logic_cell):
    """The one-sentence reason a build did not fit, from the logs it left in ``out``; or None."""
    over = _overflow(out / f"{name}.tim", logic_cell) or _overflow(out / "build.log", logic_cell)
    if not over:
        return None
    cell, used, avail = over
    needs = (f"needs {used} {cell}, the device has {avail}" if used > avail else
             f"nextpnr found no legal placement with {used} of its {avail} {cell} in use "
             f"({100 * used / avail:.0f} %), the utilisation limit")
    return f"design does not fit {device}: {needs} (make the array smaller or pick a larger board)"


def _tail(path, n=12):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = [l for l in lines if "ERROR" in l or "error" in l.lower()] or lines
    return "\n".join(keep[-n:])


def design_key(board_name, config, freq_mhz, dsp, seed):
    """A hash of everything a build depends on: the array's Verilog, the harness, board and options."""
    from hw.verilog import generate_verilog
    parts = [generate_verilog(config), Path(__file__).with_name("bench_top.py").read_text(),
             Path(__file__).with_name("lfsr.py").read_text(), board_name, repr(float(freq_mhz)), repr(bool(dsp)),
             repr(seed)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def build_board(board_name, config, freq_mhz=None, dsp=True, seed=1, out_dir="build", progress=None,
                versions=True, reuse=False):
    """Build the benchmark harness of ``config`` for a board; returns the report dict (also written
    to ``out_dir/report.json``). Raises DesignDoesNotFit or BuildFailed with one clear sentence.
    ``reuse``: return the report already in ``out_dir`` if it was built from the same design and
    options, or raise DesignDoesNotFit again if that design did not fit (long sweeps can then be
    resumed)."""
    b = board_by_name(board_name)
    if freq_mhz is None:
        freq_mhz = 100.0 if b.family == "ecp5" else 48.0
    if not (isinstance(freq_mhz, (int, float)) and 1 <= freq_mhz <= 1000):
        raise AdderhwError(f"freq must be a frequency in MHz from 1 to 1000, not {freq_mhz!r}")
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    name = "top"
    key = design_key(board_name, config, freq_mhz, dsp, seed)
    if reuse and (out / "report.json").exists():
        old = json.loads((out / "report.json").read_text())
        if old.get("design_key") == key:
            say(f"reusing {out / 'report.json'}")
            return old
    if reuse and (out / _NO_FIT).exists():
        old = json.loads((out / _NO_FIT).read_text())
        message = _no_fit(b.device, out, name, _UTIL[b.family]["logic"])
        if old.get("design_key") == key and message:
            say(f"reusing the failed build in {out}")
            raise DesignDoesNotFit(message)
    use_yowasp(b.family)
    out.mkdir(parents=True, exist_ok=True)
    platform = make_platform(b, freq_mhz * 1e6)
    synth_opts = []
    if config.pe == "mac":
        if b.family == "ice40" and dsp:
            synth_opts.append("-dsp")
        if b.family == "ecp5" and not dsp:
            synth_opts.append("-nodsp")
    plan = platform.build(
        BenchTop(config), name=name, build_dir=str(out), do_build=False, do_program=False,
        synth_opts=synth_opts,
        nextpnr_opts=["--report", "report_nextpnr.json", "--seed", str(seed), "--timing-allow-fail"],
        script_after_synth="tee -q -o stat.json stat -json")
    plan.extract(str(out))
    say(f"building {config.describe()} for {b.name} ({b.device}) at {freq_mhz:g} MHz in {out}")
    t0 = time.monotonic()
    stop = threading.Event()
    watcher = threading.Thread(target=_progress_thread, args=(out, name, say, stop), daemon=True)
    watcher.start()
    try:
        with open(out / "build.log", "w") as log:
            r = subprocess.run(["sh", f"build_{name}.sh"], cwd=out, stdout=log, stderr=subprocess.STDOUT)
    finally:
        stop.set()
        watcher.join()
    seconds = time.monotonic() - t0
    report_path = out / "report_nextpnr.json"
    if r.returncode != 0 or not report_path.exists():
        message = _no_fit(b.device, out, name, _UTIL[b.family]["logic"])
        if message:
            (out / _NO_FIT).write_text(json.dumps({"design_key": key}, indent=2) + "\n")
            raise DesignDoesNotFit(message)
        raise BuildFailed(f"the build for {b.name} failed (exit {r.returncode}); from {out / 'build.log'}:\n"
                          + _tail(out / "build.log"))
    report = _report(b, config, freq_mhz, dsp, seed, out, seconds)
    report["design_key"] = key
    if versions:
        report["tools"] = tool_versions(b.family)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _report(b, config, freq_mhz, dsp, seed, out, seconds):
    nextpnr = json.loads((out / "report_nextpnr.json").read_text())
    stat = json.loads((out / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    util = nextpnr["utilization"]
    keys = _UTIL[b.family]

    def used_avail(key):
        u = util.get(key, {"used": 0, "available": 0})
        return {"used": u["used"], "available": u["available"]}

    fmax = list(nextpnr.get("fmax", {}).values())
    if not fmax:
        raise BuildFailed(f"nextpnr reported no clock for the build in {out}")
    achieved = min(f["achieved"] for f in fmax)
    luts = sum(cells.get(c, 0) for c in _LUT_CELLS[b.family])
    ffs = sum(n for c, n in cells.items() if _FF_CELL[b.family].match(c))
    dsp_used = used_avail(keys["dsp"])
    return {
        "board": b.name, "device": b.device, "family": b.family,
        "config": {"rows": config.rows, "cols": config.cols, "width": config.width, "k_max": config.k_max,
                   "pe": config.pe, "mul_stages": config.mul_stages, "pes": config.pes},
        "dsp_requested": bool(dsp) if config.pe == "mac" else False,
        "uses_dsp": dsp_used["used"] > 0,
        "logic": {"cell": keys["logic"], **used_avail(keys["logic"])},
        "luts": luts, "ffs": ffs, "carry_cells": sum(cells.get(c, 0) for c in _CARRY_CELLS[b.family]),
        "dsp": {"cell": keys["dsp"], **dsp_used},
        "bram": {"cell": keys["bram"], **used_avail(keys["bram"])},
        "fmax_mhz": achieved, "target_mhz": float(freq_mhz), "timing_met": achieved >= freq_mhz,
        "seed": seed, "build_seconds": round(seconds, 1),
    }


def summarise(r):
    """One screen of text for a report."""
    c = r["config"]
    met = "met" if r["timing_met"] else "NOT met"
    dsp = (f"{r['dsp']['used']}/{r['dsp']['available']} {r['dsp']['cell']}"
           + (" (requested)" if r["dsp_requested"] else " (not requested)" if c["pe"] == "mac" else ""))
    lines = [
        f"{r['board']} ({r['device']}): {c['rows']}x{c['cols']} {c['pe'].upper()} array, {c['width']}-bit, "
        f"K <= {c['k_max']} ({c['pes']} PEs)",
        f"  logic  {r['logic']['used']}/{r['logic']['available']} {r['logic']['cell']} "
        f"({100 * r['logic']['used'] / max(1, r['logic']['available']):.1f} %); {r['luts']} LUT4s, "
        f"{r['ffs']} flip-flops, {r['carry_cells']} carry cells",
        f"  DSP    {dsp}",
        f"  BRAM   {r['bram']['used']}/{r['bram']['available']} {r['bram']['cell']}",
        f"  Fmax   {r['fmax_mhz']:.1f} MHz against a {r['target_mhz']:g} MHz target: {met}",
        f"  seed {r['seed']}, {r['build_seconds']} s",
    ]
    for tool in r.get("tools", {}).values():
        lines.append(f"  {tool}")
    return "\n".join(lines)
