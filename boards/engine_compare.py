"""``compare_boards``: the whole AdderNet accelerator against its CNN twin, built for real boards.

For each board and each array size, the engine top (boards.engine_top) of the AdderNet (SAD array
plus a small MAC array for the first conv and the classifier) and of the CNN twin (one MAC array,
same rows and columns) are built for the same network. Each pair is built with DSP blocks (as a
user would) and, on iCE40, also without (every multiplier in logic), the like-with-like logic
comparison that Wang et al. 2021 (arXiv 2101.10015) make: they report 0.29-0.32x logic for a whole
AdderNet accelerator.

A build that does not fit the device still has Yosys's cell counts (``stat.json`` is written after
synthesis), so its logic is compared from synthesis and marked ``fits: false``; Fmax and images/s
exist only for builds that placed and routed. Builds are reused when their design is unchanged.
"""
import json
from pathlib import Path

from adderhw.base.errors import BadParameter
from adderhw.base.tables import markdown_table, pyplot
from adderhw.base.validate import check_int

from .build import DesignDoesNotFit
from .engine_build import ENGINE_BOARDS, build_engine_board
from .report import parse_yosys_stat
from .platforms import board as board_by_name

__all__ = ["compare_boards", "format_compare_boards", "plot_compare_boards", "parse_sizes", "largest_fitting",
           "compare_largest", "format_compare_largest"]


def parse_sizes(text):
    """``board:RxC[+M][,...]`` -> {board: [(R, C, M), ...]}; M (the AdderNet engine's MAC rows) is
    None when not given."""
    out = {}
    for item in text.split(","):
        try:
            name, shape = item.split(":")
            shape, _, mac = shape.partition("+")
            r, c = (int(v) for v in shape.lower().split("x"))
            mac = int(mac) if mac else None
        except ValueError:
            raise BadParameter(f"--sizes must be board:RxC[+M] items separated by commas, not {item!r}") from None
        if name not in ENGINE_BOARDS or r < 1 or c < 1 or (mac is not None and mac < 1):
            raise BadParameter(f"--sizes items need a board of {', '.join(ENGINE_BOARDS)}, positive R and C (and M), "
                               f"not {item!r}")
        out.setdefault(name, []).append((r, c, mac))
    return out


def _tag(board, network, pe, rows, cols, mac_rows, dsp, first_last="mul", requant="mul", breakdown=False):
    """The build directory's name of one engine build (shared by both comparisons, so they reuse
    each other's builds)."""
    variant = ""
    if pe == "sad":
        variant = "-alladder" if first_last == "adder" else f"-m{mac_rows}"
        variant += "-shift" if requant == "shift" else ""
    return f"{board}-{network}-{pe}-{rows}x{cols}{variant}-{'dsp' if dsp else 'nodsp'}" + ("-blocks" if breakdown else "")


def _build(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last="mul", requant="mul",
           breakdown=False):
    """One engine build; ``first_last`` and ``requant`` shape the AdderNet side only (the CNN twin
    keeps its multipliers: a CNN needs them)."""
    from adderhw.engine import engine_for, network_program
    from adderhw.golden.engine_cycles import engine_cycles
    if pe == "mac":
        first_last = requant = "mul"
    _, _, program, _ = network_program(network, pe, 8, progress=progress, first_last=first_last, requant=requant)
    engine = engine_for(program, rows, cols, pe, mac_rows)
    per_image = engine_cycles(engine, program)["total"] / engine.lanes
    try:
        r = build_engine_board(board, engine, per_image, dsp=dsp, seed=seed, out_dir=out, progress=progress,
                               reuse=True, extra={"network": network}, breakdown=breakdown)
        return {**r, "fits": True}
    except DesignDoesNotFit as exc:
        b = board_by_name(board)
        stat = parse_yosys_stat(json.loads((Path(out) / "stat.json").read_text()), b.family)
        return {"board": board, "pe": pe, "rows": rows, "cols": cols, "engine": engine.describe(), "fits": False,
                "reason": str(exc), **stat, "dsp_requested": dsp, "cycles_per_image": per_image}


