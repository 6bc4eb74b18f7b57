"""The board studies' reports: the Markdown tables and the plots of what boards/ measured.

Each board study (``bench pe``, ``bench fmax``, ``sweep``, ``bench lanes``, ``bench engine-fmax``,
``compare-boards``) measures in adderhw.boards and returns a JSON-ready result; this module turns
that result into the Markdown report that the CLI prints and writes beside the JSON
(``adderhw.cli._finish_study``), and into its PNG plot where a picture says more. Each function reads
only its result document, so a committed result in docs/results renders the same report again.

``format_X(result)`` returns the Markdown; ``plot_X(result, path)`` writes the PNG (matplotlib,
Agg backend: no display needed).
"""
from adderhw.base.pe_kind import PE_KINDS, pe_kind
from adderhw.base.tables import markdown_table, pyplot
from adderhw.boards.breakdown import BLOCKS
from adderhw.boards.engine_build import NEXTPNR_DEFAULTS
from adderhw.boards.engine_compare import FINE_ASPECT

__all__ = ["format_bench_pe", "plot_bench_pe", "format_bench_pe_widths", "plot_bench_pe_widths",
           "format_bench_fmax", "plot_bench_fmax", "format_sweep", "plot_sweep", "format_bench_lanes",
           "plot_bench_lanes", "format_bench_engine_fmax", "format_compare_boards", "plot_compare_boards",
           "format_compare_largest"]


def _board_panels(items, width):
    """pyplot, a figure with one panel per board named in ``items`` (side by side, in name order,
    ``width`` inches each), and the (axes, board) pairs."""
    plt = pyplot()
    boards = sorted({x["board"] for x in items})
    fig, axes = plt.subplots(1, len(boards), figsize=(width * len(boards), 4.5), squeeze=False)
    return plt, fig, zip(axes[0], boards)


def _save(plt, fig, path, dpi=110):
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


# ---- bench pe: the cost per PE (boards.bench) ------------------------------------------------------

def format_bench_pe(r):
    """The per-PE cost table of a :func:`adderhw.boards.bench.bench_pe` result, with its ratios and goals."""
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
    """Logic cells against PEs, one panel per board, a line per PE kind."""
    plt, fig, panels = _board_panels(r["rows"], 6)
    for ax, b in panels:
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
    _save(plt, fig, path)


def format_bench_pe_widths(r):
    """The SAD/MAC ratios against operand width of a :func:`adderhw.boards.bench.bench_pe_widths` result."""
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
    """The SAD/MAC ratios (left) and the LUT4s per PE (right) against operand width."""
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
    _save(plt, fig, path)


# ---- bench fmax: Fmax against array size (boards.fmax) ---------------------------------------------

def format_bench_fmax(r):
    """The min / median / max Fmax per board, kind and size of a :func:`adderhw.boards.fmax.bench_fmax`
    result, the points it skipped and its 16x16 / 4x4 goal."""
    rows = []
    for p in sorted(r["points"], key=lambda p: (p["board"], p["kind"], p["n"])):
        if "fmax_median" in p:
            rows.append([p["board"], p["kind"], f"{p['n']}x{p['n']}", p["pes"], f"{p['fmax_min']:.1f}",
                         f"{p['fmax_median']:.1f}", f"{p['fmax_max']:.1f}", p["runs"]])
        else:
            rows.append([p["board"], p["kind"], f"{p['n']}x{p['n']}", p["pes"], "-", "-", "-",
                         "0 (" + "; ".join(sorted(set(p["failed"].values())))[:80] + ")"])
    options = ("" if r.get("sad_stage", "difference") == "difference" else f", SAD stage 1: {r['sad_stage']}") + \
              ("" if r.get("skew", "registers") == "registers" else f", skew in {r['skew']}")
    lines = [f"Fmax against array size, {r['width']}-bit, K <= {r['k_max']}{options}, nextpnr seeds {r['seeds']}"
             + ("" if r["complete"] else " (partial: some builds have not run yet)") + ".", "",
             markdown_table(["board", "PE", "array", "PEs", "Fmax min", "median", "max (MHz)", "seeds"], rows,
                            "lllrrrrr")]
    for s in r["skipped"]:
        lines.append(f"- not built: {s['board']} {s['kind']} {s['n']}x{s['n']} ({s['why']})")
    by = {(p["board"], p["kind"], p["n"]): p for p in r["points"] if "fmax_median" in p}
    g = r["goal"]
    for kind in ("sad", "mac", "mac+dsp"):
        a, b = by.get((g["board"], kind, 4)), by.get((g["board"], kind, 16))
        if a and b:
            ratio = b["fmax_median"] / a["fmax_median"]
            lines.append(f"{g['board']} {kind}: median Fmax at 16x16 / 4x4 = {ratio:.2f} "
                         f"(goal >= {g['ratio_16_over_4']}: {'met' if ratio >= g['ratio_16_over_4'] else 'missed'})")
    return "\n".join(lines)


