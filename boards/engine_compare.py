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

``compare_largest`` instead puts each kind at the largest array that places and routes on each
board (:func:`largest_fitting`): probes that double the PEs from a starting size, then a fine stage
over arrays of any rows and columns between the largest that fit and the smallest that did not.
nextpnr's placer and router are options of both comparisons (boards.engine_build).

This module measures; the Markdown report of its result, and the plot where there is one, are
the application's (adderhw.board_reports).
"""
import json
from pathlib import Path

from adderhw.base.config import dataflow_suffix
from adderhw.base.engine import check_post_lanes
from adderhw.base.errors import BadParameter
from adderhw.base.pe_kind import PE_KINDS, pe_kind
from adderhw.base.validate import check_int
from adderhw.base.words import count
from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.network_program import engine_for, network_program

from .build import DesignDoesNotFit
from .engine_build import ENGINE_BOARDS, NEXTPNR_DEFAULTS, build_engine_board, check_nextpnr_options
from .report import parse_yosys_stat
from .platforms import board as board_by_name

__all__ = ["compare_boards", "parse_sizes", "largest_fitting", "compare_largest", "check_largest_post_lanes",
           "LARGEST_POST_LANES"]


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


def _tag(board, network, pe, rows, cols, mac_rows, dsp, first_last="mul", requant="mul", breakdown=False,
         placer=None, router=None, post_lanes=0, dataflow="systolic"):
    """The build directory's name of one engine build (shared by both comparisons, so they reuse
    each other's builds); nextpnr's ``placer`` and ``router`` and the arrays' ``dataflow`` name it
    only where they are not their defaults, so that the builds made before these options are found
    again."""
    variant = ""
    if not pe_kind(pe).has_multiplier:
        variant = "-alladder" if first_last == "adder" else f"-m{mac_rows}"
        variant += "-shift" if requant == "shift" else ""
    return (f"{board}-{network}-{pe}-{rows}x{cols}{variant}-{'dsp' if dsp else 'nodsp'}"
            + (f"-l{post_lanes}" if post_lanes else "") + dataflow_suffix(dataflow)
            + ("-blocks" if breakdown else "") + "".join(f"-{o}" for o in (placer, router) if o))


def build_one(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last="mul", requant="mul",
             breakdown=False, placer=None, router=None, post_lanes=0, dataflow="systolic"):
    """One engine build; ``first_last`` and ``requant`` shape the AdderNet side only (the CNN twin
    keeps its multipliers: a CNN needs them); ``placer`` and ``router``: nextpnr's; ``dataflow``:
    the arrays' (ArrayConfig.dataflow)."""
    if pe_kind(pe).has_multiplier:
        first_last = requant = "mul"
    _, _, program, _ = network_program(network, pe, 8, progress=progress, first_last=first_last, requant=requant)
    engine = engine_for(program, rows, cols, pe, mac_rows, post_lanes, dataflow=dataflow)
    per_image = engine_cycles(engine, program)["total"] / engine.lanes
    try:
        r = build_engine_board(board, engine, per_image, dsp=dsp, seed=seed, out_dir=out, progress=progress,
                               reuse=True, extra={"network": network}, breakdown=breakdown, placer=placer,
                               router=router)
        return {**r, "fits": True}
    except DesignDoesNotFit as exc:
        b = board_by_name(board)
        stat = parse_yosys_stat(json.loads((Path(out) / "stat.json").read_text()), b.family)
        placer, router = check_nextpnr_options(placer, router)
        return {"board": board, "pe": pe, "rows": rows, "cols": cols, "engine": engine.describe(), "fits": False,
                "dataflow": dataflow,
                "reason": str(exc), **stat, "dsp_requested": dsp, "cycles_per_image": per_image,
                "placer": placer or NEXTPNR_DEFAULTS["placer"], "router": router or NEXTPNR_DEFAULTS["router"]}


