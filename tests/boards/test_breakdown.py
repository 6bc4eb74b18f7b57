"""The per-block breakdown of an engine build (boards.breakdown): every module's cells go to one
block, and the blocks add up to the whole design's count."""
import json

import pytest

from adderhw.base.errors import BadParameter
from adderhw.boards.breakdown import BLOCKS, block_of, breakdown, check_total
from adderhw.boards.report import parse_yosys_stat



@pytest.mark.parametrize("module,block", [
    ("\\top", "clocking and I/O"), ("\\top.clk_buf", "clocking and I/O"), ("\\top.rx_buf", "clocking and I/O"),
    ("\\top.link", "link and UART"), ("\\top.link.rx", "link and UART"), ("\\top.link.tx", "link and UART"),
    ("\\top.link.engine", "memories"), ("\\top.link.engine.array_add", "arrays"),
    ("\\top.link.engine.array_mul.pe_0_1", "arrays"), ("\\top.link.engine.array_add.drain", "arrays"),
    ("\\top.link.engine.im2col", "im2col"), ("\\top.link.engine.post", "post-processing"),
    ("\\top.link.engine.seq", "sequencer"),
])
def test_every_module_of_the_engine_top_has_its_block(module, block):
    assert block_of(module) == block


def test_an_engine_part_no_block_names_is_refused():
    with pytest.raises(BadParameter, match="module 'top.link.engine.spare' is a part of the engine that no block"):
        block_of("top.link.engine.spare")


def _doc(modules, design):
    return {"modules": {k: {"num_cells_by_type": v} for k, v in modules.items()},
            "design": {"num_cells_by_type": design}}


def test_the_blocks_add_up_and_a_mismatch_is_refused():
    mods = {"\\top": {"SB_LUT4": 2, "SB_DFF": 1, "top.link": 1},
            "\\top.link": {"SB_LUT4": 5, "SB_DFFE": 2, "top.link.engine": 1},
            "\\top.link.engine": {"SB_RAM40_4K": 3, "SB_SPRAM256KA": 1, "SB_LUT4": 1},
            "\\top.link.engine.post": {"SB_LUT4": 7, "SB_CARRY": 4, "SB_MAC16": 1}}
    whole = {"SB_LUT4": 15, "SB_DFF": 1, "SB_DFFE": 2, "SB_CARRY": 4, "SB_RAM40_4K": 3, "SB_SPRAM256KA": 1,
             "SB_MAC16": 1}
    blocks = check_total(breakdown(_doc(mods, whole), "ice40"), parse_yosys_stat(_doc(mods, whole), "ice40"))
    assert blocks["post-processing"] == {"luts": 7, "ffs": 0, "carry_cells": 4, "bram": 0, "dsp": 1, "lutram": 0,
                                         "spram": 0}
    assert blocks["memories"]["bram"] == 3 and blocks["memories"]["spram"] == 1
    assert blocks["link and UART"]["ffs"] == 2
    assert blocks["clocking and I/O"]["luts"] == 2 and set(blocks) == set(BLOCKS)
    with pytest.raises(BadParameter, match="the per-block luts add up to 15, not the design's 16"):
        check_total(blocks, {"luts": 16, "ffs": 3, "carry_cells": 4})


def test_a_flat_netlist_has_nothing_to_break_down():
    with pytest.raises(BadParameter, match="no hierarchy to break down"):
        breakdown(_doc({"\\top": {"SB_LUT4": 3}}, {"SB_LUT4": 3}), "ice40")


def check_blocks_add_up(r, stat_path):
    """A build report's blocks against the design's own totals in its stat.json (independently of
    check_total); tests/boards/test_engine_build.py builds the tiny engine on both boards with it."""
    blocks = r["blocks"]
    whole = json.loads(stat_path.read_text())["design"]["num_cells_by_type"]
    lut, carry, bram = {"ice40": ("SB_LUT4", "SB_CARRY", "SB_RAM40_4K"), "ecp5": ("LUT4", "CCU2C", "DP16KD")}[r["family"]]
    assert sum(b["luts"] for b in blocks.values()) == whole[lut] == r["luts"]
    assert sum(b["carry_cells"] for b in blocks.values()) == whole.get(carry, 0)
    assert sum(b["bram"] for b in blocks.values()) == whole.get(bram, 0) + whole.get("PDPW16KD", 0)
    assert sum(b["spram"] for b in blocks.values()) == whole.get("SB_SPRAM256KA", 0) == r["spram"]["used"]
    # every block of an engine with a MAC array and multiplier requantisation has logic
    assert all(blocks[b]["luts"] > 0 for b in ("arrays", "im2col", "post-processing", "sequencer", "link and UART"))
    assert r["critical_path"]["from_cell"] and r["critical_path"]["delay_ns"] > 0
