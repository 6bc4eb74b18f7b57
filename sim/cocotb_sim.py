"""cocotb backends (Icarus, Verilator) behind ``run_gemm``: build once per Verilog, run many jobs.

Build directories live in a cache outside the source tree (``$ADDERHW_CACHE`` or
``~/.cache/adderhw``), keyed by a hash of everything that goes into the build (Verilog text,
harness, simulator, options) and reused while that has not changed.

The stream harness's memories are the one thing a job sizes: their depths must hold the job's
beats, and are fixed when the model is built. They are not part of the key: a model whose memories
are at least as deep as a job needs serves that job, so one model of a design serves jobs of every
size (the layers of a network, whole layers and a layer's groups of channels, chunks of a test set).
Under a key, each built size has a directory of its own; a job that fits none builds one as deep
as every earlier size and its own need together, so the sizes of a design converge after a build or two.

Drivers (see :mod:`adderhw.sim.cocotb_tb`): ``"harness"`` (default) drives the streams from an HDL harness,
so the simulator runs at its own speed; ``"cocotb"`` drives them from Python every cycle.

cocotb's runner (``cocotb_tools.runner``) is imported when a model is built, not with this module:
it adds about 0.26 s (``python -X importtime``, best of 3, 2-core test machine, 2026-12) that
the Amaranth simulator's runs and the checks made before any build do not need.
"""
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cocotb_tools.check_results import get_results

from adderhw.base.errors import BadParameter, SimulationError, ToolFailed
from adderhw.base.cache import cache_root, content_key, locked
from adderhw.hw.verilog import VERILATOR_WAIVERS, generate_verilog

from .dsp_model import mult18x18d_model
from .harness import HARNESS_TOP, harness_verilog
from .toolchain import require_icarus, require_verilator_fst, scoped_environment, verilator_env
from .waves import waves_format

__all__ = ["run_plan", "build", "build_sources", "array_sources", "model_key", "cache_root", "Memories", "DRIVERS",
           "TIMESCALE", "icarus_compatible"]

DUT_TOP = "adder_array"
TIMESCALE = ("1ns", "1ps")
DRIVERS = ("harness", "cocotb")


def _pow2(n, floor):
    v = floor
    while v < n:
        v *= 2
    return v


def tool_env(backend):
    """Variables the backend's tools need while cocotb's runner works (see sim/toolchain.py)."""
    if backend == "verilator":
        return verilator_env()
    require_icarus()
    return {}


def _runner(backend):
    from cocotb_tools.runner import get_runner      # start-up: deferred (module docstring)
    with scoped_environment(tool_env(backend)):
        return get_runner(backend)


def icarus_compatible(verilog):
    """The same design with every ``always @*`` written as ``always_comb``, for Icarus 11 only.

    A Verilog-2001 ``always @*`` block first runs when one of its inputs changes. Yosys forces a
    time-0 run with a dummy register initialised in its declaration, but Icarus 11 applies
    declaration initialisers without an event, so blocks whose inputs do not change in the first
    cycles keep X, and registers sample it (seen as X in output beats). ``always_comb``
    (IEEE 1800, Icarus with -g2012) runs once at time zero; the logic is unchanged. The Verilog that
    ``adderhw verilog`` writes, and that Verilator simulates, is the original.
    """
    return verilog.replace("always @*", "always_comb")


#: the harness's smallest memories (input beats, output beats, stall decisions)
DEPTHS = (1 << 14, 1 << 12, 1 << 18)


@dataclass(frozen=True)
class Memories:
    """A source file whose memory depths a job sets: ``text(depths)`` is the file, ``need`` the
    depths the job needs. A model built with memories at least this deep serves the job."""
    name: str
    text: Callable
    need: tuple


