"""A board build as a job that can run on any machine and brings its outcome home.

On the local pool a build runs in its directory under the client's ``--build-dir`` and reuses
what that directory keeps (``build_board(reuse=True)``), as it always has. On a cluster the worker
may be another machine, so:

* the client first looks in its own build directory: a kept report or no-fit record for the same
  design key (the build plan's digest) is used without submitting anything, so a resumed run never
  rebuilds what any worker built;
* the worker builds in a scratch directory of its own and returns a :class:`BuildOutcome`: the
  report, or the one-sentence reason the build failed, and for a design that does not fit its key;
* the client keeps the outcome in its build directory (``report.json``, or ``does_not_fit.json``
  with the key and the reason), exactly where a local build would have left it.

A build that fails for another reason (the tools exited with an error) is returned with its reason
and not kept: it is recorded once by the caller and retried only by a new run.

The builds run on :func:`build_executor`: base.executor's, whose every worker process stops the
builds it runs when it is stopped (boards.build_process).
"""
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from adderhw.base.config import ArrayConfig
from adderhw.base.executor import done_future, make_executor, then

from .build import BuildFailed, DesignDoesNotFit, build_board, keep_no_fit, kept_build
from .build_process import stop_builds_on_signals

__all__ = ["BuildJob", "BuildOutcome", "build_executor", "submit_build", "run_here", "run_anywhere"]


def build_executor(jobs=None, scheduler=None, progress=None):
    """The executor of a run of board builds (:func:`adderhw.base.executor.make_executor`'s
    arguments): every worker process, the local pool's and a cluster's, stops the builds it runs
    when it receives SIGTERM or SIGINT. The builds run in process groups of their own, which a
    signal to the worker alone would not reach."""
    return make_executor(jobs, scheduler, progress=progress, initializer=stop_builds_on_signals)


@dataclass(frozen=True)
class BuildJob:
    """One build: the board, the array, its options, and the client's directory for it."""
    board: str
    config: ArrayConfig
    freq_mhz: float
    dsp: bool
    seed: int
    out_dir: str


@dataclass(frozen=True)
class BuildOutcome:
    """What a build produced: ``report`` (None if it failed) or ``why`` it failed; ``no_fit_key``,
    the design key of a design that does not fit, so that the client can keep the record."""
    report: dict = None
    why: str = None
    no_fit_key: str = None
    kept: bool = False          # True when it came from the client's build directory, not a build


def _build(job, out_dir, reuse):
    try:
        r = build_board(job.board, job.config, freq_mhz=job.freq_mhz, dsp=job.dsp, seed=job.seed, out_dir=out_dir,
                        versions=False, reuse=reuse)
    except DesignDoesNotFit as exc:
        record = Path(out_dir) / "does_not_fit.json"
        key = json.loads(record.read_text())["design_key"] if record.exists() else None
        return BuildOutcome(why=str(exc), no_fit_key=key)
    except BuildFailed as exc:
        return BuildOutcome(why=str(exc).splitlines()[0])
    return BuildOutcome(report=r)


def run_here(job):
    """Build in ``job.out_dir`` on this machine, reusing what it keeps (the local pool's job)."""
    return _build(job, job.out_dir, reuse=True)


def run_anywhere(job):
    """Build in a scratch directory of the machine this runs on (a cluster worker's job); nothing
    is left behind there: what the client needs comes back in the outcome."""
    scratch = tempfile.mkdtemp(prefix="adderhw-build-")
    try:
        return _build(job, scratch, reuse=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _kept(job):
    try:
        r = kept_build(job.board, job.config, job.freq_mhz, job.dsp, job.seed, job.out_dir)
    except DesignDoesNotFit as exc:
        return BuildOutcome(why=str(exc), kept=True)
    return None if r is None else BuildOutcome(report=r, kept=True)


def _keep(job, outcome):
    """Write a worker's outcome into the client's build directory (runs on the client)."""
    out = Path(job.out_dir)
    if outcome.report is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(outcome.report, indent=2) + "\n")
    elif outcome.no_fit_key:
        keep_no_fit(out, outcome.no_fit_key, outcome.why)
    return outcome


def submit_build(executor, job):
    """A future of the job's :class:`BuildOutcome` on ``executor``: on a cluster, from the client's
    build directory if it keeps this design, else built on a worker and then kept here."""
    if not executor.remote:
        return executor.submit(run_here, job)
    kept = _kept(job)
    if kept is not None:
        return done_future(kept)
    return then(executor.submit(run_anywhere, job), lambda outcome: _keep(job, outcome))