def plot_bench_fmax(r, path):
    """Median Fmax (min-max bars) against PEs per board, with the ``before`` points where given."""
    plt, fig, panels = _board_panels(r["points"], 6.5)
    colors = {"sad": "C0", "mac": "C1", "mac+dsp": "C2"}
    for ax, board in panels:
        for kind, color in colors.items():
            pts = sorted((p for p in r["points"] if p["board"] == board and p["kind"] == kind and "fmax_median" in p),
                         key=lambda p: p["pes"])
            if pts:
                x = [p["pes"] for p in pts]
                med = [p["fmax_median"] for p in pts]
                err = [[m - p["fmax_min"] for m, p in zip(med, pts)], [p["fmax_max"] - m for m, p in zip(med, pts)]]
                ax.errorbar(x, med, yerr=err, fmt="o-", color=color, capsize=3, label=f"{kind}, shift-chain drain")
            old = sorted((p for p in ((r.get("before") or {}).get("points", []))
                          if p["board"] == board and p["kind"] == kind), key=lambda p: p["pes"])
            if old:
                ax.plot([p["pes"] for p in old], [p["fmax_mhz"] for p in old], "x--", color=color, alpha=0.6,
                        label=f"{kind}, multiplexer drain (before, seed 1)")
        ax.set_xscale("log")
        ax.set_title(f"{board}: Fmax against PEs ({r['width']}-bit)")
        ax.set_xlabel("PEs (log scale)")
        ax.set_ylabel("Fmax (MHz): median, min-max over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(plt, fig, path)


# ---- sweep: the largest array that meets the clock (boards.sweep) ----------------------------------

def format_sweep(r):
    """The largest array of each kind of a :func:`adderhw.boards.sweep.sweep` result, and the
    throughput ratios."""
    what = ("that places and routes at any clock (built for "
            f"{r['target_mhz']:g} MHz; throughput at its own Fmax)" if r.get("bound") == "area"
            else f"that fits and meets {r['target_mhz']:g} MHz")
    stage = (f", SAD stage 1: {r['sad_stage']}" if r.get("sad_stage", "difference") != "difference" else "")
    stage += (f", skew in {r['skew']}" if r.get("skew", "registers") != "registers" else "")
    lines = [f"{r['board']} ({r['device']}), {r['width']}-bit, K <= {r['k_max']}{stage}: the largest array of each "
             f"kind {what} (seed {r['seed']}).", "",
             markdown_table(
                 ["PE", "array", "PEs", "Fmax (MHz)", "peak throughput (G terms/s)", "logic used", "DSP", "probes"],
                 [[x["kind"], f"{b['rows']}x{b['cols']}", b["pes"], f"{b['fmax_mhz']:.1f}",
                   f"{x['throughput_gops']:.2f}", f"{b['logic']}/{b['logic_available']}", b["dsp"], len(x["probes"])]
                  if (b := x["best"]) else [x["kind"], "none fits", 0, "-", 0, "-", "-", len(x["probes"])]
                  for x in r["results"]], "llrrrrrr")]
    by = {x["kind"]: x for x in r["results"]}
    if "sad" in by and "mac" in by and by["mac"]["throughput_gops"]:
        lines.append("")
        lines.append(f"SAD / MAC on LUTs: {by['sad']['throughput_gops'] / by['mac']['throughput_gops']:.2f}x "
                     "peak throughput" + (f"; SAD / MAC with DSPs: "
                                          f"{by['sad']['throughput_gops'] / by['mac+dsp']['throughput_gops']:.2f}x"
                                          if by.get("mac+dsp", {}).get("throughput_gops") else "") + ".")
    return "\n".join(lines)


def plot_sweep(r, path):
    """Logic against PEs of every probe (left) and each kind's peak throughput (right)."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for x in r["results"]:
        pts = [p for p in x["probes"] if "logic" in p]
        a1.plot([p["pes"] for p in pts], [p["logic"] for p in pts], "o-", label=x["kind"])
    if r["results"] and r["results"][0]["probes"]:
        avail = next((p["logic_available"] for x in r["results"] for p in x["probes"] if "logic_available" in p), None)
        if avail:
            a1.axhline(avail, color="gray", ls="--", label="device capacity")
    a1.set_xlabel("PEs")
    a1.set_ylabel("logic cells used")
    a1.set_title(f"{r['board']}: logic vs PEs")
    a1.grid(alpha=0.3)
    a1.legend()
    kinds = [x["kind"] for x in r["results"]]
    a2.bar(kinds, [x["throughput_gops"] for x in r["results"]], color=["C0", "C1", "C2"][:len(kinds)])
    a2.set_ylabel("peak throughput (G terms/s) = PEs x Fmax")
    a2.set_title("largest array that places and routes (own Fmax)" if r.get("bound") == "area"
                 else f"largest array meeting {r['target_mhz']:g} MHz")
    for i, x in enumerate(r["results"]):
        if x["best"]:
            a2.text(i, x["throughput_gops"], f"{x['best']['rows']}x{x['best']['cols']}\n{x['best']['fmax_mhz']:.0f} MHz",
                    ha="center", va="bottom", fontsize=8)
    _save(plt, fig, path)


# ---- bench lanes: post-processing lanes against cells and cycles (boards.lanes_bench) --------------

def format_bench_lanes(res):
    """One row per post-processing lane count L of a :func:`adderhw.boards.lanes_bench.bench_lanes`
    result, each with its ratios to L = C."""
    rows = []
    for p in res["points"]:
        rows.append([p["lanes"], "yes" if p["fits"] else "no", f"{p['luts']:,}",
                     "-" if p["post_luts"] is None else f"{p['post_luts']:,}",
                     f"{p['luts_ratio']:.2f}", f"{p['cycles_per_image']:,.1f}", f"{p['cycles_ratio']:.2f}",
                     "-" if p["fmax_mhz"] is None else f"{p['fmax_mhz']:.1f}",
                     "-" if p["images_per_s_per_klut"] is None else f"{p['images_per_s_per_klut']:,.0f}"])
    table = markdown_table(["L", "fits", "LUT4 (whole)", "LUT4 (post-processing)", "LUT4 / L=C",
                            "cycles/image", "cycles / L=C", "Fmax MHz", "images/s per 1k LUT4 at Fmax"], rows)
    variant = ("all-adder" if res["first_last"] == "adder" else "multiplier first and last layers") + \
        (", shift-only requant" if res["requant"] == "shift" else "")
    return "\n".join([
        f"# Post-processing lanes on {res['board']}: {res['rows']}x{res['cols']} {res['network']} AdderNet engine ({variant})",
        "", f"`{res.get('command', '')}`", "",
        f"Each row is one build of the same engine with L post-processing lanes; L = {res['cols']} (one per column) is "
        "the baseline, built in the same run. LUT4 from Yosys (per block from the hierarchical netlist, "
        "boards.breakdown); cycles per image from the engine cycle model, which the RTL equals for every L; Fmax "
        f"from nextpnr (seed {res['seed']}).", "", table, ""])


def plot_bench_lanes(res, path):
    """Cycles per image against LUT4, a point per lane count."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = res["points"]
    ax.plot([p["luts"] for p in pts], [p["cycles_per_image"] for p in pts], "o-")
    for p in pts:
        ax.annotate(f"L={p['lanes']}" + ("" if p["fits"] else " (no fit)"), (p["luts"], p["cycles_per_image"]),
                    textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("LUT4 (whole design)")
    ax.set_ylabel("cycles per image")
    ax.set_title(f"{res['board']} {res['rows']}x{res['cols']}: post-processing lanes")
    _save(plt, fig, path, dpi=120)


# ---- bench engine-fmax: the engine against its bare array (boards.engine_fmax) ---------------------

def _mhz(v):
    return "-" if v is None else f"{v:.1f}"


def format_bench_engine_fmax(res):
    """Every seed's Fmax of the engine and of its array alone, their medians' ratio against the goal,
    and the engine's critical paths (a :func:`adderhw.boards.engine_fmax.bench_engine_fmax` result)."""
    def dense(v):
        return "-" if v is None else f"{v:,.0f}"
    rows = [[r["seed"], _mhz(r["array_fmax_mhz"]), _mhz(r["engine_fmax_mhz"]),
             "-" if not r["array_fmax_mhz"] or not r["engine_fmax_mhz"] else
             f"{r['engine_fmax_mhz'] / r['array_fmax_mhz']:.2f}", f"{r['engine_luts']:,}",
             "-" if r.get("engine_carry_cells") is None else f"{r['engine_carry_cells']:,}",
             dense(r.get("images_per_s_per_kluts"))] for r in res["runs"]]
    rows.append(["**median**", _mhz(res["array_fmax_median_mhz"]), _mhz(res["engine_fmax_median_mhz"]),
                 "-" if res["ratio"] is None else f"**{res['ratio']:.2f}**", "", "",
                 dense(res.get("images_per_s_per_kluts_median"))])
    paths = [f"* seed {r['seed']}: `{p['from_cell']}` → `{p['to_cell']}`, {p['delay_ns']:.2f} ns, "
             f"{p['logic_levels']} logic levels" for r in res["runs"] if (p := r["engine_critical_path"])]
    verdict = "no ratio (a build did not fit)" if res["ratio"] is None else \
        f"{res['ratio']:.2f}x, goal >= {res['goal']}: {'met' if res['met'] else 'missed'}"
    return "\n".join([
        f"# The engine's Fmax against its array's on {res['board']}: {res['rows']}x{res['cols']}", "",
        f"`{res.get('command', '')}`", "",
        f"Engine: {res['engine']}, behind its UART link (the board top). Array alone: the benchmark harness of "
        f"{res['array']}. nextpnr seeds {', '.join(map(str, res['seeds']))}; both measured in this run.", "",
        markdown_table(["seed", "array alone MHz", "engine MHz", "engine / array", "engine LUT4", "engine carry cells",
                        "images/s per 1k LUT4 at Fmax"], rows, "rrrrrrr"), "",
        f"Engine / array, medians: {verdict}.", "",
        *([f"Images/s per 1,000 LUT4 at the engine's Fmax: {res['cycles_per_image']:,.1f} cycles per image (the "
           f"engine cycle model); LUT4 counts Yosys's LUT4 cells, and the carry cells (SB_CARRY on the iCE40, "
           f"CCU2C on the ECP5, each two LUT4-sized halves there) are apart.", ""]
          if res.get("cycles_per_image") else []),
        "The engine's critical path per seed:", "", *paths, ""])


# ---- compare-boards: whole accelerators on the boards (boards.engine_compare) ----------------------

def _variant(res):
    """The AdderNet engine's variant, as the tables' titles name it."""
    return {("adder", "shift"): " (all-adder, shift-only requantisation: no multiplier)",
            ("adder", "mul"): " (all-adder, no MAC array)", ("mul", "shift"): " (shift-only requantisation)"}.get(
        (res.get("first_last", "mul"), res.get("requant", "mul")), "")


def _cell(r, key, fmt):
    return fmt.format(r[key]) if r.get(key) is not None else "-"


def format_compare_boards(res):
    """The AdderNet engine against its CNN twin per board, array and DSP setting, with the pair's
    ratios and, where the builds kept their hierarchy, the logic per block (a
    :func:`adderhw.boards.engine_compare.compare_boards` result)."""
    rows = []
    for p in res["pairs"]:
        for pe in PE_KINDS:
            r = p[pe]
            fits = r["fits"]
            rows.append([p["board"], f"{p['rows']}x{p['cols']}", "yes" if p["dsp"] else "no",
                         pe_kind(pe).network, r["engine"], f"{r['luts']:,}", f"{r['ffs']:,}",
                         f"{r['dsp']['used']}" if fits else "-", f"{r['bram']['used']}" if fits else "-",
                         _cell(r, "fmax_mhz", "{:.1f}") if fits else "does not fit",
                         f"{r['cycles_per_image']:,.0f}",
                         _cell(r, "images_per_s_at_fmax", "{:,.0f}") if fits else "-",
                         (f"{1000 * r['images_per_s_at_fmax'] / r['luts']:,.1f}" if fits else "-")])
        ratio = p["ratio"]
        rows.append(["", "", "", "**AdderNet / CNN**", "", f"**{ratio['luts']:.2f}**", f"{ratio['ffs']:.2f}", "", "",
                     f"{ratio['fmax']:.2f}" if "fmax" in ratio else "-", "",
                     f"{ratio['images_per_s_at_fmax']:.2f}" if "images_per_s_at_fmax" in ratio else "-", ""])
    head = ["board", "array", "DSPs", "network", "engine", "LUT4", "FF", "DSP", "BRAM", "Fmax MHz", "cycles/image",
            "images/s at Fmax", "images/s per 1k LUT4"]
    variant = _variant(res)
    command = [f"`{res['command']}`", ""] if res.get("command") else []
    return "\n".join([f"# Whole accelerators on the boards: {res['network']} AdderNet{variant} against its CNN twin",
                      "", *command, markdown_table(head, rows, "lllllrrrrrrrr"), "",
                      "LUT4 and FF counts are Yosys's after synthesis (for a design that does not fit, the only "
                      "numbers there are); Fmax from nextpnr.", "", *_format_blocks(res)])


def _blocks_of(res):
    """[(label, report)] of the builds whose reports break their logic down per block."""
    return [(f"{p['board']} {p['rows']}x{p['cols']} {'DSP' if p['dsp'] else 'no DSP'} "
             f"{pe_kind(pe).network}", p[pe])
            for p in res["pairs"] for pe in PE_KINDS if p[pe].get("blocks")]


def _format_blocks(res):
    built = _blocks_of(res)
    if not built:
        return []
    rows = [[label, *(f"{r['blocks'][b]['luts']:,}" for b in BLOCKS), f"{r['luts']:,}",
             f"{r['luts'] - r['blocks']['arrays']['luts']:,}"] for label, r in built]
    return ["## Where the logic goes (LUT4 per block)", "",
            "Each build keeps its hierarchy (Yosys `-noflatten`), and each block's LUT4s are the per-module "
            "statistic of the netlist that was placed (boards.breakdown); the blocks add up to the whole.", "",
            markdown_table(["build", *BLOCKS, "whole", "all but the arrays"], built and rows,
                           "l" + "r" * (len(BLOCKS) + 2)), ""]


def plot_compare_boards(res, path):
    """The LUT4 of each pair, AdderNet beside its CNN twin, stacked by block where every build has
    its blocks, with the pair's ratio above it."""
    plt = pyplot()
    pairs = res["pairs"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = [f"{p['board']}\n{p['rows']}x{p['cols']} {'DSP' if p['dsp'] else 'no DSP'}" for p in pairs]
    x = range(len(pairs))
    if all(p[pe].get("blocks") for p in pairs for pe in PE_KINDS):
        # stacked by block: AdderNet on the left of each pair, the CNN twin on the right
        colours = plt.get_cmap("tab10").colors
        for off, pe in ((-0.2, "sad"), (0.2, "mac")):
            bottom = [0] * len(pairs)
            for k, b in enumerate(BLOCKS):
                heights = [p[pe]["blocks"][b]["luts"] for p in pairs]
                ax.bar([i + off for i in x], heights, 0.4, bottom=bottom, color=colours[k % len(colours)],
                       edgecolor="white" if pe_kind(pe).has_multiplier else "black",
                       label=None if pe_kind(pe).has_multiplier else b)
                bottom = [u + v for u, v in zip(bottom, heights)]
        ax.set_xlabel("each pair: AdderNet (left, black edges), CNN twin (right)", fontsize=8)
    else:
        ax.bar([i - 0.2 for i in x], [p["sad"]["luts"] for p in pairs], 0.4, label="AdderNet engine", color="tab:green")
        ax.bar([i + 0.2 for i in x], [p["mac"]["luts"] for p in pairs], 0.4, label="CNN twin engine",
               color="tab:orange")
    for i, p in enumerate(pairs):
        ax.text(i, max(p["sad"]["luts"], p["mac"]["luts"]), f"{p['ratio']['luts']:.2f}x", ha="center", va="bottom")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("LUT4 (Yosys)")
    ax.set_title(f"{res['network']}: whole accelerator logic, AdderNet / CNN twin")
    ax.legend(fontsize=7)
    _save(plt, fig, path, dpi=120)


def format_compare_largest(res):
    """The largest engine of each kind per board, the ratio of their images/s, how the search ran and
    every probe it built (a :func:`adderhw.boards.engine_compare.compare_largest` result)."""
    rows = []
    for e in res["boards"]:
        for pe in PE_KINDS:
            r = e[pe]["largest"]
            name = pe_kind(pe).network
            if r is None:
                rows.append([e["board"], name, "none fits", "", "", "", "", "", "", "", e[pe]["limit"]])
                continue
            rows.append([e["board"], name, r["engine"], f"{r['rows'] * r['cols']}", f"{r['logic']['used']:,}/"
                         f"{r['logic']['available']:,}", f"{r['dsp']['used']}/{r['dsp']['available']}",
                         f"{r['bram']['used']}/{r['bram']['available']}", f"{r['fmax_mhz']:.1f}",
                         f"{r['cycles_per_image']:,.0f}", f"{r['images_per_s_at_fmax']:,.0f}", e[pe]["limit"]])
        if "ratio" in e:
            ratio = e["ratio"]
            rows.append(["", "**AdderNet / CNN**", "", f"{ratio['pes']:.2f}", "", "", "", "", "",
                         f"**{ratio['images_per_s_at_fmax']:.2f}**", ""])
    head = ["board", "network", "largest engine that fits", "array PEs", "logic cells", "DSP", "BRAM", "Fmax MHz",
            "cycles/image", "images/s at Fmax", "search stopped because"]
    probes, faster = [], []
    for e in res["boards"]:
        for pe in PE_KINDS:
            name = pe_kind(pe).network
            for r in e[pe]["probes"]:
                probes.append([e["board"], name, f"{r['rows']}x{r['cols']}", f"{r['rows'] * r['cols']}",
                               r.get("stage", "-"), "yes" if r["fits"] else "no", f"{r['luts']:,}",
                               f"{r['fmax_mhz']:.1f}" if r["fits"] else "-",
                               f"{r['images_per_s_at_fmax']:,.0f}" if r["fits"] else "-",
                               "" if r["fits"] else r["reason"]])
            best, fast = e[pe]["largest"], e[pe].get("fastest")
            if best and fast and fast["images_per_s_at_fmax"] > best["images_per_s_at_fmax"]:
                faster.append(f"On the {e['board']}, the {name}'s fastest array that fits is {fast['rows']}x"
                              f"{fast['cols']} ({fast['images_per_s_at_fmax']:,.0f} images/s at Fmax), not its "
                              f"largest.")
    mac_array = ("The AdderNet engine has no MAC array. " if res.get("first_last") == "adder" else
                 f"The AdderNet engine's MAC array has min({res['mac_rows']}, rows) rows. ")
    command = [f"`{res['command']}`", ""] if res.get("command") else []
    return "\n".join([
        f"# The largest {res['network']} engine of each kind that fits each board: AdderNet{_variant(res)} "
        "against its CNN twin", "", *command, _search_text(res) + " DSP blocks are used as a user would. "
        f"{mac_array}Fmax and images/s from nextpnr and the engine cycle model.", "",
        markdown_table(head, rows, "lllrrrrrrrl"), "", *(faster and [" ".join(faster), ""]), "## Every probe", "",
        markdown_table(["board", "network", "array", "PEs", "stage", "fits", "LUT4 (Yosys)", "Fmax MHz",
                        "images/s at Fmax", "reason"], probes, "lllrllrrrl"), ""])


def _search_text(res):
    """What the search did, in words, from the result's own record of its options."""
    pnr = ""
    if (res.get("placer"), res.get("router")) not in ((None, None), (NEXTPNR_DEFAULTS["placer"],
                                                                    NEXTPNR_DEFAULTS["router"])):
        pnr = f" nextpnr places with its {res['placer']} placer and routes with {res['router']}."
    text = (f"Each kind's array starts at the board's size and grows 1x2, 2x2, 2x4, 4x4, ... (twice the PEs per "
            f"probe, at most {res['max_pes']} PEs) until a build does not place and route; if the starting size "
            "does not fit, it halves until one does.")
    if not res.get("fine"):
        return text + " The largest array that fits is the largest of these probes (no fine stage)." + pnr
    aspect = res.get("fine_aspect", FINE_ASPECT)
    return (text + " A fine stage then searches the arrays with more PEs than the largest that fit, up to "
            f"{res['max_pes']} PEs, of any rows and columns, neither more than {aspect} times the other. It bisects "
            f"on PEs, at most {res['max_fine_probes']} probes per kind and board: a fit leaves only larger arrays "
            "to try, a failure rules out every array with at least its PEs and at least its columns (a column costs "
            "at least what a row does: its post-processing lane, its activation bank and the AdderNet engine's MAC "
            "column against a row's weight bank), so beyond the smallest failure only arrays with fewer columns "
            "stay open, and of two equally square arrays the one with fewer columns is tried first. Where the "
            "search stopped at its bound, the last column says how many arrays, of how many PEs, it left untried."
            + pnr)
