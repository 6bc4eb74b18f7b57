"""``build_engine_board``: a bitstream of the layer engine behind its UART link (boards.engine_top)
for a board, and its report: logic, flip-flops, DSP and block RAM, Fmax, and images/s.

The memories of the engine (activation ping-pong buffers, weights, constants, descriptors, the
link's frame buffer) are ``amaranth.lib.memory`` blocks with a synchronous read port, which Yosys
maps to iCE40 EBR (SB_RAM40_4K) and ECP5 DP16KD; the report counts them (``bram``). On the
iCE40UP5K the weight buffer goes to the single-port SB_SPRAM256KA blocks when it fits
(hw.engine.weights_in_spram); the report counts those apart (``spram``: used and available, 0 of 0
on a device without them).

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

nextpnr's placer and router: ``placer`` (heap, sa or static) and ``router`` (router1 or router2),
the algorithms the installed nextpnr-ice40 and nextpnr-ecp5 offer; None (the default) leaves
nextpnr's own choice, heap and router1. Only a choice other than nextpnr's default goes onto its
command line (Amaranth's ``nextpnr_opts``), so a build with the defaults has the same plan, and the
same reuse key, as one made before these options existed. The report records both (``placer``,
``router``) and how long the build took (``build_seconds``). A build that nextpnr gives up placing
or routing (nextpnr's "Placing design failed" or "Routing design failed", as the simulated-annealing
placer does with some carry chains on iCE40) raises DesignDoesNotFit with a sentence naming the
placer or router and nextpnr's first error, and is kept like a design too big for the device, so
that a search reuses the verdict instead of building it again.

With ``clock_mhz="auto"`` (:func:`build_engine_board_auto_clock`) the engine is built at the
oscillator, and then through the PLL at the highest clock not above the first build's Fmax less a
margin (``margin_pct``, default ``PLL_MARGIN_PCT`` = 10 %; boards.pll.clock_from_fmax); a PLL
build that misses timing is built again at its own Fmax less the margin, up to
``AUTO_CLOCK_BUILDS`` PLL builds. The report is the build's at the highest clock that meets timing,
with ``auto_clock`` recording every build's Fmax, the margin, the target, the clock chosen and
whether timing is met at it.

Seeds and time. ``seed`` may be a list: the seeds are tried in turn until a build places and meets
timing (boards.seed_search). Every build has a time limit (``time_limit_min``, default
``BUILD_TIME_LIMIT_MIN`` for the family, 0 for none); a build past it is stopped and raises
BuildTimedOut, which a seed search counts as "not placed" and moves on.

The UART rate: ``baud`` when given; otherwise 115,200 at the oscillator (the rate every earlier
result used), and with a PLL the fastest rate that the board's USB bridge and the PLL's clock both
make exactly (boards.usb_bridge.fastest_baud). The report's ``baud_choice`` says which and why.
"""
import json
import math
import numbers
from pathlib import Path

from adderhw.base.errors import BadParameter

from .synthesis import synthesis_recipe
from .build import (BuildFailed, BuildTimedOut, DesignDoesNotFit, PlacementGaveUp, design_key, execute_plan,
                    keep_no_fit, reuse_record)
from .seed_search import check_seeds, search_seeds

from .engine_top import EngineTop, board_clock, oscillator_hz
from .pll import PLL_MARGIN_PCT, check_pll_margin, clock_from_fmax
from .platforms import board as board_by_name, make_platform
from .breakdown import breakdown as block_breakdown, check_total
from .report import parse_nextpnr, parse_yosys_stat
from .toolchain import tool_env, tool_versions

__all__ = ["build_engine_board", "build_engine_board_auto_clock", "ENGINE_BOARDS", "NEXTPNR_PLACERS",
           "BUILD_TIME_LIMIT_MIN", "AUTO_CLOCK_BUILDS", "check_time_limit",
           "NEXTPNR_ROUTERS", "NEXTPNR_DEFAULTS", "check_nextpnr_options", "nextpnr_opts", "pnr_gave_up"]

#: boards the engine top supports (they have a UART resource)
ENGINE_BOARDS = ("icebreaker", "ulx3s-85f")

#: the default time limit of an engine build, in minutes, per FPGA family: about seven times the
#: longest build seen (iCE40UP5K engines place and route in 1-3 minutes, the ULX3S-85F 8x16 engine
#: in about 8); nextpnr-ice40's heap placer had not finished nearly full UP5K engines after 8 and 13 minutes
BUILD_TIME_LIMIT_MIN = {"ice40": 20, "ecp5": 60}