def array_sources(config, backend, driver="harness", depths=DEPTHS, target="generic"):
    """(files {name: text}, top, memories or None) of a simulator of the array ``config``;
    ``depths``: the harness memories' depths the job needs (see :func:`build`)."""
    dut = generate_verilog(config, name=DUT_TOP, target=target)
    files = {f"{DUT_TOP}.v": icarus_compatible(dut) if backend == "icarus" else dut}
    if target == "ecp5-dsp":
        files["MULT18X18D.v"] = mult18x18d_model()
    if driver != "harness":
        return files, DUT_TOP, None
    memories = Memories(f"{HARNESS_TOP}.v", lambda d: harness_verilog(config, *d, dut=DUT_TOP), tuple(depths))
    return files, HARNESS_TOP, memories


def build(config, backend, driver="harness", waves=None, depths=DEPTHS, progress=None, target="generic"):
    """Build (or reuse) a simulator for ``config``; returns (runner, build_dir, top).

    ``waves``: None, "vcd" or "fst" (see sim.waves). Verilator compiles the tracer in, so its format
    is part of the build (``--trace`` for VCD, ``--trace-fst`` for FST); Icarus chooses the format
    when it runs. A Verilator model takes a minute or so to compile; its first build says so
    through ``progress``, and later runs reuse it from the cache.
    ``depths``: the harness memories' depths the job needs (input beats, output beats, stall
    decisions); a cached model with deeper memories serves it (module docstring).
    ``target``: the Verilog to simulate (hw.verilog.TARGETS); "ecp5-dsp" adds the project's
    MULT18X18D model (sim.dsp_model).
    """
    files, top, memories = array_sources(config, backend, driver, depths, target)
    return build_sources(files, top, backend, waves, progress, what=f"the {config.describe()}", memories=memories)


def _build_model(runner, backend, build_dir, files, sources, top, args, waves, progress, what):
    """Build a simulator of ``files`` in ``build_dir`` (the caller holds the cache key's lock)."""
    if backend == "verilator" and waves == "fst":
        require_verilator_fst()
    if backend == "verilator" and progress:
        progress(f"building the Verilator model of {what} (a minute or so, once: "
                 f"it is cached in {cache_root() / 'sim' / backend})")
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (build_dir / name).write_text(text)
    try:
        with scoped_environment(tool_env(backend)):
            runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir, build_args=args,
                         timescale=TIMESCALE, waves=bool(waves), always=True, log_file=build_dir / "build.log")
    except Exception as exc:
        log = build_dir / "build.log"
        tail = "\n".join(log.read_text().splitlines()[-15:]) if log.exists() else ""
        raise ToolFailed(f"building the {backend} model failed ({exc}); log {log}:\n{tail}") from None


def _build_args(backend, waves):
    args = [f"-Wno-{w}" for w in VERILATOR_WAIVERS] + ["-O3"] if backend == "verilator" else []
    if backend == "verilator" and waves == "fst":
        args.append("--trace-fst")
    return args


def model_key(files, top, backend, waves=None, memories=None):
    """The cache key of a simulator of ``files`` with top ``top``: a hash of every input of the
    build. ``memories`` (:class:`Memories`) enters as its text at placeholder depths, so that jobs
    of every size have one key."""
    if memories is not None:
        files = {**files, memories.name: memories.text((1,) * len(memories.need))}   # depths left out
    # the FST choice is in the build arguments (Verilator) or made at run time (Icarus), so a bool
    # keys the tracer; the environment's prefix keys the cocotb and Verilator files the makefile
    # names by path, so a cache shared by several environments (a home directory that cluster
    # workers share) stays valid
    return content_key(backend, top, *files.values(), *_build_args(backend, waves), bool(waves), sys.prefix)


_STAMP = "adderhw.built"


def _sizes_built(home):
    """The memory depths of each model built under ``home`` (a key's directory)."""
    sizes = []
    for d in home.glob("d*") if home.is_dir() else ():
        if (d / _STAMP).exists():
            try:
                sizes.append(tuple(int(v) for v in d.name[1:].split("-")))
            except ValueError:
                continue
    return sizes


def _model_dir(home, need):
    """The model for a job that needs memories ``need``, under its key's directory ``home``:
    (directory, depths, True) for the shallowest built model that serves it, else (directory,
    depths, False) for the one to build, as deep as ``need`` and every model built before together."""
    sizes = [d for d in _sizes_built(home) if len(d) == len(need)]
    fits = [d for d in sizes if all(a >= b for a, b in zip(d, need))]
    depths = min(fits, key=lambda d: (sum(d), d)) if fits else tuple(max(v) for v in zip(need, *sizes))
    return home / ("d" + "-".join(map(str, depths))), depths, bool(fits)