def compare_boards(network="digits", sizes=None, mac_rows=2, seed=1, build_dir="build/engines", progress=print,
                   first_last="mul", requant="mul", dsp_modes=None, breakdown=False):
    """The AdderNet engine (``first_last``, ``requant``: adderhw engine's options) against its CNN twin
    at each size of ``sizes``; ``dsp_modes`` (default: with and without DSPs on iCE40, with on ECP5)
    the DSP settings to build each pair with. ``breakdown``: hierarchical builds whose reports break
    the logic down per block (boards.breakdown), shown as a table and stacked bars."""
    sizes = sizes or {"icebreaker": [(1, 1, 1)], "ulx3s-85f": [(8, 8, 2)]}
    pairs = []
    for board, shapes in sizes.items():
        family = board_by_name(board).family
        for rows, cols, mac in shapes:
            mac = mac or mac_rows
            for dsp in dsp_modes or ((True, False) if family == "ice40" else (True,)):
                pair = {"board": board, "rows": rows, "cols": cols, "mac_rows": mac, "dsp": dsp}
                for pe in ("sad", "mac"):
                    tag = _tag(board, network, pe, rows, cols, mac, dsp, first_last, requant, breakdown)
                    progress(f"[{board} {rows}x{cols} {'with' if dsp else 'without'} DSPs] the {pe.upper()} engine")
                    pair[pe] = _build(board, network, pe, rows, cols, mac, dsp, seed, Path(build_dir) / tag, progress,
                                      first_last, requant, breakdown)
                s, m = pair["sad"], pair["mac"]
                pair["ratio"] = {"luts": s["luts"] / m["luts"], "ffs": s["ffs"] / m["ffs"],
                                 "luts_plus_ffs": (s["luts"] + s["ffs"]) / (m["luts"] + m["ffs"])}
                if s["fits"] and m["fits"]:
                    pair["ratio"].update({"fmax": s["fmax_mhz"] / m["fmax_mhz"],
                                          "images_per_s_at_fmax": s["images_per_s_at_fmax"] / m["images_per_s_at_fmax"]})
                pairs.append(pair)
    return {"network": network, "mac_rows": mac_rows, "seed": seed, "first_last": first_last, "requant": requant,
            "breakdown": breakdown, "pairs": pairs}


def _grow(rows, cols):
    """The next probe of the largest-array search: columns to twice the rows, then rows to the
    columns (1x2, 2x2, 2x4, 4x4, 4x8, ...)."""
    return (rows, 2 * cols) if rows == cols else (cols, cols)


