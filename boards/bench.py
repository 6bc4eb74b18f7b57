"""``adderhw bench pe``: the headline table, logic per PE of the SAD PE against the MAC PE.

For each board and PE kind (SAD; MAC on LUTs; MAC on DSP blocks) the benchmark harness is built
for several R x C arrays (N x N by default). Array periphery (input skew, generator, output
reduction) grows with R + C and the PEs with R·C, so the cost per PE is c in a least-squares fit
cost = a + b·(R + C) + c·R·C of LUT4s (and flip-flops, logic cells): the harness overhead cancels.
MAC on DSP blocks needs one block per PE, so on small devices it uses the shapes
1x1, 1x2, 2x2, 2x4, ... that fit the device's DSP blocks. Fmax is reported at the largest array. All numbers come from nextpnr's report JSON and Yosys's stat JSON.

This module measures; the Markdown report of its result, and the plot where there is one, are
the application's (adderhw.board_reports).
"""
from concurrent.futures import as_completed
from pathlib import Path

import numpy as np

from adderhw.base.config import ArrayConfig

from .build import build_board
from .build_job import build_executor
from .kinds import KINDS
from .platforms import board as board_by_name

__all__ = ["VARIANTS", "bench_pe", "check_baseline", "bench_pe_widths", "widths_table"]

#: the kinds compared, in table order
VARIANTS = tuple(KINDS)


def _one(board, variant, shape, template, freq, seed, out_dir):
    cfg = KINDS[variant].config(template, *shape)
    r = build_board(board, cfg, freq_mhz=freq, dsp=KINDS[variant].dsp, seed=seed,
                    out_dir=Path(out_dir) / f"{board}_{variant}_{shape[0]}x{shape[1]}", versions=False)
    return board, variant, shape, r


def _shapes(board_name, variant, sizes):
    shapes = [(n, n) for n in sizes]
    dsps = board_by_name(board_name).dsps
    if variant == "mac+dsp" and max(r * c for r, c in shapes) > dsps:
        # every small shape that fits the DSP blocks, each with its transpose, at least six where the
        # device allows: with rows and columns apart the fit (_per_pe) has four coefficients, and
        # six shapes leave it two checks. Over three shapes it was exactly determined (on the UP5K
        # 1x1, 1x2, 2x2 gave -8 flip-flops per PE), and over four with one R + C term it moved by
        # 8 flip-flops per PE when the harness's per-column cost changed.
        small = [(1, 1), (1, 2), (2, 1), (2, 2), (4, 2), (2, 4), (4, 4), (4, 8), (8, 4)]
        shapes = [s for s in small if s[0] * s[1] <= dsps][:max(6, len(sizes))]
    return shapes


def _per_pe(shapes, values):
    """d of the least-squares fit values = a + b·R + c·C + d·R·C when the shapes tell rows and
    columns apart, else c of values = a + b·(R + C) + c·R·C (square shapes)."""
    x = np.array([[1.0, r, c, r * c] for r, c in shapes])
    if np.linalg.matrix_rank(x) < 4:
        x = np.array([[1.0, r + c, r * c] for r, c in shapes])
    return float(np.linalg.lstsq(x, np.array(values, dtype=float), rcond=None)[0][-1])


def bench_pe(boards=("icebreaker", "ulx3s-85f"), sizes=(1, 2, 4), width=8, k_max=144, freq=None,
             seed=1, out_dir="build/bench_pe", jobs=None, progress=None, scheduler=None):
    """Build every point. ``jobs``, ``scheduler``: where the builds run (:func:`.build_job.build_executor`); on a
    cluster each report comes back with its result and the build files stay on the worker."""
    say = progress or (lambda m: None)
    template = ArrayConfig(width=width, k_max=k_max)
    tasks = [(b, v, shape) for b in boards for v in VARIANTS for shape in _shapes(b, v, sizes)]
    results = {}
    with build_executor(jobs, scheduler, progress=say) as pool:
        futures = [pool.submit(_one, b, v, shape, template, freq, seed, out_dir) for b, v, shape in tasks]
        for i, f in enumerate(as_completed(futures), 1):
            b, v, shape, r = f.result()
            results[(b, v, shape)] = r
            say(f"[{i}/{len(tasks)}] {b} {v} {shape[0]}x{shape[1]}: {r['luts']} LUT4s, {r['ffs']} FFs, "
                f"{r['dsp']['used']} DSPs, {r['fmax_mhz']:.1f} MHz")
    rows = []
    for b in boards:
        for label in VARIANTS:
            pe, dsp = KINDS[label].pe, KINDS[label].dsp
            shapes = _shapes(b, label, sizes)
            pts = [results[(b, label, s)] for s in shapes]
            big = pts[-1]
            rows.append({
                "board": b, "device": big["device"], "variant": label, "pe": pe, "dsp": dsp,
                "luts_per_pe": _per_pe(shapes, [p["luts"] for p in pts]),
                "ffs_per_pe": _per_pe(shapes, [p["ffs"] for p in pts]),
                "logic_per_pe": _per_pe(shapes, [p["logic"]["used"] for p in pts]),
                "logic_cell": big["logic"]["cell"],
                "dsps_per_pe": big["dsp"]["used"] / big["config"]["pes"],
                "fmax_mhz": big["fmax_mhz"], "fmax_size": f"{shapes[-1][0]}x{shapes[-1][1]}",
                "points": [{"rows": s[0], "cols": s[1], "pes": s[0] * s[1], "luts": p["luts"], "ffs": p["ffs"],
                            "logic": p["logic"]["used"], "dsp": p["dsp"]["used"], "fmax_mhz": p["fmax_mhz"]}
                           for s, p in zip(shapes, pts)],
            })
    ratios = {}
    for b in boards:
        by = {r["variant"]: r for r in rows if r["board"] == b}
        ratios[b] = {
            "sad_over_mac_luts": by["sad"]["luts_per_pe"] / by["mac"]["luts_per_pe"],
            "sad_over_mac_logic": by["sad"]["logic_per_pe"] / by["mac"]["logic_per_pe"],
            "sad_over_mac_fmax": by["sad"]["fmax_mhz"] / by["mac"]["fmax_mhz"],
            "sad_over_macdsp_fmax": by["sad"]["fmax_mhz"] / by["mac+dsp"]["fmax_mhz"],
        }
    return {"width": width, "k_max": k_max, "sizes": list(sizes), "seed": seed, "freq_mhz": freq,
            "rows": rows, "ratios": ratios,
            "goals": {"sad_over_mac_luts_ice40": 0.25, "sad_over_mac_fmax": 1.3}}


