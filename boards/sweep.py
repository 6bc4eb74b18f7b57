"""``adderhw sweep``: the largest array of each PE kind that fits a device and meets a target clock.

Candidate arrays grow one row or one column at a time (1x1, 1x2, 2x2, 2x3, 3x3, ...), so the number
of PEs rises monotonically. For each kind (SAD; MAC on LUTs; MAC on DSP blocks) a search over that
list probes ``jobs`` candidates per round: a candidate passes when it places and routes and reaches
the target Fmax. The first round's candidates are spread up to an upper bound from the device's
logic capacity; each later round narrows to the interval between the largest pass and the smallest
failure. The kinds' searches are independent and share one pool of ``jobs`` processes: a kind
starts its next round as soon as its own round is done, so a long build of one kind does not hold
up the others. Designs that do not fit fail fast, in nextpnr's packer.

The coarse list skips PE counts (between 2x3 and 3x3 lies 2x4, which exactly fills eight DSP
blocks). So once a kind's coarse search has closed, the same search runs again over
:func:`fine_shapes`: every PE count between the largest pass and the smallest failure that an
array with aspect ratio at most 2 can have. The coarse probes are the same as without this
stage, so earlier builds are reused.

Two bounds. ``bound="clock"`` (the default) asks for the largest array that meets the target clock.
``bound="area"`` asks for the largest array that places and routes at all, whatever its Fmax, and
reports its throughput at its own Fmax: on a large device the clock can bind long before the
area does, and the clock-bound answer then understates what the logic allows. Both bounds build
each probe with the same options (the target clock is only nextpnr's goal), so the two searches
share their builds: a probe built by one is reused by the other.

Reported per kind: PEs, Fmax, peak throughput = PEs × Fmax (terms per second), and utilisation.
Long sweeps can be resumed: every probe's report is kept in its build directory and reused when the
design and options are unchanged, and ``partial`` (a path) receives the results so far after every
probe, marked ``"complete": false``.

This module measures; the Markdown report of its result, and the plot where there is one, are
the application's (adderhw.board_reports).
"""
import json
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from adderhw.base.config import ArrayConfig, check_config
from adderhw.base.errors import BadParameter
from adderhw.base.executor import WorkerLost, then

from .build_job import BuildJob, build_executor, run_here, submit_build
from .kinds import KINDS
from .platforms import SWEEP_TARGET_MHZ, board as board_by_name

__all__ = ["sweep", "candidate_shapes", "fine_shapes"]


def candidate_shapes(limit=64):
    shapes = []
    for n in range(1, limit + 1):
        shapes.append((n, n))
        if n < limit:
            shapes.append((n, n + 1))
    return shapes


def fine_shapes(lo_pes, hi_pes):
    """Shapes rows x cols with rows <= cols <= 2 rows and lo_pes < rows·cols < hi_pes, one per PE
    count (the squarest), in increasing PE count."""
    best = {}
    for r in range(1, 65):
        for c in range(r, min(2 * r, 64) + 1):
            n = r * c
            if lo_pes < n < hi_pes and (n not in best or c - r < best[n][1] - best[n][0]):
                best[n] = (r, c)
    return [best[n] for n in sorted(best)]


def _job(board, kind, shape, template, freq, seed, out_dir):
    cfg = KINDS[kind].config(template, *shape)
    return BuildJob(board, cfg, freq, KINDS[kind].dsp, seed, str(Path(out_dir) / f"{kind}_{shape[0]}x{shape[1]}"))


BOUNDS = ("clock", "area")


def _verdict(kind, shape, outcome, bound="clock"):
    """(kind, shape, report or None, why it fails or None) of a build's outcome; with ``bound="area"``
    a design that places and routes passes whatever its Fmax."""
    r = outcome.report
    if r is None:
        return kind, shape, None, outcome.why
    pes = shape[0] * shape[1]
    if kind == "mac+dsp" and r["dsp"]["used"] < pes:
        return kind, shape, r, f"only {r['dsp']['used']} of {pes} multipliers in DSP blocks"
    return kind, shape, r, None if r["timing_met"] or bound == "area" else f"Fmax {r['fmax_mhz']:.1f} MHz below target"


def _probe(board, kind, shape, template, freq, seed, out_dir, bound):  # runs in a local worker process
    return _verdict(kind, shape, run_here(_job(board, kind, shape, template, freq, seed, out_dir)), bound)


def _submit(executor, board, kind, shape, template, freq, seed, out_dir, bound):
    """A future of the probe's (kind, shape, report, why), on the local pool or on a cluster."""
    if not executor.remote:
        return executor.submit(_probe, board, kind, shape, template, freq, seed, out_dir, bound)
    job = _job(board, kind, shape, template, freq, seed, out_dir)
    return then(submit_build(executor, job), lambda outcome: _verdict(kind, shape, outcome, bound))