def _shrink(rows, cols):
    return (rows // 2, cols) if rows == cols else (rows, cols // 2)


def largest_fitting(board, network, pe, start, mac_rows=2, seed=1, max_pes=512, build_dir="build/engines",
                    progress=print, first_last="mul", requant="mul"):
    """The largest engine of kind ``pe`` that places and routes on ``board`` (with DSP blocks, as a
    user would build it): probes grow from ``start`` (rows, cols) through 1x2, 2x2, 2x4, 4x4, ...
    shapes (each twice the PEs of the last) until one does not fit or the next would exceed
    ``max_pes``; if ``start`` does not fit, they shrink instead. The AdderNet engine's MAC array has
    min(``mac_rows``, rows) rows; ``first_last`` and ``requant`` shape the AdderNet engine as in
    :func:`compare_boards` (with ``first_last="adder"`` it has no MAC array). Returns {"largest":
    report or None, "probes": [report, ...], "limit": why the search stopped}. Every probe is a
    full build, reused when unchanged."""
    check_int("max_pes", max_pes, lo=1)
    probes = {}

    def probe(shape):
        if shape not in probes:
            rows, cols = shape
            mac = min(mac_rows, rows)
            tag = _tag(board, network, pe, rows, cols, mac, True, first_last, requant)
            progress(f"[largest {pe.upper()} engine on {board}] probing {rows}x{cols}")
            probes[shape] = _build(board, network, pe, rows, cols, mac, True, seed, Path(build_dir) / tag, progress,
                                   first_last, requant)
        return probes[shape]["fits"]

    shape = tuple(start)
    if shape[0] * shape[1] > max_pes:
        raise BadParameter(f"max_pes must be at least the starting array's {shape[0] * shape[1]} PEs, not {max_pes}")
    if probe(shape):
        while True:
            nxt = _grow(*shape)
            if nxt[0] * nxt[1] > max_pes:
                limit = f"the next probe ({nxt[0]}x{nxt[1]}) would exceed max_pes={max_pes}"
                break
            if not probe(nxt):
                limit = f"{nxt[0]}x{nxt[1]} does not fit"
                break
            shape = nxt
        largest = probes[shape]
    else:
        largest, limit = None, f"{shape[0]}x{shape[1]} does not fit"
        while shape[0] * shape[1] > 1:
            shape = _shrink(*shape)
            if probe(shape):
                largest = probes[shape]
                break
        if largest is None:
            limit = "no array fits"
    ordered = [probes[k] for k in sorted(probes, key=lambda rc: rc[0] * rc[1])]
    return {"board": board, "pe": pe, "largest": largest, "probes": ordered, "limit": limit, "max_pes": max_pes}


def compare_largest(network="digits", starts=None, mac_rows=2, seed=1, max_pes=512, build_dir="build/engines",
                    progress=print, first_last="mul", requant="mul"):
    """:func:`largest_fitting` for the AdderNet engine (shaped by ``first_last`` and ``requant``) and
    the CNN twin on each board of ``starts`` ({board: (rows, cols)}); the pair's ratios compare each
    kind at its own largest array."""
    starts = starts or {"icebreaker": (1, 1), "ulx3s-85f": (8, 8)}
    boards = []
    for board, start in starts.items():
        entry = {"board": board, **{pe: largest_fitting(board, network, pe, start, mac_rows, seed, max_pes, build_dir,
                                                        progress, first_last, requant) for pe in ("sad", "mac")}}
        s, m = entry["sad"]["largest"], entry["mac"]["largest"]
        if s and m:
            entry["ratio"] = {"pes": (s["rows"] * s["cols"]) / (m["rows"] * m["cols"]),
                              "images_per_s_at_fmax": s["images_per_s_at_fmax"] / m["images_per_s_at_fmax"]}
        boards.append(entry)
    return {"network": network, "mac_rows": mac_rows, "seed": seed, "max_pes": max_pes, "first_last": first_last,
            "requant": requant, "boards": boards}


def _variant(res):
    """The AdderNet engine's variant, as the tables' titles name it."""
    return {("adder", "shift"): " (all-adder, shift-only requantisation: no multiplier)",
            ("adder", "mul"): " (all-adder, no MAC array)", ("mul", "shift"): " (shift-only requantisation)"}.get(
        (res.get("first_last", "mul"), res.get("requant", "mul")), "")


def format_compare_largest(res):
    rows = []
    for e in res["boards"]:
        for pe in ("sad", "mac"):
            r = e[pe]["largest"]
            name = "AdderNet" if pe == "sad" else "CNN twin"
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
    probes = []
    for e in res["boards"]:
        for pe in ("sad", "mac"):
            for r in e[pe]["probes"]:
                probes.append([e["board"], "AdderNet" if pe == "sad" else "CNN twin", f"{r['rows']}x{r['cols']}",
                               "yes" if r["fits"] else "no", f"{r['luts']:,}",
                               f"{r['fmax_mhz']:.1f}" if r["fits"] else "-",
                               "" if r["fits"] else r["reason"]])
    mac_array = ("The AdderNet engine has no MAC array. " if res.get("first_last") == "adder" else
                 f"The AdderNet engine's MAC array has min({res['mac_rows']}, rows) rows. ")
    command = [f"`{res['command']}`", ""] if res.get("command") else []
    return "\n".join([
        f"# The largest {res['network']} engine of each kind that fits each board: AdderNet{_variant(res)} "
        "against its CNN twin", "", *command,
        f"Each kind's array grows 1x2, 2x2, 2x4, 4x4, ... (twice the PEs per probe, at most {res['max_pes']} PEs) "
        "from the board's starting size until a build does not place and route; DSP blocks are used as a user "
        f"would. {mac_array}Fmax and images/s from nextpnr and the engine cycle model.", "",
        markdown_table(head, rows, "lllrrrrrrrl"), "", "## Every probe", "",
        markdown_table(["board", "network", "array", "fits", "LUT4 (Yosys)", "Fmax MHz", "reason"], probes,
                       "lllrrrl"), ""])


def _cell(r, key, fmt):
    return fmt.format(r[key]) if r.get(key) is not None else "-"


def format_compare_boards(res):
    rows = []
    for p in res["pairs"]:
        for pe in ("sad", "mac"):
            r = p[pe]
            fits = r["fits"]
            rows.append([p["board"], f"{p['rows']}x{p['cols']}", "yes" if p["dsp"] else "no",
                         "AdderNet" if pe == "sad" else "CNN twin", r["engine"], f"{r['luts']:,}", f"{r['ffs']:,}",
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
             f"{'AdderNet' if pe == 'sad' else 'CNN twin'}", p[pe])
            for p in res["pairs"] for pe in ("sad", "mac") if p[pe].get("blocks")]


def _format_blocks(res):
    built = _blocks_of(res)
    if not built:
        return []
    from .breakdown import BLOCKS
    rows = [[label, *(f"{r['blocks'][b]['luts']:,}" for b in BLOCKS), f"{r['luts']:,}",
             f"{r['luts'] - r['blocks']['arrays']['luts']:,}"] for label, r in built]
    return ["## Where the logic goes (LUT4 per block)", "",
            "Each build keeps its hierarchy (Yosys `-noflatten`), and each block's LUT4s are the per-module "
            "statistic of the netlist that was placed (boards.breakdown); the blocks add up to the whole.", "",
            markdown_table(["build", *BLOCKS, "whole", "all but the arrays"], built and rows,
                           "l" + "r" * (len(BLOCKS) + 2)), ""]


def plot_compare_boards(res, path):
    plt = pyplot()
    pairs = res["pairs"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = [f"{p['board']}\n{p['rows']}x{p['cols']} {'DSP' if p['dsp'] else 'no DSP'}" for p in pairs]
    x = range(len(pairs))
    if all(p[pe].get("blocks") for p in pairs for pe in ("sad", "mac")):
        # stacked by block: AdderNet on the left of each pair, the CNN twin on the right
        from .breakdown import BLOCKS
        colours = plt.get_cmap("tab10").colors
        for off, pe in ((-0.2, "sad"), (0.2, "mac")):
            bottom = [0] * len(pairs)
            for k, b in enumerate(BLOCKS):
                heights = [p[pe]["blocks"][b]["luts"] for p in pairs]
                ax.bar([i + off for i in x], heights, 0.4, bottom=bottom, color=colours[k % len(colours)],
                       edgecolor="black" if pe == "sad" else "white", label=b if pe == "sad" else None)
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