def compare_boards(network="digits", sizes=None, mac_rows=2, seed=1, build_dir="build/engines", progress=print,
                   first_last="mul", requant="mul", dsp_modes=None, breakdown=False, placer=None, router=None,
                   post_lanes=0, dataflow="systolic"):
    """The AdderNet engine (``first_last``, ``requant``: adderhw engine's options) against its CNN twin
    at each size of ``sizes``; ``dsp_modes`` (default: with and without DSPs on iCE40, with on ECP5)
    the DSP settings to build each pair with. ``breakdown``: hierarchical builds whose reports break
    the logic down per block (boards.breakdown), shown as a table and stacked bars. ``placer`` and
    ``router``: nextpnr's (boards.engine_build; None: its defaults). ``post_lanes``: both engines'
    post-processing lanes L (base.engine.check_post_lanes; 0, one per column, as the committed
    comparisons were made), checked against every size's columns before any build. ``dataflow``:
    both engines' arrays' (ArrayConfig.dataflow), so that the twins stay alike."""
    placer, router = check_nextpnr_options(placer, router)
    sizes = sizes or {"icebreaker": [(1, 1, 1)], "ulx3s-85f": [(8, 8, 2)]}
    for shapes in sizes.values():
        for _, cols, _ in shapes:
            check_post_lanes(post_lanes, cols)
    pairs = []
    for board, shapes in sizes.items():
        family = board_by_name(board).family
        for rows, cols, mac in shapes:
            mac = mac or mac_rows
            for dsp in dsp_modes or ((True, False) if family == "ice40" else (True,)):
                pair = {"board": board, "rows": rows, "cols": cols, "mac_rows": mac, "dsp": dsp}
                for pe in PE_KINDS:
                    tag = _tag(board, network, pe, rows, cols, mac, dsp, first_last, requant, breakdown, placer, router,
                               post_lanes=post_lanes, dataflow=dataflow)
                    progress(f"[{board} {rows}x{cols} {'with' if dsp else 'without'} DSPs] the {pe.upper()} engine")
                    pair[pe] = build_one(board, network, pe, rows, cols, mac, dsp, seed, Path(build_dir) / tag, progress,
                                      first_last, requant, breakdown, placer=placer, router=router,
                                      post_lanes=post_lanes, dataflow=dataflow)
                s, m = pair["sad"], pair["mac"]
                pair["ratio"] = {"luts": s["luts"] / m["luts"], "ffs": s["ffs"] / m["ffs"],
                                 "luts_plus_ffs": (s["luts"] + s["ffs"]) / (m["luts"] + m["ffs"])}
                if s["fits"] and m["fits"]:
                    pair["ratio"].update({"fmax": s["fmax_mhz"] / m["fmax_mhz"],
                                          "images_per_s_at_fmax": s["images_per_s_at_fmax"] / m["images_per_s_at_fmax"]})
                pairs.append(pair)
    return {"network": network, "mac_rows": mac_rows, "seed": seed, "first_last": first_last, "requant": requant,
            "breakdown": breakdown, "placer": placer or NEXTPNR_DEFAULTS["placer"],
            "router": router or NEXTPNR_DEFAULTS["router"], "post_lanes": post_lanes, "dataflow": dataflow,
            "pairs": pairs}


def _grow(rows, cols):
    """The next probe of the doubling stage: the smaller side doubled, the columns on a tie (from
    1x1: 1x2, 2x2, 2x4, 4x4, 4x8, ...; from 4x3: 4x6, 8x6, 8x12, ...), so every probe has twice the
    PEs of the one before, whatever the start."""
    return (rows, 2 * cols) if cols <= rows else (2 * rows, cols)


