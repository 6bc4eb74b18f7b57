"""Where an engine build's logic goes: per-block resources from the synthesised netlist itself.

An engine board build with ``breakdown`` (boards.engine_build) is synthesised with ``-noflatten``:
Yosys keeps one module per Amaranth elaboratable (Amaranth names them by their path,
``top.link.engine.post``), and nextpnr places that hierarchical netlist as it is. (Yosys's ABC9
pass then trips an assertion on the post-processing module, ``count_id(wire->name) == 0``, a known
issue with Amaranth's RTLIL, YosysHQ/yosys#4349; ``splitnets`` before synthesis avoids it, as
proposed there. Keeping the hierarchy costs about 3 % more LUT4s than flattening: 3,641 against
3,528 on the tiny test engine.) ``stat -json`` then gives each module's own
primitive cells, and every cell of the design belongs to exactly one module, so the blocks below
add up to the whole design's count (:func:`check_total`; tests/boards/test_breakdown.py).

A module belongs to the block of its path (:func:`block_of`):

* ``arrays``: ``engine.array_add`` / ``engine.array_mul`` and everything under them (PEs, drain,
  reset tree);
* ``im2col``, ``post-processing``, ``sequencer``: ``engine.im2col``, ``engine.post``,
  ``engine.seq`` and what is under them;
* ``memories``: the engine module's own cells: its block RAMs (activations, weights, constants,
  descriptors, the per-tile shift table) and their port multiplexers;
* ``link and UART``: the link (``hw.link``) and its receiver and transmitter;
* ``clocking and I/O``: the board top's own cells (reset synchroniser, buffers, PLL).
"""
from adderhw.base.errors import BadParameter

from .report import _CARRY_CELLS, _FF_CELL, _LUT_CELLS, _family

__all__ = ["BLOCKS", "block_of", "breakdown", "check_total"]

BLOCKS = ("arrays", "im2col", "post-processing", "sequencer", "memories", "link and UART", "clocking and I/O")
_ENGINE_PARTS = {"im2col": "im2col", "post": "post-processing", "seq": "sequencer"}
_BRAM_CELLS = {"ice40": ("SB_RAM40_4K",), "ecp5": ("DP16KD", "PDPW16KD")}
_DSP_CELLS = {"ice40": ("SB_MAC16",), "ecp5": ("MULT18X18D", "ALU54B")}
_LUTRAM_CELLS = {"ice40": (), "ecp5": ("TRELLIS_DPR16X4",)}
_SPRAM_CELLS = {"ice40": ("SB_SPRAM256KA",), "ecp5": ()}


def block_of(module):
    """The block (one of BLOCKS) of a Yosys module named by its Amaranth path."""
    parts = module.lstrip("\\").split(".")
    if "engine" in parts:
        below = parts[parts.index("engine") + 1:]
        if not below:
            return "memories"
        if below[0].startswith("array_"):
            return "arrays"
        if below[0] in _ENGINE_PARTS:
            return _ENGINE_PARTS[below[0]]
        raise BadParameter(f"module {module!r} is a part of the engine that no block names; add it to "
                           f"boards.breakdown")
    if "link" in parts or parts[-1] in ("rx", "tx"):
        return "link and UART"
    return "clocking and I/O"


def _own(cells, fam):
    return {"luts": sum(cells.get(c, 0) for c in _LUT_CELLS[fam]),
            "ffs": sum(n for c, n in cells.items() if _FF_CELL[fam].match(c)),
            "carry_cells": sum(cells.get(c, 0) for c in _CARRY_CELLS[fam]),
            "bram": sum(cells.get(c, 0) for c in _BRAM_CELLS[fam]),
            "dsp": sum(cells.get(c, 0) for c in _DSP_CELLS[fam]),
            "lutram": sum(cells.get(c, 0) for c in _LUTRAM_CELLS[fam]),
            "spram": sum(cells.get(c, 0) for c in _SPRAM_CELLS[fam])}


def breakdown(stat_doc, family):
    """{block: {"luts", "ffs", "carry_cells", "bram", "dsp", "lutram", "spram"}} for every block of BLOCKS,
    from Yosys ``stat -json`` of a hierarchical netlist (each module's own primitive cells)."""
    fam = _family(family)
    out = {b: dict.fromkeys(("luts", "ffs", "carry_cells", "bram", "dsp", "lutram", "spram"), 0) for b in BLOCKS}
    modules = stat_doc.get("modules", {})
    if len(modules) < 2:
        raise BadParameter("the netlist has no hierarchy to break down (was it synthesised with -noflatten?)")
    for name, mod in modules.items():
        for key, n in _own(mod.get("num_cells_by_type", {}), fam).items():
            out[block_of(name)][key] += n
    return out


def check_total(blocks, whole):
    """Refuse a breakdown whose LUTs, flip-flops and carry cells do not add up to ``whole``
    (boards.report.parse_yosys_stat of the same netlist)."""
    for key in ("luts", "ffs", "carry_cells"):
        total = sum(b[key] for b in blocks.values())
        if total != whole[key]:
            raise BadParameter(f"the per-block {key} add up to {total}, not the design's {whole[key]}")
    return blocks