def sweep(board_name, kinds=tuple(KINDS), config=None, freq=None, jobs=None, seed=1,
          out_dir="build/sweep", progress=None, start_bounds=None, partial=None, scheduler=None, bound="clock",
          start_pes=None):
    """Returns a JSON-ready dict. ``config``: the ArrayConfig whose width and k_max every probe uses
    (default 8-bit, k_max 144); ``start_bounds``: {kind: max PEs to consider} to cap the search.
    ``jobs``: probes per round of a kind (default 2 on the local pool, the cluster's worker
    threads with ``scheduler``); ``scheduler``: None for the local pool of ``jobs`` processes, else
    a Dask scheduler (``tcp://HOST:8786`` or ``local:N``, see :mod:`adderhw.base.executor`);
    ``bound``: "clock" (the largest array meeting ``freq``) or "area" (the largest that places and
    routes at any clock);
    ``start_pes``: where each kind's search starts, for instance an earlier sweep's answer: the first
    round probes the largest candidate of at most that many PEs and spreads the rest of its probes
    above it, instead of over the whole range. It is a hint only: that probe is built and judged like
    any other, and if it fails the search goes on below it."""
    if bound not in BOUNDS:
        raise BadParameter(f"bound must be one of {', '.join(BOUNDS)}, not {bound!r}")
    if start_pes is not None and (isinstance(start_pes, bool) or not isinstance(start_pes, int) or start_pes < 1):
        raise BadParameter(f"start_pes must be a positive integer, not {start_pes!r}")
    template = check_config(ArrayConfig(width=8, k_max=144) if config is None else config)
    b = board_by_name(board_name)
    freq = freq or SWEEP_TARGET_MHZ[b.family]
    say = progress or (lambda m: None)
    shapes = candidate_shapes()
    state = {}
    for kind in kinds:
        cap = min((start_bounds or {}).get(kind) or b.luts, b.luts // KINDS[kind].floor_cost)
        if KINDS[kind].dsp:
            cap = min(cap, b.dsps)
        hi = max(i for i, s in enumerate(shapes) if s[0] * s[1] <= max(cap, 1))
        # shapes[lo] passes, shapes[hi] fails (or lies past the cap)
        state[kind] = {"shapes": shapes, "lo": -1, "hi": hi + 1, "cap": cap, "refined": False, "best": None,
                       "probes": []}
    probe_no = 0
    with build_executor(jobs, scheduler, progress=say) as pool:
        if jobs is None:
            jobs = pool.slots()
        running = {}                                       # future -> (kind, shape index)

        def next_round(kind):                              # a kind's next probes, once none are in flight
            st = state[kind]
            gap = st["hi"] - st["lo"]
            if gap <= 1 and not st["refined"]:            # the coarse search has closed: refine
                st["refined"] = True
                lo_pes = st["best"]["pes"] if st["best"] else 0
                hi_pes = st["cap"] + 1
                if st["hi"] < len(st["shapes"]):
                    hi_pes = min(hi_pes, st["shapes"][st["hi"]][0] * st["shapes"][st["hi"]][1])
                st["shapes"] = fine_shapes(lo_pes, hi_pes)
                st["lo"], st["hi"] = -1, len(st["shapes"])
                gap = st["hi"] - st["lo"]
            if gap <= 1:
                return
            k = min(jobs, gap - 1)
            if start_pes and not st["probes"] and not st["refined"]:   # the first round starts at the hint
                first = max((i for i in range(st["hi"]) if st["shapes"][i][0] * st["shapes"][i][1] <= start_pes),
                            default=0)
                above = st["hi"] - first
                picks = {first} | {first + max(1, (above * j) // k) for j in range(1, k) if above > 1}
            else:                                          # spread over the open interval
                picks = {st["lo"] + max(1, (gap * (j + 1)) // (k + 1)) for j in range(k)}
            for i in sorted(picks):
                if st["lo"] < i < st["hi"]:
                    f = _submit(pool, board_name, kind, st["shapes"][i], template, freq, seed, out_dir, bound)
                    running[f] = (kind, i)

        for kind in state:
            next_round(kind)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                kind, i = running.pop(f)
                try:
                    _, shape, r, why = f.result()
                except WorkerLost as exc:                  # not kept: a new run tries it again
                    shape, r, why = state[kind]["shapes"][i], None, str(exc)
                probe_no += 1
                st = state[kind]
                entry = {"rows": shape[0], "cols": shape[1], "pes": shape[0] * shape[1], "passed": why is None,
                         "why": why}
                if r:
                    entry.update(fmax_mhz=r["fmax_mhz"], luts=r["luts"], logic=r["logic"]["used"],
                                 logic_available=r["logic"]["available"], dsp=r["dsp"]["used"], ffs=r["ffs"])
                st["probes"].append(entry)
                if why is None:
                    if i > st["lo"]:
                        st["lo"], st["best"] = i, entry
                else:
                    st["hi"] = min(st["hi"], i)
                counts = {k: len(v["probes"]) for k, v in state.items()}
                say(f"[probe {probe_no}] {kind} {shape[0]}x{shape[1]}: "
                    + ("pass" if why is None else f"fail ({why})")
                    + (f", {r['fmax_mhz']:.1f} MHz, {r['logic']['used']}/{r['logic']['available']} "
                       f"{r['logic']['cell']}" if r else "")
                    + f" | {pool.status(probe_no, len(running), counts)}")
                if partial:
                    doc = _summary(b, template, freq, seed, state, complete=False, bound=bound)
                    Path(partial).write_text(json.dumps(doc, indent=2) + "\n")
                if not any(k == kind for k, _ in running.values()):
                    next_round(kind)
    return _summary(b, template, freq, seed, state, complete=True, bound=bound)


def _summary(b, template, freq, seed, state, complete, bound="clock"):
    results = []
    for kind, st in state.items():
        best = st["best"]
        results.append({
            "kind": kind, "best": best,
            "throughput_gops": (best["pes"] * best["fmax_mhz"] / 1e3) if best else 0.0,
            "probes": sorted(st["probes"], key=lambda p: p["pes"]),
        })
    return {"board": b.name, "device": b.device, "width": template.width, "k_max": template.k_max,
            "sad_stage": template.sad_stage, "skew": template.skew,
            "target_mhz": freq, "seed": seed, "bound": bound, "complete": complete, "results": results}
