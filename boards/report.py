"""Parsers for what the FPGA tools report, apart from the flows that run them.

* nextpnr's ``--report`` JSON: utilisation per cell type, the achieved Fmax per clock and the
  critical path's start and end cells (:func:`parse_nextpnr`, :func:`critical_path`);
* Yosys's ``stat -json``: cell counts by type, from which LUT4s, flip-flops and carry cells are
  counted (:func:`parse_yosys_stat`);
* nextpnr's log, only when a build failed: the utilisation lines that say why a design did not fit
  (:func:`overflow`, :func:`no_fit_reason`).

Cell names per family: iCE40 logic cells are ``ICESTORM_LC`` (a LUT4, a carry and a flip-flop);
ECP5 counts ``TRELLIS_COMB`` (LUT4 or carry half) and ``TRELLIS_FF`` apart. Tests run these parsers
on real tool output stored in ``tests/boards/fixtures``.
"""
import json
import re
from pathlib import Path

from adderhw.base.errors import ToolFailed

__all__ = ["UTIL_CELLS", "LOGIC_CELL", "parse_nextpnr", "critical_path", "parse_yosys_stat", "overflow", "overfull",
           "no_fit_reason", "at_placement_limit", "build_report"]

#: nextpnr utilisation names per family: logic cells, DSP blocks, block RAMs and the iCE40
#: UltraPlus's single-port RAMs (SB_SPRAM256KA; the ECP5 has none, None)
UTIL_CELLS = {
    "ice40": {"logic": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM"},
    "ecp5": {"logic": "TRELLIS_COMB", "dsp": "MULT18X18D", "bram": "DP16KD", "spram": None},
}
LOGIC_CELL = {family: cells["logic"] for family, cells in UTIL_CELLS.items()}
#: Yosys cell types per family
_LUT_CELLS = {"ice40": ("SB_LUT4",), "ecp5": ("LUT4",)}
_FF_CELL = {"ice40": re.compile(r"^SB_DFF"), "ecp5": re.compile(r"^TRELLIS_FF$")}
_CARRY_CELLS = {"ice40": ("SB_CARRY",), "ecp5": ("CCU2C",)}


def _family(family):
    if family not in UTIL_CELLS:
        raise ValueError(f"family must be one of {', '.join(UTIL_CELLS)}, not {family!r}")
    return family


def parse_nextpnr(doc, family):
    """From a nextpnr ``--report`` document: {"logic"|"dsp"|"bram"|"spram": {cell, used, available},
    "fmax_mhz", "critical_path"}.

    ``spram`` counts the SB_SPRAM256KA blocks (4 on the iCE40UP5K; 0 of 0 on an iCE40 without them,
    whose report does not name the cell, and on the ECP5, where ``cell`` is None);
    ``fmax_mhz`` is the lowest achieved Fmax over the design's clocks (the harness has one);
    ``critical_path`` is :func:`critical_path`'s."""
    cells = UTIL_CELLS[_family(family)]
    util = doc.get("utilization", {})
    out = {}
    for role, cell in cells.items():
        u = util.get(cell, {"used": 0, "available": 0}) if cell else {"used": 0, "available": 0}
        out[role] = {"cell": cell, "used": int(u["used"]), "available": int(u["available"])}
    fmax = [f["achieved"] for f in doc.get("fmax", {}).values()]
    if not fmax:
        raise ToolFailed("nextpnr's report names no clock, so it gives no Fmax")
    out["fmax_mhz"] = float(min(fmax))
    out["critical_path"] = critical_path(doc)
    return out


def critical_path(doc):
    """The longest clock-to-clock path of a nextpnr report (paths from or to an ``<async>`` port, the
    pins, are left out): {"from_cell", "to_cell", "delay_ns", "logic_levels"}, the delay summed over
    its segments and the levels counted as its ``logic`` segments; None when the report has none."""
    best = None
    for path in doc.get("critical_paths", []):
        if "<async>" in (path.get("from"), path.get("to")) or not path.get("path"):
            continue
        segs = path["path"]
        delay = sum(float(s["delay"]) for s in segs)
        if best is None or delay > best["delay_ns"]:
            best = {"from_cell": segs[0]["from"]["cell"], "to_cell": segs[-1]["to"]["cell"],
                    "delay_ns": round(delay, 3), "logic_levels": sum(s["type"] == "logic" for s in segs)}
    return best


def parse_yosys_stat(doc, family):
    """From Yosys ``stat -json``: {"luts", "ffs", "carry_cells"} of the whole design."""
    fam = _family(family)
    cells = doc["design"]["num_cells_by_type"]
    return {"luts": sum(cells.get(c, 0) for c in _LUT_CELLS[fam]),
            "ffs": sum(n for c, n in cells.items() if _FF_CELL[fam].match(c)),
            "carry_cells": sum(cells.get(c, 0) for c in _CARRY_CELLS[fam])}


def overflow(text, logic_cell):
    """(cell type, needed, available) from nextpnr's log text when a cell type overflows, or, when
    nextpnr found no legal placement without any overflow, the logic cells' use (global buffers are
    promoted until all are taken, so a full SB_GB says nothing); None when the log shows neither."""
    full = "utilisation limit" in text or "Unable to find legal placement" in text
    logic = None
    for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", text):
        cell, used, avail = m.group(1), int(m.group(2)), int(m.group(3))
        if used > avail:
            return cell, used, avail
        if cell == logic_cell:
            logic = cell, used, avail
    return logic if full else None


def overfull(log_path, logic_cell):
    """Whether nextpnr's log at ``log_path`` (written as it runs) already shows a cell type that
    the design needs more of than the device has (its utilisation after packing)."""
    over = overflow(_read(log_path), logic_cell)
    return over is not None and over[1] > over[2]


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _build_overflow(out, name, logic_cell):
    return overflow(_read(Path(out) / f"{name}.tim"), logic_cell) or overflow(_read(Path(out) / "build.log"),
                                                                              logic_cell)


def no_fit_reason(device, out, name, logic_cell):
    """The one-sentence reason a build did not fit, from the logs it left in ``out``; or None."""
    over = _build_overflow(out, name, logic_cell)
    if not over:
        return None
    cell, used, avail = over
    if used > avail:
        return (f"design does not fit {device}: needs {used} {cell}, the device has {avail} (make the array smaller "
                f"or pick a larger board)")
    return (f"design does not fit {device}: nextpnr found no legal placement with {used} of its {avail} {cell} in "
            f"use ({100 * used / avail:.0f} %), the utilisation limit (another nextpnr seed may place it; else make "
            f"the array smaller or pick a larger board)")


def at_placement_limit(out, name, logic_cell):
    """Whether the build in ``out`` failed for want of a legal placement with every cell type
    within the device (which another seed may find), not for a cell type the device lacks."""
    over = _build_overflow(out, name, logic_cell)
    return over is not None and over[1] <= over[2]


def build_report(b, config, freq_mhz, dsp, seed, out, seconds):
    """The report dict of a finished build in ``out`` (nextpnr and Yosys JSON read from there)."""
    out = Path(out)
    pnr = parse_nextpnr(json.loads((out / "report_nextpnr.json").read_text()), b.family)
    stat = parse_yosys_stat(json.loads((out / "stat.json").read_text()), b.family)
    return {
        "board": b.name, "device": b.device, "family": b.family,
        "config": config.record_fields(pes=True),
        "dsp_requested": bool(dsp) if config.kind.has_multiplier else False,
        "uses_dsp": pnr["dsp"]["used"] > 0,
        "logic": pnr["logic"], **stat, "dsp": pnr["dsp"], "bram": pnr["bram"], "spram": pnr["spram"],
        "fmax_mhz": pnr["fmax_mhz"], "target_mhz": float(freq_mhz), "timing_met": pnr["fmax_mhz"] >= freq_mhz,
        "critical_path": pnr["critical_path"],
        "seed": seed, "build_seconds": round(seconds, 1),
    }