def build_sources(files, top, backend, waves=None, progress=None, what="the design", memories=None):
    """Build (or reuse) a simulator of Verilog ``files`` ({name: text}) with top module ``top``;
    returns (runner, build_dir, top). The cache key covers every input of the build.
    ``memories`` (:class:`Memories`): one more file, whose memory depths the job sets; any cached
    model with memories at least that deep serves the job (module docstring)."""
    runner = _runner(backend)
    args = _build_args(backend, waves)
    key = model_key(files, top, backend, waves, memories)
    home = cache_root() / "sim" / backend / key

    def where():
        if memories is None:
            return home, None, (home / _STAMP).exists()
        return _model_dir(home, memories.need)

    build_dir, depths, built = where()
    if not built:
        # parallel jobs (a local pool, cluster workers on one machine) may want the same model at
        # once: one builds it under a lock, the others wait and then reuse it
        with locked(home):
            build_dir, depths, built = where()
            if not built:
                if memories is not None:
                    files = {**files, memories.name: memories.text(depths)}
                sources = [build_dir / name for name in files]
                _build_model(runner, backend, build_dir, files, sources, top, args, waves, progress, what)
                (build_dir / _STAMP).write_text("ok\n")
                return runner, build_dir, top
    names = list(files) + ([memories.name] if memories is not None else [])
    sources = [build_dir / name for name in names]
    # the runner keeps its build state in memory: register the cached build without rebuilding
    with scoped_environment(tool_env(backend)):
        runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir, build_args=args,
                     timescale=TIMESCALE, waves=bool(waves), always=False, log_file=build_dir / "reuse.log")
    return runner, build_dir, top


def _wave_options(backend, fmt, path):
    """(plusargs, test_args, environment) that make ``backend`` write its waves as ``fmt`` to ``path``.

    Icarus: cocotb's dump module takes the file from ``+dumpfile_path``, and cocotb passes vvp
    ``-fst``; vvp's dumpers honour the last format flag on the command line, and cocotb's runner
    appends ``SIM_CMD_SUFFIX`` after its own flags, so ``-vcd`` there selects VCD. Verilator:
    cocotb's main loop takes the file from ``--trace-file`` (the format was fixed at build time).
    """
    if fmt is None:
        return [], [], {}
    if backend == "icarus":
        env = {"SIM_CMD_SUFFIX": (os.environ.get("SIM_CMD_SUFFIX", "") + " -vcd").strip()} if fmt == "vcd" else {}
        return [f"+dumpfile_path={path}"], [], env
    return [], ["--trace-file", str(path)], {}


def _hex_lines(words, digits):
    return "".join(f"{w:0{digits}x}\n" for w in words)


