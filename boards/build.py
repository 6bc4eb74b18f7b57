"""``build_board``: synthesise, place and route the benchmark harness for a board; write report.json.

Flow: amaranth-boards platform (clock constrained at the target) → Amaranth's Lattice build script
run with the YoWASP tools → nextpnr ``--report`` JSON (utilisation, Fmax) and Yosys ``stat -json``
(cell counts: LUT4s, flip-flops, carry cells). Nothing is scraped from tool logs except, when a
build fails, the lines that say why.

DSPs: a MAC array may map its multipliers to DSP blocks (iCE40 SB_MAC16 through ``synth_ice40
-dsp``; ECP5 MULT18X18D, which ``synth_ecp5`` uses unless ``-nodsp``). ``dsp`` chooses; the report
records the choice and the DSP blocks actually used.

Multipliers in logic: a MAC array without DSP blocks runs Yosys's ``booth`` pass right after the
design is read, so its multipliers are radix-4 Booth-encoded partial products instead of Yosys's
default array of AND terms. That is the strongest mapping the open tools offer (an 8x8 signed MAC
PE measured 203 LUT4 by default, 153 with ``booth`` on iCE40), and the comparison is only as
honest as its baseline. ``booth=False`` gives the default mapping, for before/after measurements.
The report's ``multipliers`` says which mapping a build used: ``dsp``, ``booth``, ``default``, or
``none`` for a SAD array.
"""
import json
import re
import subprocess
import threading
import time
from pathlib import Path

from adderhw.base.errors import BadParameter, ToolFailed
from adderhw.base.pe_kind import pe_kind
from adderhw.base.words import a_an, count

from .bench_top import BenchTop
from .build_process import run_build
from .synthesis import synthesis_recipe
from .platforms import BUILD_TARGET_MHZ, board as board_by_name, make_platform
from .report import LOGIC_CELL, at_placement_limit, build_report, no_fit_reason, overfull
from .toolchain import tool_env, tool_versions

__all__ = ["build_board", "execute_plan", "design_key", "kept_build", "keep_no_fit", "reuse_record", "BuildFailed",
           "PlacementGaveUp", "BuildTimedOut",
           "DesignDoesNotFit", "summarise"]

#: what a build that did not fit leaves in its directory, so that ``reuse`` need not rebuild it
_NO_FIT = "does_not_fit.json"
#: the build plan's top-level name (its files are top.il, build_top.sh, ...)
_NAME = "top"


class BuildFailed(ToolFailed):
    """The synthesis or place-and-route tools failed; the message quotes the log's reason."""


class DesignDoesNotFit(BuildFailed):
    """The design needs more of a resource than the device has; the message gives both counts."""


class PlacementGaveUp(DesignDoesNotFit):
    """nextpnr gave up placing or routing a design the device has room for, or did not finish it
    within the build's time limit: another seed, placer or router may finish it."""


class BuildTimedOut(PlacementGaveUp):
    """The build did not finish within its time limit and was stopped."""


#: what a YoWASP tool prints on its first run, while it compiles its WebAssembly to machine code
#: (yowasp_runtime.run_wasm; the result is cached per user, so later runs start at once)
_YOWASP_COMPILING = re.compile(r"Preparing to run (\S+)\. This might take a while")


class _FirstRunWatch:
    """Reads a growing build log and names each YoWASP tool seen compiling itself, once.

    A fresh machine spends a minute or two per tool there before any progress appears in the
    log; saying so keeps a first build from looking hung. Only the new part of the log is read
    on each call (with an overlap, so a line split between two reads is still found).
    """

    def __init__(self, log):
        self.log = Path(log)
        self.offset = 0
        self.carry = ""
        self.seen = set()

    def new_tools(self):
        try:
            with open(self.log, errors="replace") as f:
                f.seek(self.offset)
                text = f.read()
                self.offset = f.tell()
        except OSError:
            return []
        text = self.carry + text
        self.carry = text[-200:]
        tools = []
        for tool in _YOWASP_COMPILING.findall(text):
            if tool not in self.seen:
                self.seen.add(tool)
                tools.append(tool)
        return tools


def _progress_thread(build_dir, name, say, stop, interval=5.0):
    """Report the running phase every few seconds (yosys, nextpnr, pack), and a YoWASP tool's
    one-time compilation on its first run."""
    t0 = time.monotonic()
    last = None
    first_runs = _FirstRunWatch(Path(build_dir) / "build.log")
    while not stop.wait(interval):
        for tool in first_runs.new_tools():
            say(f"  first run: YoWASP compiles its tools once ({tool} now), this takes a minute or two")
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


def _tail(path, n=12):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = [l for l in lines if "ERROR" in l or "error" in l.lower()] or lines
    return "\n".join(keep[-n:])