def _shrink(rows, cols):
    """The next probe of the halving stage: the larger side halved, the rows on a tie (8x8: 4x8,
    4x4, 2x4, ...; 4x3: 2x3, 2x1, 1x1)."""
    return (rows // 2, cols) if rows >= cols else (rows, cols // 2)


#: the fine stage's shapes by default: neither side more than this many times the other
#: (``aspect`` of the searches; 4 lets an iCEBreaker search reach the 8x2 broadcast engine)
FINE_ASPECT = 2
#: the post-processing lanes a largest-engine search can give every probe: its shapes have any
#: number of columns, and only 0 (one lane per column) and 1 divide them all
LARGEST_POST_LANES = (0, 1)


def check_largest_post_lanes(post_lanes):
    """``post_lanes`` if it is one of :data:`LARGEST_POST_LANES`; else a BadParameter naming it."""
    if post_lanes not in LARGEST_POST_LANES:
        raise BadParameter(f"post_lanes of a largest-engine search must be 0 (one lane per column) or 1 (one "
                           f"lane), which divide every probe's columns, not {post_lanes!r}")
    return post_lanes
#: the fine stage's default bound on its probes (each one a full build)
MAX_FINE_PROBES = 6


def _pes(shape):
    return shape[0] * shape[1]


def fine_shapes(lo_pes, hi_pes, aspect=FINE_ASPECT):
    """Every array rows x cols with ``lo_pes`` < rows·cols < ``hi_pes`` whose longer side is at most
    ``aspect`` times its shorter one, both orientations (5x4 and 4x5), in increasing PEs."""
    shapes = []
    rows = 1
    while rows * -(-rows // aspect) < hi_pes:
        shapes += [(rows, cols) for cols in range(-(-rows // aspect), aspect * rows + 1)
                   if lo_pes < rows * cols < hi_pes]
        rows += 1
    return sorted(shapes, key=lambda rc: (_pes(rc), rc[1]))


def _ruled_out(shape, failed):
    """Whether a failed array rules out ``shape``: one with at least its PEs and at least its
    columns. Beyond the PEs, an engine's columns cost at least what its rows do: a column brings
    its post-processing lane, its activation bank and, in an AdderNet engine with a MAC array,
    ``mac_rows`` MAC PEs; a row brings a weight bank."""
    return any(_pes(shape) >= _pes(f) and shape[1] >= f[1] for f in failed)


def _fine_pick(open_shapes):
    """The fine stage's next probe: the lower median of the open PE counts (a bisection on PEs), at
    that count the squarest array, and of two equally square the one with fewer columns (the
    cheaper, by :func:`_ruled_out`'s reasoning, so its failure rules out more)."""
    counts = sorted({_pes(s) for s in open_shapes})
    n = counts[(len(counts) - 1) // 2]
    return min((s for s in open_shapes if _pes(s) == n), key=lambda rc: (abs(rc[0] - rc[1]), rc[1]))


def search_largest(fits, start, max_pes, fine=True, max_fine_probes=MAX_FINE_PROBES, aspect=FINE_ASPECT):
    """The search of :func:`largest_fitting`, apart from the builds: ``fits(shape, stage)`` builds
    ``shape`` (rows, cols) and says whether it places and routes; it is called at most once per
    shape. Returns {"largest": shape or None, "limit": why the search stopped, "fine": the fine
    stage's record or None}.

    The doubling stage grows ``start`` through 1x2, 2x2, 2x4, 4x4, ... shapes (each twice the PEs
    of the last) until one does not fit or the next would exceed ``max_pes``; if ``start`` does not
    fit, the halving stage shrinks it instead until one does. With ``fine``, the fine stage then
    searches every array with more PEs than the largest that fit, up to ``max_pes``, with neither
    side more than ``aspect`` times the other (:func:`fine_shapes`), that no failure rules out
    (:func:`_ruled_out`: a failure rules out every array with at least its PEs and at least its
    columns). That is the bracket between the largest array that fit and the smallest that did not,
    and beyond it the arrays with fewer columns than every failure: a 4x4 engine that does not fit
    leaves 8x2 open (a column costs more than a row). It bisects on PEs (:func:`_fine_pick`): a fit
    rules out every smaller count, a failure what it rules out; the failures of the first two
    stages count too. It ends when no open array is left, which makes the answer the array with
    the most PEs within the aspect that fits (where failures follow :func:`_ruled_out`'s rule, as a
    device bounded by its logic and by its columns' resources does), or after ``max_fine_probes``
    probes, with the arrays still open recorded (the fine record's ``open``) and counted in the
    limit. Each probe's ``stage`` is "start", "doubling", "halving" or "fine"."""
    check_int("aspect", aspect, lo=1)
    shape = tuple(start)
    if _pes(shape) > max_pes:
        raise BadParameter(f"max_pes must be at least the starting array's {_pes(shape)} PEs, not {max_pes}")
    outcome = {}

    def probe(shape, stage):
        if shape not in outcome:
            outcome[shape] = bool(fits(shape, stage))
        return outcome[shape]

    if probe(shape, "start"):
        while True:
            nxt = _grow(*shape)
            if _pes(nxt) > max_pes:
                limit, hi_pes = f"the next probe ({nxt[0]}x{nxt[1]}) would exceed max_pes={max_pes}", max_pes + 1
                break
            if not probe(nxt, "doubling"):
                limit, hi_pes = f"{nxt[0]}x{nxt[1]} does not fit", _pes(nxt)
                break
            shape = nxt
        largest = shape
    else:
        largest, limit, hi_pes = None, f"{shape[0]}x{shape[1]} does not fit", _pes(shape)
        while _pes(shape) > 1:
            shape = _shrink(*shape)
            if probe(shape, "halving"):
                largest = shape
                break
            hi_pes, limit = _pes(shape), f"{start[0]}x{start[1]} does not fit, nor does {shape[0]}x{shape[1]}"
        if largest is None:
            return {"largest": None, "limit": "no array fits", "fine": None}
    if not fine:
        return {"largest": largest, "limit": limit, "fine": None}
    lo_pes = _pes(largest)

    def failed():
        return [s for s, ok in outcome.items() if not ok]

    candidates = [s for s in fine_shapes(lo_pes, max_pes + 1, aspect) if not _ruled_out(s, failed())]
    tried = []

    def still_open():
        gone = failed()
        return [s for s in candidates if s not in outcome and _pes(s) > _pes(largest) and not _ruled_out(s, gone)]

    while (left := still_open()) and len(tried) < max_fine_probes:
        pick = _fine_pick(left)
        tried.append(pick)
        if probe(pick, "fine"):
            largest = pick
    left = still_open()
    between = f"of {lo_pes + 1} to {max_pes} PEs with neither side more than {aspect} times the other"
    probes = count(len(tried), "probe")
    if not candidates:
        if lo_pes < max_pes:
            limit += f"; no array {between} is left open: no fine stage"
    elif left:
        limit += (f"; the fine stage stopped at its bound of {probes} with {count(len(left), 'shape')} of "
                  f"{_pes(left[0])} to {_pes(left[-1])} PEs untried")
    elif _pes(largest) > lo_pes:
        limit += f"; {largest[0]}x{largest[1]} is the largest array {between} that fits (fine stage: {probes})"
    else:
        limit += f"; no array {between} fits (fine stage: {probes})"
    beyond = sum(_pes(s) >= hi_pes for s in candidates)
    record = {"bracket_pes": [lo_pes, hi_pes], "aspect": aspect, "candidates": len(candidates),
              "beyond_bracket": beyond, "probes": len(tried), "max_probes": max_fine_probes, "exact": not left,
              "open": [list(s) for s in left]}
    return {"largest": largest, "limit": limit, "fine": record}


def largest_fitting(board, network, pe, start, mac_rows=2, seed=1, max_pes=512, build_dir="build/engines",
                    progress=print, first_last="mul", requant="mul", fine=True, max_fine_probes=MAX_FINE_PROBES,
                    placer=None, router=None, post_lanes=0, dataflow="systolic", aspect=FINE_ASPECT):
    """The largest engine of kind ``pe`` that places and routes on ``board`` (with DSP blocks, as a
    user would build it), found by :func:`search_largest` from ``start`` (rows, cols): doubling (or
    halving) stages, then, with ``fine``, a fine stage of at most ``max_fine_probes`` probes over
    shapes of any rows and columns, neither side more than ``aspect`` times the other, with more PEs
    than the largest array that fit and not ruled out by one that did not. The AdderNet engine's MAC array has min(``mac_rows``, rows) rows; ``first_last`` and
    ``requant`` shape the AdderNet engine as in :func:`compare_boards` (with ``first_last="adder"``
    it has no MAC array); ``placer`` and ``router`` are nextpnr's (boards.engine_build);
    ``post_lanes`` the post-processing lanes of every probe, 0 (one per column) or 1 (a lane divides
    every probe's columns; :data:`LARGEST_POST_LANES`); ``dataflow`` the arrays' (ArrayConfig). Returns
    {"largest": report or None, "probes": [report, ...] in increasing PEs, each with its "stage"
    and its "probe" number in build order, "limit": why the search stopped, "fine": the fine
    stage's record or None}. Every probe is a full build, reused when unchanged."""
    check_int("max_pes", max_pes, lo=1)
    check_int("max_fine_probes", max_fine_probes, lo=1)
    check_largest_post_lanes(post_lanes)
    placer, router = check_nextpnr_options(placer, router)
    probes = {}

    def fits(shape, stage):
        rows, cols = shape
        mac = min(mac_rows, rows)
        tag = _tag(board, network, pe, rows, cols, mac, True, first_last, requant, placer=placer, router=router,
                   post_lanes=post_lanes, dataflow=dataflow)
        progress(f"[largest {pe.upper()} engine on {board}] {stage} probe {len(probes) + 1}: {rows}x{cols}")
        r = build_one(board, network, pe, rows, cols, mac, True, seed, Path(build_dir) / tag, progress, first_last,
                   requant, placer=placer, router=router, post_lanes=post_lanes, dataflow=dataflow)
        probes[shape] = {**r, "stage": stage, "probe": len(probes) + 1}
        return r["fits"]

    found = search_largest(fits, start, max_pes, fine, max_fine_probes, aspect)
    ordered = [probes[k] for k in sorted(probes, key=lambda rc: (_pes(rc), rc[1]))]
    # more PEs need not mean more images/s: a shape that divides the layers' channels and pixels
    # evenly can beat a larger one that does not, so the fastest probe that fits is kept beside it
    fastest = max((r for r in ordered if r["fits"]), key=lambda r: r["images_per_s_at_fmax"], default=None)
    return {"board": board, "pe": pe, "largest": found["largest"] and probes[found["largest"]], "probes": ordered,
            "fastest": fastest, "limit": found["limit"], "max_pes": max_pes, "fine": found["fine"]}


def compare_largest(network="digits", starts=None, mac_rows=2, seed=1, max_pes=512, build_dir="build/engines",
                    progress=print, first_last="mul", requant="mul", fine=True, max_fine_probes=MAX_FINE_PROBES,
                    placer=None, router=None, post_lanes=0, dataflow="systolic", aspect=FINE_ASPECT):
    """:func:`largest_fitting` for the AdderNet engine (shaped by ``first_last`` and ``requant``) and
    the CNN twin on each board of ``starts`` ({board: (rows, cols)}), with or without the ``fine``
    stage (at most ``max_fine_probes`` probes per kind and board, over arrays within ``aspect``), with nextpnr's ``placer`` and
    ``router``, ``post_lanes`` (0 or 1) and ``dataflow`` for every probe; the pair's ratios compare each kind at
    its own largest array."""
    check_int("max_fine_probes", max_fine_probes, lo=1)
    check_largest_post_lanes(post_lanes)
    placer, router = check_nextpnr_options(placer, router)
    starts = starts or {"icebreaker": (1, 1), "ulx3s-85f": (8, 8)}
    boards = []
    for board, start in starts.items():
        entry = {"board": board, **{pe: largest_fitting(board, network, pe, start, mac_rows, seed, max_pes, build_dir,
                                                        progress, first_last, requant, fine, max_fine_probes, placer,
                                                        router, post_lanes, dataflow, aspect) for pe in PE_KINDS}}
        s, m = entry["sad"]["largest"], entry["mac"]["largest"]
        if s and m:
            entry["ratio"] = {"pes": (s["rows"] * s["cols"]) / (m["rows"] * m["cols"]),
                              "images_per_s_at_fmax": s["images_per_s_at_fmax"] / m["images_per_s_at_fmax"]}
        boards.append(entry)
    return {"network": network, "mac_rows": mac_rows, "seed": seed, "max_pes": max_pes, "first_last": first_last,
            "requant": requant, "fine": fine, "max_fine_probes": max_fine_probes, "fine_aspect": aspect,
            "placer": placer or NEXTPNR_DEFAULTS["placer"], "router": router or NEXTPNR_DEFAULTS["router"],
            "post_lanes": post_lanes, "dataflow": dataflow, "boards": boards}
