"""``bench_fmax``: Fmax against array size, several nextpnr seeds per point, before and after.

The question it answers: does a large array keep the clock of a small one? For each board, kind
(SAD, LUT-MAC, DSP-MAC; ``boards.kinds``) and N in ``sizes``, the N x N benchmark harness is built
with each seed in ``seeds``; each point reports the min / median / max Fmax over the seeds. Points
that cannot fit are skipped before building, from the logic cells per PE measured in the committed
``bench_pe.json`` (or the DSP count for DSP-MACs), because a failed ECP5 build of a large array
costs tens of minutes.

Builds are reused (``build_board(reuse=True)``, keyed by the build plan's digest), and ``partial``
receives the results so far after every build, so an interrupted run resumes where it stopped.
Order: every point with the first seed (largest first), then the next seed, so a partial run
already covers every size.

``before`` points (the multiplexer drain, one seed) come from ``docs/results/fmax_before.json``.

This module measures; the Markdown report of its result, and the plot where there is one, are
the application's (adderhw.board_reports).
"""
import json
import statistics
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from adderhw.base.config import ArrayConfig
from adderhw.base.executor import WorkerLost, then

from .build_job import BuildJob, build_executor, run_here, submit_build
from .kinds import KINDS
from .platforms import SWEEP_TARGET_MHZ, board as board_by_name

__all__ = ["bench_fmax", "DEFAULT_SIZES"]

