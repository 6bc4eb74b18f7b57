"""A design's netlist after Yosys's ``proc`` (Amaranth's built-in Yosys), for structural tests."""
import re

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

__all__ = ["netlist_cells", "flip_flop_bits"]


def netlist_cells(elaboratable, passes="proc\nflatten\nopt_clean"):
    """(cell type, parameter and connection lines) of every cell after ``passes``."""
    text = rtlil.convert(elaboratable, name="top", emit_src=False)
    out = find_yosys(lambda ver: ver >= (0, 40)).run(
        ["-q", "-"], f"read_rtlil <<EOF\n{text}\nEOF\n{passes}\nwrite_rtlil -\n")
    return re.findall(r"cell (\$\w+) \S+\n((?:\s+(?:parameter|connect) .*\n)+)", out)


def flip_flop_bits(elaboratable):
    """Flip-flop bits of a design after Yosys's ``proc``, by cell width (a memory's read port
    register is part of its ``$memrd`` cell and not counted)."""
    return sum(int(re.search(r"parameter \\WIDTH (\d+)", params).group(1))
               for kind, params in netlist_cells(elaboratable) if "dff" in kind)