def design_key(plan):
    """A hash of everything a build depends on: Amaranth's digest of the build plan (the design's
    RTLIL, without source locations, the constraints with the clock target, the scripts with the
    synthesis and nextpnr options and seed). Tool choice is not part of it: the scripts name tools
    by variable."""
    return plan.digest().hex()[:20]


def _prepare(board_name, config, freq_mhz, dsp, seed, booth):
    """Check the options and make the build plan; returns (board, freq, env, plan, key, multipliers)."""
    b = board_by_name(board_name)
    if freq_mhz is None:
        freq_mhz = BUILD_TARGET_MHZ[b.family]
    if not (isinstance(freq_mhz, (int, float)) and 1 <= freq_mhz <= 1000):
        raise BadParameter(f"freq must be a frequency in MHz from 1 to 1000, not {freq_mhz!r}")
    env = tool_env(b.family)
    platform = make_platform(b, freq_mhz * 1e6, dsp=dsp)
    has_mul = config.kind.has_multiplier
    multipliers = ("dsp" if dsp else "booth" if booth else "default") if has_mul else "none"
    synth_opts, script_after_read = synthesis_recipe(b.family, has_mul, dsp, booth=multipliers == "booth")
    overrides = {"script_after_read": script_after_read}
    # build_dir only names where files would go; it is not part of the plan's digest. emit_src=False:
    # no source-location attributes in the RTLIL, so that the digest (the reuse key) follows the
    # design, not the line numbers of the Python that describes it (an edit anywhere in hw/ used to
    # invalidate every finished build, and made a resumed sweep start over)
    plan = platform.build(
        BenchTop(config), name=_NAME, build_dir="build", do_build=False, do_program=False, emit_src=False,
        synth_opts=synth_opts, **overrides,
        nextpnr_opts=["--report", "report_nextpnr.json", "--seed", str(seed), "--timing-allow-fail"],
        script_after_synth="tee -q -o stat.json stat -json")
    return b, freq_mhz, env, plan, design_key(plan), multipliers


def reuse_record(b, out, key, say):
    """The report kept in ``out`` for the design ``key``; raises DesignDoesNotFit again for a kept
    no-fit record; None when ``out`` holds nothing for this design."""
    if (out / "report.json").exists():
        old = json.loads((out / "report.json").read_text())
        if old.get("design_key") == key:
            say(f"reusing {out / 'report.json'}")
            return old
    if (out / _NO_FIT).exists():
        old = json.loads((out / _NO_FIT).read_text())
        # a record that came home from another machine carries its reason; one written here may
        # predate that field and is read from the logs beside it
        message = old.get("reason") or no_fit_reason(b.device, out, _NAME, LOGIC_CELL[b.family])
        if old.get("design_key") == key and message:
            say(f"reusing the failed build in {out}")
            raise (PlacementGaveUp if old.get("gave_up") else DesignDoesNotFit)(message)
    return None


def kept_build(board_name, config, freq_mhz=None, dsp=True, seed=1, out_dir="build", booth=True):
    """What ``build_board(..., reuse=True)`` would reuse from ``out_dir`` without building: the kept
    report, or DesignDoesNotFit raised again, or None. Elaborates the design only when ``out_dir``
    holds a record at all (the design key needs it)."""
    out = Path(out_dir)
    if not ((out / "report.json").exists() or (out / _NO_FIT).exists()):
        return None
    b, _, _, _, key, _ = _prepare(board_name, config, freq_mhz, dsp, seed, booth)
    return reuse_record(b, out, key, lambda m: None)