def run_plan(plan, stalls, max_cycles, backend, waves=None, seed=None, driver="harness", expect=None,
             info=None, progress=None, target="generic"):
    """Returns (output beats as (lanes, last), cycles), like the Amaranth backend.

    ``expect``: golden's packed output beats; the cocotb test then scoreboards them itself.
    ``waves``: the waveform file to write, .vcd or .fst (see sim.waves).
    ``target``: see :func:`build`.
    """
    if driver not in DRIVERS:
        raise BadParameter(f"driver must be one of {', '.join(DRIVERS)}, not {driver!r}")
    cfg = plan.config
    beats = plan.packed_beats()
    depths = (_pow2(len(beats) + 1, 1 << 14), _pow2(plan.n_out_beats, 1 << 12),
              _pow2(max_cycles, 1 << 18) if stalls.active else 2)
    wave_fmt = waves_format(waves, backend)
    runner, build_dir, top = build(cfg, backend, driver, wave_fmt, depths, progress=progress, target=target)
    with tempfile.TemporaryDirectory(prefix="adderhw-cocotb-") as tmp:
        tmp = Path(tmp)
        job = {"beats": beats, "n_out": plan.n_out_beats, "seed": seed, "stall_prob": stalls.prob, "stall_script": stalls.script,
               "max_cycles": max_cycles, "expect": expect,
               "out_file": str(tmp / "out.hex"), "cycles_file": str(tmp / "cycles.txt")}
        job_path = tmp / "job.json"
        job_path.write_text(json.dumps(job))
        plusargs = [f"+adderhw_job={job_path}"]
        if driver == "harness":
            (tmp / "f.hex").write_text(_hex_lines((f for f, _ in beats), -(-cfg.rows * cfg.width // 4)))
            (tmp / "a.hex").write_text(_hex_lines((a for _, a in beats), -(-(cfg.cols * cfg.width + 1) // 4)))
            plusargs += [f"+n_beats={len(beats)}", f"+n_out={plan.n_out_beats}", f"+max_cycles={max_cycles}",
                         f"+beats_f={tmp / 'f.hex'}", f"+beats_a={tmp / 'a.hex'}",
                         f"+out_file={job['out_file']}", f"+cycles_file={job['cycles_file']}"]
            if stalls.active:
                (tmp / "s.hex").write_text(_hex_lines(stalls.table(max_cycles), 1))
                plusargs += ["+stalls=1", f"+stall_file={tmp / 's.hex'}"]
        wave_file = tmp / f"waves.{wave_fmt}" if wave_fmt else None
        wave_plusargs, test_args, wave_env = _wave_options(backend, wave_fmt, wave_file)
        res_path = run_testbench(runner, build_dir, top, backend, "adderhw.sim.cocotb_tb",
                                 "harness" if driver == "harness" else "gemm_stream", tmp, plusargs + wave_plusargs,
                                 Path(str(job_path) + ".result.json"), "the array", waves=waves,
                                 test_args=test_args, extra_env=wave_env,
                                 log_lines=lambda line: ("Error" in line or "FAIL" in line or "assert" in line.lower()
                                                         or "differs" in line))
        res = json.loads(res_path.read_text())
        if info is not None:
            info["sim_seconds"] = res["sim_seconds"]
        if wave_file:
            if not wave_file.exists():
                raise ToolFailed(f"{backend} ran but wrote no waveform file {wave_file.name}")
            shutil.copyfile(wave_file, waves)
    return [plan.unpack_sum(w) for w in res["out"]], res["cycles"]


class SimulationMismatch(SimulationError):
    """The cocotb test failed (a scoreboard mismatch, a hang, or a simulator error)."""


def _failed(results_xml):
    _, fails = get_results(Path(results_xml))
    return fails > 0


def run_testbench(runner, build_dir, top, backend, test_module, testcase, test_dir, plusargs, result, what,
                  waves=False, test_args=(), extra_env=None, log_lines=None):
    """The one way adderhw runs a cocotb testbench on a built simulator: ``test_module``'s
    ``testcase`` on ``top`` in ``test_dir`` with ``plusargs``, the backend's tool variables set (and
    ``extra_env``), its log in ``test_dir/sim.log``. It fails, with a SimulationMismatch naming
    ``what`` and the log's tail (its lines that ``log_lines`` keeps, when given), when a test fails,
    the runner exits, or the file ``result`` the testbench writes is missing; returns ``result``."""
    log = Path(test_dir) / "sim.log"
    try:
        with scoped_environment({**tool_env(backend), **(extra_env or {})}):
            results = runner.test(test_module=test_module, hdl_toplevel=top, build_dir=build_dir, testcase=testcase,
                                  test_dir=test_dir, plusargs=list(plusargs), test_args=list(test_args),
                                  timescale=TIMESCALE, waves=bool(waves), log_file=log)
        failed = _failed(results)
    except SystemExit:                  # the runner exits when a test fails
        failed = True
    result = Path(result)
    if failed or not result.exists():
        text = log.read_text() if log.exists() else ""
        if log_lines is not None:
            text = "\n".join(line for line in text.splitlines() if log_lines(line))
        raise SimulationMismatch(f"{what}'s cocotb run on {backend} failed:\n{text[-3000:]}")
    return result
