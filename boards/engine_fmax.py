"""``adderhw bench engine-fmax``: the whole engine's Fmax against its bare array's (issue 28).

For one board and array shape, each nextpnr seed builds two designs: the engine top (the layer
engine behind its UART link, boards.engine_build, as ``adderhw build --top engine``) and the
benchmark harness of the same array alone (boards.build: the engine's SAD array, same rows,
columns, width and k_max, fed from LFSRs). The baseline is the array, measured in the same run with
the same seeds; the report gives every seed's Fmax of both, their medians, and the ratio of the
medians (the issue's goal: the engine at >= 0.9x its array); and every seed's engine images/s at
its Fmax per 1,000 LUT4 (:func:`per_kluts`, with the engine cycle model's cycles per image), with
their median (the issue's goal for the ULX3S-85F MNIST engine: >= 13.4k). Both builds are reused when unchanged,
so a finished bench reruns in seconds.

This module measures; the Markdown report of its result, and the plot where there is one, are
the application's (adderhw.board_reports).
"""
import statistics
from pathlib import Path

from adderhw.base.config import dataflow_suffix
from adderhw.base.errors import BadParameter
from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.network_program import engine_for, network_program

from .build import DesignDoesNotFit, build_board
from .engine_build import ENGINE_BOARDS
from .engine_compare import _tag, build_one

__all__ = ["bench_engine_fmax", "per_kluts", "FMAX_GOAL"]

#: the issue's goal: the engine's median Fmax over the seeds, as a share of its array's
FMAX_GOAL = 0.9


def bench_engine_fmax(board="ulx3s-85f", rows=8, cols=8, network="digits", seeds=(1, 2, 3), first_last="adder",
                      requant="shift", mac_rows=2, post_lanes=0, build_dir="build/engines", progress=print,
                      dataflow="systolic"):
    if board not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)}, not {board!r}")
    if not seeds:
        raise BadParameter("seeds must name at least one nextpnr seed, not none")
    _, _, program, _ = network_program(network, "sad", 8, progress=progress, first_last=first_last, requant=requant)
    engine = engine_for(program, rows, cols, "sad", mac_rows, post_lanes, dataflow=dataflow)
    cycles = engine_cycles(engine, program)["total"] / engine.lanes       # per image, the exact model
    runs = []
    for i, seed in enumerate(seeds):
        progress(f"[{i + 1}/{len(seeds)}] seed {seed}: the {engine.array.describe()} alone, then the engine")
        try:
            arr = build_board(board, engine.array, seed=seed, progress=progress, reuse=True,
                              out_dir=Path(build_dir) / (f"{board}-array-{rows}x{cols}-w{engine.array.width}"
                                                         f"-k{engine.array.k_max}"
                                                         + dataflow_suffix(dataflow)
                                                         + f"-seed{seed}"))
            array_fmax = arr["fmax_mhz"]
        except DesignDoesNotFit as exc:
            array_fmax = None
            progress(f"  the array alone does not fit: {exc}")
        tag = _tag(board, network, "sad", rows, cols, mac_rows, True, first_last, requant, post_lanes=post_lanes,
                   dataflow=dataflow)
        eng = build_one(board, network, "sad", rows, cols, mac_rows, True, seed, Path(build_dir) / f"{tag}-seed{seed}",
                        progress, first_last, requant, post_lanes=post_lanes, dataflow=dataflow)
        fmax = eng.get("fmax_mhz") if eng["fits"] else None
        runs.append({"seed": seed, "array_fmax_mhz": array_fmax, "engine_fmax_mhz": fmax,
                     "engine_critical_path": eng.get("critical_path"), "engine_luts": eng["luts"],
                     "engine_carry_cells": eng.get("carry_cells"), "engine_logic_cells": eng.get("logic", {}).get("used"),
                     "engine_fits": eng["fits"],
                     "images_per_s_per_kluts": per_kluts(fmax, cycles, eng["luts"])})
    arrays = [r["array_fmax_mhz"] for r in runs if r["array_fmax_mhz"]]
    engines = [r["engine_fmax_mhz"] for r in runs if r["engine_fmax_mhz"]]
    med_a = statistics.median(arrays) if arrays else None
    med_e = statistics.median(engines) if engines else None
    ratio = med_e / med_a if med_a and med_e else None
    dense = [r["images_per_s_per_kluts"] for r in runs if r["images_per_s_per_kluts"]]
    return {"board": board, "rows": rows, "cols": cols, "network": network, "first_last": first_last,
            "requant": requant, "post_lanes": engine.pp_lanes, "dataflow": dataflow, "engine": engine.describe(),
            "array": engine.array.describe(), "seeds": list(seeds), "runs": runs,
            "array_fmax_median_mhz": med_a, "engine_fmax_median_mhz": med_e, "ratio": ratio,
            "goal": FMAX_GOAL, "met": ratio is not None and ratio >= FMAX_GOAL, "cycles_per_image": cycles,
            "images_per_s_per_kluts_median": statistics.median(dense) if dense else None}


def per_kluts(fmax_mhz, cycles_per_image, luts):
    """Images per second at ``fmax_mhz`` per 1,000 LUT4 (issue 28's throughput per logic): Fmax /
    cycles per image / (LUT4 / 1000). The LUT4s are Yosys's LUT4 cells; the carry cells (SB_CARRY,
    CCU2C) are counted apart, as in every build report. None where the build did not fit."""
    if not fmax_mhz or not luts:
        return None
    return fmax_mhz * 1e6 / cycles_per_image / (luts / 1000)