def keep_no_fit(out_dir, key, reason, gave_up=False):
    """Record in ``out_dir`` that the design ``key`` does not fit, with the one-sentence reason;
    ``gave_up``: nextpnr gave up on a design within the device's cells (PlacementGaveUp, which a
    reuse raises again as such, so that a seed search moves on)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {"design_key": key, "reason": reason, **({"gave_up": True} if gave_up else {})}
    (out / _NO_FIT).write_text(json.dumps(record, indent=2) + "\n")


def build_board(board_name, config, freq_mhz=None, dsp=True, seed=1, out_dir="build", progress=None,
                versions=True, reuse=False, booth=True):
    """Build the benchmark harness of ``config`` for a board; returns the report dict (also written
    to ``out_dir/report.json``). Raises DesignDoesNotFit or BuildFailed with one clear sentence.
    ``reuse``: return the report already in ``out_dir`` if it was built from the same design and
    options, or raise DesignDoesNotFit again if that design did not fit (long sweeps can then be
    resumed). A design that does not fit leaves ``does_not_fit.json`` (its key and reason)."""
    b, freq_mhz, env, plan, key, multipliers = _prepare(board_name, config, freq_mhz, dsp, seed, booth)
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    name = _NAME
    if reuse:
        kept = reuse_record(b, out, key, say)
        if kept is not None:
            return kept
    say(f"building {config.describe()} for {b.name} ({b.device}) at {freq_mhz:g} MHz in {out}")
    seconds = execute_plan(plan, b, out, name, key, env, say)
    report = build_report(b, config, freq_mhz, dsp, seed, out, seconds)
    report["multipliers"] = multipliers
    report["design_key"] = key
    if versions:
        report["tools"] = tool_versions(b.family, env)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def execute_plan(plan, b, out, name, key, env, say, time_limit_s=None):
    """Run an Amaranth build ``plan`` for board ``b`` in ``out`` with the tool environment ``env``;
    returns its seconds. A design that does not fit raises DesignDoesNotFit (and leaves its record,
    keyed by ``key``), any other failure BuildFailed quoting the log. ``time_limit_s`` (None: none):
    a build still running after that many seconds is stopped and raises BuildTimedOut (not kept:
    a longer limit may finish it)."""
    out.mkdir(parents=True, exist_ok=True)
    plan.extract(str(out))
    t0 = time.monotonic()
    timed_out = threading.Event()

    def stop_when():
        # ended as soon as nextpnr's packed utilisation shows a cell type beyond the device, or
        # at the time limit (nextpnr-ice40's heap placer had not finished the iCEBreaker 8x2 engine
        # with all four SPRAMs in use, at 89 %, after 8 minutes, nor the 4x4 at 97 % after 13)
        if overfull(out / f"{name}.tim", LOGIC_CELL[b.family]):
            return True
        if time_limit_s is not None and time.monotonic() - t0 > time_limit_s:
            timed_out.set()
            return True
        return False

    stop = threading.Event()
    watcher = threading.Thread(target=_progress_thread, args=(out, name, say, stop), daemon=True)
    watcher.start()
    try:
        with open(out / "build.log", "w") as log:
            # in a process group of its own, which a stop signal ends as one (boards.build_process)
            returncode = run_build(["sh", f"build_{name}.sh"], cwd=out, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, stop_when=stop_when, poll=min(2.0, time_limit_s or 2.0))
    finally:
        stop.set()
        watcher.join()
    seconds = time.monotonic() - t0
    if timed_out.is_set():
        raise BuildTimedOut(f"the build for {b.name} ({b.device}) did not finish within {_duration(time_limit_s)} "
                            f"and was stopped (its log: {out / 'build.log'})")
    if returncode != 0 or not (out / "report_nextpnr.json").exists():
        message = no_fit_reason(b.device, out, name, LOGIC_CELL[b.family])
        if message:
            # no legal placement within the device's cells is a placer's verdict: another seed may differ
            gave_up = at_placement_limit(out, name, LOGIC_CELL[b.family])
            keep_no_fit(out, key, message, gave_up)
            raise (PlacementGaveUp if gave_up else DesignDoesNotFit)(message)
        raise BuildFailed(f"the build for {b.name} failed (exit {returncode}); from {out / 'build.log'}:\n"
                          + _tail(out / "build.log"))
    return seconds


def _duration(seconds):
    """``seconds`` in words: "90 s", "20 minutes", "1.5 minutes"."""
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} minute" + ("" if seconds == 60 else "s")


def summarise(r):
    """One screen of text for a report."""
    c = r["config"]
    met = "met" if r["timing_met"] else "NOT met"
    dsp = (f"{r['dsp']['used']}/{r['dsp']['available']} {r['dsp']['cell']}"
           + (" (requested)" if r["dsp_requested"] else " (not requested)" if pe_kind(c["pe"]).has_multiplier else ""))
    lines = [
        f"{r['board']} ({r['device']}): {c['rows']}x{c['cols']} {c['pe'].upper()} array, {c['width']}-bit, "
        f"K <= {c['k_max']} ({count(c['pes'], 'PE')})",
        f"  logic  {r['logic']['used']}/{r['logic']['available']} {r['logic']['cell']} "
        f"({100 * r['logic']['used'] / max(1, r['logic']['available']):.1f} %); {r['luts']} LUT4s, "
        f"{r['ffs']} flip-flops, {r['carry_cells']} carry cells",
        f"  DSP    {dsp}",
        f"  BRAM   {r['bram']['used']}/{r['bram']['available']} {r['bram']['cell']}",
        *([f"  SPRAM  {r['spram']['used']}/{r['spram']['available']} {r['spram']['cell']}"]
          if r.get("spram", {}).get("available") else []),
        f"  Fmax   {r['fmax_mhz']:.1f} MHz against {a_an(int(r['target_mhz']))} {r['target_mhz']:g} MHz target: {met}",
        f"  seed {r['seed']}, {r['build_seconds']} s",
    ]
    for tool in r.get("tools", {}).values():
        lines.append(f"  {tool}")
    return "\n".join(lines)