#: how many PLL builds ``clock_mhz="auto"`` makes at most, each at the last one's Fmax less the margin
AUTO_CLOCK_BUILDS = 3

#: nextpnr's placers and routers (``--placer``, ``--router``), as nextpnr-ice40 and nextpnr-ecp5
#: 0.11 (YoWASP) list them in their ``--help``, and the ones they use when not told
NEXTPNR_PLACERS = ("heap", "sa", "static")
NEXTPNR_ROUTERS = ("router1", "router2")
NEXTPNR_DEFAULTS = {"placer": "heap", "router": "router1"}


def check_nextpnr_options(placer=None, router=None, prefix=""):
    """(placer, router), each None where it is nextpnr's default or not given; a value nextpnr does
    not offer is refused with one sentence naming ``prefix`` + the parameter (the CLI passes "--")."""
    out = []
    for name, value, allowed in (("placer", placer, NEXTPNR_PLACERS), ("router", router, NEXTPNR_ROUTERS)):
        if value is not None and value not in allowed:
            raise BadParameter(f"{prefix}{name} must be one of {', '.join(allowed)} (nextpnr's {name}s), "
                               f"not {value!r}")
        out.append(None if value == NEXTPNR_DEFAULTS[name] else value)
    return tuple(out)


#: what nextpnr logs when it gives up placing or routing a design (its main flow's log_error)
_PNR_GAVE_UP = {"place": "Placing design failed", "route": "Routing design failed"}


def pnr_gave_up(log, device, placer, router):
    """The one-sentence reason when the build log ``log`` shows that nextpnr gave up placing or
    routing the design (not a resource overflow, which boards.report.no_fit_reason reads), with its
    first error; or None. A design that one placer or router cannot finish may finish with another
    (``placer``, ``router``: the ones used, which the sentence names)."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return None
    for step, phrase in _PNR_GAVE_UP.items():
        if any(phrase in line for line in lines):
            first = next((line.removeprefix("ERROR: ").rstrip(".") for line in lines
                          if line.startswith("ERROR:") and phrase not in line), None)
            tool = f"{placer} placer" if step == "place" else f"{router} router"
            return (f"nextpnr's {tool} could not {step} the design on {device}" + (f": {first}" if first else "")
                    + " (another placer or router may finish it)")
    return None


def nextpnr_opts(seed, placer=None, router=None):
    """The options the engine build adds to nextpnr's command line."""
    placer, router = check_nextpnr_options(placer, router)
    opts = ["--report", "report_nextpnr.json", "--seed", str(seed), "--timing-allow-fail"]
    if placer:
        opts += ["--placer", placer]
    if router:
        opts += ["--router", router]
    return opts


def check_time_limit(minutes, family, name="time_limit_min"):
    """The build time limit in seconds: ``minutes`` None is the family's default
    (BUILD_TIME_LIMIT_MIN), 0 none (None is returned); anything but a non-negative number is refused
    in one sentence naming ``name``."""
    if minutes is None:
        minutes = BUILD_TIME_LIMIT_MIN[family]
    if isinstance(minutes, bool) or not isinstance(minutes, numbers.Real) or not math.isfinite(minutes) or minutes < 0:
        raise BadParameter(f"{name} must be a number of minutes, at least 0 (0: no limit), not {minutes!r}")
    return None if minutes == 0 else float(minutes) * 60


