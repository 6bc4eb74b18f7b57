"""``adderhw bench lanes``: the post-processing's lanes L against cells and cycles (issue 28).

For one board and one array shape, the engine is built for every L that divides the array's C
columns (EngineConfig.post_lanes; L = C is the engine of one lane per column). Each build keeps its
hierarchy (boards.breakdown), so the post-processing's own LUT4 come from the same netlist as the
whole design's. Cycles per image come from the engine cycle model (golden.engine_cycles), which the
RTL equals exactly for every L (tests/hw/test_engine.py, tests/sim/test_engine_random.py): with
L < C each drained row takes C/L cycles, and every tile's drain R·(C/L − 1) cycles more.

The baseline is measured in the same run: L = C on the same board, array and network. Every other
L is reported as its ratio to it (LUT4, cycles per image, and images/s per 1,000 LUT4 at each
build's own Fmax). A design that does not fit still reports Yosys's LUT4 (its Fmax is missing).

Builds are reused when their design is unchanged (boards.engine_build), so a rerun of a finished
bench rebuilds nothing.

This module measures; the Markdown report of its result, and the plot where there is one, are
the application's (adderhw.board_reports).
"""
from pathlib import Path

from adderhw.base.errors import BadParameter

from .engine_build import ENGINE_BOARDS
from .engine_compare import _tag, build_one

__all__ = ["bench_lanes", "lane_choices"]


def lane_choices(cols, lanes=None):
    """The L to build: ``lanes`` (a list, each a divisor of ``cols``), or every divisor of ``cols``;
    always with L = C, the baseline."""
    divisors = [d for d in range(1, cols + 1) if cols % d == 0]
    if lanes is None:
        return divisors
    bad = [v for v in lanes if v not in divisors]
    if bad:
        raise BadParameter(f"--lanes must be divisors of the array's {cols} columns ({', '.join(map(str, divisors))}), "
                           f"not {bad[0]}")
    return sorted(set(lanes) | {cols})


def bench_lanes(board="icebreaker", rows=2, cols=4, network="digits", lanes=None, first_last="adder",
                requant="shift", mac_rows=2, seed=1, build_dir="build/engines", progress=print):
    """Build the engine for each L of :func:`lane_choices`; returns the result document."""
    if board not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)}, not {board!r}")
    choices = lane_choices(cols, lanes)
    points = []
    for i, lane_count in enumerate(sorted(choices, reverse=True)):
        post_lanes = 0 if lane_count == cols else lane_count
        progress(f"[{i + 1}/{len(choices)}] {board}: {rows}x{cols} engine with {lane_count} post-processing "
                 f"lane{'s' if lane_count > 1 else ''}")
        tag = _tag(board, network, "sad", rows, cols, mac_rows, True, first_last, requant, True, post_lanes=post_lanes)
        r = build_one(board, network, "sad", rows, cols, mac_rows, True, seed, Path(build_dir) / tag, progress,
                      first_last, requant, breakdown=True, post_lanes=post_lanes)
        blocks = r.get("blocks") or {}
        post = blocks.get("post-processing", {}).get("luts") if blocks else None
        fmax = r.get("fmax_mhz") if r["fits"] else None
        per_image = r["cycles_per_image"]
        points.append({"lanes": lane_count, "fits": r["fits"], "luts": r["luts"], "post_luts": post,
                       "ffs": r.get("ffs"), "logic": r.get("logic"), "fmax_mhz": fmax,
                       "cycles_per_image": per_image, "engine": r["engine"], "reason": r.get("reason"),
                       "images_per_s_per_klut": (fmax * 1e6 / per_image / (r["luts"] / 1000)) if fmax else None})
    base = next(p for p in points if p["lanes"] == cols)
    for p in points:
        p["luts_ratio"] = p["luts"] / base["luts"]
        p["cycles_ratio"] = p["cycles_per_image"] / base["cycles_per_image"]
        p["post_luts_ratio"] = (p["post_luts"] / base["post_luts"]) if p["post_luts"] and base["post_luts"] else None
    return {"board": board, "rows": rows, "cols": cols, "network": network, "first_last": first_last,
            "requant": requant, "mac_rows": mac_rows, "seed": seed, "points": points}