DEFAULT_SIZES = {"ulx3s-85f": (4, 8, 16, 24), "icebreaker": (2, 4, 6)}
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def _logic_per_pe(board, kind):
    try:
        doc = json.loads((RESULTS / "bench_pe.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    for row in doc.get("rows", []):
        if row["board"] == board and row["variant"] == kind:
            return row["logic_per_pe"]
    return None


def _fits(board_name, kind, n):
    """(fits, reason): a rough capacity check before a build is spent on it."""
    b = board_by_name(board_name)
    pes = n * n
    if KINDS[kind].dsp and pes > b.dsps:
        return False, f"{pes} multipliers, {b.dsps} DSP blocks"
    per_pe = _logic_per_pe(board_name, kind) or KINDS[kind].floor_cost
    if pes * per_pe > 0.95 * b.luts:
        return False, f"about {pes * per_pe:.0f} logic cells needed ({per_pe:.0f} per PE), {b.luts} available"
    return True, None


def _job(board, kind, n, seed, template, freq, out_dir):
    config = KINDS[kind].config(template, n, n)
    options = ("" if config.sad_stage == "difference" else f"_sad-{config.sad_stage}") + \
              ("" if config.skew == "registers" else f"_skew-{config.skew}")
    return BuildJob(board, config, freq, KINDS[kind].dsp, seed,
                    str(Path(out_dir) / f"{board}_{kind}_{n}x{n}{options}_s{seed}"))


def _point(board, kind, n, seed, outcome):
    """(board, kind, n, seed, the point's numbers or None, why it failed or None)."""
    r = outcome.report
    if r is None:
        return board, kind, n, seed, None, outcome.why
    return board, kind, n, seed, {"fmax_mhz": r["fmax_mhz"], "logic": r["logic"]["used"],
                                  "logic_available": r["logic"]["available"], "ffs": r["ffs"], "luts": r["luts"],
                                  "dsp": r["dsp"]["used"], "build_seconds": r["build_seconds"]}, None


def _build(board, kind, n, seed, template, freq, out_dir):          # runs in a local worker process
    return _point(board, kind, n, seed, run_here(_job(board, kind, n, seed, template, freq, out_dir)))


def _submit(executor, board, kind, n, seed, template, freq, out_dir):
    if not executor.remote:
        return executor.submit(_build, board, kind, n, seed, template, freq, out_dir)
    job = _job(board, kind, n, seed, template, freq, out_dir)
    return then(submit_build(executor, job), lambda outcome: _point(board, kind, n, seed, outcome))


def _summary(runs, skipped, seeds, template, freq, complete):
    points = {}
    for (board, kind, n, seed), (r, why) in sorted(runs.items()):
        p = points.setdefault((board, kind, n), {"board": board, "kind": kind, "n": n, "pes": n * n, "seeds": {},
                                                  "failed": {}})
        if r:
            p["seeds"][str(seed)] = r
        else:
            p["failed"][str(seed)] = why
    out = []
    for p in points.values():
        f = [r["fmax_mhz"] for r in p["seeds"].values()]
        if f:
            p.update(fmax_min=min(f), fmax_median=statistics.median(f), fmax_max=max(f), runs=len(f))
        out.append(p)
    try:
        before = json.loads((RESULTS / "fmax_before.json").read_text())
    except (OSError, json.JSONDecodeError):
        before = None
    return {"width": template.width, "k_max": template.k_max, "sad_stage": template.sad_stage, "skew": template.skew,
            "target_mhz": freq, "seeds": list(seeds),
            "complete": complete, "points": out, "skipped": skipped, "before": before,
            "goal": {"board": "ulx3s-85f", "ratio_16_over_4": 0.9}}


def bench_fmax(boards=("ulx3s-85f", "icebreaker"), kinds=tuple(KINDS), sizes=None, seeds=(1, 2, 3), width=8,
               k_max=144, sad_stage="difference", skew="registers", freq=None, jobs=None, out_dir="build/bench_fmax",
               progress=None, partial=None, scheduler=None):
    """Build every point; returns the JSON-ready result (see the module docstring). ``jobs``: builds
    in flight (default 2 on the local pool, the cluster's worker threads with ``scheduler``);
    ``scheduler``: None for the local pool, else a Dask scheduler (see :mod:`adderhw.base.executor`).
    ``sad_stage`` and ``skew``: the ArrayConfig options of every array (``sad_stage`` for the SAD
    arrays only)."""
    say = progress or (lambda m: None)
    template = ArrayConfig(width=width, k_max=k_max, sad_stage=sad_stage, skew=skew)
    tasks, skipped = [], []
    for seed in seeds:
        for board in boards:
            for n in sorted((sizes or {}).get(board, DEFAULT_SIZES.get(board, (2, 4))), reverse=True):
                for kind in kinds:
                    ok, why = _fits(board, kind, n)
                    if not ok:
                        if seed == seeds[0]:
                            skipped.append({"board": board, "kind": kind, "n": n, "why": why})
                        continue
                    tasks.append((board, kind, n, seed))
    runs = {}
    with build_executor(jobs, scheduler, progress=say) as pool:
        if jobs is None:
            jobs = pool.slots()
        pending = {}
        queue = list(tasks)

        def submit():
            while queue and len(pending) < jobs:
                t = queue.pop(0)
                b = board_by_name(t[0])
                f = freq or SWEEP_TARGET_MHZ[b.family]
                pending[_submit(pool, *t, template, f, out_dir)] = t

        submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                t = pending.pop(fut)
                try:
                    board, kind, n, seed, r, why = fut.result()
                except WorkerLost as exc:                  # not kept: a new run tries it again
                    (board, kind, n, seed), r, why = t, None, str(exc)
                runs[(board, kind, n, seed)] = (r, why)
                counts = {}
                for (_, k, _, _) in runs:
                    counts[k] = counts.get(k, 0) + 1
                say(f"[{len(runs)}/{len(tasks)}] {board} {kind} {n}x{n} seed {seed}: "
                    + (f"{r['fmax_mhz']:.1f} MHz, {r['logic']}/{r['logic_available']} cells, {r['build_seconds']:.0f} s"
                       if r else f"failed ({why})")
                    + f" | {pool.status(len(runs), len(pending) + len(queue), counts)}")
                if partial:
                    doc = _summary(runs, skipped, seeds, template, freq, complete=False)
                    Path(partial).write_text(json.dumps(doc, indent=1) + "\n")
            submit()
    return _summary(runs, skipped, seeds, template, freq, complete=True)