def bench_pe_widths(widths=(4, 6, 8), **kw):
    """:func:`bench_pe` at each operand width (the same boards, sizes and seed); returns
    {"widths", "by_width": {width: bench_pe result}, "table": one row per board and width}. How the
    SAD/MAC ratio moves with width: a W-bit SAD PE's adders grow with W, a multiplier with W^2."""
    by_width = {}
    for w in widths:
        say = kw.get("progress") or (lambda m: None)
        say(f"bench pe at {w} bits")
        by_width[w] = bench_pe(width=w, **kw)
    return {"widths": list(widths), "by_width": {str(w): r for w, r in by_width.items()},
            "table": widths_table(by_width)}


def widths_table(by_width):
    """One row per board and width from {width: bench_pe result}: per-PE costs (the fit) and the
    whole largest N x N design's LUT4s (no fit: a check on the fit, which three sizes determine
    exactly and a few LUTs of synthesis noise move)."""
    table = []
    for w, r in by_width.items():
        w = int(w)
        for b, q in r["ratios"].items():
            by = {row["variant"]: row for row in r["rows"] if row["board"] == b}
            table.append({"board": b, "width": w,
                          **{f"{v}_{k}": by[v][k] for v in ("sad", "mac", "mac+dsp")
                             for k in ("luts_per_pe", "ffs_per_pe", "logic_per_pe", "fmax_mhz")},
                          **{f"{v}_largest_luts": by[v]["points"][-1]["luts"] for v in ("sad", "mac")
                             if "points" in by[v]},
                          "largest": by["sad"].get("fmax_size"),
                          "sad_over_mac_luts": q["sad_over_mac_luts"], "sad_over_mac_logic": q["sad_over_mac_logic"],
                          "sad_over_mac_fmax": q["sad_over_mac_fmax"]})
    return table


def check_baseline(result, baseline):
    """Compare a ``bench_pe`` result with a baseline; returns the violations as sentences (none: pass).

    ``baseline``: {"tolerance": {"luts_per_pe": rel, "ffs_per_pe": rel, "fmax_mhz": rel},
    "rows": [{"board", "variant", "luts_per_pe", "ffs_per_pe", "fmax_mhz"}, ...]}. Cost may not grow
    by more than its tolerance (shrinking is welcome; update the baseline in a deliberate commit);
    Fmax may not fall by more than its tolerance (placement moves it a little from run to run)."""
    tol = baseline["tolerance"]
    got = {(r["board"], r["variant"]): r for r in result["rows"]}
    bad = []
    for base in baseline["rows"]:
        r = got.get((base["board"], base["variant"]))
        if r is None:
            continue
        for key in ("luts_per_pe", "ffs_per_pe"):
            if r[key] > base[key] * (1 + tol[key]):
                bad.append(f"{base['board']} {base['variant']}: {key} {r[key]:.1f} exceeds the baseline "
                           f"{base[key]:.1f} by more than {100 * tol[key]:.0f} %")
        if r["fmax_mhz"] < base["fmax_mhz"] * (1 - tol["fmax_mhz"]):
            bad.append(f"{base['board']} {base['variant']}: Fmax {r['fmax_mhz']:.1f} MHz is more than "
                       f"{100 * tol['fmax_mhz']:.0f} % below the baseline {base['fmax_mhz']:.1f} MHz")
    return bad