def build_engine_board(board_name, engine, cycles_per_image, baud=None, dsp=True, seed=1, out_dir="build",
                       progress=None, versions=True, reuse=False, extra=None, clock_mhz=None, breakdown=False,
                       placer=None, router=None, time_limit_min=None):
    """Build EngineTop(engine) for ``board_name`` (at ``clock_mhz`` through the board's PLL; None: at
    its oscillator; "auto": :func:`build_engine_board_auto_clock` with its default margin); returns
    the report (also ``out_dir/report.json``).
    ``seed``: nextpnr's seed, or a list of seeds tried in turn until one places the design and meets
    timing (boards.seed_search; each in ``out_dir/seed-<n>``).
    ``breakdown``: keep the hierarchy and report per-block resources (``blocks``, boards.breakdown).
    ``placer``, ``router``: nextpnr's (None: its defaults, heap and router1).
    ``time_limit_min``: a build still running after this many minutes is stopped and counts as
    not placed (boards.build.BuildTimedOut); None: BUILD_TIME_LIMIT_MIN for the board's family, 0:
    no limit."""
    options = dict(baud=baud, dsp=dsp, progress=progress, versions=versions, reuse=reuse, extra=extra,
                   breakdown=breakdown, placer=placer, router=router, time_limit_min=time_limit_min)
    if clock_mhz == "auto":
        return build_engine_board_auto_clock(board_name, engine, cycles_per_image, seed=seed, out_dir=out_dir,
                                             **options)
    if board_name not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)} for the engine top, not {board_name!r}")
    placer, router = check_nextpnr_options(placer, router)
    b = board_by_name(board_name)
    time_limit_s = check_time_limit(time_limit_min, b.family)
    seeds = check_seeds(seed)
    if len(seeds) > 1:
        return search_seeds(lambda one, where: build_engine_board(board_name, engine, cycles_per_image, seed=one,
                                                                  out_dir=where, clock_mhz=clock_mhz, **options),
                            seeds, out_dir, progress)
    seed = seeds[0]
    say = progress or (lambda msg: None)
    # refuse a clock the PLL cannot make, or a rate the clock cannot make, before building anything
    clock = board_clock(board_name, clock_mhz, baud)
    osc_hz, pll, baud, baud_choice = clock["osc_hz"], clock["pll"], clock["baud"], clock["baud_choice"]
    top = EngineTop(engine, osc_hz, baud, clock_mhz=clock_mhz, family=b.family)
    clock_text = (f"its {osc_hz / 1e6:g} MHz clock" if pll is None else
                  f"{pll.out_mhz:g} MHz (asked for {clock_mhz:g}) from its {osc_hz / 1e6:g} MHz clock through "
                  f"{pll.describe().split(' (')[0]}")
    platform = make_platform(b, osc_hz, dsp=dsp)
    out = Path(out_dir)
    name = "top"
    env = tool_env(b.family)
    synth_opts, script_after_read = synthesis_recipe(b.family, True, dsp, booth=not dsp, hierarchy=breakdown,
                                                     memories=True)
    plan = platform.build(top, name=name, build_dir=str(out), do_build=False,
                          do_program=False, emit_src=False, synth_opts=synth_opts, script_after_read=script_after_read,
                          nextpnr_opts=nextpnr_opts(seed, placer, router),
                          script_after_synth="tee -q -o stat.json stat -json")
    key = design_key(plan)
    if reuse:
        kept = reuse_record(b, out, key, say)   # raises DesignDoesNotFit again for a kept no-fit
        if kept is not None:
            return kept
    say(f"UART: {baud_choice}")
    say(f"building the engine ({engine.describe()}) behind a {baud}-baud UART for {b.name} ({b.device}) "
        f"at {clock_text} in {out}")
    try:
        seconds = execute_plan(plan, b, out, name, key, env, say, time_limit_s=time_limit_s)
    except BuildTimedOut as e:
        raise BuildTimedOut(f"{e}: nextpnr's {placer or NEXTPNR_DEFAULTS['placer']} placer on seed {seed} "
                            f"(another seed or placer may finish it, or a longer time limit)") from None
    except DesignDoesNotFit:
        raise
    except BuildFailed:
        reason = pnr_gave_up(out / "build.log", b.device, placer or NEXTPNR_DEFAULTS["placer"],
                             router or NEXTPNR_DEFAULTS["router"])
        if reason is None:
            raise
        keep_no_fit(out, key, reason, gave_up=True)     # reused as such, like a design too big
        raise PlacementGaveUp(reason) from None
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
        "spram": pnr["spram"], "fmax_mhz": pnr["fmax_mhz"], "critical_path": pnr["critical_path"], "clock_mhz": clock_mhz_run, "timing_met": pnr["fmax_mhz"] >= clock_mhz_run,
        "clock_source": "oscillator" if pll is None else "pll", "oscillator_mhz": osc_hz / 1e6,
        "clock_target_mhz": clock_mhz, "pll": None if pll is None else pll.record(),
        "clock_constraints_mhz": {net: c.get("constraint") for net, c in pnr_doc.get("fmax", {}).items()},
        "cycles_per_image": cycles_per_image,
        "images_per_s_at_clock": clock_mhz_run * 1e6 / cycles_per_image,
        "images_per_s_at_fmax": pnr["fmax_mhz"] * 1e6 / cycles_per_image,
        "bitstream": bitstream.name if bitstream else None,
        "seed": seed, "placer": placer or NEXTPNR_DEFAULTS["placer"], "router": router or NEXTPNR_DEFAULTS["router"],
        "build_seconds": round(seconds, 1), "time_limit_min": None if time_limit_s is None else time_limit_s / 60,
        "design_key": key, **(extra or {}),
    }
    if versions:
        report["tools"] = tool_versions(b.family, env)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def build_engine_board_auto_clock(board_name, engine, cycles_per_image, margin_pct=PLL_MARGIN_PCT, out_dir="build",
                                  progress=None, **options):
    """Build EngineTop(engine) for ``board_name`` at the board's oscillator (in
    ``out_dir/oscillator``), then through its PLL at the highest clock not above that build's Fmax
    less ``margin_pct`` percent (default ``PLL_MARGIN_PCT``, 10 %; boards.pll.clock_from_fmax), in
    ``out_dir``. A second place-and-route can come out slower than the first (the iCEBreaker 8x2
    engine: 40.8 MHz, then 36.1 at the 36.75 MHz it chose), so a PLL build that misses timing is
    followed by another at its own Fmax less the margin (in ``out_dir/pll-<MHz>``), up to
    ``AUTO_CLOCK_BUILDS`` PLL builds in all, while that gives a lower clock the PLL makes.
    ``options`` are :func:`build_engine_board`'s (not ``clock_mhz``; a list of seeds is searched in
    every build). Where the PLL cannot beat the oscillator (the target is below its lowest output),
    the oscillator build is the answer.

    Returns the report of the build that runs (also ``out_dir/report.json``): the one at the highest
    clock that meets timing, or the last PLL build when none does. Its ``auto_clock`` records the
    margin, the first target, every build's clock, Fmax and outcome (``first_build``, the first PLL
    build as ``second_build``, and ``pll_builds``), the clock chosen, whether timing is met at it,
    and why."""
    if board_name not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)} for the engine top, not {board_name!r}")
    margin_pct = check_pll_margin(margin_pct)
    check_nextpnr_options(options.get("placer"), options.get("router"))
    if options.get("clock_mhz") is not None:
        raise BadParameter(f"clock_mhz must not be given to the automatic clock, which chooses it, not "
                           f"{options['clock_mhz']!r}")
    say = progress or (lambda msg: None)
    b = board_by_name(board_name)
    osc_hz = oscillator_hz(b.platform_class())
    out = Path(out_dir)
    say(f"clock auto: first build at the {osc_hz / 1e6:g} MHz oscillator, to measure Fmax")
    first = build_engine_board(board_name, engine, cycles_per_image, out_dir=out / "oscillator", progress=progress,
                               **options)
    first = dict(first, bitstream=first["bitstream"] and f"oscillator/{first['bitstream']}")
    target, pll, why = clock_from_fmax(b.family, osc_hz, first["fmax_mhz"], margin_pct)
    say(f"clock auto: {why}")
    builds = []                       # (directory, report) of each PLL build
    while pll is not None and len(builds) < AUTO_CLOCK_BUILDS:
        where = "." if not builds else f"pll-{pll.out_mhz:g}"
        say(f"clock auto: build through the PLL at {pll.out_mhz:g} MHz" + (f" (in {where})" if builds else ""))
        r = build_engine_board(board_name, engine, cycles_per_image, out_dir=out / where, progress=progress,
                               clock_mhz=pll.out_mhz, **options)
        builds.append((where, r if where == "." or not r["bitstream"] else
                       dict(r, bitstream=f"{where}/{r['bitstream']}")))
        if r["timing_met"]:
            break
        _, lower, again = clock_from_fmax(b.family, osc_hz, r["fmax_mhz"], margin_pct)
        if lower is None or lower.out_mhz >= pll.out_mhz:
            say(f"clock auto: timing missed at {pll.out_mhz:g} MHz; {again}: no lower clock to try")
            break
        say(f"clock auto: timing missed at {pll.out_mhz:g} MHz; {again}")
        pll = lower
    met = [r for _, r in builds if r["timing_met"]] + ([first] if first["timing_met"] else [])
    report = dict(max(met, key=lambda r: r["clock_mhz"]) if met else builds[-1][1] if builds else first)

    def record(where, r):
        return {"dir": where, "clock_mhz": r["clock_mhz"], "fmax_mhz": r["fmax_mhz"], "timing_met": r["timing_met"],
                "build_seconds": r["build_seconds"]}
    report["auto_clock"] = {
        "margin_pct": margin_pct, "target_mhz": target, "why": why,
        "first_build": record("oscillator", first),
        "second_build": record(*builds[0]) if builds else None,
        "pll_builds": [record(where, r) for where, r in builds],
        "clock_mhz": report["clock_mhz"], "timing_met": report["timing_met"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
