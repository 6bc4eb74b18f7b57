"""``adderhw bench pe``: the headline table, logic per PE of the SAD PE against the MAC PE.

For each board and PE kind (SAD; MAC on LUTs; MAC on DSP blocks) the benchmark harness is built
for several R x C arrays (N x N by default). Array periphery (input skew, generator, output
reduction) grows with R + C and the PEs with R·C, so the cost per PE is c in a least-squares fit
cost = a + b·(R + C) + c·R·C of LUT4s (and flip-flops, logic cells): the harness overhead cancels.
MAC on DSP blocks needs one block per PE, so on small devices it uses the shapes
1x1, 1x2, 2x2, 2x4, ... that fit the device's DSP blocks. Fmax is reported at the largest array. All numbers come from nextpnr's report JSON and Yosys's stat JSON.
"""
from concurrent.futures import as_completed
from pathlib import Path

import numpy as np

from adderhw.base.config import ArrayConfig

from adderhw.base.tables import markdown_table, pyplot

from .build import build_board
from .executor import make_executor
from .kinds import KINDS
from .platforms import board as board_by_name

__all__ = ["VARIANTS", "bench_pe", "format_bench_pe", "plot_bench_pe", "check_baseline", "bench_pe_widths",
           "format_bench_pe_widths", "plot_bench_pe_widths", "widths_table"]

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
    """Build every point. ``jobs``, ``scheduler``: where the builds run (:mod:`.executor`); on a
    cluster each report comes back with its result and the build files stay on the worker."""
    say = progress or (lambda m: None)
    template = ArrayConfig(width=width, k_max=k_max)
    tasks = [(b, v, shape) for b in boards for v in VARIANTS for shape in _shapes(b, v, sizes)]
    results = {}
    with make_executor(jobs, scheduler, progress=say) as pool:
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


def format_bench_pe(r):
    lines = [f"Cost per PE at {r['width']} bits (K <= {r['k_max']}): c in cost = a + b(R+C) + c·RC fitted over "
             f"N x N arrays, N in {r['sizes']} (MAC+DSP on iCE40: d in a + bR + cC + d·RC over the shapes that fit "
             f"its DSP blocks and their transposes); Fmax at the last array. nextpnr + Yosys (YoWASP), seed {r['seed']}.",
             "", markdown_table(
                 ["board", "PE", "LUT4 / PE", "FF / PE", "logic cells / PE", "DSP / PE", "Fmax (MHz) at"],
                 [[f"{row['board']} ({row['device']})", row["variant"], f"{row['luts_per_pe']:.1f}",
                   f"{row['ffs_per_pe']:.1f}", f"{row['logic_per_pe']:.1f} {row['logic_cell']}",
                   f"{row['dsps_per_pe']:.1f}", f"{row['fmax_mhz']:.1f} at {row['fmax_size']}"] for row in r["rows"]],
                 "llrrrrr"), ""]
    for b, q in r["ratios"].items():
        lines.append(f"{b}: SAD / MAC (LUTs) LUT4s per PE {q['sad_over_mac_luts']:.3f}, logic cells per PE "
                     f"{q['sad_over_mac_logic']:.3f}; Fmax SAD / MAC {q['sad_over_mac_fmax']:.2f}, "
                     f"SAD / MAC+DSP {q['sad_over_macdsp_fmax']:.2f}.")
    g = r["goals"]
    lines.append(f"Goals: SAD LUT4s per PE <= {g['sad_over_mac_luts_ice40']}x the MAC's on iCE40 without DSPs; "
                 f"SAD Fmax >= {g['sad_over_mac_fmax']}x the MAC's.")
    return "\n".join(lines)


def plot_bench_pe(r, path):
    plt = pyplot()
    boards = sorted({row["board"] for row in r["rows"]})
    fig, axes = plt.subplots(1, len(boards), figsize=(6 * len(boards), 4.5), squeeze=False)
    for ax, b in zip(axes[0], boards):
        cell = ""
        for row in (x for x in r["rows"] if x["board"] == b):
            pes = [p["pes"] for p in row["points"]]
            cell = row["logic_cell"]
            ax.plot(pes, [p["logic"] for p in row["points"]], "o-",
                    label=f"{row['variant']}: {row['logic_per_pe']:.0f} cells/PE ({row['luts_per_pe']:.0f} LUT4), "
                          f"{row['fmax_mhz']:.0f} MHz")
        # logic cells, not LUT4s: on ECP5 the adders sit in CCU2C carry cells, which LUT4 counts leave out
        ax.set_title(f"{b}: logic cells vs PEs ({r['width']}-bit)")
        ax.set_xlabel("PEs")
        ax.set_ylabel(f"{cell} used (whole design)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def format_bench_pe_widths(r):
    first = next(iter(r["by_width"].values()))
    first_size = r["table"][0].get("largest") or "largest"
    rows = [[t["board"], f"{t['width']}", f"{t['sad_luts_per_pe']:.1f}", f"{t['sad_ffs_per_pe']:.1f}",
             f"{t['mac_luts_per_pe']:.1f}", f"{t['mac_ffs_per_pe']:.1f}", f"**{t['sad_over_mac_luts']:.3f}**",
             f"{t['sad_over_mac_logic']:.3f}",
             f"{t['sad_largest_luts']:,} / {t['mac_largest_luts']:,} = {t['sad_largest_luts'] / t['mac_largest_luts']:.2f}",
             f"{t['sad_fmax_mhz']:.1f}", f"{t['mac_fmax_mhz']:.1f}",
             f"{t['mac+dsp_fmax_mhz']:.1f}", f"{t['sad_over_mac_fmax']:.2f}"]
            for t in sorted(r["table"], key=lambda t: (t["board"], t["width"]))]
    return "\n".join([
        f"# Cost per PE against the operand width ({', '.join(map(str, r['widths']))} bits)", "",
        f"Per-PE costs fitted over N x N arrays, N in {first['sizes']} (K <= {first['k_max']}), seed "
        f"{first['seed']}; Fmax at the largest array. One `bench pe` run per width, each in bench_pe_w<W>.*.", "",
        markdown_table(["board", "bits", "SAD LUT4/PE", "SAD FF/PE", "MAC LUT4/PE", "MAC FF/PE", "SAD/MAC LUT4",
                        "SAD/MAC logic cells", f"whole {first_size} design, LUT4 SAD / MAC", "SAD MHz", "MAC MHz",
                        "MAC+DSP MHz", "SAD/MAC Fmax"], rows, "lrrrrrrrrrrrr"), ""])


def plot_bench_pe_widths(r, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for b in sorted({t["board"] for t in r["table"]}):
        ts = sorted((t for t in r["table"] if t["board"] == b), key=lambda t: t["width"])
        ws = [t["width"] for t in ts]
        axes[0].plot(ws, [t["sad_over_mac_luts"] for t in ts], "o-", label=f"{b}: LUT4")
        axes[0].plot(ws, [t["sad_over_mac_logic"] for t in ts], "s--", label=f"{b}: logic cells")
        axes[1].plot(ws, [t["sad_luts_per_pe"] for t in ts], "o-", label=f"{b}: SAD")
        axes[1].plot(ws, [t["mac_luts_per_pe"] for t in ts], "s--", label=f"{b}: MAC (LUTs)")
    axes[0].set_ylabel("SAD / MAC per PE")
    axes[1].set_ylabel("LUT4 per PE")
    for ax in axes:
        ax.set_xlabel("operand width (bits)")
        ax.set_xticks(r["widths"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("the adder's advantage against width")
    axes[1].set_title("logic per PE")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
