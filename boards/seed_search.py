"""Trying nextpnr seeds in turn until one places the design and meets timing.

On a nearly full device nextpnr's result depends on its seed: the iCEBreaker 8x2 broadcast engine
(89 % of the UP5K) placed on seeds 2 and 3 and found no legal placement on seed 1 through the PLL,
and the other way round at the oscillator. :func:`search_seeds` makes "try a few seeds" one
command: it builds with each seed of a list, in its own directory ``seed-<n>``, and stops at the
first build that places and meets timing at its clock.

* A build that nextpnr gave up placing or routing, or that ran past its time limit
  (boards.build.PlacementGaveUp), moves on to the next seed.
* A design too large for the device (any other DesignDoesNotFit) ends the search at once: no
  seed changes a cell count.
* When no seed meets timing, the placed build with the highest Fmax is the answer (its
  ``timing_met`` is false); when none placed, DesignDoesNotFit names every seed's reason.

The report returned (also ``out/report.json``) is the chosen build's, with ``bitstream`` relative
to ``out`` and ``seeds_tried``: each seed's outcome in order ("timing met", "timing missed", "not
placed", "timed out"), with its Fmax or reason. One seed builds in ``out`` itself, as before.
"""
import json
from pathlib import Path

from adderhw.base.errors import BadParameter

from .build import BuildTimedOut, DesignDoesNotFit, PlacementGaveUp

__all__ = ["search_seeds", "check_seeds"]


def check_seeds(seeds, name="seed"):
    """``seeds`` as a tuple of distinct non-negative ints (one int is one seed); anything else is
    refused in one sentence naming ``name``."""
    values = (seeds,) if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values) \
            or len(set(values)) != len(values):
        raise BadParameter(f"{name} must be a non-negative integer or a list of distinct ones, not {seeds!r}")
    return values


def search_seeds(build, seeds, out, progress=None):
    """Build with each of ``seeds`` in turn (``build(seed, out_dir)`` returns a report with
    ``fmax_mhz``, ``timing_met`` and ``bitstream``, or raises) until one meets timing; see the module
    docstring. Returns the chosen report."""
    seeds = check_seeds(seeds)
    out = Path(out)
    if len(seeds) == 1:
        return build(seeds[0], out)
    say = progress or (lambda msg: None)
    tried, best = [], None
    for seed in seeds:
        say(f"seed {seed} of {', '.join(map(str, seeds))}")
        try:
            r = build(seed, out / f"seed-{seed}")
        except PlacementGaveUp as e:
            outcome = "timed out" if isinstance(e, BuildTimedOut) else "not placed"
            tried.append({"seed": seed, "outcome": outcome, "reason": str(e)})
            say(f"seed {seed}: {outcome}: {e}")
            continue
        met = bool(r["timing_met"])
        tried.append({"seed": seed, "outcome": "timing met" if met else "timing missed", "fmax_mhz": r["fmax_mhz"]})
        say(f"seed {seed}: Fmax {r['fmax_mhz']:.1f} MHz, timing {'met' if met else 'missed'}")
        if best is None or r["fmax_mhz"] > best[1]["fmax_mhz"]:
            best = (seed, r)
        if met:
            break
    if best is None:
        raise DesignDoesNotFit(f"no seed of {', '.join(map(str, seeds))} placed the design: "
                               + "; ".join(f"seed {t['seed']}: {t['reason']}" for t in tried))
    seed, r = best
    report = dict(r, bitstream=r["bitstream"] and f"seed-{seed}/{r['bitstream']}", seeds_tried=tried)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
